import CZMQ
import Foundation
import Logging
import Synchronization

/// Follows one publisher: a SUB socket for live events and a DEALER for
/// replays, both on the reactor, driven by `SubscriptionCursor`. `deliver`
/// gets each matching event exactly once, in seq order, on the reactor
/// thread (hand it on; do not block there).
public final class EventSubscriber: Sendable {
    public let reactor: Reactor
    public let publisher: String
    public let prefixes: [String]
    private let eventsEndpoint: String
    private let replayClient: RpcClient
    private let state = ReactorBound<SubscriberState>()
    /// The last position delivered: the stream behind a lock (it rarely
    /// changes), the seq an atomic the reactor stores once per event.
    private let currentStream: Mutex<String>
    private let currentSeq: Atomic<UInt64>
    private let deliver: @Sendable (DeliveredEvent) -> Void
    private let logger: Logger
    public let counters: Counters
    private let security: BusSecurity
    private let liveCount, deliveredCount, malformedCount: Counter

    /// - Parameters:
    ///   - prefixes: topic prefixes to follow; empty follows every topic.
    ///   - from: the last position this subscriber processed (its store keeps it).
    public init(reactor: Reactor, publisher: String, eventsEndpoint: String, rpcEndpoint: String,
                prefixes: [String], from position: StreamPosition, caller: String,
                security: BusSecurity = .plain, counters: Counters = Counters(),
                logger: Logger = Logger(label: "bus.sub"),
                deliver: @escaping @Sendable (DeliveredEvent) -> Void) {
        self.reactor = reactor
        self.publisher = publisher
        self.prefixes = prefixes
        self.eventsEndpoint = eventsEndpoint
        self.currentStream = Mutex(position.stream)
        self.currentSeq = Atomic(position.seq)
        self.deliver = deliver
        self.logger = logger
        self.counters = counters
        self.security = security
        liveCount = counters.counter("sub.live")
        deliveredCount = counters.counter("sub.delivered")
        malformedCount = counters.counter("sub.malformed")
        // Replay acts for nobody: every member may read the streams it can
        // reach, and a tool must not claim to be a service (issue 16).
        self.replayClient = RpcClient(reactor: reactor, endpoint: rpcEndpoint, caller: caller,
                                      principal: .anonymous, security: security)
    }

    /// The last position delivered.
    public var position: StreamPosition {
        currentStream.withLock { StreamPosition(stream: $0, seq: currentSeq.load(ordering: .acquiring)) }
    }

    public func start() {
        reactor.post { [self] loop in
            do {
                let s = try ZSocket(loop.context, .sub)
                try s.set(ZMQ_LINGER, 0)
                try s.set(ZMQ_RCVHWM, 100_000)
                try s.set(ZMQ_RECONNECT_IVL, 100)
                try s.set(ZMQ_RECONNECT_IVL_MAX, 1000)
                try s.set(ZMQ_HEARTBEAT_IVL, 2000)
                try s.set(ZMQ_HEARTBEAT_TIMEOUT, 6000)
                try security.applyClient(s)
                try s.set(ZMQ_SUBSCRIBE, string: headTopic)
                for p in prefixes.isEmpty ? [""] : prefixes { try s.set(ZMQ_SUBSCRIBE, string: p) }
                try s.connect(eventsEndpoint)
                let from = position
                let st = SubscriberState(socket: s, cursor: SubscriptionCursor(from: from))
                st.deliveredStream = from.stream
                state.set(loop, st)
                loop.add(s) { [self] socket in receive(socket, loop) }
                run(st.cursor.start(), st, loop)
            } catch {
                logger.error("cannot subscribe", metadata: ["publisher": "\(publisher)", "error": "\(error)"])
            }
        }
    }

    public func stop() {
        replayClient.close()
        reactor.post { [self] loop in
            if let st = state.get(loop) {
                st.stopped = true
                loop.remove(st.socket)
            }
            state.set(loop, nil)
        }
    }

    private func receive(_ socket: ZSocket, _ loop: ReactorLoop) {
        guard let st = state.get(loop) else { return }
        // The decoder is taken out of the state for the batch: one access to
        // it, not one per field of every event.
        var headers = st.headers
        // Counted once per batch, not with an atomic add per event.
        var live: Int64 = 0, inOrder: Int64 = 0
        defer {
            st.headers = headers
            if live > 0 { liveCount.add(live) }
            if inOrder > 0 { deliveredCount.add(inOrder) }
        }
        for _ in 0..<512 {
            // The frames are lent by libzmq, not copied: only the payload of
            // an event that is delivered is copied out.
            let received = socket.withMessage { frames, overflow in
                // [topic NUL EventHeader with payload]; the earlier
                // versions' [topic][EventHeader with payload] and
                // [topic][EventHeader][payload] (and HEAD) still read.
                var payload: [UInt8] = []
                var decoded: EventHeaderFields?
                if overflow || frames.count > 3 {
                    decoded = nil
                } else if frames.count == 1 {
                    if let (topic, header) = EventFrame.split(frames[0]) {
                        decoded = headers.decode(header, topic: topic, payload: &payload)
                    }
                } else {
                    decoded = headers.decode(frames[1], topic: nil, payload: &payload)
                    if frames.count == 3 { payload = Array(frames[2]) }
                }
                guard let header = decoded else {
                    malformedCount.add()
                    return
                }
                if header.topic == headTopic {
                    run(st.cursor.head(stream: header.stream, seq: header.seq), st, loop)
                } else {
                    live += 1
                    let e = DeliveredEvent(header: header, payload: payload)
                    // The common case, the next event in order, without building actions.
                    if st.cursor.takeInOrder(e) {
                        inOrder += 1
                        deliverUncounted(e, st)
                    } else {
                        run(st.cursor.live(e), st, loop)
                    }
                }
            }
            if !received { return }
        }
    }

