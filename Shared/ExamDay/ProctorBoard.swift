import Bus
import ExamContracts
import ExamPlan
import Foundation

/// What proctors watch (issue 8), built only from the services' events:
/// rooms and their queues, each candidate's state, the countdowns with the
/// time left, each phone's signal and rules, the open incidents. Pure: events
/// in, lines out; the `proctor` command feeds it and draws it.
public struct ProctorBoard: Sendable {
    public struct Phone: Sendable, Equatable {
        public var connected = false
        public var lost = false
        public var broken: Set<String> = []
    }

    public struct Candidate: Sendable, Equatable {
        public var examNumber: String
        public var name = ""
        public var room = ""
        public var roster = "not confirmed"
        public var mainIn = false
        public var secondaryIn = false
        public var absent = false
        public var screening = ""          // "", "passed", "failed"
        public var phase = ""              // "", "reading", "answering", "ended"
        public var startedMs: Int64 = 0
        public var readingEndsMs: Int64 = 0
        public var endsMs: Int64 = 0
        public var endReason = ""
        public var main = Phone()
        public var secondary = Phone()
        public var openIncidents: [String: String] = [:]   // incident id -> "ground 9"
        public var standing = ""           // "", "qualification_cancelled", "score_voided"

        public init(examNumber: String) { self.examNumber = examNumber }
    }

    public var exam = ""
    public var sitting: SittingKind = .formal
    public var rooms: [(id: String, name: String, candidates: [String])] = []
    public var candidates: [String: Candidate] = [:]
    public var order: [String: [String]] = [:]     // room -> drawn order
    public var entry: [SittingKind: (opens: Int64, closes: Int64, closed: Bool)] = [:]
    public var lastEvent: [String: String] = [:]   // service -> "#seq topic"
    public var events = 0

    public init(sitting: SittingKind = .formal) { self.sitting = sitting }

    func key(_ s: SittingKind) -> Bool { s == sitting }

    mutating func with(_ exam: String, _ body: (inout Candidate) -> Void) {
        var c = candidates[exam] ?? Candidate(examNumber: exam)
        body(&c)
        candidates[exam] = c
    }

    /// Takes one event of any service (unknown topics are counted, not
    /// understood).
    public mutating func apply(_ e: DeliveredEvent) {
        events += 1
        lastEvent[e.header.publisher] = "#\(e.seq) \(e.topic)"
        let t = e.topic
        if t == "timing.plan.published", let p = try? e.decode(ExamPlanInfo.self) {
            exam = p.exam
            rooms = p.rooms.map { ($0.id, $0.name, $0.candidates) }
            for r in p.rooms { for c in r.candidates { with(c) { $0.room = r.id } } }
            if let w = p.mockEntry { entry[.mock] = (w.opensMs, w.closesMs, entry[.mock]?.closed ?? false) }
            if let w = p.formalEntry { entry[.formal] = (w.opensMs, w.closesMs, entry[.formal]?.closed ?? false) }
        } else if t.hasPrefix("roster.candidate."), let c = try? e.decode(CandidateEvent.self) {
            with(c.examNumber) { x in
                if !c.name.isEmpty { x.name = c.name }
                switch c.status {
                case .confirmed: x.roster = "confirmed"
                case .declined: x.roster = "declined"
                case .forfeited: x.roster = "forfeited"
                case .imported: x.roster = "not confirmed"
                case .unspecified: break
                }
            }
        } else if t == "timing.entry.closed", let w = try? e.decode(EntryWindowEvent.self) {
            if let old = entry[w.sitting] { entry[w.sitting] = (old.opens, old.closes, true) }
        } else if t == "timing.room.drawn", let d = try? e.decode(DrawEvent.self), key(d.sitting) {
            order[d.roomId] = d.order
        } else if t.hasPrefix("timing.candidate."), let m = try? e.decode(CandidateMoment.self), key(m.sitting) {
            with(m.examNumber) { x in
                switch t {
                case "timing.candidate.entered", "timing.candidate.reentered":
                    if m.channel == .main { x.mainIn = true } else { x.secondaryIn = true }
                case "timing.candidate.left":
                    if m.channel == .main { x.mainIn = false } else { x.secondaryIn = false }
                case "timing.candidate.absent":
                    x.absent = true
                default: break
                }
            }
        } else if t.hasPrefix("timing.screening."), let s = try? e.decode(ScreeningEvent.self), key(s.sitting) {
            with(s.examNumber) { $0.screening = t.hasSuffix("passed") ? "passed" : "failed" }
        } else if t.hasPrefix("timing.interview."), let i = try? e.decode(InterviewEvent.self), key(i.sitting) {
            with(i.examNumber) { x in
                switch t {
                case "timing.interview.started":
                    x.phase = "reading"; x.startedMs = i.startedAtMs; x.readingEndsMs = i.readingEndsAtMs; x.endsMs = i.endsAtMs
                case "timing.interview.answering":
                    x.phase = "answering"
                    if i.endsAtMs != 0 { x.endsMs = i.endsAtMs }
                case "timing.interview.ended":
                    x.phase = "ended"; x.endReason = i.reason
                default: break
                }
            }
        } else if t.hasPrefix("devices.signal."), let s = try? e.decode(SignalEvent.self) {
            with(s.examNumber) { x in
                var p = s.role == .main ? x.main : x.secondary
                switch t {
                case "devices.signal.lost": p.lost = true; p.connected = false
                default: p.lost = false; p.connected = true
                }
                if s.role == .main { x.main = p } else { x.secondary = p }
            }
        } else if t.hasPrefix("devices.rule."), let r = try? e.decode(RuleEvent.self), let rule = r.rule {
            with(r.examNumber) { x in
                var p = r.role == .main ? x.main : x.secondary
                if t == "devices.rule.broken" { p.broken.insert(rule.rule) } else { p.broken.remove(rule.rule) }
                if r.role == .main { x.main = p } else { x.secondary = p }
            }
        } else if t == "discipline.incident.reported", let i = try? e.decode(IncidentEvent.self).incident {
            with(i.examNumber) { $0.openIncidents[i.incidentId] = "ground \(i.ground?.number ?? 0)" }
        } else if t.hasPrefix("discipline."), let d = try? e.decode(DecisionEvent.self), let decision = d.decision {
            with(d.examNumber) { x in
                x.openIncidents[decision.incidentId] = nil
                switch d.standing {
                case .qualificationCancelled: x.standing = "qualification_cancelled"
                case .scoreVoided: x.standing = "score_voided"
                case .qualified: x.standing = ""
                }
            }
        }
    }

