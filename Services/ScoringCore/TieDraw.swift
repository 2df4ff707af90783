import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014; Vigna's reference `splitmix64.c`):
/// a tiny, fully specified PRNG, so anyone can redo a draw from its seed.
/// Seed 0 gives 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, ...
public struct SplitMix64: Sendable, Equatable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound without modulo bias: outputs below
    /// (2^64 - bound) mod bound are rejected (as OpenBSD arc4random_uniform).
    public mutating func next(below bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        let threshold = (0 &- bound) % bound
        while true {
            let r = next()
            if r >= threshold { return r % bound }
        }
    }
}

/// A recorded draw between candidates of one post still tied after every
/// other rule (R53). Reproducible by anyone from the published seed:
///
/// 1. `tied` = the tied exam numbers sorted ascending (ASCII order);
/// 2. group seed = drawSeed XOR FNV-1a-64 of the UTF-8 bytes of
///    postCode + "\n" + tied.joined("\n") (so each tie of each post has its
///    own stream, independent of the other ties);
/// 3. SplitMix64(group seed) shuffles `tied` with Fisher-Yates from the last
///    position down: for i = n-1 ... 1, j = next(below: i+1), swap i and j;
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
            let j = Int(rng.next(below: UInt64(i + 1)))
            a.swapAt(i, j)
            i -= 1
        }
        return a
    }
}
