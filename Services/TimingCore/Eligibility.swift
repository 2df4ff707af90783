import ExamPlan
import Foundation

// Eligibility is learned from other services' events (R11): roster's
// confirmation status, discipline's disqualifications and reversals,
// devices' fitness verdicts. Timing never reads their stores.
//
// Replays are harmless: each input sets a value (it does not toggle or
// count), so applying the same event twice changes nothing the second time;
// and when the event carries its publisher's sequence number (`sourceSeq`),
// an event not newer than the one last applied for the same thing is
// ignored, so a replay that arrives after a later event cannot undo it.

extension TimingState {
    /// Roster's status of a candidate (R3, R5, R6).
    public mutating func applyRoster(examNumber: String, status: RosterStatus, sourceSeq: UInt64? = nil,
                                     now: Date) throws -> [TimingEvent] {
        try transact { s in
            let c = try s.candidate(examNumber)
            if let seq = sourceSeq, let last = c.rosterSeq, seq <= last { return [] }
            let before = s.entryBlockers(c)
            var updated = c
            updated.roster = status
            updated.rosterSeq = sourceSeq ?? c.rosterSeq
            if status != c.roster { updated.rosterUpdatedAt = now }
            s.candidates[examNumber] = updated
            return s.eligibilityEvent(before: before, after: updated, now: now)
        }
    }

    /// Discipline disqualified the candidate on `incidentID` (R13, R42).
    public mutating func applyDisqualification(examNumber: String, incidentID: String, ground: Int? = nil,
                                               sourceSeq: UInt64? = nil, now: Date) throws -> [TimingEvent] {
        try setDisqualification(examNumber: examNumber, incidentID: incidentID, ground: ground, active: true,
                                sourceSeq: sourceSeq, now: now)
    }

    /// Discipline reversed its disqualification on `incidentID`
    /// (reinstatement). Reversing an incident timing never heard of is
    /// recorded too, so a late replay of the disqualification stays undone.
    public mutating func applyReinstatement(examNumber: String, incidentID: String, sourceSeq: UInt64? = nil,
                                            now: Date) throws -> [TimingEvent] {
        try setDisqualification(examNumber: examNumber, incidentID: incidentID, ground: nil, active: false,
                                sourceSeq: sourceSeq, now: now)
    }

    /// Devices' verdict on a candidate's phone (R32): `fit` false blocks
    /// entry on that channel (nil = both) with `reasons` in the refusal.
    /// Devices decides which broken rules block; a phone already in a room
    /// is not moved out, but a re-entry is refused while it is unfit.
    public mutating func applyDeviceFitness(examNumber: String, channel: EntryChannel? = nil, fit: Bool,
                                            reasons: [String], sourceSeq: UInt64? = nil,
                                            now: Date) throws -> [TimingEvent] {
        try transact { s in
            var c = try s.candidate(examNumber)
            let before = s.entryBlockers(c)
            var changed = false
            for ch in channel.map({ [$0] }) ?? EntryChannel.allCases {
                let old = c.device(ch)
                if let seq = sourceSeq, let last = old?.seq, seq <= last { continue }
                let reasonsKept = fit ? [] : reasons
                if let old, old.fit == fit, old.reasons == reasonsKept, old.seq == (sourceSeq ?? old.seq) { continue }
                c.setDevice(ch, DeviceFitness(fit: fit, reasons: reasonsKept, seq: sourceSeq ?? old?.seq, updatedAt: now))
                changed = true
            }
            guard changed else { return [] }
            s.candidates[examNumber] = c
            return s.eligibilityEvent(before: before, after: c, now: now)
        }
    }

    private mutating func setDisqualification(examNumber: String, incidentID: String, ground: Int?, active: Bool,
                                              sourceSeq: UInt64?, now: Date) throws -> [TimingEvent] {
        try transact { s in
            var c = try s.candidate(examNumber)
            let incident = incidentID.trimmingCharacters(in: .whitespaces)
            guard !incident.isEmpty else { throw TimingError.invalid("incidentID: empty") }
            if let g = ground, !(1...10).contains(g) {
                throw TimingError.invalid("ground: \(g) is not one of the notice's grounds 1-10 (section 7, R40)")
            }
            let old = c.disqualifications[incident]
            if let seq = sourceSeq, let last = old?.seq, seq <= last { return [] }
            if let old, old.active == active, old.ground == (ground ?? old.ground), old.seq == (sourceSeq ?? old.seq) {
                return []
            }
            let before = s.entryBlockers(c)
            c.disqualifications[incident] = Disqualification(incidentID: incident, ground: ground ?? old?.ground,
                                                             active: active, seq: sourceSeq ?? old?.seq, updatedAt: now)
            s.candidates[examNumber] = c
            return s.eligibilityEvent(before: before, after: c, now: now)
        }
    }

    private func eligibilityEvent(before: [String], after c: CandidateRecord, now: Date) -> [TimingEvent] {
        let blockers = entryBlockers(c)
        guard blockers != before else { return [] }
        return [.eligibilityChanged(examNumber: c.examNumber, roomID: c.roomID, canEnter: blockers.isEmpty,
                                    blockers: blockers, at: now)]
    }

