import Bus
import ExamContracts
import Foundation
import ServiceKit
import TestSupport
import Testing

/// Two bus-probe processes started through the launcher: one emits events,
/// the other follows them; the test drives them over real sockets.
typealias ProbeMesh = MeshHarness

extension MeshHarness {
    convenience init(names: [String] = ["pa", "pb"]) throws { try self.init(tag: "mesh", services: names) }

    func client(_ name: String) -> RpcClient { try! tools.client(name) }

    func follow(_ name: String, prefixes: [String]) -> AsyncStream<DeliveredEvent> { try! events(name, prefixes) }
}

@Suite("processes on the real service shell", .serialized)
struct MeshProcessTests {
    @Test func launcherStartsProcessesThatExchangeCallsAndEvents() async throws {
        let m = try ProbeMesh()
        try await m.launcher.start([MeshLauncher.Spec(name: "pa", executable: "bus-probe", arguments: ["--name", "pa"]),
                                    MeshLauncher.Spec(name: "pb", executable: "bus-probe", arguments: ["--name", "pb", "--follow", "pa"])])
        let pa = m.client("pa")
        let tallies = m.follow("pb", prefixes: ["tally."])
        #expect(try await pa.call(NodeAPI.ping, PingRequest()).service == "pa")
        // 300 events in 30 calls; pb applies each exactly once (its tally
        // counts 1, 2, 3, ... with no gap and no repeat).
        for _ in 0..<30 { _ = try await pa.call(BusProbeAPI.emit, ProbeMessage(n: 10)) }
        let counts = try await within(.seconds(30), "pb to apply 300 events") {
            var seen: [UInt64] = []
            for await e in tallies {
                seen.append(try e.decode(ProbeEvent.self).n)
                if seen.last == 300 { break }
            }
            return seen
        }
        #expect(counts == Array(1...300))
        let info = try await m.client("pb").call(NodeAPI.info, InfoRequest())
        #expect(info.service == "pb")
        #expect(info.headSeq >= 301)
        let stats = try await pa.call(NodeAPI.stats, StatsRequest())
        #expect(stats.counters.contains { $0.name == "store.rows.outbox" && $0.value >= 301 })
        await m.shutdown()
        #expect(m.launcher.isRunning("pa") == false)
    }

    @Test func aPublisherKilledWithSIGKILLKeepsItsSeqAndLosesNoCommittedEvent() async throws {
        let m = try ProbeMesh(names: ["pa", "pb"])
        try await m.launcher.start([MeshLauncher.Spec(name: "pa", executable: "bus-probe", arguments: ["--name", "pa"]),
                                    MeshLauncher.Spec(name: "pb", executable: "bus-probe", arguments: ["--name", "pb", "--follow", "pa"])])
        let pa = m.client("pa")
        // Emit until killed: every acknowledged Emit is on disk.
        let emitter = Task {
            var acknowledged: UInt64 = 0
            while !Task.isCancelled {
                do { acknowledged = try await pa.call(BusProbeAPI.emit, ProbeMessage(n: 5), timeout: .seconds(2)).n } catch { break }
            }
            return acknowledged
        }
        // Let some land, then crash it mid-stream.
        let all = m.follow("pa", prefixes: ["probe."])
        _ = try await within(.seconds(20), "50 events") { () -> Int in
            var n = 0
            for await _ in all { n += 1; if n == 50 { break } }
            return n
        }
        m.launcher.signal("pa", SIGKILL)
        #expect(await m.launcher.waitExit("pa", timeout: .seconds(10)) != nil)
        let acknowledged = await emitter.value
        #expect(acknowledged >= 40)

        try await m.launcher.start(MeshLauncher.Spec(name: "pa", executable: "bus-probe", arguments: ["--name", "pa"]))
        let after = try await pa.call(BusProbeAPI.emit, ProbeMessage(n: 1)).n
        #expect(after > acknowledged)

        // A subscriber from the start sees seq 1...head without a gap, and
        // probe.emitted numbers 1...after, each once.
        let head = try await pa.call(NodeAPI.info, InfoRequest()).headSeq
        let everything = m.follow("pa", prefixes: [])
        let events = try await within(.seconds(30), "the whole stream") {
            var got: [DeliveredEvent] = []
            for await e in everything {
                got.append(e)
                if e.seq == head { break }
            }
            return got
        }
        #expect(events.map(\.seq) == Array(1...head))
        let emitted = try events.filter { $0.topic == "probe.emitted" }.map { try $0.decode(ProbeEvent.self).n }
        #expect(emitted == Array(1...after))
        // The follower applied each of them exactly once, across the crash.
        let tally = try await m.client("pb").call(BusProbeAPI.tally, ProbeMessage())
        let tallies = m.follow("pb", prefixes: ["tally."])
        let counts = try await within(.seconds(30), "pb to catch up") {
            var seen: [UInt64] = []
            for await e in tallies {
                seen.append(try e.decode(ProbeEvent.self).n)
                if seen.last == after { break }
            }
            return seen
        }
        #expect(counts == Array(1...after))
        #expect(tally.n <= after)
        await m.shutdown()
    }

    @Test func sigtermDrainsAndExitsWithinTheBound() async throws {
        let m = try ProbeMesh(names: ["pa"])
        try await m.launcher.start(MeshLauncher.Spec(name: "pa", executable: "bus-probe", arguments: ["--name", "pa"]))
        let pa = m.client("pa")
        _ = try await pa.call(BusProbeAPI.emit, ProbeMessage(n: 3))
        let stopping = m.follow("pa", prefixes: ["node.pa.stopping"])
        let clock = ContinuousClock()
        let start = clock.now
        let status = await m.launcher.stop("pa", timeout: .seconds(15))
        #expect(status == 0)
        #expect(clock.now - start < .seconds(10))
        // It said goodbye on its stream (committed, so a replay shows it).
        try await m.launcher.start(MeshLauncher.Spec(name: "pa", executable: "bus-probe", arguments: ["--name", "pa"]))
        let bye = try await within(.seconds(20), "node.pa.stopping") { () -> NodeStopping? in
            for await e in stopping { return try e.decode(NodeStopping.self) }
            return nil
        }
        #expect(bye?.reason == "SIGTERM")
        await m.shutdown()
    }
}
