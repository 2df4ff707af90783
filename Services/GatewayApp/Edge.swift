// The gateway's work between HTTP and the mesh (R60, R61): it checks what a
// phone sends, sets who acts from the verified session (never from the
// client's word), calls roster, timing and devices, and turns their replies
// and errors into what the OpenAPI document promises. It owns no exam
// state: the services decide; the edge translates.
import Bus
import ExamContracts
import ExamPlan
import Foundation
import GatewayCore
import Logging
import RosterCore
import ServiceKit
import Synchronization

/// The calls the edge makes on the mesh. The gateway's executable passes
/// its bus clients; router tests pass a stand-in.
public protocol MeshCalls: Sendable {
    func call<Req, Resp>(_ service: String, _ method: RPCMethod<Req, Resp>, _ request: Req,
                         as who: CallPrincipal) async throws -> Resp
}

extension EdgeError {
    /// A failed mesh call as the edge reports it: the service's code and
    /// message pass through (R60); anything else means it was not reached.
    init(failed error: any Error, calling service: String) {
        switch error {
        case let e as RPCError:
            // A service's "come back later" reaches the phone as Retry-After
            // (whole seconds, rounded up), never as a failure (issue 22).
            self.init(e.code.name, e.message, retryAfterSeconds: e.retryAfterMs > 0 ? Int((e.retryAfterMs + 999) / 1000) : nil)
        case let e as EdgeError: self = e
        default: self = .unavailable("\(service): \(error)")
        }
    }
}

/// The bus clients of a running gateway.
public struct BusMeshCalls: MeshCalls {
    let client: @Sendable (String) throws -> RpcClient
    let timeout: Duration
    public init(timeout: Duration = .seconds(5), client: @escaping @Sendable (String) throws -> RpcClient) {
        self.client = client
        self.timeout = timeout
    }

    public func call<Req, Resp>(_ service: String, _ method: RPCMethod<Req, Resp>, _ request: Req,
                                as who: CallPrincipal) async throws -> Resp {
        try await client(service).call(method, request, timeout: timeout, as: who)
    }
}

public struct GatewaySettings: Sendable {
    public var login = LoginThrottle.Limits()
    /// JSON bodies (every candidate action but the photo).
    public var jsonBodyLimit = 16 * 1024
    /// The ID photo: roster's own bound (R4), so a larger upload is refused
    /// at the door without crossing the mesh.
    public var photoBodyLimit = PhotoLimits().maxBytes
    /// Take the client's address from the first X-Forwarded-For hop (only
    /// behind a proxy ops run, e.g. the TLS terminator).
    public var trustForwardedFor = false
    /// The question each sitting's main phone shows once revealed (R14).
    public var questions: [String: String] = [:]
    /// How long a verified token is believed before roster is asked again.
    public var sessionCacheSeconds: TimeInterval = 5
    /// A connection must send a whole request head within this time, and a
    /// kept-alive one must start its next request within it (issue 22:
    /// half-sent requests held connections open; `--header-timeout`).
    public var headerTimeout: Duration = .seconds(10)
    /// A phone must say hello within this time after the WebSocket opens.
    public var helloTimeout: Duration = .seconds(10)
    /// Heartbeats are sent to devices in batches at least this often.
    public var heartbeatFlush: Duration = .milliseconds(20)
    public var heartbeatBatchMax = 2000
    /// GET /metrics: a bearer token that lets a scraper from another host in
    /// (nil: loopback clients only).
    public var metricsToken: String?
    /// GET /metrics: the mesh members whose Stats it shows (the gateway included).
    public var metricsMembers: [String] = []
    /// The mesh has a media service (live rooms, R64): grants are asked of
    /// it and sign-outs told to it.
    public var media = false
    /// Origins of the mesh's Janus instances that pages call directly
    /// ("http://127.0.0.1:8188"): allowed in the pages' connect-src.
    public var mediaOrigins: [String] = [] {
        didSet { contentSecurityPolicy = EdgeMiddleware.csp(connect: mediaOrigins) }
    }
    /// The Content-Security-Policy of every answer (R63).
    public private(set) var contentSecurityPolicy = EdgeMiddleware.csp()
    public init() {}
}

