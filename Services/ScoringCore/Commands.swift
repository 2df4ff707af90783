import ExamPlan
import Foundation

extension ScoringState {
    // MARK: Shared checks

    /// The room the plan puts the candidate in (R11).
    func room(of c: ScoringCandidate) throws -> ExamRoom {
        guard let plan else {
            throw ScoringError.precondition("no exam plan from timing yet: the rooms and panels are unknown")
        }
        guard let room = plan.room(of: c.examNumber) else {
            throw ScoringError.precondition("candidate \(c.examNumber) is in no room of the exam plan")
        }
        return room
    }

    /// R50: only examiners of the candidate's room panel score them.
    func panelRoom(_ c: ScoringCandidate, examinerID: String) throws -> ExamRoom {
        let room = try room(of: c)
        guard room.panel.contains(where: { $0.id == examinerID }) else {
            throw ScoringError.denied("examiner \(examinerID) is not on the panel of room \(room.id) (\(room.panel.map(\.id).joined(separator: ", "))), where candidate \(c.examNumber) is interviewed (R50)")
        }
        return room
    }

    /// R50, R52: only a candidate interviewed in the formal sitting, not
    /// declined, forfeited, absent or disqualified, has panel scores.
    func requireScorable(_ c: ScoringCandidate) throws {
        let n = c.examNumber
        switch c.status {
        case .declined: throw ScoringError.precondition("candidate \(n) declined the interview (R3): no scores (R52)")
        case .forfeited: throw ScoringError.precondition("candidate \(n) forfeited by not confirming in time (R5): no scores (R52)")
        case .pending, .confirmed: break
        }
        if let d = activeDisqualifications()[n]?.first {
            let what = d.fact.effect == .cancelledQualification ? "the interview qualification is cancelled" : "the interview score is void"
            throw ScoringError.precondition("candidate \(n) is disqualified by \(d.label): \(what) (R42, R52)")
        }
        switch c.attendance {
        case .absent(let t):
            throw ScoringError.precondition("candidate \(n) was absent from the formal interview (recorded \(BeijingTime.short(t))) and forfeits it (R12): no scores (R52)")
        case nil:
            throw ScoringError.precondition("candidate \(n) has not been interviewed in the formal sitting yet (timing has not reported the interview's end)")
        case .interviewed: break
        }
    }

    /// Ops, or the room's chief examiner as the plan names them.
    func requireOpsOrChief(_ by: ScoringActor, _ room: ExamRoom, _ what: String) throws {
        if by.role == .ops { return }
        let chief = room.panel.first { $0.chief }
        if by.isExaminer, let chief, chief.id == by.id { return }
        throw ScoringError.denied("only ops or room \(room.id)'s chief examiner (\(chief?.id ?? "none")) may \(what); \(by.id) (\(by.role.rawValue)) may not")
    }

    func missingExaminers(_ c: ScoringCandidate, _ room: ExamRoom) -> [String] {
        room.panel.map(\.id).filter { c.panelScores[$0] == nil }
    }

    // MARK: Panel scores (R50)

    /// An examiner's score for an interviewed candidate: "0" to "100", at most
    /// two decimals. Before the seal the examiner may change it (the same
    /// value again is a harmless replay). The shell must have authenticated
    /// the caller as `examinerID` (or as ops entering it on their behalf).
    public mutating func submit(examNumber: String, examinerID: String, score: String, now: Date) throws -> [ScoringEvent] {
        guard let c = candidates[examNumber] else {
            throw ScoringError.notFound("candidate \(examNumber) is not on the roster scoring knows")
        }
        try Check.identifier(examinerID, "examiner id")
        let points = try Check.points(score, "score for candidate \(examNumber) by examiner \(examinerID)")
        let room = try panelRoom(c, examinerID: examinerID)
        if isPublished { throw frozen("submissions are closed; a change needs a correction with a reason") }
        if let s = c.seal {
            // A client retrying the very score it already sent is a replay.
            if c.panelScores[examinerID]?.score == points { return [] }
            throw ScoringError.precondition("the interview score of candidate \(examNumber) was sealed at \(BeijingTime.short(s.sealedAt)) (\(s.score)): examiner \(examinerID)'s score can change only by a correction with a reason (R50, R55)")
        }
        try requireScorable(c)
        return applySubmission(examNumber, room, examinerID, points, now)
    }

    /// Applies a validated submission; cannot fail.
    mutating func applySubmission(_ n: String, _ room: ExamRoom, _ examinerID: String, _ points: Points, _ now: Date) -> [ScoringEvent] {
        var c = candidates[n]!
        var events: [ScoringEvent] = []
        if let old = c.panelScores[examinerID] {
            guard old.score != points else { return [] }
            c.panelScores[examinerID] = PanelScore(examinerID: examinerID, score: points, submittedAt: now, revisions: old.revisions + 1)
            events.append(.panelScoreRevised(examNumber: n, examinerID: examinerID, from: old.score, to: points, at: now))
        } else {
            c.panelScores[examinerID] = PanelScore(examinerID: examinerID, score: points, submittedAt: now, revisions: 0)
            events.append(.panelScoreSubmitted(examNumber: n, examinerID: examinerID, score: points, at: now))
        }
        candidates[n] = c
        if config.sealWhenPanelComplete && missingExaminers(c, room).isEmpty {
            events.append(applySeal(n, room, by: "auto", now: now))
        }
        return events
    }

