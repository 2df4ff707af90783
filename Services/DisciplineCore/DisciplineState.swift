import Foundation
import ExamPlan

/// The discipline service's whole durable state (R40-R43), a pure value.
///
/// The log is `incidents` and `decisions`: append-only, every entry numbered
/// by one `seq` shared by both, nothing ever edited or removed (R43). The
/// shell persists each changed entity as a JSON document keyed by its id
/// (events name them); the indexes (`lastSeq`, `incidentByDedupKey`,
/// `currentDecisionByIncident`) can be stored too, or rebuilt from the
/// entities with `init(restoring:...)`.
///
/// Every operation first validates and throws `DisciplineError` without
/// touching the state, then applies and returns the events to publish.
public struct DisciplineState: Codable, Sendable, Equatable {
    public var config: DisciplineConfig
    /// The plan timing published: its panels say who the chief examiner of
    /// a candidate's room is (R42).
    public private(set) var plan: ExamPlan?
    /// From roster, by exam number.
    public private(set) var candidates: [String: Candidate]
    /// From timing, by `InterviewRecord.key` ("examNumber/sitting").
    public private(set) var interviews: [String: InterviewRecord]
    /// The log (R43), by id.
    public private(set) var incidents: [String: Incident]
    public private(set) var decisions: [String: Decision]
    /// The last seq given to a log entry.
    public private(set) var lastSeq: Int
    /// Redelivery key -> incident id (R41: the same incident is recorded once).
    public private(set) var incidentByDedupKey: [String: String]
    /// Incident id -> its latest decision (the one in force).
    public private(set) var currentDecisionByIncident: [String: String]

    public init(config: DisciplineConfig = DisciplineConfig()) {
        self.config = config
        plan = nil
        candidates = [:]
        interviews = [:]
        incidents = [:]
        decisions = [:]
        lastSeq = 0
        incidentByDedupKey = [:]
        currentDecisionByIncident = [:]
    }

    /// Rebuilds the state from stored entities, recomputing the indexes;
    /// refuses a log that does not hold together (failedPrecondition).
    public init(restoring config: DisciplineConfig, plan: ExamPlan?, candidates: [Candidate],
                interviews: [InterviewRecord], incidents: [Incident], decisions: [Decision]) throws(DisciplineError) {
        self.init(config: config)
        self.plan = plan
        for c in candidates { self.candidates[c.examNumber] = c }
        for r in interviews { self.interviews[r.key] = r }
        var seqs = Set<Int>()
        for i in incidents {
            guard seqs.insert(i.seq).inserted, self.incidents[i.id] == nil else {
                throw DisciplineError(.failedPrecondition, "stored log: incident \(i.id) repeats seq \(i.seq) or its id")
            }
            self.incidents[i.id] = i
            if let k = i.dedupKey { incidentByDedupKey[k] = i.id }
        }
        for d in decisions.sorted(by: { $0.seq < $1.seq }) {
            guard seqs.insert(d.seq).inserted, self.decisions[d.id] == nil else {
                throw DisciplineError(.failedPrecondition, "stored log: decision \(d.id) repeats seq \(d.seq) or its id")
            }
            guard let i = self.incidents[d.incidentID], i.seq < d.seq else {
                throw DisciplineError(.failedPrecondition, "stored log: decision \(d.id) is about \(d.incidentID), which is not an earlier incident")
            }
            guard d.supersedes == currentDecisionByIncident[d.incidentID] else {
                throw DisciplineError(.failedPrecondition, "stored log: decision \(d.id) supersedes \(d.supersedes ?? "nothing"), but \(d.incidentID)'s decision in force was \(currentDecisionByIncident[d.incidentID] ?? "none")")
            }
            self.decisions[d.id] = d
            currentDecisionByIncident[d.incidentID] = d.id
        }
        lastSeq = seqs.max() ?? 0
    }

    static func incidentID(_ seq: Int) -> String { "INC-" + pad(seq) }
    static func decisionID(_ seq: Int) -> String { "DEC-" + pad(seq) }
    private static func pad(_ n: Int) -> String {
        let s = String(n)
        return s.count >= 6 ? s : String(repeating: "0", count: 6 - s.count) + s
    }

