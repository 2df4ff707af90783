// examctl: ops on a running mesh. Health and figures of each service
// (ping, info, stats), any method by name with JSON in and out, the event
// stream one line per event, and store backups without stopping a service.
import ArgumentParser
import Bus
import ExamContracts
import ExamPlan
import Foundation
import ServiceKit

struct MeshOptions: ParsableArguments {
    @Option(help: "Mesh file (env EXAM_MESH).")
    var mesh: String = ProcessInfo.processInfo.environment["EXAM_MESH"] ?? "compose/mesh.json"

    @Option(help: "Seconds to wait for each answer.")
    var timeout: Int = 5

    @Option(help: "Connect with this mesh member's CurveZMQ key instead of examctl's, acting for nobody (a container's healthcheck pings as its own service).")
    var member: String?

    func connect() throws -> MeshClient {
        guard let member else { return try MeshClient(meshPath: mesh, caller: "examctl") }
        return try MeshClient(meshPath: mesh, caller: "examctl", member: member, principal: .anonymous)
    }
}

@main
struct ExamCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "examctl",
        abstract: "Operate the interview mesh: health, figures, calls, events, backups.",
        subcommands: [Ping.self, Info.self, Stats.self, Call.self, Tail.self, Backup.self, Keys.self])
}

/// The mesh's CurveZMQ keys (issue 16): a key pair per member, made once,
/// kept across runs; `--rotate` replaces the named members' pairs.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make the CurveZMQ key pair of every member of the mesh (services and tools) that has none yet.",
        discussion: """
            Writes <keys>/<member>.key (secret, mode 0600) and <keys>/public/<member>.pub, in the folder the mesh file's \
            curve.keys_dir names (relative to the mesh file). Copy public/ to every host, and each .key only to the host \
            where its member runs (compose mounts each as a secret). Services read the keys at start: restart them after \
            adding a member or rotating a key.
            """)
    @Option(help: "Mesh file (env EXAM_MESH).")
    var mesh: String = ProcessInfo.processInfo.environment["EXAM_MESH"] ?? "compose/mesh.json"
    @Option(help: "Keys folder (default: the mesh file's curve.keys_dir), e.g. to make a deployment's keys elsewhere than where its hosts read them.")
    var dir: String?
    @Option(parsing: .upToNextOption, help: "More tools to make keys for (besides the mesh file's and examctl, proctor, phone-sim, exam-day).")
    var tool: [String] = []
    @Option(parsing: .upToNextOption, help: "Members whose key pairs to replace ('all' for every member).")
    var rotate: [String] = []

    func run() throws {
        let config = try MeshConfig.load(path: mesh)
        guard var curve = config.curve else {
            throw ValidationError("\(mesh) has no curve section, so its mesh is plain: add \"curve\": {\"keys_dir\": \"keys\"} first")
        }
        if let dir { curve.keysDir = dir }
        let members = MeshKeys.members(of: config, extraTools: tool)
        for r in rotate where r != "all" && !members.contains(r) {
            throw ValidationError("--rotate \(r): not a member of this mesh (\(members.joined(separator: ", ")))")
        }
        var made = try MeshKeys.ensure(dir: curve.keysDir, members: members.filter { !rotate.contains($0) && !rotate.contains("all") })
        made += try MeshKeys.ensure(dir: curve.keysDir, members: members.filter { rotate.contains($0) || rotate.contains("all") }, rotate: true)
        let keys = try MeshKeys.publicKeys(dir: curve.keysDir)
        print("keys of \(config.mesh) in \(curve.keysDir): \(made.count) made, \(members.count - made.count) kept")
        for m in members {
            let kind = config.services[m] != nil ? (m == MeshConfig.gatewayName ? "edge" : "service") : "tool"
            print("  \(m.padding(toLength: 12, withPad: " ", startingAt: 0)) \(kind.padding(toLength: 8, withPad: " ", startingAt: 0)) \(made.contains(m) ? "made" : "kept")  public \(keys[m]?.prefix(8) ?? "?")…")
        }
        print("copy \(curve.keysDir)/public/ to every host; each <member>.key only to its member's host")
    }
}

/// Services named on the command line, or every service of the mesh.
func targets(_ names: [String], _ mesh: MeshConfig) throws -> [String] {
    if names.isEmpty || names == ["all"] { return mesh.services.keys.sorted() }
    for n in names where mesh.services[n] == nil {
        throw ValidationError("no service '\(n)' in the mesh file (it has: \(mesh.services.keys.sorted().joined(separator: ", ")))")
    }
    return names
}

struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Is each service answering? Exits 1 if one is not.")
    @OptionGroup var options: MeshOptions
    @Argument(help: "Services (default: all).") var services: [String] = []

    func run() async throws {
        let m = try options.connect()
        defer { m.close() }
        var down = 0
        for s in try targets(services, m.mesh) {
            let start = ContinuousClock.now
            do {
                let r = try await m.call(s, NodeAPI.ping, PingRequest(), timeout: .seconds(options.timeout))
                let rtt = ContinuousClock.now - start
                let ms = Double(rtt.components.attoseconds) / 1e15 + Double(rtt.components.seconds) * 1000
                print("\(s.padding(toLength: 11, withPad: " ", startingAt: 0)) up    \(String(format: "%6.2f", ms)) ms  server time \(BeijingTime.iso(Date(timeIntervalSince1970: Double(r.serverTimeMs) / 1000)))")
            } catch {
                down += 1
                print("\(s.padding(toLength: 11, withPad: " ", startingAt: 0)) DOWN  \(error)")
            }
        }
        if down > 0 { throw ExitCode(1) }
    }
}

struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Name, version, event position, uptime, endpoints, store of each service.")
    @OptionGroup var options: MeshOptions
    @Argument(help: "Services (default: all).") var services: [String] = []

    func run() async throws {
        let m = try options.connect()
        defer { m.close() }
        for s in try targets(services, m.mesh) {
            do {
                let i = try await m.call(s, NodeAPI.info, InfoRequest(), timeout: .seconds(options.timeout))
                print("\(i.service) \(i.version)  head seq \(i.headSeq)  up \(i.uptimeMs / 1000) s since \(BeijingTime.short(Date(timeIntervalSince1970: Double(i.startedAtMs) / 1000)))")
                print("  rpc \(i.rpcEndpoint)  events \(i.eventsEndpoint)")
                print("  store \(i.storePath)  stream \(i.stream)")
            } catch {
                print("\(s) DOWN \(error)")
            }
        }
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The counters of a service (calls, events, commits, table sizes).")
    @OptionGroup var options: MeshOptions
    @Argument(help: "Services (default: all).") var services: [String] = []

    func run() async throws {
        let m = try options.connect()
        defer { m.close() }
        for s in try targets(services, m.mesh) {
            let r = try await m.call(s, NodeAPI.stats, StatsRequest(), timeout: .seconds(options.timeout))
            print("[\(r.service)]")
            for c in r.counters { print("  \(c.name.padding(toLength: 34, withPad: " ", startingAt: 0)) \(c.value)") }
        }
    }
}

struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call any method with a JSON request; prints the JSON reply.",
        discussion: "Example: examctl call roster Roster/Counts '{}'  (the method as in protos/, with or without the exam.v1. prefix)")
    @OptionGroup var options: MeshOptions
    @Argument(help: "Service name in the mesh file.") var service: String
    @Argument(help: "Method, e.g. Roster/Counts or exam.v1.Roster/Counts.") var method: String
    @Argument(help: "Request as JSON (field names as in protos/), or @FILE to read it from a file.") var json: String = "{}"
    @Option(help: "Who the call acts for: id:role (role: candidate, proctor, examiner, chief_examiner, ops).")
    var actor: String?

    func run() async throws {
        let full = method.hasPrefix("exam.") ? method : "exam.v1." + method
        guard let md = ProtoRegistry.methods[full] else {
            throw ValidationError("no method \(full) in protos/")
        }
        var text = json
        if json.hasPrefix("@") {
            guard let data = FileManager.default.contents(atPath: String(json.dropFirst())) else {
                throw ValidationError("cannot read \(json.dropFirst())")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        let body = try ProtoJSON.encodeRequest(typeName: md.input.name, json: text)
        let m = try options.connect()
        defer { m.close() }
        var principal: CallPrincipal?
        if let actor {
            let parts = actor.split(separator: ":", maxSplits: 1).map(String.init)
            let roles: [String: ActorRole] = ["candidate": .candidate, "proctor": .proctor, "examiner": .examiner,
                                              "chief_examiner": .chiefExaminer, "ops": .ops, "service": .service]
            guard parts.count == 2, let role = roles[parts[1]] else { throw ValidationError("--actor is id:role, got '\(actor)'") }
            principal = CallPrincipal(id: parts[0], role: role)
        }
        do {
            let reply = try await m.client(service).callRaw(method: full, body: body, timeout: .seconds(options.timeout), as: principal)
            print(ProtoJSON.render(typeName: md.output.name, bytes: reply))
        } catch let e as RPCError {
            FileHandle.standardError.write(Data("\(e.code.name): \(e.message)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow events, one per line (Beijing time, publisher#seq, topic, payload).",
        discussion: "Survives restarts of the services: what it missed is replayed, once, in order.")
    @OptionGroup var options: MeshOptions
    @Argument(help: "Topic prefixes, e.g. timing.interview. (default: everything).") var prefixes: [String] = []
    @Option(name: .customLong("service"), help: "Only these services (repeatable; default: all).") var only: [String] = []
    @Flag(help: "JSON lines instead of text.") var json = false
    @Flag(help: "Only events from now on (default: everything the services kept).") var new = false
    @Option(help: "Stop after this many events (0: run until interrupted).") var count = 0

    func run() async throws {
        let m = try options.connect()
        defer { m.close() }
        let stream = try await m.follow(try targets(only, m.mesh), prefixes: prefixes, fromHead: new)
        var n = 0
        for await e in stream {
            FileHandle.standardOutput.write(Data(((json ? EventLine.json(e) : EventLine.text(e)) + "\n").utf8))
            n += 1
            if count > 0 && n >= count { break }
        }
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Copy a running service's store to a new file (SQLite online backup).")
    @OptionGroup var options: MeshOptions
    @Argument(help: "Service name.") var service: String
    @Argument(help: "New file to write, on the service's host.") var path: String

    func run() async throws {
        let m = try options.connect()
        defer { m.close() }
        let r = try await m.call(service, NodeAPI.backup, BackupRequest(path: path), timeout: .seconds(max(options.timeout, 60)))
        print("\(service): \(r.bytes) bytes at head seq \(r.headSeq) written to \(r.path)")
    }
}
