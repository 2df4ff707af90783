// Login attempts are rate-limited per phone number and per client address
// (R63), before roster's own lockout (R2) ever sees them: a guesser that
// walks through phone numbers from one address is slowed by the address
// limit, one that targets a number from many addresses by the phone limit.
import Foundation

/// A fixed budget of attempts per key within a sliding window. Pure: the
/// caller passes the time; memory is bounded by pruning keys whose window
/// has passed.
public struct SlidingWindowLimit: Sendable {
    public let limit: Int
    public let window: TimeInterval
    private var hits: [String: [Date]] = [:]
    private var lastPrune = Date.distantPast

    public init(limit: Int, window: TimeInterval) {
        self.limit = limit
        self.window = window
    }

    /// How many keys are tracked (for tests and stats).
    public var trackedKeys: Int { hits.count }

    /// Seconds until `key` may try again; nil when it may now.
    public func wait(_ key: String, now: Date) -> Int? {
        guard let h = hits[key] else { return nil }
        let recent = h.filter { now.timeIntervalSince($0) < window }
        guard recent.count >= limit, let oldest = recent.first else { return nil }
        return max(1, Int((window - now.timeIntervalSince(oldest)).rounded(.up)))
    }

    /// Takes back the latest hit of `key` no later than `now` (an attempt
    /// that was told to wait, not refused).
    public mutating func unrecordLatest(_ key: String, notAfter now: Date) {
        guard var h = hits[key], let i = h.lastIndex(where: { $0 <= now }) else { return }
        h.remove(at: i)
        hits[key] = h.isEmpty ? nil : h
    }

    public mutating func record(_ key: String, now: Date) {
        var h = hits[key, default: []].filter { now.timeIntervalSince($0) < window }
        h.append(now)
        hits[key] = h
        if now.timeIntervalSince(lastPrune) >= window {
            hits = hits.filter { _, v in v.contains { now.timeIntervalSince($0) < window } }
            lastPrune = now
        }
    }
}

/// The two login limits together.
public struct LoginThrottle: Sendable {
    public struct Limits: Codable, Sendable, Equatable {
        /// Attempts per phone number per window.
        public var perPhone: Int = 10
        /// Attempts per client address per window (a household or a NAT
        /// shares one; a district's candidates do not log in from one place).
        public var perAddress: Int = 60
        public var windowSeconds: Int = 60
        public init() {}
        public init(perPhone: Int, perAddress: Int, windowSeconds: Int) {
            self.perPhone = perPhone
            self.perAddress = perAddress
            self.windowSeconds = windowSeconds
        }
    }

    public let limits: Limits
    private var phones: SlidingWindowLimit
    private var addresses: SlidingWindowLimit

    public init(_ limits: Limits = Limits()) {
        self.limits = limits
        phones = SlidingWindowLimit(limit: limits.perPhone, window: TimeInterval(limits.windowSeconds))
        addresses = SlidingWindowLimit(limit: limits.perAddress, window: TimeInterval(limits.windowSeconds))
    }

    /// Counts an attempt, or refuses it (counting nothing) with how long to wait.
    public mutating func admit(phone: String, address: String, now: Date) -> EdgeError? {
        if let w = addresses.wait(address, now: now) {
            return .tooMany("login: too many attempts from this address (\(limits.perAddress) per \(limits.windowSeconds) s, R63); try again in \(w) s",
                            retryAfter: w)
        }
        if let w = phones.wait(phone, now: now) {
            return .tooMany("login: too many attempts for phone \(PhoneMask.mask(phone)) (\(limits.perPhone) per \(limits.windowSeconds) s, R63); try again in \(w) s",
                            retryAfter: w)
        }
        addresses.record(address, now: now)
        phones.record(phone, now: now)
        return nil
    }

    /// An admitted attempt roster asked to come back later (its hash queue
    /// was full, issue 22): not counted, or a queue would use up a phone's
    /// budget. The hit nearest `now` is taken back (the one `admit` made is
    /// at most a hash queue's deadline old).
    public mutating func refund(phone: String, address: String, now: Date) {
        addresses.unrecordLatest(address, notAfter: now)
        phones.unrecordLatest(phone, notAfter: now)
    }

    public var trackedKeys: Int { phones.trackedKeys + addresses.trackedKeys }
}

/// Phone numbers in messages and logs: the first three and last four.
public enum PhoneMask {
    public static func mask(_ phone: String) -> String {
        let c = Array(phone)
        guard c.count >= 7 else { return String(repeating: "*", count: c.count) }
        return String(c.prefix(3)) + String(repeating: "*", count: c.count - 7) + String(c.suffix(4))
    }
}
