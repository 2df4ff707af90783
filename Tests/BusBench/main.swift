// bus-bench: the bus next to raw libzmq on loopback, in one run, as ratios.
//
//   RPC round trip: RpcClient -> RpcServer (inline echo) vs REQ -> REP
//   events/s:       EventPublisher -> EventSubscriber vs PUB -> SUB
// Same payload size on both sides. Targets (issue 15): RPC round trip at most
// 1.30x raw REQ/REP (the caller on the reactor's executor); event throughput
// at least 0.75 of raw PUB/SUB, where raw sends the bare payload as one frame
// and the bus sends what it must (topic, publisher, stream, seq, server time,
// payload type and the payload: one frame, bus.proto) and the subscriber
// decodes it, checks seq and delivers each event to a callback.
//
// Equal conditions for events: both PUB sockets get the same unbounded send
// queue (SNDHWM 0). With the bus's default of 100,000, a burst of 200,000
// overflows it, libzmq drops the rest, and the round measures the catch-up
// through exam.v1.Node/Replay instead (that path has its own mode,
// `--only replay`). The events go to the publisher in batches of 256 built
// beforehand, as an engine hands over one group commit's events.
//
// With CurveZMQ (issue 16) each round also measures raw and bus with both
// sides encrypted, and prints CURVE's own cost against plain.
//
// Usage: bus-bench [--calls N] [--events N] [--payload BYTES] [--rounds R]
//                  [--only bus|dealer|raw|events|raw-events|raw-pubsub|replay]
// The `--only` event modes also print the CPU time an event costs (all
// threads) and the publishing and subscribing threads' shares.
import Bus
import CZMQ
import ExamContracts
import Foundation
import Synchronization

func arg(_ name: String, _ def: Int) -> Int {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: name), i + 1 < a.count, let v = Int(a[i + 1]) { return v }
    return def
}

let calls = arg("--calls", 5_000)
let eventCount = arg("--events", 200_000)
let payloadSize = arg("--payload", 256)
let rounds = arg("--rounds", 9)
/// `--only bus` or `--only raw`: one side's RPC alone (for profiling).
let only: String? = CommandLine.arguments.firstIndex(of: "--only").flatMap { i in
    i + 1 < CommandLine.arguments.count ? CommandLine.arguments[i + 1] : nil
}
let payload = [UInt8](repeating: 0x5A, count: payloadSize)

/// CurveZMQ (issue 16): the server's and the client's key pairs, the same
/// for raw libzmq and the bus, so each measures the same encryption.
let serverKeys = try CurveKeyPair.generate(), clientKeys = try CurveKeyPair.generate()
/// The bus's server side with CURVE: ZAP names the client "bench", which may act as a service.
let busServerSecurity = BusSecurity.curveServer(keys: serverKeys, members: [clientKeys.publicKey: "bench"])
let busClientSecurity = BusSecurity.curveClient(keys: clientKeys, serverPublicKey: serverKeys.publicKey)
let benchTrust = ActorTrust(roles: ["bench": [.service]])

