import ExamPlan
import Foundation

/// Why a candidate has no rank (R52). The first that applies, in this order.
public enum UnrankedReason: String, Codable, Sendable, Equatable {
    case declined
    case forfeited
    /// Disqualified before the interview (R42).
    case qualificationCancelled
    /// Disqualified after it: the interview score is void (R42, R52).
    case scoreVoided
    /// Absent from the formal sitting (R12).
    case absent
    /// Only before publication: timing has not reported the interview yet.
    case notYetInterviewed
    /// Only before publication: the interview score is not sealed yet.
    case notYetSealed

    /// The remark on the public list (the lists are published in Chinese).
    public var remark: String {
        switch self {
        case .declined: return "放弃面试"
        case .forfeited: return "未确认，视为放弃"
        case .qualificationCancelled: return "取消面试资格"
        case .scoreVoided: return "面试成绩无效"
        case .absent: return "缺考"
        case .notYetInterviewed, .notYetSealed: return "成绩待定"
        }
    }
}

/// A ranked candidate of a post (R53, R54).
public struct RankingEntry: Codable, Sendable, Equatable {
    public var examNumber: String
    public var name: String
    public var maskedID: String
    public var writtenScore: Points
    public var interviewScore: Points
    public var totalScore: Points
    /// 1 = best. Candidates still equal after every rule share a rank
    /// (standard competition ranking: 1, 2, 2, 4).
    public var rank: Int
    /// Others of the post with the same total.
    public var tiedOnTotalWith: [String]
    /// The rule that placed this candidate among those tied on total.
    public var tieBrokenBy: TieBreaker?
    /// A draw is configured but its seed is not recorded yet (before the
    /// first publication): the rank is shared for now.
    public var drawPending: Bool
    /// False when the interview score is below `minimumInterviewScore`.
    public var eligibleForPhysicalExam: Bool
    public var onPhysicalExamList: Bool
}

public struct UnrankedCandidate: Codable, Sendable, Equatable {
    public var examNumber: String
    public var name: String
    public var maskedID: String
    public var writtenScore: Points
    public var reason: UnrankedReason
}

/// A post's ranking, live (or as frozen in a publication's lists).
public struct PostRanking: Codable, Sendable, Equatable {
    public var postCode: String
    public var postName: String
    public var places: Int
    /// places x the configured ratio (R54).
    public var physicalExamSlots: Int
    public var entries: [RankingEntry]
    public var unranked: [UnrankedCandidate]
    public var draws: [TieDraw]
    /// True when candidates sharing a rank straddle the last slot: all of
    /// them are on the list, which is then longer than its slots (only when
    /// no draw is configured, or before the seed is recorded).
    public var physicalExamOverflow: Bool
}

extension ScoringState {
    /// Active disqualifications by exam number, the earliest decision first.
    func activeDisqualifications() -> [String: [Disqualification]] {
        var out: [String: [Disqualification]] = [:]
        for d in disqualifications.values where d.active { out[d.fact.examNumber, default: []].append(d) }
        return out.mapValues {
            $0.sorted { ($0.fact.decidedAt, $0.fact.decisionID) < ($1.fact.decidedAt, $1.fact.decisionID) }
        }
    }

    func unrankedReason(_ c: ScoringCandidate, _ dq: [String: [Disqualification]]) -> UnrankedReason? {
        switch c.status {
        case .declined: return .declined
        case .forfeited: return .forfeited
        case .pending, .confirmed: break
        }
        if let d = dq[c.examNumber]?.first {
            return d.fact.effect == .cancelledQualification ? .qualificationCancelled : .scoreVoided
        }
        if c.absent { return .absent }
        if !c.interviewed { return .notYetInterviewed }
        if c.seal == nil { return .notYetSealed }
        return nil
    }

