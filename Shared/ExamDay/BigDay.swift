import Bus
import DemoKit
import ExamContracts
import ExamPlan
import Foundation
import PhoneSim
import ServiceKit
import Synchronization

/// A whole exam day at size, measured, optionally under a crash campaign
/// (issue 15): a generated roster across many rooms, an accelerated plan
/// sized to it, phones at one heartbeat a second, faults from a seeded
/// schedule, every examiner scoring, publication; then the figures.
public struct BigDay: Sendable {
    public var candidates = 10_000
    public var roomSize = 50
    /// Reading and answering seconds each.
    public var phase = 2
    /// The roster's and the faults' seed.
    public var seed: UInt64 = 20221117
    public var scryptN = 4096
    /// Candidates' and examiners' clients at once.
    public var width = 32
    public var heartbeatMs = 1000
    /// SIGKILLs at random moments (seeded by `killSeed`), each service restarted.
    public var kills = 0
    public var killSeed: UInt64 = 1
    /// The services a kill may hit.
    public var victims = MeshConfig.serviceNames
    /// Start the gateway too when the mesh file has one.
    public var gateway = true
    /// How often each fault is drawn (per thousand candidates).
    public var rates = ExamDayScript.Rates()
    /// See `ExamDayOptions.faultSlack`.
    public var faultSlack: Duration = .seconds(15)
    /// Done to the mesh while the day runs (issue 16: a partition, delay
    /// and loss), on its own task from the services' start; awaited when the
    /// day's clients are done, before anything is counted, and cancelled if
    /// the day fails. Its lines join the figures; its problems fail the day.
    public var disturbance: Disturbance?
    public init() {}

    public typealias Disturbance = @Sendable (_ mesh: MeshClient, _ startedAt: Date, _ timeline: Timeline) async
        -> (lines: [String], problems: [String])

    /// Seconds from timing's start: confirmation, mock and formal entry, publication.
    public struct Timeline: Sendable {
        public var c0, c1, m0, m1, f0, f1, pub: Int
        /// When the last formal interview should be over.
        public var end: Int
        /// Where a crash campaign's kills fall: from the start to halfway
        /// through the formal interviews, so every kill lands while the day
        /// still runs (the rooms finish well before `end`).
        public var killSpan: Int
    }

    /// Windows long enough for this many clients on a 2-core machine, and
    /// sittings long enough for a room's interviews one after another.
    public var timeline: Timeline {
        let n = candidates
        let importing = 15 + n / 250, confirming = 20 + n / 80, phones = 10 + n / 150, entry = 12 + n / 300
        let sitting = roomSize * (2 * phase + 3) + 30
        let c0 = importing, c1 = c0 + confirming, m0 = c1 + phones, m1 = m0 + entry
        let f0 = m1 + sitting, f1 = f0 + entry
        return Timeline(c0: c0, c1: c1, m0: m0, m1: m1, f0: f0, f1: f1, pub: f1 + sitting + 60, end: f1 + sitting,
                        killSpan: f1 + roomSize * phase)
    }

    public var interview: InterviewDurations { InterviewDurations(readingSeconds: phase, answeringSeconds: phase, answeringTurn: .automatic) }
}

/// What a big day found.
public struct BigDayResult: Sendable {
    public var lines: [String] = []
    public var published: [PublishedRow] = []
    public var physical: [String] = []
    public var expected: [PublishedRow] = []
    public var expectedPhysical: [String] = []
    public var acks = 0
    public var lostAcks: [String] = []
    public var missingEvents: [String: [UInt64]] = [:]
    public var duplicateEvents = 0
    public var worstCountdownErrorMs: Int64 = 0
    public var restarts: [(service: String, readyMs: Int64)] = []
    /// What the disturbance found wrong (see `BigDay.disturbance`).
    public var disturbanceProblems: [String] = []
    public var listsMatchExpected: Bool { published == expected && physical.sorted() == expectedPhysical.sorted() }
    /// Nothing lost, nothing late beyond a second, the lists right.
    public var sound: Bool {
        lostAcks.isEmpty && missingEvents.isEmpty && listsMatchExpected && worstCountdownErrorMs <= 1000 && disturbanceProblems.isEmpty
    }
}

