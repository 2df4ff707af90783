import Foundation
import ExamPlan

// MARK: Errors

/// A refused request: the code maps one-to-one to the bus's gRPC status
/// (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION,
/// PERMISSION_DENIED); the message says what was wrong and where. A call
/// that throws has changed nothing.
public struct DisciplineError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Codable, Sendable, Equatable {
        case invalidArgument = "INVALID_ARGUMENT"
        case notFound = "NOT_FOUND"
        case alreadyExists = "ALREADY_EXISTS"
        case failedPrecondition = "FAILED_PRECONDITION"
        case permissionDenied = "PERMISSION_DENIED"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

// MARK: Who acts

/// The roles of the bus's `Principal` (protos/exam/v1/bus.proto), mirrored so
/// the core needs no bus types: the shell maps ROLE_CHIEF_EXAMINER to
/// `.chiefExaminer` and so on.
public enum Role: String, Codable, Sendable, Hashable, CaseIterable {
    case candidate
    case proctor          // 考务人员: watch rooms, report
    case examiner         // 考官
    case chiefExaminer = "chief_examiner"   // 主考官: decides incidents (R42)
    case ops
    case service          // another service of the mesh; also the core's own automatic decisions

    /// Staff who may report an incident on any ground (R41).
    public var isStaff: Bool { self == .proctor || self == .examiner || self == .chiefExaminer }
}

/// Who reports or decides: a staff id (examiner ids are the plan's panel
/// ids), or a service name.
public struct Principal: Codable, Sendable, Hashable {
    public var id: String
    public var role: Role

    public init(id: String, role: Role) {
        self.id = id
        self.role = role
    }

    /// The decider recorded on automatic decisions (R42: "decide themselves
    /// when configuration says so").
    public static let system = Principal(id: "discipline", role: .service)
}

// MARK: Configuration

/// What ops choose (R42). Kept in the state so a decision is always judged
/// against the configuration in force when it was taken; the shell sets it
/// from its configuration file at start.
public struct DisciplineConfig: Codable, Sendable, Equatable {
    /// Ground-9 incidents (signal loss, from devices or staff) are decided
    /// at once as disqualifications, by the system (R42, R34).
    public var autoDecideGround9: Bool
    /// Failed identity/room screening is decided at once as a
    /// disqualification, by the system: the notice (section 4(三)2(1)) says
    /// such candidates lose the qualification (R13). Off by default, so a
    /// chief examiner confirms, as R42 says of every decision.
    public var autoDecideScreening: Bool
    /// When the plan puts the candidate in a room, only that room's chief
    /// examiner (the panel member with `chief: true`) decides; off, any
    /// principal with the chief-examiner role does.
    public var chiefMustSitOnCandidatePanel: Bool
    /// How far in the future (relative to the server's `now`) an
    /// "occurred at" time may lie: reporters' clocks drift a little.
    public var futureToleranceSeconds: Double
    /// Longest evidence text or reason, in characters.
    public var maxTextLength: Int

    public init(autoDecideGround9: Bool = false, autoDecideScreening: Bool = false,
                chiefMustSitOnCandidatePanel: Bool = true, futureToleranceSeconds: Double = 60,
                maxTextLength: Int = 4000) {
        self.autoDecideGround9 = autoDecideGround9
        self.autoDecideScreening = autoDecideScreening
        self.chiefMustSitOnCandidatePanel = chiefMustSitOnCandidatePanel
        self.futureToleranceSeconds = futureToleranceSeconds
        self.maxTextLength = maxTextLength
    }
}

// MARK: What the core learns from other services

/// A candidate as roster announced it. Only the exam number identifies
/// candidates here; no ID number ever enters this service.
public struct Candidate: Codable, Sendable, Equatable {
    public var examNumber: String
    public var name: String
    public var postCode: String?

    public init(examNumber: String, name: String, postCode: String? = nil) {
        self.examNumber = examNumber
        self.name = name
        self.postCode = postCode
    }
}

/// When a candidate's interview of one sitting started and ended, as
/// timing announced it (R14, R16, R21). Keyed "examNumber/sitting".
public struct InterviewRecord: Codable, Sendable, Equatable {
    public var examNumber: String
    public var sitting: Sitting
    public var startedAt: Date?
    public var endedAt: Date?
    /// recordings' completeness check (R38): the interview's incomplete
    /// recordings; nil before the check, empty when both are complete.
    public var recordingIssues: [RecordingIssue]? = nil

    public init(examNumber: String, sitting: Sitting, startedAt: Date? = nil, endedAt: Date? = nil) {
        self.examNumber = examNumber
        self.sitting = sitting
        self.startedAt = startedAt
        self.endedAt = endedAt
    }

    public static func key(_ examNumber: String, _ sitting: Sitting) -> String { "\(examNumber)/\(sitting.rawValue)" }
    public var key: String { Self.key(examNumber, sitting) }
}

// MARK: Evidence

/// An incomplete recording, as recordings' completeness check found it
/// (R38): evidence the chief examiner sees beside the candidate's incidents
/// of that sitting. Kept with the interview, never written into an
/// incident (the log is append-only).
public struct RecordingIssue: Codable, Sendable, Equatable {
    public var position: DevicePosition
    public var recordingID: String
    /// "missing", "gap" or "unfinished".
    public var kind: String
    /// recordings' words for people (Chinese and English).
    public var text: String
    /// A gap while devices reported the phone's signal lost (ground 9).
    public var duringSignalLoss: Bool

