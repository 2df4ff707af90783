// media: the live rooms (R64, R65). The thin shell around MediaCore: it
// proves who asks (devices and roster for a phone, the gateway's verified
// actor for staff), fetches what timing says of the candidate and the plan's
// staff of the room, lets the core decide, carries the core's effects out on
// Janus (the only member that talks to it), follows timing and discipline
// for the moments a grant ends, and reconciles Janus with its state every
// second: rooms re-made after a Janus restart, participants no live grant
// explains kicked.
import ArgumentParser
import Bus
import ExamContracts
import ExamPlan
import Foundation
import Logging
import MediaCore
import ServiceKit
import Store
import Synchronization

@main
struct MediaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "media", abstract: "The media service: live rooms on Janus (R64, R65).")

    @OptionGroup var host: HostOptions

    @Option(help: "The Janus instance of the mesh file's \"janus\" list to drive (default: the first).")
    var janus: String?

    @Option(help: "Seconds a grant's tokens admit a join (R65: grants are short-lived).")
    var joinSeconds: Double = 30

    @Option(help: "Seconds between reconciliations with Janus (rooms re-made, unexplained participants kicked).")
    var reconcileEvery: Double = 1

    func validate() throws {
        guard joinSeconds >= 1 else { throw ValidationError("--join-seconds must be at least 1") }
        guard reconcileEvery > 0, reconcileEvery <= 30 else { throw ValidationError("--reconcile-every must be in (0, 30] seconds") }
    }

    func run() async throws {
        ExamLogHandler.bootstrap(level: host.level, format: host.format)
        let mesh = try MeshConfig.load(path: host.mesh)
        let instance = try mesh.janusInstance(named: janus)
        let secret = try MeshConfig.janusSecret(mesh)
        guard let api = URL(string: instance.api) else { throw ConfigError("janus \(instance.name).api: '\(instance.api)' is not a URL") }
        let config = MediaConfig(joinSeconds: joinSeconds)
        let service = try ServiceHost<MediaState>(name: "media", options: host) { store in
            MediaState(config: config, rooms: try store.documents(MediaRoom.self, kind: "room").map(\.value),
                       grants: try store.documents(Grant.self, kind: "grant").map(\.value))
        }
        let shell = MediaShell(service: service, janus: JanusClient(api: api, adminKey: secret), instance: instance,
                               reconcileEvery: reconcileEvery)
        shell.wire()
        try await service.run()
    }
}

final class MediaShell: Sendable {
    let service: ServiceHost<MediaState>
    let janus: JanusClient
    let instance: MeshConfig.JanusInstance
    let reconcileEvery: Double
    let phones: PhoneVerifier
    /// The plan, from timing (cached; cleared when timing publishes another).
    private let plan = Mutex<ExamPlanInfo?>(nil)
    /// Carries out the core's effects, one drain at a time.
    let effects = EffectsRunner()
    private let serverUp = Mutex<Bool?>(nil)
    private let seenEpoch = Mutex<UInt32>(0)
    static let staffRoles: [ActorRole: Holder] = [.proctor: .proctor, .examiner: .examiner, .chiefExaminer: .chief]

    init(service: ServiceHost<MediaState>, janus: JanusClient, instance: MeshConfig.JanusInstance, reconcileEvery: Double) {
        self.service = service
        self.janus = janus
        self.instance = instance
        self.reconcileEvery = reconcileEvery
        phones = PhoneVerifier(client: { try service.client(for: $0) })
    }

    var logger: Logger { service.logger }

