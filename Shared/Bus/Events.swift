import CZMQ
import Foundation
import Logging
import Synchronization

/// An event ready to go out: header (with its seq) and encoded payload.
public typealias OutgoingEvent = DeliveredEvent

/// The topic of HEAD announcements (see bus.proto).
public let headTopic = "$head"

/// Where replayed events come from: the publisher's outbox.
public protocol ReplaySource: Sendable {
    /// Events with seq > `afterSeq` whose topic starts with one of `prefixes`
    /// (all when empty), at most `limit`, in seq order; `through` is the last
    /// seq examined, `head` the newest committed seq.
    func replay(afterSeq: UInt64, prefixes: [String], limit: Int) throws
        -> (events: [OutgoingEvent], through: UInt64, head: UInt64)
    var stream: String { get }
}

/// The publishing side of events: one PUB socket on the reactor. Events are
/// handed over after they are committed to the outbox; HEAD goes out every
/// `headInterval` so subscribers notice what they missed even when the stream
/// is quiet.
public final class EventPublisher: Sendable {
    public let reactor: Reactor
    public let service: String
    public let stream: String
    public let headInterval: Duration
    private let socket = ReactorBound<ZSocket>()
    private let writer = ReactorBound<EventFrameWriter>()
    private let head: Atomic<UInt64>
    private let boundEndpoint = Mutex<String?>(nil)
    public let counters: Counters
    private let published, sendFailed: Counter

    public init(reactor: Reactor, service: String, stream: String, head: UInt64,
                headInterval: Duration = .seconds(1), counters: Counters = Counters()) {
        self.reactor = reactor
        self.service = service
        self.stream = stream
        self.head = Atomic(head)
        self.headInterval = headInterval
        self.counters = counters
        published = counters.counter("events.published")
        sendFailed = counters.counter("events.send_failed")
    }

    public var endpoint: String? { boundEndpoint.withLock { $0 } }
    public var headSeq: UInt64 { head.load(ordering: .acquiring) }

    @discardableResult
    public func bind(_ endpoint: String, limits: SocketLimits = SocketLimits(), security: BusSecurity = .plain) async throws -> String {
        let actual = try await reactor.perform { [self] loop in
            let s = try ZSocket(loop.context, .pub)
            do {
                try s.set(ZMQ_LINGER, limits.lingerMs)
                try s.set(ZMQ_SNDHWM, limits.highWaterMark)
                try s.set(ZMQ_HEARTBEAT_IVL, limits.heartbeatIntervalMs)
                try s.set(ZMQ_HEARTBEAT_TIMEOUT, limits.heartbeatTimeoutMs)
                try loop.installZAP(for: security, counters: counters, logger: Logger(label: service))
                try security.applyServer(s)
                let actual = try s.bind(endpoint)
                socket.set(loop, s)
                writer.set(loop, EventFrameWriter())
                // PUB sockets are never read; the reactor only owns and closes it.
                loop.add(s) { _ in }
                sendHead(s)
                scheduleHead(loop)
                return actual
            } catch {
                s.close()
                throw error
            }
        }
        boundEndpoint.withLock { $0 = actual }
        return actual
    }

    /// Sends committed events, in seq order, from any thread. Each goes out
    /// as one frame, [topic NUL EventHeader with the payload inside]
    /// (bus.proto), written straight into libzmq's message buffer on the
    /// reactor: nothing is allocated per event on our side, and nothing built
    /// on one thread is freed on another.
    public func publish(_ events: [OutgoingEvent]) {
        guard let last = events.last?.header.seq else { return }
        reactor.post { [self] loop in
            guard let s = socket.get(loop), let writer = writer.get(loop) else { return }
            var failed = 0
            events.withUnsafeBufferPointer { events in
                for i in events.indices where writer.send(events[i], on: s) != 0 { failed += 1 }
            }
            published.add(Int64(events.count - failed))
            if failed > 0 { sendFailed.add(Int64(failed)) }
            head.store(max(head.load(ordering: .relaxed), last), ordering: .releasing)
        }
    }

    private func sendHead(_ s: ZSocket) {
        let h = EventHeaderFields(topic: headTopic, publisher: service, stream: stream,
                                  seq: head.load(ordering: .acquiring), serverTimeMs: unixMillis(), payloadType: "")
        s.send([Array(headTopic.utf8), Envelope.encodeEvent(h), []])
    }

    private func scheduleHead(_ loop: ReactorLoop) {
        loop.schedule(after: headInterval) { [self] in
            guard let s = socket.get(loop) else { return }
            sendHead(s)
            scheduleHead(loop)
        }
    }
}

// MARK: - Replay on the wire (bus-internal mirrors of node.proto's messages)

// The bus cannot use ExamContracts' generated mirrors (they build on the
// bus), so these are written by hand the way exam-protogen writes them:
// fields by their index in protoc-c's descriptor (sorted by tag), not
// through Codable, because a catch-up replays thousands of events a page.

struct WireReplayRequest: ProtoMessage {
    static let protoName = "exam.v1.ReplayRequest"
    static let protoDescriptor = ProtoRegistry.messages[protoName]!
    var afterSeq: UInt64 = 0
    var prefixes: [String] = []
    var limit: UInt32 = 0
    enum CodingKeys: String, CodingKey { case afterSeq = "after_seq", prefixes, limit }

    init(afterSeq: UInt64, prefixes: [String], limit: UInt32) {
        self.afterSeq = afterSeq
        self.prefixes = prefixes
        self.limit = limit
    }

    init(protoReader r: ProtoReader) throws {
        afterSeq = r.uint64(0)
        prefixes = try r.strings(1)
        limit = r.uint32(2)
    }