/// CURVE on a raw socket, as the bus sets it (a raw server without a ZAP handler accepts any client key).
func rawCurve(_ socket: UnsafeMutableRawPointer, server: Bool) {
    func set(_ option: Int32, _ text: String) { _ = zmq_setsockopt(socket, option, text, text.utf8.count) }
    if server {
        var one: Int32 = 1
        zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, 4)
        set(ZMQ_CURVE_SECRETKEY, serverKeys.secretKey)
    } else {
        set(ZMQ_CURVE_SERVERKEY, serverKeys.publicKey)
        set(ZMQ_CURVE_PUBLICKEY, clientKeys.publicKey)
        set(ZMQ_CURVE_SECRETKEY, clientKeys.secretKey)
    }
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// CPU time of the whole process (every thread, user + system), in ns.
func cpuNanos() -> UInt64 {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return UInt64(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1_000_000_000 + UInt64(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1000
}
/// CPU time of the calling thread, in ns.
func threadCPUNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
/// CPU ns per event of the last events measurement (for `--only`), and the
/// share of the publishing and the subscribing threads (reactors, or the raw
/// side's two threads); the rest is libzmq's I/O threads.
nonisolated(unsafe) var lastCPUPerEvent = 0.0, lastPubCPU = 0.0, lastSubCPU = 0.0

// MARK: raw REQ/REP

/// Hands a value from one thread to another once.
final class Handoff<T: Sendable>: @unchecked Sendable {
    private var value: T?
    private let ready = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    func put(_ v: T) { lock.lock(); value = v; lock.unlock(); ready.signal() }
    func take() -> T { ready.wait(); lock.lock(); defer { lock.unlock() }; return value! }
    var peek: Bool { lock.lock(); defer { lock.unlock() }; return value != nil }
}

func lastEndpoint(_ s: UnsafeMutableRawPointer) -> String {
    var buf = [CChar](repeating: 0, count: 256)
    var len = buf.count
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, &buf, &len)
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

final class RawContext: @unchecked Sendable {  // libzmq contexts are thread-safe
    let raw = zmq_ctx_new()!
    deinit { zmq_ctx_term(raw) }
}

func rawReqRep(curve: Bool = false) -> Double {
    // Two contexts, as two processes would have: each side its own I/O thread.
    let ctx = RawContext(), clientCtx = RawContext()
    let endpoint = Handoff<String>()
    let total = calls
    // Each socket is created and used on one thread only.
    let server = Thread {
        let rep = zmq_socket(ctx.raw, ZMQ_REP)!
        if curve { rawCurve(rep, server: true) }
        zmq_bind(rep, "tcp://127.0.0.1:*")
        endpoint.put(lastEndpoint(rep))
        var msg = zmq_msg_t()
        zmq_msg_init(&msg)
        for _ in 0..<total {
            zmq_msg_recv(&msg, rep, 0)
            zmq_msg_send(&msg, rep, 0)
        }
        zmq_msg_close(&msg)
        var linger: Int32 = 0
        zmq_setsockopt(rep, ZMQ_LINGER, &linger, 4)
        zmq_close(rep)
    }
    server.start()
    let req = zmq_socket(clientCtx.raw, ZMQ_REQ)!
    if curve { rawCurve(req, server: false) }
    zmq_connect(req, endpoint.take())
    var reply = [UInt8](repeating: 0, count: payloadSize + 16)
    let start = now()
    for _ in 0..<total {
        _ = payload.withUnsafeBytes { zmq_send(req, $0.baseAddress, $0.count, 0) }
        _ = zmq_recv(req, &reply, reply.count, 0)
    }
    let elapsed = now() - start
    var linger: Int32 = 0
    zmq_setsockopt(req, ZMQ_LINGER, &linger, 4)
    zmq_close(req)
    while !server.isFinished { usleep(1000) }
    return Double(elapsed) / Double(total) / 1000  // µs per round trip
}

// MARK: raw DEALER/ROUTER (what the bus does on the wire, without the bus)

/// The bus's socket pattern with plain libzmq calls: a DEALER sends
/// [header][body] (a header of the bus's size), waits in zmq_poll, reads the
/// two-frame reply; a ROUTER thread polls, reads [identity][header][body]
/// and sends it back. The gap between this and REQ/REP is the pattern's;
/// the gap between this and the bus is the bus's own code.
func rawDealerRouter() -> Double {
    let ctx = RawContext(), clientCtx = RawContext()
    let endpoint = Handoff<String>()
    let total = calls
    let header = [UInt8](repeating: 0x11, count: 64)
    let server = Thread {
        let router = zmq_socket(ctx.raw, ZMQ_ROUTER)!
        zmq_bind(router, "tcp://127.0.0.1:*")
        endpoint.put(lastEndpoint(router))
        var frames = [zmq_msg_t](repeating: zmq_msg_t(), count: 3)
        var item = zmq_pollitem_t(socket: router, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        var served = 0
        while served < total {
            _ = zmq_poll(&item, 1, -1)
            for i in 0..<3 { zmq_msg_init(&frames[i]); zmq_msg_recv(&frames[i], router, ZMQ_DONTWAIT) }
            for i in 0..<3 { zmq_msg_send(&frames[i], router, i < 2 ? ZMQ_SNDMORE : 0) }
            served += 1
        }
        var linger: Int32 = 0
        zmq_setsockopt(router, ZMQ_LINGER, &linger, 4)
        zmq_close(router)
    }
    server.start()
    let dealer = zmq_socket(clientCtx.raw, ZMQ_DEALER)!
    zmq_connect(dealer, endpoint.take())
    var item = zmq_pollitem_t(socket: dealer, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
    var reply = [UInt8](repeating: 0, count: payloadSize + 128)
    let start = now()
    for _ in 0..<total {
        _ = header.withUnsafeBytes { zmq_send(dealer, $0.baseAddress, $0.count, ZMQ_SNDMORE) }
        _ = payload.withUnsafeBytes { zmq_send(dealer, $0.baseAddress, $0.count, 0) }
        _ = zmq_poll(&item, 1, -1)
        _ = zmq_recv(dealer, &reply, reply.count, ZMQ_DONTWAIT)
        _ = zmq_recv(dealer, &reply, reply.count, ZMQ_DONTWAIT)
    }
    let elapsed = now() - start
    var linger: Int32 = 0
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, 4)
    zmq_close(dealer)
    while !server.isFinished { usleep(1000) }
    return Double(elapsed) / Double(total) / 1000
}

// MARK: bus RPC

func busRPC(onReactor: Bool, curve: Bool = false) async throws -> Double {
    let serverReactor = Reactor(name: "bench-server")
    let server = curve ? RpcServer(reactor: serverReactor, security: busServerSecurity, trust: benchTrust) : RpcServer(reactor: serverReactor)
    server.serveInline(BusProbeAPI.echo) { req, _ in req }
    let endpoint = try await server.bind("tcp://127.0.0.1:*")
    let clientReactor = Reactor(name: "bench-client")
    let client = curve ? RpcClient(reactor: clientReactor, endpoint: endpoint, caller: "bench", security: busClientSecurity)
        : RpcClient(reactor: clientReactor, endpoint: endpoint, caller: "bench")
    let request = ProbeMessage(payload: Data(payload))
    _ = try await client.call(BusProbeAPI.echo, request)  // connect
    let start = now()
    if onReactor {
        try await withTaskExecutorPreference(clientReactor.executor) {
            for _ in 0..<calls { _ = try await client.call(BusProbeAPI.echo, request) }
        }
    } else {
        for _ in 0..<calls { _ = try await client.call(BusProbeAPI.echo, request) }
    }
    let elapsed = now() - start
    clientReactor.shutdown()
    serverReactor.shutdown()
    return Double(elapsed) / Double(calls) / 1000
}

// MARK: raw PUB/SUB

/// Raw PUB/SUB: `.payload` (the baseline) sends the bare payload as one
/// frame; `.busOneFrame` sends a frame of the bus's size and shape (topic,
/// NUL, a header of the bus's size with the payload), `.busTwoFrames` the
/// previous version's [topic][header + payload]. The gap between the
/// baseline and these is the bytes' and the framing's share, paid in
/// libzmq's I/O threads, before any code of the bus runs.
enum RawFraming { case payload, busTwoFrames, busOneFrame }

func rawPubSub(_ framing: RawFraming = .payload, curve: Bool = false) -> Double {
    let ctx = RawContext(), subCtx = RawContext()
    let endpoint = Handoff<String>()
    let subscribed = Handoff<Bool>()
    let pubCPU0 = Handoff<UInt64>(), pubCPU = Handoff<UInt64>()
    let n = eventCount
    let sender = Thread {
        let pub = zmq_socket(ctx.raw, ZMQ_PUB)!
        var hwm: Int32 = 0  // unbounded: every message arrives, none dropped
        zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, 4)
        if curve { rawCurve(pub, server: true) }
        zmq_bind(pub, "tcp://127.0.0.1:*")
        endpoint.put(lastEndpoint(pub))
        // Slow joiner: send probes until the subscriber says one arrived.
        var probing = true
        while probing {
            _ = zmq_send(pub, "x", 1, 0)
            usleep(2000)
            probing = !subscribed.peek
        }
        pubCPU0.put(threadCPUNanos())
        let topic = [UInt8]("bench.tick".utf8), headed = [UInt8](repeating: 0x11, count: 60) + payload
        let single = topic + [0] + headed
        for _ in 0..<n {
            switch framing {
            case .busTwoFrames:
                _ = topic.withUnsafeBytes { zmq_send(pub, $0.baseAddress, $0.count, ZMQ_SNDMORE) }
                _ = headed.withUnsafeBytes { zmq_send(pub, $0.baseAddress, $0.count, 0) }
            case .busOneFrame:
                _ = single.withUnsafeBytes { zmq_send(pub, $0.baseAddress, $0.count, 0) }
            case .payload:
                _ = payload.withUnsafeBytes { zmq_send(pub, $0.baseAddress, $0.count, 0) }
            }
        }
        pubCPU.put(threadCPUNanos() - pubCPU0.take())
        var linger: Int32 = 2000
        zmq_setsockopt(pub, ZMQ_LINGER, &linger, 4)
        zmq_close(pub)
    }
    sender.start()
    let sub = zmq_socket(subCtx.raw, ZMQ_SUB)!
    var hwm: Int32 = 0
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, 4)
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0)
    if curve { rawCurve(sub, server: false) }
    zmq_connect(sub, endpoint.take())
    var scratch = [UInt8](repeating: 0, count: payloadSize + 128)
    var received = 0
    var start: UInt64 = 0, cpuStart: UInt64 = 0, subCPU0: UInt64 = 0
    var timeout: Int32 = 5000
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, 4)
    while received < n {
        let size = zmq_recv(sub, &scratch, scratch.count, 0)
        if size < 0 { break }
        if size == 1 {  // a probe
            if start == 0 { subscribed.put(true); start = now(); cpuStart = cpuNanos(); subCPU0 = threadCPUNanos() }
            continue
        }
        var more: Int32 = 0
        var moreSize = 4
        zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &moreSize)
        if more != 0 { continue }  // not the last frame of an event
        received += 1
    }
    let elapsed = now() - start
    lastCPUPerEvent = Double(cpuNanos() - cpuStart) / Double(received)
    lastSubCPU = Double(threadCPUNanos() - subCPU0) / Double(received)
    var linger: Int32 = 0
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, 4)
    zmq_close(sub)
    while !sender.isFinished { usleep(1000) }
    lastPubCPU = Double(pubCPU.take()) / Double(received)
    return Double(received) / (Double(elapsed) / 1e9)
}

