import CZMQ
import Foundation
import Synchronization

/// The calling side of request/reply: one DEALER socket on the reactor,
/// connected to one service, with any number of calls in flight, matched to
/// their replies by request id. Every call has a deadline; when it passes the
/// caller gets DEADLINE_EXCEEDED and a late reply is dropped.
public final class RpcClient: Sendable {
    public let reactor: Reactor
    public let endpoint: String
    public let caller: String
    public let principal: CallPrincipal
    public let defaultTimeout: Duration
    private let nextID = Atomic<UInt64>(1)
    private let state = ReactorBound<DealerState>()

    public init(reactor: Reactor, endpoint: String, caller: String, principal: CallPrincipal = .anonymous,
                defaultTimeout: Duration = .seconds(5), limits: SocketLimits = SocketLimits(),
                security: BusSecurity = .plain) {
        self.reactor = reactor
        self.endpoint = endpoint
        self.caller = caller
        self.principal = principal
        self.defaultTimeout = defaultTimeout
        reactor.post { [state] loop in
            do {
                let s = try ZSocket(loop.context, .dealer)
                try s.set(ZMQ_LINGER, 0)
                try s.set(ZMQ_MAXMSGSIZE, int64: limits.transportMaxBytes)
                try s.set(ZMQ_SNDHWM, limits.highWaterMark)
                try s.set(ZMQ_RCVHWM, limits.highWaterMark)
                try s.set(ZMQ_HEARTBEAT_IVL, limits.heartbeatIntervalMs)
                try s.set(ZMQ_HEARTBEAT_TIMEOUT, limits.heartbeatTimeoutMs)
                try s.set(ZMQ_RECONNECT_IVL, 100)
                try s.set(ZMQ_RECONNECT_IVL_MAX, 1000)
                try security.applyClient(s)
                try s.connect(endpoint)
                let dealer = DealerState(socket: s, endpoint: endpoint)
                state.set(loop, dealer)
                loop.add(s) { _ in dealer.drain(loop) }
            } catch {
                state.set(loop, DealerState(failure: "\(error)", endpoint: endpoint))
            }
        }
    }

    /// Calls `method` and waits for its reply or its deadline.
    public func call<Req, Resp>(_ method: RPCMethod<Req, Resp>, _ request: Req,
                                timeout: Duration? = nil, as principal: CallPrincipal? = nil) async throws -> Resp {
        let body: [UInt8]
        do { body = try ProtoCodec.encode(request) } catch {
            throw RPCError(.invalidArgument, "could not encode the request to \(method.name): \(error)")
        }
        let bytes = try await callRaw(method: method.name, body: body, timeout: timeout, as: principal)
        do {
            return try ProtoCodec.decode(Resp.self, from: bytes)
        } catch {
            throw RPCError(.internal, "reply of \(method.name) from \(endpoint) is not a valid \(Resp.protoName): \(error)")
        }
    }

    /// Calls by method name with an already encoded request; returns the
    /// encoded response. For tools that speak any method (`examctl call`).
    public func callRaw(method: String, body: [UInt8], timeout: Duration? = nil,
                        as principal: CallPrincipal? = nil) async throws -> [UInt8] {
        if reactor.isStopped { throw RPCError(.unavailable, "client to \(endpoint) is closed (its reactor has stopped)") }
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let limit = timeout ?? defaultTimeout
        let header = Envelope.encodeCall(CallHeaderFields(
            method: method, requestID: id, deadlineUnixMs: unixMillis() + limit.milliseconds,
            caller: caller, principal: principal ?? self.principal))
        // Unsafe (not checked) continuation: every path below resumes it
        // exactly once (a reply, the deadline sweep, a cancel, a close), and
        // this is the hot path of every call.
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (c: UnsafeContinuation<[UInt8], Error>) in
                reactor.post { [state] loop in
                    guard let dealer = state.get(loop) else {
                        c.resume(throwing: RPCError(.unavailable, "client to \(self.endpoint) is closed"))
                        return
                    }
                    dealer.start(id: id, method: method, frames: [header, body], timeout: limit, loop: loop) {
                        c.resume(with: $0)
                    }
                }
            }
        } onCancel: {
            reactor.post { [state] loop in state.get(loop)?.cancel(id, loop) }
        }
    }

    /// Sends a call from the reactor thread itself; `done` runs there too.
    func start(method: String, body: [UInt8], timeout: Duration, loop: ReactorLoop,
               done: @escaping (Result<[UInt8], Error>) -> Void) {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let header = Envelope.encodeCall(CallHeaderFields(
            method: method, requestID: id, deadlineUnixMs: unixMillis() + timeout.milliseconds,
            caller: caller, principal: principal))
        guard let dealer = state.get(loop) else {
            done(.failure(RPCError(.unavailable, "client to \(endpoint) is not open")))
            return
        }
        dealer.start(id: id, method: method, frames: [header, body], timeout: timeout, loop: loop, done: done)
    }

    /// Fails every call in flight with CANCELLED and closes the socket.
    public func close() {
        reactor.post { [state] loop in
            state.get(loop)?.closeAll(loop)
            state.set(loop, nil)
        }
    }
}