    /// R53, R54: rank one post with the current scores and `seed` (nil: draws
    /// pending).
    func computeRanking(_ post: Post, seed: UInt64?, _ dq: [String: [Disqualification]]) -> PostRanking {
        struct Scored { var c: ScoringCandidate; var interview: Points; var total: Points; var key: [Int64] }
        let rules = config.tieBreakers.filter { $0 != .draw }
        let drawConfigured = config.tieBreakers.last == .draw
        var scored: [Scored] = []
        var unranked: [UnrankedCandidate] = []
        for c in candidates.values where c.postCode == post.code {
            if let reason = unrankedReason(c, dq) {
                unranked.append(UnrankedCandidate(examNumber: c.examNumber, name: c.name, maskedID: c.maskedID,
                                                  writtenScore: c.writtenScore, reason: reason))
                continue
            }
            let interview = c.seal!.score
            let total = config.total(written: c.writtenScore, interview: interview)
            let key = [total.hundredths] + rules.map { $0 == .higherWrittenScore ? c.writtenScore.hundredths : interview.hundredths }
            scored.append(Scored(c: c, interview: interview, total: total, key: key))
        }
        unranked.sort { $0.examNumber < $1.examNumber }
        // Descending by total, then by each rule; exam number only fixes the
        // order of display inside a shared rank.
        scored.sort { a, b in
            a.key != b.key ? a.key.lexicographicallyPrecedes(b.key, by: >) : a.c.examNumber < b.c.examNumber
        }

        var entries: [RankingEntry] = []
        var draws: [TieDraw] = []
        var i = 0
        while i < scored.count {
            var j = i + 1
            while j < scored.count && scored[j].key == scored[i].key { j += 1 }
            var group = Array(scored[i..<j])
            var shared = false
            if group.count > 1 {
                if drawConfigured, let seed {
                    let draw = TieDraw(postCode: post.code, tied: group.map(\.c.examNumber), seed: seed)
                    draws.append(draw)
                    let position = Dictionary(uniqueKeysWithValues: draw.order.enumerated().map { ($1, $0) })
                    group.sort { position[$0.c.examNumber]! < position[$1.c.examNumber]! }
                } else {
                    shared = true
                }
            }
            for (k, e) in group.enumerated() {
                let eligible = config.minimumInterviewScore.map { e.interview >= $0 } ?? true
                entries.append(RankingEntry(
                    examNumber: e.c.examNumber, name: e.c.name, maskedID: e.c.maskedID, writtenScore: e.c.writtenScore,
                    interviewScore: e.interview, totalScore: e.total, rank: shared ? i + 1 : i + 1 + k,
                    tiedOnTotalWith: [], tieBrokenBy: nil, drawPending: shared && drawConfigured,
                    eligibleForPhysicalExam: eligible, onPhysicalExamList: false))
            }
            i = j
        }

        // Which rule separated each candidate from the others on the same
        // total: the deepest rule needed against any of them.
        let keys = Dictionary(uniqueKeysWithValues: scored.map { ($0.c.examNumber, $0.key) })
        for idx in entries.indices {
            let me = entries[idx]
            let peers = entries.filter { $0.totalScore == me.totalScore && $0.examNumber != me.examNumber }
            entries[idx].tiedOnTotalWith = peers.map(\.examNumber).sorted()
            guard !peers.isEmpty else { continue }
            let mine = keys[me.examNumber]!
            var level = 0
            for p in peers {
                let theirs = keys[p.examNumber]!
                let differs = (1..<mine.count).first { mine[$0] != theirs[$0] }.map { $0 - 1 } ?? rules.count
                level = max(level, differs)
            }
            if level < rules.count {
                entries[idx].tieBrokenBy = rules[level]
            } else if drawConfigured && seed != nil {
                entries[idx].tieBrokenBy = .draw
            }
        }

        // R54: the best eligible candidates up to the post's slots; a shared
        // rank on the last slot takes everyone sharing it.
        let slots = config.physicalExamRatio.slots(forPlaces: post.places)
        var filled = 0
        var overflow = false
        var idx = 0
        while idx < entries.count && filled < slots {
            var end = idx + 1
            while end < entries.count && entries[end].rank == entries[idx].rank { end += 1 }
            let eligible = (idx..<end).filter { entries[$0].eligibleForPhysicalExam }
            if filled + eligible.count > slots { overflow = true }
            for e in eligible { entries[e].onPhysicalExamList = true }
            filled += eligible.count
            idx = end
        }

        return PostRanking(postCode: post.code, postName: post.name, places: post.places, physicalExamSlots: slots,
                           entries: entries, unranked: unranked, draws: draws, physicalExamOverflow: overflow)
    }

