import Bus
import ExamContracts
import Foundation
import GRDB
import Logging
import ServiceKit
import Store
import TestSupport
import Testing

struct Tally: Codable, Sendable { var n = 0 }

func makeEngine(_ dir: String, clock: @escaping @Sendable () -> Date = { Date() }) throws -> (Engine<Tally>, ServiceStore, Counters) {
    let store = try ServiceStore(path: dir + "/e.sqlite")
    let counters = Counters()
    let state = try store.document(Tally.self, kind: "tally", key: "t") ?? Tally()
    let engine = try Engine(service: "probe", store: store, state: state, counters: counters,
                            logger: Logger(label: "test"), clock: clock)
    return (engine, store, counters)
}

@Suite("engine (state thread + group commit)")
struct EngineTests {
    @Test func aReplyMeansTheChangeAndItsEventAreOnDisk() async throws {
        let dir = try temporaryFolder("engine")
        let (engine, store, _) = try makeEngine(dir)
        engine.start(publisher: nil)
        let n = try await engine.write { state, tx in
            state.n += 1
            tx.put(state, kind: "tally", key: "t")
            try tx.publish("probe.counted", ProbeEvent(n: UInt64(state.n)))
            return state.n
        }
        #expect(n == 1)
        // Read back through a fresh connection: it is committed.
        let reopened = try ServiceStore(path: dir + "/e.sqlite")
        #expect(try reopened.document(Tally.self, kind: "tally", key: "t")?.n == 1)
        let events = try reopened.replay(afterSeq: 0, prefixes: [], limit: 10).records
        #expect(events.map(\.topic) == ["probe.counted"])
        #expect(try ProtoCodec.decode(ProbeEvent.self, from: events[0].payload).n == 1)
        _ = store
        engine.stop(timeout: .seconds(5))
    }

    @Test func manyConcurrentWritesShareCommits() async throws {
        let dir = try temporaryFolder("engine")
        let (engine, store, counters) = try makeEngine(dir)
        engine.start(publisher: nil)
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<500 {
                group.addTask {
                    try await engine.write { state, tx in
                        state.n += 1
                        tx.put(state, kind: "tally", key: "t")
                        try tx.publish("probe.counted", ProbeEvent(n: UInt64(state.n)))
                        return state.n
                    }
                }
            }
            for try await _ in group {}
        }
        #expect(try store.headSeq() == 500)
        // Group commit: fewer transactions than writes.
        #expect(counters["engine.commits"] < 500)
        let seqs = try store.replay(afterSeq: 0, prefixes: [], limit: 1000).records.map(\.seq)
        #expect(seqs == Array(1...500))
        engine.stop(timeout: .seconds(5))
    }

    @Test func refusedWorkStagesNothing() async throws {
        let dir = try temporaryFolder("engine")
        let (engine, store, _) = try makeEngine(dir)
        engine.start(publisher: nil)
        await #expect(throws: RPCError.self) {
            _ = try await engine.write { _, tx in
                try tx.publish("probe.never", ProbeEvent(n: 1))
                throw RPCError.failedPrecondition("no")
            }
        }
        #expect(try store.headSeq() == 0)
        engine.stop(timeout: .seconds(5))
    }

    @Test func timerWorkRunsWhenDue() async throws {
        let dir = try temporaryFolder("engine")
        let (engine, store, _) = try makeEngine(dir)
        let due = Date().addingTimeInterval(0.2)
        let (fired, signal) = AsyncStream<Date>.makeStream()
        engine.wake(at: { state in state.n == 0 ? due : nil }) { state, tx in
            state.n = 1
            tx.put(state, kind: "tally", key: "t")
            signal.yield(tx.now)
        }
        engine.start(publisher: nil)
        let firedAt = try await within(.seconds(5), "the timer") { () -> Date? in
            for await at in fired { return at }
            return nil
        }
        #expect(try #require(firedAt) >= due)
        // Work queued after the timer's batch runs after its commit.
        #expect(try await engine.read { $0.n } == 1)
        #expect(try store.document(Tally.self, kind: "tally", key: "t")?.n == 1)
        engine.stop(timeout: .seconds(5))
    }

    @Test func afterStopNewWorkIsUnavailable() async throws {
        let dir = try temporaryFolder("engine")
        let (engine, _, _) = try makeEngine(dir)
        engine.start(publisher: nil)
        #expect(engine.stop(timeout: .seconds(5)))
        await #expect(throws: RPCError.unavailable("probe is shutting down")) {
            _ = try await engine.write { _, _ in 1 }
        }
    }
}
