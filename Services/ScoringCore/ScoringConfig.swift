import ExamPlan
import Foundation

/// A rule that orders candidates of a post with equal total scores (R53).
public enum TieBreaker: String, Codable, Sendable, Hashable, CaseIterable {
    /// The higher written score ranks first (the SPEC's default).
    case higherWrittenScore
    /// The higher interview score ranks first.
    case higherInterviewScore
    /// A recorded, reproducible draw (`TieDraw`); only as the last rule.
    case draw
}

/// How many physical-exam places per post place (R54): `candidates`
/// candidates for every `places` places, 1:1 by default.
public struct PhysicalExamRatio: Codable, Sendable, Equatable, Hashable {
    public var places: Int
    public var candidates: Int

    public init(places: Int = 1, candidates: Int = 1) {
        self.places = places
        self.candidates = candidates
    }

    /// The list's length for a post: places x candidates / places-per-ratio,
    /// rounded half up (1:1.5 with 3 places = 4.5 -> 5).
    public func slots(forPlaces n: Int) -> Int {
        Int(Points.divide(Int64(n) * Int64(candidates), by: Int64(places)))
    }
}

/// What ops configure for scoring. Every field has the SPEC's default, and a
/// JSON document may leave any of them out.
public struct ScoringConfig: Codable, Sendable, Equatable {
    /// R50: how many scores are dropped from each end (one highest and one
    /// lowest by default)...
    public var trimEachEnd: Int
    /// ...once the panel has at least this many examiners (5 by default):
    /// a 3- or 4-examiner panel averages every score, because dropping two of
    /// three would leave one examiner's score as the interview score.
    public var trimFromPanelSize: Int
    /// R51: weights in whole percent, summing to 100 (50/50 by default).
    public var writtenWeight: Int
    public var interviewWeight: Int
    /// An optional minimum interview score (nil = none). Below it the
    /// candidate still gets a total and a rank, but is not eligible for the
    /// physical-exam list; the next eligible candidate takes the place.
    public var minimumInterviewScore: Points?
    /// R53: applied in order after the total; `.draw`, if present, last.
    /// Candidates still equal after every rule share a rank.
    public var tieBreakers: [TieBreaker]
    /// R54: 1:1 by default.
    public var physicalExamRatio: PhysicalExamRatio
    /// R50: when true, the last panel score of an interviewed candidate seals
    /// the interview score at once. Off by default: examiners may correct
    /// their own scores until the chief examiner (or ops) seals, which is how
    /// a typo found when the sheet is read back gets fixed without a logged
    /// correction.
    public var sealWhenPanelComplete: Bool

    public init(trimEachEnd: Int = 1, trimFromPanelSize: Int = 5, writtenWeight: Int = 50, interviewWeight: Int = 50,
                minimumInterviewScore: Points? = nil, tieBreakers: [TieBreaker] = [.higherWrittenScore, .draw],
                physicalExamRatio: PhysicalExamRatio = PhysicalExamRatio(), sealWhenPanelComplete: Bool = false) {
        self.trimEachEnd = trimEachEnd
        self.trimFromPanelSize = trimFromPanelSize
        self.writtenWeight = writtenWeight
        self.interviewWeight = interviewWeight
        self.minimumInterviewScore = minimumInterviewScore
        self.tieBreakers = tieBreakers
        self.physicalExamRatio = physicalExamRatio
        self.sealWhenPanelComplete = sealWhenPanelComplete
    }