    // MARK: What other services tell (roster, timing)

    /// Timing's published plan (`timing.plan.published`). Replaces the
    /// previous one: panels decide who may decide from now on; decisions
    /// already taken stand. Returns whether anything changed.
    @discardableResult
    public mutating func applyPlan(_ plan: ExamPlan) throws(DisciplineError) -> Bool {
        let problems = plan.problems()
        guard problems.isEmpty else {
            throw DisciplineError(.invalidArgument, "plan: \(problems.joined(separator: "; "))")
        }
        guard self.plan != plan else { return false }
        self.plan = plan
        return true
    }

    /// A candidate from roster's events: incidents may only name candidates
    /// the core knows (R41). Repeating it updates the name (a corrected
    /// roster); returns whether anything changed.
    @discardableResult
    public mutating func applyCandidate(examNumber: String, name: String, postCode: String? = nil) throws(DisciplineError) -> Bool {
        let exam = try Check.examNumber(examNumber)
        let name = try Check.text(name, "name", max: 100)
        let post = try postCode.map { (p: String) throws(DisciplineError) in try Check.text(p, "post_code", max: 64) }
        let c = Candidate(examNumber: exam, name: name, postCode: post)
        guard candidates[exam] != c else { return false }
        candidates[exam] = c
        return true
    }

    /// An interview started and/or ended, from timing's events (R14, R16,
    /// R21). Kept even for a candidate roster has not announced yet: events
    /// of two publishers arrive in no guaranteed order, and losing a start
    /// would turn a voided score into a cancelled qualification. The first
    /// start and end heard stand (a redelivery, or a re-entry after a
    /// dropped phone, R18, does not restart the interview).
    @discardableResult
    public mutating func applyInterview(examNumber: String, sitting: Sitting, startedAt: Date? = nil, endedAt: Date? = nil) throws(DisciplineError) -> Bool {
        let exam = try Check.examNumber(examNumber)
        guard startedAt != nil || endedAt != nil else {
            throw DisciplineError(.invalidArgument, "interview of \(exam) (\(sitting.rawValue)): neither started_at nor ended_at is given")
        }
        let key = InterviewRecord.key(exam, sitting)
        var r = interviews[key] ?? InterviewRecord(examNumber: exam, sitting: sitting)
        if r.startedAt == nil { r.startedAt = startedAt }
        if r.endedAt == nil { r.endedAt = endedAt }
        if let s = r.startedAt, let e = r.endedAt, e < s {
            throw DisciplineError(.invalidArgument, "interview of \(exam) (\(sitting.rawValue)): ended at \(BeijingTime.short(e)), before it started at \(BeijingTime.short(s)) (Beijing time)")
        }
        guard interviews[key] != r else { return false }
        interviews[key] = r
        return true
    }

    /// recordings' completeness check of an interview (R38): its incomplete
    /// recordings (empty: both complete). The chief examiner sees them with
    /// the candidate's incidents of that sitting; a gap during a signal loss
    /// backs the ground-9 incident devices reported. False when nothing changed.
    public mutating func applyRecordingsCheck(examNumber: String, sitting: Sitting, issues: [RecordingIssue]) throws(DisciplineError) -> Bool {
        let exam = try Check.examNumber(examNumber)
        for i in issues { _ = try Check.text(i.text, "recording issue", max: config.maxTextLength, allowEmpty: true) }
        let key = InterviewRecord.key(exam, sitting)
        var r = interviews[key] ?? InterviewRecord(examNumber: exam, sitting: sitting)
        guard r.recordingIssues != issues else { return false }
        r.recordingIssues = issues
        interviews[key] = r
        return true
    }

    /// The recordings evidence of an incident (R38): the candidate's
    /// incomplete recordings of its sitting (the formal one when it names
    /// none); on a ground-9 incident those during a signal loss come first.
    public func recordingEvidence(for i: Incident) -> [RecordingIssue] {
        let issues = interviews[InterviewRecord.key(i.examNumber, i.sitting ?? .formal)]?.recordingIssues ?? []
        guard i.ground == .signalLoss else { return issues }
        return issues.filter(\.duringSignalLoss) + issues.filter { !$0.duringSignalLoss }
    }

