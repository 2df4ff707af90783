// The push channel (R60, R61): each phone's WebSocket carries heartbeats up
// (R31) and, down, the server time, its room's entry state, screening, the
// interview's phases and the end, from the services' events. A phone that
// reconnects says the last event it saw and hears what it missed, then the
// fresh state (a phase change is never lost to a drop, R18).
import Bus
import ExamContracts
import Foundation
import GatewayCore
import Logging
import ServiceKit
import Synchronization

/// One connected phone: where to send its messages.
public final class PhoneLink: Sendable {
    public let examNumber: String
    public let role: PhoneRole
    public let sitting: SittingName
    public let deviceID: String
    let deviceKey: String
    let session: CandidateSession
    let out: AsyncStream<String>.Continuation
    /// The last status message and the heartbeat made of it.
    let lastStatus = Mutex<(text: String, request: HeartbeatRequest)?>(nil)
    /// A state refresh in flight, and whether another was asked for meanwhile.
    let refresh = Mutex<(running: Bool, again: Bool)>((false, false))

    init(session: CandidateSession, role: PhoneRole, sitting: SittingName, deviceID: String, deviceKey: String,
         out: AsyncStream<String>.Continuation) {
        self.deviceKey = deviceKey
        self.session = session
        examNumber = session.examNumber
        self.role = role
        self.sitting = sitting
        self.deviceID = deviceID
        self.out = out
    }

    func send<T: Encodable>(_ message: T) {
        guard let data = try? PushJSON.encoder.encode(message) else { return }
        out.yield(String(decoding: data, as: UTF8.self))
    }
}

enum PushJSON {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        return e
    }()
}

/// The phones connected now, by candidate.
final class PhoneRegistry: Sendable {
    private let links = Mutex<[String: [ObjectIdentifier: PhoneLink]]>([:])

    func add(_ l: PhoneLink) { links.withLock { $0[l.examNumber, default: [:]][ObjectIdentifier(l)] = l } }
    func remove(_ l: PhoneLink) {
        links.withLock { all in
            all[l.examNumber]?.removeValue(forKey: ObjectIdentifier(l))
            if all[l.examNumber]?.isEmpty == true { all.removeValue(forKey: l.examNumber) }
        }
    }
    func of(_ examNumber: String) -> [PhoneLink] { links.withLock { Array(($0[examNumber] ?? [:]).values) } }
    func all() -> [PhoneLink] { links.withLock { $0.values.flatMap(\.values) } }
    var count: Int { links.withLock { $0.values.reduce(0) { $0 + $1.count } } }
}

// MARK: Messages of the WebSocket (see protos/http/openapi.json, x-websocket)

struct PushWelcome: Encodable {
    var type = "welcome"
    var serverTimeMs: Int64
    var examNumber: String
    var role: String
    var sitting: String
}

struct PushState: Encodable {
    var type = "state"
    var state: SittingState
}

struct PushTime: Encodable {
    var type = "time"
    var serverTimeMs: Int64
}

struct PushPong: Encodable {
    var type = "pong"
    var t: Int64
    var serverTimeMs: Int64
}

struct PushBeat: Encodable {
    var type = "beat"
    var ok: Bool
    var serverTimeMs: Int64
    var message: String?
}

struct PushError: Encodable {
    var type = "error"
    var code: String
    var message: String
}

/// What a phone sends: hello first, then status (heartbeats) and pings.
struct PhoneMessage: Decodable {
    var type: String
    var token: String?
    var sitting: String?
    var deviceId: String?
    var deviceKey: String?
    var role: String?
    var since: UInt64?
    var status: DeviceStatusBody?
    var t: Int64?
}

// MARK: Heartbeats into devices, in batches

/// Collects the phones' heartbeats and hands them to devices in batches
/// (HeartbeatBatch), so 20,000 phones beating once a second cost devices
/// tens of calls a second, not 20,000.
public final class HeartbeatBatcher: Sendable {
    struct Pending {
        var request: HeartbeatRequest
        var answer: @Sendable (EdgeError?, Int64) -> Void
    }
    let mesh: any MeshCalls
    let flushEvery: Duration
    let maxBatch: Int
    let logger: Logger
    private let pending = Mutex<[Pending]>([])
    private let task = Mutex<Task<Void, Never>?>(nil)
    let sent, refused: Bus.Counter

    init(mesh: any MeshCalls, flushEvery: Duration, maxBatch: Int, counters: Counters, logger: Logger) {
        self.mesh = mesh
        self.flushEvery = flushEvery
        self.maxBatch = maxBatch
        self.logger = logger
        sent = counters.counter("gateway.heartbeats")
        refused = counters.counter("gateway.heartbeats_refused")
    }

