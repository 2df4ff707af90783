import CZMQ
@testable import Bus
import ExamContracts
import Foundation
import Synchronization
import Testing

/// A publisher with an in-memory outbox and a replay service, on loopback.
final class ProbePublisher: Sendable {
    let reactor = Reactor(name: "publisher")
    let outbox = MemoryOutbox(stream: "stream-\(UUID().uuidString.prefix(8))")
    let server: RpcServer
    let publisher: EventPublisher
    let rpcEndpoint: String
    let eventsEndpoint: String

    init(headInterval: Duration = .seconds(1)) async throws {
        server = RpcServer(reactor: reactor)
        server.serveReplay(outbox)
        rpcEndpoint = try await server.bind("tcp://127.0.0.1:*")
        publisher = EventPublisher(reactor: reactor, service: "probe", stream: outbox.stream, head: 0, headInterval: headInterval)
        eventsEndpoint = try await publisher.bind("tcp://127.0.0.1:*")
    }

    deinit { reactor.shutdown() }

    /// Stores an event; sends it live unless `lost` (as if the PUB dropped it).
    @discardableResult
    func emit(_ topic: String, n: UInt64, lost: Bool = false) throws -> OutgoingEvent {
        let e = outbox.append(topic: topic, publisher: "probe", payloadType: ProbeEvent.protoName,
                              payload: try ProtoCodec.encode(ProbeEvent(n: n)))
        if !lost { publisher.publish([e]) }
        return e
    }
}

func collect(_ stream: AsyncStream<DeliveredEvent>, count: Int, within limit: Duration = .seconds(20)) async throws -> [DeliveredEvent] {
    try await within(limit, "\(count) events") {
        var got: [DeliveredEvent] = []
        for await e in stream {
            got.append(e)
            if got.count == count { break }
        }
        return got
    }
}

@Suite("events on loopback")
struct EventTests {
    @Test func lateSubscriberGetsAllThousandEventsInOrder() async throws {
        let pub = try await ProbePublisher()
        for i in 1...1000 { try pub.emit("probe.tick", n: UInt64(i)) }
        let reactor = Reactor(name: "subscriber")
        defer { reactor.shutdown() }
        let (_, stream) = EventSubscriber.stream(reactor: reactor, publisher: "probe", eventsEndpoint: pub.eventsEndpoint,
                                                 rpcEndpoint: pub.rpcEndpoint, prefixes: ["probe."], caller: "test")
        let got = try await collect(stream, count: 1000)
        #expect(got.map(\.seq) == Array(1...1000))
        #expect(try got.map { try $0.decode(ProbeEvent.self).n } == Array(1...1000))
        #expect(got.allSatisfy { $0.header.publisher == "probe" && $0.header.stream == pub.outbox.stream })
    }

    @Test func liveGapsAreFilledExactlyOnceInOrder() async throws {
        let pub = try await ProbePublisher(headInterval: .milliseconds(50))
        let reactor = Reactor(name: "subscriber")
        defer { reactor.shutdown() }
        let (sub, stream) = EventSubscriber.stream(reactor: reactor, publisher: "probe", eventsEndpoint: pub.eventsEndpoint,
                                                   rpcEndpoint: pub.rpcEndpoint, prefixes: [], caller: "test")
        // Every 7th event never goes out live; the last one neither: only
        // HEAD tells the subscriber about it.
        for i in 1...300 { try pub.emit("probe.tick", n: UInt64(i), lost: i % 7 == 0 || i == 300) }
        let got = try await collect(stream, count: 300)
        #expect(got.map(\.seq) == Array(1...300))
        #expect(sub.position.seq == 300)
    }

    @Test func prefixFilterDeliversOnlyMatchingTopicsInOrder() async throws {
        let pub = try await ProbePublisher(headInterval: .milliseconds(50))
        for i in 1...100 { try pub.emit(i % 3 == 0 ? "probe.wanted.x" : "probe.other", n: UInt64(i)) }
        let reactor = Reactor(name: "subscriber")
        defer { reactor.shutdown() }
        let (_, stream) = EventSubscriber.stream(reactor: reactor, publisher: "probe", eventsEndpoint: pub.eventsEndpoint,
                                                 rpcEndpoint: pub.rpcEndpoint, prefixes: ["probe.wanted."], caller: "test")
        for i in 101...200 { try pub.emit(i % 3 == 0 ? "probe.wanted.y" : "probe.other", n: UInt64(i)) }
        let expected = (1...200).filter { $0 % 3 == 0 }.map(UInt64.init)
        let got = try await collect(stream, count: expected.count)
        #expect(got.map(\.seq) == expected)
        #expect(got.allSatisfy { $0.topic.hasPrefix("probe.wanted.") })
    }

