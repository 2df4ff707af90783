import Bus
import Foundation
import GRDB
import Logging
import Store

/// What a piece of work changes, staged while it runs and written in the
/// engine's next commit: documents, raw SQL, events for the outbox, and the
/// position of a followed stream. Nothing reaches the store unless the work
/// returns normally; then all of it does, in one transaction with the work
/// of the same batch.
public struct Transaction {
    /// The server's clock when the work was taken up (R21: event times are the server's).
    public let now: Date
    public var nowMs: Int64 { unixMillis(now) }
    /// Who caused this work, for the log line of each event it publishes:
    /// "role:id" of the call's actor, "timer", or "event <publisher>#<seq>".
    public internal(set) var actor: String?
    var events: [(topic: String, payloadType: String, payload: [UInt8], by: String?)] = []
    var writes: [(Database) throws -> Void] = []
    var cursors: [String: StreamPosition] = [:]

    init(now: Date, actor: String? = nil) {
        self.now = now
        self.actor = actor
    }

    var isEmpty: Bool { events.isEmpty && writes.isEmpty && cursors.isEmpty }

    /// Publishes `message` on `topic` once the change it reports is committed.
    public mutating func publish<M: ProtoMessage>(_ topic: String, _ message: M) throws {
        events.append((topic, M.protoName, try ProtoCodec.encode(message), actor))
    }

    /// Publishes a payload whose type is only known at run time.
    public mutating func publish(_ topic: String, _ message: any ProtoMessage) throws {
        try publishOpened(topic, message)
    }

    private mutating func publishOpened<M: ProtoMessage>(_ topic: String, _ message: M) throws {
        events.append((topic, M.protoName, try ProtoCodec.encode(message), actor))
    }

    /// Stores `value` as the document `kind`/`key` (JSON).
    public mutating func put<T: Encodable>(_ value: T, kind: String, key: String) {
        let ms = nowMs
        writes.append { db in try ServiceStore.put(value, kind: kind, key: key, nowMs: ms, in: db) }
    }

    public mutating func delete(kind: String, key: String) {
        writes.append { db in try ServiceStore.delete(kind: kind, key: key, in: db) }
    }

    /// Any other write (a service's own tables).
    public mutating func execute(_ body: @escaping (Database) throws -> Void) {
        writes.append(body)
    }

    mutating func advance(_ publisher: String, to position: StreamPosition) {
        cursors[publisher] = position
    }

    mutating func merge(_ other: Transaction) {
        events += other.events
        writes += other.writes
        cursors.merge(other.cursors) { _, new in new }
    }
}

/// An event of another stream waiting for what it refers to (see `Engine.deliver`).
struct ParkedEvent: Codable, Sendable {
    var publisher: String
    var topic: String
    var stream: String
    var seq: UInt64
    var serverTimeMs: Int64
    var payloadType: String
    var payload: Data
    var reason: String

    init(publisher: String, event: DeliveredEvent, reason: String) {
        self.publisher = publisher
        topic = event.topic
        stream = event.header.stream
        seq = event.seq
        serverTimeMs = event.header.serverTimeMs
        payloadType = event.header.payloadType
        payload = Data(event.payload)
        self.reason = reason
    }

    var key: String { "\(publisher)#\(stream)#\(seq)" }

    var delivered: DeliveredEvent {
        DeliveredEvent(header: EventHeaderFields(topic: topic, publisher: publisher, stream: stream, seq: seq,
                                                 serverTimeMs: serverTimeMs, payloadType: payloadType),
                       payload: Array(payload))
    }
}

