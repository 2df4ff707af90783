import ExamPlan
import Foundation

/// The interview order of a room (R20), reproducible by anyone from the
/// recorded seed and the list of candidates who drew:
///
/// 1. sort the exam numbers ascending, byte by byte (UTF-8), so the result
///    does not depend on the order of the plan or of entry;
/// 2. Fisher-Yates with SplitMix64(seed): for i = n-1 down to 1, j =
///    below(i+1), swap items i and j.
public enum InterviewDraw {
    public static func order(of examNumbers: [String], seed: UInt64) -> [String] {
        var items = Array(Set(examNumbers)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        guard items.count > 1 else { return items }
        var rng = SplitMix64(seed: seed)
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            let j = Int(rng.below(UInt64(i + 1)))
            items.swapAt(i, j)
        }
        return items
    }
}
