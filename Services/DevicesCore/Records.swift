import Foundation
import ExamPlan

// What the devices service keeps across restarts (the shell stores each as
// a JSON document keyed by its id) and the values its events carry.

/// Where a device's signal stands (R33).
public enum SignalState: String, Codable, Sendable, Hashable {
    /// Registered, no heartbeat yet: not connected, not lost either.
    case awaiting
    /// Heard from within the loss timeout.
    case connected
    /// Silent for more than the loss timeout; the next heartbeat restores it.
    case lost
}

/// One interruption of a camera position's signal (R33, R35): from the
/// silent phone's last heartbeat until a heartbeat restores it. A call
/// (R35) is just an outage like any other.
public struct SignalOutage: Codable, Sendable, Equatable, Hashable {
    public var examNumber: String
    public var role: DeviceRole
    /// The phone that went silent.
    public var deviceID: String
    /// Its last heartbeat: the outage starts here.
    public var lastSeen: Date
    /// When the service declared it lost (more than the timeout later).
    public var detectedAt: Date
    /// The heartbeat that ended it; nil while it lasts.
    public var restoredAt: Date?
    /// The phone whose heartbeat ended it: another one when the silent phone
    /// was replaced (the outage belongs to the camera position).
    public var restoredBy: String?
    /// Set when the devices service itself restarted during the outage, or
    /// when `lastSeen` is the restart time (the real last heartbeat before
    /// a restart is not persisted). Ground 9 (b) counts an outage's length
    /// only from here, never the service's own downtime.
    public var serviceResumedAt: Date?

    public init(examNumber: String, role: DeviceRole, deviceID: String, lastSeen: Date, detectedAt: Date,
                restoredAt: Date? = nil, restoredBy: String? = nil, serviceResumedAt: Date? = nil) {
        self.examNumber = examNumber
        self.role = role
        self.deviceID = deviceID
        self.lastSeen = lastSeen
        self.detectedAt = detectedAt
        self.restoredAt = restoredAt
        self.restoredBy = restoredBy
        self.serviceResumedAt = serviceResumedAt
    }

    /// Length in seconds, last heartbeat to restoring heartbeat; nil while open.
    public var seconds: Double? { restoredAt.map { $0.timeIntervalSince(lastSeen) } }

    var text: String {
        let end = restoredAt.map { "\(Clock.hms($0)) (\(Self.format($0.timeIntervalSince(lastSeen))))" } ?? "still lost"
        return "\(role.rawValue) \(deviceID) lost \(Clock.hms(lastSeen))-\(end)"
    }

    static func format(_ s: Double) -> String { String(format: "%.3f s", s) }
}

/// A broken device rule on one device (R32).
public struct RuleBreach: Codable, Sendable, Equatable, Hashable {
    public var ruleID: String
    public var title: String
    public var severity: RuleSeverity
    /// The reported values that break it: "os=ios clientVersion=8.0.20".
    public var evidence: String
    /// Where the rule comes from.
    public var basis: String
    /// The status that first broke it.
    public var since: Date

    public init(ruleID: String, title: String, severity: RuleSeverity, evidence: String, basis: String, since: Date) {
        self.ruleID = ruleID
        self.title = title
        self.severity = severity
        self.evidence = evidence
        self.basis = basis
        self.since = since
    }
}

/// Whether a candidate's two phones let them enter (R11, R32): both
/// registered, both connected, no blocking rule broken. Timing asks it and
/// hears `fitnessChanged` when `fit` flips.
public struct Fitness: Codable, Sendable, Equatable, Hashable {
    public var examNumber: String
    public var fit: Bool
    /// Why not fit, one line each; empty when fit.
    public var reasons: [String]
    /// Broken warning rules: shown, never blocking.
    public var warnings: [String]

    public init(examNumber: String, fit: Bool, reasons: [String], warnings: [String]) {
        self.examNumber = examNumber
        self.fit = fit
        self.reasons = reasons
        self.warnings = warnings
    }
}

/// A candidate as the devices service knows them: from roster's events
/// (eligible or not) and their two phones.
public struct CandidateRecord: Codable, Sendable, Equatable {
    public var examNumber: String
    /// True only while confirmed (R3, R6): no registration otherwise.
    public var eligible: Bool
    /// Why not, in roster's words ("has not confirmed attendance", "declined", ...).
    public var ineligibleBecause: String?
    /// The device ids holding each role now.
    public var main: String?
    public var secondary: String?
    /// The fitness last reported (events only on change).
    public var fit: Bool
    /// Closed outages, oldest first, at most `outageHistoryLimit` per role.
    public var outages: [SignalOutage]

