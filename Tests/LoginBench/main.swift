// login-bench: a formal morning's login burst through the real gateway and
// roster, with the deployed hash cost (issue 22; R2, R63).
//
//   1. what one hash costs here, and roster's hash workers (one per core);
//   2. every candidate changes the password first (so each login costs a
//      real scrypt hash, N=2^15 r=8 as deployed), as most will have done;
//   3. the burst: --clients concurrent logins at once over HTTP, each
//      following the phone page's policy: on 429 wait Retry-After plus up
//      to half again at random, and try again. It prints the share of
//      answers 201 / 429 / 5xx (5xx must be 0: "wait" before "failed"),
//      p50/p99 from the first try until in, and logins/s;
//   4. constant cost: 50 logins each of a wrong password on a phone still
//      on its default, of an unknown phone and of a wrong password on a
//      changed one, one at a time: their medians (within 10 % of each other).
//
// Build in release first, then run:
//   swift build -c release --product roster && swift build -c release --product gateway
//   swift build -c release --product login-bench && .build/release/login-bench [--clients 2000] [--keep]
import Bus
import DemoKit
import ExamContracts
import Foundation
import HummingbirdTesting
import NIOCore
import Passwords
import ServiceKit
import Synchronization

func arg(_ name: String, _ def: Int) -> Int {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: name), i + 1 < a.count, let v = Int(a[i + 1]) { return v }
    return def
}
let clients = arg("--clients", 2000)
let probes = arg("--probes", 50)
let scryptN = arg("--scrypt-n", 1 << 15)
let cores = ProcessInfo.processInfo.activeProcessorCount
let clock = ContinuousClock()

final class Shared<T: Sendable>: Sendable {
    private let m: Mutex<T>
    init(_ v: T) { m = Mutex(v) }
    func withLock<R>(_ body: (inout T) -> R) -> R { m.withLock { body(&$0) } }
}
func print(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
func secs(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
func ms(_ d: Duration) -> String { String(format: "%.1f ms", secs(d) * 1000) }
func percentile(_ xs: [Duration], _ p: Double) -> Duration {
    let s = xs.sorted()
    return s.isEmpty ? .zero : s[min(s.count - 1, Int(Double(s.count - 1) * p))]
}
func raiseFileLimit() -> Int {
    var r = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &r)
    r.rlim_cur = r.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &r)
    return Int(r.rlim_cur)
}
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

// MARK: 1. one hash, the mesh