    func wire() {
        let issued = service.counters.counter("media.grants_issued")
        let refused = service.counters.counter("media.grants_refused")

        service.engine.wake(at: { $0.nextDeadline() }) { [self] state, tx in
            state.tick(now: tx.now)
            try record(&state, &tx)
        }

        // A phone (R64): its own room, from entry until its interview ends.
        deferred(MediaAPI.grantPhone) { [self] req, info in
            do {
                let phone = try await phones.verify(req.phone)
                guard info.principal.role == .candidate, info.principal.id == phone.examNumber else {
                    throw RPCError.permissionDenied("手机的直播授权只能由该考生本人（网关核验的会话）申请；\(info.principal.logName) 不能申请")
                }
                let side: PhoneSide = switch phone.role {
                case .main: .main
                case .secondary: .secondary
                case .unspecified: throw RPCError.failedPrecondition("设备 \(phone.deviceID) 没有机位：请先登记为主机位或副机位")
                }
                let facts = try await candidateFacts(phone.examNumber, sitting: req.sitting, enteredWith: phone.deviceID)
                let grant = try await decide { state, tx, fresh in
                    try state.grantPhone(examNumber: phone.examNumber, side: side, deviceID: phone.deviceID, facts: facts,
                                         fresh: fresh, now: tx.now)
                }
                issued.add()
                return try await answer(grant)
            } catch {
                refused.add()
                throw error
            }
        }

        // Staff (R65): one candidate's two rooms.
        deferred(MediaAPI.grantStaff) { [self] req, info in
            do {
                guard let role = Self.staffRoles[info.principal.role], !info.principal.id.isEmpty else {
                    throw RPCError.permissionDenied("实时画面只供本考场的考务人员、考官和主考官观看；\(info.principal.logName) 不能观看")
                }
                try Checks.examNumber(req.examNumber)
                let plan = try await currentPlan()
                guard let room = plan.rooms.first(where: { $0.candidates.contains(req.examNumber) }) else {
                    throw RPCError.notFound("准考证号 \(req.examNumber)：不是本次考试计划中的考生")
                }
                let staff = RoomStaff(roomID: room.id, proctors: room.proctors, panel: room.panel.map(\.id),
                                      chiefs: room.panel.filter(\.chief).map(\.id))
                let sitting: SittingKind = req.sitting != .unspecified ? req.sitting
                    : (plan.formalEntry.map { $0.opensMs <= unixMillis() } ?? false) ? .formal : .mock
                let facts = try await candidateFacts(req.examNumber, sitting: sitting, enteredWith: nil)
                let grant = try await decide { state, tx, fresh in
                    try state.grantStaff(staffID: info.principal.id, role: role, staff: staff, facts: facts, fresh: fresh, now: tx.now)
                }
                issued.add()
                return try await answer(grant)
            } catch {
                refused.add()
                throw error
            }
        }

        service.serve(MediaAPI.endGrant) { [self] req, info, state, tx in
            guard let holder = Self.holder(info.principal) else {
                throw RPCError.permissionDenied("\(info.principal.logName) 没有直播授权")
            }
            let n = try MediaWire.core { try state.leave(grantID: req.grantId, holder: info.principal.id, role: holder, now: tx.now) }
            try record(&state, &tx)
            return EndGrantReply(ended: UInt32(n))
        }

        service.serve(MediaAPI.endPerson) { [self] req, info, state, tx in
            // A sign-out, told by the gateway (the only member that knows sessions).
            try info.require([.service], to: "ending a person's grants")
            guard let holder = Self.holder(CallPrincipal(id: req.person, role: req.role)), !req.person.isEmpty else {
                throw RPCError.invalidArgument("person and role: a candidate's exam number or a staff id with their role")
            }
            let n = state.signedOut(holder: req.person, role: holder, now: tx.now)
            try record(&state, &tx)
            return EndGrantReply(ended: UInt32(n))
        }

        service.serve(MediaAPI.listRooms) { [self] req, info, state, tx in
            try info.require([.ops, .proctor, .chiefExaminer, .service], to: "listing the live rooms")
            let sitting: Sitting? = req.sitting == .unspecified ? nil : try Sitting(wire: req.sitting)
            var view = MediaRoomsView(serverUp: serverUp.withLock { $0 } ?? false, serverEpoch: seenEpoch.withLock { $0 },
                                      janusUrl: instance.public, serverTimeMs: tx.nowMs)
            for r in state.rooms.values.sorted(by: { $0.key < $1.key })
            where (req.examNumber.isEmpty || r.examNumber == req.examNumber) && (sitting == nil || r.sitting == sitting) {
                let grants = state.grants(admittingTo: r.key)
                let seen = state.observed[r.key]
                view.rooms.append(MediaRoomView(
                    room: r.janusRoom, examNumber: r.examNumber, sitting: r.sitting.wire, phone: MediaWire.role(r.side), roomId: r.roomID,
                    live: r.live, grantIds: grants.map(\.id),
                    participants: (seen?.participants ?? []).map { p in
                        MediaParticipantView(feedId: p.feedID, display: p.display, publishing: p.publishing,
                                             grantId: grants.first { $0.accesses.contains { $0.roomKey == r.key && $0.feedID == p.feedID } }?.id ?? "")
                    },
                    observedAtMs: seen?.at.unixMs ?? 0))
            }
            return view
        }

        follow()
        service.atStart { [self] state, tx in
            // Whatever Janus holds now is brought in line with the store.
            state.resync(now: tx.now)
            try record(&state, &tx)
        }
        Task.detached { [self] in await runEffects() }
        Task.detached { [self] in await reconcile() }
    }

