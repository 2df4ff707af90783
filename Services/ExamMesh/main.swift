// exam-mesh: runs the mesh. `up` starts every service as its own process
// on the mesh file's endpoints with one data folder, waits until each says
// READY, and stops them all cleanly on Ctrl-C / SIGTERM.
import ArgumentParser
import Bus
import DemoKit
import ExamDay
import ExamContracts
import ExamPlan
import Foundation
import NetLab
import ServiceKit
import Synchronization

@main
struct ExamMeshCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exam-mesh",
        abstract: "Run the interview mesh: every service as a separate process.",
        subcommands: [Demo.self, Up.self, Generate.self, Day.self, Chaos.self, Hosts.self, Relay.self],
        defaultSubcommand: Up.self)
}

struct LaunchOptions: ParsableArguments {
    @Option(help: "Mesh file (env EXAM_MESH).")
    var mesh: String = ProcessInfo.processInfo.environment["EXAM_MESH"] ?? "compose/mesh.json"

    @Option(help: "Data folder: one SQLite store per service, and logs/ (env EXAM_DATA).")
    var data: String = ProcessInfo.processInfo.environment["EXAM_DATA"] ?? "data"

    @Option(parsing: .upToNextOption, help: "Services to start (default: every service of the mesh file).")
    var services: [String] = []

    @Option(parsing: .upToNextOption, help: "Extra arguments for one service: name=arg (repeatable).")
    var arg: [String] = []

    func specs(_ mesh: MeshConfig) throws -> [MeshLauncher.Spec] {
        let names = services.isEmpty ? mesh.services.keys.sorted() : services
        var extra: [String: [String]] = [:]
        for a in arg {
            let parts = a.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--arg takes service=argument, got '\(a)'") }
            extra[parts[0], default: []].append(parts[1])
        }
        return try names.map { n in
            guard mesh.services[n] != nil else { throw ValidationError("no service '\(n)' in \(self.mesh)") }
            return MeshLauncher.Spec(name: n, arguments: extra[n] ?? [])
        }
    }
}