    func computeRankings(seed: UInt64?) -> [PostRanking] {
        let dq = activeDisqualifications()
        return posts.values.sorted { $0.code < $1.code }.map { computeRanking($0, seed: seed, dq) }
    }

    /// The public lists (R55) from rankings: every roster candidate with their
    /// scores or why they have none; the physical-exam list per post.
    func computeLists(seed: UInt64?) -> PublicLists {
        var totals: [TotalScoreRow] = []
        var physical: [PhysicalExamRow] = []
        var draws: [TieDraw] = []
        for r in computeRankings(seed: seed) {
            for e in r.entries {
                let remark: String
                if e.onPhysicalExamList {
                    remark = "进入体检"
                } else if !e.eligibleForPhysicalExam, let m = config.minimumInterviewScore {
                    remark = "面试成绩低于\(m)分"
                } else {
                    remark = ""
                }
                totals.append(TotalScoreRow(examNumber: e.examNumber, name: e.name, maskedID: e.maskedID,
                                            postCode: r.postCode, postName: r.postName, writtenScore: e.writtenScore,
                                            interviewScore: e.interviewScore, totalScore: e.totalScore, rank: e.rank,
                                            remark: remark))
                if e.onPhysicalExamList {
                    physical.append(PhysicalExamRow(postCode: r.postCode, postName: r.postName, rank: e.rank,
                                                    examNumber: e.examNumber, name: e.name, maskedID: e.maskedID,
                                                    writtenScore: e.writtenScore, interviewScore: e.interviewScore,
                                                    totalScore: e.totalScore))
                }
            }
            for u in r.unranked {
                totals.append(TotalScoreRow(examNumber: u.examNumber, name: u.name, maskedID: u.maskedID,
                                            postCode: r.postCode, postName: r.postName, writtenScore: u.writtenScore,
                                            interviewScore: nil, totalScore: nil, rank: nil, remark: u.reason.remark))
            }
            draws += r.draws
        }
        return PublicLists(totalScores: totals, physicalExam: physical, draws: draws)
    }
}

/// A row of the public total-score list (进入面试人员总成绩). Never the full ID.
public struct TotalScoreRow: Codable, Sendable, Equatable {
    public var examNumber: String
    public var name: String
    public var maskedID: String
    public var postCode: String
    public var postName: String
    public var writtenScore: Points
    /// nil when absent, declined, forfeited, disqualified (R52).
    public var interviewScore: Points?
    public var totalScore: Points?
    public var rank: Int?
    public var remark: String

    // "maskedId" so that snake_case JSON ("masked_id") decodes back.
    enum CodingKeys: String, CodingKey {
        case examNumber, name, maskedID = "maskedId", postCode, postName, writtenScore, interviewScore, totalScore, rank, remark
    }

    /// Absent scores and ranks are written as null, not left out, so every
    /// row of the public JSON has the same keys.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(examNumber, forKey: .examNumber)
        try c.encode(name, forKey: .name)
        try c.encode(maskedID, forKey: .maskedID)
        try c.encode(postCode, forKey: .postCode)
        try c.encode(postName, forKey: .postName)
        try c.encode(writtenScore, forKey: .writtenScore)
        try c.encode(interviewScore, forKey: .interviewScore)
        try c.encode(totalScore, forKey: .totalScore)
        try c.encode(rank, forKey: .rank)
        try c.encode(remark, forKey: .remark)
    }
}

/// A row of the physical-exam list (进入体检人员名单).
public struct PhysicalExamRow: Codable, Sendable, Equatable {
    public var postCode: String
    public var postName: String
    public var rank: Int
    public var examNumber: String
    public var name: String
    public var maskedID: String
    public var writtenScore: Points
    public var interviewScore: Points
    public var totalScore: Points

    enum CodingKeys: String, CodingKey {
        case postCode, postName, rank, examNumber, name, maskedID = "maskedId", writtenScore, interviewScore, totalScore
    }
}

/// The two public lists (R55), by post code, then rank, then the unranked
/// by exam number; and the draws that decided ties.
public struct PublicLists: Codable, Sendable, Equatable {
    public var totalScores: [TotalScoreRow]
    public var physicalExam: [PhysicalExamRow]
    public var draws: [TieDraw]
}