let oneHash = clock.measure { _ = ScryptPasswords(n: scryptN).hash("bench-password", salt: Array(repeating: 1, count: 16)) }
let fileLimit = raiseFileLimit()
let dir = FileManager.default.temporaryDirectory.appendingPathComponent("login-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
var meshConfig = MeshConfig.ipc(in: dir, services: ["roster", "timing", "devices", "gateway"])
meshConfig.services["gateway"]?.http = "127.0.0.1:0"
meshConfig.curve = MeshConfig.Curve(keysDir: dir + "/keys")
let meshPath = dir + "/mesh.json"
try meshConfig.write(to: meshPath)
let people = DemoRoster(count: clients + probes, seed: 22)
try Data(people.planJSON(roomSize: 50, confirmation: ("+2s", "+7200s"), mockEntry: ("+7300s", "+7400s"),
                         formalEntry: ("+9000s", "+9100s"), publication: "+20000s", readingSeconds: 300, answeringSeconds: 300).utf8)
    .write(to: URL(fileURLWithPath: dir + "/plan.json"))
let launcher = try MeshLauncher(binDir: MeshLauncher.ownBinDir, dataDir: dir, meshPath: meshPath)
try await launcher.start([
    .init(name: "roster", arguments: ["--scrypt-n", String(scryptN), "--log-level", "warning"]),
    .init(name: "timing", arguments: ["--plan", dir + "/plan.json", "--log-level", "warning"]),
    .init(name: "devices", arguments: ["--log-level", "warning"]),
])
// The bench's clients all come from 127.0.0.1: the per-address limit (R63)
// is lifted, as a site behind carrier-grade NAT must also consider.
try await launcher.start(.init(name: "gateway", arguments: ["--login-per-address", "10000000", "--log-level", "warning"]))
guard let ready = launcher.readyLine("gateway"),
      let http = ready.split(separator: " ").first(where: { $0.hasPrefix("http=") })?.dropFirst(5),
      let port = Int(http.split(separator: ":").last ?? "") else { fatalError("gateway said no http address") }
let mesh = MeshClient(mesh: meshConfig, caller: "login-bench", member: "gateway")
_ = try await mesh.call("roster", RosterAPI.import, ImportRequest(csv: people.csv(), fileName: "bench.csv"), timeout: .seconds(120),
                        as: CallPrincipal(id: "ops", role: .ops))
print("login-bench: \(clients) candidates in the burst, scrypt N=\(scryptN) r=8, \(cores) cores (roster's hash workers), open-file limit \(fileLimit)")
print("1. one hash here: \(ms(oneHash)) (one core: \(String(format: "%.1f", 1 / secs(oneHash))) hashes/s)")

// MARK: 2. changed passwords

@Sendable func newPassword(_ i: Int) -> String { "Bench-\(i)-pass" }
let prepStart = clock.now
try await withThrowingTaskGroup(of: Void.self) { g in
    var next = 0
    func add() {
        guard next < clients else { return }
        let i = next
        next += 1
        g.addTask {
            let c = people.candidates[i]
            let r = try await mesh.call("roster", RosterAPI.login, LoginRequest(phone: c.phone, password: c.defaultPassword), timeout: .seconds(120),
                                        as: CallPrincipal(id: "gateway", role: .service))
            _ = try await mesh.call("roster", RosterAPI.changePassword,
                                    ChangePasswordRequest(token: r.token, oldPassword: c.defaultPassword, newPassword: newPassword(i)),
                                    timeout: .seconds(120), as: CallPrincipal(id: c.examNumber, role: .candidate))
        }
    }
    // As many at once as the workers take, so no call meets a full queue.
    for _ in 0..<(cores * 2) { add() }
    while try await g.next() != nil { add() }
}
print("2. \(clients) passwords changed in \(String(format: "%.0f", secs(clock.now - prepStart))) s (3 hashes each)")

// MARK: 3. the burst

struct Outcome: Sendable {
    var created = 0, queued = 0, throttled = 0, serverErrors = 0, other = 0
    var untilIn: [Duration] = []
    var tries: [Int] = []
}
let outcome = Shared(Outcome())
let burstStart = clock.now
try await withThrowingTaskGroup(of: Void.self) { g in
    for i in 0..<clients {
        g.addTask {
            let c = people.candidates[i]
            let started = clock.now
            var attempt = 0
            while true {
                attempt += 1
                let r = try await TestClient.withClient(host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(60))) { client in
                    try await client.post("/api/v1/session", headers: [.contentType: "application/json"],
                                          body: ByteBuffer(string: #"{"phone":"\#(c.phone)","password":"\#(newPassword(i))"}"#))
                }
                let code = r.status.code
                if code == 201 {
                    outcome.withLock { $0.created += 1; $0.untilIn.append(clock.now - started); $0.tries.append(attempt) }
                    return
                }
                let body = r.body.map { String(buffer: $0) } ?? ""
                if code == 429 {
                    let after = Double(r.headers[.retryAfter] ?? "") ?? 1
                    outcome.withLock { body.contains("正在排队") ? ($0.queued += 1) : ($0.throttled += 1) }
                    // The page's policy: Retry-After plus up to half again.
                    try await Task.sleep(for: .milliseconds(Int(after * (1 + Double.random(in: 0..<0.5)) * 1000)))
                    continue
                }
                outcome.withLock { code >= 500 ? ($0.serverErrors += 1) : ($0.other += 1) }
                throw BenchError("login of \(c.examNumber): \(code) \(body)")
            }
        }
    }
    try await g.waitForAll()
}
let burst = clock.now - burstStart
let o = outcome.withLock { $0 }
let answers = o.created + o.queued + o.throttled + o.serverErrors + o.other
func share(_ n: Int) -> String { String(format: "%d (%.1f %%)", n, 100 * Double(n) / Double(max(1, answers))) }
print("3. burst: \(clients) concurrent logins with changed passwords, each retrying as the page does")
print("   answers: \(answers); 201 \(share(o.created)), 429 queued \(share(o.queued)), 429 rate limit \(share(o.throttled)), 5xx \(share(o.serverErrors)), other \(share(o.other))")
print("   until in: p50 \(String(format: "%.1f", secs(percentile(o.untilIn, 0.5)))) s  p99 \(String(format: "%.1f", secs(percentile(o.untilIn, 0.99)))) s  max \(String(format: "%.1f", secs(percentile(o.untilIn, 1)))) s; tries p50 \(o.tries.sorted()[o.tries.count / 2]) max \(o.tries.max() ?? 0)")
let rate = Double(clients) / secs(burst)
print(String(format: "   all %d in after %.1f s: %.1f logins/s on %d cores (%.1f per core; one hash alone %.1f/s)",
             clients, secs(burst), rate, cores, rate / Double(cores), 1 / secs(oneHash)))

// MARK: 4. constant cost

func timedLogin(_ phone: String, _ password: String) async throws -> Duration {
    try await TestClient.withClient(host: "127.0.0.1", port: port) { client in
        let t = clock.now
        let r = try await client.post("/api/v1/session", headers: [.contentType: "application/json"],
                                      body: ByteBuffer(string: #"{"phone":"\#(phone)","password":"\#(password)"}"#))
        let d = clock.now - t
        guard r.status.code == 401 else { throw BenchError("expected 401, got \(r.status.code)") }
        return d
    }
}
var onDefault: [Duration] = [], unknown: [Duration] = [], onChanged: [Duration] = []
for k in 0..<probes {
    // Interleaved, so a noisy moment falls on all three alike.
    onDefault.append(try await timedLogin(people.candidates[clients + k].phone, "000000"))
    unknown.append(try await timedLogin(String(format: "1990000%04d", k), "000000"))
    onChanged.append(try await timedLogin(people.candidates[k].phone, "000000"))
}
let medians = [percentile(onDefault, 0.5), percentile(unknown, 0.5), percentile(onChanged, 0.5)]
let spread = secs(medians.max()!) / secs(medians.min()!) - 1
print("4. constant cost, \(probes) wrong logins each, one at a time (medians): default password \(ms(medians[0])), unknown phone \(ms(medians[1])), changed password \(ms(medians[2]))")
print(String(format: "   largest / smallest median: +%.1f %% (target: within 10 %%)", spread * 100))

// MARK: sizing

let window = 600.0
let perCore = rate / Double(cores)
print("sizing: 20,000 phones all hashing inside a 10-minute entry window need \(String(format: "%.1f", 20_000 / window / perCore)) cores of roster at this rate;"
      + " phones that logged in earlier (sessions last the exam day) need none")

await launcher.stopAll()
if !CommandLine.arguments.contains("--keep") { try? FileManager.default.removeItem(atPath: dir) }
