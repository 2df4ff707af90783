import ArgumentParser
import Bus
import ExamContracts
import Foundation
import Logging
import Store
import Synchronization

/// The options every service takes (flags, with environment defaults).
public struct HostOptions: ParsableArguments, Sendable {
    @Option(help: "Mesh file with every service's endpoints (env EXAM_MESH).")
    public var mesh: String = ProcessInfo.processInfo.environment["EXAM_MESH"] ?? "compose/mesh.json"

    @Option(help: "Folder for this service's SQLite store (env EXAM_DATA).")
    public var data: String = ProcessInfo.processInfo.environment["EXAM_DATA"] ?? "data"

    @Option(help: "trace, debug, info, notice, warning, error or critical (env EXAM_LOG_LEVEL).")
    public var logLevel: String = ProcessInfo.processInfo.environment["EXAM_LOG_LEVEL"] ?? "info"

    @Option(help: "text (one line for people) or json (one JSON object per line) (env EXAM_LOG_FORMAT).")
    public var logFormat: String = ProcessInfo.processInfo.environment["EXAM_LOG_FORMAT"] ?? "text"

    @Option(help: "Seconds a SIGTERM may take to drain before the process exits anyway.")
    public var stopTimeout: Int = 10

    public init() {}

    public func validate() throws {
        do { _ = try LogFormat.parse(logFormat) } catch { throw ValidationError("--log-format: \(error)") }
    }

    public var level: Logger.Level { Logger.Level(rawValue: logLevel) ?? .info }

    /// The log format (validated at parse time; text when unparsed).
    public var format: LogFormat { (try? LogFormat.parse(logFormat)) ?? .text }
}

/// The version every service reports in `info`.
public let examMeshVersion = "0.1.0"

/// A service process: its store, its state on the engine thread, its ROUTER
/// and PUB on the reactor, the streams it follows, and its lifecycle —
/// readiness printed once serving ("READY <name> ..." on standard output),
/// SIGTERM/SIGINT drained within a bound (like swift-service-lifecycle's
/// ServiceGroup). Every service answers exam.v1.Node (ping, info, stats,
/// replay) through it.
public final class ServiceHost<State>: Sendable {
    public let name: String
    public let options: HostOptions
    public let mesh: MeshConfig
    public let endpoints: MeshConfig.Endpoints
    public let logger: Logger
    public let store: ServiceStore
    public let reactor: Reactor
    public let counters = Counters()
    public let server: RpcServer
    public let publisher: EventPublisher
    public let engine: Engine<State>
    private let startedAt = Date()
    private let follows = Mutex<[(publisher: String, prefixes: [String], apply: @Sendable (DeliveredEvent, inout State, inout Transaction) throws -> Void)]>([])
    private let subscribers = Mutex<[EventSubscriber]>([])
    private let clients = Mutex<[String: RpcClient]>([:])
    private let startWork = Mutex<[@Sendable (inout State, inout Transaction) throws -> Void]>([])
    private let security: BusSecurity
    private let companions = Mutex<[Companion]>([])

    /// Something that serves beside the bus (the gateway's HTTP server):
    /// started before READY, stopped first when draining.
    public struct Companion: Sendable {
        /// Starts serving; returns what the READY line adds ("http=127.0.0.1:8080").
        public var start: @Sendable () async throws -> String
        /// Stops taking new work and finishes what it took, within the drain bound.
        public var stop: @Sendable () async -> Void
        public init(start: @escaping @Sendable () async throws -> String, stop: @escaping @Sendable () async -> Void) {
            self.start = start
            self.stop = stop
        }
    }

    /// Opens the store (migrating it), loads the state, and prepares the
    /// sockets; nothing is bound until `run`.
    public init(name: String, options: HostOptions, migrations: [Migration] = [],
                clock: @escaping @Sendable () -> Date = { Date() },
                load: (ServiceStore) throws -> State) throws {
        self.name = name
        self.options = options
        var log = Logger(label: name)
        log.logLevel = options.level
        logger = log
        mesh = try MeshConfig.load(path: options.mesh)
        endpoints = try mesh.endpoints(of: name)
        security = try mesh.serverSecurity(for: name)
        store = try ServiceStore(path: (options.data as NSString).appendingPathComponent("\(name).sqlite"), migrations: migrations)
        let state = try load(store)
        reactor = Reactor(name: name)
        let trust = try mesh.actorTrust()
        if trust == nil {
            log.warning("the mesh file has no curve section: connections are plain and every actor a call names is believed (for a loopback test mesh only)")
        }
        server = RpcServer(reactor: reactor, security: security, trust: trust, counters: counters, logger: log)
        publisher = EventPublisher(reactor: reactor, service: name, stream: store.stream, head: try store.headSeq(), counters: counters)
        engine = try Engine(service: name, store: store, state: state, counters: counters, logger: log, clock: clock)
        try engine.loadParked()
        serveNode()
    }

