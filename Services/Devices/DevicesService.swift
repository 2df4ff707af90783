// devices: the two phones of every candidate, their status and signal,
// device rules and ground 9 (R30-R35). The thin shell around DevicesCore: it
// checks candidate tokens with roster on registration, gives each phone a
// device key for its heartbeats, keeps heartbeats in memory (only changes
// are stored), runs signal-loss detection on the engine's timer, follows
// roster (who takes part) and timing (formal interviews), and publishes the
// core's events.
import ArgumentParser
import Bus
import DevicesCore
import ExamContracts
import ExamPlan
import Foundation
import ServiceKit
import Store

@main
struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "devices",
                                                    abstract: "The devices service: phones, rules, signal, ground 9 (R30-R35).")

    @OptionGroup var host: HostOptions

    @Option(help: "Devices configuration (JSON: loss_timeout_seconds, long_outage_seconds, max_interruptions, outage_history_limit, rules). Defaults: 10 s, 30 s, 3, the notice's rules.")
    var config: String?

    func run() async throws {
        ExamLogHandler.bootstrap(level: host.level, format: host.format)
        let fresh = try loadServiceConfiguration(config, what: "devices configuration", defaults: DevicesConfig()) { $0.problems() }
        let service = try ServiceHost<DevicesShellState>(name: "devices", options: host) { store in
            try DevicesDocuments.load(store, config: fresh)
        }
        DevicesShell.wire(service)
        try await service.run()
    }
}

struct DevicesShellState: Sendable {
    var core: DevicesState
    /// Signs device keys: a phone proves it is the one that registered.
    var keys: DeviceKeys
    var heartbeats: Int64 = 0
}

struct DevicesMeta: Codable {
    var keySecret: [UInt8]
}

enum DevicesDocuments {
    static func load(_ store: ServiceStore, config: DevicesConfig) throws -> DevicesShellState {
        var core = try DevicesState(
            config: config,
            candidates: Dictionary(uniqueKeysWithValues: try store.documents(DevicesCore.CandidateRecord.self, kind: "candidate").map { ($0.key, $0.value) }),
            devices: Dictionary(uniqueKeysWithValues: try store.documents(DeviceRecord.self, kind: "device").map { ($0.key, $0.value) }),
            interviews: Dictionary(uniqueKeysWithValues: try store.documents(InterviewWatch.self, kind: "interview").map { ($0.key, $0.value) }))
        // A restart is not an outage (issue 5): every phone gets a fresh grace period.
        core.resumed(at: Date())
        var secret = try store.document(DevicesMeta.self, kind: "meta", key: "current")?.keySecret ?? []
        if secret.isEmpty {
            var g = SystemRandomNumberGenerator()
            secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
        }
        return DevicesShellState(core: core, keys: DeviceKeys(secret: secret))
    }

    /// Stages what the core changed and publishes its events.
    static func record(_ events: [DevicesEvent], _ s: inout DevicesShellState, _ tx: inout Transaction) throws {
        let changes = s.core.takeChanges()
        for k in changes.candidates { if let v = s.core.candidates[k] { tx.put(v, kind: "candidate", key: k) } }
        for k in changes.devices { if let v = s.core.devices[k] { tx.put(v, kind: "device", key: k) } }
        for k in changes.interviews { if let v = s.core.interviews[k] { tx.put(v, kind: "interview", key: k) } }
        for e in events { try tx.publish(e.topic, DevicesWire.payload(e)) }
    }
}