    @Test func resumesAfterAStoredPosition() async throws {
        let pub = try await ProbePublisher()
        for i in 1...50 { try pub.emit("probe.tick", n: UInt64(i)) }
        let reactor = Reactor(name: "subscriber")
        defer { reactor.shutdown() }
        let (_, stream) = EventSubscriber.stream(reactor: reactor, publisher: "probe", eventsEndpoint: pub.eventsEndpoint,
                                                 rpcEndpoint: pub.rpcEndpoint, prefixes: [],
                                                 from: StreamPosition(stream: pub.outbox.stream, seq: 40), caller: "test")
        let got = try await collect(stream, count: 10)
        #expect(got.map(\.seq) == Array(41...50))
    }

    @Test func subscriberWaitsForAPublisherThatIsNotUpYet() async throws {
        // Subscribe to endpoints where nothing listens yet, then start the publisher there.
        let dir = "/tmp/exam-bus-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let rpc = "ipc://\(dir)/late.rpc", events = "ipc://\(dir)/late.events"
        let reactor = Reactor(name: "subscriber")
        defer { reactor.shutdown() }
        let (_, stream) = EventSubscriber.stream(reactor: reactor, publisher: "probe", eventsEndpoint: events,
                                                 rpcEndpoint: rpc, prefixes: [], caller: "test")
        let late = Reactor(name: "late-publisher")
        defer { late.shutdown() }
        let outbox = MemoryOutbox(stream: "late")
        let server = RpcServer(reactor: late)
        server.serveReplay(outbox)
        try await server.bind(rpc)
        let publisher = EventPublisher(reactor: late, service: "probe", stream: "late", head: 0, headInterval: .milliseconds(50))
        try await publisher.bind(events)
        for i in 1...5 {
            publisher.publish([outbox.append(topic: "probe.tick", publisher: "probe", payloadType: ProbeEvent.protoName,
                                             payload: try ProtoCodec.encode(ProbeEvent(n: UInt64(i))))])
        }
        let got = try await collect(stream, count: 5)
        #expect(got.map(\.seq) == [1, 2, 3, 4, 5])
    }
}

/// What a subscriber delivered, from its reactor thread.
final class DeliveredList: Sendable {
    let list = Mutex<[DeliveredEvent]>([])
}

/// The event frames as bus.proto writes them down, read and written by hand.
@Suite("event wire format")
struct EventWireTests {
    @Test func anEventIsOneFrameTopicNulHeaderWithThePayloadInside() async throws {
        let pub = try await ProbePublisher(headInterval: .milliseconds(50))
        let sub = RawSocket(ZMQ_SUB, timeoutMs: 200)
        // An exact-topic subscription: the topic and its NUL.
        zmq_setsockopt(sub.socket, ZMQ_SUBSCRIBE, "probe.wire\0", 11)
        zmq_connect(sub.socket, pub.eventsEndpoint)
        // The SUB joins asynchronously: emit until one arrives (each receive
        // waits at most 200 ms; the whole at most 10 s).
        let deadline = ContinuousClock.now + .seconds(10)
        var frames: [[UInt8]] = []
        var n: UInt64 = 0
        while frames.isEmpty && ContinuousClock.now < deadline {
            n += 1
            try pub.emit("probe.wire.more", n: n)  // filtered out by the exact subscription
            try pub.emit("probe.wire", n: n)
            frames = sub.receive() ?? []
        }
        #expect(frames.count == 1)
        let frame = try #require(frames.first)
        let nul = try #require(frame.firstIndex(of: 0))
        #expect(Array(frame[..<nul]) == Array("probe.wire".utf8))
        let header = try ProtoCodec.decode(EventHeader.self, from: Array(frame[(nul + 1)...]))
        #expect(header.topic == "" && header.publisher == "probe" && header.stream == pub.outbox.stream)
        #expect(header.payloadType == ProbeEvent.protoName && header.seq % 2 == 0 && header.serverTimeMs > 0)
        #expect(try ProtoCodec.decode(ProbeEvent.self, from: header.payload).n == header.seq / 2)
    }