/// A verified candidate session: whose token it is, until when.
public struct CandidateSession: Sendable {
    public var token: String
    public var examNumber: String
    public var expiresAtMs: Int64
    public var principal: CallPrincipal { CallPrincipal(id: examNumber, role: .candidate) }
}

public final class Edge: Sendable {
    public let mesh: any MeshCalls
    public let settings: GatewaySettings
    public let logger: Logger
    let clock: @Sendable () -> Date
    let throttle: Mutex<LoginThrottle>
    let feed = Mutex(CandidateFeed())
    let plan = Mutex<(plan: ExamPlan, fetched: Date)?>(nil)
    let planFetch = Mutex<Task<ExamPlan, Error>?>(nil)
    let sessions = Mutex<[String: (session: CandidateSession, checked: Date)]>([:])
    let phones = PhoneRegistry()
    public let beats: HeartbeatBatcher
    public let counters: Counters

    public init(mesh: any MeshCalls, settings: GatewaySettings = GatewaySettings(), logger: Logger = Logger(label: "gateway"),
                counters: Counters = Counters(), clock: @escaping @Sendable () -> Date = { Date() }) {
        self.mesh = mesh
        self.settings = settings
        self.logger = logger
        self.clock = clock
        self.counters = counters
        throttle = Mutex(LoginThrottle(settings.login))
        beats = HeartbeatBatcher(mesh: mesh, flushEvery: settings.heartbeatFlush, maxBatch: settings.heartbeatBatchMax,
                                 counters: counters, logger: logger)
    }

    var nowMs: Int64 { unixMillis(clock()) }

    /// Runs a mesh call and turns its failure into the edge's error (the
    /// service's code and message pass through, R60).
    func mesh<Req, Resp>(_ service: String, _ method: RPCMethod<Req, Resp>, _ request: Req, as who: CallPrincipal) async throws(EdgeError) -> Resp {
        do {
            return try await mesh.call(service, method, request, as: who)
        } catch {
            throw EdgeError(failed: error, calling: service)
        }
    }

    // MARK: Sessions (R2, R63)

    public func login(_ body: LoginBody, address: String) async throws(EdgeError) -> SessionReply {
        try body.check()
        if let refused = throttle.withLock({ $0.admit(phone: body.phone, address: address, now: clock()) }) {
            logger.notice("login refused by rate limit", metadata: ["phone": "\(PhoneMask.mask(body.phone))", "address": "\(address)"])
            throw refused
        }
        let r: LoginReply
        do {
            r = try await mesh("roster", RosterAPI.login, LoginRequest(phone: body.phone, password: body.password),
                               as: CallPrincipal(id: "gateway", role: .service))
        } catch where error.code == "RESOURCE_EXHAUSTED" {
            // Roster's hash queue said "come back" (a burst, issue 22): the
            // page waits and retries by itself, so the attempt is not held
            // against the phone's or the address's budget (R63).
            throttle.withLock { $0.refund(phone: body.phone, address: address, now: clock()) }
            counters.counter("login.queued").add()
            throw error
        }
        logger.info("candidate logged in", metadata: ["exam_number": "\(r.examNumber)", "address": "\(address)"])
        remember(CandidateSession(token: r.token, examNumber: r.examNumber, expiresAtMs: r.expiresAtMs))
        return SessionReply(token: r.token, expiresAtMs: r.expiresAtMs, examNumber: r.examNumber, defaultPassword: r.defaultPassword)
    }

    /// Ends the candidate's session on roster and forgets it here.
    public func logout(_ s: CandidateSession) async throws(EdgeError) {
        _ = try await mesh("roster", RosterAPI.logout, TokenRequest(token: s.token), as: s.principal)
        _ = sessions.withLock { $0.removeValue(forKey: s.token) }
        logger.info("candidate logged out", metadata: ["exam_number": "\(s.examNumber)"])
    }