    public init(position: DevicePosition, recordingID: String, kind: String, text: String, duringSignalLoss: Bool = false) {
        self.position = position
        self.recordingID = recordingID
        self.kind = kind
        self.text = text
        self.duringSignalLoss = duringSignalLoss
    }

    /// As a reference of the incident: "recording 2022110001-formal-main: ...".
    public var reference: String { "recording \(recordingID): \(text)" }
}

/// The two phones of R30 (主机位 / 副机位).
public enum DevicePosition: String, Codable, Sendable, Hashable, CaseIterable {
    case main, secondary
}

/// The three forms of ground 9 (notice section 7 item 9, R34).
public enum SignalLossPattern: String, Codable, Sendable, Hashable, CaseIterable {
    /// 双机位信号同时中断: both positions lost at the same time.
    case bothAtOnce = "both_at_once"
    /// 单机位长时间信号中断: one position lost longer than the threshold.
    case oneLong = "one_long"
    /// 多次信号中断: more interruptions than the threshold.
    case repeated
}

/// What devices measured (R33, R34): which positions, from when, how long,
/// how many interruptions.
public struct SignalLossEvidence: Codable, Sendable, Equatable {
    public var pattern: SignalLossPattern
    public var positions: [DevicePosition]
    public var lostAt: Date
    public var durationSeconds: Double?
    public var interruptions: Int?

    public init(pattern: SignalLossPattern, positions: [DevicePosition], lostAt: Date,
                durationSeconds: Double? = nil, interruptions: Int? = nil) {
        self.pattern = pattern
        self.positions = positions
        self.lostAt = lostAt
        self.durationSeconds = durationSeconds
        self.interruptions = interruptions
    }
}

/// A failed identity/room screening on entry (notice section 4(三)2(1),
/// R13): the checklist items that failed, as timing names them.
public struct ScreeningEvidence: Codable, Sendable, Equatable {
    public var sitting: Sitting
    public var failedItems: [String]
    public var screenedBy: String?

    public init(sitting: Sitting, failedItems: [String], screenedBy: String? = nil) {
        self.sitting = sitting
        self.failedItems = failedItems
        self.screenedBy = screenedBy
    }
}

/// A device rule of R32 that a phone broke, as devices names it.
public struct DeviceRuleEvidence: Codable, Sendable, Equatable {
    public var position: DevicePosition
    public var rule: String
    public var detail: String

    public init(position: DevicePosition, rule: String, detail: String) {
        self.position = position
        self.rule = rule
        self.detail = detail
    }
}

/// What an incident rests on (R41): always a text for people; references
/// into the recordings ("main@00:03:12"); and, from services, what they
/// measured.
public struct Evidence: Codable, Sendable, Equatable {
    public var text: String
    public var references: [String]
    public var signalLoss: SignalLossEvidence?
    public var screening: ScreeningEvidence?
    public var deviceRule: DeviceRuleEvidence?

    public init(text: String, references: [String] = [], signalLoss: SignalLossEvidence? = nil,
                screening: ScreeningEvidence? = nil, deviceRule: DeviceRuleEvidence? = nil) {
        self.text = text
        self.references = references
        self.signalLoss = signalLoss
        self.screening = screening
        self.deviceRule = deviceRule
    }
}

// MARK: The log

/// Where an incident came from (R41).
public enum IncidentSource: String, Codable, Sendable, Hashable, CaseIterable {
    case staff                          // a proctor or examiner, any ground
    case signalLoss = "devices.signal"  // devices, ground 9 (R34)
    case screening = "timing.screening" // timing, failed screening (R13)
    case deviceRule = "devices.rule"    // devices, a broken device rule (R32)
}

/// A reported incident: one entry of the append-only log (R41, R43). Never
/// edited once recorded; its decisions are separate entries.
public struct Incident: Codable, Sendable, Equatable, Identifiable {
    /// "INC-000001": derived from `seq`.
    public var id: String
    /// Position in the log, shared by incidents and decisions (R43).
    public var seq: Int
    public var examNumber: String
    public var ground: Ground
    public var source: IncidentSource
    public var sitting: Sitting?
    public var evidence: Evidence
    public var reporter: Principal
    /// When it happened (reporter's word), and when the core recorded it.
    public var occurredAt: Date
    public var reportedAt: Date
    /// The redelivery key (a service's "devices#123", or a staff client's
    /// request id scoped by reporter): the same key is recorded once (R41).
    public var dedupKey: String?
}

public enum Outcome: String, Codable, Sendable, Hashable, CaseIterable {
    case disqualify, dismiss