    enum CodingKeys: String, CodingKey {
        case trimEachEnd, trimFromPanelSize, writtenWeight, interviewWeight, minimumInterviewScore, tieBreakers,
             physicalExamRatio, sealWhenPanelComplete
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ScoringConfig()
        trimEachEnd = try c.decodeIfPresent(Int.self, forKey: .trimEachEnd) ?? d.trimEachEnd
        trimFromPanelSize = try c.decodeIfPresent(Int.self, forKey: .trimFromPanelSize) ?? d.trimFromPanelSize
        writtenWeight = try c.decodeIfPresent(Int.self, forKey: .writtenWeight) ?? d.writtenWeight
        interviewWeight = try c.decodeIfPresent(Int.self, forKey: .interviewWeight) ?? d.interviewWeight
        minimumInterviewScore = try c.decodeIfPresent(Points.self, forKey: .minimumInterviewScore)
        tieBreakers = try c.decodeIfPresent([TieBreaker].self, forKey: .tieBreakers) ?? d.tieBreakers
        physicalExamRatio = try c.decodeIfPresent(PhysicalExamRatio.self, forKey: .physicalExamRatio) ?? d.physicalExamRatio
        sealWhenPanelComplete = try c.decodeIfPresent(Bool.self, forKey: .sealWhenPanelComplete) ?? d.sealWhenPanelComplete
    }

    /// Every problem, each naming the field; empty means valid.
    public func problems() -> [String] {
        var out: [String] = []
        if !(0...10).contains(trimEachEnd) { out.append("trimEachEnd: \(trimEachEnd) is not between 0 and 10") }
        if trimFromPanelSize < 2 * max(trimEachEnd, 0) + 1 {
            out.append("trimFromPanelSize: \(trimFromPanelSize) would leave no score to average after dropping \(trimEachEnd) from each end (needs at least \(2 * max(trimEachEnd, 0) + 1))")
        }
        if !(0...100).contains(writtenWeight) { out.append("writtenWeight: \(writtenWeight) is not between 0 and 100") }
        if !(0...100).contains(interviewWeight) { out.append("interviewWeight: \(interviewWeight) is not between 0 and 100") }
        if writtenWeight + interviewWeight != 100 {
            out.append("writtenWeight + interviewWeight: \(writtenWeight) + \(interviewWeight) = \(writtenWeight + interviewWeight), not 100 (R51)")
        }
        if let m = minimumInterviewScore, !Check.scale.contains(m) {
            out.append("minimumInterviewScore: \(m) is not between 0.00 and 100.00")
        }
        if Set(tieBreakers).count != tieBreakers.count { out.append("tieBreakers: a rule is listed twice") }
        if let i = tieBreakers.firstIndex(of: .draw), i != tieBreakers.count - 1 {
            out.append("tieBreakers: draw must be the last rule (nothing can follow a draw)")
        }
        if !(1...100).contains(physicalExamRatio.places) || !(1...100).contains(physicalExamRatio.candidates) {
            out.append("physicalExamRatio: \(physicalExamRatio.places):\(physicalExamRatio.candidates) needs both sides between 1 and 100")
        }
        return out
    }

    /// R51: written x writtenWeight% + interview x interviewWeight%, computed
    /// in hundredths x 100 and rounded once, half up, to hundredths.
    /// Example: 70.25 and 85.26 at 50/50: (7025 x 50 + 8526 x 50) / 100 =
    /// 7775.5 hundredths -> 7776 = 77.76.
    public func total(written: Points, interview: Points) -> Points {
        let exact = written.hundredths * Int64(writtenWeight) + interview.hundredths * Int64(interviewWeight)
        return Points(hundredths: Points.divide(exact, by: 100))
    }

    /// R50: the trimmed mean of a complete panel's scores, two decimals, half
    /// up: sorted ascending, `trimEachEnd` dropped from each end when the
    /// panel has at least `trimFromPanelSize` scores.
    public func interviewScore(_ scores: [Points]) -> TrimmedMean {
        let sorted = scores.sorted()
        let drop = sorted.count >= trimFromPanelSize && sorted.count > 2 * trimEachEnd ? trimEachEnd : 0
        let kept = Array(sorted[drop..<(sorted.count - drop)])
        return TrimmedMean(score: Points.mean(kept), droppedLow: Array(sorted.prefix(drop)),
                           droppedHigh: Array(sorted.suffix(drop)), counted: kept.count)
    }
}

/// An interview score with what was dropped to get it (R50).
public struct TrimmedMean: Codable, Sendable, Equatable {
    public var score: Points
    public var droppedLow: [Points]
    public var droppedHigh: [Points]
    /// How many scores were averaged.
    public var counted: Int
}
