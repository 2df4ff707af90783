import ExamPlan
import Foundation

// Interviews (R14-R18), one at a time per room, in the drawn order (R20).
//
// Staff read the introduction (not timed), then announce "start, read the
// question" (startInterview): the total countdown (reading + answering from
// the plan, 5 + 5 minutes) starts and never pauses (R15). The candidate
// reveals the question on the main phone. At the reading end the phase
// turns to answering, by itself (plan: automatic, done by tick) or when
// staff announce it (plan: staff; allowed from the reading end on; however
// late, the total still ends on time). At the total's end the interview ends
// by itself (R16, tick); with time left the candidate may end it while
// answering (R17).
//
// The order: staff may not pass over an earlier candidate of the drawn order
// who is ready (eligible, in the main room, screening passed); one who is not
// ready (dropped, unscreened, disqualified) may be passed over and called
// later.

extension TimingState {
    public mutating func startInterview(roomID: String, sitting: Sitting, examNumber: String, proctor: String,
                                        now: Date) throws -> [TimingEvent] {
        try transact { s in
            let planRoom = try s.planRoom(roomID)
            try s.requireStaff(proctor, of: planRoom)
            let c = try s.candidate(examNumber)
            let cs = try s.sittingRecord(sitting, examNumber)
            let what = "cannot start the \(sitting.title) of \(examNumber) in room \(roomID)"
            guard cs.roomID == roomID else {
                throw TimingError.invalid("\(what): the candidate belongs to room \(cs.roomID)")
            }
            try s.requireCaughtUp(now)
            let room = try s.roomSitting(sitting, roomID)
            if let ended = room.endedAt {
                throw TimingError.precondition("\(what): the room was ended at \(BeijingTime.short(ended))")
            }
            if let iv = cs.interview {
                let state = iv.endedAt.map { "ended at \(BeijingTime.short($0))" } ?? "running since \(BeijingTime.short(iv.startedAt))"
                throw TimingError.exists("\(what): the interview was started at \(BeijingTime.short(iv.startedAt)) and is \(state); each candidate is interviewed once")
            }
            guard let draw = room.draw else {
                throw TimingError.precondition("\(what): the interview order is not drawn yet; it is drawn when entry closes at \(BeijingTime.short(s.plan.entry(sitting).closes)) (R20)")
            }
            if let other = room.current, let oiv = s.candidateSittings[Self.key(sitting, other)]?.interview {
                throw TimingError.precondition("\(what): the room is interviewing \(other) until \(BeijingTime.short(oiv.endsAt)); one interview at a time (R11)")
            }
            try s.requireReady(c, cs, what)
            guard let position = draw.order.firstIndex(of: examNumber) else {
                throw TimingError.precondition("\(what): the candidate is not in the drawn order (no main-room entry by the close)")
            }
            if let earlier = draw.order[..<position].first(where: { s.isReady($0, sitting) }) {
                throw TimingError.precondition("\(what): the drawn order puts \(earlier) before \(examNumber), and \(earlier) is waiting and ready (R20)")
            }

            let d = s.plan.interview
            let iv = InterviewRecord(startedAt: now, startedBy: proctor, readingSeconds: d.readingSeconds,
                                     answeringSeconds: d.answeringSeconds, answeringTurn: d.answeringTurn)
            var updated = cs
            updated.interview = iv
            s.candidateSittings[Self.key(sitting, examNumber)] = updated
            var r = room
            r.current = examNumber
            r.started.append(examNumber)
            s.rooms[Self.key(sitting, roomID)] = r
            return [.interviewStarted(sitting: sitting, examNumber: examNumber, roomID: roomID, proctor: proctor,
                                      readingEndsAt: iv.readingEndsAt, endsAt: iv.endsAt, at: now)]
        }
    }