    // MARK: Following the mesh

    func follow() {
        service.follow("timing", prefixes: ["timing.candidate.left", "timing.interview.ended", "timing.room.ended", "timing.plan.published"]) {
            [self] event, state, tx in
            switch event.topic {
            case "timing.candidate.left":
                let m = try event.decode(CandidateMoment.self)
                let sitting = try Sitting(wire: m.sitting)
                if m.channel == .main || m.channel == .unspecified { state.phoneLeft(examNumber: m.examNumber, sitting: sitting, side: .main, now: tx.now) }
                if m.channel == .secondary || m.channel == .unspecified { state.phoneLeft(examNumber: m.examNumber, sitting: sitting, side: .secondary, now: tx.now) }
            case "timing.interview.ended":
                let i = try event.decode(InterviewEvent.self)
                state.interviewEnded(examNumber: i.examNumber, sitting: try Sitting(wire: i.sitting), now: tx.now)
            case "timing.room.ended":
                let r = try event.decode(RoomEvent.self)
                state.roomEnded(roomID: r.roomId, sitting: try Sitting(wire: r.sitting), now: tx.now)
            default:
                plan.withLock { $0 = nil }
            }
            try record(&state, &tx)
        }
        service.follow("discipline", prefixes: ["discipline.incident.decided"]) { [self] event, state, tx in
            let d = try event.decode(DecisionEvent.self)
            guard d.effect == .qualificationCancelled || d.effect == .scoreVoided else { return }
            state.disqualified(examNumber: d.examNumber, now: tx.now)
            try record(&state, &tx)
        }
    }

    // MARK: Janus

    /// Carries out what the core decided, as soon as it decided it.
    func runEffects() async {
        await effects.run { [self] in await drain() }
    }

    func drain() async {
        guard let effects = try? await service.engine.write({ state, _ in state.takeEffects() }), !effects.isEmpty else { return }
        let driver = JanusDriver(janus: janus)
        var destroyed: [String] = []
        for e in effects {
            do {
                let started = ContinuousClock.now
                if case .destroyed(let key) = try await driver.apply(e) {
                    destroyed.append(key)
                    logger.info("janus room destroyed", metadata: ["room": "\(key)", "janus_ms": "\((ContinuousClock.now - started).milliseconds)"])
                }
            } catch {
                // Janus down or refusing: the reconciliation brings it in line later.
                logger.warning("janus effect failed", metadata: ["effect": "\(Self.describe(e))", "error": "\(error)"])
            }
        }
        await noteServer()
        if !destroyed.isEmpty {
            _ = try? await service.engine.write { [self, destroyed] state, tx in
                for k in destroyed { state.destroyed(roomKey: k) }
                try record(&state, &tx)
            }
        }
    }

