// roster-bench: candidates' logins against a real roster (issue 15), with the
// default scrypt cost. The slow hashes run off roster's state thread on a
// bounded pool; this shows what that buys: other roster calls (GetCandidate,
// Counts) stay quick during a flood of logins.
//
//   1. a real `roster` process (MeshLauncher, ipc mesh in a temp folder),
//      the generated list imported (DemoKit, 2,000 candidates);
//   2. other calls with no flood: p50/p99 (the baseline);
//   3. some candidates change their password (each a hash or two);
//   4. a flood: many concurrent clients logging in (half with a changed
//      password: a hash each; half with the default: no hash), while one
//      probe client times GetCandidate and Counts: logins/s and the probe's
//      p50/p99 during the flood.
//
// Build both in release first:
//   swift build -c release --product roster && swift build -c release --product roster-bench
//   .build/release/roster-bench [--candidates 2000] [--changed 200] [--clients 64] [--seconds 15]
//                               [--roster-args "--hash-workers 2 --hash-queue 256"] [--keep]
import Bus
import DemoKit
import ExamContracts
import Foundation
import ServiceKit
import Synchronization

func arg(_ name: String, _ def: Int) -> Int {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: name), i + 1 < a.count, let v = Int(a[i + 1]) { return v }
    return def
}
func argString(_ name: String) -> String? {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: name), i + 1 < a.count { return a[i + 1] }
    return nil
}

let candidateCount = arg("--candidates", 2000)
let changedCount = min(arg("--changed", 200), candidateCount)
let clients = arg("--clients", 64)
let seconds = arg("--seconds", 15)
let rosterArgs = (argString("--roster-args") ?? "").split(separator: " ").map(String.init)
let keep = CommandLine.arguments.contains("--keep")
let clock = ContinuousClock()
let ops = CallPrincipal(id: "ops", role: .ops)

func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
func secs(_ d: Duration) -> Double { ms(d) / 1000 }
func percentile(_ xs: [Double], _ p: Double) -> Double {
    guard !xs.isEmpty else { return .nan }
    let s = xs.sorted()
    return s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))]
}
func line(_ label: String, _ xs: [Double]) -> String {
    String(format: "%@: %d calls, p50 %.2f ms, p99 %.2f ms, max %.2f ms", label, xs.count,
           percentile(xs, 0.5), percentile(xs, 0.99), xs.max() ?? .nan)
}

/// Times GetCandidate and Counts, one after the other, until `stop`.
func probe(_ tools: MeshClient, _ people: DemoRoster, until stop: @escaping @Sendable () -> Bool) async throws
    -> (get: [Double], counts: [Double]) {
    var get: [Double] = [], counts: [Double] = []
    var k = 0
    while !stop() {
        let c = people.candidates[k % people.candidates.count]
        var t = clock.now
        _ = try await tools.call("roster", RosterAPI.getCandidate, CandidateRef(examNumber: c.examNumber), as: ops)
        get.append(ms(clock.now - t))
        t = clock.now
        _ = try await tools.call("roster", RosterAPI.counts, CountsRequest(), as: ops)
        counts.append(ms(clock.now - t))
        k += 1
        try await Task.sleep(for: .milliseconds(5))
    }
    return (get, counts)
}

let dir = "/tmp/exam-roster-bench-\(UUID().uuidString.prefix(8))"
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
var mesh = MeshConfig.ipc(in: dir, services: ["roster"])
mesh.curve = MeshConfig.Curve(keysDir: dir + "/keys", tools: ["roster-bench": ["staff", "candidate"]])  // as deployed (issue 16)
let meshPath = dir + "/mesh.json"
try mesh.write(to: meshPath)
let launcher = try MeshLauncher(binDir: MeshLauncher.ownBinDir, dataDir: dir, meshPath: meshPath)
try await launcher.start(MeshLauncher.Spec(name: "roster", arguments: ["--log-level", "warning"] + rosterArgs))
let tools = MeshClient(mesh: mesh, caller: "roster-bench")
print("roster-bench: \(ProcessInfo.processInfo.activeProcessorCount) cores, roster \(rosterArgs.isEmpty ? "(defaults: scrypt N=32768, hash workers = cores, queue 256)" : rosterArgs.joined(separator: " "))")