    // MARK: Wiring (before run)

    /// Serves a method of this service through the engine: `body` runs on the
    /// state, its changes are committed, then the caller is answered.
    public func serve<Req, Resp>(_ method: RPCMethod<Req, Resp>,
                                 _ body: @escaping @Sendable (Req, CallInfo, inout State, inout Transaction) throws -> Resp) {
        server.serveDeferred(method) { [engine] req, info, responder in
            engine.submit(responder, info) { state, tx in try body(req, info, &state, &tx) }
        }
    }

    /// Like `serve`, for work that commits what it staged even when the call
    /// is refused (see `Engine.submitResult`).
    public func serveResult<Req, Resp>(_ method: RPCMethod<Req, Resp>,
                                       _ body: @escaping @Sendable (Req, CallInfo, inout State, inout Transaction) -> Result<Resp, Error>) {
        server.serveDeferred(method) { [engine] req, info, responder in
            engine.submitResult(responder, info) { state, tx in body(req, info, &state, &tx) }
        }
    }

    /// Follows another service's events (topics starting with `prefixes`),
    /// applying each once, in order, from where this store left off.
    public func follow(_ publisher: String, prefixes: [String],
                       _ apply: @escaping @Sendable (DeliveredEvent, inout State, inout Transaction) throws -> Void) {
        follows.withLock { $0.append((publisher, prefixes, apply)) }
    }

    /// Work committed once at start, before READY (a first plan's publication,
    /// catching up with what the clock did while the service was down).
    public func atStart(_ body: @escaping @Sendable (inout State, inout Transaction) throws -> Void) {
        startWork.withLock { $0.append(body) }
    }

    /// Runs `companion` with this service: started before READY, stopped
    /// first on SIGTERM.
    public func alongside(_ companion: Companion) {
        companions.withLock { $0.append(companion) }
    }

    /// A client for calling another service of the mesh.
    public func client(for service: String) throws -> RpcClient {
        try clients.withLock { c in
            if let existing = c[service] { return existing }
            let e = try mesh.endpoints(of: service)
            let client = RpcClient(reactor: reactor, endpoint: e.rpc, caller: name,
                                   principal: CallPrincipal(id: name, role: .service),
                                   security: try mesh.clientSecurity(to: service, as: name))
            c[service] = client
            return client
        }
    }

    // MARK: Running

    /// Binds, starts following, says READY, and serves until SIGTERM/SIGINT;
    /// then drains and exits the process.
    public func run() async throws -> Never {
        // A SIGTERM while binding and catching up is kept and honoured once
        // serving (it used to be ignored then, and lost: issue 22).
        TerminationSignals.install()
        signal(SIGPIPE, SIG_IGN)
        let rpc = try await server.bind(endpoints.bindRPC ?? endpoints.rpc)
        let events = try await publisher.bind(endpoints.bindEvents ?? endpoints.events, security: security)
        engine.start(publisher: publisher)
        for work in startWork.withLock({ $0 }) {
            try await engine.write { state, tx in try work(&state, &tx) }
        }
        try await startFollowing()
        _ = try await engine.write { [name] _, tx in
            try tx.publish("node.\(name).started", NodeStarted(service: name, version: examMeshVersion,
                                                               rpcEndpoint: rpc, eventsEndpoint: events))
        }
        var extra = ""
        for c in companions.withLock({ $0 }) { extra += " " + (try await c.start()) }
        logger.info("ready", metadata: ["rpc": "\(rpc)", "events": "\(events)", "store": "\(store.path)",
                                        "stream": "\(store.stream)", "head": "\(engine.headSeq)"])
        FileHandle.standardOutput.write(Data("READY \(name) rpc=\(rpc) events=\(events)\(extra)\n".utf8))

        watchParent()
        let sig = await waitForSignal()
        let code = await drain(reason: sig == SIGINT ? "SIGINT" : "SIGTERM")
        // _exit, not exit: everything acknowledged is committed by now and
        // the log lines are written unbuffered, while exit's handlers may
        // block (seen once under load: a gateway that had logged "stopped"
        // was still alive 15 s later, its watchdog's exit waiting on the
        // first one). stdio is flushed first.
        fflush(nil)
        _exit(code)
    }

