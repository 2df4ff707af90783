import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The user-space stand-in for `tc netem delay` (issue 16; see `HostLab`):
/// accepts the connections nft redirected to it, connects to where each was
/// going (SO_ORIGINAL_DST), and passes the bytes on both ways, holding each
/// chunk `delayMs` while the delay is on (SIGUSR1 on, SIGUSR2 off; it starts
/// off). Order is kept: a chunk never overtakes an earlier one.
///
/// Written in Swift rather than as a Python script so the tests and CI need
/// nothing beyond the package's own executables; a thread per direction of
/// each connection (a mesh host has a few dozen) with blocking writes, which
/// is back-pressure enough.
public final class DelayRelay: Sendable {
    public let delayMs: Int
    private let delaying = Atomic<Bool>(false)
    /// A peer that stops acknowledging (a partition) is given up after
    /// this long, so no thread stays blocked writing to it; ZeroMQ's own
    /// heartbeats drop such a connection sooner (6 s).
    static let userTimeoutMs: Int32 = 10_000

    public init(delayMs: Int) { self.delayMs = delayMs }

    public var isDelaying: Bool { delaying.load(ordering: .relaxed) }
    public func setDelaying(_ on: Bool) { delaying.store(on, ordering: .relaxed) }

    /// Listens on `port` (every address of the host), calls `ready`, and
    /// serves until the process ends.
    public func serve(port: UInt16, ready: () -> Void) throws -> Never {
        signal(SIGPIPE, SIG_IGN)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw NetCommandError(description: "relay: socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = 0  // INADDR_ANY
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 256) == 0 else {
            throw NetCommandError(description: "relay: cannot listen on port \(port): \(String(cString: strerror(errno)))")
        }
        ready()
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { continue }
            Thread.detachNewThread { self.relay(client) }
        }
    }

    private func relay(_ client: Int32) {
        var original = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let soOriginalDst: Int32 = 80  // linux/netfilter_ipv4.h
        guard getsockopt(client, Int32(SOL_IP), soOriginalDst, &original, &length) == 0 else {
            close(client)
            return
        }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let connected = withUnsafePointer(to: &original) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard upstream >= 0, connected == 0 else {
            if upstream >= 0 { close(upstream) }
            close(client)
            return
        }
        var one: Int32 = 1, timeout = Self.userTimeoutMs
        for fd in [client, upstream] { setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) }
        setsockopt(client, Int32(IPPROTO_TCP), 18 /* TCP_USER_TIMEOUT */, &timeout, socklen_t(MemoryLayout<Int32>.size))
        let pair = Pair(client, upstream)
        Thread.detachNewThread { self.pump(from: client, to: upstream, pair) }
        pump(from: upstream, to: client, pair)
    }

    /// One direction: reads what arrives, writes each chunk once it is due.
    private func pump(from source: Int32, to target: Int32, _ pair: Pair) {
        defer { pair.done() }
        var pending: [(due: UInt64, bytes: [UInt8])] = []
        var head = 0
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var ended = false
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            while head < pending.count && pending[head].due <= now {
                guard writeAll(target, pending[head].bytes) else { pair.shut(); return }
                pending[head].bytes = []
                head += 1
            }
            if head > 256 && head * 2 > pending.count {
                pending.removeFirst(head)
                head = 0
            }
            let waitMs: Int32 = head < pending.count ? Int32((pending[head].due - now + 999_999) / 1_000_000) : -1
            if ended {
                if head == pending.count { pair.shut(); return }
                usleep(UInt32(max(waitMs, 1)) * 1000)
                continue
            }
            var p = pollfd(fd: source, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, waitMs)
            if r < 0 {
                if errno == EINTR { continue }
                pair.shut()
                return
            }
            guard r > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if n > 0 {
                let delay = isDelaying ? UInt64(delayMs) * 1_000_000 : 0
                pending.append((DispatchTime.now().uptimeNanoseconds + delay, Array(buffer[0..<n])))
            } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                ended = true  // pass on what is held, then close both ways
            }
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    /// The two sockets of one relayed connection: shut both when either
    /// direction ends, closed when both pumps are done.
    final class Pair: Sendable {
        let a: Int32, b: Int32
        private let left = Atomic<Int>(2)
        init(_ a: Int32, _ b: Int32) {
            self.a = a
            self.b = b
        }
        func shut() {
            shutdown(a, Int32(SHUT_RDWR))
            shutdown(b, Int32(SHUT_RDWR))
        }
        func done() {
            if left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                close(a)
                close(b)
            }
        }
    }
}
