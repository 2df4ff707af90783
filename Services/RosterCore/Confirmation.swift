import Foundation
import ExamPlan

/// What the client read off the ID card (its own OCR), if it sends that: the
/// core then checks name and ID number against the roster (R4); without it
/// those checks are left to the backend or the reviewer.
public struct CardReading: Sendable, Equatable, Codable {
    public var name: String
    public var idNumber: String
    public init(name: String, idNumber: String) {
        self.name = name
        self.idNumber = idNumber
    }
}

extension RosterState {
    // MARK: - Plan (R3)

    /// Takes the exam plan from timing's `timing.plan.published` event; the
    /// confirmation window comes from it (R3). The same plan again changes
    /// nothing. Once the window's end was processed (R5) the forfeits are
    /// final (R6): a later plan moving the window does not reopen it.
    public mutating func setPlan(_ plan: ExamPlan, now: Date) throws(RosterError) -> [RosterEvent] {
        guard plan.confirmation.closes > plan.confirmation.opens else {
            throw .invalid("plan \(plan.exam): the confirmation window \(plan.confirmation.text) closes before it opens")
        }
        guard plan != meta.plan else { return [] }
        meta.plan = plan
        meta.planAppliedAt = now
        return [.planApplied(exam: plan.exam, confirmation: plan.confirmation, at: now)]
    }

    /// The confirmation window if `now` is inside it, else why not.
    func openWindow(_ now: Date) throws(RosterError) -> TimeWindow {
        guard let plan = meta.plan else {
            throw .precondition("no exam plan yet: the confirmation window is not known (R3)")
        }
        let w = plan.confirmation
        if let closure = meta.closure {
            throw .precondition("confirmation closed at \(Check.beijing(closure.window.closes)) (R3, R5)")
        }
        guard w.hasOpened(at: now) else {
            throw .precondition("confirmation opens at \(Check.beijing(w.opens)); it is \(Check.beijing(now)) (R3)")
        }
        guard !w.hasClosed(at: now) else {
            throw .precondition("confirmation closed at \(Check.beijing(w.closes)); \(BeijingTime.iso(now)) is late (R3, R5)")
        }
        return w
    }

    /// True while an identity rejection still sends the candidate back to
    /// upload (the window has not ended).
    func windowStillOpen(_ now: Date) -> Bool {
        guard let plan = meta.plan, meta.closure == nil else { return false }
        return plan.confirmation.contains(now)
    }

    /// The logged-in candidate, refused if declined or forfeited (R6).
    func activeCandidate(_ tokenDigest: String, now: Date, doing what: String) throws(RosterError) -> Candidate {
        let c = try candidate(try authenticate(tokenDigest: tokenDigest, now: now))
        switch c.status {
        case .declined: throw .precondition("candidate \(c.examNumber) declined at \(Check.beijing(c.declinedAt ?? c.statusChangedAt)) and cannot \(what) (R3, R6)")
        case .forfeited: throw .precondition("candidate \(c.examNumber) forfeited at \(Check.beijing(c.forfeitedAt ?? c.statusChangedAt)) (\(c.forfeitReason?.rawValue ?? "")) and cannot \(what) (R5, R6)")
        default: return c
        }
    }

    // MARK: - Photo (R3, R4)