/// The DEALER and its calls in flight; lives on the reactor thread.
final class DealerState {
    let socket: ZSocket?
    let failure: String?
    let endpoint: String
    private var pending: [UInt64: (method: String, deadline: UInt64, timeout: Duration, done: (Result<[UInt8], Error>) -> Void)] = [:]
    var lateReplies = 0
    /// One timer sweeps the calls in flight for passed deadlines, instead of
    /// a timer per call: a deadline is kept to within `sweepInterval`.
    private var sweepArmed = false
    static let sweepInterval: Duration = .milliseconds(10)

    init(socket: ZSocket, endpoint: String) {
        self.socket = socket
        self.failure = nil
        self.endpoint = endpoint
    }

    init(failure: String, endpoint: String) {
        self.socket = nil
        self.failure = failure
        self.endpoint = endpoint
    }

    func start(id: UInt64, method: String, frames: [[UInt8]], timeout: Duration, loop: ReactorLoop,
               done: @escaping (Result<[UInt8], Error>) -> Void) {
        if cancelledEarly.remove(id) != nil {
            done(.failure(CancellationError()))
            return
        }
        guard let socket else {
            done(.failure(RPCError(.unavailable, "cannot connect to \(endpoint): \(failure ?? "closed")")))
            return
        }
        let rc = socket.send(frames)
        if rc != 0 {
            let why = rc == EAGAIN ? "send queue to \(endpoint) is full" : String(cString: zmq_strerror(rc))
            done(.failure(RPCError(.unavailable, "\(method): \(why)")))
            return
        }
        pending[id] = (method, monotonicNanos() + UInt64(max(0, timeout.milliseconds)) * 1_000_000, timeout, done)
        armSweep(loop)
    }

    private func armSweep(_ loop: ReactorLoop) {
        guard !sweepArmed, !pending.isEmpty else { return }
        sweepArmed = true
        loop.schedule(after: Self.sweepInterval) { [weak self] in
            guard let self else { return }
            sweepArmed = false
            let now = monotonicNanos()
            for (id, p) in pending where p.deadline <= now {
                finish(id, .failure(RPCError(.deadlineExceeded, "no reply to \(p.method) from \(endpoint) within \(p.timeout)")), loop)
            }
            armSweep(loop)
        }
    }

    /// Cancelled before they were sent (the cancel overtook the send).
    private var cancelledEarly: Set<UInt64> = []

    func cancel(_ id: UInt64, _ loop: ReactorLoop) {
        if pending[id] == nil { cancelledEarly.insert(id) }
        finish(id, .failure(CancellationError()), loop)
    }

    func finish(_ id: UInt64, _ result: Result<[UInt8], Error>, _ loop: ReactorLoop) {
        guard let p = pending.removeValue(forKey: id) else { return }
        p.done(result)
    }

    func drain(_ loop: ReactorLoop) {
        guard let socket else { return }
        _ = socket.withMessage { frames, _ in
            // [header][body], or [][header][body] from a server that echoes a delimiter.
            let skip = frames.count == 3 && frames[0].isEmpty ? 1 : 0
            guard frames.count - skip == 2, let header = Envelope.decodeReply(frames[skip]) else { return }
            guard pending[header.requestID] != nil else {
                lateReplies += 1
                return
            }
            if header.code == .ok {
                finish(header.requestID, .success(Array(frames[skip + 1])), loop)
            } else {
                finish(header.requestID, .failure(RPCError(header.code, header.message, retryAfterMs: header.retryAfterMs)), loop)
            }
        }
    }

    func closeAll(_ loop: ReactorLoop) {
        for id in Array(pending.keys) {
            finish(id, .failure(RPCError(.cancelled, "client to \(endpoint) closed")), loop)
        }
        if let socket { loop.remove(socket) }
    }
}
