import Foundation
import ExamPlan

/// A candidate as subscribers see it: never the full ID number (masked), no
/// phone, no password material.
public struct CandidateFacts: Codable, Sendable, Equatable {
    public var examNumber: String
    public var name: String
    public var maskedIDNumber: String
    public var postCode: String
    public var postName: String
    public var writtenScore: Points
    public var status: CandidateStatus
}

public struct PostFacts: Codable, Sendable, Equatable, Hashable {
    public var code: String
    public var name: String
    public var places: Int
}

/// The document an event changed, so the shell persists exactly that.
public enum RosterDocument: Hashable, Sendable {
    /// `state.candidates[examNumber]`; nil there means delete it.
    case candidate(String)
    /// `state.posts[code]`.
    case post(String)
    /// `state.meta` (plan, the window's closing).
    case meta
}

/// Every change of the roster, published on `topic`. No event carries a
/// password, a hash, a salt, a session token or digest, or a full ID number.
public enum RosterEvent: Codable, Sendable, Equatable {
    // R1
    case postDefined(post: PostFacts, at: Date)
    case postUpdated(post: PostFacts, previous: PostFacts, at: Date)
    case candidateImported(candidate: CandidateFacts, source: String, at: Date)
    /// `changed` names the fields: name, id_number, phone, post_code, written_score.
    case candidateUpdated(candidate: CandidateFacts, changed: [String], source: String, at: Date)
    case candidateRemoved(examNumber: String, postCode: String, reason: String, by: String, at: Date)
    // R2
    case loggedIn(examNumber: String, sessionExpires: Date, at: Date)
    case loggedOut(examNumber: String, at: Date)
    case loginFailed(examNumber: String, consecutiveFailures: Int, attemptsLeft: Int, at: Date)
    case accountLocked(examNumber: String, consecutiveFailures: Int, until: Date, at: Date)
    case passwordChanged(examNumber: String, sessionsEnded: Int, at: Date)
    // R3, R4
    case photoUploaded(examNumber: String, postCode: String, photo: PhotoFacts,
                       checksPassed: [IdentityCheck], checksOpen: [IdentityCheck], at: Date)
    case identityApproved(examNumber: String, postCode: String, decision: IdentityDecision, status: CandidateStatus)
    /// `statusAfter`: imported while the window is open (a confirmation is
    /// withdrawn: upload again), forfeited after it (a `forfeited` follows).
    case identityRejected(examNumber: String, postCode: String, decision: IdentityDecision,
                          statusBefore: CandidateStatus, statusAfter: CandidateStatus)
    case confirmed(examNumber: String, postCode: String, identity: IdentityStage, at: Date)
    case declined(examNumber: String, postCode: String, reason: String?, at: Date)
    // R5, R6
    /// `at`: when the rule took effect (the window's end for R5);
    /// `recordedAt`: the server time it was processed (later after downtime).
    case forfeited(examNumber: String, postCode: String, reason: ForfeitReason, detail: String, at: Date, recordedAt: Date)
    // meta
    case planApplied(exam: String, confirmation: TimeWindow, at: Date)
    case confirmationClosed(window: TimeWindow, forfeited: Int, confirmed: Int, declined: Int, recordedAt: Date)

    /// The candidate the event is about, if any.
    public var examNumber: String? {
        switch self {
        case .candidateImported(let c, _, _), .candidateUpdated(let c, _, _, _): return c.examNumber
        case .candidateRemoved(let e, _, _, _, _), .loggedIn(let e, _, _), .loggedOut(let e, _),
             .loginFailed(let e, _, _, _), .accountLocked(let e, _, _, _), .passwordChanged(let e, _, _),
             .photoUploaded(let e, _, _, _, _, _), .identityApproved(let e, _, _, _),
             .identityRejected(let e, _, _, _, _), .confirmed(let e, _, _, _), .declined(let e, _, _, _),
             .forfeited(let e, _, _, _, _, _):
            return e
        case .postDefined, .postUpdated, .planApplied, .confirmationClosed: return nil
        }
    }

    /// The document to persist for this event.
    public var document: RosterDocument {
        switch self {
        case .postDefined(let p, _), .postUpdated(let p, _, _): return .post(p.code)
        case .planApplied, .confirmationClosed: return .meta
        default: return .candidate(examNumber!)
        }
    }

    /// The bus topic (`roster.candidate.confirmed`, ...).
    public var topic: String {
        switch self {
        case .postDefined: return "roster.post.defined"
        case .postUpdated: return "roster.post.updated"
        case .candidateImported: return "roster.candidate.imported"
        case .candidateUpdated: return "roster.candidate.updated"
        case .candidateRemoved: return "roster.candidate.removed"
        case .loggedIn: return "roster.account.logged_in"
        case .loggedOut: return "roster.account.logged_out"
        case .loginFailed: return "roster.account.login_failed"
        case .accountLocked: return "roster.account.locked"
        case .passwordChanged: return "roster.account.password_changed"
        case .photoUploaded: return "roster.candidate.photo_uploaded"
        case .identityApproved: return "roster.candidate.identity_approved"
        case .identityRejected: return "roster.candidate.identity_rejected"
        case .confirmed: return "roster.candidate.confirmed"
        case .declined: return "roster.candidate.declined"
        case .forfeited: return "roster.candidate.forfeited"
        case .planApplied: return "roster.plan.applied"
        case .confirmationClosed: return "roster.confirmation.closed"
        }
    }
}

extension Array where Element == RosterEvent {
    /// The documents these events changed, each once.
    public var changedDocuments: Set<RosterDocument> { Set(map(\.document)) }
}