    /// Step 1 of confirming (R3): the logged-in candidate uploads the colour
    /// photo of the ID card's portrait side. Every automatic check of R4 runs
    /// here (`PhotoInspector`, then not byte-identical to another candidate's
    /// photo, then the card reading if given); a photo failing any is refused
    /// and nothing is stored, so the shell stores the bytes only after this
    /// returns. A new upload before confirming replaces the previous photo
    /// (and its place in the review queue). After confirming the photo is
    /// fixed; a rejection sends the candidate back here (while the window is
    /// open). The exact bytes of a rejected photo are refused again.
    ///
    /// `sha256`: lower-case hex SHA-256 of `photo`, computed by the shell.
    public mutating func uploadPhoto(tokenDigest: String, photo: Data, fileName: String, sha256: String,
                                     card: CardReading? = nil, now: Date) throws(RosterError) -> [RosterEvent] {
        var c = try activeCandidate(tokenDigest, now: now, doing: "upload a photo")
        guard c.status != .confirmed else {
            throw .precondition("candidate \(c.examNumber) already confirmed at \(Check.beijing(c.confirmedAt ?? c.statusChangedAt)); the photo cannot change now")
        }
        _ = try openWindow(now)
        guard Check.isHex(sha256, length: 64) else { throw .invalid("sha256 must be 64 lower-case hex characters") }
        let name = String(fileName.prefix(255))
        let inspected = try PhotoInspector(limits: config.photo).inspect(photo, fileName: name)
        if let owner = byPhoto[sha256], owner != c.examNumber {
            throw RosterError(.alreadyExists, "the photo is byte-identical to another candidate's photo (R4): photograph your own ID card")
        }
        if let id = c.identity, id.isRejected, id.photo.sha256 == sha256 {
            throw .invalid("this photo was rejected (\(id.decision?.reason ?? "no reason given")): take a new one (R4)")
        }
        var passed = inspected.checksPassed + [.notDuplicate]
        var open: [IdentityCheck] = []
        if let card {
            let cardName = card.name.trimmingCharacters(in: .whitespacesAndNewlines)
            guard cardName == c.name else {
                throw .invalid("the name on the card ('\(cardName)') is not the roster's name for \(c.examNumber) (R4)")
            }
            let cardID = card.idNumber.trimmingCharacters(in: .whitespaces).uppercased()
            guard cardID == c.idNumber else {
                throw .invalid("the ID number on the card (\(ResidentID.mask(cardID))) is not the roster's (\(c.maskedIDNumber)) (R4)")
            }
            passed += [.cardNameMatchesRoster, .cardIDMatchesRoster]
        } else {
            open += [.cardNameMatchesRoster, .cardIDMatchesRoster]
        }
        open.append(.faceMatchesCard)

        let facts = PhotoFacts(format: inspected.format, width: inspected.width, height: inspected.height,
                               byteCount: photo.count, sha256: sha256, fileName: name, fileNameAgrees: inspected.fileNameAgrees)
        if let old = c.identity, old.isRejected { c.lastRejection = old.decision }
        c.identity = IdentityRecord(photo: facts, uploadedAt: now, checksPassed: passed, checksOpen: open, decision: nil)
        c.status = .photoUploaded
        c.statusChangedAt = now
        store(c, at: c.examNumber)
        return [.photoUploaded(examNumber: c.examNumber, postCode: c.postCode, photo: facts,
                               checksPassed: passed, checksOpen: open, at: now)]
    }

    // MARK: - Confirm / decline (R3)

    /// Step 2 (R3): the second, explicit confirmation, inside the window
    /// (09:00:00.000 included, 16:00:00.000 late), after a photo that passed
    /// the automatic checks. The identity may still await review: a later
    /// rejection withdraws the confirmation (see `reviewPhoto`).
    public mutating func confirm(tokenDigest: String, now: Date) throws(RosterError) -> [RosterEvent] {
        var c = try activeCandidate(tokenDigest, now: now, doing: "confirm")
        _ = try openWindow(now)
        switch c.status {
        case .confirmed:
            throw .precondition("candidate \(c.examNumber) already confirmed at \(Check.beijing(c.confirmedAt ?? c.statusChangedAt))")
        case .imported:
            if let d = c.identity?.decision, !d.approved {
                throw .precondition("the ID card photo was rejected (\(d.reason ?? "no reason given")): upload a new one first (R4)")
            }
            throw .precondition("upload the colour photo of the ID card's portrait side first, then confirm (R3)")
        default: break
        }
        guard let identity = c.identity, !identity.isRejected else {
            throw .precondition("upload the colour photo of the ID card's portrait side first, then confirm (R3)")
        }
        c.status = .confirmed
        c.statusChangedAt = now
        c.confirmedAt = now
        store(c, at: c.examNumber)
        return [.confirmed(examNumber: c.examNumber, postCode: c.postCode, identity: identity.stage, at: now)]
    }

