import CZMQ
import Foundation
import Logging
import Synchronization

/// What a handler knows about the call it serves.
public struct CallInfo: Sendable {
    public let method: String
    public let requestID: UInt64
    /// Unix ms after which the caller no longer waits (0 = none).
    public let deadlineUnixMs: Int64
    public let caller: String
    public let principal: CallPrincipal
    /// The mesh member whose key the call came with (CurveZMQ), nil on a plain connection.
    public let peer: String?

    public var isExpired: Bool { deadlineUnixMs != 0 && unixMillis() > deadlineUnixMs }
}

extension CallPrincipal {
    /// "role:id" for logs ("candidate:10101", "ops:examctl"), "anonymous"
    /// without an id. Ids are staff ids, exam numbers or service names.
    public var logName: String {
        guard !id.isEmpty else { return "anonymous" }
        return "\(role.coreName):\(id)"
    }
}

extension ActorRole {
    /// The role as the cores spell it ("chief_examiner").
    public var coreName: String {
        switch self {
        case .unspecified: "unspecified"
        case .candidate: "candidate"
        case .proctor: "proctor"
        case .examiner: "examiner"
        case .chiefExaminer: "chief_examiner"
        case .ops: "ops"
        case .service: "service"
        }
    }
}


/// Socket limits and hygiene shared by servers and clients.
public struct SocketLimits: Sendable {
    /// libzmq drops a connection that sends a larger frame (ZMQ_MAXMSGSIZE).
    public var transportMaxBytes: Int64 = 64 << 20
    /// A request body larger than this gets INVALID_ARGUMENT.
    public var maxRequestBytes: Int = 8 << 20
    public var lingerMs: Int32 = 1000
    public var heartbeatIntervalMs: Int32 = 2000
    public var heartbeatTimeoutMs: Int32 = 6000
    public var highWaterMark: Int32 = 100_000
    public init() {}
}

/// Where a reply goes: the ROUTER identity of the caller and its request id.
struct ReplyRoute: Sendable {
    let identity: [UInt8]
    let delimited: Bool
    let requestID: UInt64
    let method: String
    /// The call was taken up and counts as in flight until this reply.
    var inFlight = false
    /// For the debug line per call (set only when the server logs calls):
    /// when the call was received (monotonic ns), who sent it, who acts.
    var receivedNs: UInt64 = 0
    var caller = ""
    var actor = ""
}

/// Replies to one call, exactly once, from any thread.
public struct Responder<Response: ProtoMessage>: Sendable {
    let server: RpcServer
    let route: ReplyRoute

    public func succeed(_ response: Response) { server.reply(route, response: response) }
    public func fail(_ error: Error) { server.reply(route, error: error) }
    public func complete(_ result: Result<Response, Error>) {
        switch result {
        case .success(let r): succeed(r)
        case .failure(let e): fail(e)
        }
    }
}

/// The service side of request/reply: a ROUTER socket on the reactor that
/// takes calls from DEALER (or REQ) clients and dispatches each by its full
/// method name to the handler registered for it. Methods come from protos/
/// through protoc-c's service descriptors; registering a method that is not
/// there, or with other message types, stops the process at start-up.
public final class RpcServer: Sendable {
    public let reactor: Reactor
    public let limits: SocketLimits
    public let counters: Counters
    let security: BusSecurity
    /// Who may assert which actor (issue 16); nil believes every header (plain meshes, tests).
    let trust: ActorTrust?
    let logger: Logger
    /// (member, role, method) refusals already logged: each is logged once and counted always.
    private let loggedRefusals = Mutex<Set<String>>([])
    private let handlers = Mutex<[String: AnyHandler]>([:])
    private let router = ReactorBound<ZSocket>()
    private let draining = Atomic<Bool>(false)
    private let flight = Atomic<Int>(0)
    private let boundEndpoint = Mutex<String?>(nil)
    private let served = Mutex(false)
    /// A debug line per call served (decided once: the hot path at info costs nothing).
    private let logsCalls: Bool
    private let framesIn, calls, ok, errors, invalid, unimplemented, deadlineExceeded, refused, undeliverable, malformed, actorRefused: Counter
    /// Receipt to reply of every call taken up (issue 15): its quantiles
    /// are in exam.v1.Node/Stats as rpc.latency_p50_us / _p99_us / _max_us.
    public let latency = LatencyHistogram()