    private func run(_ actions: [SubscriptionCursor.Action], _ st: SubscriberState, _ loop: ReactorLoop, retry: Bool = false) {
        for action in actions {
            switch action {
            case .deliver(let e):
                deliverOne(e, st)
            case .warn(let text):
                logger.warning("\(text)", metadata: ["publisher": "\(publisher)"])
            case .replay(let after):
                if retry {
                    st.backoffMs = min(max(st.backoffMs * 2, 100), 2000)
                    loop.schedule(after: .milliseconds(st.backoffMs)) { [self] in requestReplay(after, st, loop) }
                } else {
                    requestReplay(after, st, loop)
                }
            }
        }
        // Keep the stream id even while nothing was delivered.
        let p = st.cursor.position
        currentStream.withLock { if $0.isEmpty { $0 = p.stream } }
    }

    private func deliverOne(_ e: DeliveredEvent, _ st: SubscriberState) {
        deliveredCount.add()
        deliverUncounted(e, st)
    }

    /// Delivers `e`; the caller counts it (`receive` once per batch).
    private func deliverUncounted(_ e: DeliveredEvent, _ st: SubscriberState) {
        if e.header.stream == st.deliveredStream {
            currentSeq.store(e.header.seq, ordering: .releasing)
        } else {
            st.deliveredStream = e.header.stream
            currentStream.withLock { stream in
                stream = e.header.stream
                currentSeq.store(e.header.seq, ordering: .releasing)
            }
        }
        deliver(e)
    }

    private func requestReplay(_ after: UInt64, _ st: SubscriberState, _ loop: ReactorLoop) {
        guard !st.stopped else { return }
        counters.add("sub.replays")
        let body: [UInt8]
        do { body = try ProtoCodec.encode(WireReplayRequest(afterSeq: after, prefixes: prefixes, limit: 1000)) } catch {
            logger.error("cannot encode replay request: \(error)")
            return
        }
        replayClient.start(method: replayMethod.name, body: body, timeout: .seconds(3), loop: loop) { [self] result in
            guard !st.stopped else { return }
            switch result {
            case .success(let bytes):
                guard let reply = try? ProtoCodec.decode(WireReplayReply.self, from: bytes) else {
                    counters.add("sub.replay_failed")
                    run(st.cursor.replayFailed(), st, loop, retry: true)
                    return
                }
                st.backoffMs = 0
                let events = reply.events.compactMap { e in e.header.map { DeliveredEvent(header: $0.fields, payload: Array(e.payload)) } }
                counters.add("sub.replayed", Int64(events.count))
                run(st.cursor.replayed(afterSeq: after, stream: reply.stream, events: events,
                                       through: reply.throughSeq, head: reply.headSeq), st, loop)
            case .failure(let error):
                counters.add("sub.replay_failed")
                logger.debug("replay failed, will retry", metadata: ["publisher": "\(publisher)", "error": "\(error)"])
                run(st.cursor.replayFailed(), st, loop, retry: true)
            }
        }
    }
}

final class SubscriberState {
    let socket: ZSocket
    var cursor: SubscriptionCursor
    var headers = EventHeaderDecoder()
    /// The stream of the last event delivered (the reactor's copy of `currentStream`).
    var deliveredStream = ""
    var backoffMs = 0
    var stopped = false
    init(socket: ZSocket, cursor: SubscriptionCursor) {
        self.socket = socket
        self.cursor = cursor
    }
}

extension EventSubscriber {
    /// Follows a publisher as an async sequence (tools, tests). The stream
    /// ends when the task that reads it is cancelled.
    public static func stream(reactor: Reactor, publisher: String, eventsEndpoint: String, rpcEndpoint: String,
                              prefixes: [String], from position: StreamPosition = .start, caller: String,
                              security: BusSecurity = .plain) -> (EventSubscriber, AsyncStream<DeliveredEvent>) {
        let (stream, continuation) = AsyncStream<DeliveredEvent>.makeStream()
        let sub = EventSubscriber(reactor: reactor, publisher: publisher, eventsEndpoint: eventsEndpoint,
                                  rpcEndpoint: rpcEndpoint, prefixes: prefixes, from: position, caller: caller,
                                  security: security) { continuation.yield($0) }
        continuation.onTermination = { _ in sub.stop() }
        sub.start()
        return (sub, stream)
    }
}