    // MARK: Incidents (R41)

    /// A staff report, on any ground. Reporter: a proctor, examiner or chief
    /// examiner (others: permissionDenied).
    public mutating func report(_ r: StaffReport, by reporter: Principal, now: Date) throws(DisciplineError) -> ReportResult {
        try Check.principal(reporter, "reporter")
        guard reporter.role.isStaff else {
            throw DisciplineError(.permissionDenied, "reporter \(reporter.id) has role \(reporter.role.rawValue): only staff (proctor, examiner, chief examiner) report incidents; services use their own reports")
        }
        let ground = try Ground.numbered(r.ground)
        let exam = try Check.examNumber(r.examNumber)
        let text = try Check.text(r.evidence, "evidence", max: config.maxTextLength)
        let refs = try Check.references(r.references)
        let requestID = try r.requestID.map { (id: String) throws(DisciplineError) in try Check.key(id, "request_id") }
        let occurred = r.occurredAt ?? now
        try checkNotFuture(occurred, "occurred_at", now: now)
        try checkKnown(exam)
        let draft = Draft(examNumber: exam, ground: ground, source: .staff, sitting: r.sitting,
                          evidence: Evidence(text: text, references: refs), reporter: reporter,
                          occurredAt: occurred, occurredAtGiven: r.occurredAt != nil,
                          dedupKey: requestID.map { "staff:\(reporter.id)#\($0)" })
        return try record(draft, now: now)
    }

    /// Devices' ground-9 report (R34).
    public mutating func report(_ r: SignalLossReport, now: Date) throws(DisciplineError) -> ReportResult {
        let reporter = Principal(id: r.reportedBy, role: .service)
        try Check.principal(reporter, "reported_by")
        let exam = try Check.examNumber(r.examNumber)
        let key = try Check.key(r.sourceKey, "source_key")
        let note = try Check.text(r.note, "note", max: config.maxTextLength, allowEmpty: true)
        guard !r.positions.isEmpty, Set(r.positions).count == r.positions.count else {
            throw DisciplineError(.invalidArgument, "positions: \(r.positions.map(\.rawValue)) must name main and/or secondary, each once")
        }
        if let d = r.durationSeconds, !(d.isFinite && d >= 0) {
            throw DisciplineError(.invalidArgument, "duration_seconds: \(d) is not a length of time")
        }
        if let n = r.interruptions, n < 1 {
            throw DisciplineError(.invalidArgument, "interruptions: \(n) is not a count of interruptions")
        }
        switch r.pattern {
        case .bothAtOnce:
            guard Set(r.positions) == Set(DevicePosition.allCases) else {
                throw DisciplineError(.invalidArgument, "positions: both_at_once needs main and secondary, not \(r.positions.map(\.rawValue).joined(separator: ", "))")
            }
        case .oneLong:
            guard r.positions.count == 1 else {
                throw DisciplineError(.invalidArgument, "positions: one_long names exactly one position, not \(r.positions.count)")
            }
            guard let d = r.durationSeconds, d > 0 else {
                throw DisciplineError(.invalidArgument, "duration_seconds: one_long needs how long the signal was lost")
            }
        case .repeated:
            guard let n = r.interruptions, n >= 2 else {
                throw DisciplineError(.invalidArgument, "interruptions: repeated needs the number of interruptions (at least 2)")
            }
        }
        try checkNotFuture(r.lostAt, "lost_at", now: now)
        try checkKnown(exam)
        let measured = SignalLossEvidence(pattern: r.pattern, positions: r.positions, lostAt: r.lostAt,
                                          durationSeconds: r.durationSeconds, interruptions: r.interruptions)
        let draft = Draft(examNumber: exam, ground: .signalLoss, source: .signalLoss, sitting: r.sitting,
                          evidence: Evidence(text: Describe.signalLoss(measured, note: note), signalLoss: measured),
                          reporter: reporter, occurredAt: r.lostAt, occurredAtGiven: true, dedupKey: key)
        return try record(draft, now: now)
    }