    func add(_ request: HeartbeatRequest, answer: @escaping @Sendable (EdgeError?, Int64) -> Void) {
        pending.withLock { $0.append(Pending(request: request, answer: answer)) }
    }

    /// Starts the flushing loop (a periodic timer, not a synchronisation).
    public func start() {
        task.withLock { t in
            guard t == nil else { return }
            t = Task { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: flushEvery)
                    await flush()
                }
            }
        }
    }

    public func stop() async {
        let t = task.withLock { t in defer { t = nil }; return t }
        t?.cancel()
        await flush()
    }

    /// Sends everything pending, in batches of at most `maxBatch`, side by side.
    public func flush() async {
        let all = pending.withLock { p in defer { p.removeAll(keepingCapacity: true) }; return p }
        guard !all.isEmpty else { return }
        await withTaskGroup(of: Void.self) { group in
            var start = 0
            while start < all.count {
                let chunk = Array(all[start..<min(all.count, start + maxBatch)])
                start += maxBatch
                group.addTask { await self.send(chunk) }
            }
        }
    }

    private func send(_ chunk: [Pending]) async {
        do {
            let r = try await mesh.call("devices", DevicesAPI.heartbeatBatch, HeartbeatBatchRequest(heartbeats: chunk.map(\.request)),
                                        as: CallPrincipal(id: "gateway", role: .service))
            var refusedByDevice: [String: HeartbeatOutcome] = [:]
            for o in r.refused { refusedByDevice[o.deviceId] = o }
            sent.add(Int64(chunk.count - r.refused.count))
            refused.add(Int64(r.refused.count))
            for p in chunk {
                if let o = refusedByDevice[p.request.deviceId] {
                    p.answer(EdgeError(RPCCode(rawValue: o.code.rawValue)?.name ?? "UNKNOWN", o.message), r.serverTimeMs)
                } else {
                    p.answer(nil, r.serverTimeMs)
                }
            }
        } catch {
            let e = EdgeError(failed: error, calling: "devices")
            logger.warning("heartbeat batch failed", metadata: ["heartbeats": "\(chunk.count)", "error": "\(e)"])
            for p in chunk { p.answer(e, 0) }
        }
    }
}

// MARK: Events from the services to the phones

extension Edge {
    /// The topics a phone hears (R21): timing's announcements and
    /// transitions, devices' signal and rule changes.
    public static let followed: [(service: String, prefixes: [String])] = [
        ("timing", ["timing.entry.", "timing.candidate.", "timing.room.drawn", "timing.screening.", "timing.interview.", "timing.plan."]),
        ("devices", ["devices.signal.", "devices.rule.", "devices.fitness."]),
    ]

    /// An event of a followed service: kept for phones that reconnect, sent
    /// to the candidate's connected phones, each of which then gets its
    /// fresh state.
    public func deliver(_ e: DeliveredEvent) {
        guard let routed = Self.route(e) else { return }
        if e.topic.hasPrefix("timing.plan.") { planChanged(); return }
        feed.withLock { $0.add(routed.item, for: routed.candidates) }
        let links = routed.candidates.isEmpty ? phones.all() : routed.candidates.flatMap { phones.of($0) }
        for l in links where routed.item.sitting == nil || routed.item.sitting == l.sitting.rawValue {
            l.send(routed.item)
            // Broadcasts (an entry window) change every phone's state alike;
            // the page updates from the event, so 20,000 phones do not all
            // ask timing at once.
            if !routed.candidates.isEmpty { refreshState(l) }
        }
        if let room = routed.room, let others = plan.withLock({ $0?.plan.room(id: room)?.candidates }) {
            for n in others where !routed.candidates.contains(n) {
                for l in phones.of(n) where routed.item.sitting == nil || routed.item.sitting == l.sitting.rawValue { refreshState(l) }
            }
        }
    }

    struct Routed {
        var item: FeedItem
        var candidates: [String]
        /// An interview of this room started or ended: the others waiting
        /// there move up the queue (whose turn is next, R11).
        var room: String? = nil
    }

    static func sittingName(_ k: SittingKind) -> String? { k == .mock ? "mock" : k == .formal ? "formal" : nil }
    static func roleName(_ c: Channel) -> String? { c == .main ? "main" : c == .secondary ? "secondary" : nil }
    static func roleName(_ r: DeviceRole) -> String? { r == .main ? "main" : r == .secondary ? "secondary" : nil }

