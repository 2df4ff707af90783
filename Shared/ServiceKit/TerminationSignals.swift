import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM and SIGINT for a process that stops cleanly on them (the
/// services, `exam-mesh up`, phone-sim), however it was started (issue 22).
///
/// A non-interactive shell starts a background job (`nohup exam-mesh up &`)
/// with SIGINT ignored, and a script or a launcher may pass SIGTERM ignored
/// too; a signal that is ignored and not blocked is discarded by the kernel
/// as it is sent. `exam-mesh up` kept the dispositions it inherited until
/// all its members were READY and only then asked for the signals (SIG_IGN
/// and a DispatchSource): a SIGTERM sent while they started was lost, and
/// the mesh ran on. `install()` is called first thing instead: a handler of
/// our own replaces whatever was inherited (SIG_IGN included), the signals
/// are unblocked in the calling thread and in a thread that waits for them,
/// and a signal received before anyone asks is kept for `next()`. Handlers,
/// unlike SIG_IGN, are reset to the default on exec, so the processes
/// started afterwards (a launcher's members) begin with SIGTERM and SIGINT
/// at their default too. (NetLab's HostLab does the same for its runs.)
public enum TerminationSignals {
    public static let handled: [Int32] = [SIGTERM, SIGINT]

    private struct State {
        var installed = false
        var received: Int32?
        var waiters: [CheckedContinuation<Int32, Never>] = []
    }
    private static let state = Mutex(State())

    /// Takes SIGTERM and SIGINT from now on (idempotent).
    public static func install() {
        let first = state.withLock { s in
            defer { s.installed = true }
            return !s.installed
        }
        guard first else { return }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { fatalError("TerminationSignals: pipe() failed: errno \(errno)") }
        // The handler never blocks, even if nobody reads (a flood of signals).
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        terminationSignalPipe = fds[1]
        let readEnd = fds[0]
        Thread.detachNewThread {
            unblock()
            var byte: UInt8 = 0
            while true {
                let n = read(readEnd, &byte, 1)
                if n == 1 {
                    received(Int32(byte))
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
        for sig in handled {
            _ = signal(sig) { sig in
                var byte = UInt8(truncatingIfNeeded: sig)
                _ = write(terminationSignalPipe, &byte, 1)
            }
        }
        unblock()
    }

    /// The first SIGTERM or SIGINT received (at once if one came already).
    public static func next() async -> Int32 {
        install()
        return await withCheckedContinuation { c in
            let already = state.withLock { s -> Int32? in
                if let r = s.received { return r }
                s.waiters.append(c)
                return nil
            }
            if let already { c.resume(returning: already) }
        }
    }

    /// The first signal received, if one was.
    public static var received: Int32? { state.withLock { $0.received } }

    private static func received(_ sig: Int32) {
        let waiters = state.withLock { s -> [CheckedContinuation<Int32, Never>] in
            if s.received == nil { s.received = sig }
            defer { s.waiters = [] }
            return s.waiters
        }
        let first = state.withLock { $0.received } ?? sig
        for w in waiters { w.resume(returning: first) }
    }

    /// SIGTERM and SIGINT unblocked in the calling thread (a mask inherited
    /// blocked would leave them pending for good).
    private static func unblock() {
        var set = sigset_t()
        sigemptyset(&set)
        for sig in handled { sigaddset(&set, sig) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}

/// The write end of the handler's pipe: a global set once, before the
/// handlers are installed, and only read by them.
nonisolated(unsafe) private var terminationSignalPipe: Int32 = -1
