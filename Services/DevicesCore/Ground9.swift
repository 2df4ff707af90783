import Foundation
import ExamPlan

// Ground 9 of the notice's section 7 (R34): "面试过程中双机位信号同时中断、
// 单机位长时间信号中断或多次信号中断". Judged per candidate inside the
// formal interview only, from timing's start to its end, over the outages
// of both camera positions; each kind reported once per interview.
//
// The edges, all "more than", never "at least":
// - (a) both lost: the two positions' outages (each from the last heartbeat
//   to the restoring one) overlap each other and the interview for a
//   positive time; outages that merely touch (one restored at the instant
//   the other's last heartbeat was) do not.
// - (b) long: one outage lasts MORE than `longOutageSeconds` inside the
//   interview (time before the start, or before a restart of this service,
//   does not count). Exactly the threshold is not long.
// - (c) too many: MORE than `maxInterruptions` outages of either phone
//   overlap the interview. Exactly the threshold is fine.
// Only outages detected before the interview ended count: at the end the
// candidate is moved out of the rooms (R16), and phones falling silent then
// is not ground 9.

extension DevicesState {
    /// Whether the candidate's formal interview runs at `now`.
    func inFormalInterview(_ exam: String, at now: Date) -> Bool {
        guard runningFormal.contains(exam), let w = interviews[InterviewWatch.key(exam, .formal)] else { return false }
        return now >= w.started
    }

    /// The outages going on now for the candidate's two positions.
    func openOutages(_ exam: String) -> [SignalOutage] {
        guard let c = candidates[exam] else { return [] }
        return DeviceRole.allCases.compactMap { r in c.device(r).flatMap { devices[$0]?.openOutage } }
    }

    /// Where an outage's length starts to count for (b).
    func longFrom(_ o: SignalOutage, interviewStart s: Double) -> Double {
        max(o.lastSeen.timeIntervalSinceReferenceDate, s, o.serviceResumedAt?.timeIntervalSinceReferenceDate ?? -.infinity)
    }

    /// The instant after which an open outage of a running formal interview
    /// is long (b); nil when nothing can become long.
    func longDeadline(_ exam: String) -> Double? {
        guard let w = interviews[InterviewWatch.key(exam, .formal)], w.ended == nil, w.reported[.longOutage] == nil else { return nil }
        let s = w.started.timeIntervalSinceReferenceDate
        var best: Double?
        for o in openOutages(exam) {
            let d = longFrom(o, interviewStart: s) + config.longOutageSeconds
            best = min(best ?? d, d)
        }
        return best
    }

    /// Judges ground 9 for the candidate's formal interview as of `now`;
    /// reports each kind not yet reported that now holds.
    mutating func evaluateGround9(_ exam: String, now: Date) -> [DevicesEvent] {
        let key = InterviewWatch.key(exam, .formal)
        guard var w = interviews[key], w.reported.count < Ground9Kind.allCases.count, let c = candidates[exam] else { return [] }
        let t = now.timeIntervalSinceReferenceDate
        let s = w.started.timeIntervalSinceReferenceDate
        let e = w.ended?.timeIntervalSinceReferenceDate ?? .infinity
        guard t >= s, t <= e else { return [] }
        func end(_ o: SignalOutage) -> Double { o.restoredAt?.timeIntervalSinceReferenceDate ?? .infinity }
        let counted = (c.outages + openOutages(exam))
            .filter { o in
                o.detectedAt.timeIntervalSinceReferenceDate < e && o.lastSeen.timeIntervalSinceReferenceDate < e && end(o) > s
            }
            .sorted { ($0.lastSeen, $0.role.rawValue) < ($1.lastSeen, $1.role.rawValue) }
        guard !counted.isEmpty else { return [] }
        var events: [DevicesEvent] = []

        // (a) both positions lost at once.
        if w.reported[.bothLost] == nil {
            var found: (SignalOutage, SignalOutage, Double, Double)?
            for a in counted where a.role == .main {
                for b in counted where b.role == .secondary {
                    let from = max(a.lastSeen.timeIntervalSinceReferenceDate, b.lastSeen.timeIntervalSinceReferenceDate, s)
                    let until = min(end(a), end(b), e)
                    if from < until, found == nil || from < found!.2 { found = (a, b, from, until) }
                }
            }
            if let (a, b, from, until) = found {
                let fromDate = Date(timeIntervalSinceReferenceDate: from)
                let untilDate = until.isFinite ? Date(timeIntervalSinceReferenceDate: until) : nil
                let span = untilDate.map { "to \(Clock.hms($0)) (\(SignalOutage.format(until - from)))" } ?? "on (still both lost)"
                events.append(.ground9(incident: Ground9Incident(
                    examNumber: exam, kind: .bothLost, interviewStarted: w.started, detectedAt: now, outages: [a, b],
                    bothLostFrom: fromDate, bothLostUntil: untilDate, threshold: 0,
                    summary: "ground 9: both phones' signal lost at the same time, from \(Clock.hms(fromDate)) \(span); \(a.text); \(b.text)")))
                w.reported[.bothLost] = now
            }
        }

        // (b) one position lost for longer than the threshold.
        if w.reported[.longOutage] == nil {
            let long = config.longOutageSeconds
            for o in counted {
                let from = longFrom(o, interviewStart: s)
                let until = min(end(o), t, e)
                guard until > from + long else { continue }
                let seconds = until - from
                events.append(.ground9(incident: Ground9Incident(
                    examNumber: exam, kind: .longOutage, interviewStarted: w.started, detectedAt: now, outages: [o],
                    lostSeconds: seconds, threshold: long,
                    summary: "ground 9: \(o.role.rawValue) phone \(o.deviceID) lost for \(SignalOutage.format(seconds)) in the interview\(o.restoredAt == nil ? " and counting" : ""), more than \(SignalOutage.format(long)); \(o.text)")))
                w.reported[.longOutage] = now
                break
            }
        }

        // (c) more interruptions than the threshold.
        if w.reported[.tooManyInterruptions] == nil && counted.count > config.maxInterruptions {
            events.append(.ground9(incident: Ground9Incident(
                examNumber: exam, kind: .tooManyInterruptions, interviewStarted: w.started, detectedAt: now, outages: counted,
                interruptions: counted.count, threshold: Double(config.maxInterruptions),
                summary: "ground 9: \(counted.count) signal interruptions in the interview, more than \(config.maxInterruptions): " + counted.map(\.text).joined(separator: "; "))))
            w.reported[.tooManyInterruptions] = now
        }

        if !events.isEmpty {
            interviews[key] = w
            changes.interviews.insert(key)
        }
        return events
    }
}
