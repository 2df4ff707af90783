import ExamPlan
import Foundation

// Queries: read-only views computed at `now` from the stored times, so they
// are right even between ticks (the remaining time is endsAt - now).

/// Where a candidate stands in one sitting.
public enum SittingStatus: String, Codable, Sendable, Hashable {
    /// Not confirmed or disqualified, and not yet interviewed.
    case notEligible
    /// May enter; has not yet entered the main room.
    case awaitingEntry
    /// No main-room entry by the close (R12).
    case absent
    /// Entered; waiting for the interview (in the room or dropped).
    case waiting
    case interviewing
    case interviewed
    /// The room ended without interviewing the candidate.
    case notInterviewed
}

/// An interview's countdown as seen at `now`.
public struct InterviewClock: Codable, Sendable, Equatable {
    public var sitting: Sitting
    public var examNumber: String
    public var roomID: String
    public var phase: InterviewPhase
    public var startedAt: Date
    public var readingEndsAt: Date
    public var endsAt: Date
    /// Total time left (0 once ended).
    public var remaining: TimeInterval
    /// Reading time left (0 once over; staff mode may stay in reading past it).
    public var readingRemaining: TimeInterval
    public var answeringTurn: AnsweringTurn
    public var questionRevealedAt: Date?
    public var answeringStartedAt: Date?
    public var endedAt: Date?
    public var endReason: InterviewEndReason?
}

public struct CandidateSittingView: Codable, Sendable, Equatable {
    public var examNumber: String
    public var sitting: Sitting
    public var roomID: String
    public var status: SittingStatus
    /// Why the candidate may not enter (empty = may).
    public var blockers: [String]
    public var roster: RosterStatus
    public var disqualified: Bool
    public var main: ChannelPresence?
    public var secondary: ChannelPresence?
    public var absentAt: Date?
    /// Formal absence forfeits the interview (R12).
    public var forfeited: Bool
    public var lastScreening: ScreeningRecord?
    /// 1-based place in the drawn order, once drawn.
    public var position: Int?
    public var interview: InterviewClock?
}

public struct QueueEntry: Codable, Sendable, Equatable {
    public var examNumber: String
    /// 1-based, in drawn order; nil for those not in the draw (listed after).
    public var position: Int?
    public var status: SittingStatus
    public var inMainRoom: Bool
    public var inSecondaryRoom: Bool
    /// nil: not screened; else the last screening's result.
    public var screeningPassed: Bool?
    /// May be called now (eligible, in the main room, screened, not interviewed).
    public var ready: Bool
}

public struct RoomView: Codable, Sendable, Equatable {
    public var roomID: String
    public var name: String
    public var sitting: Sitting
    public var entry: TimeWindow
    public var entryOpen: Bool
    public var entryClosedAt: Date?
    public var draw: DrawRecord?
    /// Drawn order first, then the room's others (exam number order).
    public var queue: [QueueEntry]
    /// In the main room now.
    public var present: [String]
    public var current: InterviewClock?
    /// The first ready candidate in drawn order (whom staff call next).
    public var next: String?
    public var endedAt: Date?
}

extension TimingState {
    public func roomView(roomID: String, sitting: Sitting, now: Date) throws -> RoomView {
        let planRoom = try planRoom(roomID)
        let room = try roomSitting(sitting, roomID)
        let order = room.draw?.order ?? []
        let drawn = Set(order)
        let rest = planRoom.candidates.filter { !drawn.contains($0) }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var queue: [QueueEntry] = []
        for n in order + rest {
            guard let v = try? candidateView(examNumber: n, sitting: sitting, now: now) else { continue }
            queue.append(QueueEntry(examNumber: n, position: v.position, status: v.status,
                                    inMainRoom: v.main?.present == true, inSecondaryRoom: v.secondary?.present == true,
                                    screeningPassed: v.lastScreening?.passed,
                                    ready: room.endedAt == nil && room.draw != nil && isReady(n, sitting)))
        }
        let window = plan.entry(sitting)
        let current = room.current.flatMap { try? interviewClock(examNumber: $0, sitting: sitting, now: now) }
        return RoomView(roomID: roomID, name: planRoom.name, sitting: sitting, entry: window,
                        entryOpen: window.contains(now) && room.endedAt == nil,
                        entryClosedAt: entryState(sitting).closedFiredAt.map { _ in window.closes },
                        draw: room.draw, queue: queue, present: queue.filter(\.inMainRoom).map(\.examNumber),
                        current: current, next: current == nil ? queue.first(where: \.ready)?.examNumber : nil,
                        endedAt: room.endedAt)
    }