/// Lines for people, written at once (stdout may be a file or a pipe).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// How the mesh's connections are secured, and any keys the launcher made.
func sayKeys(_ launcher: MeshLauncher, _ mesh: MeshConfig) {
    guard let curve = mesh.curve else {
        say("exam-mesh: WARNING the mesh file has no curve section: plain connections, actors not verified")
        return
    }
    say("exam-mesh: CurveZMQ on, keys in \(curve.keysDir)"
        + (launcher.keysMade.isEmpty ? "" : " (made now for \(launcher.keysMade.joined(separator: ", ")); `examctl keys` makes them for several hosts)"))
}

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the services and keep them running until Ctrl-C.")
    @OptionGroup var options: LaunchOptions

    func run() async throws {
        // SIGTERM and SIGINT first, whatever was inherited (issue 22: started
        // by `nohup exam-mesh up &`, it ignored them while its members
        // started and ran on); the members then start with them at default.
        TerminationSignals.install()
        let mesh = try MeshConfig.load(path: options.mesh)
        let meshPath = URL(fileURLWithPath: options.mesh).standardizedFileURL.path
        let data = URL(fileURLWithPath: options.data).standardizedFileURL.path
        let launcher = try MeshLauncher(binDir: MeshLauncher.ownBinDir, dataDir: data, meshPath: meshPath)
        let specs = try options.specs(mesh)
        say("exam-mesh: starting \(specs.map(\.name).joined(separator: ", ")) (data \(data), logs \(launcher.logDir))")
        sayKeys(launcher, mesh)
        // A signal while the members start stops them at once, not after
        // they are all READY.
        let startup = Task { try await launcher.startWithMedia(mesh, specs) }
        switch await Self.firstOf(startup) {
        case .interrupted(let sig):
            say("exam-mesh: \(sig == SIGINT ? "SIGINT" : "SIGTERM") while starting; stopping")
            await launcher.stopAll()
            // What was being started fails or says READY now; stop that too.
            _ = await startup.result
            await launcher.stopAll()
            say("exam-mesh: stopped")
            return
        case .failed(let error):
            say("exam-mesh: \(error)")
            await launcher.stopAll()
            throw ExitCode(1)
        case .ready:
            break
        }
        for j in mesh.janus ?? [] {
            say("  \(j.name.padding(toLength: 11, withPad: " ", startingAt: 0)) ready  janus \(j.api)  browsers \(j.public)  pid \(launcher.pid(j.name) ?? 0)")
        }
        for s in specs {
            let e = mesh.services[s.name]!
            say("  \(s.name.padding(toLength: 11, withPad: " ", startingAt: 0)) ready  rpc \(e.rpc)  events \(e.events)  pid \(launcher.pid(s.name) ?? 0)")
        }
        say("exam-mesh: all ready at \(BeijingTime.iso(Date())); Ctrl-C stops them")
        _ = await TerminationSignals.next()
        say("exam-mesh: stopping")
        await launcher.stopAll()
        say("exam-mesh: stopped")
    }

    enum Start: Sendable {
        case ready, failed(any Error), interrupted(Int32)
    }

    /// Whichever comes first: the start's end or SIGTERM/SIGINT.
    static func firstOf(_ startup: Task<Void, any Error>) async -> Start {
        await withCheckedContinuation { (c: CheckedContinuation<Start, Never>) in
            let once = Mutex(false)
            let finish: @Sendable (Start) -> Void = { outcome in
                if once.withLock({ f in defer { f = true }; return !f }) { c.resume(returning: outcome) }
            }
            Task {
                do { try await startup.value; finish(.ready) } catch { finish(.failed(error)) }
            }
            Task { finish(.interrupted(await TerminationSignals.next())) }
        }
    }
}

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a synthetic qualified-candidate list (CSV) and a plan that seats every candidate.",
        discussion: "The ID numbers pass GB 11643-1999 but belong to nobody. Times: Beijing (2022-11-19 11:00) or relative (+90s).")
    @Option(help: "How many candidates.") var count = 60
    @Option(help: "Candidates per room.") var roomSize = 10
    @Option(help: "Examiners per panel (the first is the chief).") var panel = 7
    @Option(help: "Seed of the generator (same seed, same people).") var seed: UInt64 = 20221117
    @Option(help: "Where to write the CSV.") var roster: String
    @Option(help: "Where to write the plan.") var plan: String
    @Flag(help: "The notice's real dates (17/18/19/21 Nov 2022, 5+5 minutes, staff turn) instead of a short demo relative to timing's start.")
    var notice = false

    @Option(help: "Demo plan: seconds from timing's first start until confirmation opens (time to import the list).")
    var opensIn = 20

    @Option(help: "Demo plan: seconds each window lasts (confirmation, mock entry, formal entry).")
    var window = 20

    @Option(help: "Demo plan: reading and answering seconds each.")
    var phase = 10

    func run() throws {
        let r = DemoRoster(count: count, seed: seed)
        try r.csv().write(to: URL(fileURLWithPath: roster))
        let json: String
        if notice {
            json = r.planJSON(roomSize: roomSize, confirmation: ("2022-11-17 09:00", "2022-11-17 16:00"),
                              mockEntry: ("2022-11-18 08:50", "2022-11-18 09:00"), formalEntry: ("2022-11-19 11:00", "2022-11-19 11:10"),
                              publication: "2022-11-21 09:00", readingSeconds: 300, answeringSeconds: 300, answeringTurn: "staff",
                              panelSize: panel, exam: "2022 市南区社区专职工作者公开招聘面试")
        } else {
            // Confirmation, then the mock entry with time for its interviews,
            // then the formal entry; publication after the last could end.
            let c0 = opensIn, c1 = c0 + window
            let m0 = c1 + 2, m1 = m0 + window
            let f0 = m1 + 2 * phase * roomSize + 5, f1 = f0 + window
            let pub = f1 + 2 * phase * roomSize + 60
            json = r.planJSON(roomSize: roomSize, confirmation: ("+\(c0)s", "+\(c1)s"), mockEntry: ("+\(m0)s", "+\(m1)s"),
                              formalEntry: ("+\(f0)s", "+\(f1)s"), publication: "+\(pub)s", readingSeconds: phase,
                              answeringSeconds: phase, panelSize: panel)
        }
        try Data(json.utf8).write(to: URL(fileURLWithPath: plan))
        say("wrote \(r.candidates.count) candidates in \(r.posts.count) posts to \(roster), and a plan with \((count + roomSize - 1) / roomSize) rooms to \(plan)")
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the mesh and run a whole exam day on it: import, confirmation, mock test, formal interviews with phone faults, incidents, scores, publication.",
        discussion: """
            Without --plan: a generated list and a short plan relative to now (minutes instead of days). With --plan and \
            --roster: that plan in real time (the notice's plan, compose/plans/notice-2022.json, is dated 2022: its windows \
            are over, so everyone forfeits at once, as R5 says).
            """)

    @Option(help: "Mesh file (env EXAM_MESH).")
    var mesh: String = ProcessInfo.processInfo.environment["EXAM_MESH"] ?? "compose/mesh.json"

    @Option(help: "Data folder: stores, logs, the published lists (env EXAM_DATA). Emptied first unless --keep.")
    var data: String = ProcessInfo.processInfo.environment["EXAM_DATA"] ?? "data"

    @Flag(help: "Keep the data folder's stores from a previous run.") var keep = false
    @Option(help: "Candidates in the generated list.") var candidates = 24
    @Option(help: "Candidates per room.") var roomSize = 6
    @Option(help: "Reading and answering seconds each (the notice: 300).") var phase = 5
    @Option(help: "A plan file to run in real time instead of the generated one.") var plan: String?
    @Option(help: "The candidate list (CSV) that goes with --plan.") var roster: String?
    @Flag(help: "Leave the services running after the day (Ctrl-C stops them).") var stay = false

    func run() async throws {
        let meshConfig = try MeshConfig.load(path: mesh)
        let dataDir = URL(fileURLWithPath: data).standardizedFileURL.path
        if !keep { try? FileManager.default.removeItem(atPath: dataDir) }
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let people: DemoRoster
        let planPath: String
        if let plan {
            guard let roster else { throw ValidationError("--plan needs --roster (the candidate list for it)") }
            people = try DemoRoster.load(csvPath: roster)
            planPath = URL(fileURLWithPath: plan).standardizedFileURL.path
        } else {
            people = DemoRoster(count: candidates, seed: 20221117)
            planPath = dataDir + "/plan.json"
            let c0 = 15, c1 = c0 + 20, m0 = c1 + 3, m1 = m0 + 10
            let sitting = roomSize * (2 * phase + 2) + 15
            let f0 = m1 + sitting, f1 = f0 + 10
            let pub = f1 + sitting + 60
            try Data(people.planJSON(roomSize: roomSize, confirmation: ("+\(c0)s", "+\(c1)s"), mockEntry: ("+\(m0)s", "+\(m1)s"),
                                     formalEntry: ("+\(f0)s", "+\(f1)s"), publication: "+\(pub)s",
                                     readingSeconds: phase, answeringSeconds: phase).utf8).write(to: URL(fileURLWithPath: planPath))
        }
        let devicesConfig = dataDir + "/devices.json"
        try Data(#"{ "loss_timeout_seconds": 2, "long_outage_seconds": 6, "max_interruptions": 3 }"#.utf8)
            .write(to: URL(fileURLWithPath: devicesConfig))
        let launcher = try MeshLauncher(binDir: MeshLauncher.ownBinDir, dataDir: dataDir,
                                        meshPath: URL(fileURLWithPath: mesh).standardizedFileURL.path)
        say("exam-mesh demo: \(people.candidates.count) candidates, plan \(planPath), data \(dataDir), logs \(launcher.logDir)")
        sayKeys(launcher, meshConfig)
        do {
            try await launcher.startWithMedia(meshConfig, [
                MeshLauncher.Spec(name: "timing", arguments: ["--plan", planPath]),
                MeshLauncher.Spec(name: "roster", arguments: ["--scrypt-n", "4096"]),
                MeshLauncher.Spec(name: "devices", arguments: ["--config", devicesConfig]),
                MeshLauncher.Spec(name: "discipline"),
                MeshLauncher.Spec(name: "scoring"),
                // --max-gap 3: the phones' scripted outages (4-5 s at a loss
                // timeout of 2 s) show as gaps in their recordings (R38).
                MeshLauncher.Spec(name: "recordings", arguments: ["--grace", "5", "--max-gap", "3"]),
            ] + (meshConfig.services[MeshConfig.mediaName] == nil ? [] : [MeshLauncher.Spec(name: MeshConfig.mediaName)])
              + (meshConfig.services[MeshConfig.gatewayName] == nil ? [] : [MeshLauncher.Spec(name: MeshConfig.gatewayName)]))
        } catch {
            say("exam-mesh demo: \(error)")
            await launcher.stopAll()
            throw ExitCode(1)
        }
        say("exam-mesh demo: all services ready; follow along with: examctl tail --mesh \(mesh)")
        if let ready = launcher.readyLine(MeshConfig.gatewayName),
           let http = ready.split(separator: " ").first(where: { $0.hasPrefix("http=") })?.dropFirst(5) {
            // R61: a person can open the candidates' page beside the demo (a
            // phone-sized window); phone-sim plays these candidates' phones
            // too, so log in, look at the registration, and watch the day.
            say("exam-mesh demo: the candidates' page is at http://\(http)/ ; logins (phone / password):")
            for c in people.candidates.prefix(3) { say("    \(c.phone) / \(c.defaultPassword)   (\(c.examNumber) \(c.name))") }
        }
        let tools = MeshClient(mesh: meshConfig, caller: "exam-day")
        if let ready = launcher.readyLine(MeshConfig.gatewayName),
           let http = ready.split(separator: " ").first(where: { $0.hasPrefix("http=") })?.dropFirst(5) {
            // R62: the staff console beside the demo; the first sign-in sets
            // a password with a one-time code (ops hand these out).
            let codes = await Self.staffCodes(tools)
            say("exam-mesh demo: the staff console is at http://\(http)/staff/ ; first sign-in (id / one-time code):")
            for a in codes where ["ops", "R01-P1", "R01-E1", "R01-E2"].contains(a.id) {
                say("    \(a.id) / \(a.code)   (\(a.role)\(a.rooms.isEmpty ? "" : " of " + a.rooms.joined(separator: ",")))")
            }
            if codes.isEmpty { say("    (no codes yet: run 'gateway staff codes --mesh \(mesh)' once the gateway has the plan)") }
        }
        if let j = meshConfig.janus?.first, meshConfig.services[MeshConfig.mediaName] != nil {
            // R64, R65: the live rooms. A person plays one candidate's two
            // phones in two tabs (主机位, 副机位) and the proctor in a third.
            say("exam-mesh demo: live rooms on Janus '\(j.name)' (\(j.api), pages reach it at \(j.public)): open the candidates' page in two tabs as the same candidate (one 主机位, one 副机位) and the staff console as R01-P1 in a third; from entry the proctor sees and hears both phones, the panel (R01-E1, R01-E2) during that candidate's interview")
        }
        let script = ExamDayScript.demo(people, roomSize: roomSize, lossTimeout: 2)
        let day = ExamDayRun(mesh: tools, roster: people, script: script, outputDir: dataDir + "/published", launcher: launcher, say: say)
        do {
            let outcome = try await day.run()
            say("")
            say("exam day done. The published lists:")
            for f in outcome.files { say("  \(f)") }
            say("summary:")
            for s in outcome.steps { say("  - \(s)") }
        } catch {
            say("exam-mesh demo: the day stopped: \(error)")
            await launcher.stopAll()
            throw ExitCode(1)
        }
        if stay {
            say("exam-mesh demo: services keep running; Ctrl-C stops them")
            _ = await waitForTerminationSignal()
        }
        tools.close()
        await launcher.stopAll()
    }

    /// One-time codes for the staff accounts, once the gateway has made
    /// them from the plan (it reads the plan right after READY): asked
    /// again until there are some, for at most ten seconds.
    static func staffCodes(_ tools: MeshClient) async -> [StaffAccountInfo] {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let accounts = (try? await tools.call(MeshConfig.gatewayName, GatewayAPI.staffAccounts, StaffAccountsRequest()))?.accounts ?? []
            if !accounts.isEmpty {
                return (try? await tools.call(MeshConfig.gatewayName, GatewayAPI.staffCodes, StaffCodesRequest(renew: true)))?.accounts ?? []
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return []
    }
}

/// The options a big day and a crash campaign share.
struct BigDayOptions: ParsableArguments {
    @Option(help: "Mesh file (env EXAM_MESH).")
    var mesh: String = ProcessInfo.processInfo.environment["EXAM_MESH"] ?? "compose/mesh.json"
    @Option(help: "Data folder, emptied first (env EXAM_DATA).")
    var data: String = ProcessInfo.processInfo.environment["EXAM_DATA"] ?? "data"
    @Option(help: "Reading and answering seconds each (day: 2; chaos: 4, so a phone fault fits in an interview across a restart of devices).")
    var phase: Int?
    @Option(help: "Seed of the roster and the faults (the same seed, the same day).") var seed: UInt64 = 20221117
    @Option(help: "Scrypt cost of the candidates' passwords (R63; the service's default is 32768).") var scryptN = 4096
    @Option(help: "Clients acting at once (candidates confirming, examiners scoring).") var width = 32
    @Option(help: "The phones' heartbeat period, ms (R31: about once a second).") var heartbeatMs = 1000

    func day(candidates: Int, roomSize: Int, phase defaultPhase: Int) -> BigDay {
        var d = BigDay()
        d.candidates = candidates
        d.roomSize = roomSize
        d.phase = phase ?? defaultPhase
        d.seed = seed
        d.scryptN = scryptN
        d.width = width
        d.heartbeatMs = heartbeatMs
        return d
    }

    /// A launcher and a client on a fresh data folder.
    func mesh(_ dataDir: String) throws -> (MeshLauncher, MeshClient) {
        let config = try MeshConfig.load(path: mesh)
        try? FileManager.default.removeItem(atPath: dataDir)
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let launcher = try MeshLauncher(binDir: MeshLauncher.ownBinDir, dataDir: dataDir,
                                        meshPath: URL(fileURLWithPath: mesh).standardizedFileURL.path)
        return (launcher, MeshClient(mesh: config, caller: "exam-day"))
    }
}

/// Runs one big day on a fresh data folder and stops the mesh after it.
func runDay(_ day: BigDay, _ options: BigDayOptions, dataDir: String) async throws -> BigDayResult {
    let (launcher, client) = try options.mesh(dataDir)
    defer { client.close() }
    do {
        let r = try await day.run(launcher: launcher, mesh: client, say: say)
        await launcher.stopAll()
        return r
    } catch {
        say("exam-mesh: the day stopped: \(error) (logs: \(launcher.logDir))")
        await launcher.stopAll()
        throw ExitCode(1)
    }
}

struct Day: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A whole exam day at size, measured: events, heartbeats, timing's lateness, RPC latency, CPU and memory, stores, catch-up, the lists.",
        discussion: """
            Issue 15: 10,000 candidates in rooms of 50, two phones each at one heartbeat a second, faults from a seeded \
            schedule, every examiner scoring, publication, in about 20 minutes on 2 cores (build with -c release). \
            Exits 1 if an acknowledged write or an event was lost, a countdown was off by more than a second, or the \
            published lists differ from an independent computation.
            """)
    @OptionGroup var options: BigDayOptions
    @Option(help: "Candidates in the generated list.") var candidates = 10_000
    @Option(help: "Candidates per room.") var roomSize = 50

    func run() async throws {
        let dataDir = URL(fileURLWithPath: options.data).standardizedFileURL.path
        let day = options.day(candidates: candidates, roomSize: roomSize, phase: 2)
        say("exam-mesh day: \(candidates) candidates, data \(dataDir)")
        let r = try await runDay(day, options, dataDir: dataDir)
        say("")
        say("exam-mesh day: figures")
        for l in r.lines { say(l) }
        if !r.sound { throw ExitCode(1) }
    }
}

