// recordings-bench: chunk ingest throughput of the recordings service (issue
// 14: target at least 100 MB/s), in one run, next to a raw baseline:
//
//   1. raw:  the same chunks written straight to files the way the blob
//            store does it (temporary file, write, fsync, rename, folder
//            fsync), from `--streams` threads at once: what the disk gives.
//   2. bus:  a real `recordings` process (MeshLauncher, ipc mesh in a temp
//            folder on the same disk), `--streams` phones each uploading
//            its recording chunk after chunk (AppendChunk: the bus, the
//            hash check, the blob with its fsyncs, the ledger's commit,
//            the answer). Printed: MB/s, chunks/s, p50/p99 per chunk, and
//            the ratio to raw.
//
//   3. gateway: a real `gateway` process in front of the same recordings,
//            `--streams` HTTP/1.1 connections each sending its phone's
//            chunks as tus-like PATCH /api/v1/recordings/{id} (bearer token,
//            device id and key, Upload-Index/-Offset/-Checksum): the
//            gateway's own SHA-256 check, then the same AppendChunk on the
//            bus. Printed the same way, with its ratio to raw.
//
// Roster, devices and timing are played by stand-ins in this process
// (Authenticate, VerifyDevice, GetInterview and timing.interview.started),
// so the bench measures recordings. The mesh is plain (bus-bench prints
// CurveZMQ's own cost).
//
// Build both in release first:
//   swift build -c release --product recordings && swift build -c release --product gateway \
//     && swift build -c release --product recordings-bench
//   .build/release/recordings-bench [--streams 4] [--mib 256] [--chunk-kib 1024] [--dir PARENT] [--keep]
import Bus
import Crypto
import ExamContracts
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import ServiceKit
import Synchronization

func arg(_ name: String, _ def: Int) -> Int {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: name), i + 1 < a.count, let v = Int(a[i + 1]) { return v }
    return def
}
func argString(_ name: String, _ def: String) -> String {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: name), i + 1 < a.count { return a[i + 1] }
    return def
}

let streams = max(1, arg("--streams", 4))
let chunkBytes = min(1 << 20, max(1024, arg("--chunk-kib", 1024) * 1024))
let totalBytes = arg("--mib", 256) << 20
let chunksPerStream = max(1, totalBytes / chunkBytes / streams)
let keep = CommandLine.arguments.contains("--keep")
let parent = argString("--dir", FileManager.default.temporaryDirectory.path)
let clock = ContinuousClock()

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
func exam(_ i: Int) -> String { String(format: "2022%06d", 110_001 + i) }

/// Distinct synthetic chunks (no two alike: a repeat would be stored once and measure nothing).
func chunkData(_ stream: Int, _ index: Int) -> [UInt8] {
    var x = UInt64(stream &* 1_000_003 &+ index &* 7919 &+ 17)
    var out = [UInt8](repeating: 0, count: chunkBytes)
    out.withUnsafeMutableBytes { raw in
        let words = raw.bindMemory(to: UInt64.self)
        for i in 0..<words.count {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            words[i] = x
        }
    }
    return out
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}

/// One chunk prepared before the clock starts (its bytes and hash).
struct Prepared: Sendable {
    var data: Data
    var sha: String
    /// The same bytes for HTTP (made before the clock, like the hash).
    var buffer: ByteBuffer
}

/// How chunks reach the disk: each path uploads `stream`'s chunks in order.
protocol IngestPath: Sendable {
    var name: String { get }
    func prepare(stream: Int) async throws
    func append(stream: Int, index: Int, _ chunk: Prepared, final: Bool) async throws
}

/// Runs `path` with every stream at once; returns (seconds, per-chunk latencies in µs).
func run(_ path: IngestPath, _ prepared: [[Prepared]]) async throws -> (Double, [Int64]) {
    for s in 0..<streams { try await path.prepare(stream: s) }
    let started = clock.now
    let latencies = try await withThrowingTaskGroup(of: [Int64].self) { group in
        for s in 0..<streams {
            group.addTask {
                var lat: [Int64] = []
                for i in 0..<chunksPerStream {
                    let t = clock.now
                    try await path.append(stream: s, index: i, prepared[s][i], final: i == chunksPerStream - 1)
                    lat.append(Int64(seconds(clock.now - t) * 1e6))
                }
                return lat
            }
        }
        var all: [Int64] = []
        for try await l in group { all += l }
        return all
    }
    return (seconds(clock.now - started), latencies)
}

// MARK: 1. Raw: files written as the blob store writes them

