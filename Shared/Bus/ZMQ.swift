import CZMQ
import Foundation

/// An error from libzmq, with its errno and text.
public struct ZMQError: Error, CustomStringConvertible, Sendable {
    public let errno: Int32
    public let context: String
    public var description: String { "\(context): \(String(cString: zmq_strerror(errno))) (errno \(errno))" }
    static func last(_ context: String) -> ZMQError { ZMQError(errno: zmq_errno(), context: context) }
}

/// A libzmq context. libzmq documents contexts as thread-safe, so this is the
/// one ZeroMQ object shared between threads.
public final class ZMQContext: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer

    public init(ioThreads: Int32 = 1) {
        raw = zmq_ctx_new()
        zmq_ctx_set(raw, ZMQ_IO_THREADS, ioThreads)
        // Sockets are closed with a bounded LINGER; never block in term.
        zmq_ctx_set(raw, ZMQ_BLOCKY, 0)
    }

    deinit { zmq_ctx_term(raw) }
}

/// Socket kinds the bus uses.
enum SocketKind: Int32 {
    case pub = 1, sub = 2, req = 3, rep = 4, dealer = 5, router = 6
}

/// One libzmq socket. Not thread-safe: each is created, used and closed on
/// its reactor's thread only (never Sendable).
final class ZSocket {
    private(set) var raw: UnsafeMutableRawPointer?
    let kind: SocketKind
    /// Reused for every receive; libzmq requires its address to stay put.
    private let frame: UnsafeMutablePointer<zmq_msg_t>
    /// Frames of one message for `withMessage`, kept until its body returns.
    private static let poolSize = 8
    private let pool: UnsafeMutablePointer<zmq_msg_t>
    /// Set on a CurveZMQ server socket: `withMessage` then reads the mesh
    /// member the ZAP handler named for the connection into `peer`.
    var readsPeer = false
    /// The member who sent the message `withMessage` is lending (nil on a plain connection).
    private(set) var peer: String?

    init(_ context: ZMQContext, _ kind: SocketKind) throws {
        guard let s = zmq_socket(context.raw, kind.rawValue) else { throw ZMQError.last("zmq_socket") }
        raw = s
        self.kind = kind
        frame = .allocate(capacity: 1)
        zmq_msg_init(frame)
        pool = .allocate(capacity: Self.poolSize)
        for i in 0..<Self.poolSize { zmq_msg_init(pool + i) }
    }

    deinit {
        close()
        zmq_msg_close(frame)
        frame.deallocate()
        for i in 0..<Self.poolSize { zmq_msg_close(pool + i) }
        pool.deallocate()
    }