    private func startFollowing() async throws {
        for f in follows.withLock({ $0 }) {
            // A mesh without that service (a partial deployment, a test of a
            // few services): nothing to follow, said once.
            guard let peer = mesh.services[f.publisher] else {
                logger.warning("not following \(f.publisher): the mesh file has no such service", metadata: ["prefixes": "\(f.prefixes)"])
                continue
            }
            let stored = try store.cursor(publisher: f.publisher)
            let position = stored.map { StreamPosition(stream: $0.stream, seq: $0.seq) } ?? .start
            let apply = f.apply
            let publisher = f.publisher
            let sub = EventSubscriber(reactor: reactor, publisher: f.publisher, eventsEndpoint: peer.events,
                                      rpcEndpoint: peer.rpc, prefixes: f.prefixes, from: position, caller: name,
                                      security: try mesh.clientSecurity(to: f.publisher, as: name), counters: counters,
                                      logger: logger) { [engine] event in
                engine.deliver(event, from: publisher, apply)
            }
            sub.start()
            subscribers.withLock { $0.append(sub) }
            logger.info("following", metadata: ["publisher": "\(f.publisher)", "prefixes": "\(f.prefixes)", "from": "\(position.seq)"])
        }
    }

    /// Started by a launcher: stop (SIGTERM, drained) when it is gone.
    private func watchParent() { onParentGone { kill(getpid(), SIGTERM) } }

    private func waitForSignal() async -> Int32 { await waitForTerminationSignal() }

    /// Stops taking calls, finishes those taken, commits what is queued,
    /// says goodbye on the event stream, and closes the sockets. A watchdog
    /// ends the process if this takes longer than --stop-timeout.
    private func drain(reason: String) async -> Int32 {
        let bound = options.stopTimeout
        logger.info("stopping", metadata: ["reason": "\(reason)", "bound_s": "\(bound)"])
        let (format, label) = (options.format, name)
        let watchdog = Thread {
            Thread.sleep(forTimeInterval: TimeInterval(bound))
            FileHandle.standardError.write(Data(ExamLogHandler.line(time: Date(), level: .critical, label: label,
                                                                    message: "stop took longer than \(bound) s; exiting",
                                                                    metadata: [:], format: format).utf8))
            fflush(nil)
            _exit(1)
        }
        watchdog.start()
        for c in companions.withLock({ $0 }) { await c.stop() }
        server.beginDraining()
        let idle = await server.waitIdle(timeout: .seconds(max(1, bound / 2)))
        _ = try? await engine.write { [name] _, tx in
            try tx.publish("node.\(name).stopping", NodeStopping(service: name, reason: reason))
        }
        for s in subscribers.withLock({ $0 }) { s.stop() }
        let drained = engine.stop(timeout: .seconds(max(1, bound / 2)))
        reactor.shutdown(timeout: .seconds(2))
        logger.info("stopped", metadata: ["calls_drained": "\(idle)", "engine_drained": "\(drained)"])
        return idle && drained ? 0 : 1
    }

    // MARK: exam.v1.Node