    public var opposite: Outcome { self == .disqualify ? .dismiss : .disqualify }
}

/// What a decision does to the candidate (R42), for timing and scoring.
public enum Effect: String, Codable, Sendable, Hashable, CaseIterable {
    /// A dismissal: nothing changes.
    case none
    /// Disqualified before the formal interview started: the interview
    /// qualification is cancelled (timing: no entry, removed from the room).
    case qualificationCancelled = "qualification_cancelled"
    /// Disqualified once the formal interview had started: the interview
    /// score is void (scoring), and timing removes the candidate if still in
    /// the room.
    case scoreVoided = "score_voided"
    /// A reversal lifted a disqualification; the event's standing says
    /// whether another disqualification still holds.
    case restored
}

/// A decision on an incident: one entry of the append-only log (R42, R43).
/// A reversal is a new decision that `supersedes` the one it reverses.
public struct Decision: Codable, Sendable, Equatable, Identifiable {
    /// "DEC-000002": derived from `seq`.
    public var id: String
    public var seq: Int
    public var incidentID: String
    public var examNumber: String
    public var outcome: Outcome
    public var reason: String
    public var decidedBy: Principal
    /// Taken by the system under `autoDecideGround9` / `autoDecideScreening`.
    public var automatic: Bool
    public var decidedAt: Date
    public var effect: Effect
    /// The decision this one reverses, if it is a reversal.
    public var supersedes: String?

    public var isReversal: Bool { supersedes != nil }
}

/// One entry of the log, in `seq` order (R43).
public enum LogEntry: Codable, Sendable, Equatable {
    case incident(Incident)
    case decision(Decision)

    public var seq: Int {
        switch self {
        case .incident(let i): return i.seq
        case .decision(let d): return d.seq
        }
    }
}

// MARK: Standing and status

/// Where a candidate stands after every decision so far (R42).
public enum Standing: String, Codable, Sendable, Hashable, CaseIterable {
    case qualified
    case qualificationCancelled = "qualification_cancelled"
    case scoreVoided = "score_voided"
}

public struct CandidateStanding: Codable, Sendable, Equatable {
    public var examNumber: String
    /// The effect of the earliest disqualification still in force, or
    /// qualified when none is.
    public var standing: Standing
    /// Every decision that disqualifies and has not been reversed, by seq.
    public var activeDisqualifications: [String]

    public init(examNumber: String, standing: Standing, activeDisqualifications: [String]) {
        self.examNumber = examNumber
        self.standing = standing
        self.activeDisqualifications = activeDisqualifications
    }
}

/// An incident's status: open until decided, then the outcome of its
/// latest decision.
public enum IncidentStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case open, disqualified, dismissed
}

/// A status to list incidents by.
public enum StatusFilter: String, Codable, Sendable, Hashable, CaseIterable {
    case open
    /// Decided, whatever the outcome.
    case decided
    case disqualified
    case dismissed
    /// Has at least one reversal in its history.
    case reversed
}

/// An incident with its decisions, oldest first: what queries return.
public struct IncidentRecord: Codable, Sendable, Equatable {
    public var incident: Incident
    public var decisions: [Decision]
    /// The candidate's incomplete recordings of the incident's sitting (R38),
    /// those during a signal loss first on a ground-9 incident.
    public var recordings: [RecordingIssue] = []

    public var current: Decision? { decisions.last }
    public var status: IncidentStatus {
        switch current?.outcome {
        case nil: return .open
        case .disqualify?: return .disqualified
        case .dismiss?: return .dismissed
        }
    }
    public var wasReversed: Bool { decisions.contains { $0.isReversal } }

    public func matches(_ filter: StatusFilter) -> Bool {
        switch filter {
        case .open: return status == .open
        case .decided: return status != .open
        case .disqualified: return status == .disqualified
        case .dismissed: return status == .dismissed
        case .reversed: return wasReversed
        }
    }
}

// MARK: Events and results

/// What happened, for the bus (topics `discipline.*`). The shell writes each
/// to its outbox in the transaction that stores the change.
public enum DisciplineEvent: Codable, Sendable, Equatable {
    /// discipline.incident.reported
    case incidentReported(incident: Incident)
    /// discipline.incident.decided: a first decision, by a chief examiner or
    /// automatic. `decision.effect` tells timing and scoring what to do.
    case incidentDecided(decision: Decision, standing: CandidateStanding)
    /// discipline.decision.reversed: `decision` supersedes `reversed`.
    case decisionReversed(decision: Decision, reversed: Decision, standing: CandidateStanding)

    public var topic: String {
        switch self {
        case .incidentReported: return "discipline.incident.reported"
        case .incidentDecided: return "discipline.incident.decided"
        case .decisionReversed: return "discipline.decision.reversed"
        }
    }
}

/// The answer to a report.
public struct ReportResult: Sendable, Equatable {
    /// The incident recorded, or the one recorded earlier under the same key.
    public var incident: Incident
    /// The automatic decision taken on it now, if any.
    public var decision: Decision?
    /// True when the report repeated an earlier one (same key, same
    /// content): nothing changed and `events` is empty.
    public var duplicate: Bool
    public var events: [DisciplineEvent]
}

/// The answer to a decision or a reversal.
public struct DecisionResult: Sendable, Equatable {
    public var decision: Decision
    public var standing: CandidateStanding
    public var events: [DisciplineEvent]
}
