import ExamPlan
import Foundation

/// The scoring service's pure core (R50-R55): a state machine with no I/O,
/// no clock and no randomness of its own. Every input carries `now`; the draw
/// seed comes from the shell. Every operation validates first and throws a
/// `ScoringError` before changing anything; on success it returns the events
/// that describe the change (none for a harmless replay).
///
/// Durable state is a set of dictionaries keyed by id, so the shell can store
/// each changed entity as one JSON document. All arithmetic is on `Points`
/// (integer hundredths): never Double or Float (R51).
public struct ScoringState: Codable, Sendable, Equatable {
    public internal(set) var config: ScoringConfig
    /// Rooms and panels, from timing's `timing.plan.published` (R11).
    public internal(set) var plan: ExamPlan?
    /// Keyed by post code.
    public internal(set) var posts: [String: Post]
    /// Keyed by exam number.
    public internal(set) var candidates: [String: ScoringCandidate]
    /// Keyed by discipline's decision id; reversed ones stay (R43).
    public internal(set) var disqualifications: [String: Disqualification]
    /// The correction log (R55), keyed by correction id 1, 2, ...; append-only.
    public internal(set) var corrections: [Int: CorrectionRecord]
    /// Keyed by version 1, 2, ...; append-only.
    public internal(set) var publications: [Int: Publication]
    /// Recorded at the first publication; every later draw uses it (R53).
    public internal(set) var drawSeed: UInt64?

    public init(config: ScoringConfig = ScoringConfig()) throws {
        let problems = config.problems()
        guard problems.isEmpty else { throw ScoringError.invalid("the scoring configuration is invalid", problems) }
        self.config = config
        plan = nil
        posts = [:]
        candidates = [:]
        disqualifications = [:]
        corrections = [:]
        publications = [:]
        drawSeed = nil
    }

    /// Reassembles a state from the documents the shell stored.
    public init(config: ScoringConfig, plan: ExamPlan?, posts: [String: Post], candidates: [String: ScoringCandidate],
                disqualifications: [String: Disqualification], corrections: [Int: CorrectionRecord],
                publications: [Int: Publication], drawSeed: UInt64?) {
        self.config = config
        self.plan = plan
        self.posts = posts
        self.candidates = candidates
        self.disqualifications = disqualifications
        self.corrections = corrections
        self.publications = publications
        self.drawSeed = drawSeed
    }

    public var latestPublication: Publication? { publications.values.max { $0.version < $1.version } }
    public var isPublished: Bool { !publications.isEmpty }

    /// R55: after publication only corrections and discipline's decisions
    /// change anything; other changes are refused with this error.
    func frozen(_ what: String) -> ScoringError {
        let p = latestPublication!
        return ScoringError.precondition(
            "scores are published (version \(p.version), \(BeijingTime.short(p.publishedAt))) and frozen: \(what) (R55)")
    }

    // MARK: Facts from roster (R1, R3, R5)