    /// Every `reconcileEvery` seconds: each room media holds is asked of
    /// Janus; missing live rooms are re-made, unexplained participants
    /// kicked, dead rooms destroyed.
    func reconcile() async {
        let driver = JanusDriver(janus: janus)
        var lastKeepalive = Date.distantPast
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(reconcileEvery))
            guard let rooms = try? await service.engine.read({ $0.roomsToWatch }) else { continue }
            do {
                if Date().timeIntervalSince(lastKeepalive) > 10 {
                    try await janus.keepalive()
                    lastKeepalive = Date()
                }
                var seen: [(String, [ObservedParticipant]?)] = []
                for r in rooms {
                    if r.live {
                        seen.append((r.key, try await driver.participants(r.janusRoom)))
                    } else if case .destroyed(let k) = try await driver.apply(.destroy(roomKey: r.key, janusRoom: r.janusRoom, secret: r.secret)) {
                        seen.append((k, nil))
                    }
                }
                await noteServer()
                _ = try await service.engine.write { [self, seen] state, tx in
                    for (key, participants) in seen {
                        if let participants { state.observed(roomKey: key, participants: participants, now: tx.now) } else {
                            state.roomMissing(roomKey: key, now: tx.now)
                        }
                    }
                    try record(&state, &tx)
                }
            } catch {
                await noteServer()
            }
        }
    }

    /// Publishes Janus going away and coming back (a new session = a new epoch).
    func noteServer() async {
        let up = janus.up
        let epoch = janus.epoch
        let was = serverUp.withLock { s -> Bool? in defer { s = up }; return s }
        let oldEpoch = seenEpoch.withLock { e -> UInt32 in defer { e = epoch }; return e }
        let restarted = up && oldEpoch != 0 && epoch != oldEpoch
        guard was != up || restarted else { return }
        let topic = up ? "media.server.restored" : "media.server.lost"
        if up { logger.notice("janus answers", metadata: ["janus": "\(instance.name)", "epoch": "\(epoch)"]) } else {
            logger.error("janus does not answer", metadata: ["janus": "\(instance.name)", "api": "\(instance.api)"])
        }
        if was == nil && up { return }
        _ = try? await service.engine.write { [self] state, tx in
            if up { state.resync(now: tx.now) }
            try tx.publish(topic, MediaServerEvent(url: instance.public, epoch: epoch, detail: up ? "rooms re-made from media's store" : "no answer from \(instance.api)",
                                                   atMs: tx.nowMs))
            try record(&state, &tx)
        }
    }

    // MARK: Plumbing

    /// Stages what the core changed, publishes its events, and pokes the runner.
    func record(_ state: inout MediaState, _ tx: inout Transaction) throws {
        let c = state.takeChanges()
        for r in c.rooms { tx.put(r, kind: "room", key: r.key) }
        for g in c.grants { tx.put(g, kind: "grant", key: g.id) }
        for k in c.forgottenGrants { tx.delete(kind: "grant", key: k) }
        for k in c.forgottenRooms { tx.delete(kind: "room", key: k) }
        for e in c.events {
            switch e {
            case .issued(let g): try tx.publish("media.grant.issued", MediaWire.event(g))
            case .ended(let g): try tx.publish("media.grant.ended", MediaWire.event(g))
            }
        }
        _ = effects.request()
    }

    /// Decides a grant on the engine with fresh random values, then waits
    /// until its tokens are in Janus's allowed lists (so the page's join
    /// right after the answer is admitted).
    func decide(_ body: @escaping @Sendable (inout MediaState, inout Transaction, Fresh) throws -> Grant) async throws -> Grant {
        let fresh = Fresh(grantID: "g-" + Self.randomHex(12), secrets: (0..<Fresh.perGrant).map { _ in Self.randomHex(16) },
                          ids: (0..<Fresh.perGrant).map { _ in UInt64.random(in: 1..<(1 << 53)) })
        let grant = try await service.engine.write { [self] state, tx in
            let g = try MediaWire.core { try body(&state, &tx, fresh) }
            try record(&state, &tx)
            return g
        }
        // Its tokens in Janus's allowed lists before the answer: the page joins right after.
        await effects.wait(for: effects.request())
        guard janus.up else {
            throw RPCError.unavailable("媒体服务器（Janus \(instance.name)）暂时无法连接，请稍后重试")
        }
        return grant
    }

    func answer(_ g: Grant) async throws -> MediaGrant {
        MediaWire.grant(g, janusURL: instance.public, epoch: janus.epoch, iceServers: instance.iceServers ?? [])
    }

    /// What timing says of the candidate's sitting now. `enteredWith`: a
    /// phone asking without a sitting gets the one it has entered.
    func candidateFacts(_ examNumber: String, sitting: SittingKind, enteredWith device: String?) async throws -> CandidateFacts {
        let timing = try service.client(for: "timing")
        let sittings: [SittingKind] = sitting != .unspecified ? [sitting] : [.formal, .mock]
        var views: [CandidateTimingView] = []
        for s in sittings {
            do {
                views.append(try await timing.call(TimingAPI.getCandidateState, CandidateStateRequest(examNumber: examNumber, sitting: s),
                                                   timeout: .seconds(3)))
            } catch let e as RPCError where e.code == .notFound || e.code == .invalidArgument {
                throw e
            } catch {
                throw RPCError.unavailable("暂时无法向 timing 查询考生 \(examNumber) 的状态，请稍后重试（\(error)）")
            }
        }
        let v = views.first { v in device.map { v.mainDevice == $0 || v.secondaryDevice == $0 } ?? true } ?? views[0]
        let running = v.interview.map { $0.startedAtMs > 0 && $0.phase != .ended && $0.phase != .unspecified } ?? false
        return CandidateFacts(examNumber: v.examNumber, roomID: v.roomId, sitting: try Sitting(wire: v.sitting), status: v.status,
                              inMainRoom: v.inMainRoom, inSecondaryRoom: v.inSecondaryRoom, mainDevice: v.mainDevice,
                              secondaryDevice: v.secondaryDevice, disqualified: v.disqualified, interviewRunning: running)
    }

    func currentPlan() async throws -> ExamPlanInfo {
        if let p = plan.withLock({ $0 }) { return p }
        do {
            let p = try await service.client(for: "timing").call(TimingAPI.getPlan, GetPlanRequest(), timeout: .seconds(3))
            plan.withLock { $0 = p }
            return p
        } catch {
            throw RPCError.unavailable("暂时无法向 timing 查询考试计划，请稍后重试（\(error)）")
        }
    }

    func deferred<Req, Resp>(_ method: RPCMethod<Req, Resp>, _ body: @escaping @Sendable (Req, CallInfo) async throws -> Resp) {
        service.server.serveDeferred(method) { req, info, responder in
            Task {
                do { responder.succeed(try await body(req, info)) } catch { responder.fail(error) }
            }
        }
    }

    static func holder(_ p: CallPrincipal) -> Holder? {
        p.role == .candidate ? .candidate : staffRoles[p.role]
    }

    static func randomHex(_ bytes: Int) -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    static func describe(_ e: JanusEffect) -> String {
        switch e {
        case .ensure(let r, let allowed): "ensure room \(r.janusRoom) (\(r.key), \(allowed.count) tokens)"
        case .allow(let r, _, let t): "allow \(t.count) token(s) in \(r)"
        case .disallow(let r, _, let t): "withdraw \(t.count) token(s) from \(r)"
        case .kick(let r, _, let f): "kick \(f) from \(r)"
        case .destroy(let k, let r, _): "destroy \(r) (\(k))"
        }
    }
}