    /// The candidate pressed "show question" (展开试题) on the main phone
    /// (R14). A repeat is harmless (no event).
    public mutating func revealQuestion(examNumber: String, sitting: Sitting? = nil, deviceID: String,
                                       now: Date) throws -> [TimingEvent] {
        try transact { s in
            let cs = try s.interviewTarget(examNumber, sitting)
            try s.requireMainPhone(cs, deviceID)
            try s.requireCaughtUp(now)
            let iv = try s.runningInterview(cs, examNumber)
            guard iv.questionRevealedAt == nil else { return [] }
            var updated = cs
            updated.interview!.questionRevealedAt = now
            s.candidateSittings[Self.key(cs.sitting, examNumber)] = updated
            return [.questionRevealed(sitting: cs.sitting, examNumber: examNumber, roomID: cs.roomID, at: now)]
        }
    }

    /// Staff announce "stop reading, start answering" (plan: staff), from the
    /// reading end on. The countdown's end does not move (R15).
    public mutating func announceAnswering(examNumber: String, sitting: Sitting? = nil, proctor: String,
                                           now: Date) throws -> [TimingEvent] {
        try transact { s in
            let cs = try s.interviewTarget(examNumber, sitting)
            try s.requireStaff(proctor, of: s.planRoom(cs.roomID))
            try s.requireCaughtUp(now)
            let iv = try s.runningInterview(cs, examNumber)
            guard iv.answeringTurn == .staff else {
                throw TimingError.precondition("the plan turns to answering automatically at the reading end (\(BeijingTime.short(iv.readingEndsAt))); no announcement is taken")
            }
            if let a = iv.answeringStartedAt {
                throw TimingError.exists("answering was announced for \(examNumber) at \(BeijingTime.short(a)) by \(iv.answeringAnnouncedBy ?? "?")")
            }
            guard now >= iv.readingEndsAt else {
                throw TimingError.range("the reading time of \(examNumber) lasts until \(BeijingTime.short(iv.readingEndsAt)) (\(iv.readingSeconds) s, R14); answering can be announced from then on")
            }
            var updated = cs
            updated.interview!.answeringStartedAt = now
            updated.interview!.answeringAnnouncedBy = proctor
            s.candidateSittings[Self.key(cs.sitting, examNumber)] = updated
            return [.answeringStarted(sitting: cs.sitting, examNumber: examNumber, roomID: cs.roomID, turn: .staff,
                                      announcedBy: proctor, endsAt: iv.endsAt, due: iv.readingEndsAt, at: now)]
        }
    }

    /// The candidate declared "finished" and pressed "end interview"
    /// (面试结束) on the main phone (R17): only while answering, with time left.
    public mutating func endInterview(examNumber: String, sitting: Sitting? = nil, deviceID: String,
                                      now: Date) throws -> [TimingEvent] {
        try transact { s in
            let cs = try s.interviewTarget(examNumber, sitting)
            try s.requireMainPhone(cs, deviceID)
            try s.requireCaughtUp(now)
            let iv = try s.runningInterview(cs, examNumber)
            guard iv.phase(at: now) == .answering else {
                let until = iv.answeringTurn == .automatic
                    ? "until \(BeijingTime.short(iv.readingEndsAt))" : "until staff announce answering"
                throw TimingError.precondition("ending early is possible only while answering (R17); \(examNumber) is reading \(until)")
            }
            return s.finishInterview(cs, reason: .endedEarly, endedAt: now, due: nil, firedAt: now)
        }
    }