struct RawFiles: IngestPath {
    let dir: String
    var name: String { "raw files (tmp+write+fsync+rename+dir fsync)" }

    func prepare(stream: Int) async throws {
        try FileManager.default.createDirectory(atPath: "\(dir)/s\(stream)", withIntermediateDirectories: true)
    }

    func append(stream: Int, index: Int, _ chunk: Prepared, final: Bool) async throws {
        let folder = "\(dir)/s\(stream)"
        try await onThread {
            let tmp = "\(folder)/.tmp-\(index)", path = "\(folder)/\(chunk.sha)"
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o640)
            guard fd >= 0 else { throw BenchError("open \(tmp)") }
            let n = chunk.data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n == chunk.data.count, fsync(fd) == 0 else { throw BenchError("write \(tmp)") }
            close(fd)
            guard rename(tmp, path) == 0 else { throw BenchError("rename \(tmp)") }
            let d = open(folder, O_RDONLY | O_DIRECTORY)
            fsync(d)
            close(d)
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

let diskQueue = DispatchQueue(label: "bench.disk", attributes: .concurrent)
func onThread(_ body: @escaping @Sendable () throws -> Void) async throws {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
        diskQueue.async { c.resume(with: Result { try body() }) }
    }
}

// MARK: 2. Through the bus into a running recordings process

/// Roster, devices and timing as recordings sees them: tokens "tok-<exam>",
/// devices "<exam>-main"/"-secondary" with key "key-<device>", every
/// candidate's formal interview started 12 hours ago: its chunks (a second
/// of media each) lie in the past, as recordings wants (issue 22: no media
/// ahead of the server's clock).
final class StandIns: Sendable {
    let reactor = Reactor(name: "stand-ins")
    let roster, devices, timing: RpcServer
    let timingOutbox = MemoryOutbox(stream: "bench-timing")
    let timingEvents: EventPublisher
    let startedAtMs = unixMillis() - 12 * 3_600_000

    init() {
        roster = RpcServer(reactor: reactor)
        devices = RpcServer(reactor: reactor)
        timing = RpcServer(reactor: reactor)
        timingEvents = EventPublisher(reactor: reactor, service: "timing", stream: timingOutbox.stream, head: 0)
        roster.serveInline(RosterAPI.authenticate) { req, _ in
            guard req.token.hasPrefix("tok-") else { throw RPCError(.unauthenticated, "unknown token") }
            return SessionView(examNumber: String(req.token.dropFirst(4)), status: .confirmed, expiresAtMs: unixMillis() + 3_600_000)
        }
        devices.serveInline(DevicesAPI.verifyDevice) { req, _ in
            guard req.deviceKey == "key-" + req.deviceId, let dash = req.deviceId.lastIndex(of: "-") else {
                throw RPCError(.unauthenticated, "wrong device key")
            }
            return VerifiedDevice(deviceId: req.deviceId, examNumber: String(req.deviceId[..<dash]),
                                  role: req.deviceId.hasSuffix("-main") ? .main : .secondary)
        }
        let started = startedAtMs
        timing.serveInline(TimingAPI.getInterview) { req, _ in
            InterviewInfo(examNumber: req.examNumber, roomId: "R01", sitting: .formal, phase: .reading, startedAtMs: started,
                          endsAtMs: started + 24 * 3_600_000)
        }
        timing.serveReplay(timingOutbox)
    }

    func start(_ mesh: MeshConfig, candidates: Int) async throws {
        try await roster.bind(try mesh.endpoints(of: "roster").rpc)
        try await devices.bind(try mesh.endpoints(of: "devices").rpc)
        let t = try mesh.endpoints(of: "timing")
        try await timing.bind(t.rpc)
        try await timingEvents.bind(t.events)
        var events: [OutgoingEvent] = []
        for i in 0..<candidates {
            let payload = try ProtoCodec.encode(InterviewEvent(examNumber: exam(i), roomId: "R01", sitting: .formal, phase: .reading,
                                                               startedAtMs: startedAtMs, endsAtMs: startedAtMs + 24 * 3_600_000, atMs: startedAtMs))
            events.append(timingOutbox.append(topic: "timing.interview.started", publisher: "timing",
                                              payloadType: InterviewEvent.protoName, payload: payload))
        }
        timingEvents.publish(events)
    }
}

/// A stream is one phone: stream s is candidate s/2's main (even) or secondary (odd) phone.
final class BusPath: IngestPath {
    let client: RpcClient
    let ids = Mutex<[Int: (id: String, offset: UInt64)]>([:])
    let startMs: Int64
    var name: String { "bus + disk (AppendChunk into recordings)" }