// MARK: bus events

/// Counts deliveries on the subscriber's reactor thread (one atomic add, as
/// cheap as the raw side's counter); signals at `target`.
final class DeliveryCount: Sendable {
    private let count = Atomic<Int>(0)
    private let target = Atomic<Int>(Int.max)
    private let reached = DispatchSemaphore(value: 0)
    func expect(_ n: Int) {
        target.store(Int.max, ordering: .sequentiallyConsistent)
        count.store(0, ordering: .sequentiallyConsistent)
        target.store(n, ordering: .sequentiallyConsistent)
    }
    func add() {
        let n = count.wrappingAdd(1, ordering: .relaxed).newValue
        if n == target.load(ordering: .relaxed) { reached.signal() }
    }
    func wait() -> Bool { reached.wait(timeout: .now() + 60) == .success }
}

/// A publisher as a service has one: an outbox, its replay method and a PUB.
struct BenchPublisher {
    let reactor = Reactor(name: "bench-pub")
    let outbox = MemoryOutbox(stream: "bench")
    let publisher: EventPublisher
    let rpc: String, events: String

    init(curve: Bool = false) async throws {
        let security = curve ? busServerSecurity : .plain
        let server = RpcServer(reactor: reactor, security: security, trust: curve ? benchTrust : nil)
        server.serveReplay(outbox)
        rpc = try await server.bind("tcp://127.0.0.1:*")
        publisher = EventPublisher(reactor: reactor, service: "bench", stream: "bench", head: 0)
        // The raw PUB's send queue: unbounded (see rawPubSub).
        var limits = SocketLimits()
        limits.highWaterMark = 0
        events = try await publisher.bind("tcp://127.0.0.1:*", limits: limits, security: security)
    }

