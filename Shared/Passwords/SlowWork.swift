// Slow work (password hashes) off the event loops and off the engine
// threads, shared by roster (candidates' logins, R2) and the gateway (staff
// sign-ins, R62).
import Foundation
import Synchronization

/// Slow work (password hashes) off the event loops and off the engine
/// thread, a few at a time; beyond a bounded queue the caller is told to
/// come back (a flood of sign-ins cannot exhaust memory or stall the rest).
///
/// It also knows how long a turn takes (a moving average of the work's own
/// durations, seeded by `calibrate`), so a caller with a deadline can be told
/// at once "come back in N ms" instead of queueing for a turn that would
/// come after its caller gave up (issue 22: under a login burst, "wait"
/// before a deadline says "failed").
public final class SlowWork: Sendable {
    private struct State {
        var running = 0
        var waiting: [CheckedContinuation<Bool, Never>] = []
        /// The typical duration of one piece of work (0: not known yet).
        var typicalNs: UInt64 = 0
    }
    private let state = Mutex(State())
    public let maxRunning: Int
    public let maxWaiting: Int
    private let queue: DispatchQueue

    /// `maxRunning` at once (at least one), at most `maxWaiting` waiting for a turn.
    public init(maxRunning: Int = 2, maxWaiting: Int = 64, label: String = "slow-work") {
        self.maxRunning = max(1, maxRunning)
        self.maxWaiting = max(0, maxWaiting)
        queue = DispatchQueue(label: label, attributes: .concurrent)
    }

    /// Running now and waiting for a turn.
    public var load: (running: Int, waiting: Int) { state.withLock { ($0.running, $0.waiting.count) } }

    /// The typical duration of one piece of work, as measured so far.
    public var typical: Duration { .nanoseconds(Int64(state.withLock { $0.typicalNs })) }

    /// Seeds the typical duration (a service measures one hash at start, so
    /// the first burst is judged by a real figure, not by none).
    public func calibrate(_ d: Duration) {
        let ns = UInt64(max(0, d.components.seconds) * 1_000_000_000 + max(0, d.components.attoseconds) / 1_000_000_000)
        state.withLock { $0.typicalNs = ns }
    }

    /// How long from now until a piece of work submitted now would be done:
    /// the turns ahead of it (the running ones half done on average, the
    /// waiting ones in rounds of `maxRunning`) and its own.
    public var expectedCompletion: Duration {
        let ns = state.withLock { s -> UInt64 in
            Self.expectedNs(running: s.running, waiting: s.waiting.count, maxRunning: maxRunning, typicalNs: s.typicalNs)
        }
        return .nanoseconds(Int64(ns))
    }

    static func expectedNs(running: Int, waiting: Int, maxRunning: Int, typicalNs: UInt64) -> UInt64 {
        guard running >= maxRunning else { return typicalNs }
        let rounds = UInt64(waiting / maxRunning)
        return typicalNs / 2 + rounds * typicalNs + typicalNs
    }

    /// When to tell a refused caller to come back: half the queue ahead,
    /// at least one turn. Callers add up to half again at random (the
    /// page's jitter), so they come back while the queue still holds work
    /// and the workers never idle between the waves; told the whole drain
    /// time they came back to an empty queue (measured: 65 % of the hash
    /// rate, issue 22).
    static func comeBack(expected: UInt64, typical: UInt64) -> UInt64 { max(expected / 2, typical) }

    /// Runs `body` on a worker when a turn comes; throws `busy()` at once
    /// when `maxWaiting` calls are already waiting.
    public func run<T: Sendable, E: Error>(busy: @autoclosure () -> E,
                                           _ body: @escaping @Sendable () -> T) async throws(E) -> T {
        try await run(finishBy: nil, busy: { _ in busy() }, body)
    }

    /// Runs `body` on a worker when a turn comes, if it can be done by
    /// `finishBy` (a wall-clock deadline, Unix ms; nil: no deadline).
    /// Throws `busy(retryAfter)` at once when the queue is full or the turn
    /// would come too late, and also when a waiting call's deadline passed
    /// before its turn came (nobody waits for that answer any more: the work
    /// is not done). `retryAfter`: see `comeBack`.
    public func run<T: Sendable, E: Error>(finishBy deadlineUnixMs: Int64?, now: @Sendable () -> Int64 = SlowWork.unixMs,
                                           busy: (_ retryAfter: Duration) -> E,
                                           _ body: @escaping @Sendable () -> T) async throws(E) -> T {
        var refusedAfter: UInt64?
        let admitted: Bool = await withCheckedContinuation { c in
            let decision: Bool? = state.withLock { s in
                let expected = Self.expectedNs(running: s.running, waiting: s.waiting.count, maxRunning: maxRunning, typicalNs: s.typicalNs)
                if let deadlineUnixMs, now() + Int64(expected / 1_000_000) > deadlineUnixMs {
                    refusedAfter = Self.comeBack(expected: expected, typical: s.typicalNs)
                    return false
                }
                if s.running < maxRunning { s.running += 1; return true }
                if s.waiting.count >= maxWaiting {
                    refusedAfter = Self.comeBack(expected: expected, typical: s.typicalNs)
                    return false
                }
                s.waiting.append(c)
                return nil
            }
            if let decision { c.resume(returning: decision) }
        }
        guard admitted else { throw busy(.nanoseconds(Int64(refusedAfter ?? 0))) }
        defer {
            let next = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                if s.waiting.isEmpty { s.running -= 1; return nil }
                return s.waiting.removeFirst()
            }
            next?.resume(returning: true)
        }
        if let deadlineUnixMs, now() > deadlineUnixMs {
            throw busy(.nanoseconds(Int64(state.withLock { $0.typicalNs })))
        }
        let started = DispatchTime.now().uptimeNanoseconds
        let result = await withCheckedContinuation { c in queue.async { c.resume(returning: body()) } }
        let took = DispatchTime.now().uptimeNanoseconds &- started
        state.withLock { s in
            // A moving average that follows a slowdown at once (half the
            // way per turn: a loaded machine must not admit work it cannot
            // finish) and a speed-up slowly (a fifth of the way).
            if s.typicalNs == 0 { s.typicalNs = took }
            else if took > s.typicalNs { s.typicalNs = (s.typicalNs + took) / 2 }
            else { s.typicalNs = (s.typicalNs * 4 + took) / 5 }
        }
        return result
    }

    public static let unixMs: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}