    /// Receives one whole message without blocking and lends its frames to
    /// `body` without copying them; false when none is waiting. A message
    /// with more than 8 frames is read to its end and lent truncated, with
    /// `overflow` set.
    func withMessage(_ body: (_ frames: UnsafeBufferPointer<UnsafeRawBufferPointer>, _ overflow: Bool) -> Void) -> Bool {
        var count = 0
        var overflow = false
        while true {
            let target = count < Self.poolSize ? pool + count : frame
            let rc = zmq_msg_recv(target, raw, count == 0 ? ZMQ_DONTWAIT : 0)
            if rc < 0 {
                if zmq_errno() == EINTR { continue }
                if count == 0 { return false }
                overflow = true
                break
            }
            if count < Self.poolSize { count += 1 } else { overflow = true }
            if zmq_msg_more(target) == 0 { break }
        }
        if readsPeer {
            // From the last frame: a ROUTER's routing-id frame is its own and carries no metadata.
            peer = zmq_msg_gets(pool + (count - 1), "User-Id").map { String(cString: $0) }
        }
        withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: count) { views in
            for i in 0..<count {
                let m = pool + i
                views[i] = UnsafeRawBufferPointer(start: zmq_msg_data(m), count: zmq_msg_size(m))
            }
            body(UnsafeBufferPointer(views), overflow)
        }
        return true
    }

    func close() {
        if let r = raw { zmq_close(r) }
        raw = nil
    }

    func set(_ option: Int32, _ value: Int32) throws {
        var v = value
        guard zmq_setsockopt(raw, option, &v, MemoryLayout<Int32>.size) == 0 else { throw ZMQError.last("zmq_setsockopt(\(option))") }
    }

    func set(_ option: Int32, int64 value: Int64) throws {
        var v = value
        guard zmq_setsockopt(raw, option, &v, MemoryLayout<Int64>.size) == 0 else { throw ZMQError.last("zmq_setsockopt(\(option))") }
    }

    func set(_ option: Int32, bytes: [UInt8]) throws {
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(raw, option, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw ZMQError.last("zmq_setsockopt(\(option))") }
    }

    func set(_ option: Int32, string: String) throws { try set(option, bytes: Array(string.utf8)) }

    func getString(_ option: Int32) -> String {
        var buf = [CChar](repeating: 0, count: 1024)
        var len = buf.count
        guard zmq_getsockopt(raw, option, &buf, &len) == 0 else { return "" }
        return string(fromCBuffer: buf)
    }

    /// Binds and returns the endpoint actually bound (a "*" port resolved).
    func bind(_ endpoint: String) throws -> String {
        guard zmq_bind(raw, endpoint) == 0 else { throw ZMQError.last("bind \(endpoint)") }
        return getString(ZMQ_LAST_ENDPOINT)
    }

    func connect(_ endpoint: String) throws {
        guard zmq_connect(raw, endpoint) == 0 else { throw ZMQError.last("connect \(endpoint)") }
    }

    /// Sends all frames as one message without blocking. Returns errno on
    /// failure (EAGAIN: high-water mark; EHOSTUNREACH: ROUTER peer gone).
    @discardableResult
    func send(_ frames: [[UInt8]]) -> Int32 {
        for (i, f) in frames.enumerated() {
            let rc = f.withUnsafeBytes { sendFrame($0, more: i < frames.count - 1) }
            if rc != 0 { return rc }
        }
        return 0
    }

    /// Sends one frame of a message from where it lies, without blocking
    /// (`more`: frames of the same message follow). Returns errno on failure.
    func sendFrame(_ bytes: UnsafeRawBufferPointer, more: Bool) -> Int32 {
        let flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0)
        while true {
            if zmq_send(raw, bytes.baseAddress, bytes.count, flags) >= 0 { return 0 }
            let e = zmq_errno()
            if e != EINTR { return e }
        }
    }

    /// Sends a one-frame message of `size` bytes that `fill` writes straight
    /// into libzmq's message buffer (no copy on our side), without blocking.
    /// Returns errno on failure.
    func sendFrame(size: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Int32 {
        zmq_msg_close(frame)  // it may still hold the last frame received
        guard zmq_msg_init_size(frame, size) == 0 else {
            let e = zmq_errno()
            zmq_msg_init(frame)
            return e
        }
        fill(UnsafeMutableRawBufferPointer(start: zmq_msg_data(frame), count: size))
        while true {
            if zmq_msg_send(frame, raw, ZMQ_DONTWAIT) >= 0 { return 0 }  // libzmq took the message
            let e = zmq_errno()
            if e != EINTR {
                zmq_msg_close(frame)
                zmq_msg_init(frame)
                return e
            }
        }
    }

    /// Receives one whole message without blocking; nil when none is waiting.
    /// A message with more than `maxFrames` frames is read to its end and
    /// returned truncated with `overflow` set, so a peer cannot make us buffer
    /// an unbounded frame list.
    func receive(maxFrames: Int = 16) -> (frames: [[UInt8]], overflow: Bool)? {
        var frames: [[UInt8]] = []
        var overflow = false
        while true {
            let rc = zmq_msg_recv(frame, raw, frames.isEmpty ? ZMQ_DONTWAIT : 0)
            if rc < 0 {
                let e = zmq_errno()
                if e == EINTR { continue }
                return frames.isEmpty ? nil : (frames, true)
            }
            if frames.count < maxFrames {
                let size = zmq_msg_size(frame)
                if size == 0 {
                    frames.append([])
                } else {
                    let base = zmq_msg_data(frame)!.assumingMemoryBound(to: UInt8.self)
                    frames.append(Array(UnsafeBufferPointer(start: base, count: size)))
                }
            } else {
                overflow = true
            }
            if zmq_msg_more(frame) == 0 { break }
        }
        return (frames, overflow)
    }
}