struct Chaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A crash campaign: a smaller day while random services are SIGKILLed and restarted, compared with an undisturbed run of the same seed.",
        discussion: """
            Issue 15: the undisturbed day first (data/undisturbed), then the same seed with --kills SIGKILLs at seeded \
            moments (data/chaos). Prints acknowledged writes lost, events lost to a subscriber after replay, whether the \
            published lists are identical, the worst countdown error and each restart's time to READY. Exits 1 unless \
            nothing was lost, the lists are identical and no countdown was off by more than a second.
            """)
    @OptionGroup var options: BigDayOptions
    @Option(help: "SIGKILLs over the day.") var kills = 100
    @Option(help: "Seed of the kills' moments and victims.") var killSeed: UInt64 = 1
    @Option(help: "Candidates in the generated list.") var candidates = 500
    @Option(help: "Candidates per room.") var roomSize = 20
    @Flag(help: "Skip the undisturbed run (compare with the independent computation only).") var noBaseline = false

    func run() async throws {
        let root = URL(fileURLWithPath: options.data).standardizedFileURL.path
        var calm: BigDayResult?
        if !noBaseline {
            say("exam-mesh chaos: the undisturbed day (\(root)/undisturbed)")
            calm = try await runDay(options.day(candidates: candidates, roomSize: roomSize, phase: 4), options, dataDir: root + "/undisturbed")
            for l in calm!.lines.prefix(while: { !$0.hasPrefix("the day took") }) { say("  " + l) }
        }
        var day = options.day(candidates: candidates, roomSize: roomSize, phase: 4)
        day.kills = kills
        day.killSeed = killSeed
        say("exam-mesh chaos: the same day with \(kills) SIGKILLs (seed \(killSeed)) (\(root)/chaos)")
        let r = try await runDay(day, options, dataDir: root + "/chaos")
        say("")
        say("exam-mesh chaos: figures")
        for l in r.lines { say(l) }
        let identical = calm.map { $0.published == r.published && $0.physical == r.physical }
        say("")
        say("acknowledged writes lost: \(r.lostAcks.count) of \(r.acks)")
        say("events lost to a subscriber after replay: \(r.missingEvents.values.reduce(0) { $0 + $1.count }) (duplicates delivered: \(r.duplicateEvents))")
        say("published lists identical to the undisturbed run's: \(identical.map { $0 ? "yes" : "NO" } ?? "not run")"
            + "; equal to the independent computation: \(r.listsMatchExpected ? "yes" : "NO")")
        say("worst countdown error against the plan: \(r.worstCountdownErrorMs) ms")
        say("restarts: \(r.restarts.count); time to READY: \(percentiles(r.restarts.map(\.readyMs)))")
        say("  each: " + r.restarts.map { "\($0.service) \($0.readyMs)" }.joined(separator: ", "))
        if !r.sound || identical == false || r.restarts.count < kills { throw ExitCode(1) }
    }
}