    /// Whom an event concerns and what the phone is told (pure of I/O).
    static func route(_ e: DeliveredEvent) -> Routed? {
        let h = e.header
        func item(_ sitting: String?, _ role: String?, _ detail: String = "", at: Int64 = 0) -> FeedItem {
            FeedItem(publisher: h.publisher, seq: h.seq, topic: h.topic, atMs: at == 0 ? h.serverTimeMs : at, sitting: sitting, role: role,
                     text: Texts.event(h.topic, role: role, detail: detail))
        }
        do {
            switch h.payloadType {
            case CandidateMoment.protoName:
                let m = try e.decode(CandidateMoment.self)
                return Routed(item: item(sittingName(m.sitting), roleName(m.channel), m.detail, at: m.atMs), candidates: [m.examNumber])
            case InterviewEvent.protoName:
                let m = try e.decode(InterviewEvent.self)
                let moves = h.topic == "timing.interview.started" || h.topic == "timing.interview.ended"
                return Routed(item: item(sittingName(m.sitting), nil, m.reason, at: m.atMs), candidates: [m.examNumber],
                              room: moves ? m.roomId : nil)
            case ScreeningEvent.protoName:
                let m = try e.decode(ScreeningEvent.self)
                return Routed(item: item(sittingName(m.sitting), nil, m.failedItems.joined(separator: "、"), at: m.atMs), candidates: [m.examNumber])
            case EligibilityEvent.protoName:
                let m = try e.decode(EligibilityEvent.self)
                return Routed(item: item(nil, nil, m.blockers.joined(separator: "；"), at: m.atMs), candidates: [m.examNumber])
            case EntryWindowEvent.protoName:
                let m = try e.decode(EntryWindowEvent.self)
                return Routed(item: item(sittingName(m.sitting), nil, at: m.atMs), candidates: [])
            case DrawEvent.protoName:
                let m = try e.decode(DrawEvent.self)
                return Routed(item: item(sittingName(m.sitting), nil, at: m.atMs), candidates: m.order)
            case SignalEvent.protoName:
                let m = try e.decode(SignalEvent.self)
                return Routed(item: item(nil, roleName(m.role), at: m.atMs), candidates: [m.examNumber])
            case RuleEvent.protoName:
                let m = try e.decode(RuleEvent.self)
                return Routed(item: item(nil, roleName(m.role), m.rule?.text ?? "", at: m.atMs), candidates: [m.examNumber])
            case FitnessEvent.protoName:
                let m = try e.decode(FitnessEvent.self)
                return Routed(item: item(nil, nil, m.fit ? "设备检查通过" : "设备不符合要求：" + m.reasons.joined(separator: "；"), at: m.atMs),
                              candidates: [m.examNumber])
            default:
                return h.topic.hasPrefix("timing.plan.") ? Routed(item: item(nil, nil), candidates: []) : nil
            }
        } catch {
            return nil
        }
    }

    /// Sends `link` its sitting's state; coalesces refreshes asked for while
    /// one is in flight (a burst of events costs one or two calls).
    func refreshState(_ link: PhoneLink) {
        let start = link.refresh.withLock { r -> Bool in
            if r.running { r.again = true; return false }
            r.running = true
            return true
        }
        guard start else { return }
        Task {
            while true {
                if let s = try? await sittingState(link.session, link.sitting, role: link.role) { link.send(PushState(state: s)) }
                let again = link.refresh.withLock { r -> Bool in
                    if r.again { r.again = false; return true }
                    r.running = false
                    return false
                }
                if !again { break }
            }
        }
    }

    /// Every few seconds each phone hears the server's time (R14-R16: the
    /// countdown agrees with the server's).
    public func tickTime() {
        let now = nowMs
        for l in phones.all() { l.send(PushTime(serverTimeMs: now)) }
    }

    public var connectedPhones: Int { phones.count }

    // MARK: One phone's WebSocket

    /// Runs one phone's connection: hello (who, which phone, what it saw),
    /// then heartbeats and pings until it closes. `send` writes a text
    /// frame; `messages` are the phone's text frames.
    public func runPhone(messages: some AsyncSequence<String, any Error>, send: @escaping @Sendable (String) async throws -> Void,
                         close: @escaping @Sendable (String) async -> Void) async {
        let (out, cont) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let link = LinkBox()
        // The writer drains what is queued for the phone; it ends when the
        // queue is finished (so a last error still goes out) or a write fails.
        let writer = Task {
            for await text in out {
                do { try await send(text) } catch { break }
            }
        }
        let timer = Task { [settings] in
            try? await Task.sleep(for: settings.helloTimeout)
            if !Task.isCancelled, link.withLock({ $0 }) == nil {
                let message = "hello: no hello within \(settings.helloTimeout); the connection is closed"
                Self.sendNow(cont, PushError(code: "UNAUTHENTICATED", message: message))
                cont.finish()
                await writer.value
                await close(message)
            }
        }
        do {
            for try await text in messages {
                if let l = link.withLock({ $0 }) {
                    handle(text, from: l)
                    continue
                }
                do {
                    let l = try await hello(text, out: cont)
                    link.withLock { $0 = l }
                } catch {
                    Self.sendNow(cont, PushError(code: error.code, message: error.message))
                    break
                }
            }
        } catch {}
        timer.cancel()
        if let l = link.withLock({ $0 }) {
            phones.remove(l)
            logger.debug("phone disconnected", metadata: ["exam_number": "\(l.examNumber)", "role": "\(l.role.rawValue)"])
        }
        cont.finish()
        await writer.value
    }

