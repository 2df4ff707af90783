// gateway-bench: the edge under load, next to the same work done directly
// on the bus, in one run (issue 12; R31, R60, R61).
//
//   1. login + my registration: N concurrent clients, each POST
//      /api/v1/session then GET /api/v1/me over HTTP, against the same two
//      calls (Roster/Login, Roster/Me) made directly on the bus; p50/p99.
//   2. heartbeats: phones on WebSockets sending their status as fast as
//      the gateway acknowledges (a few in flight each), into devices in
//      batches; against HeartbeatBatch calls made directly on the bus.
//      Target: at least 40,000/s (twice 10,000 candidates' 20,000 phones).
//   3. memory: the gateway's resident memory per open, greeted WebSocket,
//      with as many connections as this machine's open-file limit allows
//      (20,000 asked; the hard limit here is 20,000 per process).
//
// It starts roster, timing, devices and gateway itself (release builds
// beside it, an ipc mesh in a temp folder):
//   swift build -c release && .build/release/gateway-bench [--clients 1000] [--phones 2000]
//       [--seconds 6] [--inflight 4] [--connections 20000] [--keep]
import Bus
import DemoKit
import ExamContracts
import ExamDay
import ExamPlan
import Foundation
import HTTPTypes
import HummingbirdTesting
import HummingbirdWSClient
import Logging
import NIOCore
import ServiceKit
import Synchronization

func arg(_ name: String, _ def: Int) -> Int {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: name), i + 1 < a.count, let v = Int(a[i + 1]) { return v }
    return def
}

let clients = arg("--clients", 1000)
let phones = arg("--phones", 2000) / 2 * 2
let seconds = arg("--seconds", 6)
let inflight = arg("--inflight", 4)
let askedConnections = arg("--connections", 20_000)
let candidates = max(clients, phones / 2)
let trace = CommandLine.arguments.contains("--trace")
let clock = ContinuousClock()
var quiet = Logger(label: "bench")
quiet.logLevel = .critical

/// A value shared by the bench's tasks.
final class Shared<T: Sendable>: Sendable {
    private let m: Mutex<T>
    init(_ v: T) { m = Mutex(v) }
    func withLock<R>(_ body: (inout T) -> R) -> R { m.withLock { body(&$0) } }
}

/// Lines as they come, unbuffered (a pipe, a crash).
func print(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func secs(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
func ms(_ d: Duration) -> String { String(format: "%.1f ms", secs(d) * 1000) }
func percentile(_ xs: [Duration], _ p: Double) -> Duration {
    let s = xs.sorted()
    return s.isEmpty ? .zero : s[min(s.count - 1, Int(Double(s.count - 1) * p))]
}

/// Raise this process's open-file limit to its hard limit (children inherit it).
func raiseFileLimit() -> Int {
    var r = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &r)
    r.rlim_cur = r.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &r)
    return Int(r.rlim_cur)
}

func rssKiB(_ pid: Int32) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
}

func cpuSeconds(_ pid: Int32) -> Double {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = s.lastIndex(of: ")") else { return 0 }
    let f = s[s.index(after: close)...].split(separator: " ")
    return (Double(f[11]) ?? 0 + 0) / 100 + (Double(f[12]) ?? 0) / 100
}

let fileLimit = raiseFileLimit()
let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
var meshConfig = MeshConfig.ipc(in: dir, services: ["roster", "timing", "devices", "gateway"])
meshConfig.services["gateway"]?.http = "127.0.0.1:0"
meshConfig.curve = MeshConfig.Curve(keysDir: dir + "/keys")  // as deployed (issue 16)
let meshPath = dir + "/mesh.json"
try meshConfig.write(to: meshPath)
let people = DemoRoster(count: candidates, seed: 7)
try Data(people.planJSON(roomSize: 50, confirmation: ("+2s", "+7200s"), mockEntry: ("+7300s", "+7400s"),
                         formalEntry: ("+9000s", "+9100s"), publication: "+20000s", readingSeconds: 300, answeringSeconds: 300).utf8)
    .write(to: URL(fileURLWithPath: dir + "/plan.json"))