    /// Why the candidate may not enter any room now (R6, R11, R42); empty =
    /// may enter. Device fitness is per channel: see `deviceBlockers`.
    func entryBlockers(_ c: CandidateRecord) -> [String] {
        var out: [String] = []
        switch c.roster {
        case .confirmed: break
        case .pending:
            out.append("has not confirmed attendance (roster: pending)")
        case .declined:
            out.append("declined the interview (roster: declined); declined candidates cannot enter rooms (R6)")
        case .forfeited:
            out.append("forfeited the interview (roster: forfeited); forfeited candidates cannot enter rooms (R5, R6)")
        }
        let active = c.disqualifications.values.filter(\.active).sorted { $0.incidentID < $1.incidentID }
        if !active.isEmpty {
            let list = active.map { d in d.ground.map { "\(d.incidentID), ground \($0)" } ?? d.incidentID }
            out.append("is disqualified (incident \(list.joined(separator: "; ")), R42)")
        }
        return out
    }

    func deviceBlockers(_ c: CandidateRecord, _ channel: EntryChannel) -> [String] {
        guard let d = c.device(channel), !d.fit else { return [] }
        return d.reasons.isEmpty ? ["fails a device rule (R32)"] : d.reasons
    }
}

// MARK: - Shared look-ups and checks

extension TimingState {
    func candidate(_ examNumber: String) throws -> CandidateRecord {
        guard !examNumber.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw TimingError.invalid("examNumber: empty")
        }
        guard let c = candidates[examNumber] else {
            throw TimingError.notFound("candidate \(examNumber) is not in the exam plan")
        }
        return c
    }

    func sittingRecord(_ sitting: Sitting, _ examNumber: String) throws -> CandidateSitting {
        _ = try candidate(examNumber)
        guard let cs = candidateSittings[Self.key(sitting, examNumber)] else {
            throw TimingError.notFound("candidate \(examNumber) has no \(sitting.rawValue) record")
        }
        return cs
    }

    func planRoom(_ roomID: String) throws -> ExamRoom {
        guard !roomID.trimmingCharacters(in: .whitespaces).isEmpty else { throw TimingError.invalid("roomID: empty") }
        guard let i = roomIndex[roomID] else { throw TimingError.notFound("room \(roomID) is not in the exam plan") }
        return plan.rooms[i]
    }

    func roomSitting(_ sitting: Sitting, _ roomID: String) throws -> RoomSitting {
        _ = try planRoom(roomID)
        guard let r = rooms[Self.key(sitting, roomID)] else {
            throw TimingError.notFound("room \(roomID) has no \(sitting.rawValue) record")
        }
        return r
    }

    func entryState(_ sitting: Sitting) -> EntryWindowState {
        entries[sitting.rawValue] ?? EntryWindowState(sitting: sitting)
    }

    /// Staff acting on a room: its proctors (考务人员) and its panel.
    func requireStaff(_ proctor: String, of room: ExamRoom) throws {
        let p = proctor.trimmingCharacters(in: .whitespaces)
        guard !p.isEmpty else { throw TimingError.invalid("proctor: empty") }
        guard room.proctors.contains(p) || room.panel.contains(where: { $0.id == p }) else {
            let staff = room.proctors.isEmpty ? "none" : room.proctors.joined(separator: ", ")
            throw TimingError.denied("\(p) is not staff of room \(room.id) (proctors: \(staff); panel: \(room.panel.map(\.id).joined(separator: ", ")))")
        }
    }

    /// Operations refuse to act on a state whose timers are overdue: the
    /// shell must `tick(now:seed:)` first, so that events come out in time
    /// order and no decision is taken on a stale phase.
    func requireCaughtUp(_ now: Date) throws {
        if let d = nextDeadline(), d <= now {
            throw TimingError.precondition("timing has a transition due at \(BeijingTime.iso(d)) that has not fired: call tick(now:seed:) first")
        }
    }

    /// The interview of `examNumber` to act on: in `sitting`, or the running
    /// one, or the latest one (for a precise "it ended at" refusal).
    func interviewTarget(_ examNumber: String, _ sitting: Sitting?) throws -> CandidateSitting {
        _ = try candidate(examNumber)
        let options = (sitting.map { [$0] } ?? [.formal, .mock]).compactMap { candidateSittings[Self.key($0, examNumber)] }
        if let running = options.first(where: { $0.interview?.isRunning == true }) { return running }
        if let done = options.filter({ $0.interview != nil }).max(by: { $0.interview!.startedAt < $1.interview!.startedAt }) {
            return done
        }
        let which = sitting.map { " in the \($0.rawValue) sitting" } ?? ""
        throw TimingError.precondition("candidate \(examNumber) has no interview\(which): staff have not started it")
    }

    /// The interview of `cs` while it runs: what the candidate or staff do to
    /// it is refused once its countdown has ended (R16, R18).
    func runningInterview(_ cs: CandidateSitting, _ examNumber: String) throws -> InterviewRecord {
        let iv = cs.interview!
        if let ended = iv.endedAt {
            throw TimingError.range("the \(cs.sitting.title) of \(examNumber) ended at \(BeijingTime.short(ended))")
        }
        return iv
    }
}

extension Sitting {
    /// "mock test", "formal interview", for messages.
    var title: String { self == .mock ? "mock test" : "formal interview" }
}