    /// R3: declining gives up the post, for good (R6). Allowed inside the
    /// window, also after confirming (the candidate may still change their
    /// mind while the window is open).
    public mutating func decline(tokenDigest: String, reason: String? = nil, now: Date) throws(RosterError) -> [RosterEvent] {
        var c = try activeCandidate(tokenDigest, now: now, doing: "decline")
        _ = try openWindow(now)
        let why = try reason.flatMap { r throws(RosterError) in try Check.text(r, "the reason", max: 500, required: false) }
        c.status = .declined
        c.statusChangedAt = now
        c.declinedAt = now
        c.declineReason = why
        store(c, at: c.examNumber)
        return [.declined(examNumber: c.examNumber, postCode: c.postCode, reason: why, at: now)]
    }

    // MARK: - Identity decisions (R4)

    /// A proctor clears a photo from the review queue. Rejecting needs a
    /// reason. What a rejection does:
    /// - while the window is open: the candidate is back to `imported` (a
    ///   confirmation is withdrawn) and must upload a new photo and confirm
    ///   again; the rejected bytes are refused;
    /// - after the window: a confirmed candidate is forfeited with reason
    ///   `identityRejected` (there is no time left to upload again).
    /// An unconfirmed candidate's photo cannot be decided after the window:
    /// they forfeit at its end anyway (R5).
    /// `photoSHA256`, if given, must be the photo the reviewer looked at (the
    /// candidate may have uploaded a new one meanwhile).
    public mutating func reviewPhoto(examNumber: String, approve: Bool, reason: String?, reviewer: String,
                                     photoSHA256: String? = nil, now: Date) throws(RosterError) -> [RosterEvent] {
        guard let who = try Check.text(reviewer, "the reviewer", max: 64, required: true) else { return [] }
        let why = try reason.flatMap { r throws(RosterError) in try Check.text(r, "the reason", max: 500, required: false) }
        if !approve && why == nil { throw .invalid("rejecting a photo needs a reason (R4)") }
        return try decide(examNumber: examNumber, approved: approve, decider: .reviewer(id: who), score: nil,
                          reason: why, photoSHA256: photoSHA256, now: now)
    }

    /// A face/ID comparison backend answered over the bus (R4) for the photo
    /// `photoSHA256`. A match approves, a mismatch rejects, with the same
    /// consequences as a reviewer's decision. A photo a reviewer already
    /// decided is not decided again (failedPrecondition).
    public mutating func recordFaceComparison(examNumber: String, photoSHA256: String, backend: String, match: Bool,
                                              score: Points?, reason: String?, now: Date) throws(RosterError) -> [RosterEvent] {
        guard let who = try Check.text(backend, "the backend", max: 64, required: true) else { return [] }
        var why = try reason.flatMap { r throws(RosterError) in try Check.text(r, "the reason", max: 500, required: false) }
        if !match && why == nil {
            why = score.map { "the face does not match the ID card (score \($0))" } ?? "the face does not match the ID card"
        }
        return try decide(examNumber: examNumber, approved: match, decider: .backend(name: who), score: score,
                          reason: why, photoSHA256: photoSHA256, now: now)
    }