    final class LinkBox: Sendable {
        private let value = Mutex<PhoneLink?>(nil)
        func withLock<R>(_ body: (inout PhoneLink?) -> R) -> R { value.withLock { body(&$0) } }
    }

    static func sendNow<T: Encodable>(_ cont: AsyncStream<String>.Continuation, _ m: T) {
        if let d = try? PushJSON.encoder.encode(m) { cont.yield(String(decoding: d, as: UTF8.self)) }
    }

    func hello(_ text: String, out: AsyncStream<String>.Continuation) async throws(EdgeError) -> PhoneLink {
        let m = try EdgeJSON.decode(PhoneMessage.self, from: Data(text.utf8), what: "hello")
        guard m.type == "hello" else { throw .invalid("type: the first message must be a hello, not '\(m.type.prefix(20))'") }
        let s = try await authenticate(m.token)
        let sitting = try SittingName.parse(m.sitting ?? "")
        guard let device = m.deviceId else { throw .invalid("hello.deviceId: missing") }
        try Checks.deviceID(device, field: "hello.deviceId")
        let role = try await ownDevice(s, device)
        if let claimed = m.role, claimed != role.rawValue {
            throw .denied("hello.role: device \(device) is candidate \(s.examNumber)'s \(role.rawValue) phone, not its \(claimed.prefix(20)) phone")
        }
        let l = PhoneLink(session: s, role: role, sitting: sitting, deviceID: device, deviceKey: m.deviceKey ?? "", out: out)
        l.send(PushWelcome(serverTimeMs: nowMs, examNumber: s.examNumber, role: role.rawValue, sitting: sitting.rawValue))
        // What it missed since the last event it saw, then the state. Read
        // and joined under the feed's lock: an event delivered meanwhile is
        // either in what it missed or sent to it live (at worst both; the
        // page keeps one per publisher and seq), never lost.
        feed.withLock { f in
            for item in f.missed(examNumber: s.examNumber, since: m.since ?? 0, sitting: sitting.rawValue) { l.send(item) }
            phones.add(l)
        }
        refreshState(l)
        logger.debug("phone connected", metadata: ["exam_number": "\(s.examNumber)", "role": "\(role.rawValue)", "sitting": "\(sitting.rawValue)"])
        return l
    }

    func handle(_ text: String, from l: PhoneLink) {
        // A phone sends the same status every second while nothing changes
        // (R31): the text it sent last time is the request it made last
        // time, so it skips the JSON decoder (the gateway's main cost per
        // heartbeat).
        if let same = l.lastStatus.withLock({ $0?.text == text ? $0?.request : nil }) {
            beat(same, from: l)
            return
        }
        let m: PhoneMessage
        do { m = try EdgeJSON.decode(PhoneMessage.self, from: Data(text.utf8), what: "message") } catch {
            l.send(PushError(code: error.code, message: error.message))
            return
        }
        switch m.type {
        case "status":
            guard let status = m.status else {
                l.send(PushError(code: "INVALID_ARGUMENT", message: "status.status: missing"))
                return
            }
            do { try status.check() } catch {
                l.send(PushError(code: error.code, message: error.message))
                return
            }
            let request = HeartbeatRequest(deviceId: l.deviceID, deviceKey: m.deviceKey ?? l.deviceKey, status: Self.status(status))
            l.lastStatus.withLock { $0 = (text, request) }
            beat(request, from: l)
        case "ping":
            l.send(PushPong(t: m.t ?? 0, serverTimeMs: nowMs))
        case "state":
            refreshState(l)
        default:
            l.send(PushError(code: "INVALID_ARGUMENT", message: "type: '\(m.type.prefix(20))' is not a message a phone sends (status, ping, state)"))
        }
    }

    /// Queues a heartbeat for devices; the phone hears "beat" when devices
    /// took it (or why not). The common answer is written without the encoder.
    func beat(_ request: HeartbeatRequest, from l: PhoneLink) {
        beats.add(request) { error, serverMs in
            if let error {
                l.send(PushBeat(ok: false, serverTimeMs: serverMs, message: error.message))
            } else {
                l.out.yield("{\"type\":\"beat\",\"ok\":true,\"serverTimeMs\":\(serverMs)}")
            }
        }
    }
}
