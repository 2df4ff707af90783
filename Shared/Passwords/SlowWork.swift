// Slow work (password hashes) off the event loops and off the engine
// threads, shared by roster (candidates' logins, R2) and the gateway (staff
// sign-ins, R62).
import Foundation
import Synchronization

/// Slow work (password hashes) off the event loops and off the engine
/// thread, a few at a time; beyond a bounded queue the caller is told to
/// come back (a flood of sign-ins cannot exhaust memory or stall the rest).
public final class SlowWork: Sendable {
    private let state = Mutex<(running: Int, waiting: [CheckedContinuation<Bool, Never>])>((0, []))
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

    /// Runs `body` on a worker when a turn comes; throws `busy()` at once
    /// when `maxWaiting` calls are already waiting.
    public func run<T: Sendable, E: Error>(busy: @autoclosure () -> E,
                                           _ body: @escaping @Sendable () -> T) async throws(E) -> T {
        let admitted: Bool = await withCheckedContinuation { c in
            let now: Bool? = state.withLock { s in
                if s.running < maxRunning { s.running += 1; return true }
                if s.waiting.count >= maxWaiting { return false }
                s.waiting.append(c)
                return nil
            }
            if let now { c.resume(returning: now) }
        }
        guard admitted else { throw busy() }
        defer {
            let next = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                if s.waiting.isEmpty { s.running -= 1; return nil }
                return s.waiting.removeFirst()
            }
            next?.resume(returning: true)
        }
        return await withCheckedContinuation { c in queue.async { c.resume(returning: body()) } }
    }
}
