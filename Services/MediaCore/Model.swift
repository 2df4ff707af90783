import ExamPlan
import Foundation

/// Whose room (R11): the notice's 主房间 is the main phone's, 副房间 the
/// secondary phone's. Each phone publishes into a Janus room of its own.
public enum PhoneSide: String, Codable, Sendable, CaseIterable, Hashable {
    case main, secondary

    public var chinese: String { self == .main ? "主机位" : "副机位" }
}

/// Who holds a grant (R62: the role comes from the gateway's verified session).
public enum Holder: String, Codable, Sendable, Hashable {
    case candidate, proctor, examiner, chief
}

/// What a participant may publish in a room (R64, R65).
public enum Send: String, Codable, Sendable, Hashable {
    /// Joins only to subscribe (Janus needs a publisher's private id to subscribe).
    case none
    /// The phone: its camera and microphone.
    case camera
    /// A proctor: the microphone only, in a candidate's main room (R14's announcements).
    case voice
}

/// What a participant subscribes to in a room.
public enum Receive: String, Codable, Sendable, Hashable {
    /// The secondary phone plays nothing (speaker muted, R30).
    case none
    /// Staff: the phone's picture and sound.
    case phone
    /// The main phone: the proctors' voice.
    case staffVoice
}

public struct MediaError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The bus's codes, by their case names (see RPCCode(coreName:)).
    public enum Code: String, Sendable {
        case invalidArgument, notFound, failedPrecondition, permissionDenied
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code.rawValue): \(message)" }
}

public struct MediaConfig: Codable, Sendable, Equatable {
    /// How long a grant's tokens admit a join (a grant is short-lived, R65):
    /// then they leave the room's allowed list; a participant that joined stays.
    public var joinSeconds: Double = 30
    /// Ended grants are kept this long (events and ops' questions), then forgotten.
    public var keepEndedSeconds: Double = 6 * 3600
    public init(joinSeconds: Double = 30, keepEndedSeconds: Double = 6 * 3600) {
        self.joinSeconds = joinSeconds
        self.keepEndedSeconds = keepEndedSeconds
    }
}

/// One phone's Janus room of one sitting.
public struct MediaRoom: Codable, Sendable, Equatable {
    public var examNumber: String
    public var roomID: String
    public var sitting: Sitting
    public var side: PhoneSide
    /// The VideoRoom id on Janus (below 2^53: browsers read it as a number).
    public var janusRoom: UInt64
    /// The room's secret (edits, kicks, destroy): only media knows it.
    public var secret: String
    public var createdAt: Date
    /// False once the candidate's live time is over (interview ended,
    /// disqualified, the room's sitting ended): the room is to be destroyed.
    public var live: Bool
    /// Janus confirmed the destroy (or never had it): nothing left to do.
    public var gone: Bool

    public var key: String { Self.key(examNumber, sitting, side) }
    public static func key(_ exam: String, _ sitting: Sitting, _ side: PhoneSide) -> String { "\(exam)|\(sitting.rawValue)|\(side.rawValue)" }
}

/// One room a grant admits to.
public struct Access: Codable, Sendable, Equatable {
    public var roomKey: String
    public var janusRoom: UInt64
    public var side: PhoneSide
    public var token: String
    public var feedID: UInt64
    public var display: String
    public var send: Send
    public var receive: Receive
}

public struct Grant: Codable, Sendable, Equatable {
    public var id: String
    /// The exam number (phones) or the staff id.
    public var holder: String
    public var role: Holder
    public var examNumber: String
    public var roomID: String
    public var sitting: Sitting
    /// Phone grants: which phone (and its device id); staff grants: nil.
    public var side: PhoneSide?
    public var deviceID: String?
    public var basis: String
    public var issuedAt: Date
    public var joinBy: Date
    public var accesses: [Access]
    /// The tokens left the rooms' allowed lists (join window over or grant ended).
    public var tokensWithdrawn: Bool = false
    public var endedAt: Date?
    public var endReason: String?

    public var live: Bool { endedAt == nil }
}

/// What timing says of the candidate's sitting (GetCandidateState), and
/// discipline through it: the facts a grant is decided on.
public struct CandidateFacts: Sendable, Equatable {
    public var examNumber: String
    public var roomID: String
    public var sitting: Sitting
    /// timing's status: awaiting_entry, waiting, interviewing, interviewed, absent, not_eligible, not_interviewed.
    public var status: String
    public var inMainRoom: Bool
    public var inSecondaryRoom: Bool
    public var mainDevice: String
    public var secondaryDevice: String
    public var disqualified: Bool
    /// The interview has started and not ended (reading or answering).
    public var interviewRunning: Bool

    public init(examNumber: String, roomID: String, sitting: Sitting, status: String, inMainRoom: Bool = false,
                inSecondaryRoom: Bool = false, mainDevice: String = "", secondaryDevice: String = "",
                disqualified: Bool = false, interviewRunning: Bool = false) {
        self.examNumber = examNumber
        self.roomID = roomID
        self.sitting = sitting
        self.status = status
        self.inMainRoom = inMainRoom
        self.inSecondaryRoom = inSecondaryRoom
        self.mainDevice = mainDevice
        self.secondaryDevice = secondaryDevice
        self.disqualified = disqualified
        self.interviewRunning = interviewRunning
    }

    func entered(_ side: PhoneSide) -> Bool { side == .main ? inMainRoom : inSecondaryRoom }
    func device(_ side: PhoneSide) -> String { side == .main ? mainDevice : secondaryDevice }
}

/// The plan's word on who works in the candidate's exam room (R62).
public struct RoomStaff: Sendable, Equatable {
    public var roomID: String
    public var proctors: [String]
    /// Examiner ids, and which of them is the chief.
    public var panel: [String]
    public var chiefs: [String]
    public init(roomID: String, proctors: [String], panel: [String], chiefs: [String]) {
        self.roomID = roomID
        self.proctors = proctors
        self.panel = panel
        self.chiefs = chiefs
    }
}

/// Random values the shell draws for a grant (the core has no randomness).
public struct Fresh: Sendable {
    public var grantID: String
    /// Tokens and room secrets: at least 128 bits each, as text.
    public var secrets: [String]
    /// Janus room and feed ids in 1..<2^53.
    public var ids: [UInt64]
    public init(grantID: String, secrets: [String], ids: [UInt64]) {
        self.grantID = grantID
        self.secrets = secrets
        self.ids = ids
    }
}

/// What the shell does on Janus for the core.
public enum JanusEffect: Sendable, Equatable {
    /// Make (or re-make after a Janus restart) the room with these allowed tokens.
    case ensure(MediaRoom, allowed: [String])
    case allow(janusRoom: UInt64, secret: String, tokens: [String])
    case disallow(janusRoom: UInt64, secret: String, tokens: [String])
    case kick(janusRoom: UInt64, secret: String, feedID: UInt64)
    case destroy(roomKey: String, janusRoom: UInt64, secret: String)
}

/// What media publishes.
public enum MediaEvent: Sendable, Equatable {
    case issued(Grant)
    case ended(Grant)
}

/// A participant as Janus listed it.
public struct ObservedParticipant: Sendable, Equatable, Codable {
    public var feedID: UInt64
    public var display: String
    public var publishing: Bool
    public init(feedID: UInt64, display: String, publishing: Bool) {
        self.feedID = feedID
        self.display = display
        self.publishing = publishing
    }
}
