import Bus
import ExamContracts
import Foundation
import NetLab
import ServiceKit

/// Issue 16, "real hosts": every service and the gateway in a Linux network
/// namespace of its own (`HostLab`), a mesh file of those addresses, and a
/// short seeded day (`BigDay`) played from the root namespace across them,
/// while timing and devices are cut apart for `partitionSeconds` once the
/// formal interviews run, then every link gets `delayMs` of delay and
/// `lossPercent` % loss for `degradeSeconds`, then clean links to the end.
/// Measured: how long after the heal devices has applied the timing events
/// it missed and timing the devices events it missed (their applied cursors,
/// `cursor.<publisher>` in Node/Stats), besides everything `BigDay` checks.
///
/// What the partition may and may not change: devices learns of the
/// interviews (timing's `interview.started` / `ended`) only after the heal,
/// and judges ground 9 then, from the recorded outages and the interview's
/// times, as it would have live; timing learns devices' fitness changes
/// late, which only matters to a phone's re-entry. So the lists do not
/// depend on when devices sees timing, provided staff wait for a ground-9
/// report past the partition (`faultSlack`: partition + 30 s) rather than
/// the usual 15 s after the interview.
public struct HostsDay: Sendable {
    public var day = BigDay()
    public var partitionSeconds = 30
    public var degradeSeconds = 30
    public var delayMs = 100
    public var lossPercent = 2
    /// False: the same day on the same kind of hosts, undisturbed (the baseline).
    public var disturb = true

    public static let rpcPort = 7001, eventsPort = 7002, httpPort = 8080

    public init() {
        day.candidates = 40
        day.roomSize = 5
        day.phase = 4
        day.scryptN = 1024
        day.width = 8
        day.heartbeatMs = 500
        // Phone faults at about ten times the big day's rates, so a couple of
        // each fall in a 40-candidate day (seed 20221117: two of each phone
        // fault, three early ends, a failed screening).
        var rates = ExamDayScript.Rates()
        rates.absentFormal = 25
        rates.failScreening = 25
        rates.bothPhonesLost = 60
        rates.droppedOnce = 60
        rates.incomingCall = 60
        rates.bannedVersion = 25
        rates.toldName = 25
        rates.endsEarly = 100
        day.rates = rates
    }
}

public struct HostsDayResult: Sendable {
    public var day: BigDayResult
    /// The hosts, the mesh file and the delay method.
    public var setup: [String]
    public var sound: Bool { day.sound }
}

extension HostsDay {
    /// Builds the hosts, runs the day on them, tears everything down (also
    /// when the day fails). `binDir` holds the services and `exam-mesh` (the relay).
    public func run(binDir: String, dataDir: String, say: @escaping @Sendable (String) -> Void) async throws -> HostsDayResult {
        let members = MeshConfig.serviceNames + [MeshConfig.gatewayName]
        let lab = try HostLab.create(members: members, ports: [Self.rpcPort, Self.eventsPort], delayMs: delayMs,
                                     relay: [(binDir as NSString).appendingPathComponent("exam-mesh"), "relay"],
                                     logDir: (dataDir as NSString).appendingPathComponent("logs"), say: say)
        var setup = ["hosts: \(members.count) network namespaces on bridge \(lab.bridge) (\(lab.bridgeAddress)/24, the driver and phone-sim): "
                     + members.map { "\($0) \(lab.hosts[$0]!.address)" }.joined(separator: ", ")]
        setup.append("hosts: delay by \(lab.delayMethod.rawValue)")
        // CurveZMQ on, as everywhere: the launcher makes the members' keys
        // (the services', and the driver's, phone-sim's and proctor's).
        let keysDir = (dataDir as NSString).appendingPathComponent("keys")
        let mesh = MeshConfig(mesh: "hosts-\(lab.tag)", services: Dictionary(uniqueKeysWithValues: members.map { m in
            let a = lab.hosts[m]!.address
            return (m, MeshConfig.Endpoints(rpc: "tcp://\(a):\(Self.rpcPort)", events: "tcp://\(a):\(Self.eventsPort)",
                                            http: m == MeshConfig.gatewayName ? "\(a):\(Self.httpPort)" : nil))
        }), curve: MeshConfig.Curve(keysDir: keysDir))
        let meshPath = (dataDir as NSString).appendingPathComponent("mesh.json")
        let client = MeshClient(mesh: mesh, caller: "exam-day")
        let launcher: MeshLauncher
        do {
            try mesh.write(to: meshPath)
            launcher = try MeshLauncher(binDir: binDir, dataDir: dataDir, meshPath: meshPath, prefix: { lab.prefix(for: $0) })
        } catch {
            client.close()
            lab.tearDown()
            throw error
        }
        setup.append("hosts: mesh file \(meshPath), CurveZMQ on (keys in \(keysDir))")
        for l in setup { say(l) }
        var d = day
        if disturb {
            d.faultSlack = .seconds(Int64(partitionSeconds + 30))
            let plan = self
            d.disturbance = { mesh, startedAt, timeline in
                await plan.disturbance(lab, mesh, startedAt, timeline, say: say)
            }
        }
        do {
            let r = try await d.run(launcher: launcher, mesh: client, say: say)
            await launcher.stopAll()
            client.close()
            lab.tearDown()
            return HostsDayResult(day: r, setup: setup)
        } catch {
            await launcher.stopAll()
            client.close()
            lab.tearDown()
            throw error
        }
    }

