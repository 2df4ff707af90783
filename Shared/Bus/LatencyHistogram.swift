import Synchronization

/// Time from a call's receipt to its reply, as a log-linear histogram
/// (eight buckets per power of two of microseconds: a quantile is within
/// about 9 % of the truth) so a service can say its p50/p99 under load in
/// exam.v1.Node/Stats without keeping every sample (issue 15: p99 RPC
/// latency per service over a whole exam day).
public final class LatencyHistogram: Sendable {
    static let subBuckets = 8
    static let buckets = 40 * subBuckets  // up to 2^40 µs
    private let state = Mutex<(counts: [Int64], total: Int64, maxMicros: Int64)>(([Int64](repeating: 0, count: buckets), 0, 0))

    public init() {}

    static func bucket(_ micros: Int64) -> Int {
        guard micros >= Int64(subBuckets) else { return Int(max(0, micros)) }
        let power = 63 - micros.leadingZeroBitCount          // 2^power <= micros
        let shift = power - 3                                 // 3 = log2(subBuckets)
        let sub = Int((micros >> shift) & Int64(subBuckets - 1))
        return min(buckets - 1, (power - 2) * subBuckets + sub)
    }

    /// The upper bound of a bucket, in µs.
    static func upper(_ bucket: Int) -> Int64 {
        guard bucket >= subBuckets else { return Int64(bucket) }
        let power = bucket / subBuckets + 2, sub = bucket % subBuckets
        return (Int64(subBuckets + sub + 1) << (power - 3)) - 1
    }

    public func record(micros: Int64) {
        let b = Self.bucket(micros)
        state.withLock { s in
            s.counts[b] += 1
            s.total += 1
            if micros > s.maxMicros { s.maxMicros = micros }
        }
    }

    public var count: Int64 { state.withLock { $0.total } }

    /// The `q` quantile (0...1) in µs: the bound of the bucket that holds it
    /// (capped by the largest value seen); 0 when nothing was recorded.
    public func quantile(_ q: Double) -> Int64 {
        state.withLock { s in
            guard s.total > 0 else { return 0 }
            let rank = max(1, Int64((Double(s.total) * q).rounded(.up)))
            var seen: Int64 = 0
            for (i, n) in s.counts.enumerated() where n > 0 {
                seen += n
                if seen >= rank { return min(Self.upper(i), s.maxMicros) }
            }
            return s.maxMicros
        }
    }

    public var maxMicros: Int64 { state.withLock { $0.maxMicros } }

    /// The figures as stats: `<prefix>_p50_us`, `_p99_us`, `_max_us`, `_count`.
    public func stats(prefix: String) -> [String: Int64] {
        [prefix + "_p50_us": quantile(0.5), prefix + "_p99_us": quantile(0.99), prefix + "_max_us": maxMicros, prefix + "_count": count]
    }
}