struct Hosts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Real hosts: each service and the gateway in a network namespace of its own, a short day across them with a partition, delay and loss.",
        discussion: """
            Issue 16 (root; Debian's iproute2 and nftables): a bridge and a namespace with a veth per member, a mesh file of \
            those addresses (data/hosts/mesh.json), the services started inside their namespaces, the driver and phone-sim \
            in the root namespace. Once the formal interviews run, timing and devices are cut apart (nft drops) for \
            --partition-seconds, then healed; the catch-up after the heal is timed. Then --delay-ms of delay (tc netem, or \
            a relay where the kernel has no netem) and --loss-percent loss on every link for --degrade-seconds, then clean \
            links to the end. Exits 1 if an acknowledged write or an event was lost, a countdown was off by more than a \
            second, a follower did not catch up, or the published lists differ from the independent computation (and, \
            with --baseline, from an undisturbed run of the same seed on the same kind of hosts). Namespaces are removed \
            at the end, on failure and on Ctrl-C.
            """)
    @Option(help: "Data folder, emptied first (env EXAM_DATA: its hosts/ subfolder).")
    var data: String = (ProcessInfo.processInfo.environment["EXAM_DATA"] ?? "data") + "/hosts"
    @Option(help: "Seed of the roster and the faults.") var seed: UInt64 = 20221117
    @Option(help: "Candidates in the generated list.") var candidates = 40
    @Option(help: "Candidates per room.") var roomSize = 5
    @Option(help: "Reading and answering seconds each.") var phase = 4
    @Option(help: "How long timing and devices are cut apart.") var partitionSeconds = 30
    @Option(help: "How long every link is delayed and lossy.") var degradeSeconds = 30
    @Option(help: "Delay on every link, ms.") var delayMs = 100
    @Option(help: "Loss on every link, percent.") var lossPercent = 2
    @Flag(help: "First run the same day undisturbed on the same kind of hosts, and compare the published lists.") var baseline = false

    func run() async throws {
        if let why = HostLab.unavailable() {
            say("exam-mesh hosts: \(why)")
            throw ExitCode(1)
        }
        // Ctrl-C / SIGTERM: the namespaces go with the run.
        HostLab.tearDownOnInterrupt(say: say)
        let root = URL(fileURLWithPath: data).standardizedFileURL.path
        var calm: HostsDayResult?
        if baseline {
            say("exam-mesh hosts: the undisturbed day (\(root)/undisturbed)")
            calm = try await play(disturb: false, root + "/undisturbed")
            for l in calm!.day.lines.prefix(while: { !$0.hasPrefix("the day took") }) { say("  " + l) }
        }
        say("exam-mesh hosts: the day with a \(partitionSeconds) s partition, then \(delayMs) ms delay and \(lossPercent) % loss (\(root)\(baseline ? "/disturbed" : ""))")
        let r = try await play(disturb: true, baseline ? root + "/disturbed" : root)
        say("")
        say("exam-mesh hosts: figures")
        for l in r.setup + r.day.lines { say(l) }
        let identical = calm.map { $0.day.published == r.day.published && $0.day.physical == r.day.physical }
        say("")
        say("acknowledged writes lost: \(r.day.lostAcks.count) of \(r.day.acks)")
        say("events lost to a subscriber after replay: \(r.day.missingEvents.values.reduce(0) { $0 + $1.count }) (duplicates delivered: \(r.day.duplicateEvents))")
        say("worst countdown error against the plan: \(r.day.worstCountdownErrorMs) ms")
        say("published lists identical to the undisturbed run's: \(identical.map { $0 ? "yes" : "NO" } ?? "not run (--baseline)")"
            + "; equal to the independent computation: \(r.day.listsMatchExpected ? "yes" : "NO")")
        if !r.sound || identical == false { throw ExitCode(1) }
    }

    func play(disturb: Bool, _ dataDir: String) async throws -> HostsDayResult {
        try? FileManager.default.removeItem(atPath: dataDir)
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        var h = HostsDay()
        h.day.candidates = candidates
        h.day.roomSize = roomSize
        h.day.phase = phase
        h.day.seed = seed
        h.partitionSeconds = partitionSeconds
        h.degradeSeconds = degradeSeconds
        h.delayMs = delayMs
        h.lossPercent = lossPercent
        h.disturb = disturb
        do {
            return try await h.run(binDir: MeshLauncher.ownBinDir, dataDir: dataDir, say: say)
        } catch {
            say("exam-mesh hosts: the day stopped: \(error) (logs: \(dataDir)/logs)")
            throw ExitCode(1)
        }
    }
}

struct Relay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The delaying TCP relay of `hosts` (run inside a host's namespace, where nft redirects the mesh ports to it).",
        discussion: "Passes each redirected connection on to its original destination; SIGUSR1 holds the bytes --delay-ms each way, SIGUSR2 stops that.")
    @Option(help: "Port to listen on (every address of the host).") var port: UInt16 = 7099
    @Option(help: "Delay each way while delaying, ms.") var delayMs = 100
    @Flag(help: "Delay from the start.") var delaying = false

    func run() throws {
        let relay = DelayRelay(delayMs: delayMs)
        relay.setDelaying(delaying)
        let sources = [(SIGUSR1, true), (SIGUSR2, false)].map { sig, on in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { relay.setDelaying(on) }
            source.resume()
            return source
        }
        onParentGone { Foundation.exit(0) }
        try withExtendedLifetime(sources) {
            try relay.serve(port: port) { say("READY relay port=\(port) delay_ms=\(delayMs)") }
        }
    }
}
