import ExamPlan
import Foundation

// The durable entities of the scoring service. Each lives in a dictionary of
// `ScoringState` keyed by its id, so the shell stores each changed entity as
// one JSON document.

/// A candidate as roster announces it (R1): the input of `recordCandidate`.
/// The ID number is checked (GB 11643-1999) and only its masked form is kept:
/// scoring never needs, stores or shows the full number (R55).
public struct CandidateFact: Codable, Sendable, Equatable {
    public var examNumber: String
    public var name: String
    /// The ID number, masked as roster publishes it ("370202********123X"),
    /// or in full (then checked and masked here; never stored in full).
    public var idNumber: String
    public var postCode: String
    public var postName: String
    /// Written score, "78.50" (0-100, two decimals).
    public var writtenScore: String
    /// The post's places (招聘人数), which size the physical-exam list (R54).
    public var places: Int

    public init(examNumber: String, name: String, idNumber: String, postCode: String, postName: String,
                writtenScore: String, places: Int) {
        self.examNumber = examNumber
        self.name = name
        self.idNumber = idNumber
        self.postCode = postCode
        self.postName = postName
        self.writtenScore = writtenScore
        self.places = places
    }
}

/// Roster's word on a candidate (R3, R5).
public enum RosterStatus: String, Codable, Sendable, Equatable {
    /// Imported, neither confirmed nor declined yet.
    case pending
    case confirmed
    /// Declined = gave up the post (R3).
    case declined
    /// Did not confirm in the window (R5).
    case forfeited
}

/// Timing's word on the formal sitting (R12, R16). The mock test is never
/// recorded here (R19: it scores nothing).
public enum FormalAttendance: Codable, Sendable, Equatable {
    /// The formal interview ended (countdown at zero or "end interview").
    case interviewed(endedAt: Date)
    /// No main-room entry by the close of the formal entry window: forfeits
    /// the interview (R12).
    case absent(at: Date)
}

/// A post (岗位) and its places.
public struct Post: Codable, Sendable, Equatable {
    public var code: String
    public var name: String
    public var places: Int
}

/// One examiner's score for one candidate (R50).
public struct PanelScore: Codable, Sendable, Equatable {
    public var examinerID: String
    public var score: Points
    public var submittedAt: Date
    /// Times the examiner changed it before the seal (not a logged correction).
    public var revisions: Int
}

/// The sealed interview score (R50): the trimmed mean of the whole panel.
public struct InterviewSeal: Codable, Sendable, Equatable {
    public var score: Points
    public var droppedLow: [Points]
    public var droppedHigh: [Points]
    /// The examiners whose scores were averaged: the room's panel at sealing.
    public var panel: [String]
    public var sealedAt: Date
    /// Actor id, or "auto" when `sealWhenPanelComplete` sealed it.
    public var sealedBy: String
    /// Set when a logged correction recomputed the score (R55).
    public var recomputedAt: Date?
}

/// Everything scoring knows about one candidate; keyed by exam number.
public struct ScoringCandidate: Codable, Sendable, Equatable {
    public var examNumber: String
    public var name: String
    /// First 6 and last 4 characters shown (R55).
    public var maskedID: String
    public var postCode: String
    public var writtenScore: Points
    public var status: RosterStatus
    public var attendance: FormalAttendance?
    /// Keyed by examiner id.
    public var panelScores: [String: PanelScore]
    public var seal: InterviewSeal?
    /// recordings' check of the formal interview (R38): its incomplete
    /// recordings ("secondary (unfinished)"); nil before the check, empty
    /// when both are complete.
    public var recordingsIncomplete: [String]? = nil

    public var interviewed: Bool {
        if case .interviewed = attendance { return true }
        return false
    }

    public var absent: Bool {
        if case .absent = attendance { return true }
        return false
    }
}

/// What a disqualification does (R42): before the interview it cancels the
/// interview qualification; after it, it voids the interview score. Both
/// take the candidate out of the ranking (R52); the scores stay on record.
public enum DisqualificationEffect: String, Codable, Sendable, Equatable {
    case cancelledQualification
    case scoreVoided
}

/// A disqualification decision as discipline announces it: the input of
/// `recordDisqualification`.
public struct DisqualificationFact: Codable, Sendable, Equatable {
    public var decisionID: String
    public var examNumber: String
    public var effect: DisqualificationEffect
    /// The notice's section 7 ground, 1-10 (R40), if any.
    public var ground: Int?
    public var reason: String
    public var decidedAt: Date

    public init(decisionID: String, examNumber: String, effect: DisqualificationEffect, ground: Int?, reason: String,
                decidedAt: Date) {
        self.decisionID = decisionID
        self.examNumber = examNumber
        self.effect = effect
        self.ground = ground
        self.reason = reason
        self.decidedAt = decidedAt
    }
}

/// A disqualification on record; keyed by decision id. Kept after a
/// reversal, with the reversal, so the record always says why.
public struct Disqualification: Codable, Sendable, Equatable {
    public var fact: DisqualificationFact
    /// The interview score it voided, if one was sealed when it arrived.
    public var voidedInterviewScore: Points?
    public var recordedAt: Date
    public var reversal: Reversal?

    public var active: Bool { reversal == nil }

    /// "decision D7 (ground 6)"
    var label: String { "decision \(fact.decisionID)" + (fact.ground.map { " (ground \($0))" } ?? "") }
}

public struct Reversal: Codable, Sendable, Equatable {
    public var reason: String
    public var at: Date
}

/// A logged correction (R55): kept forever, never edited.
public struct CorrectionRecord: Codable, Sendable, Equatable {
    public var id: Int
    public var examNumber: String
    public var examinerID: String
    /// nil when the examiner had no score yet.
    public var from: Points?
    public var to: Points
    public var reason: String
    public var by: String
    public var at: Date
    /// The sealed interview score before and after (nil when not sealed).
    public var interviewBefore: Points?
    public var interviewAfter: Points?
    /// The publication this correction produced, if scores were published.
    public var publicationVersion: Int?
}

/// One version of the published lists (R55); keyed by version (1, 2, ...).
/// The lists are a frozen snapshot: later changes make a new version.
public struct Publication: Codable, Sendable, Equatable {
    public var version: Int
    public var exam: String
    public var publishedAt: Date
    public var by: String
    /// nil for the first publication; why it was republished otherwise.
    public var reason: String?
    /// The draw seed recorded at the first publication (R53).
    public var drawSeed: UInt64
    public var lists: PublicLists
    /// R38: recordings incomplete when it was published ("2 recordings
    /// incomplete: ..."); a warning for the chief and ops, not a refusal.
    public var recordingsWarning: String? = nil
}
