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

    public var isExpired: Bool { deadlineUnixMs != 0 && unixMillis() > deadlineUnixMs }
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
}

/// Replies to one call, exactly once, from any thread.
public struct Responder<Response: ProtoMessage>: Sendable {
    let server: RpcServer
    let route: ReplyRoute

    public func succeed(_ response: Response) { server.reply(route, result: .success(response)) }
    public func fail(_ error: Error) { server.reply(route, result: Result<Response, Error>.failure(error)) }
    public func complete(_ result: Result<Response, Error>) { server.reply(route, result: result) }
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
    let logger: Logger
    private let handlers = Mutex<[String: AnyHandler]>([:])
    private let router = ReactorBound<ZSocket>()
    private let flight = Mutex<(draining: Bool, inFlight: Int)>((false, 0))
    private let boundEndpoint = Mutex<String?>(nil)

    public init(reactor: Reactor, limits: SocketLimits = SocketLimits(), security: BusSecurity = .plain,
                counters: Counters = Counters(), logger: Logger = Logger(label: "bus.rpc")) {
        self.reactor = reactor
        self.limits = limits
        self.security = security
        self.counters = counters
        self.logger = logger
    }

    public var endpoint: String? { boundEndpoint.withLock { $0 } }

    // MARK: Registration

    /// Serves `method` with a handler that runs on the reactor thread and
    /// answers at once. Only for work that never blocks (ping, info, echo).
    public func serveInline<Req, Resp>(_ method: RPCMethod<Req, Resp>,
                                       _ handler: @escaping @Sendable (Req, CallInfo) throws -> Resp) {
        register(method) { req, info, _ in .now(Result { try handler(req, info) }) }
    }

    /// Serves `method` with an async handler (runs as a task).
    public func serve<Req, Resp>(_ method: RPCMethod<Req, Resp>,
                                 _ handler: @escaping @Sendable (Req, CallInfo) async throws -> Resp) {
        register(method) { req, info, responder in
            Task { responder.complete(await Result.async { try await handler(req, info) }) }
            return .later
        }
    }

    /// Serves `method` with a handler that answers later through the responder
    /// (for example after a group commit), from any thread.
    public func serveDeferred<Req, Resp>(_ method: RPCMethod<Req, Resp>,
                                         _ handler: @escaping @Sendable (Req, CallInfo, Responder<Resp>) -> Void) {
        register(method) { req, info, responder in
            handler(req, info, responder)
            return .later
        }
    }

    enum Outcome<Resp> { case now(Result<Resp, Error>), later }

    private func register<Req, Resp>(_ method: RPCMethod<Req, Resp>,
                                     _ run: @escaping @Sendable (Req, CallInfo, Responder<Resp>) -> Outcome<Resp>) {
        guard let md = ProtoRegistry.methods[method.name] else {
            preconditionFailure("\(method.name) is not a method of any service in protos/")
        }
        precondition(md.input.name == Req.protoName && md.output.name == Resp.protoName,
                     "\(method.name) takes \(md.input.name) and returns \(md.output.name) in protos/")
        let erased = AnyHandler(method: md) { [self] body, info, route in
            let request: Req
            do {
                request = try ProtoCodec.decode(Req.self, descriptor: md.input, from: body)
            } catch {
                return .error(.invalidArgument, "request to \(method.name) is not a valid \(md.input.name): \(error)")
            }
            switch run(request, info, Responder(server: self, route: route)) {
            case .later: return nil
            case .now(let result): return self.encodeResult(result, method: method.name)
            }
        }
        handlers.withLock { $0[method.name] = erased }
    }

    // MARK: Binding

