import CZMQ
import Foundation
import Synchronization

/// Monotonic nanoseconds, for timers (never the wall clock).
@inline(__always) func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// The I/O thread of a process: it owns every ZeroMQ socket the process uses
/// (libzmq sockets are not thread-safe), polls them together, and runs timers.
/// Other threads talk to it only by posting commands, which it runs in order;
/// a posted command receives the loop, the only handle on the sockets.
public final class Reactor: Sendable {
    public let context: ZMQContext
    public let name: String
    public var executor: ReactorExecutor { ReactorExecutor(reactor: self) }
    private let commands = Mutex<[@Sendable (ReactorLoop) -> Void]>([])
    private let wakeFD: Int32
    private let done = DispatchSemaphore(value: 0)
    private let stopped = Mutex(false)
    /// Set once the loop has ended: nothing posted runs any more.
    private let ended = Atomic<Bool>(false)
    /// The reactor thread's pthread_t (0 until it runs).
    private let owner = Atomic<UInt>(0)

    public init(name: String = "bus", context: ZMQContext = ZMQContext()) {
        self.context = context
        self.name = name
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(wakeFD >= 0, "eventfd failed: \(errno)")
        let thread = Thread { [self] in
            owner.store(UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))), ordering: .releasing)
            exam_name_this_thread(String("reactor-\(name)".prefix(15)))
            let loop = ReactorLoop(reactor: self)
            loop.run()
            // The wake-up fd stays open until deinit: a late post (a stream
            // ending after its client closed) must never write to a closed
            // descriptor whose number libzmq may have reused for a mailbox
            // (a spurious wake-up there is an assertion, mailbox.cpp:99).
            ended.store(true, ordering: .sequentiallyConsistent)
            owner.store(0, ordering: .releasing)
            done.signal()
        }
        thread.name = "reactor-\(name)"
        thread.stackSize = 4 << 20
        thread.start()
    }

    deinit { close(wakeFD) }

    /// Whether the loop has ended (after `shutdown`): posted commands no
    /// longer run.
    public var isStopped: Bool { ended.load(ordering: .sequentiallyConsistent) }

    /// Runs `command` on the reactor thread, after the commands posted before
    /// it. After the loop has ended it is dropped.
    public func post(_ command: @escaping @Sendable (ReactorLoop) -> Void) {
        if isStopped { return }
        let wasEmpty = commands.withLock { q in
            let e = q.isEmpty
            q.append(command)
            return e
        }
        // The reactor drains its queue before it polls again: posting from
        // its own thread needs no wake-up.
        if wasEmpty && !isCurrent {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    /// True on the reactor's own thread.
    public var isCurrent: Bool {
        owner.load(ordering: .acquiring) == UInt(pthread_self())
    }

    /// Whether commands are waiting (the loop then polls without blocking).
    fileprivate var hasCommands: Bool { commands.withLock { !$0.isEmpty } }

    /// Runs `body` on the reactor thread and returns its result.
    public func perform<T: Sendable>(_ body: @escaping @Sendable (ReactorLoop) throws -> T) async throws -> T {
        if isStopped { throw RPCError(.unavailable, "reactor \(name) has stopped") }
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            post { loop in c.resume(with: Result { try body(loop) }) }
        }
    }

    /// Closes every socket (each with its bounded LINGER) and ends the thread.
    /// Waits at most `timeout` for the thread to finish.
    public func shutdown(timeout: Duration = .seconds(5)) {
        let first = stopped.withLock { s in
            defer { s = true }
            return !s
        }
        guard first else { return }
        post { loop in loop.stop() }
        let ms = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        _ = done.wait(timeout: .now() + .milliseconds(ms))
    }

    fileprivate func clearWake() {
        var drained: UInt64 = 0
        _ = read(wakeFD, &drained, 8)
    }

    fileprivate func takeCommands() -> [@Sendable (ReactorLoop) -> Void] {
        commands.withLock { q in
            defer { q.removeAll(keepingCapacity: true) }
            return q
        }
    }

    fileprivate var fd: Int32 { wakeFD }
}

/// The reactor thread's state: its sockets, their read handlers and timers.
/// Only ever touched on that thread.
public final class ReactorLoop {
    unowned let reactor: Reactor
    private var sockets: [(socket: ZSocket, onReadable: (ZSocket) -> Void)] = []
    private var items: [zmq_pollitem_t] = []
    private var itemsDirty = true
    private var running = true
    private var timers = TimerHeap()
    private var stopActions: [() -> Void] = []
    var zapHandler: ZAPHandler?

    init(reactor: Reactor) { self.reactor = reactor }

    var context: ZMQContext { reactor.context }