    func remember(_ s: CandidateSession) {
        sessions.withLock { cache in
            if cache.count > 200_000 { cache.removeAll(keepingCapacity: true) }
            cache[s.token] = (s, clock())
        }
    }

    /// Who holds `token` (roster decides; the answer is kept a few seconds).
    public func authenticate(_ token: String?) async throws(EdgeError) -> CandidateSession {
        guard let token, !token.isEmpty else {
            throw .unauthenticated("Authorization: a bearer token is required (log in first: POST /api/v1/session)")
        }
        guard token.utf8.count <= 256 else { throw .unauthenticated("Authorization: the token is not one the gateway issued") }
        let now = clock()
        if let c = sessions.withLock({ $0[token] }), now.timeIntervalSince(c.checked) < settings.sessionCacheSeconds,
           c.session.expiresAtMs > unixMillis(now) {
            return c.session
        }
        let v = try await mesh("roster", RosterAPI.authenticate, TokenRequest(token: token), as: CallPrincipal(id: "gateway", role: .service))
        let s = CandidateSession(token: token, examNumber: v.examNumber, expiresAtMs: v.expiresAtMs)
        remember(s)
        return s
    }

    // MARK: The plan (R10)

    /// The plan, as timing has it. A phone never waits for it once the
    /// gateway has it: an older copy is served while a fresh one is
    /// fetched (every 30 s, and when timing publishes a new plan); only
    /// the very first request waits, and a thousand of them wait for one
    /// fetch, not a thousand.
    public func currentPlan() async throws(EdgeError) -> ExamPlan {
        if let c = plan.withLock({ $0 }) {
            if clock().timeIntervalSince(c.fetched) >= 30 { _ = refreshPlan() }
            return c.plan
        }
        do { return try await refreshPlan().value } catch let e as EdgeError { throw e } catch { throw .unavailable("timing: \(error)") }
    }

    /// Starts fetching the plan unless a fetch is under way. The fetch
    /// clears itself under the same lock it is stored under, so it is never
    /// left behind finished.
    @discardableResult
    public func refreshPlan() -> Task<ExamPlan, Error> {
        planFetch.withLock { running -> Task<ExamPlan, Error> in
            if let running { return running }
            let t = Task<ExamPlan, Error> { [self] in
                defer { planFetch.withLock { $0 = nil } }
                let info = try await mesh("timing", TimingAPI.getPlan, GetPlanRequest(), as: CallPrincipal(id: "gateway", role: .service))
                do {
                    let p = try ExamPlan(info: info)
                    plan.withLock { $0 = (p, clock()) }
                    return p
                } catch {
                    throw EdgeError.unavailable("timing's plan cannot be read: \(error)")
                }
            }
            running = t
            return t
        }
    }

    /// timing published a new plan: fetch it (the old one serves meanwhile).
    func planChanged() { refreshPlan() }

    // MARK: My registration (R1-R6)

    func registration(_ v: ExamContracts.CandidateView) async -> Registration {
        let p = try? await currentPlan()
        let id = v.identity ?? IdentityView()
        let identity = IdentityStateView(status: Self.identityName(id.status),
                                         checks: id.checks.map { PhotoCheckView(name: $0.name, passed: $0.passed, detail: $0.detail) },
                                         reason: id.reason)
        return Registration(examNumber: v.examNumber, name: v.name, idNumberMasked: v.idNumberMasked, phoneMasked: v.phoneMasked,
                            post: PostRef(code: v.postCode, name: v.postName), writtenScore: v.writtenScore,
                            status: Self.statusName(v.status), statusReason: v.statusReason, identity: identity, plan: p, now: clock())
    }

    public func me(_ s: CandidateSession) async throws(EdgeError) -> Registration {
        await registration(try await mesh("roster", RosterAPI.me, TokenRequest(token: s.token), as: s.principal))
    }