    /// Timing's failed identity/room screening (R13); ground 10 unless the
    /// report names another (see `ScreeningReport`).
    public mutating func report(_ r: ScreeningReport, now: Date) throws(DisciplineError) -> ReportResult {
        let reporter = Principal(id: r.reportedBy, role: .service)
        try Check.principal(reporter, "reported_by")
        let exam = try Check.examNumber(r.examNumber)
        let key = try Check.key(r.sourceKey, "source_key")
        let ground = try serviceGround(r.ground)
        guard !r.failedItems.isEmpty else {
            throw DisciplineError(.invalidArgument, "failed_items: a failed screening names at least one failed checklist item")
        }
        var items: [String] = []
        for (i, item) in r.failedItems.enumerated() { items.append(try Check.text(item, "failed_items[\(i)]", max: 200)) }
        let screener = try r.screenedBy.map { (s: String) throws(DisciplineError) in try Check.key(s, "screened_by") }
        let note = try Check.text(r.note, "note", max: config.maxTextLength, allowEmpty: true)
        try checkNotFuture(r.screenedAt, "screened_at", now: now)
        try checkKnown(exam)
        let measured = ScreeningEvidence(sitting: r.sitting, failedItems: items, screenedBy: screener)
        let draft = Draft(examNumber: exam, ground: ground, source: .screening, sitting: r.sitting,
                          evidence: Evidence(text: Describe.screening(measured, note: note), screening: measured),
                          reporter: reporter, occurredAt: r.screenedAt, occurredAtGiven: true, dedupKey: key)
        return try record(draft, now: now)
    }

    /// Devices' broken device rule (R32); ground 10 unless the report names
    /// another (see `DeviceRuleReport`).
    public mutating func report(_ r: DeviceRuleReport, now: Date) throws(DisciplineError) -> ReportResult {
        let reporter = Principal(id: r.reportedBy, role: .service)
        try Check.principal(reporter, "reported_by")
        let exam = try Check.examNumber(r.examNumber)
        let key = try Check.key(r.sourceKey, "source_key")
        let ground = try serviceGround(r.ground)
        let rule = try Check.text(r.rule, "rule", max: 100)
        let detail = try Check.text(r.detail, "detail", max: config.maxTextLength, allowEmpty: true)
        try checkNotFuture(r.observedAt, "observed_at", now: now)
        try checkKnown(exam)
        let measured = DeviceRuleEvidence(position: r.position, rule: rule, detail: detail)
        let draft = Draft(examNumber: exam, ground: ground, source: .deviceRule, sitting: r.sitting,
                          evidence: Evidence(text: Describe.deviceRule(measured), deviceRule: measured),
                          reporter: reporter, occurredAt: r.observedAt, occurredAtGiven: true, dedupKey: key)
        return try record(draft, now: now)
    }

    // MARK: Decisions (R42)

    /// A chief examiner's first decision on an open incident. A decided
    /// incident is refused (failedPrecondition): changing a decision takes
    /// `reverse`, which records a new one (R43).
    public mutating func decide(incidentID: String, outcome: Outcome, reason: String, by decider: Principal, now: Date) throws(DisciplineError) -> DecisionResult {
        let id = try Check.key(incidentID, "incident_id")
        let reason = try Check.text(reason, "reason", max: config.maxTextLength)
        try Check.principal(decider, "by")
        guard let incident = incidents[id] else {
            throw DisciplineError(.notFound, "incident \(id) does not exist")
        }
        try authorize(decider, on: incident, to: "decide")
        if let currentID = currentDecisionByIncident[id], let current = decisions[currentID] {
            throw DisciplineError(.failedPrecondition, "incident \(id) was already decided by \(current.id) (\(current.outcome.rawValue), \(BeijingTime.short(current.decidedAt)) Beijing time); a different decision needs a reversal request for \(current.id)")
        }
        let d = newDecision(on: incident, outcome: outcome, reason: reason, by: decider, automatic: false, now: now, supersedes: nil)
        append(d)
        let standing = computeStanding(incident.examNumber)
        return DecisionResult(decision: d, standing: standing, events: [.incidentDecided(decision: d, standing: standing)])
    }

