import ExamPlan
import Foundation

// Timers (R12, R14-R16, R21, R22). Nothing runs in the background: every
// timed transition is derived from stored times (the entry windows of the
// plan, each interview's stored start and durations), and `tick` fires the
// ones due. Called late - after a stall or a restart of timing from its
// store - it fires everything missed exactly once, in time order, each event
// carrying its due time and the time it fired; the countdowns themselves
// never moved, so every running one resumes at the right remaining time.

/// A transition waiting for its time.
enum PendingTransition: Hashable, Sendable {
    case entryOpens(Sitting)
    case entryCloses(Sitting)
    /// Reading end: automatic turn to answering, or (staff mode) the
    /// "reading time is up" notice.
    case readingEnds(Sitting, examNumber: String)
    case countdownEnds(Sitting, examNumber: String)

    /// At equal times: entry before interviews, reading end before end.
    var rank: Int {
        switch self {
        case .entryOpens: return 0
        case .entryCloses: return 1
        case .readingEnds: return 2
        case .countdownEnds: return 3
        }
    }

    var sortKey: String {
        switch self {
        case .entryOpens(let s), .entryCloses(let s): return s.rawValue
        case .readingEnds(let s, let n), .countdownEnds(let s, let n): return "\(s.rawValue)/\(n)"
        }
    }
}

extension TimingState {
    /// The entry windows' pending transitions (at most four).
    private func entryTimers() -> [PendingTimer] {
        var out: [PendingTimer] = []
        for sitting in Sitting.allCases {
            let e = entryState(sitting), w = plan.entry(sitting)
            if e.openedFiredAt == nil { out.append(PendingTimer(due: w.opens, .entryOpens(sitting))) }
            if e.closedFiredAt == nil { out.append(PendingTimer(due: w.closes, .entryCloses(sitting))) }
        }
        return out
    }

    /// The transition to fire first: the earliest of the entry windows' and
    /// the first of the running interviews' timer index. Does not look at
    /// the candidates: O(1) in the roster.
    func firstPending() -> PendingTimer? {
        var first = candidateSittings.timers.first
        for t in entryTimers() where first == nil || t.precedes(first!) { first = t }
        return first
    }

    /// Every pending transition with its due time, earliest first, found by
    /// scanning every candidate-sitting: O(roster). Timing reads its index
    /// instead; this is the oracle of the tests and the benchmark's "before".
    func pendingTransitionsByScan() -> [(due: Date, transition: PendingTransition)] {
        var out = entryTimers()
        for cs in candidateSittings.values {
            guard let iv = cs.interview, iv.isRunning else { continue }
            if iv.answeringStartedAt == nil
                && (iv.answeringTurn == .automatic || iv.readingTimeUpFiredAt == nil) {
                out.append(PendingTimer(due: iv.readingEndsAt, .readingEnds(cs.sitting, examNumber: cs.examNumber)))
            }
            out.append(PendingTimer(due: iv.endsAt, .countdownEnds(cs.sitting, examNumber: cs.examNumber)))
        }
        return out.sorted { $0.precedes($1) }.map { ($0.due, $0.transition) }
    }

    /// Every pending transition, earliest first, from the index (for tests).
    func pendingTransitions() -> [(due: Date, transition: PendingTransition)] {
        (entryTimers() + candidateSittings.timers.items).sorted { $0.precedes($1) }.map { ($0.due, $0.transition) }
    }

    /// When `tick` next has something to do; nil when nothing is pending.
    public func nextDeadline() -> Date? { firstPending()?.due }

    /// `nextDeadline()` the way it was found before the index: by scanning
    /// every candidate-sitting (the benchmark's "before"; tests' oracle).
    public func nextDeadlineByScan() -> Date? { pendingTransitionsByScan().first?.due }

    /// Fires every transition due at `now` exactly once, in time order.
    /// `seed` is fresh randomness from the shell, used only if an entry
    /// close (and so a draw, R20) is among them; each room's seed is taken
    /// from SplitMix64(seed) in plan order and recorded with its draw.
    public mutating func tick(now: Date, seed: UInt64) -> [TimingEvent] {
        fire(now: now, seed: seed) { s in s.firstPending().map { ($0.due, $0.transition) } }
    }

    /// `tick` as it was before the index: the next transition found by
    /// scanning every candidate-sitting each time (the tests' oracle).
    mutating func tickByScan(now: Date, seed: UInt64) -> [TimingEvent] {
        fire(now: now, seed: seed) { s in s.pendingTransitionsByScan().first }
    }