    /// The countdown of `examNumber` in `sitting`; notFound before staff
    /// started it.
    public func interviewClock(examNumber: String, sitting: Sitting, now: Date) throws -> InterviewClock {
        let cs = try sittingRecord(sitting, examNumber)
        guard let iv = cs.interview else {
            throw TimingError.notFound("candidate \(examNumber) has no interview in the \(sitting.title) yet: staff have not started it")
        }
        return Self.clock(cs, iv, now)
    }

    static func clock(_ cs: CandidateSitting, _ iv: InterviewRecord, _ now: Date) -> InterviewClock {
        let phase = iv.phase(at: now)
        let timeUp = iv.endedAt == nil && now >= iv.endsAt
        return InterviewClock(sitting: cs.sitting, examNumber: cs.examNumber, roomID: cs.roomID, phase: phase,
                              startedAt: iv.startedAt, readingEndsAt: iv.readingEndsAt, endsAt: iv.endsAt,
                              remaining: iv.remaining(at: now),
                              readingRemaining: phase == .reading ? max(0, iv.readingEndsAt.timeIntervalSince(now)) : 0,
                              answeringTurn: iv.answeringTurn, questionRevealedAt: iv.questionRevealedAt,
                              answeringStartedAt: iv.answeringStartedAt
                                  ?? (iv.answeringTurn == .automatic && now >= iv.readingEndsAt ? iv.readingEndsAt : nil),
                              endedAt: iv.endedAt ?? (timeUp ? iv.endsAt : nil),
                              endReason: iv.endReason ?? (timeUp ? .timeUp : nil))
    }

    public func candidateView(examNumber: String, sitting: Sitting, now: Date) throws -> CandidateSittingView {
        let c = try candidate(examNumber)
        let cs = try sittingRecord(sitting, examNumber)
        let room = rooms[Self.key(sitting, cs.roomID)]
        let blockers = entryBlockers(c)
        let status: SittingStatus
        if let iv = cs.interview {
            status = iv.phase(at: now) == .ended ? .interviewed : .interviewing
        } else if cs.absentAt != nil {
            status = .absent
        } else if room?.endedAt != nil {
            status = .notInterviewed
        } else if !blockers.isEmpty {
            status = .notEligible
        } else if cs.main != nil {
            status = .waiting
        } else {
            status = .awaitingEntry
        }
        return CandidateSittingView(examNumber: examNumber, sitting: sitting, roomID: cs.roomID, status: status,
                                    blockers: blockers + deviceBlockersText(c), roster: c.roster,
                                    disqualified: c.isDisqualified, main: cs.main, secondary: cs.secondary,
                                    absentAt: cs.absentAt, forfeited: cs.forfeitedByAbsence,
                                    lastScreening: cs.lastScreening,
                                    position: room?.draw?.order.firstIndex(of: examNumber).map { $0 + 1 },
                                    interview: cs.interview.map { Self.clock(cs, $0, now) })
    }

    private func deviceBlockersText(_ c: CandidateRecord) -> [String] {
        EntryChannel.allCases.flatMap { ch in deviceBlockers(c, ch).map { "\(ch.rawValue) phone: \($0)" } }
    }
}