    /// Reverses the decision in force on an incident: a NEW decision with the
    /// opposite outcome and its own reason, superseding the old one, which
    /// stays in the log unchanged (R43). Reversing a reversal works the same
    /// way. Only the incident's current decision can be reversed.
    public mutating func reverse(decisionID: String, reason: String, by decider: Principal, now: Date) throws(DisciplineError) -> DecisionResult {
        let id = try Check.key(decisionID, "decision_id")
        let reason = try Check.text(reason, "reason", max: config.maxTextLength)
        try Check.principal(decider, "by")
        guard let old = decisions[id], let incident = incidents[old.incidentID] else {
            throw DisciplineError(.notFound, "decision \(id) does not exist")
        }
        try authorize(decider, on: incident, to: "reverse decision \(id) on")
        if let currentID = currentDecisionByIncident[incident.id], currentID != id {
            throw DisciplineError(.failedPrecondition, "decision \(id) on incident \(incident.id) is no longer in force: \(currentID) superseded it; reverse \(currentID) instead")
        }
        let d = newDecision(on: incident, outcome: old.outcome.opposite, reason: reason, by: decider, automatic: false, now: now, supersedes: old.id)
        append(d)
        let standing = computeStanding(incident.examNumber)
        return DecisionResult(decision: d, standing: standing, events: [.decisionReversed(decision: d, reversed: old, standing: standing)])
    }

    // MARK: Internals

    /// An incident before it gets its id, seq and recording time.
    struct Draft {
        var examNumber: String
        var ground: Ground
        var source: IncidentSource
        var sitting: Sitting?
        var evidence: Evidence
        var reporter: Principal
        var occurredAt: Date
        /// False when the staff left the time out and `now` stands in: a
        /// retry then comes with another `now`, which must not count as
        /// different content.
        var occurredAtGiven: Bool
        var dedupKey: String?

        func sameContent(as i: Incident) -> Bool {
            i.examNumber == examNumber && i.ground == ground && i.source == source && i.sitting == sitting
                && i.evidence == evidence && i.reporter == reporter && (!occurredAtGiven || i.occurredAt == occurredAt)
        }
    }

    /// Records a validated draft, once per redelivery key (R41), and takes
    /// the automatic decision the configuration asks for (R42).
    private mutating func record(_ draft: Draft, now: Date) throws(DisciplineError) -> ReportResult {
        if let key = draft.dedupKey, let existingID = incidentByDedupKey[key], let existing = incidents[existingID] {
            guard draft.sameContent(as: existing) else {
                throw DisciplineError(.alreadyExists, "key \(key) already recorded incident \(existing.id) (\(existing.examNumber), ground \(existing.ground.rawValue)) with different content; a new incident needs a new key")
            }
            return ReportResult(incident: existing, decision: nil, duplicate: true, events: [])
        }
        let seq = lastSeq + 1
        let incident = Incident(id: Self.incidentID(seq), seq: seq, examNumber: draft.examNumber, ground: draft.ground,
                                source: draft.source, sitting: draft.sitting, evidence: draft.evidence,
                                reporter: draft.reporter, occurredAt: draft.occurredAt, reportedAt: now,
                                dedupKey: draft.dedupKey)
        incidents[incident.id] = incident
        lastSeq = seq
        if let key = draft.dedupKey { incidentByDedupKey[key] = incident.id }
        var events: [DisciplineEvent] = [.incidentReported(incident: incident)]

        let auto: String?
        if incident.ground == .signalLoss && config.autoDecideGround9 {
            auto = "automatic decision under autoDecideGround9: ground 9 of section 7 of the notice (signal loss) disqualifies"
        } else if incident.source == .screening && config.autoDecideScreening {
            auto = "automatic decision under autoDecideScreening: the notice, section 4(三)2(1), cancels the qualification of a candidate who fails the identity and environment screening"
        } else {
            auto = nil
        }
        var decision: Decision?
        if let reason = auto {
            let d = newDecision(on: incident, outcome: .disqualify, reason: reason, by: .system, automatic: true, now: now, supersedes: nil)
            append(d)
            events.append(.incidentDecided(decision: d, standing: computeStanding(incident.examNumber)))
            decision = d
        }
        return ReportResult(incident: incident, decision: decision, duplicate: false, events: events)
    }