    private mutating func fire(now: Date, seed: UInt64,
                               next: (TimingState) -> (due: Date, transition: PendingTransition)?) -> [TimingEvent] {
        var rng = SplitMix64(seed: seed)
        var events: [TimingEvent] = []
        // Each firing clears its own transition, so this ends.
        while let (due, t) = next(self), due <= now {
            switch t {
            case .entryOpens(let s): events += openEntry(s, due: due, now: now)
            case .entryCloses(let s): events += closeEntry(s, due: due, now: now, rng: &rng)
            case .readingEnds(let s, let n): events += endReading(s, n, due: due, now: now)
            case .countdownEnds(let s, let n):
                let cs = candidateSittings[Self.key(s, n)]!
                events += finishInterview(cs, reason: .timeUp, endedAt: due, due: due, firedAt: now)
            }
        }
        return events
    }

    private mutating func openEntry(_ sitting: Sitting, due: Date, now: Date) -> [TimingEvent] {
        var e = entryState(sitting)
        e.openedFiredAt = now
        entries[sitting.rawValue] = e
        let w = plan.entry(sitting)
        return [.entryOpened(sitting: sitting, opens: w.opens, closes: w.closes, due: due, at: now)]
    }

    /// R12: no main-room entry by the close = absent (formal: forfeits the
    /// interview; mock: recorded only, R19). Confirmed and not disqualified
    /// candidates are absent; the others were never allowed in and are
    /// listed as not eligible. Then each room draws its order (R20) among
    /// those with a main-room entry.
    private mutating func closeEntry(_ sitting: Sitting, due: Date, now: Date, rng: inout SplitMix64) -> [TimingEvent] {
        var e = entryState(sitting)
        e.closedFiredAt = now
        entries[sitting.rawValue] = e
        var entered: [String] = [], absent: [String] = [], notEligible: [String] = []
        var absences: [TimingEvent] = []
        var draws: [TimingEvent] = []
        for room in plan.rooms {
            var drawn: [String] = []
            for n in room.candidates.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                let k = Self.key(sitting, n)
                guard var cs = candidateSittings[k], let c = candidates[n] else { continue }
                if cs.main != nil {
                    entered.append(n)
                    drawn.append(n)
                } else if entryBlockers(c).isEmpty {
                    absent.append(n)
                    cs.absentAt = due
                    candidateSittings[k] = cs
                    absences.append(.candidateAbsent(sitting: sitting, examNumber: n, roomID: room.id,
                                                     forfeitsInterview: sitting == .formal, due: due, at: now))
                } else {
                    notEligible.append(n)
                }
            }
            let seed = rng.next()
            let draw = DrawRecord(seed: seed, candidates: drawn, order: InterviewDraw.order(of: drawn, seed: seed),
                                  drawnBy: nil, at: now)
            let k = Self.key(sitting, room.id)
            var r = rooms[k] ?? RoomSitting(roomID: room.id, sitting: sitting)
            r.draw = draw
            rooms[k] = r
            draws.append(.orderDrawn(sitting: sitting, roomID: room.id, seed: seed, order: draw.order, drawnBy: nil,
                                     replacesSeed: nil, due: due, at: now))
        }
        let closed = TimingEvent.entryClosed(sitting: sitting, entered: entered.sorted(), absent: absent.sorted(),
                                             notEligible: notEligible.sorted(), due: due, at: now)
        return [closed] + absences + draws
    }

    /// R14: automatic plans turn to answering at the reading end (logically
    /// at `due`, even if fired late); staff plans get a notice that the
    /// staff should announce it now.
    private mutating func endReading(_ sitting: Sitting, _ n: String, due: Date, now: Date) -> [TimingEvent] {
        let k = Self.key(sitting, n)
        var cs = candidateSittings[k]!
        var iv = cs.interview!
        defer { cs.interview = iv; candidateSittings[k] = cs }
        if iv.answeringTurn == .automatic {
            iv.answeringStartedAt = due
            iv.answeringFiredAt = now
            return [.answeringStarted(sitting: sitting, examNumber: n, roomID: cs.roomID, turn: .automatic,
                                      announcedBy: nil, endsAt: iv.endsAt, due: due, at: now)]
        }
        iv.readingTimeUpFiredAt = now
        return [.readingTimeUp(sitting: sitting, examNumber: n, roomID: cs.roomID, due: due, at: now)]
    }
}
