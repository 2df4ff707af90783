import Foundation

/// The devices service's configuration: signal thresholds (R33, R34) and
/// device rules (R32). Codable so the shell can load it from a file; every
/// key may be left out and takes the default below.
///
/// ```json
/// { "loss_timeout_seconds": 10, "long_outage_seconds": 30, "max_interruptions": 3,
///   "outage_history_limit": 100, "rules": [ … DeviceRule … ] }
/// ```
public struct DevicesConfig: Codable, Sendable, Equatable {
    /// A device silent for MORE than this is lost (R33). A heartbeat exactly
    /// this long after the previous one is on time.
    public var lossTimeoutSeconds: Double
    /// Ground 9 (b), R34: one device lost for MORE than this during the
    /// formal interview. An outage of exactly this length is not long.
    public var longOutageSeconds: Double
    /// Ground 9 (c), R34: MORE than this many interruptions (outages of
    /// either phone) during the formal interview. Exactly this many is fine.
    public var maxInterruptions: Int
    /// Closed outages kept per candidate and role, oldest dropped first.
    /// Must exceed `maxInterruptions` so ground 9 (c) can always count.
    public var outageHistoryLimit: Int
    /// The device rules (R32); `DeviceRule.noticeDefaults` when left out.
    public var rules: [DeviceRule]

    public init(lossTimeoutSeconds: Double = 10, longOutageSeconds: Double = 30, maxInterruptions: Int = 3,
                outageHistoryLimit: Int = 100, rules: [DeviceRule] = DeviceRule.noticeDefaults) {
        self.lossTimeoutSeconds = lossTimeoutSeconds
        self.longOutageSeconds = longOutageSeconds
        self.maxInterruptions = maxInterruptions
        self.outageHistoryLimit = outageHistoryLimit
        self.rules = rules
    }

    enum CodingKeys: String, CodingKey {
        case lossTimeoutSeconds = "loss_timeout_seconds", longOutageSeconds = "long_outage_seconds"
        case maxInterruptions = "max_interruptions", outageHistoryLimit = "outage_history_limit", rules
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DevicesConfig()
        lossTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .lossTimeoutSeconds) ?? d.lossTimeoutSeconds
        longOutageSeconds = try c.decodeIfPresent(Double.self, forKey: .longOutageSeconds) ?? d.longOutageSeconds
        maxInterruptions = try c.decodeIfPresent(Int.self, forKey: .maxInterruptions) ?? d.maxInterruptions
        outageHistoryLimit = try c.decodeIfPresent(Int.self, forKey: .outageHistoryLimit) ?? d.outageHistoryLimit
        rules = try c.decodeIfPresent([DeviceRule].self, forKey: .rules) ?? d.rules
    }

    /// Every problem, each saying where; empty means usable.
    public func problems() -> [String] {
        var out: [String] = []
        if !(lossTimeoutSeconds > 0 && lossTimeoutSeconds <= 3600) {
            out.append("loss_timeout_seconds: \(lossTimeoutSeconds) is not between 0 (exclusive) and 3600")
        }
        if !(longOutageSeconds > 0 && longOutageSeconds <= 3600) {
            out.append("long_outage_seconds: \(longOutageSeconds) is not between 0 (exclusive) and 3600")
        }
        if !(0...1000).contains(maxInterruptions) {
            out.append("max_interruptions: \(maxInterruptions) is not between 0 and 1000")
        }
        if outageHistoryLimit <= maxInterruptions || outageHistoryLimit > 10_000 {
            out.append("outage_history_limit: \(outageHistoryLimit) must exceed max_interruptions (\(maxInterruptions)) and be at most 10000")
        }
        var ids = Set<String>()
        for (i, r) in rules.enumerated() {
            out += r.problems(at: "rules[\(i)]")
            if !ids.insert(r.id).inserted { out.append("rules[\(i)].id: '\(r.id)' is used twice") }
        }
        return out
    }

    func validated() throws -> DevicesConfig {
        let p = problems()
        guard p.isEmpty else { throw DevicesError.invalid("devices configuration: " + p.joined(separator: "; ")) }
        return self
    }
}
