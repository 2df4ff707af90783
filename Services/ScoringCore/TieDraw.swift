import ExamPlan
import Foundation

/// A recorded draw between candidates of one post still tied after every
/// other rule (R53). Reproducible by anyone from the published seed:
///
/// 1. `tied` = the tied exam numbers sorted ascending (ASCII order);
/// 2. group seed = drawSeed XOR FNV-1a-64 of the UTF-8 bytes of
///    postCode + "\n" + tied.joined("\n") (so each tie of each post has its
///    own stream, independent of the other ties);
/// 3. SplitMix64(group seed) shuffles `tied` with Fisher-Yates from the last
///    position down: for i = n-1 ... 1, j = below(i+1), swap i and j;
/// 4. `order` is the result, best rank first.
public struct TieDraw: Codable, Sendable, Equatable {
    public var postCode: String
    public var tied: [String]
    public var order: [String]
    public var seed: UInt64

    public init(postCode: String, tied: [String], seed: UInt64) {
        self.postCode = postCode
        self.tied = tied.sorted()
        self.seed = seed
        order = Self.order(seed: seed, postCode: postCode, tied: tied)
    }

    public static func groupSeed(seed: UInt64, postCode: String, tied: [String]) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in (postCode + "\n" + tied.sorted().joined(separator: "\n")).utf8 {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01B3
        }
        return seed ^ h
    }

    public static func order(seed: UInt64, postCode: String, tied: [String]) -> [String] {
        var a = tied.sorted()
        var rng = SplitMix64(seed: groupSeed(seed: seed, postCode: postCode, tied: a))
        var i = a.count - 1
        while i > 0 {
            let j = Int(rng.below(UInt64(i + 1)))
            a.swapAt(i, j)
            i -= 1
        }
        return a
    }
}