/// The one thread that owns a service's state and writes its store. Work
/// (requests, followed events, timers) queues up; the engine takes what is
/// waiting as a batch, runs each piece against the state, commits everything
/// the batch staged in one transaction (group commit: one fsync for the
/// batch), and only then answers the callers and publishes the events. So a
/// reply means "on disk", and an event is in the outbox before anyone sees it.
///
/// Work either throws before it changes the state (a refused request) or
/// does not throw; the pure cores are written that way (decide, then apply).
public final class Engine<State>: @unchecked Sendable {
    // `@unchecked`: `state` is touched only on the engine thread; the queue
    // and flags only under `cond`.
    private var state: State
    private let cond = NSCondition()
    private var queue: [Job] = []
    private var stopping = false
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)
    private var nextWake: Date?
    private var nextSeq: UInt64

    public let service: String
    public let store: ServiceStore
    public let counters: Counters
    private let logger: Logger
    private let clock: @Sendable () -> Date
    private var publisher: EventPublisher?
    private var wakeAt: (@Sendable (State) -> Date?)?
    private var onWake: (@Sendable (inout State, inout Transaction) throws -> Void)?
    private let batches, commits, jobsRun, jobsFailed, eventsCommitted: Counter
    /// An info line per committed event (decided once: nothing is rendered above info).
    private let logsChanges: Bool

    struct Job {
        /// Runs on the engine thread; returns what to do once the batch is
        /// committed (answer the caller).
        let run: (inout State, inout Transaction) -> (() -> Void)?
    }

    public init(service: String, store: ServiceStore, state: State, counters: Counters,
                logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }) throws {
        self.service = service
        self.store = store
        self.state = state
        self.counters = counters
        self.logger = logger
        self.clock = clock
        logsChanges = logger.logLevel <= .info
        nextSeq = try store.headSeq()
        batches = counters.counter("engine.batches")
        commits = counters.counter("engine.commits")
        jobsRun = counters.counter("engine.jobs")
        jobsFailed = counters.counter("engine.jobs_refused")
        eventsCommitted = counters.counter("engine.events_committed")
    }

    /// Sets the timer: `at` says when the state next needs the clock (an
    /// entry window closing, a countdown phase); `run` acts at that time.
    public func wake(at: @escaping @Sendable (State) -> Date?, run: @escaping @Sendable (inout State, inout Transaction) throws -> Void) {
        cond.lock()
        wakeAt = at
        onWake = run
        cond.unlock()
    }

    public func start(publisher: EventPublisher?) {
        self.publisher = publisher
        let thread = Thread { [self] in loop() }
        thread.name = "engine-\(service)"
        thread.stackSize = 8 << 20
        thread.start()
    }

    public var headSeq: UInt64 { cond.withLock { nextSeq } }

    // MARK: Submitting work

    private func enqueue(_ job: Job) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        guard !stopping else { return false }
        queue.append(job)
        cond.signal()
        return true
    }

    /// Runs `body` and returns its result once its changes are committed.
    public func write<T: Sendable>(_ body: @escaping @Sendable (inout State, inout Transaction) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            let ok = enqueue(Job { [self] state, tx in
                do {
                    let r = try body(&state, &tx)
                    return { c.resume(returning: r) }
                } catch {
                    jobsFailed.add()
                    tx = Transaction(now: tx.now)  // refused: nothing it staged is kept
                    c.resume(throwing: error)
                    return nil
                }
            })
            if !ok { c.resume(throwing: RPCError.unavailable("\(service) is shutting down")) }
        }
    }

    /// Reads the state on the engine thread (no commit needed).
    public func read<T: Sendable>(_ body: @escaping @Sendable (State) throws -> T) async throws -> T {
        try await write { state, _ in try body(state) }
    }

    /// Answers a call through `responder` once `body`'s changes are committed;
    /// a call whose deadline passed while it waited is not run.
    public func submit<Resp: ProtoMessage>(_ responder: Responder<Resp>, _ info: CallInfo,
                                           _ body: @escaping @Sendable (inout State, inout Transaction) throws -> Resp) {
        let ok = enqueue(Job { [self] state, tx in
            if info.isExpired {
                responder.fail(RPCError(.deadlineExceeded, "deadline of \(info.method) passed while it waited in \(service)'s queue"))
                return nil
            }
            tx.actor = info.principal.logName
            do {
                let r = try body(&state, &tx)
                return { responder.succeed(r) }
            } catch {
                jobsFailed.add()
                tx = Transaction(now: tx.now)  // refused: nothing it staged is kept
                responder.fail(error)
                return nil
            }
        })
        if !ok { responder.fail(RPCError.unavailable("\(service) is shutting down")) }
    }

    /// Like `submit`, for work that commits something even when the call is
    /// refused (timers that came due are fired first, then the request is
    /// judged): what `body` staged is committed either way, and the caller
    /// gets the result once it is.
    public func submitResult<Resp: ProtoMessage>(_ responder: Responder<Resp>, _ info: CallInfo,
                                                 _ body: @escaping @Sendable (inout State, inout Transaction) -> Result<Resp, Error>) {
        let ok = enqueue(Job { [self] state, tx in
            if info.isExpired {
                responder.fail(RPCError(.deadlineExceeded, "deadline of \(info.method) passed while it waited in \(service)'s queue"))
                return nil
            }
            tx.actor = info.principal.logName
            let result = body(&state, &tx)
            if case .failure = result { jobsFailed.add() }
            return { responder.complete(result) }
        })
        if !ok { responder.fail(RPCError.unavailable("\(service) is shutting down")) }
    }

    public typealias Applier = @Sendable (DeliveredEvent, inout State, inout Transaction) throws -> Void

    /// Applies an event of a followed stream; its position is stored in the
    /// same transaction, so after a crash it is applied again or not at all.
    ///
    /// Streams of different services are not ordered with each other: an
    /// event about something this service has not heard of yet (the apply
    /// throws NOT_FOUND, say timing's "interview ended" before roster's
    /// "candidate imported" on a catch-up) is parked in the store and tried
    /// again after each event applied, until it applies.
    public func deliver(_ event: DeliveredEvent, from publisher: String, _ apply: @escaping Applier) {
        _ = enqueue(Job { [self] state, tx in
            appliers[publisher] = apply
            tx.actor = "event \(publisher)#\(event.seq)"
            do {
                try apply(event, &state, &tx)
                retryParked(&state, &tx)
            } catch let e as RPCError where e.code == .notFound {
                tx = Transaction(now: tx.now)
                park(ParkedEvent(publisher: publisher, event: event, reason: e.message), &tx)
            } catch {
                // An event this service cannot apply must not stop the stream:
                // it is logged, counted and passed.
                counters.add("engine.events_unapplied")
                logger.error("event not applied", metadata: [
                    "publisher": "\(publisher)", "seq": "\(event.seq)", "topic": "\(event.topic)", "error": "\(error)"])
                tx = Transaction(now: tx.now)
            }
            tx.advance(publisher, to: StreamPosition(stream: event.header.stream, seq: event.seq))
            return nil
        })
    }

    // MARK: Parked events (engine thread only)

    private var appliers: [String: Applier] = [:]
    private var parked: [ParkedEvent] = []
    static var parkedLimit: Int { 10_000 }

    private func park(_ p: ParkedEvent, _ tx: inout Transaction) {
        counters.add("engine.events_parked")
        logger.info("event parked until what it refers to arrives", metadata: [
            "publisher": "\(p.publisher)", "seq": "\(p.seq)", "topic": "\(p.topic)", "why": "\(p.reason)"])
        parked.append(p)
        tx.put(p, kind: "parked", key: p.key)
        if parked.count > Self.parkedLimit {
            let dropped = parked.removeFirst()
            tx.delete(kind: "parked", key: dropped.key)
            logger.error("parked event dropped: too many waiting", metadata: ["publisher": "\(dropped.publisher)", "seq": "\(dropped.seq)"])
        }
    }

    private func retryParked(_ state: inout State, _ tx: inout Transaction) {
        guard !parked.isEmpty else { return }
        var still: [ParkedEvent] = []
        for p in parked {
            guard let apply = appliers[p.publisher] else { still.append(p); continue }
            var sub = Transaction(now: tx.now, actor: "event \(p.publisher)#\(p.seq)")
            do {
                try apply(p.delivered, &state, &sub)
                tx.merge(sub)
                tx.delete(kind: "parked", key: p.key)
                counters.add("engine.events_unparked")
            } catch let e as RPCError where e.code == .notFound {
                still.append(p)
            } catch {
                counters.add("engine.events_unapplied")
                logger.error("parked event not applied", metadata: ["publisher": "\(p.publisher)", "seq": "\(p.seq)", "error": "\(error)"])
                tx.delete(kind: "parked", key: p.key)
            }
        }
        parked = still
    }

    /// Loads the events parked before a restart (call before `start`).
    public func loadParked() throws {
        parked = try store.documents(ParkedEvent.self, kind: "parked").map(\.value).sorted { ($0.publisher, $0.seq) < ($1.publisher, $1.seq) }
    }

    // MARK: Stopping

    /// Takes no more work, finishes what is queued (committed and answered),
    /// and stops the thread. Returns false if that took longer than `timeout`.
    @discardableResult
    public func stop(timeout: Duration) -> Bool {
        cond.lock()
        stopping = true
        cond.signal()
        cond.unlock()
        return finished.wait(timeout: .now() + .milliseconds(Int(timeout.components.seconds * 1000))) == .success
    }

    // MARK: The thread

    private func loop() {
        let first = wakeAt?(state)
        cond.withLock { nextWake = first }
        while true {
            cond.lock()
            var due = false
            while queue.isEmpty && !stopping {
                if let w = nextWake {
                    if w <= clock() { due = true; break }
                    _ = cond.wait(until: w)
                } else {
                    cond.wait()
                }
            }
            if let w = nextWake, w <= clock() { due = true }
            let jobs = Array(queue.prefix(1024))
            queue.removeFirst(jobs.count)
            let done = stopping && queue.isEmpty
            let wakeRun = onWake
            cond.unlock()

            runBatch(jobs, wake: due ? wakeRun : nil)

            let wake = wakeAt?(state)
            cond.lock()
            nextWake = wake
            cond.unlock()
            if done && jobs.isEmpty { break }
        }
        finished.signal()
    }

    private func runBatch(_ jobs: [Job], wake: (@Sendable (inout State, inout Transaction) throws -> Void)?) {
        var staged: [Transaction] = []
        var answers: [() -> Void] = []
        if let wake {
            var tx = Transaction(now: clock(), actor: "timer")
            do {
                try wake(&state, &tx)
                staged.append(tx)
            } catch {
                logger.error("timer work failed", metadata: ["error": "\(error)"])
            }
        }
        for job in jobs {
            var tx = Transaction(now: clock())
            if let answer = job.run(&state, &tx) { answers.append(answer) }
            staged.append(tx)
            jobsRun.add()
        }
        batches.add()
        let changes = staged.filter { !$0.isEmpty }
        var records: [OutboxRecord] = []
        var causes: [String?] = []
        if !changes.isEmpty {
            var seq = nextSeq
            for tx in changes {
                for e in tx.events {
                    seq += 1
                    records.append(OutboxRecord(seq: seq, topic: e.topic, payloadType: e.payloadType,
                                                payload: e.payload, serverTimeMs: tx.nowMs))
                    causes.append(e.by)
                }
            }
            do {
                try store.write { db in
                    for tx in changes {
                        for w in tx.writes { try w(db) }
                        for (publisher, p) in tx.cursors {
                            try ServiceStore.setCursor(publisher: publisher, stream: p.stream, seq: p.seq, in: db)
                        }
                    }
                    try ServiceStore.append(records, in: db)
                }
            } catch {
                // The state in memory is now ahead of the store: the only safe
                // way on is a restart from the store. Nothing was acknowledged.
                logger.critical("commit failed; stopping so a restart reloads the store", metadata: ["error": "\(error)"])
                exit(70)
            }
            cond.withLock { nextSeq = seq }
            commits.add()
            eventsCommitted.add(Int64(records.count))
            // How far each followed stream is applied, for Node/Stats
            // ("cursor.<publisher>": issue 16 times the catch-up after a
            // partition with it). Absent until the first event after a start.
            for tx in changes {
                for (publisher, p) in tx.cursors { counters.set("cursor.\(publisher)", Int64(p.seq)) }
            }
        }
        for answer in answers { answer() }
        if !records.isEmpty, let publisher {
            publisher.publish(records.map { r in
                OutgoingEvent(header: EventHeaderFields(topic: r.topic, publisher: service, stream: store.stream, seq: r.seq,
                                                        serverTimeMs: r.serverTimeMs, payloadType: r.payloadType),
                              payload: r.payload)
            })
        }
        if logsChanges {
            for (r, by) in zip(records, causes) { logChange(r, by: by) }
        }
    }

    /// The info line of one committed event: its topic, seq, who caused it,
    /// and only the payload's whitelisted keys (never the payload itself: it
    /// may hold ID numbers).
    private func logChange(_ r: OutboxRecord, by: String?) {
        var m: Logger.Metadata = ["seq": .string(String(r.seq)), "by": .string(by ?? "service:\(service)")]
        for (k, v) in ChangeLog.keys(typeName: r.payloadType, payload: r.payload) { m[k] = .string(v) }
        logger.info("\(r.topic)", metadata: m)
    }
}