    public init(reactor: Reactor, limits: SocketLimits = SocketLimits(), security: BusSecurity = .plain, trust: ActorTrust? = nil,
                counters: Counters = Counters(), logger: Logger = Logger(label: "bus.rpc")) {
        self.reactor = reactor
        self.limits = limits
        self.security = security
        self.trust = trust
        self.counters = counters
        self.logger = logger
        logsCalls = logger.logLevel <= .debug
        framesIn = counters.counter("rpc.frames_in")
        calls = counters.counter("rpc.calls")
        ok = counters.counter("rpc.ok")
        errors = counters.counter("rpc.errors")
        invalid = counters.counter("rpc.invalid")
        unimplemented = counters.counter("rpc.unimplemented")
        deadlineExceeded = counters.counter("rpc.deadline_exceeded")
        refused = counters.counter("rpc.refused_draining")
        undeliverable = counters.counter("rpc.replies_undeliverable")
        malformed = counters.counter("rpc.dropped_malformed")
        actorRefused = counters.counter("rpc.actor_refused")
    }

    public var endpoint: String? { boundEndpoint.withLock { $0 } }

    // MARK: Registration

    /// Serves `method` with a handler that runs on the reactor thread and
    /// answers at once. Only for work that never blocks (ping, info, echo).
    public func serveInline<Req, Resp>(_ method: RPCMethod<Req, Resp>,
                                       _ handler: @escaping @Sendable (Req, CallInfo) throws -> Resp) {
        register(method) { [self] body, info, _ in
            let request: Req
            do { request = try ProtoCodec.decode(Req.self, from: body) } catch {
                return badRequest(method.name, error)
            }
            do {
                return .ok(try ProtoCodec.encode(try handler(request, info)))
            } catch {
                return failure(error, method: method.name)
            }
        }
    }

    /// Serves `method` with an async handler (runs as a task).
    public func serve<Req, Resp>(_ method: RPCMethod<Req, Resp>,
                                 _ handler: @escaping @Sendable (Req, CallInfo) async throws -> Resp) {
        serveDeferred(method) { req, info, responder in
            Task {
                do { responder.succeed(try await handler(req, info)) } catch { responder.fail(error) }
            }
        }
    }

    /// Serves `method` with a handler that answers later through the responder
    /// (for example after a group commit), from any thread.
    public func serveDeferred<Req, Resp>(_ method: RPCMethod<Req, Resp>,
                                         _ handler: @escaping @Sendable (Req, CallInfo, Responder<Resp>) -> Void) {
        register(method) { [self] body, info, route in
            let request: Req
            do { request = try ProtoCodec.decode(Req.self, from: body) } catch {
                return badRequest(method.name, error)
            }
            handler(request, info, Responder(server: self, route: route))
            return nil
        }
    }

    private func badRequest(_ method: String, _ error: Error) -> Immediate {
        let input = ProtoRegistry.methods[method]?.input.name ?? "request"
        return .error(.invalidArgument, "request to \(method) is not a valid \(input): \(error)")
    }

    private func register<Req, Resp>(_ method: RPCMethod<Req, Resp>,
                                     _ run: @escaping @Sendable (UnsafeRawBufferPointer, CallInfo, ReplyRoute) -> Immediate?) {
        guard let md = ProtoRegistry.methods[method.name] else {
            preconditionFailure("\(method.name) is not a method of any service in protos/")
        }
        precondition(md.input.name == Req.protoName && md.output.name == Resp.protoName,
                     "\(method.name) takes \(md.input.name) and returns \(md.output.name) in protos/")
        precondition(!served.withLock { $0 }, "register \(method.name) before bind: handlers are fixed once serving")
        handlers.withLock { $0[method.name] = AnyHandler(method: md, run: run) }
    }

    // MARK: Binding

    /// Binds the ROUTER ("tcp://127.0.0.1:*" picks a free port) and starts
    /// serving. Returns the endpoint actually bound.
    @discardableResult
    public func bind(_ endpoint: String) async throws -> String {
        // The handlers are fixed from here on: the reactor reads them without a lock.
        served.withLock { $0 = true }
        let table = handlers.withLock { $0 }
        let actual = try await reactor.perform { [self] loop in
            let s = try ZSocket(loop.context, .router)
            do {
                try s.set(ZMQ_LINGER, limits.lingerMs)
                try s.set(ZMQ_MAXMSGSIZE, int64: limits.transportMaxBytes)
                try s.set(ZMQ_ROUTER_MANDATORY, 1)
                try s.set(ZMQ_SNDHWM, limits.highWaterMark)
                try s.set(ZMQ_RCVHWM, limits.highWaterMark)
                try s.set(ZMQ_HEARTBEAT_IVL, limits.heartbeatIntervalMs)
                try s.set(ZMQ_HEARTBEAT_TIMEOUT, limits.heartbeatTimeoutMs)
                try loop.installZAP(for: security, counters: counters, logger: logger)
                try security.applyServer(s)
                s.readsPeer = security.isCurve
                let actual = try s.bind(endpoint)
                router.set(loop, s)
                loop.add(s) { [self] socket in drain(socket, table) }
                return actual
            } catch {
                s.close()
                throw error
            }
        }
        boundEndpoint.withLock { $0 = actual }
        return actual
    }