    /// Which sitting a proctor wants to see at `now`: the mock test until
    /// the formal entry window opens (R12, R14).
    public static func sittingOfTheMoment(formal board: ProctorBoard, now: Int64) -> SittingKind {
        guard let w = board.entry[.formal] else { return .formal }
        return now >= w.opens ? .formal : .mock
    }

    static func clock(_ ms: Int64) -> String {
        let s = max(0, ms) / 1000
        return String(format: "%d:%02d", s / 60, s % 60)
    }

    /// A phone's signal; after the candidate's interview a lost phone is
    /// just switched off.
    func signal(_ p: Phone, done: Bool = false) -> String {
        let base = p.lost ? (done ? "off" : "LOST") : p.connected ? "ok" : "-"
        return p.broken.isEmpty ? base : base + "!" + p.broken.sorted().joined(separator: ",")
    }

    public func state(_ c: Candidate, now: Int64) -> String {
        if c.standing == "qualification_cancelled" { return "disqualified" }
        if c.roster == "declined" || c.roster == "forfeited" { return c.roster }
        if c.absent { return "absent" }
        switch c.phase {
        case "reading", "answering":
            return "\(c.phase == "reading" && now < c.readingEndsMs ? "reading" : c.phase) \(Self.clock(c.endsMs - now)) left"
        case "ended":
            return c.endReason == "ended_early" ? "done (ended early)" : "done"
        default:
            if c.mainIn { return c.screening == "" ? "present, not screened" : "present, screening \(c.screening)" }
            return c.roster == "confirmed" ? "not entered" : c.roster
        }
    }

    /// The board at server time `now` (Unix ms), one line per row.
    public func render(now: Int64, width: Int = 120, room only: String? = nil) -> [String] {
        var out: [String] = []
        let sittingName = sitting == .mock ? "mock test (模拟测试)" : "formal interview (正式面试)"
        out.append("\(exam.isEmpty ? "(waiting for timing's plan)" : exam) — \(sittingName) — \(BeijingTime.iso(Date(unixMs: now)).prefix(19).replacingOccurrences(of: "T", with: " ")) Beijing")
        if let w = entry[sitting] {
            let status = w.closed || now >= w.closes ? "closed" : now >= w.opens ? "OPEN, closes in \(Self.clock(w.closes - now))" : "opens in \(Self.clock(w.opens - now))"
            out.append("entry \(BeijingTime.clock(Date(unixMs: w.opens)))-\(BeijingTime.clock(Date(unixMs: w.closes))): \(status)")
        }
        for room in rooms where only == nil || only == room.id {
            let list = order[room.id] ?? room.candidates
            let running = list.compactMap { candidates[$0] }.first { $0.phase == "reading" || $0.phase == "answering" }
            out.append("")
            out.append("\(room.id) \(room.name)" + (running.map { "  ▶ \($0.examNumber) \(state($0, now: now))" } ?? ""))
            out.append("  #  exam no.    name      state                          main        secondary   incidents")
            for (i, e) in (list + room.candidates.filter { !list.contains($0) }).enumerated() {
                let c = candidates[e] ?? Candidate(examNumber: e)
                let incidents = c.openIncidents.isEmpty ? (c.standing == "score_voided" ? "score void" : "")
                    : c.openIncidents.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: " ")
                let line = "\(String(format: "%3d", i + 1))  \(pad(e, 11)) \(pad(c.name, 9)) \(pad(state(c, now: now), 30)) \(pad(signal(c.main, done: c.phase == "ended"), 11)) \(pad(signal(c.secondary, done: c.phase == "ended"), 11)) \(incidents)"
                out.append(String(line.prefix(width)))
            }
        }
        out.append("")
        let open = candidates.values.reduce(0) { $0 + $1.openIncidents.count }
        // The last event heard from each service, wrapped (not clipped) so a
        // narrow terminal still shows every service's position.
        var footer = "\(events) events; open incidents: \(open); last heard:"
        for item in lastEvent.sorted(by: { $0.key < $1.key }).map({ "\($0.key) \($0.value)" }) {
            if footer.count + 2 + item.count > width {
                out.append(footer)
                footer = "   "
            }
            footer += "  " + item
        }
        out.append(footer)
        return out.map { String($0.prefix(width)) }
    }

    /// Pads to `n` terminal columns (Chinese characters take two).
    func pad(_ s: String, _ n: Int) -> String {
        let w = s.reduce(0) { $0 + ($1.unicodeScalars.first.map { $0.value > 0x2E80 ? 2 : 1 } ?? 1) }
        return w >= n ? s : s + String(repeating: " ", count: n - w)
    }
}
