import Foundation
import ExamPlan

/// Where a candidate stands in the workflow (R3-R6).
///
///     imported --upload--> photoUploaded --confirm--> confirmed
///        ^                     |   ^ (upload again)       |
///        +---- identity rejected while the window is open +
///     imported / photoUploaded / confirmed --decline--> declined   (R3)
///     imported / photoUploaded --window end--> forfeited            (R5)
///     confirmed --identity rejected after the window--> forfeited   (R4)
///
/// Declined and forfeited are final (R6).
public enum CandidateStatus: String, Codable, Sendable, CaseIterable, Hashable {
    case imported
    case photoUploaded = "photo_uploaded"
    case confirmed
    case declined
    case forfeited

    /// R6: a final status never changes again.
    public var isFinal: Bool { self == .declined || self == .forfeited }
    /// Only confirmed candidates go on to the mock test and the interview.
    public var mayEnterRooms: Bool { self == .confirmed }
}

public enum ForfeitReason: String, Codable, Sendable, Hashable {
    /// R5: not confirmed when the confirmation window ended.
    case confirmationWindowClosed = "confirmation_window_closed"
    /// R4: the identity check rejected a confirmed candidate after the window.
    case identityRejected = "identity_rejected"
}

/// A changed password: only a salt and a slow hash (R2). The scheme names the
/// hash and its parameters so a later shell can tell which one made it.
public struct StoredPassword: Codable, Sendable, Equatable {
    public var scheme: String
    public var salt: [UInt8]
    public var hash: [UInt8]
    public var changedAt: Date
}

/// The login side of a candidate (R2). The user name is the candidate's phone.
public struct Account: Codable, Sendable, Equatable {
    /// nil: the password is still the default (the ID number's last six
    /// characters), which is never stored: it is derived from the ID number
    /// the roster must hold anyway (R1).
    public var password: StoredPassword?
    /// Consecutive wrong passwords since the last success or lock.
    public var consecutiveFailures: Int = 0
    public var lockedUntil: Date?
    /// Session token digests (the shell keeps the tokens' SHA-256, never the
    /// tokens) and when each expires.
    public var sessions: [String: Date] = [:]
    public var lastLoginAt: Date?

    public init() {}
}

public enum PhotoFormat: String, Codable, Sendable, Hashable {
    case jpeg, png
}

/// What the bytes of an uploaded photo are (R4), judged from the bytes.
public struct PhotoFacts: Codable, Sendable, Equatable, Hashable {
    public var format: PhotoFormat
    public var width: Int
    public var height: Int
    public var byteCount: Int
    /// Lower-case hex SHA-256 of the bytes, computed by the shell; the shell
    /// stores the bytes under it.
    public var sha256: String
    /// The name the client gave; never used to judge the format.
    public var fileName: String
    /// False when the name's extension says another format (a PNG named
    /// .jpg): noted for the reviewer, not a refusal.
    public var fileNameAgrees: Bool
}

/// The checks of the identity record (R4).
public enum IdentityCheck: String, Codable, Sendable, Hashable, CaseIterable {
    /// The bytes are a well-formed JPEG or PNG.
    case realImage = "real_image"
    case fileSize = "file_size"
    case pixelSize = "pixel_size"
    /// Three-component JPEG, or true-colour PNG (type 2 or 6).
    case colour
    /// Not byte-identical to another candidate's photo.
    case notDuplicate = "not_duplicate"
    /// The name / ID number read off the card (by the client) match the roster.
    case cardNameMatchesRoster = "card_name_matches_roster"
    case cardIDMatchesRoster = "card_id_matches_roster"
    /// The face on the card is the candidate's (backend or reviewer).
    case faceMatchesCard = "face_matches_card"
}

/// Who decided an identity check (R4): a face-comparison backend over the
/// bus, or a proctor clearing the review queue.
public enum IdentityDecider: Codable, Sendable, Equatable, Hashable {
    case backend(name: String)
    case reviewer(id: String)
}

public struct IdentityDecision: Codable, Sendable, Equatable {
    public var approved: Bool
    public var decider: IdentityDecider
    /// The backend's similarity score, if it gave one.
    public var score: Points?
    public var reason: String?
    public var at: Date
    /// The photo decided on.
    public var photoSHA256: String
}

/// R4 "say which in the record": where the identity check stands.
public enum IdentityStage: String, Codable, Sendable, Hashable {
    case awaitingReview = "awaiting_review"
    case approvedByBackend = "approved_by_backend"
    case rejectedByBackend = "rejected_by_backend"
    case approvedByReviewer = "approved_by_reviewer"
    case rejectedByReviewer = "rejected_by_reviewer"
}

/// The identity record of the candidate's current photo (R4).
public struct IdentityRecord: Codable, Sendable, Equatable {
    public var photo: PhotoFacts
    public var uploadedAt: Date
    /// Checks that passed (an upload failing an automatic check is refused
    /// and leaves no record).
    public var checksPassed: [IdentityCheck]
    /// Checks no machine made yet: left to the backend or the reviewer.
    public var checksOpen: [IdentityCheck]
    /// nil: waiting in the review queue (and for a backend, if one is wired).
    public var decision: IdentityDecision?

    public var stage: IdentityStage {
        guard let d = decision else { return .awaitingReview }
        switch (d.decider, d.approved) {
        case (.backend, true): return .approvedByBackend
        case (.backend, false): return .rejectedByBackend
        case (.reviewer, true): return .approvedByReviewer
        case (.reviewer, false): return .rejectedByReviewer
        }
    }

    public var isRejected: Bool { decision?.approved == false }
}

/// One candidate of the qualified list (R1) with account and confirmation.
/// Stored as one document keyed by exam number.
public struct Candidate: Codable, Sendable, Equatable {
    public var examNumber: String
    public var name: String
    /// Canonical (upper-case X). Shown only masked outside the roster.
    public var idNumber: String
    public var phone: String
    public var postCode: String
    public var writtenScore: Points
    /// "list.csv line 12": the import row that last set the data.
    public var source: String
    public var importedAt: Date
    public var updatedAt: Date

    public var status: CandidateStatus = .imported
    public var statusChangedAt: Date
    public var confirmedAt: Date?
    public var declinedAt: Date?
    public var declineReason: String?
    public var forfeitedAt: Date?
    public var forfeitReason: ForfeitReason?

    public var identity: IdentityRecord?
    /// The decision on the photo that a new upload replaced.
    public var lastRejection: IdentityDecision?

    public var account = Account()

    public var maskedIDNumber: String { ResidentID.mask(idNumber) }
}

/// A post (岗位) of the notice with its number of places (R54 uses it).
public struct Post: Codable, Sendable, Equatable, Hashable {
    public var code: String
    public var name: String
    public var places: Int
    public var updatedAt: Date
}

/// When the confirmation window's end was processed (R5): once, for good.
public struct ConfirmationClosure: Codable, Sendable, Equatable {
    public var window: TimeWindow
    /// The server time it ran: later than `window.closes` after downtime.
    public var recordedAt: Date
    public var forfeited: Int
}

/// The roster's single document besides candidates and posts.
public struct RosterMeta: Codable, Sendable, Equatable {
    /// From timing's `timing.plan.published` (R3 takes its window from it).
    public var plan: ExamPlan?
    public var planAppliedAt: Date?
    public var closure: ConfirmationClosure?

    public init(plan: ExamPlan? = nil, planAppliedAt: Date? = nil, closure: ConfirmationClosure? = nil) {
        self.plan = plan
        self.planAppliedAt = planAppliedAt
        self.closure = closure
    }
}
