// devices-bench: heartbeat ingestion of the devices service (R31, R33), in
// one run (issue 5: 10,000 candidates = 20,000 phones at one heartbeat a
// second; target at least 100,000 heartbeats/s ingested).
//
//   1. core:  DevicesCore alone, 20,000 phones, unchanged status (the
//             common case: no event, no document).
//   2. shell work in-process: what the devices process does per heartbeat
//             besides the core (protobuf-c decode of the batch, device-key
//             check, wire conversion), each timed, no sockets.
//   3. bus:   a real `devices` process (MeshLauncher, ipc mesh in a temp
//             folder), 20,000 phones registered over RegisterDevice, then
//             HeartbeatBatch calls with several batches in flight.
//   4. loss detection: all phones at 1/s, then some stop; how late after
//             "last heartbeat + timeout" devices says devices.signal.lost,
//             and how late a subscriber hears it.
//
// Roster is played by a stand-in in this process (Authenticate, and
// roster.candidate.confirmed events with replay), so the bench measures
// devices, not 10,000 scrypt logins and photo uploads.
//
// Build both in release first:
//   swift build -c release --product devices && swift build -c release --product devices-bench
//   .build/release/devices-bench [--phones 20000] [--batch 1000] [--inflight 8] [--seconds 8] [--stop 1000]
//                                [--devices-bin DIR]   (another build of `devices`, to compare)
//                                [--keep]              (keep the temp folder: store and logs)
import Bus
import DevicesCore
import ExamContracts
import ExamPlan
import Foundation
import ServiceKit
import Synchronization

func arg(_ name: String, _ def: Int) -> Int {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: name), i + 1 < a.count, let v = Int(a[i + 1]) { return v }
    return def
}

let phones = arg("--phones", 20_000) / 2 * 2
let candidates = phones / 2
let batchSize = arg("--batch", 1000)
let inflight = arg("--inflight", 8)
let seconds = arg("--seconds", 8)
let stopCount = arg("--stop", 1000)
let lossTimeout = 3.0
/// Where the `devices` executable is (default: beside this one).
let devicesBin: String = {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: "--devices-bin"), i + 1 < a.count { return a[i + 1] }
    return MeshLauncher.ownBinDir
}()

let clock = ContinuousClock()
func rate(_ n: Int, _ d: Duration) -> String {
    let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    return String(format: "%.0f/s", Double(n) / s)
}
func micros(_ d: Duration, per n: Int) -> String {
    let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    return String(format: "%.2f µs", s * 1e6 / Double(n))
}
func exam(_ i: Int) -> String { String(format: "B%06d", i) }
func deviceID(_ p: Int) -> String { "\(exam(p / 2))-\(p % 2 == 0 ? "m" : "s")" }

// MARK: 1. The core alone

func coreStatus(main: Bool) -> DevicesCore.DeviceStatus {
    DevicesCore.DeviceStatus(camera: main ? .front : .rear, speakerVolume: main ? 50 : 0, battery: 90,
                             clientVersion: "8.0.30", os: .android, osVersion: "13")
}

func benchCore() throws -> Double {
    var core = try DevicesState(config: DevicesConfig())
    let t0 = Date()
    let statuses = [coreStatus(main: true), coreStatus(main: false)]
    for i in 0..<candidates {
        _ = try core.applyCandidate(examNumber: exam(i), eligible: true)
        for r in 0..<2 {
            _ = try core.register(examNumber: exam(i), role: r == 0 ? .main : .secondary, deviceID: deviceID(2 * i + r),
                                  account: "wx-\(deviceID(2 * i + r))", status: statuses[r], now: t0)
        }
    }
    _ = core.takeChanges()
    let ids = (0..<phones).map(deviceID)
    let rounds = 50
    var events = 0
    let start = clock.now
    for round in 1...rounds {
        // One round = every phone once, a second apart: on time, unchanged.
        let base = t0.addingTimeInterval(Double(round))
        for p in 0..<phones {
            events += try core.heartbeat(deviceID: ids[p], status: statuses[p % 2], now: base.addingTimeInterval(Double(p) * 1e-6)).count
        }
        events += core.tick(now: base.addingTimeInterval(0.5)).count
    }
    let took = clock.now - start
    let n = rounds * phones
    print("1. core alone: \(n) heartbeats of \(phones) phones in \(took): \(rate(n, took)) (\(micros(took, per: n)) each), events: \(events)")
    return Double(n) / (Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)
}