    // MARK: Draining

    /// From now on new calls get UNAVAILABLE; calls already taken still answer.
    public func beginDraining() { draining.store(true, ordering: .sequentiallyConsistent) }

    public var inFlight: Int { flight.load(ordering: .sequentiallyConsistent) }

    /// Waits until every call taken has been answered, or `timeout` passes.
    /// Returns true when none is left.
    public func waitIdle(timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + timeout
        while inFlight > 0 && clock.now < end {
            try? await Task.sleep(for: .milliseconds(5))
        }
        return inFlight == 0
    }

    // MARK: Receiving

    /// Reads what is waiting (a bounded batch, so one busy peer cannot starve
    /// the other sockets) and dispatches each call.
    private func drain(_ socket: ZSocket, _ handlers: [String: AnyHandler]) {
        _ = socket.withMessage { frames, overflow in
            take(frames, overflow: overflow, socket: socket, handlers: handlers)
        }
    }

    private func take(_ frames: UnsafeBufferPointer<UnsafeRawBufferPointer>, overflow: Bool, socket: ZSocket,
                      handlers: [String: AnyHandler]) {
        framesIn.add()
        let receivedNs = DispatchTime.now().uptimeNanoseconds
        guard frames.count >= 2 else {
            malformed.add()
            return
        }
        let identity = Array(frames[0])
        // DEALER: [id][header][body]; REQ: [id][][header][body].
        let delimited = frames.count >= 3 && frames[1].isEmpty
        let parts = UnsafeBufferPointer(rebasing: frames[(delimited ? 2 : 1)...])
        guard let header = Envelope.decodeCall(parts[0]) else {
            invalid.add()
            send(socket, ReplyRoute(identity: identity, delimited: delimited, requestID: 0, method: "", receivedNs: receivedNs),
                 .error(.invalidArgument, "first frame is not a valid exam.v1.CallHeader (\(parts[0].count) bytes)"))
            return
        }
        var route = ReplyRoute(identity: identity, delimited: delimited, requestID: header.requestID, method: header.method)
        route.receivedNs = receivedNs
        if logsCalls {
            route.caller = header.caller
            route.actor = header.principal.logName
        }
        calls.add()
        if parts.count != 2 || overflow {
            invalid.add()
            send(socket, route, .error(.invalidArgument, "a call is [CallHeader][request]: got \(overflow ? "more than 8" : String(parts.count)) frames after the routing id"))
            return
        }
        let body = parts[1]
        if body.count > limits.maxRequestBytes {
            invalid.add()
            send(socket, route, .error(.invalidArgument, "request to \(header.method) is \(body.count) bytes; this service accepts at most \(limits.maxRequestBytes)"))
            return
        }
        guard let handler = handlers[header.method] else {
            unimplemented.add()
            let known = ProtoRegistry.methods[header.method] != nil
            send(socket, route, .error(.unimplemented, known
                ? "\(header.method) is not served by this service"
                : "unknown method '\(header.method)' (expected <package>.<Service>/<Method>, as in protos/)"))
            return
        }
        // Nothing the services trust comes from a client's word (issue 16):
        // the actor must be one its sender may assert.
        if let trust, let why = trust.refusal(member: socket.peer, actor: header.principal) {
            actorRefused.add()
            let key = "\(socket.peer ?? "-")|\(header.principal.role.coreName)|\(header.method)"
            if loggedRefusals.withLock({ $0.count < 1024 && $0.insert(key).inserted }) {
                logger.warning("refused a call: its actor is not one its sender may assert (logged once per member, role and method; counted in rpc.actor_refused)",
                               metadata: ["method": .string(header.method), "member": .string(socket.peer ?? "none"),
                                          "actor": .string(header.principal.logName), "caller": .string(header.caller)])
            }
            send(socket, route, .error(.permissionDenied, "\(header.method) refused: \(why)"))
            return
        }
        if header.deadlineUnixMs != 0 && unixMillis() > header.deadlineUnixMs {
            deadlineExceeded.add()
            send(socket, route, .error(.deadlineExceeded, "deadline of \(header.method) passed before the call was taken up"))
            return
        }
        // Count first, then look: whoever drains after this sees the call in flight.
        flight.wrappingAdd(1, ordering: .sequentiallyConsistent)
        guard !draining.load(ordering: .sequentiallyConsistent) else {
            flight.wrappingSubtract(1, ordering: .sequentiallyConsistent)
            refused.add()
            send(socket, route, .error(.unavailable, "service is shutting down; retry on its successor"))
            return
        }
        let info = CallInfo(method: header.method, requestID: header.requestID, deadlineUnixMs: header.deadlineUnixMs,
                            caller: header.caller, principal: header.principal, peer: socket.peer)
        var taken = route
        taken.inFlight = true
        if let immediate = handler.run(body, info, taken) {
            send(socket, taken, immediate)
        }
    }