    /// Binds the ROUTER ("tcp://127.0.0.1:*" picks a free port) and starts
    /// serving. Returns the endpoint actually bound.
    @discardableResult
    public func bind(_ endpoint: String) async throws -> String {
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
                try loop.installZAP(for: security)
                try security.applyServer(s)
                let actual = try s.bind(endpoint)
                router.set(loop, s)
                loop.add(s) { [self] socket in drain(socket, loop) }
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
    public func beginDraining() { flight.withLock { $0.draining = true } }

    public var inFlight: Int { flight.withLock { $0.inFlight } }

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
    private func drain(_ socket: ZSocket, _ loop: ReactorLoop) {
        for _ in 0..<256 {
            guard let (frames, overflow) = socket.receive(maxFrames: 8) else { return }
            take(frames, overflow: overflow, socket: socket)
        }
    }

    private func take(_ frames: [[UInt8]], overflow: Bool, socket: ZSocket) {
        counters.add("rpc.frames_in")
        guard let identity = frames.first, frames.count >= 2 else {
            counters.add("rpc.dropped_malformed")
            return
        }
        // DEALER: [id][header][body]; REQ: [id][][header][body].
        let delimited = frames.count >= 3 && frames[1].isEmpty
        let parts = Array(frames.dropFirst(delimited ? 2 : 1))
        guard let header = Envelope.decodeCall(parts[0]) else {
            counters.add("rpc.invalid")
            send(socket, ReplyRoute(identity: identity, delimited: delimited, requestID: 0, method: ""),
                 .error(.invalidArgument, "first frame is not a valid exam.v1.CallHeader (\(parts[0].count) bytes)"))
            return
        }
        let route = ReplyRoute(identity: identity, delimited: delimited, requestID: header.requestID, method: header.method)
        counters.add("rpc.calls")
        if parts.count != 2 || overflow {
            counters.add("rpc.invalid")
            send(socket, route, .error(.invalidArgument, "a call is [CallHeader][request]: got \(overflow ? "more than 8" : String(parts.count)) frames after the routing id"))
            return
        }
        let body = parts[1]
        if body.count > limits.maxRequestBytes {
            counters.add("rpc.invalid")
            send(socket, route, .error(.invalidArgument, "request to \(header.method) is \(body.count) bytes; this service accepts at most \(limits.maxRequestBytes)"))
            return
        }
        guard let handler = handlers.withLock({ $0[header.method] }) else {
            counters.add("rpc.unimplemented")
            let known = ProtoRegistry.methods[header.method] != nil
            send(socket, route, .error(.unimplemented, known
                ? "\(header.method) is not served by this service"
                : "unknown method '\(header.method)' (expected <package>.<Service>/<Method>, as in protos/)"))
            return
        }
        if header.deadlineUnixMs != 0 && unixMillis() > header.deadlineUnixMs {
            counters.add("rpc.deadline_exceeded")
            send(socket, route, .error(.deadlineExceeded, "deadline of \(header.method) passed before the call was taken up"))
            return
        }
        let accepted = flight.withLock { f -> Bool in
            if f.draining { return false }
            f.inFlight += 1
            return true
        }
        guard accepted else {
            counters.add("rpc.refused_draining")
            send(socket, route, .error(.unavailable, "service is shutting down; retry on its successor"))
            return
        }
        let info = CallInfo(method: header.method, requestID: header.requestID, deadlineUnixMs: header.deadlineUnixMs,
                            caller: header.caller, principal: header.principal)
        var taken = route
        taken.inFlight = true
        if let immediate = body.withUnsafeBytes({ handler.run($0, info, taken) }) {
            send(socket, taken, immediate)
        }
    }

    // MARK: Replying

    enum Immediate { case ok([UInt8]), error(RPCCode, String) }

    func encodeResult<Resp: ProtoMessage>(_ result: Result<Resp, Error>, method: String) -> Immediate {
        switch result {
        case .success(let r):
            do { return .ok(try ProtoCodec.encode(r)) } catch {
                logger.error("could not encode reply", metadata: ["method": "\(method)", "error": "\(error)"])
                return .error(.internal, "could not encode the reply of \(method): \(error)")
            }
        case .failure(let e as RPCError):
            return .error(e.code, e.message)
        case .failure(let e as CancellationError):
            return .error(.cancelled, "\(e)")
        case .failure(let e):
            logger.error("handler failed", metadata: ["method": "\(method)", "error": "\(e)"])
            return .error(.internal, "\(method) failed: \(e)")
        }
    }

    func reply<Resp: ProtoMessage>(_ route: ReplyRoute, result: Result<Resp, Error>) {
        let immediate = encodeResult(result, method: route.method)
        reactor.post { [self] loop in
            guard let s = router.get(loop) else { return }
            send(s, route, immediate)
        }
    }

    private func send(_ socket: ZSocket, _ route: ReplyRoute, _ reply: Immediate) {
        var frames: [[UInt8]] = [route.identity]
        if route.delimited { frames.append([]) }
        switch reply {
        case .ok(let body):
            counters.add("rpc.ok")
            frames.append(Envelope.encodeReply(requestID: route.requestID, code: .ok, message: ""))
            frames.append(body)
        case .error(let code, let message):
            if code != .ok { counters.add("rpc.errors") }
            frames.append(Envelope.encodeReply(requestID: route.requestID, code: code, message: message))
            frames.append([])
        }
        let rc = socket.send(frames)
        if rc != 0 { counters.add("rpc.replies_undeliverable") }
        if route.inFlight { flight.withLock { $0.inFlight -= 1 } }
    }
}

struct AnyHandler: Sendable {
    let method: MethodDescriptor
    let run: @Sendable (UnsafeRawBufferPointer, CallInfo, ReplyRoute) -> RpcServer.Immediate?
}

extension Result where Failure == Error {
    static func async(_ body: () async throws -> Success) async -> Result<Success, Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }
}