    init(client: RpcClient, startMs: Int64) {
        self.client = client
        self.startMs = startMs
    }

    func phone(_ s: Int) -> PhoneCredentials {
        let device = "\(exam(s / 2))-\(s % 2 == 0 ? "main" : "secondary")"
        return PhoneCredentials(token: "tok-\(exam(s / 2))", deviceId: device, deviceKey: "key-" + device)
    }

    func prepare(stream s: Int) async throws {
        let st = try await client.call(RecordingsAPI.createUpload,
                                       CreateUploadRequest(phone: phone(s), sitting: .formal, role: s % 2 == 0 ? .main : .secondary,
                                                           mimeType: "video/webm"), timeout: .seconds(10))
        ids.withLock { $0[s] = (st.recordingId, st.nextOffset) }
    }

    func append(stream s: Int, index: Int, _ chunk: Prepared, final: Bool) async throws {
        let (id, offset) = ids.withLock { $0[s]! }
        let st = try await client.call(RecordingsAPI.appendChunk,
                                       AppendChunkRequest(phone: phone(s), recordingId: id, index: UInt32(index), offset: offset,
                                                          mediaStartMs: startMs + Int64(index) * 1000, mediaEndMs: startMs + Int64(index + 1) * 1000,
                                                          byteCount: UInt32(chunk.data.count), sha256: chunk.sha, data: chunk.data, final: final),
                                       timeout: .seconds(30))
        ids.withLock { $0[s] = (id, st.nextOffset) }
    }
}

// MARK: 3. Through the gateway's HTTP (tus-like PATCH) into the same recordings

/// A stream is one phone with its own keep-alive HTTP connection; its
/// candidates are other exam numbers than the bus path's (a fresh recording each).
final class GatewayPath: IngestPath {
    let port: Int
    let startMs: Int64
    let first: Int
    let state = Mutex<[Int: (id: String, offset: UInt64, client: TestClient)]>([:])
    var name: String { "gateway HTTP + bus + disk (PATCH /api/v1/recordings/{id})" }

    init(port: Int, startMs: Int64, firstCandidate: Int) {
        self.port = port
        self.startMs = startMs
        first = firstCandidate
    }

    func headers(_ s: Int) -> HTTPFields {
        let e = exam(first + s / 2)
        let device = "\(e)-\(s % 2 == 0 ? "main" : "secondary")"
        var h: HTTPFields = [.authorization: "Bearer tok-\(e)"]
        h[HTTPField.Name("X-Device-Id")!] = device
        h[HTTPField.Name("X-Device-Key")!] = "key-" + device
        return h
    }

