import Bus
import Testing

@Suite("RPC latency histogram (issue 15)")
struct LatencyHistogramTests {
    @Test func quantilesAreWithinABucketOfTheTruth() {
        let h = LatencyHistogram()
        for us in 1...10_000 { h.record(micros: Int64(us)) }
        #expect(h.count == 10_000)
        #expect(h.maxMicros == 10_000)
        // The truth: p50 = 5,000 µs, p99 = 9,900 µs; buckets are 1/8 of a power of two wide.
        let p50 = h.quantile(0.5), p99 = h.quantile(0.99)
        #expect(p50 >= 5_000 && p50 <= 5_000 * 109 / 100, "p50 \(p50)")
        #expect(p99 >= 9_900 && p99 <= 10_000, "p99 \(p99)")
        #expect(h.stats(prefix: "rpc.latency")["rpc.latency_p99_us"] == p99)
    }

    @Test func smallValuesAndTheEmptyCase() {
        let h = LatencyHistogram()
        #expect(h.quantile(0.99) == 0)
        for _ in 0..<99 { h.record(micros: 3) }
        h.record(micros: 1_000_000)
        #expect(h.quantile(0.5) == 3)
        #expect(h.quantile(0.99) == 3)
        #expect(h.quantile(1) == 1_000_000)
    }
}