    /// Staff replace the room's draw with one from `seed` (for instance a
    /// seed drawn in front of the candidates), after the entry close and
    /// before the room's first interview. Same participants as the automatic
    /// draw; the replaced draw is kept and named in the event.
    public mutating func drawOrder(roomID: String, sitting: Sitting, seed: UInt64, proctor: String,
                                   now: Date) throws -> [TimingEvent] {
        try transact { s in
            try s.requireStaff(proctor, of: s.planRoom(roomID))
            try s.requireCaughtUp(now)
            let room = try s.roomSitting(sitting, roomID)
            guard let old = room.draw else {
                throw TimingError.precondition("room \(roomID) (\(sitting.title)): the order is drawn when entry closes at \(BeijingTime.short(s.plan.entry(sitting).closes)); redraw after that")
            }
            if let ended = room.endedAt {
                throw TimingError.precondition("room \(roomID) (\(sitting.title)) was ended at \(BeijingTime.short(ended))")
            }
            if let first = room.started.first {
                throw TimingError.precondition("room \(roomID) (\(sitting.title)): interviews have started (\(first) first); the order can no longer be redrawn")
            }
            let draw = DrawRecord(seed: seed, candidates: old.candidates,
                                  order: InterviewDraw.order(of: old.candidates, seed: seed), drawnBy: proctor, at: now)
            var r = room
            r.replacedDraws.append(old)
            r.draw = draw
            s.rooms[Self.key(sitting, roomID)] = r
            return [.orderDrawn(sitting: sitting, roomID: roomID, seed: seed, order: draw.order, drawnBy: proctor,
                                replacesSeed: old.seed, due: nil, at: now)]
        }
    }

    /// Staff close the room: nobody may enter any more, those still in it
    /// leave, and everyone not interviewed is recorded with why. Refused
    /// while an interview runs (it cannot be cut short, R15).
    public mutating func endRoom(roomID: String, sitting: Sitting, proctor: String, now: Date) throws -> [TimingEvent] {
        try transact { s in
            let planRoom = try s.planRoom(roomID)
            try s.requireStaff(proctor, of: planRoom)
            try s.requireCaughtUp(now)
            let room = try s.roomSitting(sitting, roomID)
            if let ended = room.endedAt {
                throw TimingError.precondition("room \(roomID) (\(sitting.title)) was already ended at \(BeijingTime.short(ended)) by \(room.endedBy ?? "?")")
            }
            guard s.entryState(sitting).closedFiredAt != nil else {
                throw TimingError.precondition("room \(roomID) (\(sitting.title)): entry is open until \(BeijingTime.short(s.plan.entry(sitting).closes)); a room ends after its interviews")
            }
            if let cur = room.current, let iv = s.candidateSittings[Self.key(sitting, cur)]?.interview {
                throw TimingError.precondition("room \(roomID) (\(sitting.title)) is interviewing \(cur) until \(BeijingTime.short(iv.endsAt)); the countdown cannot be cut short (R15)")
            }
            var events: [TimingEvent] = []
            var interviewed: [String] = []
            var missed: [NotInterviewed] = []
            let queue = room.draw?.order ?? []
            let drawn = Set(queue)
            let rest = planRoom.candidates.filter { !drawn.contains($0) }
                .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for n in queue + rest {
                guard var cs = s.candidateSittings[Self.key(sitting, n)], let c = s.candidates[n] else { continue }
                if cs.interview != nil { interviewed.append(n) } else { missed.append(NotInterviewed(examNumber: n, reason: s.notInterviewedReason(c, cs))) }
                for ch in EntryChannel.allCases {
                    guard var p = cs.channel(ch), p.present else { continue }
                    p.present = false
                    p.leftAt = now
                    p.lastLeaveReason = .roomEnded
                    cs.setChannel(ch, p)
                    events.append(.candidateLeft(sitting: sitting, examNumber: n, roomID: roomID, channel: ch,
                                                 deviceID: p.deviceID, reason: .roomEnded, duringInterview: false, at: now))
                }
                s.candidateSittings[Self.key(sitting, n)] = cs
            }
            var r = room
            r.endedAt = now
            r.endedBy = proctor
            r.notInterviewed = missed
            s.rooms[Self.key(sitting, roomID)] = r
            events.append(.roomEnded(sitting: sitting, roomID: roomID, proctor: proctor, interviewed: interviewed,
                                     notInterviewed: missed, at: now))
            return events
        }
    }

    // MARK: - Shared

