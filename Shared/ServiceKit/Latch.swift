import Synchronization

/// A one-time signal (a process said READY, a process exited) that tasks
/// await with a bound, without holding a thread: a DispatchSemaphore waited
/// on inside a task blocks one of the cooperative pool's threads, and on a
/// 2-core machine two such waits stall every other task of the process (the
/// launcher's waits did, in parallel tests).
public final class Latch: Sendable {
    private struct State {
        var open = false
        var next: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    public var isOpen: Bool { state.withLock { $0.open } }

    /// Opens the latch for good and wakes every waiter.
    public func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            guard !s.open else { return [] }
            s.open = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume(returning: true) }
    }

    /// True once open; false if `timeout` passes first.
    public func wait(timeout: Duration) async -> Bool {
        let id = state.withLock { s in
            s.next += 1
            return s.next
        }
        return await withCheckedContinuation { c in
            let already = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters[id] = c
                return false
            }
            if already {
                c.resume(returning: true)
                return
            }
            Task {
                try? await Task.sleep(for: timeout)
                if let late = self.state.withLock({ $0.waiters.removeValue(forKey: id) }) { late.resume(returning: false) }
            }
        }
    }
}