// 1. The list.
let people = DemoRoster(count: candidateCount, seed: 15)
var t = clock.now
let imported = try await tools.call("roster", RosterAPI.import, ImportRequest(csv: people.csv(), fileName: "bench.csv"), timeout: .seconds(120), as: ops)
print(String(format: "import: %d candidates in %.2f s", imported.imported, secs(clock.now - t)))

// 2. Other calls with no flood.
let quietEnd = clock.now + .seconds(3)
let quiet = try await probe(tools, people) { clock.now >= quietEnd }
print("no flood:")
print("  " + line("GetCandidate", quiet.get))
print("  " + line("Counts", quiet.counts))

// 3. Some candidates change their password.
let changed = Array(people.candidates.prefix(changedCount))
let newPassword: @Sendable (DemoCandidate) -> String = { "Bench-\($0.examNumber)" }
t = clock.now
try await withThrowingTaskGroup(of: Void.self) { g in
    for slice in 0..<8 {
        g.addTask {
            for c in changed.enumerated().filter({ $0.offset % 8 == slice }).map(\.element) {
                let who = CallPrincipal(id: c.examNumber, role: .candidate)
                let r = try await tools.call("roster", RosterAPI.login, LoginRequest(phone: c.phone, password: c.defaultPassword), timeout: .seconds(60), as: who)
                _ = try await tools.call("roster", RosterAPI.changePassword,
                                         ChangePasswordRequest(token: r.token, oldPassword: c.defaultPassword, newPassword: newPassword(c)),
                                         timeout: .seconds(60), as: who)
            }
        }
    }
    try await g.waitForAll()
}
let changeTook = clock.now - t
print(String(format: "password changes: %d (login + change each) in %.2f s, %.1f/s", changed.count, secs(changeTook),
             Double(changed.count) / secs(changeTook)))

// 4. The flood, and the probe meanwhile.
struct Tally: Sendable { var hashed = 0, plain = 0, exhausted = 0, other = 0; var hashedMs: [Double] = []; var errors: [String] = [] }
let tally = Mutex(Tally())
let defaults = Array(people.candidates.dropFirst(changedCount))
let floodStart = clock.now
let floodEnd = floodStart + .seconds(seconds)
async let during = probe(tools, people) { clock.now >= floodEnd }
try await withThrowingTaskGroup(of: Void.self) { g in
    for client in 0..<clients {
        g.addTask {
            var k = client
            while clock.now < floodEnd {
                // Half the clients log in with a changed password (a hash), half with the default.
                let slow = client % 2 == 0 || defaults.isEmpty
                let c = slow ? changed[k % changed.count] : defaults[k % defaults.count]
                k += clients
                let start = clock.now
                do {
                    _ = try await tools.call("roster", RosterAPI.login,
                                             LoginRequest(phone: c.phone, password: slow ? newPassword(c) : c.defaultPassword),
                                             timeout: .seconds(30), as: CallPrincipal(id: c.examNumber, role: .candidate))
                    let took = ms(clock.now - start)
                    tally.withLock { if slow { $0.hashed += 1; $0.hashedMs.append(took) } else { $0.plain += 1 } }
                } catch let e as RPCError where e.code == .resourceExhausted {
                    tally.withLock { $0.exhausted += 1 }
                    try await Task.sleep(for: .milliseconds(200))
                } catch {
                    tally.withLock { $0.other += 1; if $0.errors.count < 5 { $0.errors.append("\(error)") } }
                }
            }
        }
    }
    try await g.waitForAll()
}
let floodTook = secs(clock.now - floodStart)
let busy = try await during
let done = tally.withLock { $0 }
print(String(format: "flood: %d clients for %.1f s: %.1f logins/s (%d with a changed password = %.1f hashed/s, %d with the default), %d RESOURCE_EXHAUSTED, %d other errors",
             clients, floodTook, Double(done.hashed + done.plain) / floodTook, done.hashed, Double(done.hashed) / floodTook,
             done.plain, done.exhausted, done.other))
if !done.errors.isEmpty { print("  errors: \(done.errors)") }
print("  " + line("Login with a changed password (waits for a hash worker)", done.hashedMs))
print("during the flood:")
print("  " + line("GetCandidate", busy.get))
print("  " + line("Counts", busy.counts))
print(String(format: "p99 of other calls: %.2f ms with no flood, %.2f ms during the flood",
             percentile(quiet.get + quiet.counts, 0.99), percentile(busy.get + busy.counts, 0.99)))

tools.close()
await launcher.stopAll()
if keep { print("kept \(dir)") } else { try? FileManager.default.removeItem(atPath: dir) }