    func prepare(stream s: Int) async throws {
        let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(60)))
        client.connect()
        var h = headers(s)
        h[.contentType] = "application/json"
        let r = try await client.post("/api/v1/sittings/formal/recording", headers: h,
                                      body: ByteBuffer(string: #"{"role":"\#(s % 2 == 0 ? "main" : "secondary")","mimeType":"video/webm"}"#))
        guard r.status == .created, let id = r.headers[.location]?.split(separator: "/").last,
              let offset = r.headers[HTTPField.Name("Upload-Offset")!].flatMap(UInt64.init) else {
            throw BenchError("create over HTTP: \(r.status) \(r.body.map { String(buffer: $0) } ?? "")")
        }
        state.withLock { $0[s] = (String(id), offset, client) }
    }

    func append(stream s: Int, index: Int, _ chunk: Prepared, final: Bool) async throws {
        let (id, offset, client) = state.withLock { $0[s]! }
        var h = headers(s)
        h[.contentType] = "application/offset+octet-stream"
        h[HTTPField.Name("Upload-Index")!] = String(index)
        h[HTTPField.Name("Upload-Offset")!] = String(offset)
        h[HTTPField.Name("Upload-Checksum")!] = "sha256 " + chunk.sha
        h[HTTPField.Name("Media-Start")!] = String(startMs + Int64(index) * 1000)
        h[HTTPField.Name("Media-End")!] = String(startMs + Int64(index + 1) * 1000)
        h[HTTPField.Name("Upload-Final")!] = final ? "true" : "false"
        let r = try await client.execute(.init("/api/v1/recordings/\(id)", method: .patch, headers: h, body: chunk.buffer))
        guard r.status == .noContent, let next = r.headers[HTTPField.Name("Upload-Offset")!].flatMap(UInt64.init) else {
            throw BenchError("PATCH \(id) #\(index): \(r.status) \(r.body.map { String(buffer: $0) } ?? "")")
        }
        state.withLock { $0[s]!.offset = next }
    }

    func close() async {
        for c in state.withLock({ $0.values.map(\.client) }) { try? await c.shutdown() }
    }
}

func percentile(_ xs: [Int64], _ p: Double) -> Int64 {
    guard !xs.isEmpty else { return 0 }
    let s = xs.sorted()
    return s[min(s.count - 1, Int(Double(s.count - 1) * p))]
}

func line(_ name: String, _ secs: Double, _ lat: [Int64], raw: Double?) -> (String, Double) {
    let bytes = Double(streams * chunksPerStream * chunkBytes)
    let mbs = bytes / secs / 1e6
    var text = String(format: "%@: %.1f MB/s, %.0f chunks/s, per chunk p50 %.1f ms p99 %.1f ms", name, mbs,
                      Double(streams * chunksPerStream) / secs, Double(percentile(lat, 0.5)) / 1000, Double(percentile(lat, 0.99)) / 1000)
    if let raw { text += String(format: "  (%.2fx raw)", mbs / raw) }
    return (text, mbs)
}

// MARK: Main

let dir = parent + "/recordings-bench-\(UUID().uuidString.prefix(8))"
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
print("recordings-bench: \(streams) streams x \(chunksPerStream) chunks of \(chunkBytes) bytes = \(streams * chunksPerStream * chunkBytes >> 20) MiB a path, in \(dir)")
print("preparing chunks (bytes and SHA-256, before the clock)...")
var prepared: [[Prepared]] = []
for s in 0..<streams {
    prepared.append((0..<chunksPerStream).map { i in let d = chunkData(s, i); return Prepared(data: Data(d), sha: sha256Hex(d), buffer: ByteBuffer(bytes: d)) })
}

// 1. raw
let (rawSecs, rawLat) = try await run(RawFiles(dir: dir + "/raw"), prepared)
let (rawLine, rawMBs) = line("1. raw files", rawSecs, rawLat, raw: nil)
print(rawLine)

// 2. bus + disk
var mesh = MeshConfig.ipc(in: dir, services: ["roster", "devices", "timing", "recordings", "gateway"])
mesh.services["gateway"]?.http = "127.0.0.1:0"
let meshPath = dir + "/mesh.json"
try mesh.write(to: meshPath)
let standIns = StandIns()
try await standIns.start(mesh, candidates: 2 * ((streams + 1) / 2))
let launcher = try MeshLauncher(binDir: MeshLauncher.ownBinDir, dataDir: dir, meshPath: meshPath)
try await launcher.start(MeshLauncher.Spec(name: "recordings", arguments: ["--log-level", "warning", "--grace", "3600"]))
let tools = MeshClient(mesh: mesh, caller: "recordings-bench")
let bus = BusPath(client: try tools.client("recordings"), startMs: standIns.startedAtMs)
let (busSecs, busLat) = try await run(bus, prepared)
let (busLine, _) = line("2. bus + disk", busSecs, busLat, raw: rawMBs)
print(busLine)

// 3. gateway HTTP + bus + disk: a gateway process in front of the same recordings.
try await launcher.start(MeshLauncher.Spec(name: "gateway", arguments: ["--log-level", "warning"]))
guard let ready = launcher.readyLine("gateway"), let http = ready.split(separator: " ").first(where: { $0.hasPrefix("http=") }),
      let port = Int(http.split(separator: ":").last ?? "") else { throw BenchError("the gateway said no http address") }
let gateway = GatewayPath(port: port, startMs: standIns.startedAtMs, firstCandidate: (streams + 1) / 2)
let (gwSecs, gwLat) = try await run(gateway, prepared)
await gateway.close()
let (gwLine, gwMBs) = line("3. gateway HTTP + bus + disk", gwSecs, gwLat, raw: rawMBs)
print(gwLine)
print(String(format: "   target: at least 100 MB/s through the gateway: %@", gwMBs >= 100 ? "met" : "NOT met"))
_ = await launcher.stop("gateway")

let stats = try await tools.call("recordings", NodeAPI.stats, StatsRequest(), timeout: .seconds(5))
let stored = stats.counters.first { $0.name == "recordings.bytes_stored" }?.value ?? 0
print("recordings stored \(stored >> 20) MiB in \(stats.counters.first { $0.name == "recordings.chunks_stored" }?.value ?? 0) chunks; "
      + "engine commits \(stats.counters.first { $0.name == "engine.commits" }?.value ?? 0)")
_ = await launcher.stop("recordings")
tools.close()
standIns.reactor.shutdown()
if !keep { try? FileManager.default.removeItem(atPath: dir) } else { print("kept \(dir)") }
