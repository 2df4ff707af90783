import ExamPlan
import Foundation
import Testing
@testable import TimingCore

@Suite("Restart and catch-up (R15, R21, R22)")
struct RestartTests {
    @Test("persisted as JSON, restarted, ticked 7 minutes late: the missed turn and end fire once, in order, with due times")
    func restartSevenMinutesLate() throws {
        var s = try confirmedState()
        let order = try formalRoomReady(&s)
        let n = order[0]
        let start = t("2022-11-19 11:12")
        _ = s.tick(now: start, seed: 0)
        _ = try s.startInterview(roomID: "R01", sitting: .formal, examNumber: n, proctor: "P01", now: start)
        // Timing's last tick before the crash: 11:15:00, reading.
        #expect(s.tick(now: t("2022-11-19 11:15"), seed: 0).isEmpty)

        // The shell stored the state; timing is killed and comes back at 11:22:00.
        var restarted = try persisted(s)
        #expect(restarted == s)
        #expect(restarted.nextDeadline() == t("2022-11-19 11:17"))
        let late = t("2022-11-19 11:22")
        let ev = restarted.tick(now: late, seed: 99)
        #expect(ev == [
            .answeringStarted(sitting: .formal, examNumber: n, roomID: "R01", turn: .automatic, announcedBy: nil,
                              endsAt: t("2022-11-19 11:22"), due: t("2022-11-19 11:17"), at: late),
            .interviewEnded(sitting: .formal, examNumber: n, roomID: "R01", reason: .timeUp, remaining: 0,
                            due: t("2022-11-19 11:22"), at: late),
            .candidateLeft(sitting: .formal, examNumber: n, roomID: "R01", channel: .main, deviceID: mainDevice(n),
                           reason: .interviewOver, duringInterview: true, at: late),
            .candidateLeft(sitting: .formal, examNumber: n, roomID: "R01", channel: .secondary, deviceID: secondaryDevice(n),
                           reason: .interviewOver, duringInterview: true, at: late),
            .answerRecordingSaved(sitting: .formal, examNumber: n, roomID: "R01", answeringFrom: t("2022-11-19 11:17"),
                                  until: t("2022-11-19 11:22"), due: t("2022-11-19 11:22"), at: late),
        ])
        #expect(ev.map(\.due) == [t("2022-11-19 11:17"), t("2022-11-19 11:22"), nil, nil, t("2022-11-19 11:22")])
        // Exactly once: ticking again, or after another restart, fires nothing.
        #expect(restarted.tick(now: late, seed: 99).isEmpty)
        var again = try persisted(restarted)
        #expect(again.tick(now: late.plus(60), seed: 5).isEmpty)
        let iv = again.candidateSittings["formal/\(n)"]!.interview!
        #expect(iv.answeringStartedAt == t("2022-11-19 11:17"))
        #expect(iv.answeringFiredAt == late)
        #expect(iv.endedAt == t("2022-11-19 11:22"))
        #expect(iv.endFiredAt == late)
    }

    @Test("a restart mid-countdown resumes at the right remaining time")
    func resumeRemaining() throws {
        var s = try confirmedState()
        let order = try formalRoomReady(&s)
        let start = t("2022-11-19 11:12")
        _ = s.tick(now: start, seed: 0)
        _ = try s.startInterview(roomID: "R01", sitting: .formal, examNumber: order[0], proctor: "P01", now: start)
        let restarted = try persisted(s)
        let at = t("2022-11-19 11:18:30")
        let clock = try restarted.interviewClock(examNumber: order[0], sitting: .formal, now: at)
        #expect(clock.remaining == 210)
        #expect(clock.phase == .answering) // derived from the stored start, even before the tick
        #expect(restarted.nextDeadline() == t("2022-11-19 11:17"))
    }

    @Test("a tick long after both sittings fires every missed transition once, in time order")
    func longCatchUp() throws {
        var s = try confirmedState()
        let ev = s.tick(now: t("2022-11-20 08:00"), seed: 123)
        let dues = ev.compactMap(\.due)
        #expect(dues == dues.sorted())
        #expect(ev.filter { $0.topic == "timing.entry.opened" }.count == 2)
        #expect(ev.filter { $0.topic == "timing.entry.closed" }.count == 2)
        #expect(ev.filter { $0.topic == "timing.candidate.absent" }.count == 12)
        #expect(ev.filter { $0.topic == "timing.room.drawn" }.count == 4)
        #expect(s.nextDeadline() == nil)
        #expect(s.tick(now: t("2022-11-20 08:00"), seed: 123).isEmpty)
    }

    @Test("events encode to JSON and back")
    func eventsCodable() throws {
        var s = try confirmedState()
        var all = try enterBoth(&s, "2022110001", at: t("2022-11-19 11:01"))
        all += s.tick(now: t("2022-11-19 11:10"), seed: 1)
        let data = try JSONEncoder().encode(all)
        #expect(try JSONDecoder().decode([TimingEvent].self, from: data) == all)
    }
}
