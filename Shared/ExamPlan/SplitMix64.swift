/// SplitMix64 (Steele, Lea, Flood 2014; Vigna's reference `splitmix64.c`,
/// the seeding generator of Java's SplittableRandom and of xoshiro): a 64-bit
/// state advanced by the golden gamma 0x9E3779B97F4A7C15, each output mixed
/// by two xor-shift-multiply rounds. The one generator of every published
/// draw, the interview order (R20) and the tie draw (R53), because anyone can
/// re-implement it in a few lines in any language and check a recorded order
/// from its seed; demo data use it too, so a generated day is reproducible.
/// Reference: seed 0 gives 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, ...
public struct SplitMix64: RandomNumberGenerator, Sendable, Equatable {
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
    /// of OpenBSD's arc4random_uniform). Published draws use this, never
    /// Swift's `random(in:using:)`, whose method is not part of any contract.
    public mutating func below(_ bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        let threshold = (0 &- bound) % bound
        while true {
            let r = next()
            if r >= threshold { return r % bound }
        }
    }
}