// MARK: 2. The shell's per-heartbeat work, in process

func wireStatus(main: Bool, version: String = "8.0.30") -> ExamContracts.DeviceStatus {
    ExamContracts.DeviceStatus(cameraOn: true, camera: main ? .front : .rear, microphoneOn: true, speakerVolume: main ? 50 : 0,
                               batteryPercent: 90, network: .wifi, inForeground: true, autoLockOff: true, clientVersion: version,
                               os: .android, osVersion: "13")
}

/// The devices shell's wire -> core status conversion (DevicesWire, in the
/// executable), for measuring its cost in process.
enum ShellCopy {
    static func status(_ s: ExamContracts.DeviceStatus) -> DevicesCore.DeviceStatus {
        DevicesCore.DeviceStatus(cameraOn: s.cameraOn, camera: s.camera == .front ? .front : .rear, microphoneOn: s.microphoneOn,
                                 speakerVolume: Int(s.speakerVolume), battery: Int(s.batteryPercent), network: .wifi,
                                 foreground: s.inForeground, screenAutoLockOff: s.autoLockOff, clientVersion: s.clientVersion,
                                 os: .android, osVersion: s.osVersion)
    }
}

/// Returns the shell's key check cost per heartbeat, in µs.
func benchShellWork() throws -> Double {
    let keys = DeviceKeys(secret: (0..<32).map { UInt8($0) })
    let n = 1000
    let batch = HeartbeatBatchRequest(heartbeats: (0..<n).map { p in
        HeartbeatRequest(deviceId: deviceID(p), deviceKey: keys.key(for: deviceID(p)), status: wireStatus(main: p % 2 == 0))
    })
    let bytes = try ProtoCodec.encode(batch)
    let reps = 40
    var t = clock.now
    var decoded = batch
    for _ in 0..<reps { decoded = try ProtoCodec.decode(HeartbeatBatchRequest.self, from: bytes) }
    let decode = clock.now - t
    t = clock.now
    var ok = 0
    for _ in 0..<reps { for h in decoded.heartbeats where keys.verify(h.deviceKey, deviceID: h.deviceId) { ok += 1 } }
    let key = clock.now - t
    t = clock.now
    var same = 0
    let reference = [ShellCopy.status(wireStatus(main: true)), ShellCopy.status(wireStatus(main: false))]
    for _ in 0..<reps { for (i, h) in decoded.heartbeats.enumerated() where ShellCopy.status(h.status!) == reference[i % 2] { same += 1 } }
    let convert = clock.now - t
    let m = reps * n
    print("2. shell work per heartbeat (in process, batches of \(n), \(bytes.count) bytes a batch):")
    print("   decode HeartbeatBatchRequest (protobuf-c + Swift mirror, reactor thread): \(micros(decode, per: m))")
    print("   device key check (DeviceKeys.verify: HMAC-SHA256, table hex, constant-time compare): \(micros(key, per: m))")
    print("   wire -> core status conversion and compare:                              \(micros(convert, per: m))")
    precondition(ok == m && same == m)
    return (Double(key.components.seconds) + Double(key.components.attoseconds) / 1e18) * 1e6 / Double(m)
}

// MARK: 3 and 4. Through the bus into a running devices process