    @Test func theFrameIsWhatTheGeneratedCodecWrites() throws {
        // The hand-written writer and reader against protoc-c's packing of
        // the same header (without its topic), payload and all.
        let h = EventHeaderFields(topic: "roster.candidate.confirmed", publisher: "roster", stream: "s-1",
                                  seq: 300, serverTimeMs: 1_700_000_000_123, payloadType: ProbeEvent.protoName)
        let payload = try ProtoCodec.encode(ProbeEvent(n: 7))
        let frame = EventFrame.encode(h, payload: payload)
        let packed = try ProtoCodec.encode(EventHeader(publisher: h.publisher, stream: h.stream, seq: h.seq, serverTimeMs: h.serverTimeMs,
                                                       payloadType: h.payloadType, payload: Data(payload)))
        #expect(frame == Array(h.topic.utf8) + [0] + packed)
        var decoder = EventHeaderDecoder()
        for _ in 0..<2 {  // the second time through the fast path
            let got = frame.withUnsafeBytes { bytes -> (EventHeaderFields, [UInt8])? in
                guard let (topic, header) = EventFrame.split(bytes) else { return nil }
                var body: [UInt8] = []
                return decoder.decode(header, topic: topic, payload: &body).map { ($0, body) }
            }
            #expect(got?.0 == h)
            #expect(got?.1 == payload)
        }
        // A header whose own topic disagrees with the frame's is refused.
        let lying = Array("a.b".utf8) + [0] + (try ProtoCodec.encode(EventHeader(topic: "c.d", publisher: "p", seq: 1)))
        let refused = lying.withUnsafeBytes { bytes -> Bool in
            guard let (topic, header) = EventFrame.split(bytes) else { return true }
            var body: [UInt8] = []
            return decoder.decode(header, topic: topic, payload: &body) == nil
        }
        #expect(refused)
    }

    @Test func theEarlierVersionsThreeAndTwoFrameEventsStillRead() async throws {
        // A first-version publisher: [topic][EventHeader][payload] and the
        // three-frame HEAD, by hand; its replay outbox is empty, so whatever
        // arrives came live, in the old layout.
        let reactor = Reactor(name: "old-publisher-rpc")
        defer { reactor.shutdown() }
        let server = RpcServer(reactor: reactor)
        server.serveReplay(MemoryOutbox(stream: "old"))
        let rpc = try await server.bind("tcp://127.0.0.1:*")
        let pub = RawSocket(ZMQ_PUB)
        zmq_bind(pub.socket, "tcp://127.0.0.1:*")
        var buf = [CChar](repeating: 0, count: 256)
        var len = buf.count
        zmq_getsockopt(pub.socket, ZMQ_LAST_ENDPOINT, &buf, &len)
        let events = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)

        let subReactor = Reactor(name: "subscriber")
        defer { subReactor.shutdown() }
        let got = DeliveredList()
        let subscriber = EventSubscriber(reactor: subReactor, publisher: "old", eventsEndpoint: events, rpcEndpoint: rpc,
                                         prefixes: ["old."], from: .start, caller: "test") { e in got.list.withLock { $0.append(e) } }
        subscriber.start()
        defer { subscriber.stop() }
        func header(_ topic: String, _ seq: UInt64) throws -> [UInt8] {
            try ProtoCodec.encode(EventHeader(topic: topic, publisher: "old", stream: "old", seq: seq, serverTimeMs: 1,
                                              payloadType: topic == headTopic ? "" : ProbeEvent.protoName))
        }
        // Send until the subscriber has all three (the SUB joins late), at
        // most 10 s; the pause only paces the resends.
        let deadline = ContinuousClock.now + .seconds(10)
        while got.list.withLock({ $0.count }) < 6 && ContinuousClock.now < deadline {
            for seq: UInt64 in 1...3 {
                pub.send([Array("old.tick".utf8), try header("old.tick", seq), try ProtoCodec.encode(ProbeEvent(n: seq * 10))])
            }
            // The second version: [topic][EventHeader with the payload inside].
            for seq: UInt64 in 4...6 {
                var h = try ProtoCodec.decode(EventHeader.self, from: try header("old.tick", seq))
                h.payload = Data(try ProtoCodec.encode(ProbeEvent(n: seq * 10)))
                pub.send([Array("old.tick".utf8), try ProtoCodec.encode(h)])
            }
            pub.send([Array(headTopic.utf8), try header(headTopic, 6), []])
            try await Task.sleep(for: .milliseconds(20))
        }
        let delivered = got.list.withLock { $0 }
        #expect(delivered.map(\.seq) == [1, 2, 3, 4, 5, 6])
        #expect(try delivered.map { try $0.decode(ProbeEvent.self).n } == [10, 20, 30, 40, 50, 60])
        #expect(subscriber.counters["sub.malformed"] == 0)
        #expect(subscriber.counters["sub.replayed"] == 0)
    }
}