    public init(examNumber: String, eligible: Bool, main: String? = nil, secondary: String? = nil, fit: Bool = false,
                outages: [SignalOutage] = []) {
        self.examNumber = examNumber
        self.eligible = eligible
        self.main = main
        self.secondary = secondary
        self.fit = fit
        self.outages = outages
    }

    public func device(_ role: DeviceRole) -> String? { role == .main ? main : secondary }

    mutating func setDevice(_ role: DeviceRole, _ id: String?) {
        if role == .main { main = id } else { secondary = id }
    }
}

/// A phone's persistent record. Its last-seen time and latest status live
/// in memory only; the record changes (and is persisted) when its signal
/// state, its broken rules or its registration change.
public struct DeviceRecord: Codable, Sendable, Equatable {
    public var registration: DeviceRegistration
    /// Set when another phone took its role (R30 replacement); it then no
    /// longer reports.
    public var replacedBy: String?
    public var replacedAt: Date?
    public var signal: SignalState
    /// The outage going on now, if `signal` is lost.
    public var openOutage: SignalOutage?
    /// Broken rules by rule id.
    public var broken: [String: RuleBreach]
    /// The latest status known when the record last changed.
    public var status: DeviceStatus?

    public init(registration: DeviceRegistration, replacedBy: String? = nil, replacedAt: Date? = nil,
                signal: SignalState = .awaiting, openOutage: SignalOutage? = nil, broken: [String: RuleBreach] = [:],
                status: DeviceStatus? = nil) {
        self.registration = registration
        self.replacedBy = replacedBy
        self.replacedAt = replacedAt
        self.signal = signal
        self.openOutage = openOutage
        self.broken = broken
        self.status = status
    }

    public var active: Bool { replacedBy == nil }
    public var ref: DeviceRef { DeviceRef(deviceID: registration.deviceID, examNumber: registration.examNumber, role: registration.role) }
}

/// The three kinds of ground 9 (notice section 7, item 9; R34).
public enum Ground9Kind: String, Codable, Sendable, CaseIterable, Hashable, CodingKeyRepresentable {
    /// (a) 双机位信号同时中断: both phones lost at the same time.
    case bothLost
    /// (b) 单机位长时间信号中断: one phone lost longer than the threshold.
    case longOutage
    /// (c) 多次信号中断: more interruptions than the threshold.
    case tooManyInterruptions
}

/// One candidate's interview as timing announced it; ground 9 is judged
/// inside the formal one only (R34), each kind reported once.
public struct InterviewWatch: Codable, Sendable, Equatable {
    public var examNumber: String
    public var sitting: Sitting
    /// Timing's start (the 10-minute countdown, R14).
    public var started: Date
    /// Timing's end (R16, R17); nil while it runs.
    public var ended: Date?
    /// The kinds already reported, with when.
    public var reported: [Ground9Kind: Date]

    public init(examNumber: String, sitting: Sitting, started: Date, ended: Date? = nil, reported: [Ground9Kind: Date] = [:]) {
        self.examNumber = examNumber
        self.sitting = sitting
        self.started = started
        self.ended = ended
        self.reported = reported
    }

    /// The document key: "2022110001/formal".
    public static func key(_ examNumber: String, _ sitting: Sitting) -> String { "\(examNumber)/\(sitting.rawValue)" }
    public var key: String { Self.key(examNumber, sitting) }
}

/// A ground-9 incident for discipline (R34, R41), with its evidence.
public struct Ground9Incident: Codable, Sendable, Equatable, Hashable {
    public var examNumber: String
    public var kind: Ground9Kind
    /// The formal interview it happened in.
    public var interviewStarted: Date
    /// When the devices service found it.
    public var detectedAt: Date
    /// The outages involved (which phone, from when, until when, how long):
    /// (a) the two overlapping ones, (b) the long one, (c) every one counted.
    public var outages: [SignalOutage]
    /// (a): when both were lost, from and until (nil: still both lost).
    public var bothLostFrom: Date?
    public var bothLostUntil: Date?
    /// (b): seconds of the outage inside the interview (as of detection).
    public var lostSeconds: Double?
    /// (c): interruptions counted in the interview so far.
    public var interruptions: Int?
    /// The configured threshold exceeded ((b) seconds, (c) count; (a) 0).
    public var threshold: Double
    /// One line for people.
    public var summary: String

    /// Stable id of this detection ("2022110001/formal/bothLost"): each kind
    /// is reported once per formal interview, so discipline records it once.
    public var key: String { "\(InterviewWatch.key(examNumber, .formal))/\(kind.rawValue)" }