/// Roster as devices sees it: Authenticate answers for "tok-<exam>", and
/// every candidate is confirmed on roster.candidate.confirmed (replayable).
final class RosterStandIn: Sendable {
    let reactor = Reactor(name: "roster-stand-in")
    let server: RpcServer
    let outbox = MemoryOutbox(stream: "bench-roster")
    let publisher: EventPublisher

    init() {
        server = RpcServer(reactor: reactor)
        publisher = EventPublisher(reactor: reactor, service: "roster", stream: outbox.stream, head: 0)
        server.serveReplay(outbox)
        server.serveInline(RosterAPI.authenticate) { req, _ in
            guard req.token.hasPrefix("tok-") else { throw RPCError(.unauthenticated, "unknown token") }
            return SessionView(examNumber: String(req.token.dropFirst(4)), status: .confirmed, expiresAtMs: unixMillis() + 3_600_000)
        }
    }

    func start(_ e: MeshConfig.Endpoints, candidates: Int) async throws {
        try await server.bind(e.rpc)
        try await publisher.bind(e.events)
        var events: [OutgoingEvent] = []
        for i in 0..<candidates {
            let payload = try ProtoCodec.encode(CandidateEvent(examNumber: exam(i), status: .confirmed, atMs: unixMillis()))
            events.append(outbox.append(topic: "roster.candidate.confirmed", publisher: "roster", payloadType: CandidateEvent.protoName,
                                        payload: payload))
        }
        publisher.publish(events)
    }
}

/// What the callers count, shared between them.
final class Tally: Sendable {
    let accepted = Atomic<Int>(0), refused = Atomic<Int>(0), nextBatch = Atomic<Int>(0), calls = Atomic<Int>(0)
}

/// Calls with at most `width` in flight.
func inParallel(_ count: Int, width: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var next = 0
        while next < min(width, count) {
            let i = next
            group.addTask { try await body(i) }
            next += 1
        }
        while try await group.next() != nil {
            if next < count {
                let i = next
                group.addTask { try await body(i) }
                next += 1
            }
        }
    }
}

func percentile(_ xs: [Int64], _ p: Double) -> Int64 {
    guard !xs.isEmpty else { return 0 }
    let s = xs.sorted()
    return s[min(s.count - 1, Int(Double(s.count - 1) * p))]
}