    mutating func decide(examNumber: String, approved: Bool, decider: IdentityDecider, score: Points?,
                         reason: String?, photoSHA256: String?, now: Date) throws(RosterError) -> [RosterEvent] {
        var c = try candidate(examNumber)
        guard let identity = c.identity else { throw .precondition("candidate \(examNumber) has no photo to decide on") }
        if let d = identity.decision {
            throw .precondition("the photo of \(examNumber) was already \(d.approved ? "approved" : "rejected") by \(Self.describe(d.decider)) at \(Check.beijing(d.at))")
        }
        if let digest = photoSHA256, digest != identity.photo.sha256 {
            throw .precondition("candidate \(examNumber) uploaded another photo at \(Check.beijing(identity.uploadedAt)); decide on that one")
        }
        switch c.status {
        case .declined, .forfeited:
            throw .precondition("candidate \(examNumber) is \(c.status.rawValue): nothing to decide (R6)")
        case .imported:
            throw .precondition("candidate \(examNumber) has no photo waiting")
        case .photoUploaded where !windowStillOpen(now):
            throw .precondition("candidate \(examNumber) did not confirm before the window closed: forfeited at its end (R5)")
        default: break
        }
        let decision = IdentityDecision(approved: approved, decider: decider, score: score, reason: reason, at: now,
                                        photoSHA256: identity.photo.sha256)
        c.identity?.decision = decision
        let before = c.status
        if approved {
            c.identity?.checksOpen.removeAll()
            c.identity?.checksPassed.append(contentsOf: identity.checksOpen)
            store(c, at: examNumber)
            return [.identityApproved(examNumber: examNumber, postCode: c.postCode, decision: decision, status: c.status)]
        }
        var events: [RosterEvent] = []
        if windowStillOpen(now) {
            c.status = .imported
            c.statusChangedAt = now
            c.confirmedAt = nil
            events.append(.identityRejected(examNumber: examNumber, postCode: c.postCode, decision: decision,
                                            statusBefore: before, statusAfter: .imported))
        } else {
            c.status = .forfeited
            c.statusChangedAt = now
            c.forfeitedAt = now
            c.forfeitReason = .identityRejected
            let detail = "identity rejected by \(Self.describe(decider)): \(reason ?? "")"
            events.append(.identityRejected(examNumber: examNumber, postCode: c.postCode, decision: decision,
                                            statusBefore: before, statusAfter: .forfeited))
            events.append(.forfeited(examNumber: examNumber, postCode: c.postCode, reason: .identityRejected,
                                     detail: detail, at: now, recordedAt: now))
        }
        store(c, at: examNumber)
        return events
    }

    static func describe(_ d: IdentityDecider) -> String {
        switch d {
        case .backend(let b): return "backend \(b)"
        case .reviewer(let r): return "reviewer \(r)"
        }
    }

    // MARK: - The window's end (R5)

    /// When the core next needs the clock: the end of the confirmation
    /// window, until it has been processed. nil: nothing pending.
    public func nextDeadline() -> Date? {
        guard let plan = meta.plan, meta.closure == nil else { return nil }
        return plan.confirmation.closes
    }

    /// Fires what is due at `now`, exactly once, also when called late (the
    /// service was down at the deadline: the first tick on start catches up).
    /// R5: at the window's end everyone imported or with a photo but not
    /// confirmed is forfeited (`at` = the window's end, `recordedAt` = now),
    /// then `confirmationClosed` (meta) records that it ran.
    public mutating func tick(now: Date) -> [RosterEvent] {
        guard let deadline = nextDeadline(), now >= deadline, let plan = meta.plan else { return [] }
        var events: [RosterEvent] = []
        var confirmed = 0, declined = 0
        for exam in candidates.keys.sorted() {
            var c = candidates[exam]!
            switch c.status {
            case .confirmed: confirmed += 1
            case .declined: declined += 1
            case .forfeited: break
            case .imported, .photoUploaded:
                c.status = .forfeited
                c.statusChangedAt = deadline
                c.forfeitedAt = deadline
                c.forfeitReason = .confirmationWindowClosed
                store(c, at: exam)
                events.append(.forfeited(examNumber: exam, postCode: c.postCode, reason: .confirmationWindowClosed,
                                         detail: "not confirmed by the end of the confirmation window \(plan.confirmation.text) (R5)",
                                         at: deadline, recordedAt: now))
            }
        }
        meta.closure = ConfirmationClosure(window: plan.confirmation, recordedAt: now, forfeited: events.count)
        events.append(.confirmationClosed(window: plan.confirmation, forfeited: events.count, confirmed: confirmed,
                                          declined: declined, recordedAt: now))
        return events
    }
}
