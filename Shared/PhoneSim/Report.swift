import Foundation

// What the simulator did, for people and for the tests that compare it
// with what the services saw: every time is Unix milliseconds of this
// machine's clock (the services' clock too on one machine). Written as JSON
// with snake_case keys. Never carries passwords, tokens or ID numbers.

public struct PhoneSimReport: Codable, Sendable, Equatable {
    public var startedAtMs: Int64
    /// Every phone (but those refused on purpose) registered and beating.
    public var readyAtMs: Int64?
    public var stoppedAtMs: Int64
    /// "SIGTERM", "SIGINT", "finished" (linger over), or what failed.
    public var stopReason: String
    public var heartbeatMs: Int
    public var heartbeatsSent: Int
    public var heartbeatsRefused: Int
    public var batchesSent: Int
    public var batchesFailed: Int
    public var candidates: [CandidateReport]

    public init(startedAtMs: Int64, readyAtMs: Int64?, stoppedAtMs: Int64, stopReason: String, heartbeatMs: Int,
                heartbeatsSent: Int, heartbeatsRefused: Int, batchesSent: Int, batchesFailed: Int,
                candidates: [CandidateReport]) {
        self.startedAtMs = startedAtMs
        self.readyAtMs = readyAtMs
        self.stoppedAtMs = stoppedAtMs
        self.stopReason = stopReason
        self.heartbeatMs = heartbeatMs
        self.heartbeatsSent = heartbeatsSent
        self.heartbeatsRefused = heartbeatsRefused
        self.batchesSent = batchesSent
        self.batchesFailed = batchesFailed
        self.candidates = candidates
    }

    public func candidate(_ examNumber: String) -> CandidateReport? { candidates.first { $0.examNumber == examNumber } }

    public func write(to path: String) throws {
        try PhoneScenario.encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public static func load(path: String) throws -> PhoneSimReport {
        guard let data = FileManager.default.contents(atPath: path) else { throw ScenarioError("report \(path) cannot be read") }
        return try PhoneScenario.decoder.decode(PhoneSimReport.self, from: data)
    }
}

/// A refused or failed call: its gRPC status name and message.
public struct CallFailure: Codable, Sendable, Equatable {
    public var atMs: Int64
    public var code: String
    public var message: String

    public init(atMs: Int64, code: String, message: String) {
        self.atMs = atMs
        self.code = code
        self.message = message
    }
}

public struct CandidateReport: Codable, Sendable, Equatable {
    public var examNumber: String
    public var loggedInAtMs: Int64?
    public var loginFailures: [CallFailure] = []
    public var phones: [PhoneReport] = []
    public var entries: [EntryReport] = []
    public var interviews: [InterviewReport] = []
    public var faults: [FaultReport] = []
    /// The recordings the phones uploaded (R37), when the scenario has uploads.
    public var recordings: [RecordingReport] = []
    /// Anything else that did not go as scripted.
    public var errors: [String] = []

    public init(examNumber: String) { self.examNumber = examNumber }

    public func phone(_ role: PhoneRole) -> PhoneReport? { phones.first { $0.role == role } }
    public func interview(_ sitting: SittingChoice) -> InterviewReport? { interviews.first { $0.sitting == sitting } }
    public func recording(_ sitting: SittingChoice, _ role: PhoneRole) -> RecordingReport? {
        recordings.first { $0.sitting == sitting && $0.role == role }
    }
}

/// One phone's upload of one interview's recording (R37).
public struct RecordingReport: Codable, Sendable, Equatable {
    public var sitting: SittingChoice
    public var role: PhoneRole
    public var recordingId: String?
    /// Chunks (and their bytes) recordings answered OK.
    public var chunksStored: Int = 0
    public var bytesStored: Int64 = 0
    /// Chunks sent again after an error (GetUpload said where to go on).
    public var resends: Int = 0
    public var finished = false
    /// Media not recorded (no signal, a stall): from, to (server ms).
    public var gaps: [MediaSpan] = []
    /// An upload fault played on it ("unfinished", "stall").
    public var scripted: [String] = []
    public var failures: [CallFailure] = []

    public init(sitting: SittingChoice, role: PhoneRole) {
        self.sitting = sitting
        self.role = role
    }
}

public struct MediaSpan: Codable, Sendable, Equatable {
    public var fromMs: Int64
    public var toMs: Int64
}

public struct PhoneReport: Codable, Sendable, Equatable {
    public var role: PhoneRole
    public var deviceId: String
    public var account: String
    public var os: PhoneOS
    public var clientVersion: String
    public var registeredAtMs: Int64?
    /// Refusals of RegisterDevice (a banned WeChat version, R32) and
    /// attempts before devices knew the candidate was confirmed.
    public var registrationFailures: [CallFailure] = []
    public var heartbeatsSent: Int = 0
    public var heartbeatsRefused: Int = 0
    public var lastRefusal: String?
}

public struct EntryReport: Codable, Sendable, Equatable {
    public var sitting: SittingChoice
    public var channel: PhoneRole
    public var deviceId: String
    /// Entered (or re-entered after a call, R18) at.
    public var atMs: Int64?
    public var reentry: Bool
    public var attempts: Int
    public var failure: CallFailure?
}

public struct InterviewReport: Codable, Sendable, Equatable {
    public var sitting: SittingChoice
    public var roomId: String
    public var startedAtMs: Int64
    public var endsAtMs: Int64
    public var questionRevealedAtMs: Int64?
    public var answeringAtMs: Int64?
    public var endedAtMs: Int64?
    /// timing's reason: "time_up", "ended_early", "room_ended".
    public var endReason: String?
    /// The simulator pressed "end interview" (R17) at.
    public var endRequestedAtMs: Int64?
    public var failures: [String] = []
}

/// A fault as it was played: when it started and ended, and the phones'
/// last heartbeat before and first after it (the outage devices should see).
public struct FaultReport: Codable, Sendable, Equatable {
    public var kind: FaultScript.Kind
    public var roles: [PhoneRole]
    public var anchor: FaultScript.Anchor
    public var at: Double
    public var seconds: Double?
    /// When the anchor happened (the interview's server start, or readiness).
    public var anchorAtMs: Int64?
    public var startedAtMs: Int64?
    public var endedAtMs: Int64?
    public var lastHeartbeatBeforeMs: [RoleTime] = []
    public var firstHeartbeatAfterMs: [RoleTime] = []
    /// What happened besides (a refused registration, the rejoin after a call).
    public var notes: [String] = []
    /// Not played, or not to the end, and why.
    public var failure: String?

    public func lastBefore(_ role: PhoneRole) -> Int64? { lastHeartbeatBeforeMs.first { $0.role == role }?.atMs }
    public func firstAfter(_ role: PhoneRole) -> Int64? { firstHeartbeatAfterMs.first { $0.role == role }?.atMs }
}

public struct RoleTime: Codable, Sendable, Equatable {
    public var role: PhoneRole
    public var atMs: Int64
}
