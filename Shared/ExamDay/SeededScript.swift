import DemoKit
import ExamPlan
import Foundation

extension ExamDayScript {
    /// How often each thing happens on a seeded day, per thousand candidates.
    public struct Rates: Sendable {
        public var decline = 40, forget = 30, skipMock = 150
        public var absentFormal = 10, failScreening = 5, bothPhonesLost = 5, droppedOnce = 10, incomingCall = 10
        public var bannedVersion = 5, toldName = 5, endsEarly = 50
        public init() {}
    }

    /// A day for a big roster: who declines, forgets, skips the mock and
    /// which faults the formal interviews meet, drawn from `seed` (issue
    /// 15: "faults sprinkled by a seeded random schedule"). Each candidate
    /// meets at most one fault; the faults are the demo's kinds, so the
    /// published lists follow from the script as in the demo.
    public static func seeded(_ roster: DemoRoster, seed: UInt64, rates: Rates = Rates(), lossTimeout: Double = 2) -> ExamDayScript {
        // SplitMix64: the same seed, the same day, so a crashed run can be compared with an undisturbed one.
        var rng = SplitMix64(seed: seed)
        var s = ExamDayScript()
        s.lossTimeout = lossTimeout
        func draw(_ perThousand: Int) -> Bool { Int(rng.next() % 1000) < perThousand }
        for c in roster.candidates {
            let e = c.examNumber
            if draw(rates.decline) { s.decline.insert(e); continue }
            if draw(rates.forget) { s.forget.insert(e); continue }
            if draw(rates.skipMock) { s.skipMock.insert(e) }
            // One fault at most, drawn in turn.
            let faults: [(Int, WritableKeyPath<ExamDayScript, Set<String>>)] = [
                (rates.absentFormal, \.absentFormal), (rates.failScreening, \.failScreening), (rates.bothPhonesLost, \.bothPhonesLost),
                (rates.droppedOnce, \.droppedOnce), (rates.incomingCall, \.incomingCall), (rates.bannedVersion, \.bannedVersion),
                (rates.toldName, \.toldName), (rates.endsEarly, \.endsEarly),
            ]
            for (rate, set) in faults where draw(rate) {
                s[keyPath: set].insert(e)
                break
            }
        }
        return s
    }

    /// How many of each, for the day's opening line.
    public var summary: String {
        "\(decline.count) decline, \(forget.count) forget, \(skipMock.count) skip the mock; faults: \(absentFormal.count) absent, "
            + "\(failScreening.count) fail screening, \(bothPhonesLost.count) lose both phones, \(droppedOnce.count) drop once, "
            + "\(incomingCall.count) take a call, \(bannedVersion.count) banned WeChat, \(toldName.count) reported (ground 4), "
            + "\(endsEarly.count) end early"
    }
}