@Suite("subscription cursor (no I/O)")
struct SubscriptionCursorTests {
    func event(_ seq: UInt64, stream: String = "s1", topic: String = "t") -> DeliveredEvent {
        DeliveredEvent(header: EventHeaderFields(topic: topic, publisher: "p", stream: stream, seq: seq, serverTimeMs: 0, payloadType: ""), payload: [])
    }

    func delivered(_ actions: [SubscriptionCursor.Action]) -> [UInt64] {
        actions.compactMap { if case .deliver(let e) = $0 { e.seq } else { nil } }
    }

    @Test func startAsksForWhatWasMissed() {
        var c = SubscriptionCursor(from: StreamPosition(stream: "s1", seq: 10))
        #expect(c.start() == [.replay(afterSeq: 10)])
    }

    @Test func liveEventsDuringReplayWaitAndAreNotDuplicated() {
        var c = SubscriptionCursor(from: .start)
        _ = c.start()
        #expect(c.live(event(3)).isEmpty)
        #expect(c.live(event(4)).isEmpty)
        let a = c.replayed(afterSeq: 0, stream: "s1", events: [event(1), event(2), event(3)], through: 3, head: 3)
        #expect(delivered(a) == [1, 2, 3, 4])
        #expect(c.position.seq == 4)
        #expect(delivered(c.live(event(4))).isEmpty)
        #expect(delivered(c.live(event(5))) == [5])
    }

    @Test func aGapAsksForAReplayAndOnlyOneAtATime() {
        var c = SubscriptionCursor(from: StreamPosition(stream: "s1", seq: 0))
        _ = c.start()
        _ = c.replayed(afterSeq: 0, stream: "s1", events: [], through: 0, head: 0)
        #expect(delivered(c.live(event(1))) == [1])
        #expect(c.live(event(3)) == [.replay(afterSeq: 1)])
        #expect(c.live(event(5)).isEmpty)           // buffered, no second request
        #expect(c.head(stream: "s1", seq: 6).isEmpty)
        let a = c.replayed(afterSeq: 1, stream: "s1", events: [event(2), event(3), event(4)], through: 4, head: 6)
        // Not at head yet: deliver what came, ask for the rest.
        #expect(delivered(a) == [2, 3, 4])
        #expect(a.last == .replay(afterSeq: 4))
        let b = c.replayed(afterSeq: 4, stream: "s1", events: [event(5), event(6)], through: 6, head: 6)
        #expect(delivered(b) == [5, 6])
        #expect(!c.replaying)
    }

    @Test func headBeyondPositionAsksForReplay() {
        var c = SubscriptionCursor(from: StreamPosition(stream: "s1", seq: 5))
        _ = c.start()
        _ = c.replayed(afterSeq: 5, stream: "s1", events: [], through: 5, head: 5)
        #expect(c.head(stream: "s1", seq: 5).isEmpty)
        #expect(c.head(stream: "s1", seq: 6) == [.replay(afterSeq: 5)])
    }

    @Test func aNewStreamStartsOverFromZero() {
        var c = SubscriptionCursor(from: StreamPosition(stream: "old", seq: 57))
        _ = c.start()
        _ = c.replayed(afterSeq: 57, stream: "old", events: [], through: 57, head: 57)
        let a = c.head(stream: "new", seq: 3)
        #expect(a.contains(.replay(afterSeq: 0)))
        #expect(c.position == StreamPosition(stream: "new", seq: 0))
        #expect(delivered(c.replayed(afterSeq: 0, stream: "new", events: [event(1, stream: "new"), event(2, stream: "new"), event(3, stream: "new")], through: 3, head: 3)) == [1, 2, 3])
    }

    @Test func replayAnsweredForAnOldPositionIsAskedAgain() {
        var c = SubscriptionCursor(from: StreamPosition(stream: "s1", seq: 9))
        _ = c.start()
        #expect(c.replayed(afterSeq: 3, stream: "s1", events: [event(4)], through: 9, head: 9) == [.replay(afterSeq: 9)])
    }

    @Test func failedReplayIsRetried() {
        var c = SubscriptionCursor(from: StreamPosition(stream: "s1", seq: 2))
        _ = c.start()
        #expect(c.replayFailed() == [.replay(afterSeq: 2)])
    }

    @Test func filteredReplayAdvancesThroughWhatWasScanned() {
        var c = SubscriptionCursor(from: StreamPosition(stream: "s1", seq: 0))
        _ = c.start()
        let a = c.replayed(afterSeq: 0, stream: "s1", events: [event(4)], through: 10, head: 10)
        #expect(delivered(a) == [4])
        #expect(c.position.seq == 10)
    }
}
