import ExamPlan
import Foundation

/// A candidate who should have a sealed interview score before publication
/// and does not (R55).
public struct MissingScore: Codable, Sendable, Equatable, CustomStringConvertible {
    public enum Problem: String, Codable, Sendable, Equatable {
        /// Not placed in any room of the plan.
        case notPlaced
        /// Timing reported neither the end of the formal interview nor absence.
        case notInterviewed
        /// Some examiners of the panel have not scored.
        case scoresMissing
        /// Every examiner scored; nobody sealed.
        case notSealed
    }

    public var examNumber: String
    public var roomID: String?
    public var problem: Problem
    public var missingExaminers: [String]

    /// "2022110003 (room R02): no score yet from E12, E13"
    public var description: String {
        let at = "\(examNumber) (room \(roomID ?? "none"))"
        switch problem {
        case .notPlaced: return "\(at): not placed in any room of the exam plan"
        case .notInterviewed: return "\(at): not interviewed yet (timing has reported neither the interview's end nor absence)"
        case .scoresMissing: return "\(at): no score yet from \(missingExaminers.joined(separator: ", "))"
        case .notSealed: return "\(at): every examiner has scored, the interview score is not sealed"
        }
    }
}

/// Everything about one candidate's scores (for staff and the candidate;
/// the ID number is masked).
public struct CandidateScores: Codable, Sendable, Equatable {
    public struct ExaminerScore: Codable, Sendable, Equatable {
        public var examinerID: String
        public var examinerName: String
        /// nil: not scored yet.
        public var score: Points?
        public var submittedAt: Date?
        /// The sealed trimmed mean dropped this score (R50). Among equal
        /// scores at an end, the one earlier in the panel's order is marked;
        /// the value dropped is the same either way.
        public var dropped: Bool
    }

    public var examNumber: String
    public var name: String
    public var maskedID: String
    public var postCode: String
    public var postName: String
    public var writtenScore: Points
    public var status: RosterStatus
    public var attendance: FormalAttendance?
    public var roomID: String?
    /// In the panel's order (from the plan).
    public var panel: [ExaminerScore]
    /// The seal as recorded, even when a disqualification voids it.
    public var seal: InterviewSeal?
    /// The interview score that counts: nil while unsealed or voided (R52).
    public var interviewScore: Points?
    public var totalScore: Points?
    public var rank: Int?
    public var unrankedReason: UnrankedReason?
    public var eligibleForPhysicalExam: Bool
    public var onPhysicalExamList: Bool
    /// Active and reversed, the record of why (R43).
    public var disqualifications: [Disqualification]
    public var corrections: [CorrectionRecord]
}

extension ScoringState {
    /// Who still lacks a sealed interview score: every roster candidate who
    /// is not declined, forfeited, disqualified or absent (R52) and has no
    /// seal, by exam number. Empty means `publish` may go ahead.
    public func missingBeforePublication() -> [MissingScore] {
        let dq = activeDisqualifications()
        var out: [MissingScore] = []
        for c in candidates.values.sorted(by: { $0.examNumber < $1.examNumber }) {
            guard c.seal == nil, c.status != .declined, c.status != .forfeited, dq[c.examNumber] == nil, !c.absent else { continue }
            let room = plan?.room(of: c.examNumber)
            if !c.interviewed {
                out.append(MissingScore(examNumber: c.examNumber, roomID: room?.id, problem: room == nil ? .notPlaced : .notInterviewed,
                                        missingExaminers: []))
            } else if let room {
                let missing = missingExaminers(c, room)
                out.append(MissingScore(examNumber: c.examNumber, roomID: room.id, problem: missing.isEmpty ? .notSealed : .scoresMissing,
                                        missingExaminers: missing))
            } else {
                out.append(MissingScore(examNumber: c.examNumber, roomID: nil, problem: .notPlaced, missingExaminers: []))
            }
        }
        return out
    }

