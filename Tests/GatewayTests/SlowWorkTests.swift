import Foundation
import Passwords
import Synchronization
import Testing

/// Issue 22: under a login burst the hash queue says "come back in N ms" at
/// once for work it cannot finish before the caller's deadline, instead of
/// queueing it until the caller has given up (183 of 200 logins ended in
/// 504 DEADLINE_EXCEEDED with nobody told to wait).
@Suite struct SlowWorkTests {
    struct Busy: Error, Equatable { var after: Duration }

    /// A gate the first piece of work waits on, so the queue's state is
    /// known when the next calls arrive (no timing involved).
    final class Gate: Sendable {
        let s = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let clock = Mutex<Int64>(1_000_000)
        let ran = Mutex(0)
        var now: Int64 { clock.withLock { $0 } }
        func didRun() { ran.withLock { $0 += 1 } }
    }

    @Test func workThatCannotFinishByTheDeadlineIsRefusedAtOnceWithWhenToComeBack() async throws {
        let work = SlowWork(maxRunning: 1, maxWaiting: 100)
        work.calibrate(.milliseconds(100))
        let gate = Gate()
        let now: @Sendable () -> Int64 = { gate.now }

        // One running (blocked on the gate).
        let first = Task { @Sendable in
            try await work.run(finishBy: nil, now: now, busy: { Busy(after: $0) }) { () -> Int in
                gate.entered.signal(); gate.s.wait(); gate.didRun(); return 1
            }
        }
        await withCheckedContinuation { c in DispatchQueue.global().async { gate.entered.wait(); c.resume() } }
        #expect(work.load == (1, 0))
        // Expected: half a turn left of the running one, then its own turn.
        #expect(work.expectedCompletion == .milliseconds(150))

        // A deadline 149 ms away cannot be met: refused at once, told to come
        // back after half the queue ahead, at least one turn (100 ms), and
        // nothing queued.
        await #expect(throws: Busy(after: .milliseconds(100))) {
            try await work.run(finishBy: now() + 149, now: now, busy: { Busy(after: $0) }) { () -> Int in gate.didRun(); return 2 }
        }
        #expect(work.load == (1, 0))

        // A deadline far enough: it waits for its turn.
        let second = Task { @Sendable in
            try await work.run(finishBy: now() + 10_000, now: now, busy: { Busy(after: $0) }) { () -> Int in gate.didRun(); return 3 }
        }
        // One with a deadline that will have passed when its turn comes.
        let third = Task { @Sendable in
            try await work.run(finishBy: now() + 5_000, now: now, busy: { Busy(after: $0) }) { () -> Int in gate.didRun(); return 4 }
        }
        while work.load.waiting < 2 { await Task.yield() }
        #expect(work.expectedCompletion == .milliseconds(50 + 2 * 100 + 100))

        // Time passes beyond the third's deadline, not the second's.
        gate.clock.withLock { $0 += 6_000 }
        gate.s.signal()
        #expect(try await first.value == 1)
        #expect(try await second.value == 3)
        // Its caller has given up: the work is not done, "come back" instead.
        await #expect(throws: Busy.self) { try await third.value }
        #expect(gate.ran.withLock { $0 } == 2)
        #expect(work.load == (0, 0))
    }

    @Test func theQueueBoundStillHoldsWithoutADeadline() async throws {
        let work = SlowWork(maxRunning: 1, maxWaiting: 0)
        work.calibrate(.milliseconds(10))
        let gate = Gate()
        let first = Task { @Sendable in
            try await work.run(finishBy: nil, busy: { Busy(after: $0) }) { () -> Int in gate.entered.signal(); gate.s.wait(); return 1 }
        }
        await withCheckedContinuation { c in DispatchQueue.global().async { gate.entered.wait(); c.resume() } }
        await #expect(throws: Busy.self) {
            try await work.run(finishBy: nil, busy: { Busy(after: $0) }) { () -> Int in 2 }
        }
        gate.s.signal()
        #expect(try await first.value == 1)
        // The measured turn moves the typical duration (it was 10 ms).
        #expect(work.typical != .milliseconds(10))
    }
}