    /// The faults, from the first formal interview on: the partition, the
    /// catch-up after it, then delay and loss. Whatever it put on the links
    /// is taken off before it returns, also when cancelled.
    func disturbance(_ lab: HostLab, _ mesh: MeshClient, _ startedAt: Date, _ t: BigDay.Timeline,
                     say: @escaping @Sendable (String) -> Void) async -> (lines: [String], problems: [String]) {
        var lines: [String] = [], problems: [String] = []
        let (a, b) = ("timing", "devices")
        func at() -> String { String(format: "+%.0f s", Date().timeIntervalSince(startedAt)) }
        // What each follows of the other's stream (their `follow` prefixes,
        // Services/Devices and Services/Timing).
        let follows: [(follower: String, publisher: String, prefixes: [String])] = [
            (b, a, ["timing.interview.started", "timing.interview.ended"]),
            (a, b, ["devices.fitness.changed"]),
        ]
        var logs: [FollowedLog] = []
        let ground9: FollowedLog
        do {
            for f in follows { logs.append(try FollowedLog.follow(mesh, f.publisher, f.prefixes)) }
            ground9 = try FollowedLog.follow(mesh, "devices", ["devices.ground9.detected"])
        } catch {
            return ([], ["cannot follow \(a) and \(b): \(error)"])
        }
        defer { for l in logs + [ground9] { l.stop() } }
        do {
            // Once the formal interviews run.
            let formalDeadline = startedAt.addingTimeInterval(TimeInterval(t.f1 + 180))
            guard let first = await logs[0].firstFormalStart(before: formalDeadline) else {
                return ([], ["no formal interview started by +\(t.f1 + 180) s: no partition"])
            }
            try await Task.sleep(for: .seconds(1))
            let cutAt = Date()
            try lab.partition(a, b)
            say("hosts: \(a) and \(b) cut apart at \(at()) (the first formal interview started at "
                + String(format: "+%.0f s", first.timeIntervalSince(startedAt)) + ")")
            try await Task.sleep(for: .seconds(partitionSeconds))
            let atHeal = await cursors(mesh, follows)
            let dropped = try lab.heal(a, b)
            let healed = ContinuousClock.now
            let healAt = Date()
            say("hosts: healed at \(at())")
            // The backlog: the last followed event each publisher had at the heal.
            var targets: [UInt64] = []
            for (i, f) in follows.enumerated() {
                let head = (try? await mesh.call(f.publisher, NodeAPI.info, InfoRequest(), timeout: .seconds(5)))?.headSeq ?? 0
                targets.append(await logs[i].last(upTo: head, within: .seconds(10)))
            }
            // Polled until each follower has applied its backlog.
            var caughtUp: [Double?] = follows.map { _ in nil }
            let limit = ContinuousClock.now + .seconds(60)
            while caughtUp.contains(where: { $0 == nil }) && ContinuousClock.now < limit {
                let now = await cursors(mesh, follows)
                for i in follows.indices where caughtUp[i] == nil && (now[i] ?? 0) >= targets[i] {
                    caughtUp[i] = seconds(ContinuousClock.now - healed)
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let during = await logs[0].count(from: cutAt, to: healAt)
            lines.append("partition: \(a) and \(b) cut apart for \(partitionSeconds) s from \(String(format: "+%.0f s", cutAt.timeIntervalSince(startedAt))) "
                         + "(nft drops on both veths: \(dropped) packets dropped); meanwhile \(a) published \(during) events \(b) follows")
            for (i, f) in follows.enumerated() {
                let behind = await logs[i].count(after: atHeal[i] ?? 0, upTo: targets[i])
                let head = "\(f.follower) had applied \(f.publisher)'s stream to seq \(atHeal[i].map(String.init) ?? "-"), "
                    + "\(behind) of its followed events behind (the last at seq \(targets[i]))"
                if let s = caughtUp[i] {
                    lines.append("catch-up after the heal: \(head); applied by replay \(String(format: "%.2f", s)) s after the heal")
                } else {
                    lines.append("catch-up after the heal: \(head); NOT applied 60 s after the heal")
                    problems.append("\(f.follower) did not catch up with \(f.publisher) within 60 s of the heal")
                }
            }
            // Then delay and loss on every link, a few seconds after the heal.
            try await Task.sleep(for: .seconds(3))
            // Ground 9 that devices could judge only once it heard of the
            // interview: published after the heal about a moment before it.
            let healMs = Int64(healAt.timeIntervalSince1970 * 1000)
            let late = await ground9.events.compactMap { e -> String? in
                guard e.header.serverTimeMs >= healMs, let g = try? e.decode(Ground9Event.self), g.atMs < healMs else { return nil }
                return g.examNumber
            }
            lines.append("ground 9 judged by devices on replay after the heal, for interviews during the partition: \(late.count)"
                         + (late.isEmpty ? "" : " (\(late.joined(separator: ", ")))"))
            let degradedAt = Date()
            try lab.degrade(lossPercent: lossPercent)
            say("hosts: \(delayMs) ms delay and \(lossPercent) % loss on every link from \(at()) (delay by \(lab.delayMethod.rawValue))")
            try await Task.sleep(for: .seconds(degradeSeconds))
            let (packets, lost) = try lab.restore()
            say("hosts: links clean again at \(at())")
            lines.append("delay and loss: \(delayMs) ms (by \(lab.delayMethod.rawValue)) and \(lossPercent) % on every link for \(degradeSeconds) s "
                         + "from \(String(format: "+%.0f s", degradedAt.timeIntervalSince(startedAt))): \(lost) of \(packets) packets dropped"
                         + (packets > 0 ? String(format: " (%.1f %%)", Double(lost) * 100 / Double(packets)) : ""))
        } catch is CancellationError {
            problems.append("the disturbance was cut short (the day ended first or failed)")
        } catch {
            problems.append("the disturbance failed: \(error)")
        }
        // Nothing stays on the links.
        lab.clearFaults()
        return (lines, problems)
    }

    /// Each follower's applied position in its publisher's stream.
    func cursors(_ mesh: MeshClient, _ follows: [(follower: String, publisher: String, prefixes: [String])]) async -> [UInt64?] {
        var out: [UInt64?] = []
        for f in follows {
            let stats = try? await mesh.call(f.follower, NodeAPI.stats, StatsRequest(), timeout: .seconds(3))
            out.append(stats?.counters.first { $0.name == "cursor.\(f.publisher)" }.map { UInt64(max(0, $0.value)) })
        }
        return out
    }

    func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
}

/// The events of one publisher that a follower takes, as the driver got
/// them (the same prefixes), with when they arrived.
actor FollowedLog {
    private var seqs: [(seq: UInt64, at: Date)] = []
    private(set) var events: [DeliveredEvent] = []
    private var formalStart: Date?
    private let subscriber: EventSubscriber
    private var task: Task<Void, Never>?

    init(_ subscriber: EventSubscriber) { self.subscriber = subscriber }

    static func follow(_ mesh: MeshClient, _ publisher: String, _ prefixes: [String]) throws -> FollowedLog {
        let (sub, stream) = try mesh.events(publisher, prefixes: prefixes)
        let log = FollowedLog(sub)
        Task { await log.consume(stream) }
        return log
    }

    private func consume(_ stream: AsyncStream<DeliveredEvent>) async {
        for await e in stream {
            seqs.append((e.seq, Date()))
            events.append(e)
            if formalStart == nil, e.topic == "timing.interview.started",
               (try? e.decode(InterviewEvent.self).sitting) == .formal { formalStart = Date() }
        }
    }

    nonisolated func stop() { subscriber.stop() }

    func firstFormalStart(before deadline: Date) async -> Date? {
        while formalStart == nil && Date() < deadline { try? await Task.sleep(for: .milliseconds(200)) }
        return formalStart
    }

    /// The last followed event at or before `head`, once the driver's own
    /// subscription has scanned that far (or `within` passed).
    func last(upTo head: UInt64, within: Duration) async -> UInt64 {
        let limit = ContinuousClock.now + within
        while subscriber.position.seq < head && ContinuousClock.now < limit { try? await Task.sleep(for: .milliseconds(50)) }
        return seqs.last { $0.seq <= head }?.seq ?? 0
    }

    func count(after: UInt64, upTo: UInt64) -> Int { seqs.filter { $0.seq > after && $0.seq <= upTo }.count }

    func count(from: Date, to: Date) -> Int { seqs.filter { $0.at >= from && $0.at <= to }.count }
}