    private func newDecision(on incident: Incident, outcome: Outcome, reason: String, by decider: Principal,
                             automatic: Bool, now: Date, supersedes: String?) -> Decision {
        let seq = lastSeq + 1
        let effect: Effect
        switch outcome {
        case .dismiss:
            effect = supersedes.flatMap { decisions[$0] }?.outcome == .disqualify ? .restored : .none
        case .disqualify:
            // R42: before the formal interview started, the qualification
            // goes; once it started, the score does.
            effect = formalInterviewStarted(incident.examNumber, by: now) ? .scoreVoided : .qualificationCancelled
        }
        return Decision(id: Self.decisionID(seq), seq: seq, incidentID: incident.id, examNumber: incident.examNumber,
                        outcome: outcome, reason: reason, decidedBy: decider, automatic: automatic, decidedAt: now,
                        effect: effect, supersedes: supersedes)
    }

    private mutating func append(_ d: Decision) {
        decisions[d.id] = d
        currentDecisionByIncident[d.incidentID] = d.id
        lastSeq = d.seq
    }

    /// Whether the candidate's formal interview had started by `now`, as far
    /// as timing has told. Unknown counts as not started. The mock test is
    /// not the interview (R19).
    func formalInterviewStarted(_ examNumber: String, by now: Date) -> Bool {
        guard let r = interviews[InterviewRecord.key(examNumber, .formal)] else { return false }
        if let s = r.startedAt { return s <= now }
        return r.endedAt != nil
    }

    /// R42: only a chief examiner decides; when the plan places the
    /// candidate in a room (and the configuration asks), only that room's
    /// chief. Without a plan, or for a candidate the plan does not place,
    /// the role alone is checked.
    private func authorize(_ p: Principal, on incident: Incident, to action: String) throws(DisciplineError) {
        guard p.role == .chiefExaminer else {
            throw DisciplineError(.permissionDenied, "\(p.id) (role \(p.role.rawValue)) may not \(action) incident \(incident.id): only a chief examiner decides incidents (R42)")
        }
        if config.chiefMustSitOnCandidatePanel, let room = plan?.room(of: incident.examNumber) {
            let chiefs = room.panel.filter(\.chief).map(\.id)
            guard chiefs.contains(p.id) else {
                throw DisciplineError(.permissionDenied, "\(p.id) may not \(action) incident \(incident.id): \(incident.examNumber) sits in room \(room.id), whose chief examiner is \(chiefs.isEmpty ? "nobody" : chiefs.joined(separator: ", "))")
            }
        }
    }

    private func checkKnown(_ exam: String) throws(DisciplineError) {
        guard candidates[exam] != nil else {
            throw DisciplineError(.notFound, "candidate \(exam) is not on the roster")
        }
    }

    private func checkNotFuture(_ t: Date, _ field: String, now: Date) throws(DisciplineError) {
        guard t.timeIntervalSince(now) <= config.futureToleranceSeconds else {
            throw DisciplineError(.invalidArgument, "\(field): \(BeijingTime.short(t)) is later than now (\(BeijingTime.short(now)), Beijing time)")
        }
    }

    /// Services name a ground other than the default 10 only when their
    /// evidence shows it; ground 9 has its own report with its measurements.
    private func serviceGround(_ number: Int?) throws(DisciplineError) -> Ground {
        guard let n = number else { return .otherMisconduct }
        let g = try Ground.numbered(n)
        guard g != .signalLoss else {
            throw DisciplineError(.invalidArgument, "ground: 9 (signal loss) is reported by devices as a signal-loss report, with its measurements")
        }
        return g
    }

    func computeStanding(_ examNumber: String) -> CandidateStanding {
        let active = incidents.values
            .filter { $0.examNumber == examNumber }
            .compactMap { currentDecisionByIncident[$0.id].flatMap { decisions[$0] } }
            .filter { $0.outcome == .disqualify }
            .sorted { $0.seq < $1.seq }
        let standing: Standing
        switch active.first?.effect {
        case .scoreVoided?: standing = .scoreVoided
        case .qualificationCancelled?: standing = .qualificationCancelled
        default: standing = .qualified
        }
        return CandidateStanding(examNumber: examNumber, standing: standing, activeDisqualifications: active.map(\.id))
    }
}