    func protoWrite(to w: inout ProtoWriter) throws {
        w.uint64(0, afterSeq)
        try w.strings(1, prefixes)
        w.uint32(2, limit)
    }
}

struct WireEventHeader: ProtoMessage {
    static let protoName = "exam.v1.EventHeader"
    static let protoDescriptor = ProtoRegistry.messages[protoName]!
    var topic = "", publisher = "", stream = "", payloadType = ""
    var seq: UInt64 = 0
    var serverTimeMs: Int64 = 0
    enum CodingKeys: String, CodingKey {
        case topic, publisher, stream, seq, serverTimeMs = "server_time_ms", payloadType = "payload_type"
    }
    init(_ h: EventHeaderFields) {
        topic = h.topic; publisher = h.publisher; stream = h.stream
        seq = h.seq; serverTimeMs = h.serverTimeMs; payloadType = h.payloadType
    }
    var fields: EventHeaderFields {
        EventHeaderFields(topic: topic, publisher: publisher, stream: stream, seq: seq, serverTimeMs: serverTimeMs, payloadType: payloadType)
    }

    init(protoReader r: ProtoReader) throws {
        topic = try r.string(0)
        publisher = try r.string(1)
        stream = try r.string(2)
        seq = r.uint64(3)
        serverTimeMs = r.int64(4)
        payloadType = try r.string(5)
        // 6 (payload) stays empty here: a ReplayedEvent carries it beside.
    }

    func protoWrite(to w: inout ProtoWriter) throws {
        try w.string(0, topic)
        try w.string(1, publisher)
        try w.string(2, stream)
        w.uint64(3, seq)
        w.int64(4, serverTimeMs)
        try w.string(5, payloadType)
    }
}

struct WireReplayedEvent: ProtoMessage {
    static let protoName = "exam.v1.ReplayedEvent"
    static let protoDescriptor = ProtoRegistry.messages[protoName]!
    var header: WireEventHeader?
    var payload: Data = Data()

    init(header: WireEventHeader?, payload: Data) {
        self.header = header
        self.payload = payload
    }

    init(protoReader r: ProtoReader) throws {
        header = try r.message(0, WireEventHeader.self)
        payload = r.bytes(1)
    }

    func protoWrite(to w: inout ProtoWriter) throws {
        try w.message(0, header)
        w.bytes(1, payload)
    }
}

struct WireReplayReply: ProtoMessage {
    static let protoName = "exam.v1.ReplayReply"
    static let protoDescriptor = ProtoRegistry.messages[protoName]!
    var stream = ""
    var events: [WireReplayedEvent] = []
    var throughSeq: UInt64 = 0
    var headSeq: UInt64 = 0
    enum CodingKeys: String, CodingKey { case stream, events, throughSeq = "through_seq", headSeq = "head_seq" }

    init(stream: String, events: [WireReplayedEvent], throughSeq: UInt64, headSeq: UInt64) {
        self.stream = stream
        self.events = events
        self.throughSeq = throughSeq
        self.headSeq = headSeq
    }

    init(protoReader r: ProtoReader) throws {
        stream = try r.string(0)
        events = try r.messages(1, WireReplayedEvent.self)
        throughSeq = r.uint64(2)
        headSeq = r.uint64(3)
    }

    func protoWrite(to w: inout ProtoWriter) throws {
        try w.string(0, stream)
        try w.messages(1, events)
        w.uint64(2, throughSeq)
        w.uint64(3, headSeq)
    }
}

let replayMethod = RPCMethod<WireReplayRequest, WireReplayReply>("exam.v1.Node/Replay")

extension RpcServer {
    /// Serves exam.v1.Node/Replay from `source` (the publisher's outbox).
    public func serveReplay(_ source: ReplaySource) {
        serve(replayMethod) { req, _ in
            let limit = req.limit == 0 ? 1000 : Int(req.limit)
            guard (1...5000).contains(limit) else {
                throw RPCError.invalidArgument("limit must be 1..5000 (0 means 1000), got \(req.limit)")
            }
            let page = try source.replay(afterSeq: req.afterSeq, prefixes: req.prefixes, limit: limit)
            return WireReplayReply(stream: source.stream,
                                   events: page.events.map { WireReplayedEvent(header: WireEventHeader($0.header), payload: Data($0.payload)) },
                                   throughSeq: page.through, headSeq: page.head)
        }
    }
}

/// An outbox kept in memory: for tests, the benchmark and tools. Services use
/// their store's outbox, which survives restarts.
public final class MemoryOutbox: ReplaySource {
    public let stream: String
    private let events = Mutex<[OutgoingEvent]>([])
    public init(stream: String) { self.stream = stream }

    public func append(topic: String, publisher: String, payloadType: String, payload: [UInt8]) -> OutgoingEvent {
        events.withLock { list in
            let e = OutgoingEvent(header: EventHeaderFields(topic: topic, publisher: publisher, stream: stream,
                                                            seq: UInt64(list.count + 1), serverTimeMs: unixMillis(),
                                                            payloadType: payloadType), payload: payload)
            list.append(e)
            return e
        }
    }

    public func replay(afterSeq: UInt64, prefixes: [String], limit: Int) throws -> (events: [OutgoingEvent], through: UInt64, head: UInt64) {
        events.withLock { list in
            var out: [OutgoingEvent] = []
            var through = afterSeq
            var i = Int(afterSeq)
            while i < list.count && out.count < limit {
                let e = list[i]
                if prefixes.isEmpty || prefixes.contains(where: { e.header.topic.hasPrefix($0) }) { out.append(e) }
                through = e.header.seq
                i += 1
            }
            return (out, max(through, afterSeq), UInt64(list.count))
        }
    }
}