    public func changePassword(_ s: CandidateSession, _ body: PasswordBody) async throws(EdgeError) -> Registration {
        try body.check()
        let v = try await mesh("roster", RosterAPI.changePassword,
                               ChangePasswordRequest(token: s.token, oldPassword: body.oldPassword, newPassword: body.newPassword), as: s.principal)
        logger.info("password changed", metadata: ["exam_number": "\(s.examNumber)"])
        return await registration(v)
    }

    public func uploadPhoto(_ s: CandidateSession, _ bytes: [UInt8], contentType: String?) async throws(EdgeError) -> Registration {
        guard !bytes.isEmpty else { throw .invalid("body: empty; the ID card photo (JPEG or PNG bytes) is expected") }
        let ct = (contentType ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard ["image/jpeg", "image/png", "application/octet-stream"].contains(ct) else {
            throw .invalid("Content-Type: '\(ct.prefix(40))' is not a photo; send image/jpeg or image/png")
        }
        let v = try await mesh("roster", RosterAPI.uploadIdPhoto,
                               UploadIdPhotoRequest(token: s.token, photo: Data(bytes), fileName: ct == "image/png" ? "photo.png" : "photo.jpg"),
                               as: s.principal)
        logger.info("ID photo uploaded", metadata: ["exam_number": "\(s.examNumber)", "bytes": "\(bytes.count)",
                                                    "identity": "\(Self.identityName(v.identity?.status ?? .none))"])
        return await registration(v)
    }

    public func confirm(_ s: CandidateSession) async throws(EdgeError) -> Registration {
        let v = try await mesh("roster", RosterAPI.confirm, TokenRequest(token: s.token), as: s.principal)
        logger.info("candidate confirmed", metadata: ["exam_number": "\(s.examNumber)"])
        return await registration(v)
    }

    public func decline(_ s: CandidateSession, _ body: DeclineBody) async throws(EdgeError) -> Registration {
        try body.check()
        let v = try await mesh("roster", RosterAPI.decline, TokenRequest(token: s.token), as: s.principal)
        logger.info("candidate declined (gave up the post)", metadata: ["exam_number": "\(s.examNumber)"])
        return await registration(v)
    }

    static func statusName(_ s: ExamContracts.CandidateStatus) -> String {
        switch s {
        case .imported, .unspecified: return "imported"
        case .confirmed: return "confirmed"
        case .declined: return "declined"
        case .forfeited: return "forfeited"
        }
    }

    static func identityName(_ s: IdentityStatus) -> String {
        switch s {
        case .none: return "none"
        case .pendingReview: return "pending_review"
        case .approved: return "approved"
        case .rejected: return "rejected"
        }
    }

    // MARK: Phones (R30-R35)

    public func registerDevice(_ s: CandidateSession, _ body: RegisterDeviceBody) async throws(EdgeError) -> DeviceReply {
        try body.check()
        let r = try await mesh("devices", DevicesAPI.registerDevice,
                               RegisterRequest(token: s.token, role: body.role == .main ? .main : .secondary, deviceId: body.deviceId,
                                               account: body.account, status: Self.status(body.status)), as: s.principal)
        logger.info("phone registered", metadata: ["exam_number": "\(s.examNumber)", "role": "\(body.role.rawValue)",
                                                   "device": "\(body.deviceId)"])
        return DeviceReply(deviceId: body.deviceId, role: body.role, deviceKey: r.deviceKey, fit: r.devices?.fit ?? false,
                           reasons: r.devices?.reasons ?? [])
    }

    /// One heartbeat over HTTP (the WebSocket is the usual way).
    public func reportStatus(_ s: CandidateSession, deviceID: String, _ body: StatusReportBody) async throws(EdgeError) -> HeartbeatResult {
        try Checks.deviceID(deviceID, field: "path deviceId")
        try body.check()
        try await ownDevice(s, deviceID)
        let r = try await mesh("devices", DevicesAPI.heartbeat,
                               HeartbeatRequest(deviceId: deviceID, deviceKey: body.deviceKey, status: Self.status(body.status)), as: s.principal)
        return HeartbeatResult(fit: r.fit, brokenRules: r.brokenRules, serverTimeMs: r.serverTimeMs)
    }

    /// Which role `deviceID` has among the candidate's phones; refuses a
    /// phone of another candidate (a token of A with B's phone).
    @discardableResult
    func ownDevice(_ s: CandidateSession, _ deviceID: String) async throws(EdgeError) -> PhoneRole {
        let v = try await mesh("devices", DevicesAPI.getCandidateDevices, DevicesCandidateRef(examNumber: s.examNumber),
                               as: CallPrincipal(id: "gateway", role: .service))
        guard let d = v.devices.first(where: { $0.deviceId == deviceID }) else {
            throw .denied("device \(deviceID) is not one of candidate \(s.examNumber)'s registered phones (R30); register it first")
        }
        return d.role == .secondary ? .secondary : .main
    }

    static func status(_ b: DeviceStatusBody) -> DeviceStatus {
        let network: NetworkKind = switch b.network {
        case .none: .none
        case .wifi: .wifi
        case .cellular4g: .cellular4g
        case .cellular5g: .cellular5g
        case .other: .other
        }
        return DeviceStatus(cameraOn: b.cameraOn, camera: b.camera == .front ? .front : .rear, microphoneOn: b.microphoneOn,
                            speakerVolume: Int32(b.speakerVolume), batteryPercent: Int32(b.batteryPercent), network: network,
                            inForeground: b.inForeground, autoLockOff: b.autoLockOff, clientVersion: b.clientVersion,
                            os: b.os == .ios ? .ios : b.os == .android ? .android : .other, osVersion: b.osVersion)
    }

    // MARK: The day (R11-R18)

    static func phaseName(_ p: InterviewPhaseKind) -> String {
        switch p {
        case .reading, .unspecified: "reading"
        case .answering: "answering"
        case .ended: "ended"
        }
    }

    static func kind(_ s: SittingName) -> SittingKind { s == .mock ? .mock : .formal }

    public func sittingState(_ s: CandidateSession, _ sitting: SittingName, role: PhoneRole? = nil) async throws(EdgeError) -> SittingState {
        let service = CallPrincipal(id: "gateway", role: .service)
        let v = try await mesh("timing", TimingAPI.getCandidateState,
                               CandidateStateRequest(examNumber: s.examNumber, sitting: Self.kind(sitting)), as: service)
        var room: RoomInfo?
        if !v.roomId.isEmpty {
            room = try? await mesh("timing", TimingAPI.getRoom, RoomRequest(roomId: v.roomId, sitting: Self.kind(sitting)), as: service)
        }
        return await sittingState(v, room: room, sitting: sitting, role: role)
    }

    func sittingState(_ v: CandidateTimingView, room: RoomInfo?, sitting: SittingName, role: PhoneRole?) async -> SittingState {
        let p = try? await currentPlan()
        let now = clock()
        var ahead = -1
        if let room, v.position > 0 {
            ahead = room.queue.filter { $0.position > 0 && $0.position < v.position && ($0.status == "waiting" || $0.status == "interviewing") }.count
        }
        var interview: InterviewView?
        if let i = v.interview, i.startedAtMs > 0 {
            let phase = Self.phaseName(i.phase)
            // R14: the question is shown on the main phone only, once revealed.
            let question = i.questionRevealed && role != .secondary
                ? (settings.questions[sitting.rawValue] ?? "题目已显示，请听考官宣读并作答。") : nil
            interview = InterviewView(phase: phase, startedAtMs: i.startedAtMs, readingEndsAtMs: i.readingEndsAtMs, endsAtMs: i.endsAtMs,
                                      remainingMs: max(0, i.endsAtMs - unixMillis(now)), questionRevealed: i.questionRevealed,
                                      question: question, endReason: i.endReason, recordingSaved: i.recordingSaved,
                                      answeringTurn: p?.interview.answeringTurn.rawValue ?? "automatic")
        }
        let roomName = room?.name ?? p?.room(id: v.roomId)?.name ?? v.roomId
        return SittingState(sitting: sitting, examNumber: v.examNumber,
                            room: v.roomId.isEmpty ? nil : RoomRef(id: v.roomId, name: roomName),
                            status: v.status, blockers: v.blockers, inMainRoom: v.inMainRoom, inSecondaryRoom: v.inSecondaryRoom,
                            screened: v.screened, screeningPassed: v.screeningPassed, position: Int(v.position), ahead: ahead,
                            yourTurnNext: room?.next == v.examNumber && v.status == "waiting",
                            entry: p.map { WindowView($0.entry(sitting == .mock ? .mock : .formal), now: now) },
                            interview: interview, serverTimeMs: unixMillis(now))
    }

    public func enter(_ s: CandidateSession, _ sitting: SittingName, _ body: RoomMoveBody) async throws(EdgeError) -> SittingState {
        try await move(s, sitting, body, entering: true)
    }

    public func leave(_ s: CandidateSession, _ sitting: SittingName, _ body: RoomMoveBody) async throws(EdgeError) -> SittingState {
        try await move(s, sitting, body, entering: false)
    }

    /// Into or out of the main or secondary room (R11, R18); timing decides.
    func move(_ s: CandidateSession, _ sitting: SittingName, _ body: RoomMoveBody, entering: Bool) async throws(EdgeError) -> SittingState {
        try body.check()
        let channel: Channel = body.role == .main ? .main : .secondary
        if entering {
            _ = try await mesh("timing", TimingAPI.enter, EnterRequest(token: s.token, sitting: Self.kind(sitting), channel: channel,
                                                                       deviceId: body.deviceId), as: s.principal)
        } else {
            _ = try await mesh("timing", TimingAPI.leave, LeaveRequest(token: s.token, sitting: Self.kind(sitting), channel: channel,
                                                                       deviceId: body.deviceId), as: s.principal)
        }
        logger.info(entering ? "entered the room" : "left the room",
                    metadata: ["exam_number": "\(s.examNumber)", "sitting": "\(sitting.rawValue)", "role": "\(body.role.rawValue)"])
        return try await sittingState(s, sitting, role: body.role)
    }

    /// The main phone only (R14, R17): a secondary phone is refused here,
    /// before timing is asked.
    func mainPhone(_ s: CandidateSession, _ deviceID: String, action: String) async throws(EdgeError) {
        let role = try await ownDevice(s, deviceID)
        guard role == .main else {
            throw .denied("\(action): device \(deviceID) is candidate \(s.examNumber)'s secondary phone; only the main phone may \(action) (R14, R17)")
        }
    }

    public func reveal(_ s: CandidateSession, _ sitting: SittingName, _ body: MainPhoneBody) async throws(EdgeError) -> SittingState {
        try body.check()
        try await mainPhone(s, body.deviceId, action: "reveal the question")
        _ = try await mesh("timing", TimingAPI.revealQuestion,
                           CandidateInterviewRequest(token: s.token, sitting: Self.kind(sitting), deviceId: body.deviceId), as: s.principal)
        logger.info("question revealed", metadata: ["exam_number": "\(s.examNumber)", "sitting": "\(sitting.rawValue)"])
        return try await sittingState(s, sitting, role: .main)
    }

    public func end(_ s: CandidateSession, _ sitting: SittingName, _ body: MainPhoneBody) async throws(EdgeError) -> SittingState {
        try body.check()
        guard body.confirm == true else {
            throw .invalid("confirm: must be true; ending the interview early cannot be undone (R17)")
        }
        try await mainPhone(s, body.deviceId, action: "end the interview")
        _ = try await mesh("timing", TimingAPI.endInterview,
                           CandidateInterviewRequest(token: s.token, sitting: Self.kind(sitting), deviceId: body.deviceId), as: s.principal)
        logger.info("interview ended early by the candidate", metadata: ["exam_number": "\(s.examNumber)", "sitting": "\(sitting.rawValue)"])
        return try await sittingState(s, sitting, role: .main)
    }
}