/// What a state change's log line may say about its payload.
public enum ChangeLog {
    /// Payload fields (snake_case as ProtoJSON writes them, or camelCase) ->
    /// the log's key. Nothing else of a payload is ever logged.
    static let whitelist: [(fields: [String], key: String)] = [
        (["exam_number", "examNumber"], "exam_number"),
        (["room_id", "roomId"], "room"),
        (["sitting"], "sitting"),
        (["incident_id", "incidentId"], "incident"),
    ]

    /// The whitelisted keys of a payload, at its top level or one level down
    /// (incident.exam_number), the top level first.
    public static func keys(typeName: String, payload: [UInt8]) -> [(String, String)] {
        let json = ProtoJSON.render(typeName: typeName, bytes: payload)
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return [] }
        return keys(in: object)
    }

    public static func keys(in object: [String: Any]) -> [(String, String)] {
        let nested = object.keys.sorted().compactMap { object[$0] as? [String: Any] }
        var found: [(String, String)] = []
        for (fields, key) in whitelist {
            var value: String?
            for level in [object] + nested {
                for f in fields {
                    if let v = level[f].flatMap(scalar), !v.isEmpty { value = v; break }
                }
                if value != nil { break }
            }
            if let value { found.append((key, value)) }
        }
        return found
    }

    private static func scalar(_ v: Any) -> String? {
        switch v {
        case let s as String: s
        case let n as NSNumber: n.stringValue
        default: nil
        }
    }
}