/// Returns heartbeats/s through the bus.
func benchBus() async throws -> Double {
    let dir = "/tmp/exam-bench-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    // Plain: roster is an in-process stand-in here, and what is measured is
    // devices' heartbeat path (bus-bench prints CurveZMQ's cost on its own).
    let mesh = MeshConfig.ipc(in: dir, services: ["roster", "devices"])
    let meshPath = dir + "/mesh.json"
    try mesh.write(to: meshPath)
    let configPath = dir + "/devices.json"
    try Data(#"{ "loss_timeout_seconds": \#(lossTimeout) }"#.utf8).write(to: URL(fileURLWithPath: configPath))

    let roster = RosterStandIn()
    try await roster.start(try mesh.endpoints(of: "roster"), candidates: candidates)
    let launcher = try MeshLauncher(binDir: devicesBin, dataDir: dir, meshPath: meshPath)
    try await launcher.start(MeshLauncher.Spec(name: "devices", arguments: ["--config", configPath, "--log-level", "warning"]))
    let tools = MeshClient(mesh: mesh, caller: "devices-bench")
    defer {
        tools.close()
        roster.reactor.shutdown()
    }
    let devices = try tools.client("devices")

    // Devices applies the 10,000 confirmations from the stand-in's stream.
    let waitStart = clock.now
    while try await tools.call("devices", DevicesAPI.fleetCounts, FleetCountsRequest()).candidates < UInt32(candidates) {
        guard clock.now - waitStart < .seconds(60) else { throw ConfigError("devices did not learn the candidates within 60 s") }
        try await Task.sleep(for: .milliseconds(100))
    }

    // Register every phone; each chunk beats once right after it registered,
    // so none goes silent past the timeout while the rest register.
    let keys = Mutex<[String]>(Array(repeating: "", count: phones))
    let chunk = 2000
    var registered = 0
    let regStart = clock.now
    while registered < phones {
        let range = registered..<min(phones, registered + chunk)
        try await inParallel(range.count, width: 64) { k in
            let p = range.lowerBound + k
            let reply = try await devices.call(DevicesAPI.registerDevice,
                                               RegisterRequest(token: "tok-\(exam(p / 2))", role: p % 2 == 0 ? .main : .secondary,
                                                               deviceId: deviceID(p), account: "wx-\(deviceID(p))",
                                                               status: wireStatus(main: p % 2 == 0)), timeout: .seconds(30))
            keys.withLock { $0[p] = reply.deviceKey }
        }
        registered = range.upperBound
        let k = keys.withLock { $0 }
        for start in stride(from: 0, to: registered, by: batchSize) {
            let beats = (start..<min(registered, start + batchSize)).map { p in
                HeartbeatRequest(deviceId: deviceID(p), deviceKey: k[p], status: wireStatus(main: p % 2 == 0))
            }
            _ = try await devices.call(DevicesAPI.heartbeatBatch, HeartbeatBatchRequest(heartbeats: beats), timeout: .seconds(30))
        }
    }
    let regTook = clock.now - regStart
    print("3. bus: \(phones) phones registered in \(regTook) (\(rate(phones, regTook)), each with a roster Authenticate call)")

    // Pre-encoded batches: the client's encoding is not what is measured.
    let k = keys.withLock { $0 }
    let batches: [[UInt8]] = try stride(from: 0, to: phones, by: batchSize).map { start in
        try ProtoCodec.encode(HeartbeatBatchRequest(heartbeats: (start..<min(phones, start + batchSize)).map { p in
            HeartbeatRequest(deviceId: deviceID(p), deviceKey: k[p], status: wireStatus(main: p % 2 == 0))
        }))
    }
    let method = DevicesAPI.heartbeatBatch.name

    // Max throughput: `inflight` callers, each sending the next batch as soon
    // as its previous one is answered.
    let tally = Tally()
    let before = try await tools.call("devices", DevicesAPI.fleetCounts, FleetCountsRequest()).heartbeats
    let runStart = clock.now
    let end = runStart + .seconds(seconds)
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<inflight {
            group.addTask {
                while clock.now < end {
                    let b = tally.nextBatch.wrappingAdd(1, ordering: .relaxed).oldValue % batches.count
                    let bytes = try await devices.callRaw(method: method, body: batches[b], timeout: .seconds(30))
                    let reply = try ProtoCodec.decode(HeartbeatBatchReply.self, from: bytes)
                    tally.accepted.add(Int(reply.accepted), ordering: .relaxed)
                    tally.refused.add(reply.refused.count, ordering: .relaxed)
                    tally.calls.add(1, ordering: .relaxed)
                }
            }
        }
        try await group.waitForAll()
    }
    let runTook = clock.now - runStart
    let after = try await tools.call("devices", DevicesAPI.fleetCounts, FleetCountsRequest())
    let n = tally.accepted.load(ordering: .relaxed)
    print("   HeartbeatBatch (\(batchSize) a call, \(inflight) in flight): \(n) heartbeats in \(runTook): \(rate(n, runTook)) ingested"
          + " (\(tally.calls.load(ordering: .relaxed)) calls, \(tally.refused.load(ordering: .relaxed)) refused; devices counted \(after.heartbeats - before))")
    if let stats = try? await tools.call("devices", NodeAPI.stats, StatsRequest()) {
        let wanted = ["engine.batches", "engine.commits", "engine.jobs", "rpc.calls"]
        print("   devices counters: " + stats.counters.filter { wanted.contains($0.name) }.map { "\($0.name)=\($0.value)" }.joined(separator: " "))
    }

    // 4. Loss detection at the real load: every phone once a second, the
    // batches spread over the second; then the first `stopCount` phones stop.
    let info = try await tools.call("devices", NodeAPI.info, InfoRequest())
    let (_, lostStream) = try tools.events("devices", prefixes: ["devices.signal.lost"],
                                           from: StreamPosition(stream: info.stream, seq: info.headSeq))
    let stopped = Set((0..<stopCount).map(deviceID))
    let stopBatches = (stopCount + batchSize - 1) / batchSize
    let stopAt = clock.now + .seconds(3)
    let paceEnd = stopAt + .seconds(Int64(lossTimeout) + 3)
    let gap = Duration.seconds(1) / batches.count
    let pacer = Task {
        var tick = clock.now
        var b = 0
        while clock.now < paceEnd {
            if clock.now < stopAt || b >= stopBatches {
                _ = try? await devices.callRaw(method: method, body: batches[b], timeout: .seconds(5))
            }
            b = (b + 1) % batches.count
            tick += gap
            try? await Task.sleep(until: tick, clock: clock)
        }
    }
    var detection: [Int64] = [], heard: [Int64] = [], falseLosses = 0
    let deadline = paceEnd + .seconds(5)
    let collector = Task { () -> ([Int64], [Int64], Int) in
        var d: [Int64] = [], h: [Int64] = [], f = 0
        for await e in lostStream {
            let now = unixMillis()
            guard let v = try? e.decode(SignalEvent.self) else { continue }
            guard stopped.contains(v.deviceId) else { f += 1; continue }
            let due = v.lastSeenMs + Int64(lossTimeout * 1000)
            d.append(v.atMs - due)
            h.append(now - due)
            if d.count == stopCount { break }
        }
        return (d, h, f)
    }
    let watchdog = Task {
        try? await Task.sleep(until: deadline, clock: clock)
        collector.cancel()
    }
    (detection, heard, falseLosses) = await collector.value
    watchdog.cancel()
    _ = await pacer.value
    print("4. loss detection (timeout \(lossTimeout) s, \(phones) phones at 1/s, \(stopCount) stop): \(detection.count) losses reported,"
          + " \(falseLosses) for phones still beating")
    print("   devices.signal.lost at_ms after last heartbeat + timeout: p50 \(percentile(detection, 0.5)) ms, p99 \(percentile(detection, 0.99)) ms,"
          + " max \(detection.max() ?? 0) ms")
    print("   heard by a subscriber after last heartbeat + timeout:     p50 \(percentile(heard, 0.5)) ms, p99 \(percentile(heard, 0.99)) ms,"
          + " max \(heard.max() ?? 0) ms")
    let status = await launcher.stop("devices")
    if CommandLine.arguments.contains("--keep") {
        print("   devices stopped with status \(status.map(String.init) ?? "?"); store and logs kept in \(dir)")
    } else {
        try? FileManager.default.removeItem(atPath: dir)
        print("   devices stopped with status \(status.map(String.init) ?? "?")")
    }
    return Double(n) / (Double(runTook.components.seconds) + Double(runTook.components.attoseconds) / 1e18)
}

print("devices-bench: \(phones) phones (\(candidates) candidates), batches of \(batchSize), \(inflight) in flight")
let core = try benchCore()
let keyCheck = try benchShellWork()
let bus = try await benchBus()
let target = 100_000.0
print(String(format: "summary: core %.0f/s, bus %.0f/s (target %.0f/s: core %@, bus %@)", core, bus, target,
             core >= target ? "met" : "MISSED", bus >= target ? "met" : "MISSED"))
if bus < target && keyCheck > 5 {
    print(String(format: "   the devices shell's key check costs %.1f µs a heartbeat on the engine thread (a ceiling of %.0f/s alone):"
                 + " its String(format:) hex formatting, see 2.", keyCheck, 1e6 / keyCheck))
}