    /// One candidate's scores: each examiner's, the interview score, total,
    /// rank (live; after publication identical to the latest version).
    public func candidateScores(examNumber: String) throws -> CandidateScores {
        guard let c = candidates[examNumber] else {
            throw ScoringError.notFound("candidate \(examNumber) is not on the roster scoring knows")
        }
        let dq = activeDisqualifications()
        let post = posts[c.postCode]!
        let ranking = computeRanking(post, seed: drawSeed, dq)
        let entry = ranking.entries.first { $0.examNumber == examNumber }
        let room = plan?.room(of: examNumber)
        var dropped = Set<String>()
        if let seal = c.seal {
            // Stable sort by score keeps panel order among equal scores.
            let order = seal.panel.enumerated().sorted {
                (c.panelScores[$0.element]!.score, $0.offset) < (c.panelScores[$1.element]!.score, $1.offset)
            }.map(\.element)
            dropped.formUnion(order.prefix(seal.droppedLow.count))
            let high = order.dropFirst(seal.droppedLow.count)
            let byHigh = high.enumerated().sorted {
                (c.panelScores[$0.element]!.score, -$0.offset) > (c.panelScores[$1.element]!.score, -$1.offset)
            }.map(\.element)
            dropped.formUnion(byHigh.prefix(seal.droppedHigh.count))
        }
        var panel = room?.panel.map {
            CandidateScores.ExaminerScore(examinerID: $0.id, examinerName: $0.name, score: c.panelScores[$0.id]?.score,
                                          submittedAt: c.panelScores[$0.id]?.submittedAt, dropped: dropped.contains($0.id))
        } ?? []
        // Scores from examiners the current plan does not list (cannot happen
        // while plan changes are guarded, but the record must show them).
        for s in c.panelScores.values.sorted(by: { $0.examinerID < $1.examinerID }) where !panel.contains(where: { $0.examinerID == s.examinerID }) {
            panel.append(CandidateScores.ExaminerScore(examinerID: s.examinerID, examinerName: s.examinerID, score: s.score,
                                                       submittedAt: s.submittedAt, dropped: false))
        }
        return CandidateScores(
            examNumber: c.examNumber, name: c.name, maskedID: c.maskedID, postCode: c.postCode, postName: post.name,
            writtenScore: c.writtenScore, status: c.status, attendance: c.attendance, roomID: room?.id, panel: panel,
            seal: c.seal, interviewScore: entry?.interviewScore, totalScore: entry?.totalScore, rank: entry?.rank,
            unrankedReason: entry == nil ? unrankedReason(c, dq) : nil,
            eligibleForPhysicalExam: entry?.eligibleForPhysicalExam ?? false, onPhysicalExamList: entry?.onPhysicalExamList ?? false,
            disqualifications: disqualifications.values.filter { $0.fact.examNumber == examNumber }
                .sorted { ($0.fact.decidedAt, $0.fact.decisionID) < ($1.fact.decidedAt, $1.fact.decisionID) },
            corrections: corrections.values.filter { $0.examNumber == examNumber }.sorted { $0.id < $1.id })
    }

    /// A post's ranking (R53, R54), live. Before publication, ties that need
    /// the draw share a rank and say `drawPending`.
    public func ranking(postCode: String) throws -> PostRanking {
        guard let post = posts[postCode] else { throw ScoringError.notFound("post \(postCode) is not on the roster scoring knows") }
        return computeRanking(post, seed: drawSeed, activeDisqualifications())
    }

    /// Every post's ranking, by post code.
    public func rankings() -> [PostRanking] { computeRankings(seed: drawSeed) }

    /// The lists as they would be published now (a preview before
    /// publication; equal to the latest version's lists after it).
    public func currentLists() -> PublicLists { computeLists(seed: drawSeed) }

    /// A published version, or the latest when `version` is nil.
    public func publication(version: Int? = nil) throws -> Publication {
        if let version {
            guard let p = publications[version] else { throw ScoringError.notFound("publication version \(version) does not exist") }
            return p
        }
        guard let p = latestPublication else { throw ScoringError.precondition("the scores are not published yet") }
        return p
    }
}
