import ExamPlan
import Foundation

/// What changed (R21 style: every transition is an event with server time).
/// Returned by every successful operation; an empty array means the call was
/// a harmless replay and nothing changed. Payloads never carry a full ID
/// number.
public enum ScoringEvent: Codable, Sendable, Equatable {
    // Facts learned from other services.
    case candidateRecorded(examNumber: String, postCode: String)
    case postRecorded(postCode: String, name: String, places: Int)
    case candidateStatusChanged(examNumber: String, status: RosterStatus)
    case planRecorded(exam: String, rooms: Int)
    case attendanceRecorded(examNumber: String, attendance: FormalAttendance)
    case disqualified(decisionID: String, examNumber: String, effect: DisqualificationEffect, voidedInterviewScore: Points?)
    case reinstated(decisionID: String, examNumber: String, restoredInterviewScore: Points?)

    // Scoring (R50-R55).
    case panelScoreSubmitted(examNumber: String, examinerID: String, score: Points, at: Date)
    /// The examiner changed their own score before the seal (R50).
    case panelScoreRevised(examNumber: String, examinerID: String, from: Points, to: Points, at: Date)
    case interviewScoreSealed(examNumber: String, roomID: String, interviewScore: Points, totalScore: Points, by: String, at: Date)
    /// A logged correction (R55).
    case panelScoreCorrected(correctionID: Int, examNumber: String, examinerID: String, from: Points?, to: Points,
                             reason: String, by: String, at: Date)
    case interviewScoreRecomputed(examNumber: String, from: Points, to: Points, at: Date)
    /// A version of the public lists; read them from `state.publications[version]`.
    case listsPublished(version: Int, at: Date, by: String, reason: String?, draws: [TieDraw])
    case configChanged(by: String, at: Date)
    /// recordings checked a candidate's formal interview (R38).
    case recordingsChecked(examNumber: String, incomplete: [String])

    /// The bus topic (hierarchical, `scoring.*`; as protos/exam/v1/scoring.proto
    /// names them where it does).
    public var topic: String {
        switch self {
        case .candidateRecorded: return "scoring.candidate.recorded"
        case .postRecorded: return "scoring.post.recorded"
        case .candidateStatusChanged: return "scoring.candidate.status"
        case .planRecorded: return "scoring.plan.recorded"
        case .attendanceRecorded: return "scoring.attendance.recorded"
        case .disqualified: return "scoring.score.voided"
        case .reinstated: return "scoring.score.restored"
        case .panelScoreSubmitted: return "scoring.score.submitted"
        case .panelScoreRevised: return "scoring.score.revised"
        case .interviewScoreSealed: return "scoring.interview.sealed"
        case .panelScoreCorrected: return "scoring.corrected"
        case .interviewScoreRecomputed: return "scoring.interview.recomputed"
        case .listsPublished: return "scoring.published"
        case .configChanged: return "scoring.config.changed"
        case .recordingsChecked: return "scoring.recordings.checked"
        }
    }
}
