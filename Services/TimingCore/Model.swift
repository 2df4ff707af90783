import ExamPlan
import Foundation

// MARK: - Inputs' vocabulary

/// The two video channels of a candidate (R11): the main phone joins the
/// main room (主房间), the secondary phone the secondary room (副房间).
public enum EntryChannel: String, Codable, Sendable, CaseIterable, Hashable {
    case main, secondary

    /// "main room (主房间)", for messages.
    public var roomName: String { self == .main ? "main room (主房间)" : "secondary room (副房间)" }
    var other: EntryChannel { self == .main ? .secondary : .main }
}

/// What roster says about a candidate's confirmation (R3, R5, R6); timing
/// learns it from roster's events. `pending` until roster says otherwise.
public enum RosterStatus: String, Codable, Sendable, CaseIterable, Hashable {
    case pending, confirmed, declined, forfeited
}

/// The phase of one interview's countdown (R14).
public enum InterviewPhase: String, Codable, Sendable, Hashable {
    /// "start, read the question" was announced; the question may be revealed.
    case reading
    /// "stop reading, start answering" (announced, or automatic at reading end).
    case answering
    /// Time up, or ended early by the candidate (R16, R17).
    case ended
}

/// Why an interview ended.
public enum InterviewEndReason: String, Codable, Sendable, Hashable {
    /// The 10-minute total ran out (R16).
    case timeUp
    /// The candidate said "finished" and pressed "end interview" (R17).
    case endedEarly
}

/// Why a channel left its room.
public enum LeaveReason: String, Codable, Sendable, Hashable {
    /// The client left or dropped (R18: may re-enter while time is left).
    case left
    /// The countdown ended or the candidate ended early: the candidate is
    /// moved out of the room (R16).
    case interviewOver
    /// Staff closed the room.
    case roomEnded
}

/// Why a candidate of a room was not interviewed when the room ended.
public enum NotInterviewedReason: String, Codable, Sendable, Hashable {
    /// No main-room entry by the entry close (R12).
    case absent
    /// Not confirmed (pending, declined, forfeited) at the entry close.
    case notEligible
    /// Disqualified by discipline (R13, R42).
    case disqualified
    /// Had entered, but was not in the main room when the room ended.
    case notPresent
    /// The last screening failed or none was recorded.
    case screeningNotPassed
    /// Ready, but staff ended the room before calling the candidate.
    case notReached
}

public struct NotInterviewed: Codable, Sendable, Equatable, Hashable {
    public var examNumber: String
    public var reason: NotInterviewedReason
    public init(examNumber: String, reason: NotInterviewedReason) {
        self.examNumber = examNumber
        self.reason = reason
    }
}

// MARK: - Durable records

/// One candidate, across sittings: room and what the other services said
/// about them (R11: confirmed and not disqualified; R32: device fitness).
/// Document key: the exam number.
public struct CandidateRecord: Codable, Sendable, Equatable {
    public var examNumber: String
    public var roomID: String
    public var roster: RosterStatus
    /// Sequence number of the roster event last applied, if it carried one.
    public var rosterSeq: UInt64?
    public var rosterUpdatedAt: Date?
    /// Discipline's decisions, by incident id; disqualified while any is
    /// active (several incidents may each disqualify).
    public var disqualifications: [String: Disqualification]
    /// Devices' verdicts per channel (R32); nil = nothing known = fit.
    public var mainDevice: DeviceFitness?
    public var secondaryDevice: DeviceFitness?

    public init(examNumber: String, roomID: String) {
        self.examNumber = examNumber
        self.roomID = roomID
        roster = .pending
        disqualifications = [:]
    }

    public var isDisqualified: Bool { disqualifications.values.contains { $0.active } }

    public func device(_ channel: EntryChannel) -> DeviceFitness? {
        channel == .main ? mainDevice : secondaryDevice
    }

    mutating func setDevice(_ channel: EntryChannel, _ f: DeviceFitness) {
        if channel == .main { mainDevice = f } else { secondaryDevice = f }
    }
}

public struct Disqualification: Codable, Sendable, Equatable {
    public var incidentID: String
    /// The section-7 ground (1...10), when discipline says.
    public var ground: Int?
    /// False once discipline reversed it (reinstatement).
    public var active: Bool
    public var seq: UInt64?
    /// When timing learned the latest state of this incident.
    public var updatedAt: Date
}

public struct DeviceFitness: Codable, Sendable, Equatable {
    public var fit: Bool
    /// The broken rules, in devices' words, when unfit.
    public var reasons: [String]
    public var seq: UInt64?
    public var updatedAt: Date
}

