import Bus
import ExamContracts
import Foundation
import Logging
import ServiceKit
import Synchronization

/// Plays N candidates' two phones against a running mesh, as the clients
/// (the WeChat mini-program) would: log in with roster (R2), register both
/// phones with devices (R30), beat every `heartbeat_ms` (R31) in
/// HeartbeatBatch calls, enter the main and secondary rooms when timing
/// opens a sitting's entry (R11), reveal the question when the interview
/// starts (R14), end early if scripted (R17), and play the scripted faults
/// (R32-R35). Only a client of the mesh: calls and events through
/// `MeshClient`, no store, no socket of its own.
public final class PhoneSimulator: Sendable {
    public let scenario: PhoneScenario
    let mesh: MeshClient
    let logger: Logger
    let fleet: Fleet
    let limiter: Limiter
    let stops: AsyncStream<String>
    let stopper: AsyncStream<String>.Continuation
    let stopping = Atomic<Bool>(false)
    let startedAtMs = nowMs()

    public init(scenario: PhoneScenario, mesh: MeshClient, logger: Logger = Logger(label: "phone-sim")) {
        self.scenario = scenario
        self.mesh = mesh
        self.logger = logger
        fleet = Fleet(scenario)
        limiter = Limiter(scenario.concurrency)
        (stops, stopper) = AsyncStream<String>.makeStream()
    }

    /// The simulator's view of the mesh: it acts for candidates (each call
    /// carries the candidate's token; the principal only names the caller).
    public static func meshClient(meshPath: String) throws -> MeshClient {
        try MeshClient(meshPath: meshPath, caller: "phone-sim", principal: CallPrincipal(id: "phone-sim", role: .candidate))
    }

    /// Ends the run (SIGTERM, SIGINT, the linger's end): the heartbeat loop
    /// finishes its beat, then `run` returns the report.
    public func requestStop(_ reason: String) { stopper.yield(reason) }

    /// Runs until `requestStop`; `onReady` gets what is ready ("candidates=
    /// 200 logged_in=200 phones=399 ...") once every phone (but those
    /// refused on purpose) is registered and beating.
    public func run(onReady: @escaping @Sendable (String) -> Void) async -> PhoneSimReport {
        logger.info("starting", metadata: ["candidates": "\(scenario.candidates.count)", "heartbeat_ms": "\(scenario.heartbeatMs)"])
        let beats = Task { await heartbeatLoop() }
        let follower = Task { await followTiming() }
        let setup = Task {
            await setUp()
            guard !isStopping else { return }
            let ready = nowMs()
            await fleet.setReady(ready)
            let (loggedIn, phones) = await fleet.readiness()
            onReady("candidates=\(scenario.candidates.count) logged_in=\(loggedIn) phones=\(phones) heartbeat_ms=\(scenario.heartbeatMs)")
            logger.info("ready", metadata: ["logged_in": "\(loggedIn)", "phones": "\(phones)"])
            await scheduleStartFaults(anchorMs: ready)
            await enterFromPlan()
        }
        var reason = "stopped"
        for await r in stops {
            reason = r
            break
        }
        stopping.store(true, ordering: .sequentiallyConsistent)
        logger.info("stopping", metadata: ["reason": "\(reason)"])
        setup.cancel()
        follower.cancel()
        beats.cancel()
        await beats.value
        return await fleet.report(startedAtMs: startedAtMs, stoppedAtMs: nowMs(), reason: reason, heartbeatMs: scenario.heartbeatMs)
    }

    var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    // MARK: Heartbeats (R31)

    /// Every period, one beat for every registered phone with signal, in
    /// batches of `batch_size`, all batches in flight at once. A beat that
    /// overruns its period delays the next one (never two at once). A beat
    /// in progress when the run stops is finished, not cut.
    func heartbeatLoop() async {
        let clock = ContinuousClock()
        let period = Duration.milliseconds(scenario.heartbeatMs)
        var next = clock.now
        while !Task.isCancelled {
            // Unstructured on purpose: a stop cancels the sleep, never a batch
            // on the wire (devices would see half a beat).
            let beat = Task { await self.sendBeat(nil) }
            _ = await beat.value
            next += period
            if next < clock.now { next = clock.now }
            do { try await Task.sleep(until: next, clock: clock) } catch { break }
        }
    }