    func append(_ topic: String) -> OutgoingEvent {
        outbox.append(topic: topic, publisher: "bench", payloadType: ProbeEvent.protoName, payload: payload)
    }
}

func busEvents(curve: Bool = false) async throws -> Double {
    let bench = try await BenchPublisher(curve: curve)
    let (reactor, publisher, rpc, events) = (bench.reactor, bench.publisher, bench.rpc, bench.events)
    let subReactor = Reactor(name: "bench-sub")
    let counter = DeliveryCount()
    counter.expect(1)
    let sub = EventSubscriber(reactor: subReactor, publisher: "bench", eventsEndpoint: events, rpcEndpoint: rpc,
                              prefixes: ["bench."], from: .start, caller: "bench", security: curve ? busClientSecurity : .plain) { _ in counter.add() }
    sub.start()
    // Connected: one event round trip before measuring.
    publisher.publish([bench.append("bench.warmup")])
    _ = counter.wait()
    // The events as committed to an outbox, ready to go out.
    let n = eventCount
    // The events as committed to an outbox, ready to go out: as a service's
    // engine hands them over, one batch per group commit.
    let batches = stride(from: 0, to: n, by: 256).map { i in (i..<min(n, i + 256)).map { _ in bench.append("bench.tick") } }
    counter.expect(n)
    let pubCPU0 = try await reactor.perform { _ in threadCPUNanos() }, subCPU0 = try await subReactor.perform { _ in threadCPUNanos() }
    let start = now(), cpuStart = cpuNanos()
    for batch in batches { publisher.publish(batch) }
    let ok = counter.wait()
    let elapsed = now() - start
    lastCPUPerEvent = Double(cpuNanos() - cpuStart) / Double(n)
    lastPubCPU = Double(try await reactor.perform { _ in threadCPUNanos() } - pubCPU0) / Double(n)
    lastSubCPU = Double(try await subReactor.perform { _ in threadCPUNanos() } - subCPU0) / Double(n)
    if !ok { print("bus events: timed out; replays \(sub.counters["sub.replays"])") }
    if only != nil { print("subscriber counters: \(sub.counters.snapshot())") }
    sub.stop()
    subReactor.shutdown()
    reactor.shutdown()
    return Double(n) / (Double(elapsed) / 1e9)
}

