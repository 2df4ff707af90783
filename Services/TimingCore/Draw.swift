import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014; the seeding generator of Java's
/// SplittableRandom and of xoshiro): a 64-bit state advanced by the golden
/// gamma 0x9E3779B97F4A7C15, each output mixed by two xor-shift-multiply
/// rounds. Chosen for the draw (R20) because anyone can re-implement it in a
/// few lines in any language and check a recorded order from its seed.
/// Reference: seed 0 gives 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, ...
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

    /// A uniform integer in 0..<bound without modulo bias: outputs below
    /// 2^64 mod bound are rejected, the rest taken modulo bound (the method
    /// of OpenBSD's arc4random_uniform).
    public mutating func below(_ bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        let threshold = (0 &- bound) % bound
        while true {
            let r = next()
            if r >= threshold { return r % bound }
        }
    }
}

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