    // MARK: Seal (R50)

    /// Seals one candidate's interview score: the whole panel must have
    /// scored. By ops or the room's chief examiner. After publication only a
    /// candidate reinstated without a sealed score can be sealed; the lists
    /// are then republished.
    public mutating func seal(examNumber: String, by: ScoringActor, now: Date) throws -> [ScoringEvent] {
        guard let c = candidates[examNumber] else {
            throw ScoringError.notFound("candidate \(examNumber) is not on the roster scoring knows")
        }
        let room = try room(of: c)
        try requireOpsOrChief(by, room, "seal interview scores")
        if let s = c.seal {
            throw ScoringError.exists("the interview score of candidate \(examNumber) is already sealed: \(s.score), by \(s.sealedBy) at \(BeijingTime.short(s.sealedAt))")
        }
        try requireScorable(c)
        let missing = missingExaminers(c, room)
        guard missing.isEmpty else {
            throw ScoringError.precondition("candidate \(examNumber) cannot be sealed: \(missing.count) of \(room.panel.count) examiners of room \(room.id) have not scored (\(missing.joined(separator: ", ")))", missing)
        }
        var events = [applySeal(examNumber, room, by: by.id, now: now)]
        if let e = republishIfChanged(reason: "late seal of candidate \(examNumber)", by: by.id, now: now) { events.append(e) }
        return events
    }

    /// Seals every candidate of a room who is ready; all or nothing: if an
    /// interviewed candidate still lacks a score, or one is not yet
    /// interviewed (nor reported absent), nothing is sealed and each is
    /// listed. Already sealed, absent, declined, forfeited and disqualified
    /// candidates are skipped. Nothing left to seal returns no events.
    public mutating func sealRoom(_ roomID: String, by: ScoringActor, now: Date) throws -> [ScoringEvent] {
        guard let plan else {
            throw ScoringError.precondition("no exam plan from timing yet: the rooms and panels are unknown")
        }
        guard let room = plan.room(id: roomID) else { throw ScoringError.notFound("room \(roomID) is not in the exam plan") }
        try requireOpsOrChief(by, room, "seal interview scores")
        let dq = activeDisqualifications()
        var ready: [String] = []
        var problems: [String] = []
        for n in room.candidates.sorted() {
            guard let c = candidates[n], c.seal == nil, c.status != .declined, c.status != .forfeited,
                  dq[n] == nil, !c.absent else { continue }
            guard c.interviewed else {
                problems.append("\(n): not interviewed yet (timing has reported neither the interview's end nor absence)")
                continue
            }
            let missing = missingExaminers(c, room)
            guard missing.isEmpty else {
                problems.append("\(n): no score yet from \(missing.joined(separator: ", "))")
                continue
            }
            ready.append(n)
        }
        guard problems.isEmpty else {
            throw ScoringError.precondition("room \(roomID) cannot be sealed: \(problems.count) candidate(s) are not ready; nothing was sealed", problems)
        }
        var events = ready.map { applySeal($0, room, by: by.id, now: now) }
        if !ready.isEmpty, let e = republishIfChanged(reason: "late seal in room \(roomID)", by: by.id, now: now) {
            events.append(e)
        }
        return events
    }

    /// Computes and stores the seal; the panel must be complete.
    mutating func applySeal(_ n: String, _ room: ExamRoom, by: String, now: Date) -> ScoringEvent {
        var c = candidates[n]!
        let panel = room.panel.map(\.id)
        let mean = config.interviewScore(panel.map { c.panelScores[$0]!.score })
        c.seal = InterviewSeal(score: mean.score, droppedLow: mean.droppedLow, droppedHigh: mean.droppedHigh, panel: panel,
                               sealedAt: now, sealedBy: by, recomputedAt: nil)
        candidates[n] = c
        return .interviewScoreSealed(examNumber: n, roomID: room.id, interviewScore: mean.score,
                                     totalScore: config.total(written: c.writtenScore, interview: mean.score), by: by, at: now)
    }

    // MARK: Corrections (R55)