/// One channel's presence in its room during one sitting.
public struct ChannelPresence: Codable, Sendable, Equatable {
    /// The device bound to the channel; another device is refused while this
    /// one is in the room, and may take over once it has left.
    public var deviceID: String
    public var firstEnteredAt: Date
    public var lastEnteredAt: Date
    public var present: Bool
    public var leftAt: Date?
    public var lastLeaveReason: LeaveReason?
    /// Number of entries (first entry and re-entries).
    public var entries: Int
    /// Devices that held the channel before (a phone replaced after a drop).
    public var previousDevices: [String]
}

/// One staff screening of identity and room (R13, notice section 6).
public struct ScreeningRecord: Codable, Sendable, Equatable {
    public var identityConfirmed: Bool
    public var checks: [ScreeningCheck]
    public var proctor: String
    public var at: Date
    public var passed: Bool { identityConfirmed && checks.allSatisfy(\.passed) }
    public var failedChecks: [ScreeningCheck] { checks.filter { !$0.passed } }
}

/// One interview's countdown (R14-R18). The times it turns and ends are
/// derived from the stored start and durations, never from a running timer,
/// so a restarted timing resumes at the right remaining time (R15, R22).
public struct InterviewRecord: Codable, Sendable, Equatable {
    public var startedAt: Date
    public var startedBy: String
    /// Copied from the plan at the start.
    public var readingSeconds: Int
    public var answeringSeconds: Int
    public var answeringTurn: AnsweringTurn
    public var questionRevealedAt: Date?
    /// Staff mode: when "reading time is up" was announced to the staff.
    public var readingTimeUpFiredAt: Date?
    /// When answering began: the reading end (automatic), or the staff's
    /// announcement (staff).
    public var answeringStartedAt: Date?
    public var answeringAnnouncedBy: String?
    /// When the automatic turn actually fired (later than due on catch-up).
    public var answeringFiredAt: Date?
    /// When it ended: `endsAt` for time up, the request time for early end.
    public var endedAt: Date?
    public var endReason: InterviewEndReason?
    /// When the end was processed (later than `endedAt` on catch-up).
    public var endFiredAt: Date?
    public var recordingSavedAt: Date?

    public var readingEndsAt: Date { startedAt.addingTimeInterval(TimeInterval(readingSeconds)) }
    public var endsAt: Date { startedAt.addingTimeInterval(TimeInterval(readingSeconds + answeringSeconds)) }
    public var isRunning: Bool { endedAt == nil }

    /// The phase at `t`, from the stored times alone.
    public func phase(at t: Date) -> InterviewPhase {
        if let e = endedAt, t >= e { return .ended }
        if t >= endsAt { return .ended }
        if let a = answeringStartedAt, t >= a { return .answering }
        if answeringTurn == .automatic && t >= readingEndsAt { return .answering }
        return .reading
    }

    public func remaining(at t: Date) -> TimeInterval {
        if let e = endedAt, t >= e { return 0 }
        return max(0, endsAt.timeIntervalSince(t))
    }
}

/// A candidate in one sitting: entry, screening, interview.
/// Document key: `TimingState.key(sitting, examNumber)`, e.g. "formal/2022110001".
public struct CandidateSitting: Codable, Sendable, Equatable {
    public var examNumber: String
    public var sitting: Sitting
    public var roomID: String
    public var main: ChannelPresence?
    public var secondary: ChannelPresence?
    /// Set at the entry close when there was no main-room entry (R12).
    public var absentAt: Date?
    /// Every screening, oldest first; the last one counts.
    public var screenings: [ScreeningRecord]
    public var interview: InterviewRecord?

    public init(examNumber: String, sitting: Sitting, roomID: String) {
        self.examNumber = examNumber
        self.sitting = sitting
        self.roomID = roomID
        screenings = []
    }

    public func channel(_ c: EntryChannel) -> ChannelPresence? { c == .main ? main : secondary }
    mutating func setChannel(_ c: EntryChannel, _ p: ChannelPresence?) {
        if c == .main { main = p } else { secondary = p }
    }

    /// Formal only: absence forfeits the interview (R12); mock absence is
    /// only recorded, the candidate's own risk (R19).
    public var forfeitedByAbsence: Bool { sitting == .formal && absentAt != nil }
    public var isInMainRoom: Bool { main?.present == true }
    public var lastScreening: ScreeningRecord? { screenings.last }
}