let launcher = try MeshLauncher(binDir: MeshLauncher.ownBinDir, dataDir: dir, meshPath: meshPath)
try await launcher.start([
    .init(name: "roster", arguments: ["--scrypt-n", "1024"]),
    .init(name: "timing", arguments: ["--plan", dir + "/plan.json"]),
    .init(name: "devices", arguments: ["--log-level", "warning"]),
])
try await launcher.start(.init(name: "gateway", arguments: ["--login-per-address", "10000000", "--log-level", trace ? "debug" : "warning"]))
guard let ready = launcher.readyLine("gateway"),
      let http = ready.split(separator: " ").first(where: { $0.hasPrefix("http=") })?.dropFirst(5),
      let port = Int(http.split(separator: ":").last ?? "") else { fatalError("gateway said no http address") }
let gatewayPID = launcher.pid("gateway")!
// The bench's own calls stand in for the gateway's (it asserts the gateway's service actor), so it uses the gateway's key.
let mesh = MeshClient(mesh: meshConfig, caller: "gateway-bench", member: "gateway")
let ops = CallPrincipal(id: "ops", role: .ops)
_ = try await mesh.call("roster", RosterAPI.import, ImportRequest(csv: people.csv(), fileName: "bench.csv"), timeout: .seconds(120), as: ops)
print("gateway-bench: \(candidates) candidates, gateway http=\(http) pid \(gatewayPID), open-file limit \(fileLimit), temp \(dir)")

// MARK: 1. login + my registration

