// proctor: the live view for proctors and chief examiners (issue 8). It
// follows the services' events (roster, timing, devices, discipline) from
// the start of their streams, so it shows the same board whenever it is
// started, and survives any service's restart: the subscriber replays what
// it missed, once, in order (Clone pattern). Times are the server's (R10),
// shown in Beijing time.
import ArgumentParser
import Bus
import ExamContracts
import ExamDay
import ExamPlan
import Foundation
import ServiceKit
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

@main
struct Proctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proctor",
        abstract: "Live view of the exam day: rooms, candidates, countdowns, phones, open incidents.",
        discussion: """
        Redraws in place on a terminal; with --plain (or when the output is not a terminal)
        it prints a whole frame every --every seconds instead. --tail prints the events
        themselves, one per line (--json for JSON lines), for piping.
        """)

    @Option(help: "Mesh file (env EXAM_MESH).")
    var mesh: String = ProcessInfo.processInfo.environment["EXAM_MESH"] ?? "compose/mesh.json"
    @Option(help: "Only this room (its id, e.g. R01).") var room: String?
    @Option(help: "mock or formal (default: mock until the formal entry window opens).") var sitting: String?
    @Option(help: "Seconds between redraws.") var refresh: Double = 0.5
    @Flag(help: "No escape codes: print a full frame every --every seconds.") var plain = false
    @Option(help: "Seconds between frames in --plain mode.") var every: Double = 10
    @Flag(help: "Print one frame once caught up with every service, then exit.") var once = false
    @Option(help: "With --once: seconds to wait for the services.") var timeout: Double = 15
    @Flag(help: "Print the events, one per line, instead of the board.") var tail = false
    @Flag(help: "With --tail: JSON lines.") var json = false
    @Option(help: "Columns per line.") var width: Int = 120
    @Argument(help: "With --tail: topic prefixes (default: everything).") var prefixes: [String] = []

    func validate() throws {
        if let s = sitting, s != "mock" && s != "formal" { throw ValidationError("--sitting must be mock or formal, not '\(s)'") }
        if refresh <= 0 || every <= 0 || timeout <= 0 { throw ValidationError("--refresh, --every and --timeout must be positive") }
        if json && !tail { throw ValidationError("--json goes with --tail") }
        if !prefixes.isEmpty && !tail { throw ValidationError("topic prefixes go with --tail") }
    }

    static let watched = ["roster", "timing", "devices", "discipline"]

    func run() async throws {
        // Started by a test or a launcher: gone with it.
        onParentGone { Foundation.exit(0) }
        let client = try MeshClient(meshPath: mesh, caller: "proctor", principal: CallPrincipal(id: "proctor", role: .proctor))
        defer { client.close() }
        let services = Self.watched.filter { client.mesh.services[$0] != nil }
        if tail {
            for await e in try await client.follow(client.mesh.services.keys.sorted(), prefixes: prefixes) {
                FileHandle.standardOutput.write(Data(((json ? EventLine.json(e) : EventLine.text(e)) + "\n").utf8))
            }
            return
        }
        // Where each stream stood when we started: --once waits for these.
        var heads: [String: UInt64] = [:]
        if once {
            for s in services {
                if let info = try? await client.call(s, NodeAPI.info, InfoRequest(), timeout: .seconds(3)) { heads[s] = info.headSeq }
            }
        }
        let view = LiveView(fixed: sitting.map { $0 == "mock" ? .mock : .formal })
        let stream = try await client.follow(services)
        let feeding = Task { for await e in stream { view.apply(e) } }
        defer { feeding.cancel() }
        let clock = ServerClock(client: client)
        await clock.sync()

        if once {
            let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
            while !view.caughtUp(heads), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            var lines = view.render(now: clock.now(), width: width, room: room)
            if !view.caughtUp(heads) { lines.append("(still catching up after \(Int(timeout)) s: \(view.behind(heads)))") }
            print(lines.joined(separator: "\n"))
            // One frame is the whole job: flush it and end here, so no
            // teardown of the subscriptions (sockets, tasks) can hold the
            // frame back from a pipe (a test's, an ops script's).
            fflush(nil)
            Foundation.exit(0)
        }
        let live = !plain && isatty(1) == 1
        var lastSync = ContinuousClock.now
        while !Task.isCancelled {
            if ContinuousClock.now - lastSync > .seconds(30) { await clock.sync(); lastSync = ContinuousClock.now }
            let lines = view.render(now: clock.now(), width: width, room: room)
            if live {
                // Home, each line cleared to its end, the rest of the screen cleared.
                let frame = "\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\n") + "\u{1B}[J"
                FileHandle.standardOutput.write(Data(frame.utf8))
                try await Task.sleep(for: .milliseconds(Int(refresh * 1000)))
            } else {
                FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n\n").utf8))
                try await Task.sleep(for: .milliseconds(Int(every * 1000)))
            }
        }
    }
}

/// Both sittings' boards, fed from the event task, drawn from the main loop.
final class LiveView: Sendable {
    struct State {
        var mock = ProctorBoard(sitting: .mock)
        var formal = ProctorBoard(sitting: .formal)
        var seen: [String: UInt64] = [:]
    }
    let state = Mutex(State())
    let fixed: SittingKind?

    init(fixed: SittingKind?) { self.fixed = fixed }

    func apply(_ e: DeliveredEvent) {
        state.withLock {
            $0.mock.apply(e)
            $0.formal.apply(e)
            $0.seen[e.header.publisher] = e.seq
        }
    }

    func caughtUp(_ heads: [String: UInt64]) -> Bool {
        state.withLock { s in heads.allSatisfy { (s.seen[$0.key] ?? 0) >= $0.value } }
    }

    func behind(_ heads: [String: UInt64]) -> String {
        state.withLock { s in
            heads.filter { (s.seen[$0.key] ?? 0) < $0.value }.sorted { $0.key < $1.key }
                .map { "\($0.key) at #\(s.seen[$0.key] ?? 0) of #\($0.value)" }.joined(separator: ", ")
        }
    }

    func render(now: Int64, width: Int, room: String?) -> [String] {
        state.withLock { s in
            let sitting = fixed ?? ProctorBoard.sittingOfTheMoment(formal: s.formal, now: now)
            return (sitting == .mock ? s.mock : s.formal).render(now: now, width: width, room: room)
        }
    }
}

/// The server's clock as seen from here (R10: the server is the authority):
/// the offset from timing's ping, taken at the call's midpoint.
final class ServerClock: Sendable {
    let client: MeshClient
    let offsetMs = Atomic<Int64>(0)

    init(client: MeshClient) { self.client = client }

    static func localMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    func sync() async {
        let sent = Self.localMs()
        guard let r = try? await client.call("timing", NodeAPI.ping, PingRequest(), timeout: .seconds(2)) else { return }
        let back = Self.localMs()
        offsetMs.store(r.serverTimeMs - (sent + back) / 2, ordering: .relaxed)
    }

    func now() -> Int64 { Self.localMs() + offsetMs.load(ordering: .relaxed) }
}