/// A recorded draw (R20): order = InterviewDraw.order(of: candidates, seed: seed).
public struct DrawRecord: Codable, Sendable, Equatable {
    public var seed: UInt64
    /// Those who drew (had a main-room entry at the close), sorted ascending.
    public var candidates: [String]
    public var order: [String]
    /// nil: drawn automatically at the entry close; else the staff member.
    public var drawnBy: String?
    public var at: Date
}

/// A room in one sitting. Document key: `TimingState.key(sitting, roomID)`.
public struct RoomSitting: Codable, Sendable, Equatable {
    public var roomID: String
    public var sitting: Sitting
    public var draw: DrawRecord?
    /// Draws replaced by a staff redraw, oldest first (kept for audit).
    public var replacedDraws: [DrawRecord]
    /// The exam number interviewed now, if any.
    public var current: String?
    /// Exam numbers whose interview started, in start order.
    public var started: [String]
    public var endedAt: Date?
    public var endedBy: String?
    public var notInterviewed: [NotInterviewed]

    public init(roomID: String, sitting: Sitting) {
        self.roomID = roomID
        self.sitting = sitting
        replacedDraws = []
        started = []
        notInterviewed = []
    }
}

/// An entry window's progress (R11, R12). Document key: the sitting's name.
public struct EntryWindowState: Codable, Sendable, Equatable {
    public var sitting: Sitting
    /// When the opening was processed (nil: not yet).
    public var openedFiredAt: Date?
    /// When the close was processed: absences recorded, orders drawn.
    public var closedFiredAt: Date?
}

// MARK: - The state

/// All durable state of timing, in document maps keyed by id so the shell
/// can keep each entity as one JSON document; each map records the keys
/// written since the shell last took them (`takeChanges()`).
/// Encode dates with JSONEncoder's default strategy (exact round trip).
public struct TimingState: Codable, Sendable, Equatable {
    /// The adopted plan (R10); fixed for the state's life.
    public private(set) var plan: ExamPlan
    /// By exam number.
    public internal(set) var candidates: DocumentMap<CandidateRecord>
    /// By `key(sitting, examNumber)`. Its timer index holds the pending
    /// transitions of the running interviews.
    public internal(set) var candidateSittings: DocumentMap<CandidateSitting>
    /// By `key(sitting, roomID)`.
    public internal(set) var rooms: DocumentMap<RoomSitting>
    /// By sitting name ("mock", "formal").
    public internal(set) var entries: DocumentMap<EntryWindowState>
    /// The plan's rooms by id (derived from the plan).
    let roomIndex: [String: Int]

    /// "formal/2022110001", "mock/R01": the document key of a per-sitting entity.
    public static func key(_ sitting: Sitting, _ id: String) -> String { "\(sitting.rawValue)/\(id)" }

    /// A fresh state for a validated plan (R10): every room and candidate of
    /// the plan, for both sittings, nobody confirmed yet (roster says so by
    /// event). An invalid plan is refused with every problem. Nothing is
    /// marked changed: the shell stores a fresh state whole.
    public init(plan: ExamPlan) throws {
        let problems = plan.problems()
        guard problems.isEmpty else {
            throw TimingError.invalid("the exam plan is invalid: " + problems.joined(separator: "; "))
        }
        var candidates: [String: CandidateRecord] = [:]
        var candidateSittings: [String: CandidateSitting] = [:]
        var rooms: [String: RoomSitting] = [:]
        var entries: [String: EntryWindowState] = [:]
        for sitting in Sitting.allCases {
            entries[sitting.rawValue] = EntryWindowState(sitting: sitting)
        }
        for room in plan.rooms {
            for sitting in Sitting.allCases {
                rooms[Self.key(sitting, room.id)] = RoomSitting(roomID: room.id, sitting: sitting)
            }
            for c in room.candidates {
                candidates[c] = CandidateRecord(examNumber: c, roomID: room.id)
                for sitting in Sitting.allCases {
                    candidateSittings[Self.key(sitting, c)] = CandidateSitting(examNumber: c, sitting: sitting, roomID: room.id)
                }
            }
        }
        self.init(plan: plan, candidates: candidates, candidateSittings: candidateSittings, rooms: rooms, entries: entries)
    }

    /// Reassembles a state from its documents, as the shell stored them
    /// (the timer index is rebuilt; nothing is marked changed).
    public init(plan: ExamPlan, candidates: [String: CandidateRecord], candidateSittings: [String: CandidateSitting],
                rooms: [String: RoomSitting], entries: [String: EntryWindowState]) {
        self.init(plan: plan, candidates: DocumentMap(candidates), candidateSittings: DocumentMap(candidateSittings),
                  rooms: DocumentMap(rooms), entries: DocumentMap(entries))
    }

