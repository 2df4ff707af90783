// gateway: the mesh's only door from outside (R60-R63). An HTTP/JSON API
// (protos/http/openapi.json) and a WebSocket per phone for candidates'
// phones, the candidates' web client as files, all translated into calls
// on roster, timing and devices and into their events. It is a member of
// the mesh like the services: it answers exam.v1.Node (examctl ping
// gateway), says READY once both the bus and HTTP serve, and drains on
// SIGTERM (HTTP first, then the bus).
import ArgumentParser
import Bus
import ExamContracts
import Foundation
import GatewayApp
import GatewayCore
import Hummingbird
import ServiceKit
import ServiceLifecycle
import ExamPlan
import Passwords
import Synchronization

@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gateway",
                                                    abstract: "The gateway: HTTP + WebSocket for candidates' phones and the staff console (R60-R63).",
                                                    subcommands: [Serve.self, StaffCommand.self], defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")

    @OptionGroup var host: HostOptions

    @Option(help: "HTTP address host:port (default: the mesh file's services.gateway.http, else 127.0.0.1:8080; port 0 picks a free one).")
    var http: String?

    @Option(help: "Folder of the candidates' pages (default: Services/Gateway/web of the repository).")
    var web: String?

    @Option(help: "The OpenAPI document served at /api/v1/openapi.json (default: protos/http/openapi.json).")
    var openapi: String?

    @Option(help: "Login attempts per phone number per window (R63).")
    var loginPerPhone: Int = 10

    @Option(help: "Login attempts per client address per window (R63).")
    var loginPerAddress: Int = 60

    @Option(help: "The login rate limits' window in seconds.")
    var loginWindow: Int = 60

    @Flag(help: "Take the client's address from X-Forwarded-For (only behind a proxy ops run).")
    var trustForwardedFor = false

    @Option(help: "JSON file {\"mock\": \"question text\", \"formal\": \"...\"}: what the main phone shows once the question is revealed (R14).")
    var questions: String?

    @Option(name: .customLong("ops"), help: "An ops account of the staff console (R62; repeat for more).")
    var opsAccounts: [String] = ["ops"]

    @Option(help: "scrypt cost N (a power of two) for staff passwords.")
    var scryptN = 1 << 15

    @Flag(help: "Mark the staff session cookie Secure (the gateway is behind a TLS terminator).")
    var secureCookies = false

    @Option(help: "Bearer token that lets a scraper from another host read GET /metrics (env EXAM_METRICS_TOKEN; loopback always may).")
    var metricsToken: String?

    @Option(help: "Seconds a connection has to send a whole request head (and a kept-alive one to start its next request) before it is closed.")
    var headerTimeout: Double = 10

    func validate() throws {
        guard scryptN >= 1024, scryptN & (scryptN - 1) == 0 else { throw ValidationError("--scrypt-n must be a power of two, at least 1024") }
        for o in opsAccounts where o.isEmpty || o.count > 64 || !o.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
            throw ValidationError("--ops: '\(o.prefix(40))' is not letters, digits, '-' or '_' (at most 64)")
        }
        for (name, v) in [("--login-per-phone", loginPerPhone), ("--login-per-address", loginPerAddress), ("--login-window", loginWindow)] where v < 1 {
            throw ValidationError("\(name): \(v) must be at least 1")
        }
        guard headerTimeout >= 0.1, headerTimeout <= 600 else {
            throw ValidationError("--header-timeout: \(headerTimeout) must be between 0.1 and 600 seconds")
        }
    }

    func run() async throws {
        ExamLogHandler.bootstrap(level: host.level, format: host.format)
        var settings = GatewaySettings()
        settings.login = LoginThrottle.Limits(perPhone: loginPerPhone, perAddress: loginPerAddress, windowSeconds: loginWindow)
        settings.trustForwardedFor = trustForwardedFor
        settings.headerTimeout = .milliseconds(Int64(headerTimeout * 1000))
        settings.metricsToken = (metricsToken ?? ProcessInfo.processInfo.environment["EXAM_METRICS_TOKEN"]).flatMap { $0.isEmpty ? nil : $0 }
        if let questions {
            guard let data = FileManager.default.contents(atPath: questions),
                  let q = try? JSONDecoder().decode([String: String].self, from: data) else {
                throw ValidationError("--questions: \(questions) is not a readable JSON object of sitting -> text")
            }
            settings.questions = q
        }
        var staffSettings = StaffSettings()
        staffSettings.ops = opsAccounts
        staffSettings.secureCookies = secureCookies
        let policy = staffSettings.policy
        // The staff accounts and sessions are the gateway's state (its store).
        let service = try ServiceHost<StaffDirectory>(name: MeshConfig.gatewayName, options: host,
                                                      migrations: StaffDocuments.migrations) { store in
            try StaffDocuments.load(store, policy: policy)
        }
        settings.metricsMembers = service.mesh.services.keys.sorted()
        settings.media = service.mesh.services[MeshConfig.mediaName] != nil
        settings.mediaOrigins = (service.mesh.janus ?? []).compactMap { j in
            guard let u = URL(string: j.public), let scheme = u.scheme, let host = u.host else { return nil }
            return "\(scheme)://\(host)\(u.port.map { ":\($0)" } ?? "")"
        }
        let address = http ?? service.endpoints.http ?? "127.0.0.1:8080"
        guard let (bindHost, bindPort) = MeshConfig.hostPort(address) else { throw ValidationError("--http: '\(address)' is not host:port") }
        let edge = Edge(mesh: BusMeshCalls { try service.client(for: $0) }, settings: settings, logger: service.logger,
                        counters: service.counters)
        let staff = StaffDesk(edge: edge, engine: service.engine, hasher: ScryptPasswords(n: scryptN), settings: staffSettings)
        let log = service.logger
        service.serve(GatewayAPI.staffCodes) { req, info, d, tx in
            try StaffDesk.issueCodes(req, by: info.principal, &d, &tx, logger: log)
        }
        service.serve(GatewayAPI.staffAccounts) { _, _, d, tx in
            StaffAccountsReply(accounts: d.accounts.values.sorted { $0.id < $1.id }.map { StaffDesk.info($0, now: tx.nowMs) })
        }
        let files = EdgeFiles.locate(web: web, openAPI: openapi)
        let logger = service.logger
        for (name, path) in [("web", files.web), ("openapi", files.openAPI)] where !FileManager.default.fileExists(atPath: path) {
            logger.warning("\(name) files not found", metadata: ["path": "\(path)"])
        }

        // The services' events, from the start of each stream: for the
        // phones (the feed then holds what a reconnecting phone missed) and
        // for the proctors' board. One subscription per service; each event
        // goes to whoever asked for its topic.
        let consumers: [(prefixes: [(service: String, prefixes: [String])], deliver: @Sendable (DeliveredEvent) -> Void)] = [
            (Edge.followed, { edge.deliver($0) }),
            (StaffDesk.followed, { staff.deliver($0) }),
        ]
        for name in Set(consumers.flatMap { $0.prefixes.map(\.service) }).sorted() {
            guard let peer = service.mesh.services[name] else { continue }
            let wanted = consumers.map { c in (c.prefixes.filter { $0.service == name }.flatMap(\.prefixes), c.deliver) }
            let sub = EventSubscriber(reactor: service.reactor, publisher: name, eventsEndpoint: peer.events, rpcEndpoint: peer.rpc,
                                      prefixes: Array(Set(wanted.flatMap(\.0))).sorted(), from: .start, caller: MeshConfig.gatewayName,
                                      security: try service.mesh.clientSecurity(to: name, as: MeshConfig.gatewayName),
                                      counters: service.counters, logger: logger) { e in
                for (prefixes, deliver) in wanted where prefixes.contains(where: { e.topic.hasPrefix($0) }) { deliver(e) }
            }
            sub.start()
        }
        let members = service.mesh.services.keys.sorted()

        let bound = Mutex<String?>(nil)
        let ready = AsyncStream<String>.makeStream()
        let app = buildApplication(edge: edge, files: files,
                                   configuration: .init(address: .hostname(bindHost, port: bindPort)),
                                   staff: staff, members: members) { channel in
            let a = channel.localAddress.map { "\($0.ipAddress ?? bindHost):\($0.port ?? bindPort)" } ?? address
            bound.withLock { $0 = a }
            ready.continuation.yield(a)
        }
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], gracefulShutdownSignals: [], logger: logger))
        let clock = Mutex<Task<Void, Never>?>(nil)
        service.alongside(.init(start: {
            let failure = Mutex<String?>(nil)
            Task {
                do { try await group.run() } catch {
                    // Cannot listen (the port is taken, say): no READY, the reason in the log.
                    failure.withLock { $0 = "\(error)" }
                    ready.continuation.finish()
                }
            }
            var it = ready.stream.makeAsyncIterator()
            guard let a = await it.next() else {
                throw ConfigError("http: cannot serve on \(address): \(failure.withLock { $0 } ?? "the server stopped")")
            }
            edge.beats.start()
            edge.refreshPlan()  // before the first phone asks
            // Staff accounts from the plan (again whenever timing publishes one).
            Task { do { try await staff.syncAccounts() } catch { logger.warning("staff accounts not set from the plan yet", metadata: ["error": "\(error)"]) } }
            clock.withLock { $0 = Task { while !Task.isCancelled { try? await Task.sleep(for: .seconds(5)); edge.tickTime() } } }
            logger.info("http serving", metadata: ["http": "\(a)", "web": "\(files.web)"])
            return "http=\(a)"
        }, stop: {
            clock.withLock { $0?.cancel() }
            await group.triggerGracefulShutdown()
            await edge.beats.stop()
            logger.info("http stopped", metadata: ["http": "\(bound.withLock { $0 } ?? address)"])
        }))
        try await service.run()
    }
}

