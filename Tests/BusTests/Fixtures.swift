import Bus
import CZMQ
import ExamContracts
import Foundation
import Synchronization

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs `body` but gives up after `limit`: a bound on a wait, never a sleep
/// used to order things.
func within<T: Sendable>(_ limit: Duration, _ what: String,
                         _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut(what: what) }
        return value
    }
}

/// Lets `count` callers through only once all of them have arrived.
actor Barrier {
    let count: Int
    private var arrived = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private(set) var maxSeen = 0

    init(count: Int) { self.count = count }

    func arrive() async {
        arrived += 1
        maxSeen = max(maxSeen, arrived)
        if arrived >= count {
            waiting.forEach { $0.resume() }
            waiting.removeAll()
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }
}

/// A BusProbe service on its own reactor, bound to an ephemeral loopback port.
final class PeerLog: Sendable {
    let list = Mutex<[String?]>([])
    var all: [String?] { list.withLock { $0 } }
}

final class ProbeServer: Sendable {
    let reactor = Reactor(name: "probe-server")
    let server: RpcServer
    let endpoint: String
    let barrier: Barrier?
    /// The n of each Hold call as it enters its handler.
    let held: AsyncStream<UInt64>

    /// The mesh member each Echo call came from (CurveZMQ), in order.
    let peers = PeerLog()

    init(limits: SocketLimits = SocketLimits(), barrier: Barrier? = nil, security: BusSecurity = .plain, trust: ActorTrust? = nil) async throws {
        server = RpcServer(reactor: reactor, limits: limits, security: security, trust: trust)
        self.barrier = barrier
        let (held, entered) = AsyncStream<UInt64>.makeStream()
        self.held = held
        server.serveInline(BusProbeAPI.echo) { [peers] req, info in
            peers.list.withLock { $0.append(info.peer) }
            return req
        }
        server.serveInline(BusProbeAPI.fail) { req, _ in throw RPCError(req.code, req.message) }
        server.serve(BusProbeAPI.hold) { [barrier] req, _ in
            entered.yield(req.n)
            if let barrier { await barrier.arrive() }
            if req.holdMs > 0 { try await Task.sleep(for: .milliseconds(Int(req.holdMs))) }
            return req
        }
        endpoint = try await server.bind("tcp://127.0.0.1:*")
    }

    deinit { reactor.shutdown() }
}

/// A bare libzmq socket of any kind, for speaking the wire format by hand
/// (and sending what a well-behaved peer never would).
final class RawSocket {
    let context: UnsafeMutableRawPointer = zmq_ctx_new()
    let socket: UnsafeMutableRawPointer

    /// `timeoutMs`: how long `receive` waits.
    init(_ kind: Int32, timeoutMs: Int32 = 5000) {
        socket = zmq_socket(context, kind)
        var linger: Int32 = 0
        zmq_setsockopt(socket, ZMQ_LINGER, &linger, 4)
        var timeout = timeoutMs
        zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout, 4)
    }

    deinit {
        zmq_close(socket)
        zmq_ctx_term(context)
    }

    func send(_ frames: [[UInt8]]) {
        for (i, f) in frames.enumerated() {
            _ = f.withUnsafeBytes { zmq_send(socket, $0.baseAddress, $0.count, i < frames.count - 1 ? ZMQ_SNDMORE : 0) }
        }
    }

    /// One whole message, or nil once the receive timeout passed.
    func receive() -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        var msg = zmq_msg_t()
        zmq_msg_init(&msg)
        defer { zmq_msg_close(&msg) }
        repeat {
            guard zmq_msg_recv(&msg, socket, 0) >= 0 else { return nil }
            let n = zmq_msg_size(&msg)
            frames.append(n == 0 ? [] : Array(UnsafeRawBufferPointer(start: zmq_msg_data(&msg), count: n)))
        } while zmq_msg_more(&msg) != 0
        return frames
    }
}

/// A raw DEALER connected to `endpoint`, waiting at most 5 s for a reply.
func rawDealer(endpoint: String) -> RawSocket {
    let raw = RawSocket(ZMQ_DEALER)
    zmq_connect(raw.socket, endpoint)
    return raw
}

func callHeader(_ method: String, id: UInt64, deadline: Int64 = 0) throws -> [UInt8] {
    try ProtoCodec.encode(CallHeader(method: method, requestId: id, deadlineUnixMs: deadline, caller: "raw"))
}

func replyHeader(_ frames: [[UInt8]]?) throws -> ReplyHeader? {
    guard let frames, frames.count == 2 else { return nil }
    return try ProtoCodec.decode(ReplyHeader.self, from: frames[0])
}