    /// The same from document maps (their contents; nothing is marked changed).
    public init(plan: ExamPlan, candidates: DocumentMap<CandidateRecord>, candidateSittings: DocumentMap<CandidateSitting>,
                rooms: DocumentMap<RoomSitting>, entries: DocumentMap<EntryWindowState>) {
        self.plan = plan
        self.candidates = DocumentMap(candidates.dictionary)
        self.candidateSittings = DocumentMap(candidateSittings.dictionary)
        self.rooms = DocumentMap(rooms.dictionary)
        self.entries = DocumentMap(entries.dictionary)
        var index: [String: Int] = [:]
        for (i, r) in plan.rooms.enumerated() where index[r.id] == nil { index[r.id] = i }
        roomIndex = index
    }

    enum CodingKeys: String, CodingKey { case plan, candidates, candidateSittings, rooms, entries }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(plan: try c.decode(ExamPlan.self, forKey: .plan),
                  candidates: try c.decode([String: CandidateRecord].self, forKey: .candidates),
                  candidateSittings: try c.decode([String: CandidateSitting].self, forKey: .candidateSittings),
                  rooms: try c.decode([String: RoomSitting].self, forKey: .rooms),
                  entries: try c.decode([String: EntryWindowState].self, forKey: .entries))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(plan, forKey: .plan)
        try c.encode(candidates, forKey: .candidates)
        try c.encode(candidateSittings, forKey: .candidateSittings)
        try c.encode(rooms, forKey: .rooms)
        try c.encode(entries, forKey: .entries)
    }

    /// The same contents (the plan and every document).
    public static func == (a: TimingState, b: TimingState) -> Bool {
        a.candidates == b.candidates && a.candidateSittings == b.candidateSittings && a.rooms == b.rooms
            && a.entries == b.entries && a.plan == b.plan
    }

    /// Runs `body` on the state itself, journaling the old value of every
    /// document it writes, and keeps the result only if it did not throw: a
    /// refused operation is rolled back from the journal and leaves the
    /// state (and its changed keys) exactly as it was. No copy of the state.
    mutating func transact<T>(_ body: (inout TimingState) throws -> T) rethrows -> T {
        let c = candidates.begin(), cs = candidateSittings.begin(), r = rooms.begin(), e = entries.begin()
        do {
            let result = try body(&self)
            candidates.commit(c)
            candidateSittings.commit(cs)
            rooms.commit(r)
            entries.commit(e)
            return result
        } catch {
            candidates.rollback(c)
            candidateSittings.rollback(cs)
            rooms.rollback(r)
            entries.rollback(e)
            throw error
        }
    }

    /// The documents written since the last `takeChanges()` (keys sorted);
    /// the plan never changes in a state's life (a replaced plan is a fresh
    /// state, stored whole).
    public var changedDocuments: TimingChanges {
        TimingChanges(plan: false, candidates: candidates.changedKeys, candidateSittings: candidateSittings.changedKeys,
                      rooms: rooms.changedKeys, entries: entries.changedKeys)
    }

    /// What the shell must write now: `changedDocuments`, then forgotten.
    public mutating func takeChanges() -> TimingChanges {
        TimingChanges(plan: false, candidates: candidates.takeChanged(), candidateSittings: candidateSittings.takeChanged(),
                      rooms: rooms.takeChanged(), entries: entries.takeChanged())
    }
}

/// The documents that differ between two states: what the shell must write.
public struct TimingChanges: Equatable, Sendable {
    public var plan: Bool
    public var candidates: [String]
    public var candidateSittings: [String]
    public var rooms: [String]
    public var entries: [String]
    public var isEmpty: Bool {
        !plan && candidates.isEmpty && candidateSittings.isEmpty && rooms.isEmpty && entries.isEmpty
    }
}

extension TimingState {
    /// Keys (sorted) of the documents changed, added or removed since `old`,
    /// by comparing everything: O(roster). The shell uses `takeChanges()`;
    /// this is the oracle of the tests and the benchmark's "before".
    public func changes(since old: TimingState) -> TimingChanges {
        func diff<V>(_ a: DocumentMap<V>, _ b: DocumentMap<V>) -> [String] {
            Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
        }
        return TimingChanges(plan: plan != old.plan,
                             candidates: diff(candidates, old.candidates),
                             candidateSittings: diff(candidateSittings, old.candidateSittings),
                             rooms: diff(rooms, old.rooms),
                             entries: diff(entries, old.entries))
    }
}