    /// A candidate from roster's import. Replaying the same fact changes
    /// nothing; a changed fact updates the candidate and the post's places
    /// (the latest roster word wins) until publication, and is refused after.
    public mutating func recordCandidate(_ f: CandidateFact, now: Date) throws -> [ScoringEvent] {
        try Check.identifier(f.examNumber, "candidate exam number")
        let at = "candidate \(f.examNumber)"
        guard Check.isText(f.name, max: 64) else {
            throw ScoringError.invalid("\(at): name is blank, longer than 64 characters or has control characters")
        }
        // Roster publishes ID numbers masked (no full number travels on the
        // bus); a full number is checked and masked here.
        let maskedID: String
        if f.idNumber.contains("*") {
            let chars = Array(f.idNumber)
            guard chars.count == 18, chars[0..<6].allSatisfy({ $0.isASCII && $0.isNumber }),
                  chars[6..<14].allSatisfy({ $0 == "*" }),
                  chars[14..<18].allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "X") }) else {
                throw ScoringError.invalid("\(at): ID number \(f.idNumber) is neither an ID number nor one masked as 6 characters, 8 *, 4 characters")
            }
            maskedID = f.idNumber
        } else {
            do {
                maskedID = try ResidentID(f.idNumber, today: now).masked
            } catch let p as ResidentID.Problem {
                throw ScoringError.invalid("\(at): ID number \(ResidentID.mask(f.idNumber)) \(p)")
            }
        }
        try Check.identifier(f.postCode, "\(at): post code")
        guard Check.isText(f.postName, max: 100) else {
            throw ScoringError.invalid("\(at): post name is blank, longer than 100 characters or has control characters")
        }
        let written = try Check.points(f.writtenScore, "\(at): written score")
        guard (1...10_000).contains(f.places) else {
            throw ScoringError.invalid("\(at): post \(f.postCode) has \(f.places) places; it needs 1 to 10000")
        }

        var c = candidates[f.examNumber] ?? ScoringCandidate(
            examNumber: f.examNumber, name: f.name, maskedID: maskedID, postCode: f.postCode, writtenScore: written,
            status: .pending, attendance: nil, panelScores: [:], seal: nil)
        c.name = f.name
        c.maskedID = maskedID
        c.postCode = f.postCode
        c.writtenScore = written
        let post = Post(code: f.postCode, name: f.postName, places: f.places)
        let candidateChanged = candidates[f.examNumber] != c
        let postChanged = posts[f.postCode] != post
        guard candidateChanged || postChanged else { return [] }
        if isPublished { throw frozen("roster's change to \(at) cannot be applied") }

        var events: [ScoringEvent] = []
        if candidateChanged {
            candidates[f.examNumber] = c
            events.append(.candidateRecorded(examNumber: f.examNumber, postCode: f.postCode))
        }
        if postChanged {
            posts[f.postCode] = post
            events.append(.postRecorded(postCode: post.code, name: post.name, places: post.places))
        }
        return events
    }

    /// Roster's confirmation outcome (R3, R5). Declined and forfeited
    /// candidates get no interview score and no rank (R52).
    public mutating func recordCandidateStatus(examNumber: String, status: RosterStatus, now: Date) throws -> [ScoringEvent] {
        guard var c = candidates[examNumber] else {
            throw ScoringError.notFound("candidate \(examNumber) is not on the roster scoring knows")
        }
        guard c.status != status else { return [] }
        if isPublished { throw frozen("roster's new status \(status.rawValue) for candidate \(examNumber) cannot be applied") }
        c.status = status
        candidates[examNumber] = c
        return [.candidateStatusChanged(examNumber: examNumber, status: status)]
    }

    // MARK: Facts from timing (R10-R12, R16)

    /// The exam plan: rooms and their panels (R11). Refused when it would
    /// move a candidate who already has panel scores to another room, or
    /// change the panel that scored them.
    public mutating func recordPlan(_ plan: ExamPlan, now: Date) throws -> [ScoringEvent] {
        let problems = plan.problems()
        guard problems.isEmpty else { throw ScoringError.invalid("the exam plan is invalid", problems) }
        guard self.plan != plan else { return [] }
        if isPublished { throw frozen("a new exam plan cannot be applied") }
        var conflicts: [String] = []
        for c in candidates.values.sorted(by: { $0.examNumber < $1.examNumber }) where !c.panelScores.isEmpty {
            let old = self.plan?.room(of: c.examNumber), new = plan.room(of: c.examNumber)
            if old?.id != new?.id {
                conflicts.append("\(c.examNumber): has panel scores from room \(old?.id ?? "-"), the new plan puts them in \(new?.id ?? "no room")")
            } else if Set(old?.panel.map(\.id) ?? []) != Set(new?.panel.map(\.id) ?? []) {
                conflicts.append("\(c.examNumber): room \(old?.id ?? "-")'s panel changes after it scored them")
            }
        }
        guard conflicts.isEmpty else {
            throw ScoringError.precondition("the new exam plan changes rooms or panels of candidates already scored (R50)", conflicts)
        }
        self.plan = plan
        return [.planRecorded(exam: plan.exam, rooms: plan.rooms.count)]
    }

    /// Timing: the candidate's interview ended (R16, R17). Only the formal
    /// sitting counts; the mock test is ignored (R19).
    public mutating func recordInterviewEnded(examNumber: String, sitting: Sitting, now: Date) throws -> [ScoringEvent] {
        try recordAttendance(examNumber, sitting, .interviewed(endedAt: now))
    }

    /// Timing: no main-room entry by the close of the entry window (R12):
    /// in the formal sitting the candidate forfeits the interview.
    public mutating func recordAbsent(examNumber: String, sitting: Sitting, now: Date) throws -> [ScoringEvent] {
        try recordAttendance(examNumber, sitting, .absent(at: now))
    }

    mutating func recordAttendance(_ examNumber: String, _ sitting: Sitting, _ a: FormalAttendance) throws -> [ScoringEvent] {
        guard sitting == .formal else { return [] }
        guard var c = candidates[examNumber] else {
            throw ScoringError.notFound("candidate \(examNumber) is not on the roster scoring knows")
        }
        switch (c.attendance, a) {
        case (.interviewed, .interviewed), (.absent, .absent): return []
        case (.interviewed(let t), .absent):
            throw ScoringError.precondition("timing reported \(examNumber)'s formal interview ended at \(BeijingTime.short(t)); it cannot now be absent")
        case (.absent(let t), .interviewed):
            throw ScoringError.precondition("timing reported \(examNumber) absent from the formal sitting at \(BeijingTime.short(t)); the interview cannot now have ended")
        case (nil, _): break
        }
        if isPublished { throw frozen("timing's report on candidate \(examNumber) cannot be applied") }
        c.attendance = a
        candidates[examNumber] = c
        return [.attendanceRecorded(examNumber: examNumber, attendance: a)]
    }

    // MARK: Facts from discipline (R42, R43)

    /// A disqualification (R42): the candidate loses any rank (R52); a sealed
    /// interview score is voided but kept on record with the decision. After
    /// publication the lists are republished when they change.
    public mutating func recordDisqualification(_ f: DisqualificationFact, now: Date) throws -> [ScoringEvent] {
        try Check.identifier(f.decisionID, "decision id", max: 64)  // a UUID fits
        guard let c = candidates[f.examNumber] else {
            throw ScoringError.notFound("decision \(f.decisionID): candidate \(f.examNumber) is not on the roster scoring knows")
        }
        if let g = f.ground, !(1...10).contains(g) {
            throw ScoringError.invalid("decision \(f.decisionID): ground \(g) is not one of the notice's grounds 1-10 (R40)")
        }
        guard Check.isText(f.reason, max: 1000) else {
            throw ScoringError.invalid("decision \(f.decisionID): the reason is blank, longer than 1000 characters or has control characters")
        }
        if let existing = disqualifications[f.decisionID] {
            if existing.fact == f { return [] }
            throw ScoringError.exists("decision \(f.decisionID) is already recorded (candidate \(existing.fact.examNumber), \(existing.fact.effect.rawValue)) with other content")
        }
        let voided = c.seal?.score
        disqualifications[f.decisionID] = Disqualification(fact: f, voidedInterviewScore: voided, recordedAt: now, reversal: nil)
        var events: [ScoringEvent] = [.disqualified(decisionID: f.decisionID, examNumber: f.examNumber, effect: f.effect,
                                                    voidedInterviewScore: voided)]
        if let e = republishIfChanged(reason: "\(disqualifications[f.decisionID]!.label): \(f.examNumber) disqualified",
                                      by: "discipline", now: now) {
            events.append(e)
        }
        return events
    }

    /// A reversal of a disqualification: the candidate is reinstated once no
    /// other decision still stands, and a sealed score counts again.
    public mutating func recordReversal(decisionID: String, reason: String, now: Date) throws -> [ScoringEvent] {
        guard var d = disqualifications[decisionID] else {
            throw ScoringError.notFound("decision \(decisionID) is not a disqualification scoring knows")
        }
        if d.reversal != nil { return [] }
        guard Check.isText(reason, max: 1000) else {
            throw ScoringError.invalid("reversal of decision \(decisionID): the reason is blank, longer than 1000 characters or has control characters")
        }
        d.reversal = Reversal(reason: reason, at: now)
        disqualifications[decisionID] = d
        let n = d.fact.examNumber
        let stillOut = activeDisqualifications()[n] != nil
        let restored = stillOut ? nil : candidates[n]?.seal?.score
        var events: [ScoringEvent] = [.reinstated(decisionID: decisionID, examNumber: n, restoredInterviewScore: restored)]
        if let e = republishIfChanged(reason: "\(d.label) reversed: \(reason)", by: "discipline", now: now) {
            events.append(e)
        }
        return events
    }

    // MARK: Publication versions

    mutating func addPublication(reason: String?, by: String, now: Date) -> ScoringEvent {
        let version = (publications.keys.max() ?? 0) + 1
        let lists = computeLists(seed: drawSeed)
        publications[version] = Publication(version: version, exam: plan?.exam ?? "", publishedAt: now, by: by,
                                            reason: reason, drawSeed: drawSeed ?? 0, lists: lists,
                                            recordingsWarning: recordingsWarning())
        return .listsPublished(version: version, at: now, by: by, reason: reason, draws: lists.draws)
    }

    // MARK: Recordings (R38)

    /// recordings' completeness check of a formal interview: `incomplete`
    /// names its incomplete recordings ("main (gap 5.1 s, signal lost)"),
    /// empty when both are whole. A candidate roster has not announced is
    /// ignored; a repeat changes nothing.
    public mutating func recordRecordingsCheck(examNumber: String, incomplete: [String], now: Date) -> [ScoringEvent] {
        guard var c = candidates[examNumber], c.recordingsIncomplete != incomplete else { return [] }
        c.recordingsIncomplete = incomplete
        candidates[examNumber] = c
        return [.recordingsChecked(examNumber: examNumber, incomplete: incomplete)]
    }

    /// The warning publication carries while formal interviews' recordings
    /// are incomplete (R38): "2 recordings incomplete: 2022110001 main (...),
    /// ..."; nil when none is. It never refuses a publication: the chief
    /// examiner weighs the evidence (discipline), the lists stand.
    /// At most `shown` are named (a day of ten thousand must not put
    /// twenty thousand names in one event); Recordings/Completeness lists all.
    public func recordingsWarning(shown: Int = 20) -> String? {
        let list = candidates.keys.sorted().flatMap { e in (candidates[e]?.recordingsIncomplete ?? []).map { "\(e) \($0)" } }
        guard !list.isEmpty else { return nil }
        let more = list.count > shown ? ", and \(list.count - shown) more (exam.v1.Recordings/Completeness lists them all)" : ""
        return "\(list.count) recording\(list.count == 1 ? "" : "s") incomplete: " + list.prefix(shown).joined(separator: ", ") + more
    }

    /// After publication, a change from outside (discipline, a late seal)
    /// republishes only when the public lists differ.
    mutating func republishIfChanged(reason: String, by: String, now: Date) -> ScoringEvent? {
        guard let latest = latestPublication, computeLists(seed: drawSeed) != latest.lists else { return nil }
        return addPublication(reason: reason, by: by, now: now)
    }
}