    // MARK: Replying

    enum Immediate { case ok([UInt8]), error(RPCCode, String, retryAfterMs: UInt32 = 0) }

    func failure(_ error: Error, method: String) -> Immediate {
        switch error {
        case let e as RPCError:
            return .error(e.code, e.message, retryAfterMs: e.retryAfterMs)
        case is CancellationError:
            return .error(.cancelled, "\(method) was cancelled")
        case let e as ProtoCodecError:
            logger.error("could not encode reply", metadata: ["method": "\(method)", "error": "\(e)"])
            return .error(.internal, "could not encode the reply of \(method): \(e)")
        default:
            logger.error("handler failed", metadata: ["method": "\(method)", "error": "\(error)"])
            return .error(.internal, "\(method) failed: \(error)")
        }
    }

    func reply<Resp: ProtoMessage>(_ route: ReplyRoute, response: Resp) {
        let immediate: Immediate
        do { immediate = .ok(try ProtoCodec.encode(response)) } catch { immediate = failure(error, method: route.method) }
        post(route, immediate)
    }

    func reply(_ route: ReplyRoute, error: Error) {
        post(route, failure(error, method: route.method))
    }

    private func post(_ route: ReplyRoute, _ immediate: Immediate) {
        reactor.post { [self] loop in
            guard let s = router.get(loop) else { return }
            send(s, route, immediate)
        }
    }

    private func send(_ socket: ZSocket, _ route: ReplyRoute, _ reply: Immediate) {
        var frames: [[UInt8]] = [route.identity]
        if route.delimited { frames.append([]) }
        if logsCalls { logCall(route, reply) }
        switch reply {
        case .ok(let body):
            ok.add()
            frames.append(Envelope.encodeReply(requestID: route.requestID, code: .ok, message: ""))
            frames.append(body)
        case .error(let code, let message, let retryAfterMs):
            if code != .ok { errors.add() }
            frames.append(Envelope.encodeReply(requestID: route.requestID, code: code, message: message, retryAfterMs: retryAfterMs))
            frames.append([])
        }
        let rc = socket.send(frames)
        if rc != 0 { undeliverable.add() }
        if route.inFlight {
            flight.wrappingSubtract(1, ordering: .sequentiallyConsistent)
            latency.record(micros: Int64((DispatchTime.now().uptimeNanoseconds &- route.receivedNs) / 1000))
        }
    }

    /// The debug line for one call served: method, code, time from receipt
    /// to reply, caller and who acted (never the request or the reply).
    private func logCall(_ route: ReplyRoute, _ reply: Immediate) {
        let code: RPCCode = switch reply {
        case .ok: .ok
        case .error(let c, _, _): c
        }
        let ns = DispatchTime.now().uptimeNanoseconds &- route.receivedNs
        logger.debug("call", metadata: [
            "method": .string(route.method), "code": .string(code.name),
            "ms": .string(String(format: "%.1f", Double(ns) / 1e6)),
            "caller": .string(route.caller), "actor": .string(route.actor.isEmpty ? "anonymous" : route.actor),
        ])
    }
}

struct AnyHandler: Sendable {
    let method: MethodDescriptor
    let run: @Sendable (UnsafeRawBufferPointer, CallInfo, ReplyRoute) -> RpcServer.Immediate?
}