/// A late subscriber catching up on `eventCount` committed events through
/// replay alone (exam.v1.Node/Replay, pages of 1000): events/s.
func busReplay() async throws -> Double {
    let bench = try await BenchPublisher()
    let (reactor, rpc, events) = (bench.reactor, bench.rpc, bench.events)
    for _ in 0..<eventCount { _ = bench.append("bench.tick") }
    let subReactor = Reactor(name: "bench-sub")
    let counter = DeliveryCount()
    counter.expect(eventCount)
    let start = now()
    let sub = EventSubscriber(reactor: subReactor, publisher: "bench", eventsEndpoint: events, rpcEndpoint: rpc,
                              prefixes: ["bench."], from: .start, caller: "bench") { _ in counter.add() }
    sub.start()
    let ok = counter.wait()
    let elapsed = now() - start
    if !ok { print("replay: timed out") }
    sub.stop()
    subReactor.shutdown()
    reactor.shutdown()
    return Double(eventCount) / (Double(elapsed) / 1e9)
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

if only == "raw-events" {
    print(String(format: "raw PUB/SUB events/s %.0f, with the bus's two frames %.0f, the bus's one frame %.0f",
                 rawPubSub(), rawPubSub(.busTwoFrames), rawPubSub(.busOneFrame)))
    exit(0)
}
if only == "raw-pubsub" {
    print(String(format: "raw PUB/SUB events/s %.0f, CPU %.0f ns an event (publisher %.0f, subscriber %.0f)",
                 rawPubSub(), lastCPUPerEvent, lastPubCPU, lastSubCPU))
    exit(0)
}
if only == "replay" {
    print(String(format: "bus replay (catch-up of a late subscriber) events/s %.0f", try await busReplay()))
    exit(0)
}
if only == "events" {
    print(String(format: "bus events/s %.0f, CPU %.0f ns an event (publisher %.0f, subscriber %.0f)",
                 try await busEvents(), lastCPUPerEvent, lastPubCPU, lastSubCPU))
    exit(0)
}
if let only {
    let t = only == "bus" ? try await busRPC(onReactor: true) : only == "dealer" ? rawDealerRouter() : rawReqRep()
    print(String(format: "\(only) RPC round trip %.1f µs", t))
    exit(0)
}
print("bus-bench: loopback tcp, payload \(payloadSize) B, \(calls) calls, \(eventCount) events, \(rounds) rounds")
print("each round measures raw and bus back to back (order flipped every other round); the ratio is the median of the per-round ratios")
var dealerRTT: [Double] = [], rawRTT: [Double] = [], busRTT: [Double] = [], poolRTT: [Double] = [], rawEv: [Double] = [], busEv: [Double] = [],
    framedEv: [Double] = [], rawCurveRTT: [Double] = [], busCurveRTT: [Double] = [], rawCurveEv: [Double] = [], busCurveEv: [Double] = []
// Short rounds, raw and bus back to back, the order flipped every other
// round: this machine's noise drifts over seconds, and a ratio taken over
// the same few seconds is what can be compared.
for round in 0..<rounds {
    if round % 2 == 0 {
        rawRTT.append(rawReqRep())
        busRTT.append(try await busRPC(onReactor: true))
    } else {
        busRTT.append(try await busRPC(onReactor: true))
        rawRTT.append(rawReqRep())
    }
    dealerRTT.append(rawDealerRouter())
    poolRTT.append(try await busRPC(onReactor: false))
    if round % 2 == 0 {
        rawEv.append(rawPubSub())
        busEv.append(try await busEvents())
    } else {
        busEv.append(try await busEvents())
        rawEv.append(rawPubSub())
    }
    framedEv.append(rawPubSub(.busOneFrame))
    // CurveZMQ on both sides (issue 16), raw and bus back to back.
    rawCurveRTT.append(rawReqRep(curve: true))
    busCurveRTT.append(try await busRPC(onReactor: true, curve: true))
    rawCurveEv.append(rawPubSub(curve: true))
    busCurveEv.append(try await busEvents(curve: true))
}
let rpcRatio = median(zip(busRTT, rawRTT).map { $0 / $1 })
let dealerRatio = median(zip(dealerRTT, rawRTT).map { $0 / $1 })
let poolRatio = median(zip(poolRTT, rawRTT).map { $0 / $1 })
let evRatio = median(zip(busEv, rawEv).map { $0 / $1 })
let framedRatio = median(zip(framedEv, rawEv).map { $0 / $1 })
print(String(format: "RPC round trip   raw REQ/REP %7.1f µs   bus %7.1f µs   ratio %.2fx  (target <= 1.30x, issue 15; caller on the reactor's executor)",
             median(rawRTT), median(busRTT), rpcRatio))
print(String(format: "                                          bus %7.1f µs   ratio %.2fx  (caller on the global pool: two more thread switches)",
             median(poolRTT), poolRatio))
print(String(format: "                 raw DEALER/ROUTER, the bus's frames and zmq_poll %7.1f µs   ratio %.2fx  (the socket pattern's share)",
             median(dealerRTT), dealerRatio))
print(String(format: "events/s         raw PUB/SUB %9.0f   bus %9.0f     ratio %.2f   (target >= 0.75, issue 15)", median(rawEv), median(busEv), evRatio))
print(String(format: "                 raw PUB/SUB, the bus's frame (topic NUL header+payload) %9.0f     ratio %.2f   (the bytes' share)", median(framedEv), framedRatio))
print(String(format: "with CurveZMQ     raw REQ/REP %7.1f µs   bus %7.1f µs   ratio %.2fx  (issue 16: both sides encrypted; the bus checks the actor too)",
             median(rawCurveRTT), median(busCurveRTT), median(zip(busCurveRTT, rawCurveRTT).map { $0 / $1 })))
print(String(format: "                 raw PUB/SUB %9.0f   bus %9.0f     ratio %.2f", median(rawCurveEv), median(busCurveEv),
             median(zip(busCurveEv, rawCurveEv).map { $0 / $1 })))
print(String(format: "CURVE's own cost: raw REQ/REP %.2fx the plain round trip, bus %.2fx; raw PUB/SUB %.2f of plain events/s, bus %.2f",
             median(zip(rawCurveRTT, rawRTT).map { $0 / $1 }), median(zip(busCurveRTT, busRTT).map { $0 / $1 }),
             median(zip(rawCurveEv, rawEv).map { $0 / $1 }), median(zip(busCurveEv, busEv).map { $0 / $1 })))
print("per round (bus/raw): RPC " + zip(busRTT, rawRTT).map { String(format: "%.2f", $0 / $1) }.joined(separator: " ")
      + ";  events " + zip(busEv, rawEv).map { String(format: "%.2f", $0 / $1) }.joined(separator: " "))