    func add(_ socket: ZSocket, onReadable: @escaping (ZSocket) -> Void) {
        sockets.append((socket, onReadable))
        itemsDirty = true
    }

    func remove(_ socket: ZSocket) {
        sockets.removeAll { $0.socket === socket }
        socket.close()
        itemsDirty = true
    }

    /// Runs `action` after `delay` on this thread. Returns an id for `cancel`.
    @discardableResult
    func schedule(after delay: Duration, _ action: @escaping () -> Void) -> UInt64 {
        let nanos = UInt64(max(0, delay.components.seconds)) * 1_000_000_000
            + UInt64(max(0, delay.components.attoseconds / 1_000_000_000))
        return timers.add(at: monotonicNanos() + nanos, action)
    }

    func cancel(_ timer: UInt64) { timers.cancel(timer) }

    /// Runs when the reactor stops, before its sockets close (flush, say goodbye).
    func onStop(_ action: @escaping () -> Void) { stopActions.append(action) }

    func stop() { running = false }

    func run() {
        while running {
            // Commands may post commands (a task on this executor sends a
            // call): run them before polling, a bounded number of rounds so
            // sockets are never starved.
            for _ in 0..<16 {
                let batch = reactor.takeCommands()
                if batch.isEmpty { break }
                for command in batch { command(self) }
            }
            if !running { break }
            if itemsDirty { rebuildItems() }
            let timeout: Int
            if reactor.hasCommands {
                timeout = 0
            } else if let next = timers.nextDeadline {
                let now = monotonicNanos()
                timeout = next <= now ? 0 : Int(min((next - now + 999_999) / 1_000_000, 60_000))
            } else {
                timeout = -1
            }
            let rc = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32($0.count), timeout) }
            if rc < 0 {
                let e = zmq_errno()
                if e == EINTR { continue }
                if e == ETERM { break }
            }
            if rc > 0 {
                if items[0].revents & Int16(ZMQ_POLLIN) != 0 { reactor.clearWake() }
                // Handlers may add or remove sockets; walk a snapshot.
                let ready = (1..<items.count).filter { items[$0].revents & Int16(ZMQ_POLLIN) != 0 }
                let snapshot = sockets
                for i in ready where i - 1 < snapshot.count {
                    let entry = snapshot[i - 1]
                    if entry.socket.raw != nil { entry.onReadable(entry.socket) }
                }
            }
            // Taken out first: an action may schedule timers of its own.
            for action in timers.takeDue(now: monotonicNanos()) { action() }
        }
        for action in stopActions { action() }
        for entry in sockets { entry.socket.close() }
        sockets.removeAll()
    }

    private func rebuildItems() {
        items = [zmq_pollitem_t(socket: nil, fd: reactor.fd, events: Int16(ZMQ_POLLIN), revents: 0)]
        for entry in sockets {
            items.append(zmq_pollitem_t(socket: entry.socket.raw, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0))
        }
        itemsDirty = false
    }
}

/// A binary min-heap of timers, cancelled lazily.
struct TimerHeap {
    private var heap: [(at: UInt64, id: UInt64)] = []
    private var actions: [UInt64: () -> Void] = [:]
    private var nextID: UInt64 = 1

    var nextDeadline: UInt64? {
        mutating get {
            while let top = heap.first, actions[top.id] == nil { pop() }
            return heap.first?.at
        }
    }

    mutating func add(at: UInt64, _ action: @escaping () -> Void) -> UInt64 {
        let id = nextID
        nextID += 1
        actions[id] = action
        heap.append((at, id))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if heap[parent].at <= heap[i].at { break }
            heap.swapAt(parent, i)
            i = parent
        }
        return id
    }

    mutating func cancel(_ id: UInt64) { actions[id] = nil }

    mutating func takeDue(now: UInt64) -> [() -> Void] {
        var due: [() -> Void] = []
        while let top = heap.first, top.at <= now {
            pop()
            if let action = actions.removeValue(forKey: top.id) { due.append(action) }
        }
        return due
    }

    private mutating func pop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && heap[l].at < heap[m].at { m = l }
            if r < heap.count && heap[r].at < heap[m].at { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
    }
}

/// Runs tasks on the reactor's thread. A task that calls services one after
/// another saves two thread switches per call when it prefers this executor
/// (`withTaskExecutorPreference(reactor.executor)`): the call is sent and its
/// reply resumed on the thread that owns the socket.
public final class ReactorExecutor: TaskExecutor {
    let reactor: Reactor
    init(reactor: Reactor) { self.reactor = reactor }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        reactor.post { [self] _ in job.runSynchronously(on: asUnownedTaskExecutor()) }
    }
}