    /// The camera positions involved.
    public var roles: [DeviceRole] { DeviceRole.allCases.filter { r in outages.contains { $0.role == r } } }

    /// When the signal loss began: (a) when both were lost, (b) the long
    /// outage's last heartbeat, (c) the first counted outage's.
    public var lostAt: Date { bothLostFrom ?? outages.first?.lastSeen ?? detectedAt }

    /// How long: (a) both lost (nil while still both lost), (b) the outage
    /// inside the interview; nil for (c).
    public var lengthSeconds: Double? {
        switch kind {
        case .bothLost: return bothLostUntil.flatMap { u in bothLostFrom.map { u.timeIntervalSince($0) } }
        case .longOutage: return lostSeconds
        case .tooManyInterruptions: return nil
        }
    }

    public init(examNumber: String, kind: Ground9Kind, interviewStarted: Date, detectedAt: Date, outages: [SignalOutage],
                bothLostFrom: Date? = nil, bothLostUntil: Date? = nil, lostSeconds: Double? = nil, interruptions: Int? = nil,
                threshold: Double, summary: String) {
        self.examNumber = examNumber
        self.kind = kind
        self.interviewStarted = interviewStarted
        self.detectedAt = detectedAt
        self.outages = outages
        self.bothLostFrom = bothLostFrom
        self.bothLostUntil = bothLostUntil
        self.lostSeconds = lostSeconds
        self.interruptions = interruptions
        self.threshold = threshold
        self.summary = summary
    }
}

/// What the devices core reports (R21-style: every change is an event with
/// the time it happened). The shell publishes them on `topic`.
public enum DevicesEvent: Codable, Sendable, Equatable {
    /// A phone took a free role (R30).
    case deviceRegistered(registration: DeviceRegistration)
    /// The phone holding a role registered again with other details (a
    /// WeChat update, another account).
    case registrationRefreshed(registration: DeviceRegistration)
    /// A phone took the role of one without live signal (broken phone).
    case deviceReplaced(registration: DeviceRegistration, replacedDeviceID: String)
    /// A registered phone's first heartbeat.
    case deviceConnected(device: DeviceRef, at: Date)
    /// A rule started to be broken (R32).
    case ruleBroken(device: DeviceRef, breach: RuleBreach, inFormalInterview: Bool)
    /// A broken rule holds no more (R32).
    case ruleCleared(device: DeviceRef, breach: RuleBreach, clearedAt: Date, inFormalInterview: Bool)
    /// Silent for more than the loss timeout (R33).
    case signalLost(device: DeviceRef, lastSeen: Date, detectedAt: Date, inFormalInterview: Bool)
    /// A heartbeat ended an outage (R33, R35); `device` is the phone that sent it.
    case signalRestored(device: DeviceRef, outage: SignalOutage, inFormalInterview: Bool)
    /// The candidate's devices became fit or unfit to enter.
    case fitnessChanged(fitness: Fitness, at: Date)
    /// Ground 9 during the formal interview (R34), for discipline.
    case ground9(incident: Ground9Incident)

    /// The bus topic: `devices.<entity>.<what>`.
    public var topic: String {
        switch self {
        case .deviceRegistered: return "devices.device.registered"
        case .registrationRefreshed: return "devices.device.refreshed"
        case .deviceReplaced: return "devices.device.replaced"
        case .deviceConnected: return "devices.signal.connected"
        case .ruleBroken: return "devices.rule.broken"
        case .ruleCleared: return "devices.rule.cleared"
        case .signalLost: return "devices.signal.lost"
        case .signalRestored: return "devices.signal.restored"
        case .fitnessChanged: return "devices.fitness.changed"
        case .ground9: return "devices.ground9.detected"
        }
    }

    /// The candidate it concerns.
    public var examNumber: String {
        switch self {
        case .deviceRegistered(let r), .registrationRefreshed(let r), .deviceReplaced(let r, _): return r.examNumber
        case .deviceConnected(let d, _), .ruleBroken(let d, _, _), .ruleCleared(let d, _, _, _),
             .signalLost(let d, _, _, _), .signalRestored(let d, _, _): return d.examNumber
        case .fitnessChanged(let f, _): return f.examNumber
        case .ground9(let i): return i.examNumber
        }
    }
}

/// The documents changed since the shell last asked (`takeChanges()`): it
/// writes exactly these, in the same transaction as the events' outbox.
public struct DevicesChanges: Sendable, Equatable {
    public var candidates: Set<String> = []
    public var devices: Set<String> = []
    public var interviews: Set<String> = []

    public init() {}
    public var isEmpty: Bool { candidates.isEmpty && devices.isEmpty && interviews.isEmpty }
}