/// Runs the core's effects on one task, in order; a caller can wait until
/// everything decided before its ticket was carried out.
final class EffectsRunner: Sendable {
    private struct Tickets {
        var requested: UInt64 = 0
        var completed: UInt64 = 0
        var waiters: [(ticket: UInt64, resume: CheckedContinuation<Void, Never>)] = []
    }
    private let tickets = Mutex(Tickets())
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    init() { (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1)) }

    /// Asks for a drain; the ticket is done once a drain that began after it ends.
    func request() -> UInt64 {
        let t = tickets.withLock { s -> UInt64 in s.requested += 1; return s.requested }
        wake.yield()
        return t
    }

    func wait(for ticket: UInt64) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = tickets.withLock { s -> Bool in
                if s.completed >= ticket { return true }
                s.waiters.append((ticket, c))
                return false
            }
            if done { c.resume() }
        }
    }

    func run(_ drain: @Sendable () async -> Void) async {
        for await _ in wakes {
            let target = tickets.withLock { $0.requested }
            await drain()
            let ready = tickets.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.completed = max(s.completed, target)
                let r = s.waiters.filter { $0.ticket <= target }.map(\.resume)
                s.waiters.removeAll { $0.ticket <= target }
                return r
            }
            for c in ready { c.resume() }
        }
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