// MARK: gateway staff ...

struct StaffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "staff", abstract: "Staff accounts of the console (R62).",
                                                    subcommands: [Codes.self, Accounts.self])

    struct Codes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One-time codes for staff to set their password at the first sign-in (shown once; hand each to its holder).")
        @Option(help: "Mesh file (env EXAM_MESH).")
        var mesh: String = ProcessInfo.processInfo.environment["EXAM_MESH"] ?? "compose/mesh.json"
        @Option(help: "One account (default: every account without a password).")
        var account: String?
        @Flag(help: "With --account: clear its password and end its sessions (a lost password, a seat handed over).")
        var reset = false
        @Flag(help: "Without --account: new codes also for accounts whose code is not used yet (the old codes stop working).")
        var renew = false
        @Option(help: "Who asks (an ops account of the console).")
        var by = "ops"
        @Flag(help: "JSON instead of a table.")
        var json = false

        func validate() throws {
            if reset && account == nil { throw ValidationError("--reset needs --account") }
        }

        func run() async throws {
            let r = try await StaffCommand.call(mesh: mesh, GatewayAPI.staffCodes,
                                                StaffCodesRequest(account: account ?? "", reset: reset, renew: renew), by: by)
            StaffCommand.print(r.accounts, json: json, codes: true)
        }
    }

    struct Accounts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The staff accounts (no secrets).")
        @Option(help: "Mesh file (env EXAM_MESH).")
        var mesh: String = ProcessInfo.processInfo.environment["EXAM_MESH"] ?? "compose/mesh.json"
        @Option(help: "Who asks.")
        var by = "ops"
        @Flag(help: "JSON instead of a table.")
        var json = false

        func run() async throws {
            let r = try await StaffCommand.call(mesh: mesh, GatewayAPI.staffAccounts, StaffAccountsRequest(), by: by)
            StaffCommand.print(r.accounts, json: json, codes: false)
        }
    }

    static func call<Req, Resp>(mesh path: String, _ method: RPCMethod<Req, Resp>, _ req: Req, by: String) async throws -> Resp {
        let m = try MeshClient(meshPath: path, caller: "gateway-staff", member: "examctl")
        defer { m.close() }
        return try await m.call(MeshConfig.gatewayName, method, req, timeout: .seconds(10), as: CallPrincipal(id: by, role: .ops))
    }

    static func print(_ accounts: [StaffAccountInfo], json: Bool, codes: Bool) {
        if json {
            struct Row: Encodable { var id, name, role: String; var rooms: [String]; var passwordSet, locked, retired: Bool; var code: String?; var codeExpiresAtMs: Int64? }
            let rows = accounts.map { Row(id: $0.id, name: $0.name, role: $0.role, rooms: $0.rooms, passwordSet: $0.passwordSet, locked: $0.locked,
                                          retired: $0.retired, code: codes ? $0.code : nil, codeExpiresAtMs: codes ? $0.codeExpiresAtMs : nil) }
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            Swift.print(String(decoding: (try? e.encode(rows)) ?? Data("[]".utf8), as: UTF8.self))
            return
        }
        if accounts.isEmpty {
            Swift.print(codes ? "no account is waiting for a code (codes already handed out stay valid; --renew replaces them, --account ID [--reset] issues one)"
                              : "no staff accounts (the gateway has not read the plan yet?)")
        }
        for a in accounts {
            let rooms = a.rooms.isEmpty ? "-" : a.rooms.joined(separator: ",")
            let who = [(a.id, 12), (a.role, 9), (rooms, 10)].map { $0.0.padding(toLength: $0.1, withPad: " ", startingAt: 0) }.joined(separator: " ")
            if codes {
                let until = BeijingTime.short(Date(timeIntervalSince1970: Double(a.codeExpiresAtMs) / 1000))
                Swift.print("\(who) \(a.code)  (until \(until))")
            } else {
                Swift.print("\(who) password \(a.passwordSet ? "set" : "not set")\(a.locked ? ", locked" : "")\(a.retired ? ", retired" : "")")
            }
        }
    }
}