enum DevicesShell {
    static func wire(_ service: ServiceHost<DevicesShellState>) {
        service.atStart { state, tx in
            tx.put(DevicesMeta(keySecret: state.keys.secret), kind: "meta", key: "current")
            try DevicesDocuments.record(state.core.tick(now: tx.now), &state, &tx)
        }
        service.engine.wake(at: { $0.core.nextDeadline() }) { state, tx in
            try DevicesDocuments.record(state.core.tick(now: tx.now), &state, &tx)
        }

        // Registration: the candidate's token, checked by roster (R30).
        service.server.serveDeferred(DevicesAPI.registerDevice) { req, info, responder in
            Task {
                let exam: String
                do {
                    exam = try await authenticate(service, req.token)
                } catch {
                    responder.fail(error)
                    return
                }
                service.engine.submit(responder, info) { state, tx in
                    guard let status = req.status else { throw RPCError.invalidArgument("status: the phone's status is required") }
                    let role = try DevicesWire.role(req.role)
                    let deviceID = try required(req.deviceId, "device_id")
                    let events = try op {
                        try state.core.register(examNumber: exam, role: role, deviceID: deviceID, account: req.account,
                                                status: try DevicesWire.status(status), now: tx.now)
                    }
                    try DevicesDocuments.record(events, &state, &tx)
                    return RegisterReply(deviceKey: state.keys.key(for: deviceID),
                                         devices: DevicesWire.candidate(try op { try state.core.candidateDevices(exam) }))
                }
            }
        }

        service.serve(DevicesAPI.heartbeat) { req, _, state, tx in
            try heartbeat(req, &state, &tx)
            let f = state.core.fitness(try op { try state.core.device(req.deviceId) }.registration.examNumber)
            return HeartbeatReply(brokenRules: f.reasons, fit: f.fit, serverTimeMs: tx.nowMs)
        }

        service.serve(DevicesAPI.heartbeatBatch) { req, _, state, tx in
            var refused: [HeartbeatOutcome] = []
            for h in req.heartbeats {
                do {
                    try heartbeat(h, &state, &tx)
                } catch let e as RPCError {
                    refused.append(HeartbeatOutcome(deviceId: h.deviceId, code: e.code, message: e.message))
                }
            }
            return HeartbeatBatchReply(accepted: UInt32(req.heartbeats.count - refused.count), refused: refused, serverTimeMs: tx.nowMs)
        }

        service.serve(DevicesAPI.fitness) { req, _, state, _ in
            let f = state.core.fitness(req.examNumber)
            return FitnessView(examNumber: f.examNumber, fit: f.fit, reasons: f.reasons + f.warnings.map { "warning: \($0)" })
        }
        service.serve(DevicesAPI.getCandidateDevices) { req, _, state, _ in
            DevicesWire.candidate(try op { try state.core.candidateDevices(req.examNumber) })
        }
        service.serve(DevicesAPI.listOutages) { req, _, state, _ in
            OutagesView(examNumber: req.examNumber, outages: try op { try state.core.outages(of: req.examNumber) }.map(DevicesWire.outage))
        }
        service.serve(DevicesAPI.fleetCounts) { _, _, state, _ in
            let c = state.core.fleetCounts()
            return FleetCountsView(candidates: UInt32(c.candidates), devices: UInt32(c.registeredDevices), connected: UInt32(c.connected),
                                   lost: UInt32(c.lost), blocked: UInt32(c.blockedDevices), fitCandidates: UInt32(c.fitCandidates),
                                   heartbeats: state.heartbeats)
        }

        // Which phone this is (recordings, issue 14): the key proves it.
        service.serve(DevicesAPI.verifyDevice) { req, info, state, _ in
            guard info.principal.role == .service else {
                throw RPCError.permissionDenied("VerifyDevice is for services; \(info.principal.id.isEmpty ? "an anonymous caller" : info.principal.id) may not")
            }
            let deviceID = try required(req.deviceId, "device_id")
            guard state.keys.verify(req.deviceKey, deviceID: deviceID) else {
                throw RPCError.unauthenticated("device \(deviceID): wrong device key (use the key RegisterDevice returned)")
            }
            guard let d = state.core.devices[deviceID] else { throw RPCError.notFound("device \(deviceID) is not registered") }
            if let other = d.replacedBy {
                throw RPCError.permissionDenied("device \(deviceID) was replaced by \(other) as \(d.registration.examNumber)'s phone")
            }
            return VerifiedDevice(deviceId: deviceID, examNumber: d.registration.examNumber, role: DevicesWire.role(d.registration.role))
        }

        // Who takes part (roster) and when the formal interview runs (timing).
        service.follow("roster", prefixes: ["roster.candidate."]) { event, state, tx in
            let c = try event.decode(CandidateEvent.self)
            let because: String = switch c.status {
            case .declined: "declined the interview, giving up the post (R6)"
            case .forfeited: "forfeited the interview: not confirmed within the window (R5, R6)"
            default: "has not confirmed attendance yet (R3): phones are registered once confirmed"
            }
            let events = try op { try state.core.applyCandidate(examNumber: c.examNumber, eligible: c.status == .confirmed, because: because) }
            try DevicesDocuments.record(events, &state, &tx)
        }
        service.follow("timing", prefixes: ["timing.interview.started", "timing.interview.ended"]) { event, state, tx in
            let i = try event.decode(InterviewEvent.self)
            let sitting = try Sitting(wire: i.sitting)
            let at = Date(unixMs: i.atMs)
            let events = try op {
                event.topic == "timing.interview.started"
                    ? try state.core.applyInterview(examNumber: i.examNumber, sitting: sitting, started: at)
                    : try state.core.applyInterview(examNumber: i.examNumber, sitting: sitting, ended: at)
            }
            try DevicesDocuments.record(events, &state, &tx)
        }
    }

    /// One heartbeat (R31): its key checked, then the core (O(1), no store
    /// write unless something changed).
    static func heartbeat(_ h: HeartbeatRequest, _ state: inout DevicesShellState, _ tx: inout Transaction) throws {
        guard let status = h.status else { throw RPCError.invalidArgument("heartbeat of \(h.deviceId): status is required") }
        guard !h.deviceId.isEmpty else { throw RPCError.invalidArgument("heartbeat: device_id is required") }
        guard state.keys.verify(h.deviceKey, deviceID: h.deviceId) else {
            throw RPCError.unauthenticated("heartbeat of \(h.deviceId): wrong device key (use the key RegisterDevice returned)")
        }
        let events = try op { try state.core.heartbeat(deviceID: h.deviceId, status: try DevicesWire.status(status), now: tx.now) }
        state.heartbeats += 1
        if !events.isEmpty { try DevicesDocuments.record(events, &state, &tx) }
    }

    static func authenticate(_ service: ServiceHost<DevicesShellState>, _ token: String) async throws -> String {
        guard !token.isEmpty else { throw RPCError.unauthenticated("token is required: log in with roster first") }
        do {
            return try await service.client(for: "roster").call(RosterAPI.authenticate, TokenRequest(token: token), timeout: .seconds(3)).examNumber
        } catch let e as RPCError where e.code == .unauthenticated || e.code == .invalidArgument || e.code == .notFound {
            throw RPCError.unauthenticated(e.message)
        } catch {
            throw RPCError.unavailable("cannot check the token with roster: \(error)")
        }
    }

    static func required(_ s: String, _ field: String) throws -> String {
        guard !s.isEmpty else { throw RPCError.invalidArgument("\(field) is required") }
        return s
    }

    static func op<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as DevicesError { throw RPCError(coreCode: e.code.rawValue, message: e.message) }
    }
}