/// Runs `body` for every candidate index with `n` at once; returns each one's time.
func concurrently(_ n: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws -> [Duration] {
    try await withThrowingTaskGroup(of: Duration.self) { g in
        for i in 0..<n {
            g.addTask {
                let t = clock.now
                try await body(i)
                return clock.now - t
            }
        }
        var out: [Duration] = []
        for try await d in g { out.append(d) }
        return out
    }
}

let tokens = Shared<[Int: String]>([:])
func loginBus() async throws -> [Duration] {
    try await concurrently(clients) { i in
        let c = people.candidates[i]
        let r = try await mesh.call("roster", RosterAPI.login, LoginRequest(phone: c.phone, password: c.defaultPassword), timeout: .seconds(60),
                                    as: CallPrincipal(id: "gateway", role: .service))
        let me = try await mesh.call("roster", RosterAPI.me, TokenRequest(token: r.token), timeout: .seconds(60),
                                     as: CallPrincipal(id: c.examNumber, role: .candidate))
        precondition(me.examNumber == c.examNumber)
        tokens.withLock { $0[i] = r.token }
    }
}

func loginHTTP() async throws -> [Duration] {
    try await concurrently(clients) { i in
        let c = people.candidates[i]
        try await TestClient.withClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(60))) { client in
            let r = try await client.post("/api/v1/session", headers: [.contentType: "application/json"],
                                          body: ByteBuffer(string: #"{"phone":"\#(c.phone)","password":"\#(c.defaultPassword)"}"#))
            guard r.status == .created, let body = r.body, let s = try? JSONDecoder().decode([String: AnyCodable].self, from: Data(buffer: body)),
                  case .string(let token) = s["token"] else { throw BenchError("login of \(c.examNumber): \(r.status) \(r.body.map { String(buffer: $0) } ?? "")") }
            let me = try await client.get("/api/v1/me", headers: [.authorization: "Bearer \(token)"])
            guard me.status == .ok else { throw BenchError("me of \(c.examNumber): \(me.status)") }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

enum AnyCodable: Decodable {
    case string(String), other
    init(from d: Decoder) throws {
        if let s = try? d.singleValueContainer().decode(String.self) { self = .string(s) } else { self = .other }
    }
}

// Warm up, as the bus side is: timing has applied the import (its backlog of
// roster events is its own cost, issue 15) and the gateway has its bus
// connections (the plan it fetched itself at start).
_ = try await mesh.call("timing", TimingAPI.getCandidateState,
                        CandidateStateRequest(examNumber: people.candidates[candidates - 1].examNumber, sitting: .formal), timeout: .seconds(120))
try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
    let c = people.candidates[candidates - 1]
    let r = try await client.post("/api/v1/session", headers: [.contentType: "application/json"],
                                  body: ByteBuffer(string: #"{"phone":"\#(c.phone)","password":"\#(c.defaultPassword)"}"#))
    precondition(r.status == .created)
}
var busRounds: [[Duration]] = [], httpRounds: [[Duration]] = []
for _ in 0..<2 {
    busRounds.append(try await loginBus())
    httpRounds.append(try await loginHTTP())
}
let bus = busRounds.flatMap { $0 }, web = httpRounds.flatMap { $0 }
for (k, (b, w)) in zip(busRounds, httpRounds).enumerated() {
    print("   round \(k + 1): bus p50 \(ms(percentile(b, 0.5))) p99 \(ms(percentile(b, 0.99)));  gateway p50 \(ms(percentile(w, 0.5))) p99 \(ms(percentile(w, 0.99)))")
}
print("1. login + my registration, \(clients) concurrent clients, 2 rounds each (roster's scrypt N=1024 for both):")
print("   bus directly   p50 \(ms(percentile(bus, 0.5)))  p99 \(ms(percentile(bus, 0.99)))  max \(ms(percentile(bus, 1)))")
print("   via gateway    p50 \(ms(percentile(web, 0.5)))  p99 \(ms(percentile(web, 0.99)))  max \(ms(percentile(web, 1)))")
print(String(format: "   ratio gateway/bus: p50 %.2fx  p99 %.2fx", secs(percentile(web, 0.5)) / secs(percentile(bus, 0.5)),
             secs(percentile(web, 0.99)) / secs(percentile(bus, 0.99))))

// MARK: 2. heartbeats

@Sendable func status(main: Bool) -> ExamContracts.DeviceStatus {
    ExamContracts.DeviceStatus(cameraOn: true, camera: main ? .front : .rear, microphoneOn: true, speakerVolume: main ? 50 : 0,
                               batteryPercent: 90, network: .wifi, inForeground: true, autoLockOff: true, clientVersion: "web-1",
                               os: .android, osVersion: "14")
}
let statusJSON = [
    #"{"type":"status","status":{"cameraOn":true,"camera":"front","microphoneOn":true,"speakerVolume":50,"batteryPercent":90,"network":"wifi","inForeground":true,"autoLockOff":true,"clientVersion":"web-1","os":"android","osVersion":"14"}}"#,
    #"{"type":"status","status":{"cameraOn":true,"camera":"rear","microphoneOn":true,"speakerVolume":0,"batteryPercent":90,"network":"wifi","inForeground":true,"autoLockOff":true,"clientVersion":"web-1","os":"android","osVersion":"14"}}"#,
]
struct Phone: Sendable {
    var candidate: Int
    var main: Bool
    var id: String
    var key: String
    var token: String
}
let allTokens = tokens.withLock { $0 }
// Phones are registered only for confirmed candidates (R6): a photo, then confirm (R3).
let plan = try ExamPlan(info: try await mesh.call("timing", TimingAPI.getPlan, GetPlanRequest()))
try await waitForClock(plan.confirmation.opens)
_ = try await concurrently(phones / 2) { i in
    let token = allTokens[i]!
    let who = CallPrincipal(id: people.candidates[i].examNumber, role: .candidate)
    _ = try await mesh.call("roster", RosterAPI.uploadIdPhoto,
                            UploadIdPhotoRequest(token: token, photo: SyntheticPhoto.png(seed: UInt64(1000 + i)), fileName: "p.png"),
                            timeout: .seconds(60), as: who)
    _ = try await mesh.call("roster", RosterAPI.confirm, TokenRequest(token: token), timeout: .seconds(60), as: who)
}
let registered = Shared<[Phone]>([])
_ = try await concurrently(phones / 2) { i in
    let token = allTokens[i]!
    for main in [true, false] {
        let id = "bench-\(i)-\(main ? "m" : "s")"
        let request = RegisterRequest(token: token, role: main ? .main : .secondary, deviceId: id, account: "wx-\(id)", status: status(main: main))
        // Devices hears of the confirmation by roster's event; until then it refuses (bounded wait).
        var attempt = 0
        while true {
            do {
                let r = try await mesh.call("devices", DevicesAPI.registerDevice, request, timeout: .seconds(60),
                                            as: CallPrincipal(id: people.candidates[i].examNumber, role: .candidate))
                registered.withLock { $0.append(Phone(candidate: i, main: main, id: id, key: r.deviceKey, token: token)) }
                break
            } catch let e as RPCError where e.code == .permissionDenied && attempt < 100 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
let phoneList = registered.withLock { $0 }

func beatsBus(_ phoneList: [Phone], seconds: Int, inflight: Int) async throws -> Double {
    let batch = 500
    let sent = Shared(0)
    let deadline = clock.now + .seconds(seconds)
    let cpu0 = cpuSeconds(launcher.pid("devices")!)
    let t0 = clock.now
    try await withThrowingTaskGroup(of: Void.self) { g in
        for w in 0..<inflight {
            g.addTask {
                var k = w * batch
                while clock.now < deadline {
                    let hb = (0..<batch).map { j -> HeartbeatRequest in
                        let p = phoneList[(k + j) % phoneList.count]
                        return HeartbeatRequest(deviceId: p.id, deviceKey: p.key, status: status(main: p.main))
                    }
                    k += batch * inflight
                    let r = try await mesh.call("devices", DevicesAPI.heartbeatBatch, HeartbeatBatchRequest(heartbeats: hb),
                                                as: CallPrincipal(id: "gateway", role: .service))
                    precondition(r.refused.isEmpty, "refused: \(r.refused.first!.message)")
                    sent.withLock { $0 += batch }
                }
            }
        }
        try await g.waitForAll()
    }
    let took = secs(clock.now - t0)
    let n = sent.withLock { $0 }
    print(String(format: "   bus directly: %d heartbeats in %.1f s = %.0f/s (HeartbeatBatch of %d, %d in flight; devices CPU %.1f s)",
                 n, took, Double(n) / took, batch, inflight, cpuSeconds(launcher.pid("devices")!) - cpu0))
    return Double(n) / took
}

/// Each phone: hello, then statuses with `inflight` awaiting their beat.
func beatsWebSocket(_ phoneList: [Phone], statusJSON: [String], port: Int, seconds: Int, inflight: Int, gatewayPID: Int32,
                    quiet: Logger) async throws -> Double {
    let acked = Shared(0), refused = Shared(0)
    let welcomed = Shared(0)
    let deadline = clock.now + .seconds(seconds)
    let started = Shared<ContinuousClock.Instant?>(nil)
    let cpu0 = (cpuSeconds(gatewayPID), cpuSeconds(launcher.pid("devices")!))
    try await withThrowingTaskGroup(of: Void.self) { g in
        for p in phoneList {
            g.addTask {
                try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/api/v1/ws", logger: quiet) { inbound, outbound, _ in
                    try await outbound.write(.text(#"{"type":"hello","token":"\#(p.token)","sitting":"formal","deviceId":"\#(p.id)","deviceKey":"\#(p.key)"}"#))
                    var it = inbound.messages(maxSize: 1 << 16).makeAsyncIterator()
                    // Wait for the welcome, then start together.
                    while let m = try await it.next() {
                        if trace && p.candidate == 0 { print("   trace \(p.id): \(m)") }
                        if case .text(let s) = m, s.contains("\"welcome\"") { break }
                    }
                    welcomed.withLock { $0 += 1 }
                    started.withLock { if $0 == nil { $0 = clock.now } }
                    let text = statusJSON[p.main ? 0 : 1]
                    for _ in 0..<inflight { try await outbound.write(.text(text)) }
                    while let m = try await it.next() {
                        if trace && p.candidate == 0 { print("   trace \(p.id): \(m)") }
                        guard case .text(let s) = m, s.contains("\"type\":\"beat\"") else { continue }
                        if s.contains("\"ok\":true") { acked.withLock { $0 += 1 } } else { refused.withLock { $0 += 1 } }
                        if clock.now >= deadline { break }
                        try await outbound.write(.text(text))
                    }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
        }
        try await g.waitForAll()
    }
    let took = secs(deadline - (started.withLock { $0 } ?? deadline))
    let n = acked.withLock { $0 }
    let cpu = (cpuSeconds(gatewayPID) - cpu0.0, cpuSeconds(launcher.pid("devices")!) - cpu0.1)
    print(String(format: "   via gateway:  %d heartbeats in %.1f s = %.0f/s (%d phones on WebSockets, %d in flight each, %d refused; gateway CPU %.1f s, devices CPU %.1f s)",
                 n, took, Double(n) / took, welcomed.withLock { $0 }, inflight, refused.withLock { $0 }, cpu.0, cpu.1))
    return Double(n) / took
}

print("2. heartbeats into devices (\(phoneList.count) phones, \(seconds) s each):")
let hbBus = try await beatsBus(phoneList, seconds: seconds, inflight: inflight)
let hbWS = try await beatsWebSocket(phoneList, statusJSON: statusJSON, port: port, seconds: seconds, inflight: inflight,
                                    gatewayPID: gatewayPID, quiet: quiet)
print(String(format: "   ratio gateway/bus: %.2f; target 40000/s through the gateway: %@", hbWS / hbBus, hbWS >= 40_000 ? "met" : "NOT met"))

// MARK: 3. memory per open WebSocket

// Leave room for the gateway's own files (stores, bus sockets, logs).
let connections = min(askedConnections, fileLimit - 200)
let rss0 = rssKiB(gatewayPID)
let greetings = AsyncStream<Int>.makeStream()
let failures = Shared<[String]>([])
print("3. memory: opening \(connections) greeted WebSockets (asked \(askedConnections); open-file limit \(fileLimit)); gateway RSS before: \(rss0 / 1024) MiB")
let t3 = clock.now
let holders = Task { [phoneList, port, quiet, connections] in
    await withTaskGroup(of: Void.self) { g in
        for k in 0..<connections {
            let p = phoneList[k % phoneList.count]
            g.addTask {
                do {
                    try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/api/v1/ws", logger: quiet) { inbound, outbound, _ in
                        try await outbound.write(.text(#"{"type":"hello","token":"\#(p.token)","sitting":"formal","deviceId":"\#(p.id)","deviceKey":"\#(p.key)"}"#))
                        var it = inbound.messages(maxSize: 1 << 16).makeAsyncIterator()
                        var told = false
                        // Hold the connection open, reading what is pushed, until cancelled.
                        while let m = try await it.next() {
                            if !told, case .text(let s) = m, s.contains("\"state\"") {
                                told = true
                                greetings.continuation.yield(k)
                            }
                        }
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                    greetings.continuation.yield(-1)
                }
            }
        }
    }
}
var greeted = 0, failed = 0
for await k in greetings.stream {
    if k < 0 { failed += 1 } else { greeted += 1 }
    if greeted + failed == connections { break }
}
let took3 = clock.now - t3
let rss1 = rssKiB(gatewayPID)
print(String(format: "   %d greeted (%d failed) in %.1f s; gateway RSS after: %d MiB; per open WebSocket: %.1f KiB",
             greeted, failed, secs(took3), rss1 / 1024, Double(rss1 - rss0) / Double(max(1, greeted))))
if let f = failures.withLock({ $0.first }) { print("   first failure: \(f)") }
holders.cancel()
mesh.close()
await launcher.stopAll()
if !CommandLine.arguments.contains("--keep") { try? FileManager.default.removeItem(atPath: dir) }