    /// Ends an interview (time up or early): the candidate is moved out of
    /// both rooms and the answer recording is marked saved (R16).
    mutating func finishInterview(_ cs: CandidateSitting, reason: InterviewEndReason, endedAt: Date, due: Date?,
                                  firedAt: Date) -> [TimingEvent] {
        var updated = cs
        var iv = cs.interview!
        let remaining = iv.remaining(at: endedAt)
        iv.endedAt = endedAt
        iv.endReason = reason
        iv.endFiredAt = firedAt
        iv.recordingSavedAt = firedAt
        updated.interview = iv
        let n = cs.examNumber, room = cs.roomID, sitting = cs.sitting
        var events: [TimingEvent] = [.interviewEnded(sitting: sitting, examNumber: n, roomID: room, reason: reason,
                                                     remaining: remaining, due: due, at: firedAt)]
        for ch in EntryChannel.allCases {
            guard var p = updated.channel(ch), p.present else { continue }
            p.present = false
            p.leftAt = firedAt
            p.lastLeaveReason = .interviewOver
            updated.setChannel(ch, p)
            events.append(.candidateLeft(sitting: sitting, examNumber: n, roomID: room, channel: ch, deviceID: p.deviceID,
                                         reason: .interviewOver, duringInterview: true, at: firedAt))
        }
        events.append(.answerRecordingSaved(sitting: sitting, examNumber: n, roomID: room,
                                            answeringFrom: iv.answeringStartedAt, until: endedAt, due: due, at: firedAt))
        candidateSittings[Self.key(sitting, n)] = updated
        if var r = rooms[Self.key(sitting, room)], r.current == n {
            r.current = nil
            rooms[Self.key(sitting, room)] = r
        }
        return events
    }

    func requireMainPhone(_ cs: CandidateSitting, _ deviceID: String) throws {
        guard !deviceID.trimmingCharacters(in: .whitespaces).isEmpty else { throw TimingError.invalid("deviceID: empty") }
        guard let main = cs.main, main.deviceID == deviceID else {
            throw TimingError.denied("device \(deviceID) is not the main phone of \(cs.examNumber) in the \(cs.sitting.title); the question and the end button are on the main phone (R14, R17)")
        }
    }

    /// Eligible, in the main room, screening passed: may be called now.
    func requireReady(_ c: CandidateRecord, _ cs: CandidateSitting, _ what: String) throws {
        let blockers = entryBlockers(c)
        guard blockers.isEmpty else { throw TimingError.precondition("\(what): the candidate \(blockers.joined(separator: "; "))") }
        guard let main = cs.main else {
            throw TimingError.precondition("\(what): the candidate has no main-room entry (absent, R12)")
        }
        guard main.present else {
            throw TimingError.precondition("\(what): the candidate is not in the main room (主房间) now (left at \(main.leftAt.map(BeijingTime.short) ?? "?"))")
        }
        guard let screening = cs.lastScreening else {
            throw TimingError.precondition("\(what): the candidate has not been screened (R13)")
        }
        guard screening.passed else {
            throw TimingError.precondition("\(what): the candidate's last screening at \(BeijingTime.short(screening.at)) failed (R13); screen again once it is put right")
        }
    }

    func isReady(_ examNumber: String, _ sitting: Sitting) -> Bool {
        guard let c = candidates[examNumber], let cs = candidateSittings[Self.key(sitting, examNumber)],
              cs.interview == nil else { return false }
        return (try? requireReady(c, cs, "")) != nil
    }

    func notInterviewedReason(_ c: CandidateRecord, _ cs: CandidateSitting) -> NotInterviewedReason {
        if cs.absentAt != nil { return .absent }
        if c.isDisqualified { return .disqualified }
        if cs.main == nil || c.roster != .confirmed { return .notEligible }
        if !cs.isInMainRoom { return .notPresent }
        if cs.lastScreening?.passed != true { return .screeningNotPassed }
        return .notReached
    }
}
