import Bus
import ExamContracts
import ExamPlan
import Foundation
import ScoringCore
import ServiceKit

/// The core's values as protos/exam/v1/scoring.proto has them.
enum ScoringWire {
    static func actor(_ info: CallInfo) throws -> ScoringActor {
        let role: ScoringActor.Role
        switch info.principal.role {
        case .examiner: role = .examiner
        case .chiefExaminer: role = .chiefExaminer
        case .ops: role = .ops
        case .service: role = .service
        default:
            throw RPCError.permissionDenied("scoring acts for examiners, chief examiners and ops; \(info.principal) may not")
        }
        guard !info.principal.id.isEmpty else { throw RPCError.permissionDenied("the call says who acts (actor id) ") }
        return ScoringActor(id: info.principal.id, role: role)
    }

    static func rosterStatus(_ s: CandidateStatus) -> ScoringCore.RosterStatus {
        switch s {
        case .confirmed: .confirmed
        case .declined: .declined
        case .forfeited: .forfeited
        default: .pending
        }
    }

    static func text(_ p: Points?) -> String { p?.description ?? "" }

    static func standing(_ c: ScoringCore.CandidateScores) -> String {
        if let r = c.unrankedReason {
            switch r {
            case .declined: return "declined"
            case .forfeited: return "forfeited"
            case .qualificationCancelled: return "disqualified"
            case .scoreVoided: return "score_voided"
            case .absent: return "absent"
            case .notYetInterviewed: return "waiting"
            case .notYetSealed: return "interviewed"
            }
        }
        return c.rank != nil ? "ranked" : "interviewed"
    }

    static func scores(_ state: ScoringState, _ examNumber: String) throws -> ExamContracts.CandidateScores {
        let c = try ScoringShell.op { try state.candidateScores(examNumber: examNumber) }
        return ExamContracts.CandidateScores(
            examNumber: c.examNumber, name: c.name, postCode: c.postCode, writtenScore: c.writtenScore.description,
            panel: c.panel.map { PanelScore(examinerId: $0.examinerID, score: text($0.score), submittedAtMs: $0.submittedAt?.unixMs ?? 0) },
            interviewScore: text(c.interviewScore), totalScore: text(c.totalScore), rank: UInt32(c.rank ?? 0),
            sealed: c.seal != nil, standing: standing(c), onPhysicalExamList: c.onPhysicalExamList,
            dropped: c.panel.filter(\.dropped).map(\.examinerID))
    }

    static func ranking(_ r: PostRanking) -> RankingView {
        RankingView(
            postCode: r.postCode, postName: r.postName, places: UInt32(r.places),
            ranked: r.entries.map { e in
                RankedCandidate(rank: UInt32(e.rank), examNumber: e.examNumber, name: e.name, idNumberMasked: e.maskedID,
                                writtenScore: e.writtenScore.description, interviewScore: e.interviewScore.description,
                                totalScore: e.totalScore.description, onPhysicalExamList: e.onPhysicalExamList,
                                tieBreak: e.tieBrokenBy.map { $0.rawValue + (e.drawPending ? " (draw pending until publication)" : "") }
                                    ?? (e.drawPending ? "draw pending until publication" : ""))
            },
            unranked: r.unranked.map { "\($0.examNumber): \($0.reason.rawValue)" })
    }

    static func publication(_ p: Publication) -> PublicationView {
        PublicationView(version: UInt32(p.version), publishedAtMs: p.publishedAt.unixMs,
                        candidates: UInt32(p.lists.totalScores.count), physicalExam: UInt32(p.lists.physicalExam.count),
                        reason: p.reason ?? "", recordingsWarning: p.recordingsWarning ?? "")
    }

    /// An interview's incomplete recordings as publication's warning names
    /// them: "main (gap 5.1 s, signal lost)", "secondary (unfinished)".
    static func incompleteRecordings(_ c: InterviewCompleteness) -> [String] {
        [DeviceRole.main, .secondary].compactMap { role in
            let mine = c.problems.filter { $0.role == role }
            guard !mine.isEmpty else { return nil }
            let why = mine.map { p in
                guard p.kind == "gap", let g = p.gap else { return p.kind }
                return String(format: "gap %.1f s", Double(g.lengthMs) / 1000) + (g.duringSignalLoss ? ", signal lost" : "")
            }
            return "\(role == .main ? "main" : "secondary") (\(why.joined(separator: "; ")))"
        }
    }

    /// The bus topic and payload for a core event; nil for bookkeeping that
    /// only mirrors other services' events.
    static func payload(_ e: ScoringEvent, _ s: ScoringState) -> (String, any ProtoMessage)? {
        switch e {
        case .candidateRecorded, .postRecorded, .candidateStatusChanged, .planRecorded, .attendanceRecorded, .configChanged,
             .recordingsChecked:
            return nil
        case .disqualified(let id, let exam, let effect, let voided):
            return (e.topic, ScoreEvent(examNumber: exam, interviewScore: text(voided),
                                        reason: "\(effect.rawValue) by decision \(id)", atMs: Date().unixMs))
        case .reinstated(let id, let exam, let restored):
            return (e.topic, ScoreEvent(examNumber: exam, interviewScore: text(restored), reason: "decision \(id) reversed", atMs: Date().unixMs))
        case .panelScoreSubmitted(let exam, let examiner, let score, let at):
            return (e.topic, ScoreEvent(examNumber: exam, examinerId: examiner, score: score.description, atMs: at.unixMs))
        case .panelScoreRevised(let exam, let examiner, let from, let to, let at):
            return (e.topic, ScoreEvent(examNumber: exam, examinerId: examiner, score: to.description,
                                        reason: "revised from \(from)", atMs: at.unixMs))
        case .interviewScoreSealed(let exam, _, let interview, let total, let by, let at):
            return (e.topic, ScoreEvent(examNumber: exam, examinerId: by, interviewScore: interview.description,
                                        totalScore: total.description, atMs: at.unixMs))
        case .panelScoreCorrected(_, let exam, let examiner, _, let to, let reason, _, let at):
            return (e.topic, ScoreEvent(examNumber: exam, examinerId: examiner, score: to.description, reason: reason, atMs: at.unixMs))
        case .interviewScoreRecomputed(let exam, let from, let to, let at):
            return (e.topic, ScoreEvent(examNumber: exam, interviewScore: to.description, reason: "recomputed from \(from)", atMs: at.unixMs))
        case .listsPublished(let version, _, _, _, _):
            guard let p = s.publications[version] else { return nil }
            return (e.topic, PublicationEvent(publication: publication(p)))
        }
    }
}