    /// A logged correction of one examiner's score, with a reason: by ops or
    /// the room's chief examiner, at any time (the way to change a sealed
    /// score, and after publication the only way to change any score). A
    /// sealed interview score is recomputed; after publication the lists are
    /// republished as a new version, every time.
    public mutating func correct(examNumber: String, examinerID: String, score: String, reason: String, by: ScoringActor,
                                 now: Date) throws -> [ScoringEvent] {
        guard let c = candidates[examNumber] else {
            throw ScoringError.notFound("candidate \(examNumber) is not on the roster scoring knows")
        }
        guard Check.isText(reason, max: 500) else {
            throw ScoringError.invalid("a correction of candidate \(examNumber)'s score by examiner \(examinerID) needs a reason (R55): not blank, at most 500 characters, no control characters")
        }
        try Check.identifier(examinerID, "examiner id")
        let points = try Check.points(score, "corrected score for candidate \(examNumber) by examiner \(examinerID)")
        let room = try panelRoom(c, examinerID: examinerID)
        try requireOpsOrChief(by, room, "correct scores")
        try requireScorable(c)
        let old = c.panelScores[examinerID]
        if let old, old.score == points {
            throw ScoringError.invalid("examiner \(examinerID)'s score for candidate \(examNumber) is already \(points): nothing to correct")
        }

        var updated = c
        updated.panelScores[examinerID] = PanelScore(examinerID: examinerID, score: points, submittedAt: now,
                                                     revisions: (old?.revisions ?? -1) + 1)
        var events: [ScoringEvent] = []
        let id = (corrections.keys.max() ?? 0) + 1
        events.append(.panelScoreCorrected(correctionID: id, examNumber: examNumber, examinerID: examinerID, from: old?.score,
                                           to: points, reason: reason, by: by.id, at: now))
        let before = c.seal?.score
        if var s = updated.seal {
            // The seal averages the panel it was sealed with (plan changes for
            // scored candidates are refused, so every score is there).
            let mean = config.interviewScore(s.panel.map { updated.panelScores[$0]!.score })
            s.score = mean.score
            s.droppedLow = mean.droppedLow
            s.droppedHigh = mean.droppedHigh
            s.recomputedAt = now
            updated.seal = s
            if mean.score != before {
                events.append(.interviewScoreRecomputed(examNumber: examNumber, from: before!, to: mean.score, at: now))
            }
        }
        candidates[examNumber] = updated
        var version: Int?
        if isPublished {
            events.append(addPublication(reason: "correction \(id) of candidate \(examNumber): \(reason)", by: by.id, now: now))
            version = latestPublication!.version
        }
        corrections[id] = CorrectionRecord(id: id, examNumber: examNumber, examinerID: examinerID, from: old?.score, to: points,
                                           reason: reason, by: by.id, at: now, interviewBefore: before,
                                           interviewAfter: updated.seal?.score, publicationVersion: version)
        return events
    }

    // MARK: Publication (R55)

    /// The first publication (notice: 21 Nov): by ops; refused while any
    /// candidate who should have an interview score lacks a sealed one (each
    /// listed, see `missingBeforePublication`). Records `drawSeed`, which
    /// decides every tie left after the other rules, now and in later
    /// versions (R53). The shell should take the seed from a CSPRNG at this
    /// moment, not before: it is published with the draws.
    public mutating func publish(by: ScoringActor, drawSeed seed: UInt64, now: Date) throws -> [ScoringEvent] {
        guard by.role == .ops else {
            throw ScoringError.denied("only ops may publish the scores; \(by.id) (\(by.role.rawValue)) may not")
        }
        if let p = latestPublication {
            throw ScoringError.exists("scores are already published (version \(p.version), \(BeijingTime.short(p.publishedAt))); corrections republish by themselves")
        }
        guard !candidates.isEmpty else { throw ScoringError.precondition("nothing to publish: roster has announced no candidates") }
        let missing = missingBeforePublication()
        guard missing.isEmpty else {
            throw ScoringError.precondition("\(missing.count) candidate(s) lack a sealed interview score; nothing was published (R55)",
                                            missing.map(\.description))
        }
        drawSeed = seed
        return [addPublication(reason: nil, by: by.id, now: now)]
    }

    // MARK: Configuration

    /// Changes the configuration before publication (by ops). Changing how
    /// scores are trimmed is refused once any interview score is sealed.
    public mutating func reconfigure(_ new: ScoringConfig, by: ScoringActor, now: Date) throws -> [ScoringEvent] {
        guard by.role == .ops else {
            throw ScoringError.denied("only ops may change the scoring configuration; \(by.id) (\(by.role.rawValue)) may not")
        }
        let problems = new.problems()
        guard problems.isEmpty else { throw ScoringError.invalid("the scoring configuration is invalid", problems) }
        guard new != config else { return [] }
        if isPublished { throw frozen("the configuration cannot change") }
        let sealed = candidates.values.filter { $0.seal != nil }.map(\.examNumber).sorted()
        if (new.trimEachEnd != config.trimEachEnd || new.trimFromPanelSize != config.trimFromPanelSize) && !sealed.isEmpty {
            throw ScoringError.precondition("the trimming rule cannot change: \(sealed.count) interview score(s) are already sealed with the current one", sealed)
        }
        config = new
        return [.configChanged(by: by.id, at: now)]
    }
}