extension BigDay {
    /// Runs the day on `launcher`'s mesh: starts the services (and phone-sim
    /// through the day), plays it, measures, stops everything.
    public func run(launcher: MeshLauncher, mesh: MeshClient, say: @escaping @Sendable (String) -> Void) async throws -> BigDayResult {
        let began = ContinuousClock.now
        let dataDir = launcher.dataDir
        // Many posts (one for about every 50 candidates), ranked each on its own (R53).
        let people = DemoRoster(count: candidates, seed: seed, posts: DemoRoster.posts(for: candidates))
        let t = timeline
        let planPath = (dataDir as NSString).appendingPathComponent("plan.json")
        try Data(people.planJSON(roomSize: roomSize, confirmation: ("+\(t.c0)s", "+\(t.c1)s"), mockEntry: ("+\(t.m0)s", "+\(t.m1)s"),
                                 formalEntry: ("+\(t.f0)s", "+\(t.f1)s"), publication: "+\(t.pub)s",
                                 readingSeconds: phase, answeringSeconds: phase).utf8).write(to: URL(fileURLWithPath: planPath))
        let devicesConfig = (dataDir as NSString).appendingPathComponent("devices.json")
        try Data(#"{ "loss_timeout_seconds": 2, "long_outage_seconds": 6, "max_interruptions": 3 }"#.utf8)
            .write(to: URL(fileURLWithPath: devicesConfig))
        let args: [String: [String]] = [
            "timing": ["--plan", planPath], "roster": ["--scrypt-n", String(scryptN)], "devices": ["--config", devicesConfig],
            "discipline": [], "scoring": [], "recordings": ["--grace", "5"], MeshConfig.gatewayName: [],
        ]
        let members = MeshConfig.serviceNames + (gateway && mesh.mesh.services[MeshConfig.gatewayName] != nil ? [MeshConfig.gatewayName] : [])
        try await launcher.start(members.map { MeshLauncher.Spec(name: $0, arguments: args[$0] ?? []) })
        let startedAt = Date()
        let script = ExamDayScript.seeded(people, seed: seed, rates: rates, lossTimeout: 2)
        let rooms = (candidates + roomSize - 1) / roomSize
        say("day: \(candidates) candidates in \(rooms) rooms, \(Set(people.candidates.map(\.postCode)).count) posts; \(script.summary)")
        say("day: plan from timing's start: confirmation +\(t.c0)..+\(t.c1) s, mock entry +\(t.m0)..+\(t.m1) s, "
            + "formal entry +\(t.f0)..+\(t.f1) s, interviews \(phase)+\(phase) s, publication +\(t.pub) s")
        let census = try StreamCensus.follow(mesh, MeshConfig.serviceNames, interview: interview)

        // The crash campaign, on its own task: kills at seeded moments over
        // the day's span, each service restarted and timed to READY.
        let restarts = Mutex<[(service: String, readyMs: Int64)]>([])
        let monkey: Task<Void, Never>? = kills == 0 ? nil : Task {
            var rng = SplitMix64(seed: killSeed)
            let span = Double(t.killSpan) * 1000
            let moments = (0..<kills).map { _ in Double(rng.next() % 1_000_000) / 1_000_000 * span }.sorted()
            // A service is killed again only once it has been up three
            // seconds: a crash, a restart, then the next crash, not a
            // crash loop (which a supervisor's back-off would stop anyway).
            var upSince: [String: ContinuousClock.Instant] = [:]
            for moment in moments {
                let due = startedAt.addingTimeInterval(moment / 1000)
                if due.timeIntervalSinceNow > 0 { try? await Task.sleep(for: .milliseconds(Int(due.timeIntervalSinceNow * 1000))) }
                if Task.isCancelled { return }
                var victim = victims[Int(rng.next() % UInt64(victims.count))]
                while let up = upSince[victim], ContinuousClock.now - up < .seconds(3) {
                    let rested = victims.filter { v in upSince[v].map { ContinuousClock.now - $0 >= .seconds(3) } ?? true }
                    if !rested.isEmpty { victim = rested[Int(rng.next() % UInt64(rested.count))]; break }
                    try? await Task.sleep(for: .milliseconds(100))
                }
                launcher.signal(victim, SIGKILL)
                _ = await launcher.waitExit(victim, timeout: .seconds(10))
                let clock = ContinuousClock.now
                do {
                    _ = try await launcher.start(MeshLauncher.Spec(name: victim, arguments: args[victim] ?? []))
                    upSince[victim] = ContinuousClock.now
                    let ms = (ContinuousClock.now - clock).components
                    restarts.withLock { $0.append((victim, ms.seconds * 1000 + ms.attoseconds / 1_000_000_000_000_000)) }
                } catch {
                    say("chaos: \(victim) did not come back: \(error)")
                }
            }
        }

        var options = ExamDayOptions()
        options.width = width
        options.perCandidateSteps = candidates <= 200
        options.compactPhotos = candidates > 200
        options.heartbeatMs = heartbeatMs
        // The heartbeat load alone: 20,000 phones uploading a chunk a second
        // would be recordings' bench, not this day's (recordings-bench measures it).
        options.uploads = false
        options.eventWait = .seconds(Int64(max(300, t.pub)))
        options.faultSlack = faultSlack
        let phoneSimUsage = Mutex<ProcessUsage?>(nil)
        let day = ExamDayRun(mesh: mesh, roster: people, script: script, outputDir: dataDir + "/published", launcher: launcher,
                             options: options, say: say) { milestone in
            if milestone == "phones.stopping", let pid = launcher.pid("phone-sim") {
                phoneSimUsage.withLock { $0 = ProcessUsage.of(pid: pid) }
            }
        }
        let disturbing = disturbance.map { d in Task { await d(mesh, startedAt, t) } }
        let outcome: ExamDayOutcome
        do {
            outcome = try await day.run()
        } catch {
            monkey?.cancel()
            disturbing?.cancel()
            _ = await disturbing?.value
            throw error
        }
        if let monkey {
            monkey.cancel()
            await monkey.value
        }
        let disturbed = await disturbing?.value
        // Every member up again (a kill may have come last).
        for m in members where !launcher.isRunning(m) {
            _ = try await launcher.start(MeshLauncher.Spec(name: m, arguments: args[m] ?? []))
        }
        let dayEnded = ContinuousClock.now

        var r = BigDayResult()
        var lines: [String] = []
        let plan = try await Staff(mesh: mesh).plan()
        let expected = expectedLists(people, script, plan)
        r.expected = expected.totals
        r.expectedPhysical = expected.physical
        if let json = outcome.files.first(where: { $0.hasSuffix(".json") && $0.contains("total-scores") }) {
            let got = try publishedRows(try Data(contentsOf: URL(fileURLWithPath: json)))
            r.published = got.totals
            r.physical = got.physical
        }
        // Events: every stream from its start, as one subscriber got them.
        let heads = try await StreamCensus.heads(mesh, MeshConfig.serviceNames)
        let complete = await census.caughtUp(heads, within: .seconds(120))
        r.missingEvents = await census.missing(heads)
        r.duplicateEvents = await census.duplicateCount
        let counts = await census.counts
        let timing = await census.timing
        await census.stop()
        r.worstCountdownErrorMs = timing.worstCountdownErrorMs
        lines.append("events per stream: " + MeshConfig.serviceNames.map { "\($0) \(heads[$0] ?? 0)" }.joined(separator: ", ")
                     + "; total \(heads.values.reduce(0, +))")
        lines.append("events a subscriber from the start got: \(counts.values.reduce(0, +)) "
                     + "(caught up: \(complete ? "yes" : "no"); lost after replay: \(r.missingEvents.values.reduce(0) { $0 + $1.count }); duplicates: \(r.duplicateEvents))")
        lines.append("timing's phase events, due time to publish: \(percentiles(timing.publishMs)); "
                     + "worst countdown error against the plan over \(timing.interviews) interviews: \(r.worstCountdownErrorMs) ms")
        // Acknowledged writes: the day's clients and the phones' registrations.
        r.acks = day.ledger.all.count
        r.lostAcks = try await day.ledger.lost(mesh)
        lines.append("acknowledged writes: \(r.acks) ("
                     + day.ledger.counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                     + "); lost: \(r.lostAcks.count)")
        for l in r.lostAcks.prefix(10) { lines.append("  lost: \(l)") }
        if let report = try? PhoneSimReport.load(path: (dataDir as NSString).appendingPathComponent("phone-sim-report.json")) {
            let seconds = Double(report.stoppedAtMs - (report.readyAtMs ?? report.startedAtMs)) / 1000
            lines.append(String(format: "heartbeats: %d sent by %d phones (%d refused, %d batches failed) over %.0f s: %.0f/s sustained",
                                report.heartbeatsSent, report.candidates.reduce(0) { $0 + $1.phones.count }, report.heartbeatsRefused,
                                report.batchesFailed, seconds, Double(report.heartbeatsSent) / max(seconds, 1)))
        }
        // Per process: RPC latency (receipt to reply, the service's own
        // histogram), CPU seconds and peak memory, store size.
        lines.append("per process (rpc p50 / p99 / max, calls; cpu seconds; peak rss; store):")
        for m in members {
            let stats = (try? await mesh.call(m, NodeAPI.stats, StatsRequest(), timeout: .seconds(10)))
                .map { Dictionary($0.counters.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }) } ?? [:]
            let usage = launcher.pid(m).flatMap { ProcessUsage.of(pid: $0) }
            let store = (stats["store.bytes"]).map { bytesText($0) } ?? "-"
            lines.append("  " + m.padding(toLength: 11, withPad: " ", startingAt: 0) + String(format: "rpc %6.1f / %7.1f / %7.1f ms, %8lld calls; cpu %7.1f s; rss %@; store %@",
                                Double(stats["rpc.latency_p50_us"] ?? 0) / 1000, Double(stats["rpc.latency_p99_us"] ?? 0) / 1000,
                                Double(stats["rpc.latency_max_us"] ?? 0) / 1000, stats["rpc.latency_count"] ?? 0,
                                usage?.cpuSeconds ?? 0, bytesText(usage?.peakRSSBytes ?? 0) as NSString, store as NSString))
        }
        if let u = phoneSimUsage.withLock({ $0 }) {
            lines.append("  phone-sim  " + String(format: "cpu %7.1f s; rss %@", u.cpuSeconds, bytesText(u.peakRSSBytes) as NSString))
        }
        if let own = ProcessUsage.of(pid: getpid()) {
            lines.append("  driver     " + String(format: "cpu %7.1f s; rss %@ (the staff and candidates' clients of this run)",
                                own.cpuSeconds, bytesText(own.peakRSSBytes) as NSString))
        }
        // A proctor's view started now: time to catch up by replay.
        if let catchUp = await proctorCatchUp(launcher: launcher) {
            lines.append(String(format: "a proctor view started at the end caught up by replay in %.2f s (proctor --once)", catchUp))
        }
        r.restarts = restarts.withLock { $0 }
        if kills > 0 {
            let ms = r.restarts.map(\.readyMs)
            lines.append("kills: \(r.restarts.count) of \(kills) planned; time to READY after a restart: \(percentiles(ms))")
            let by = Dictionary(grouping: r.restarts, by: \.service)
            lines.append("  by service: " + by.keys.sorted().map { "\($0) \(by[$0]!.count)" }.joined(separator: ", "))
        }
        if let disturbed {
            lines += disturbed.lines
            r.disturbanceProblems = disturbed.problems
            for p in disturbed.problems { lines.append("  PROBLEM: \(p)") }
        }
        if !outcome.unobserved.isEmpty {
            lines.append("scripted phone faults the services did not see: \(outcome.unobserved.count) (\(outcome.unobserved.prefix(5).joined(separator: "; ")))")
        }
        lines.append("published lists equal an independent computation from the run's inputs: \(r.listsMatchExpected ? "yes" : "NO")"
                     + " (\(r.published.count) rows, \(r.physical.count) to the physical exam)")
        if !r.listsMatchExpected { lines.append(differences(r.published, r.expected).split(separator: "\n").prefix(10).joined(separator: "\n")) }
        let d = (dayEnded - began).components
        lines.append("the day took \(d.seconds / 60) min \(d.seconds % 60) s; summary:")
        for s in outcome.steps { lines.append("  - \(s)") }
        r.lines = lines
        return r
    }

    /// Seconds `proctor --once` needs to print its first frame, caught up
    /// with every stream from its start.
    func proctorCatchUp(launcher: MeshLauncher) async -> Double? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: (launcher.binDir as NSString).appendingPathComponent("proctor"))
        p.arguments = ["--mesh", launcher.meshPath, "--once", "--plain", "--timeout", "600"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        let clock = ContinuousClock.now
        do { try p.run() } catch { return nil }
        await Task.detached { p.waitUntilExit() }.value
        let d = (ContinuousClock.now - clock).components
        return p.terminationStatus == 0 ? Double(d.seconds) + Double(d.attoseconds) / 1e18 : nil
    }
}