    private func serveNode() {
        let name = self.name
        server.serveReplay(StoreReplaySource(store: store, service: name))
        server.serveInline(NodeAPI.ping) { _, _ in PingReply(service: name, serverTimeMs: unixMillis()) }
        server.serveInline(NodeAPI.info) { [self] _, _ in
            InfoReply(service: name, version: examMeshVersion, stream: store.stream, headSeq: engine.headSeq,
                      startedAtMs: unixMillis(startedAt), uptimeMs: unixMillis() - unixMillis(startedAt),
                      rpcEndpoint: server.endpoint ?? "", eventsEndpoint: publisher.endpoint ?? "", storePath: store.path)
        }
        server.serve(NodeAPI.stats) { [self] _, _ in
            var all = counters.snapshot()
            for (table, n) in (try? store.tableCounts()) ?? [:] { all["store.rows.\(table)"] = n }
            all["engine.head_seq"] = Int64(engine.headSeq)
            all.merge(server.latency.stats(prefix: "rpc.latency")) { $1 }
            // The store's size on disk (database + write-ahead log), for ops' health view.
            all["store.bytes"] = ["", "-wal"].reduce(Int64(0)) { sum, suffix in
                sum + (((try? FileManager.default.attributesOfItem(atPath: store.path + suffix))?[.size] as? NSNumber)?.int64Value ?? 0)
            }
            return StatsReply(service: name, counters: all.sorted { $0.key < $1.key }.map { Counter(name: $0.key, value: $0.value) })
        }
        server.serve(NodeAPI.backup) { [self] req, info in
            guard info.principal.role == .ops else {
                throw RPCError.permissionDenied("backup is for ops; \(info.principal) may not")
            }
            guard req.path.hasPrefix("/") else { throw RPCError.invalidArgument("path: '\(req.path)' is not absolute") }
            let head = engine.headSeq
            do { try store.backup(to: req.path) } catch let e as StoreError {
                throw RPCError.invalidArgument("path: \(e.description)")
            }
            let attributes = try? FileManager.default.attributesOfItem(atPath: req.path)
            let size = (attributes?[.size] as? NSNumber)?.int64Value ?? 0
            logger.info("backup written", metadata: ["path": "\(req.path)", "bytes": "\(size)"])
            return BackupReply(path: req.path, bytes: size, headSeq: head)
        }
    }
}

/// Waits for SIGTERM or SIGINT (whichever comes first) and returns it.
/// A process started by a launcher or a test (EXAM_PARENT_PID in its
/// environment) runs `action` once that parent is gone, checked every
/// second, so a crashed test run or demo leaves nothing behind.
public func onParentGone(_ action: @escaping @Sendable () -> Void) {
    guard let text = ProcessInfo.processInfo.environment["EXAM_PARENT_PID"], let parent = Int32(text) else { return }
    let timer = DispatchSource.makeTimerSource(queue: .global())
    timer.schedule(deadline: .now() + 1, repeating: 1)
    timer.setEventHandler {
        if getppid() != parent {
            timer.cancel()
            action()
        }
    }
    timer.resume()
    SignalSources.keepTimer(timer)
}

/// The first SIGTERM or SIGINT (TerminationSignals: taken however the
/// process was started, and kept if it came before this was called).
public func waitForTerminationSignal() async -> Int32 {
    await TerminationSignals.next()
}

/// Keeps signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    private static let lock = NSLock()
    nonisolated(unsafe) private static var timers: [DispatchSourceTimer] = []
    static func keep(_ s: DispatchSourceSignal) { lock.withLock { sources.append(s) } }
    static func keepTimer(_ t: DispatchSourceTimer) { lock.withLock { timers.append(t) } }
}

/// The outbox as the bus's replay source.
struct StoreReplaySource: ReplaySource {
    let store: ServiceStore
    let service: String
    var stream: String { store.stream }

    func replay(afterSeq: UInt64, prefixes: [String], limit: Int) throws -> (events: [OutgoingEvent], through: UInt64, head: UInt64) {
        let page = try store.replay(afterSeq: afterSeq, prefixes: prefixes, limit: limit)
        return (page.records.map { r in
            OutgoingEvent(header: EventHeaderFields(topic: r.topic, publisher: service, stream: store.stream, seq: r.seq,
                                                    serverTimeMs: r.serverTimeMs, payloadType: r.payloadType), payload: r.payload)
        }, page.through, page.head)
    }
}

/// A service's staff command (`roster import`, `recordings export`) ends
/// with the mesh's refusal as it came (code and message) on standard error,
/// and exit status 2.
public func commandFailure(_ e: Error) -> ExitCode {
    if let e = e as? RPCError {
        FileHandle.standardError.write(Data("\(e.code.name): \(e.message)\n".utf8))
    } else {
        FileHandle.standardError.write(Data("\(e)\n".utf8))
    }
    return ExitCode(2)
}