    /// Sends one beat (of every phone, or of `ids`); returns when each was sent.
    @discardableResult
    func sendBeat(_ ids: [String]?) async -> [String: Int64] {
        let (requests, sentAt) = await fleet.beat(only: ids)
        guard !requests.isEmpty else { return sentAt }
        let size = scenario.batchSize
        await withTaskGroup(of: Void.self) { group in
            for start in stride(from: 0, to: requests.count, by: size) {
                let chunk = Array(requests[start..<min(start + size, requests.count)])
                group.addTask {
                    do {
                        let reply = try await self.mesh.call("devices", DevicesAPI.heartbeatBatch,
                                                             HeartbeatBatchRequest(heartbeats: chunk), timeout: .seconds(5))
                        await self.fleet.batchDone(refused: reply.refused)
                    } catch {
                        await self.fleet.batchFailed()
                        self.logger.warning("heartbeat batch failed", metadata: ["phones": "\(chunk.count)", "error": "\(error)"])
                    }
                }
            }
        }
        return sentAt
    }

    // MARK: Login and registration (R2, R30)

    func setUp() async {
        await withTaskGroup(of: Void.self) { group in
            for c in scenario.candidates {
                group.addTask { await self.setUp(c) }
            }
        }
    }

    func setUp(_ c: CandidateScript) async {
        guard let token = await logIn(c) else { return }
        let banned = c.faults.firstIndex { $0.kind == .bannedVersion }
        for role in PhoneRole.allCases {
            if role == .main, let b = banned {
                await playBannedVersion(c, c.faults[b], token: token)
            } else {
                _ = await register(c, role, token: token)
            }
        }
    }

    func logIn(_ c: CandidateScript) async -> String? {
        for attempt in 1...5 {
            if isStopping { return nil }
            do {
                // scrypt on roster's side (R2): slow by design, so a long deadline.
                let reply = try await limiter.run {
                    try await self.mesh.call("roster", RosterAPI.login, LoginRequest(phone: c.phone, password: c.password),
                                             timeout: .seconds(20))
                }
                await fleet.loggedIn(c.examNumber, token: reply.token)
                return reply.token
            } catch {
                let f = failure(error)
                await fleet.loginFailed(c.examNumber, f)
                let retry = f.code == RPCCode.unavailable.name || f.code == RPCCode.deadlineExceeded.name
                logger.warning("login failed", metadata: ["exam_number": "\(c.examNumber)", "attempt": "\(attempt)", "error": "\(f.code)"])
                guard retry, attempt < 5 else { return nil }
                try? await Task.sleep(for: .milliseconds(500 * attempt))
            }
        }
        return nil
    }