/// Input checks shared by every operation: each says which field and why.
enum Check {
    static func text(_ s: String, _ field: String, max: Int, allowEmpty: Bool = false) throws(DisciplineError) -> String {
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.isEmpty && !allowEmpty { throw DisciplineError(.invalidArgument, "\(field): is empty") }
        if t.count > max { throw DisciplineError(.invalidArgument, "\(field): has \(t.count) characters, at most \(max)") }
        if let bad = t.unicodeScalars.first(where: { $0.properties.generalCategory == .control && $0 != "\n" && $0 != "\t" && $0 != "\r" }) {
            throw DisciplineError(.invalidArgument, "\(field): contains the control character U+\(String(format: "%04X", bad.value))")
        }
        return t
    }

    /// Exam numbers as the plan writes them: letters, digits, '-', '_'.
    static func examNumber(_ s: String) throws(DisciplineError) -> String {
        let t = s.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty, t.count <= 32,
              t.unicodeScalars.allSatisfy({ ($0.isASCII && CharacterSet.alphanumerics.contains($0)) || $0 == "-" || $0 == "_" }) else {
            throw DisciplineError(.invalidArgument, "exam_number: '\(s)' is not an exam number (1-32 letters, digits, '-' or '_')")
        }
        return t
    }

    /// Ids and keys: non-empty, no spaces or control characters.
    static func key(_ s: String, _ field: String, max: Int = 200) throws(DisciplineError) -> String {
        guard !s.isEmpty, s.count <= max,
              !s.unicodeScalars.contains(where: { CharacterSet.whitespacesAndNewlines.contains($0) || $0.properties.generalCategory == .control }) else {
            throw DisciplineError(.invalidArgument, "\(field): '\(s)' is not an id (1-\(max) characters, no spaces)")
        }
        return s
    }

    static func principal(_ p: Principal, _ field: String) throws(DisciplineError) {
        _ = try key(p.id, "\(field).id", max: 64)
    }

    static func references(_ refs: [String]) throws(DisciplineError) -> [String] {
        guard refs.count <= 50 else { throw DisciplineError(.invalidArgument, "references: \(refs.count) references, at most 50") }
        var out: [String] = []
        for (i, r) in refs.enumerated() { out.append(try text(r, "references[\(i)]", max: 200)) }
        return out
    }
}

/// Evidence texts for service reports: what people read in lists and the export.
enum Describe {
    static func seconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s)
    }

    static func signalLoss(_ e: SignalLossEvidence, note: String) -> String {
        let at = BeijingTime.short(e.lostAt)
        let positions = e.positions.map(\.rawValue).joined(separator: " and ")
        var s: String
        switch e.pattern {
        case .bothAtOnce: s = "Ground 9: both positions (\(positions)) lost signal at once at \(at)"
        case .oneLong: s = "Ground 9: the \(positions) position lost signal at \(at)"
        case .repeated: s = "Ground 9: \(e.interruptions ?? 0) signal interruptions (\(positions)) from \(at)"
        }
        if let d = e.durationSeconds { s += e.pattern == .repeated ? ", \(seconds(d)) in all" : " for \(seconds(d))" }
        if e.pattern != .repeated, let n = e.interruptions { s += ", \(n) interruption(s)" }
        s += " (Beijing time)"
        return note.isEmpty ? s : s + "; " + note
    }

    static func screening(_ e: ScreeningEvidence, note: String) -> String {
        var s = "Failed identity/room screening at \(e.sitting.rawValue) entry (notice 4(三)2(1)): " + e.failedItems.joined(separator: ", ")
        if let who = e.screenedBy { s += "; screened by \(who)" }
        return note.isEmpty ? s : s + "; " + note
    }

    static func deviceRule(_ e: DeviceRuleEvidence) -> String {
        let s = "Device rule broken on the \(e.position.rawValue) phone: \(e.rule)"
        return e.detail.isEmpty ? s : s + " (\(e.detail))"
    }
}