    /// Registers the phone; retries while devices has not yet heard from
    /// roster that the candidate confirmed (NOT_FOUND, PERMISSION_DENIED) or
    /// is briefly unreachable, up to a minute. Returns the refusal otherwise.
    func register(_ c: CandidateScript, _ role: PhoneRole, token: String) async -> CallFailure? {
        let id = c.deviceID(role)
        let clock = ContinuousClock()
        let giveUp = clock.now + .seconds(60)
        var last: CallFailure?
        while clock.now < giveUp && !isStopping {
            guard let phone = await fleet.phone(id) else { return nil }
            do {
                let request = RegisterRequest(token: token, role: role == .main ? .main : .secondary, deviceId: id,
                                              account: phone.account, status: phone.status)
                let reply = try await limiter.run {
                    try await self.mesh.call("devices", DevicesAPI.registerDevice, request, timeout: .seconds(10))
                }
                await fleet.registered(id, key: reply.deviceKey)
                return nil
            } catch {
                let f = failure(error)
                await fleet.registrationFailed(id, f)
                last = f
                let waiting = [RPCCode.notFound, .permissionDenied, .unavailable, .deadlineExceeded].map(\.name).contains(f.code)
                guard waiting else {
                    logger.warning("registration refused", metadata: ["device": "\(id)", "error": "\(f.code)"])
                    return f
                }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        await fleet.note(c.examNumber, "\(role.rawValue) phone \(id) not registered: \(last.map { "\($0.code): \($0.message)" } ?? "stopped")")
        return last
    }

    /// R32: the iPhone with WeChat 8.0.20 is refused; if scripted, the
    /// candidate updates WeChat `seconds` later and registers again. Runs
    /// the update in the background so readiness does not wait for it.
    func playBannedVersion(_ c: CandidateScript, _ f: FaultScript, token: String) async {
        let id = c.deviceID(.main)
        // It acts at registration, whatever its anchor says.
        let index = await fleet.addFault(c.examNumber, FaultReport(kind: .bannedVersion, roles: [.main], anchor: .start, at: 0,
                                                                   seconds: f.seconds, anchorAtMs: nowMs()))
        await fleet.updateFault(c.examNumber, index) { $0.startedAtMs = nowMs() }
        let refusal = await register(c, .main, token: token)
        await fleet.updateFault(c.examNumber, index) { r in
            if let refusal {
                r.notes.append("registration refused: \(refusal.code): \(refusal.message)")
            } else {
                r.failure = "registration with WeChat 8.0.20 on iOS was accepted (R32 says refuse)"
            }
        }
        guard let after = f.seconds else { return }
        Task {
            try? await Task.sleep(for: .milliseconds(Int64(after * 1000)))
            guard !isStopping else { return }
            await fleet.updateClient(id, to: "8.0.30")
            let again = await register(c, .main, token: token)
            await fleet.updateFault(c.examNumber, index) { r in
                r.endedAtMs = nowMs()
                if let again {
                    r.failure = "after the update to 8.0.30: \(again.code): \(again.message)"
                } else {
                    r.notes.append("updated WeChat to 8.0.30 and registered")
                }
            }
        }
    }

    // MARK: Timing's events

    func followTiming() async {
        let stream: AsyncStream<DeliveredEvent>
        do {
            stream = try mesh.events("timing", prefixes: ["timing.entry.", "timing.interview."]).1
        } catch {
            logger.error("cannot follow timing", metadata: ["error": "\(error)"])
            return
        }
        for await e in stream {
            do { try await handle(e) } catch {
                logger.warning("timing event not understood", metadata: ["topic": "\(e.topic)", "seq": "\(e.seq)", "error": "\(error)"])
            }
        }
    }

    func handle(_ e: DeliveredEvent) async throws {
        switch e.topic {
        case "timing.entry.opened":
            let w = try e.decode(EntryWindowEvent.self)
            guard let sitting = SittingChoice(w.sitting), let window = w.window, nowMs() < window.closesMs else { return }
            enterAll(sitting, closesMs: window.closesMs)
        case "timing.entry.closed":
            let w = try e.decode(EntryWindowEvent.self)
            guard SittingChoice(w.sitting) == .formal else { return }
            for exam in w.absent where await fleet.isOurs(exam) { await fleet.markAbsent(exam) }
            await lingerIfDone()
        case "timing.interview.started":
            let i = try e.decode(InterviewEvent.self)
            guard let sitting = SittingChoice(i.sitting), await fleet.isOurs(i.examNumber),
                  await fleet.interviewStarted(i.examNumber, sitting, room: i.roomId, startedAtMs: i.startedAtMs, endsAtMs: i.endsAtMs)
            else { return }
            guard nowMs() < i.endsAtMs else { return }  // a replay of one long over
            Task { await revealQuestion(i.examNumber, sitting, endsAtMs: i.endsAtMs) }
            if let settings = scenario.uploads, let c = await fleet.script(i.examNumber) {
                for role in PhoneRole.allCases {
                    Task { await record(c, sitting, role, startedAtMs: i.startedAtMs, settings: settings) }
                }
            }
            if sitting == .formal { await scheduleInterviewFaults(i.examNumber, anchorMs: i.startedAtMs) }
        case "timing.interview.answering":
            let i = try e.decode(InterviewEvent.self)
            guard let sitting = SittingChoice(i.sitting), await fleet.isOurs(i.examNumber) else { return }
            await fleet.updateInterview(i.examNumber, sitting) { $0.answeringAtMs = i.atMs }
            if sitting == .formal, await fleet.script(i.examNumber)?.endEarly == true, nowMs() < i.endsAtMs {
                Task { await endEarly(i.examNumber, sitting) }
            }
        case "timing.interview.ended":
            let i = try e.decode(InterviewEvent.self)
            guard let sitting = SittingChoice(i.sitting), await fleet.isOurs(i.examNumber) else { return }
            await fleet.interviewEnded(i.examNumber, sitting, atMs: i.atMs, reason: i.reason)
            await lingerIfDone()
        default:
            return
        }
    }

    func lingerIfDone() async {
        guard let linger = scenario.lingerSeconds, await fleet.startLingerIfDone() else { return }
        logger.info("every formal interview played has ended; lingering", metadata: ["seconds": "\(linger)"])
        Task {
            try? await Task.sleep(for: .milliseconds(Int64(linger * 1000)))
            requestStop("finished")
        }
    }

    // MARK: Entry (R11, R18)

    /// The plan says when the windows open: a window open now is entered at
    /// once, a later one when it opens (timing's event usually comes first;
    /// whichever is first enters, the other finds it done).
    func enterFromPlan() async {
        let plan: ExamPlanInfo
        do { plan = try await mesh.call("timing", TimingAPI.getPlan, GetPlanRequest()) } catch {
            logger.warning("cannot read the plan from timing; waiting for its entry events", metadata: ["error": "\(error)"])
            return
        }
        for (sitting, window) in [(SittingChoice.mock, plan.mockEntry), (.formal, plan.formalEntry)] {
            guard let w = window, nowMs() < w.closesMs else { continue }
            Task {
                let wait = w.opensMs - nowMs()
                if wait > 0 { try? await Task.sleep(for: .milliseconds(wait)) }
                guard !isStopping else { return }
                enterAll(sitting, closesMs: w.closesMs)
            }
        }
    }

    func enterAll(_ sitting: SittingChoice, closesMs: Int64) {
        for c in scenario.candidates where c.sittings.contains(sitting) {
            Task {
                guard await fleet.beginEntering(c.examNumber, sitting) else { return }
                await enter(c, sitting, closesMs: closesMs)
            }
        }
    }

    /// Main phone into the main room, secondary into the secondary room
    /// (R11). Retries while it cannot yet (phone not registered or without
    /// signal, devices' fitness not yet heard by timing) until the window closes.
    func enter(_ c: CandidateScript, _ sitting: SittingChoice, closesMs: Int64, reentry: Bool = false,
               roles: [PhoneRole] = PhoneRole.allCases) async {
        for role in roles {
            let id = c.deviceID(role)
            var report = EntryReport(sitting: sitting, channel: role, deviceId: id, atMs: nil, reentry: reentry, attempts: 0, failure: nil)
            while !isStopping {
                if nowMs() >= closesMs && !reentry {
                    report.failure = report.failure ?? CallFailure(atMs: nowMs(), code: "OUT_OF_RANGE", message: "the entry window closed before the phone could enter")
                    break
                }
                guard let token = await fleet.token(c.examNumber), await fleet.isRegistered(id), !(await fleet.isSilenced(id)) else {
                    try? await Task.sleep(for: .milliseconds(250))
                    continue
                }
                report.attempts += 1
                do {
                    let request = EnterRequest(token: token, sitting: sitting.wire, channel: role == .main ? .main : .secondary, deviceId: id)
                    _ = try await limiter.run { try await self.mesh.call("timing", TimingAPI.enter, request) }
                    report.atMs = nowMs()
                    report.failure = nil
                    break
                } catch {
                    let f = failure(error)
                    report.failure = f
                    let retry = [RPCCode.failedPrecondition, .outOfRange, .unavailable, .deadlineExceeded].map(\.name).contains(f.code)
                    if !retry || reentry && report.attempts >= 3 { break }
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
            if report.failure != nil {
                logger.warning("entry failed", metadata: ["exam_number": "\(c.examNumber)", "channel": "\(role.rawValue)",
                                                          "error": "\(report.failure!.code)"])
            }
            await fleet.entryDone(c.examNumber, report)
        }
    }

    // MARK: The interview (R14, R17)

    /// "Show question" (展开试题) on the main phone (R14).
    func revealQuestion(_ exam: String, _ sitting: SittingChoice, endsAtMs: Int64) async {
        guard let c = await fleet.script(exam) else { return }
        let id = c.deviceID(.main)
        while await fleet.isSilenced(id), nowMs() < endsAtMs, !isStopping { try? await Task.sleep(for: .milliseconds(200)) }
        guard let token = await fleet.token(exam) else { return }
        do {
            _ = try await mesh.call("timing", TimingAPI.revealQuestion,
                                    CandidateInterviewRequest(token: token, sitting: sitting.wire, deviceId: id))
            let t = nowMs()
            await fleet.updateInterview(exam, sitting) { $0.questionRevealedAtMs = t }
        } catch {
            let f = failure(error)
            await fleet.updateInterview(exam, sitting) { $0.failures.append("reveal question: \(f.code): \(f.message)") }
        }
    }

    /// "End interview" (面试结束) while answering (R17).
    func endEarly(_ exam: String, _ sitting: SittingChoice) async {
        guard let c = await fleet.script(exam), let token = await fleet.token(exam) else { return }
        let t = nowMs()
        await fleet.updateInterview(exam, sitting) { $0.endRequestedAtMs = t }
        do {
            _ = try await mesh.call("timing", TimingAPI.endInterview,
                                    CandidateInterviewRequest(token: token, sitting: sitting.wire, deviceId: c.deviceID(.main)))
        } catch {
            let f = failure(error)
            await fleet.updateInterview(exam, sitting) { $0.failures.append("end interview: \(f.code): \(f.message)") }
        }
    }

    // MARK: Faults (R32-R35)

    func scheduleStartFaults(anchorMs: Int64) async {
        for c in scenario.candidates {
            for f in c.faults where f.anchor == .start && f.kind != .bannedVersion {
                await play(f, of: c, anchorMs: anchorMs)
            }
        }
    }

    func scheduleInterviewFaults(_ exam: String, anchorMs: Int64) async {
        guard let c = await fleet.script(exam) else { return }
        for f in c.faults where f.anchor == .interview && f.kind != .bannedVersion {
            await play(f, of: c, anchorMs: anchorMs)
        }
    }

    /// Plays one fault `at` seconds after the anchor, for `seconds`.
    func play(_ f: FaultScript, of c: CandidateScript, anchorMs: Int64) async {
        let exam = c.examNumber
        let index = await fleet.addFault(exam, FaultReport(kind: f.kind, roles: f.roles, anchor: f.anchor, at: f.at, seconds: f.seconds,
                                                            anchorAtMs: anchorMs))
        let ids = f.roles.map(c.deviceID)
        let startMs = anchorMs + Int64((f.at * 1000).rounded())
        let endOffset = Int64(((f.seconds ?? 0) * 1000).rounded())
        Task {
            await sleep(untilMs: startMs)
            guard !isStopping else { return }
            if f.silences {
                let before = await fleet.silence(ids)
                let started = nowMs()
                await fleet.updateFault(exam, index) { $0.startedAtMs = started; $0.lastHeartbeatBeforeMs = before }
                logger.info("fault started", metadata: ["exam_number": "\(exam)", "kind": "\(f.kind.rawValue)"])
                await sleep(untilMs: started + endOffset)
                guard !isStopping else { return }
                // The client reconnects by itself (R35): a heartbeat at once.
                await fleet.unsilence(ids)
                let ended = nowMs()
                let sent = await sendBeat(ids)
                let after = f.roles.compactMap { r in sent[c.deviceID(r)].map { RoleTime(role: r, atMs: $0) } }
                await fleet.updateFault(exam, index) { $0.endedAtMs = ended; $0.firstHeartbeatAfterMs = after }
                logger.info("fault ended", metadata: ["exam_number": "\(exam)", "kind": "\(f.kind.rawValue)"])
                if f.kind == .call { await rejoinAfterCall(c, index) }
            } else {
                let id = ids[0]
                let change: @Sendable (inout DeviceStatus) -> Void
                let undo: @Sendable (inout DeviceStatus) -> Void
                switch f.kind {
                case .speakerOn:
                    let volume = Int32(f.volume ?? 40)
                    change = { $0.speakerVolume = volume }
                    undo = { $0.speakerVolume = 0 }
                default:  // background (notice 5(2)4)
                    change = { $0.inForeground = false }
                    undo = { $0.inForeground = true }
                }
                await fleet.changeStatus(id, change)
                let sent = await sendBeat([id])
                let started = sent[id] ?? nowMs()
                await fleet.updateFault(exam, index) { r in
                    r.startedAtMs = started
                    if sent[id] == nil { r.notes.append("the phone had no signal: the change goes out with its next heartbeat") }
                }
                await sleep(untilMs: started + endOffset)
                guard !isStopping else { return }
                await fleet.changeStatus(id, undo)
                let after = await sendBeat([id])
                await fleet.updateFault(exam, index) { $0.endedAtMs = after[id] ?? nowMs() }
            }
        }
    }

    /// After a call the client comes back to the main room by itself while
    /// the countdown runs (R18, R35).
    func rejoinAfterCall(_ c: CandidateScript, _ index: Int) async {
        guard await fleet.hasEntered(c.examNumber, .formal), !(await fleet.formalEnded(c.examNumber)) else { return }
        await enter(c, .formal, closesMs: .max, reentry: true, roles: [.main])
        await fleet.updateFault(c.examNumber, index) { $0.notes.append("rejoined the main room after the call (R18)") }
    }

    func sleep(untilMs t: Int64) async {
        let wait = t - nowMs()
        if wait > 0 { try? await Task.sleep(for: .milliseconds(wait)) }
    }

    func failure(_ error: Error) -> CallFailure {
        if let e = error as? RPCError { return CallFailure(atMs: nowMs(), code: e.code.name, message: e.message) }
        return CallFailure(atMs: nowMs(), code: "UNKNOWN", message: "\(error)")
    }
}

extension Fleet {
    func setReady(_ t: Int64) { readyAtMs = t }

    /// Candidates logged in, phones registered.
    func readiness() -> (Int, Int) { (candidates.values.filter { $0.token != nil }.count, registeredCount) }
}

extension SittingChoice {
    init?(_ wire: SittingKind) {
        switch wire {
        case .mock: self = .mock
        case .formal: self = .formal
        case .unspecified: return nil
        }
    }

    var wire: SittingKind { self == .mock ? .mock : .formal }
}
