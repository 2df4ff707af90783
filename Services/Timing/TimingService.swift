// timing: the exam plan, entry windows, rooms, screening, the draw and the
// never-pausing 5+5 countdown (R10-R22). The thin shell around TimingCore:
// it loads the plan once and stores it, authenticates candidates through
// roster, follows roster (confirmations), discipline (disqualifications)
// and devices (fitness), runs the core's timer on the engine thread, stores
// what changed and publishes the core's events.
import ArgumentParser
import Bus
import ExamContracts
import ExamPlan
import Foundation
import Logging
import ServiceKit
import Store
import TimingCore

@main
struct TimingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "timing",
                                                    abstract: "The timing service: plan, entry, rooms, countdowns (R10-R22).")

    @OptionGroup var host: HostOptions

    @Option(help: "The exam plan (JSON; Beijing times, or +90s relative to the first start). Read at the first start only; the store keeps it.")
    var plan: String?

    @Flag(help: "Replace the stored plan with --plan (only before confirmation opens).")
    var replacePlan = false

    func run() async throws {
        ExamLogHandler.bootstrap(level: host.level, format: host.format)
        let planPath = plan, replace = replacePlan
        let service = try ServiceHost<TimingShellState>(name: "timing", options: host) { store in
            try TimingDocuments.load(store, planPath: planPath, replace: replace)
        }
        TimingShell.wire(service)
        try await service.run()
    }
}

/// The core's state plus what the shell keeps beside it.
struct TimingShellState: Sendable {
    var core: TimingState
    /// When the plan was first loaded (relative demo times count from it).
    var loadedAt: Date
    /// A fresh plan still to be stored and published (first start).
    var unpublished: Bool
}

struct StoredPlan: Codable {
    var plan: ExamPlan
    var loadedAt: Date
}

/// The state as documents: the plan, and one document per candidate, per
/// candidate-and-sitting, per room-and-sitting and per entry window.
enum TimingDocuments {
    static func load(_ store: ServiceStore, planPath: String?, replace: Bool) throws -> TimingShellState {
        let now = Date()
        if let stored = try store.document(StoredPlan.self, kind: "plan", key: "current") {
            if let planPath {
                let file = try readPlanFile(planPath)
                if file.isRelative {
                    // Relative times resolve anew on each read: the stored
                    // resolution (from the first start) is the plan.
                } else {
                    let fresh = try resolve(file, planPath, anchor: stored.loadedAt)
                    if fresh != stored.plan {
                        guard replace else {
                            throw ConfigError("\(planPath) differs from the plan timing stored at \(BeijingTime.short(stored.loadedAt)); start with --replace-plan to replace it (only before confirmation opens)")
                        }
                        guard now < stored.plan.confirmation.opens else {
                            throw ConfigError("the plan cannot be replaced: confirmation opened at \(BeijingTime.short(stored.plan.confirmation.opens))")
                        }
                        return TimingShellState(core: try core(fresh), loadedAt: now, unpublished: true)
                    }
                }
            }
            let core = TimingState(
                plan: stored.plan,
                candidates: Dictionary(uniqueKeysWithValues: try store.documents(CandidateRecord.self, kind: "candidate").map { ($0.key, $0.value) }),
                candidateSittings: Dictionary(uniqueKeysWithValues: try store.documents(CandidateSitting.self, kind: "sitting").map { ($0.key, $0.value) }),
                rooms: Dictionary(uniqueKeysWithValues: try store.documents(RoomSitting.self, kind: "room").map { ($0.key, $0.value) }),
                entries: Dictionary(uniqueKeysWithValues: try store.documents(EntryWindowState.self, kind: "entry").map { ($0.key, $0.value) }))
            return TimingShellState(core: core, loadedAt: stored.loadedAt, unpublished: false)
        }
        guard let planPath else {
            throw ConfigError("timing has no plan yet: start it with --plan FILE (compose/plans/notice-2022.json is the notice's)")
        }
        let plan = try resolve(try readPlanFile(planPath), planPath, anchor: now)
        return TimingShellState(core: try core(plan), loadedAt: now, unpublished: true)
    }

    static func readPlanFile(_ path: String) throws -> PlanFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigError("plan \(path) cannot be read") }
        do { return try JSONDecoder().decode(PlanFile.self, from: data) } catch {
            throw ConfigError("plan \(path) is not valid: \(describeJSONError(error))")
        }
    }

    static func resolve(_ file: PlanFile, _ path: String, anchor: Date) throws -> ExamPlan {
        do { return try file.resolve(anchor: anchor) } catch let e as PlanError {
            throw ConfigError("plan \(path) is refused: \(e.description)")
        }
    }

    static func core(_ plan: ExamPlan) throws -> TimingState {
        do { return try TimingState(plan: plan) } catch let e as TimingError { throw ConfigError(e.message) }
    }

    /// Stages exactly the documents the core wrote since the last staging
    /// (the core tracks them: no diff of the whole state, no copy of it).
    static func stage(_ core: inout TimingState, _ tx: inout Transaction) {
        let c = core.takeChanges()
        for k in c.candidates { if let v = core.candidates[k] { tx.put(v, kind: "candidate", key: k) } else { tx.delete(kind: "candidate", key: k) } }
        for k in c.candidateSittings { if let v = core.candidateSittings[k] { tx.put(v, kind: "sitting", key: k) } else { tx.delete(kind: "sitting", key: k) } }
        for k in c.rooms { if let v = core.rooms[k] { tx.put(v, kind: "room", key: k) } else { tx.delete(kind: "room", key: k) } }
        for k in c.entries { if let v = core.entries[k] { tx.put(v, kind: "entry", key: k) } else { tx.delete(kind: "entry", key: k) } }
    }

    /// Stores everything (a fresh plan's first state), the plan included:
    /// the one time the plan is written.
    static func stageAll(_ s: inout TimingShellState, _ tx: inout Transaction) {
        tx.put(StoredPlan(plan: s.core.plan, loadedAt: s.loadedAt), kind: "plan", key: "current")
        for (k, v) in s.core.candidates { tx.put(v, kind: "candidate", key: k) }
        for (k, v) in s.core.candidateSittings { tx.put(v, kind: "sitting", key: k) }
        for (k, v) in s.core.rooms { tx.put(v, kind: "room", key: k) }
        for (k, v) in s.core.entries { tx.put(v, kind: "entry", key: k) }
        _ = s.core.takeChanges()
    }
}

enum TimingShell {
    static let staff: Set<ActorRole> = [.proctor, .chiefExaminer, .examiner, .ops]

    /// An operation: it may change the core (adding the core's events) and
    /// returns the reply.
    typealias Operation<Who, Resp> = @Sendable (_ who: Who, _ core: inout TimingState, _ events: inout [TimingEvent], _ now: Date) throws -> Resp

    static func wire(_ service: ServiceHost<TimingShellState>) {
        // First start: store the plan and publish it (R10: every service
        // reads the plan from this event).
        service.atStart { state, tx in
            if state.unpublished {
                try tx.publish("timing.plan.published", state.core.plan.info(loadedAt: state.loadedAt))
                TimingDocuments.stageAll(&state, &tx)
                state.unpublished = false
            }
            // Catch up with what the clock did while timing was down (R22).
            _ = try run(&state, &tx, ()) { _, _, _, _ in () }
        }
        service.engine.wake(at: { $0.core.nextDeadline() }) { state, tx in
            _ = try run(&state, &tx, ()) { _, _, _, _ in () }
        }

        service.serve(TimingAPI.getPlan) { _, _, state, _ in state.core.plan.info(loadedAt: state.loadedAt) }

        // Candidates: the phone's token, checked by roster.
        candidate(service, TimingAPI.enter, token: \.token) { req, who, core, events, now in
            let sitting = try Sitting(wire: req.sitting)
            events += try op { try core.enter(examNumber: who, sitting: sitting, channel: try channel(req.channel),
                                              deviceID: try required(req.deviceId, "device_id"), now: now) }
            return try TimingWire.candidate(core, who, sitting, now)
        }
        candidate(service, TimingAPI.leave, token: \.token) { req, who, core, events, now in
            let sitting = try Sitting(wire: req.sitting)
            events += try op { try core.leave(examNumber: who, sitting: sitting, channel: try channel(req.channel),
                                              deviceID: req.deviceId.isEmpty ? nil : req.deviceId, now: now) }
            return try TimingWire.candidate(core, who, sitting, now)
        }
        candidate(service, TimingAPI.revealQuestion, token: \.token) { req, who, core, events, now in
            let sitting = req.sitting == .unspecified ? nil : try Sitting(wire: req.sitting)
            events += try op { try core.revealQuestion(examNumber: who, sitting: sitting,
                                                       deviceID: try required(req.deviceId, "device_id"), now: now) }
            return try TimingWire.interview(core, who, sitting ?? runningSitting(core, who), now)
        }
        candidate(service, TimingAPI.endInterview, token: \.token) { req, who, core, events, now in
            let sitting = req.sitting == .unspecified ? nil : try Sitting(wire: req.sitting)
            let running = sitting ?? runningSitting(core, who)
            events += try op { try core.endInterview(examNumber: who, sitting: sitting,
                                                     deviceID: try required(req.deviceId, "device_id"), now: now) }
            return try TimingWire.interview(core, who, running, now)
        }

        // Staff (the core checks they are the room's proctors or panel).
        staffCall(service, TimingAPI.recordScreening) { req, proctor, core, events, now in
            let sitting = try Sitting(wire: req.sitting)
            let checks = try req.checklist.map { r in
                ScreeningCheck(try TimingWire.item(r.item), passed: r.passed, note: r.note.isEmpty ? nil : r.note)
            }
            events += try op { try core.recordScreening(examNumber: req.examNumber, sitting: sitting, identityConfirmed: req.identityConfirmed,
                                                        checks: checks.isEmpty ? ScreeningCheck.allPassed : checks,
                                                        proctor: proctor, now: now) }
            return try TimingWire.candidate(core, req.examNumber, sitting, now)
        }
        staffCall(service, TimingAPI.draw) { req, proctor, core, events, now in
            let sitting = try Sitting(wire: req.sitting)
            let seed = req.seed == 0 ? UInt64.random(in: 1...UInt64.max) : req.seed
            events += try op { try core.drawOrder(roomID: req.roomId, sitting: sitting, seed: seed, proctor: proctor, now: now) }
            return try TimingWire.room(core, req.roomId, sitting, now)
        }
        staffCall(service, TimingAPI.startInterview) { req, proctor, core, events, now in
            let sitting = try Sitting(wire: req.sitting)
            var examNumber = req.examNumber
            if examNumber.isEmpty {
                let room = try op { try core.roomView(roomID: req.roomId, sitting: sitting, now: now) }
                guard let next = room.next else {
                    throw RPCError.failedPrecondition("room \(req.roomId) has nobody ready to call (in the main room, screened, eligible, not yet interviewed)")
                }
                examNumber = next
            }
            events += try op { try core.startInterview(roomID: req.roomId, sitting: sitting, examNumber: examNumber,
                                                       proctor: proctor, now: now) }
            return try TimingWire.interview(core, examNumber, sitting, now)
        }
        staffCall(service, TimingAPI.announceAnswering) { req, proctor, core, events, now in
            let sitting = req.sitting == .unspecified ? nil : try Sitting(wire: req.sitting)
            let running = sitting ?? runningSitting(core, req.examNumber)
            events += try op { try core.announceAnswering(examNumber: req.examNumber, sitting: sitting, proctor: proctor, now: now) }
            return try TimingWire.interview(core, req.examNumber, running, now)
        }
        staffCall(service, TimingAPI.endRoom) { req, proctor, core, events, now in
            let sitting = try Sitting(wire: req.sitting)
            events += try op { try core.endRoom(roomID: req.roomId, sitting: sitting, proctor: proctor, now: now) }
            return try TimingWire.room(core, req.roomId, sitting, now)
        }

        // Queries (anyone): computed at the server's now (R15: the remaining
        // time is never paused).
        service.serve(TimingAPI.getRoom) { req, _, state, tx in
            try TimingWire.room(state.core, req.roomId, try Sitting(wire: req.sitting), tx.now)
        }
        service.serve(TimingAPI.getInterview) { req, _, state, tx in
            try TimingWire.interview(state.core, req.examNumber, try Sitting(wire: req.sitting), tx.now)
        }
        service.serve(TimingAPI.getCandidateState) { req, _, state, tx in
            try TimingWire.candidate(state.core, req.examNumber, try Sitting(wire: req.sitting), tx.now)
        }

        follow(service)
    }

    /// Who may enter, learned from the others' events (not their stores).
    static func follow(_ service: ServiceHost<TimingShellState>) {
        let logger = service.logger
        service.follow("roster", prefixes: ["roster.candidate."]) { event, state, tx in
            let c = try event.decode(CandidateEvent.self)
            let status: RosterStatus
            switch c.status {
            case .confirmed: status = .confirmed
            case .declined: status = .declined
            case .forfeited: status = .forfeited
            default: status = .pending
            }
            try applyFollowed(&state, &tx, logger) { core, now in
                try core.applyRoster(examNumber: c.examNumber, status: status, sourceSeq: event.seq, now: now)
            }
        }
        service.follow("discipline", prefixes: ["discipline.incident.decided", "discipline.decision.reversed"]) { event, state, tx in
            let d = try event.decode(DecisionEvent.self)
            guard let decision = d.decision else { return }
            try applyFollowed(&state, &tx, logger) { core, now in
                switch d.effect {
                case .qualificationCancelled, .scoreVoided:
                    return try core.applyDisqualification(examNumber: d.examNumber, incidentID: decision.incidentId,
                                                          sourceSeq: event.seq, now: now)
                case .restored:
                    return try core.applyReinstatement(examNumber: d.examNumber, incidentID: decision.incidentId,
                                                       sourceSeq: event.seq, now: now)
                case .none:
                    return []
                }
            }
        }
        service.follow("devices", prefixes: ["devices.fitness.changed"]) { event, state, tx in
            let f = try event.decode(FitnessEvent.self)
            try applyFollowed(&state, &tx, logger) { core, now in
                try core.applyDeviceFitness(examNumber: f.examNumber, channel: nil, fit: f.fit, reasons: f.reasons,
                                            sourceSeq: event.seq, now: now)
            }
        }
    }

    // MARK: Plumbing

    /// Fires what the clock made due (the core wants its timers fired before
    /// any operation, with the same `now`), then runs `operation`; stages
    /// what changed and publishes every event in order, also when the
    /// operation is refused (what the timers did stands). Nothing here keeps
    /// a copy of the state: a copy would make the core's first write to each
    /// of its maps copy the whole map (O(roster) per call).
    static func run<Who, Resp>(_ state: inout TimingShellState, _ tx: inout Transaction, _ who: Who,
                               _ operation: Operation<Who, Resp>) throws -> Resp {
        var events = state.core.tick(now: tx.now, seed: UInt64.random(in: 0...UInt64.max))
        let result = Result { try operation(who, &state.core, &events, tx.now) }
        TimingDocuments.stage(&state.core, &tx)
        for e in events { try tx.publish(e.topic, TimingWire.payload(e)) }
        return try result.get()
    }

    static func applyFollowed(_ state: inout TimingShellState, _ tx: inout Transaction, _ logger: Logger,
                              _ body: @escaping @Sendable (inout TimingState, Date) throws -> [TimingEvent]) throws {
        do {
            _ = try run(&state, &tx, ()) { _, core, events, now in events += try body(&core, now) }
        } catch let e as TimingError where e.code == .notFound {
            // A candidate the plan does not seat: nothing for timing to do.
            logger.debug("followed event about someone the plan does not seat", metadata: ["error": "\(e.message)"])
        }
    }

    /// The core's refusal as the bus's error.
    static func op<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as TimingError { throw RPCError(coreCode: e.code.rawValue, message: e.message) }
    }

    static func required(_ s: String, _ field: String) throws -> String {
        guard !s.isEmpty else { throw RPCError.invalidArgument("\(field) is required") }
        return s
    }

    static func channel(_ c: Channel) throws -> EntryChannel {
        switch c {
        case .main: .main
        case .secondary: .secondary
        case .unspecified: throw RPCError.invalidArgument("channel: say CHANNEL_MAIN (主房间) or CHANNEL_SECONDARY (副房间)")
        }
    }

    static func runningSitting(_ core: TimingState, _ examNumber: String) -> Sitting {
        for s in [Sitting.formal, .mock] {
            if let i = core.candidateSittings[TimingState.key(s, examNumber)]?.interview, i.endedAt == nil { return s }
        }
        for s in [Sitting.formal, .mock] where core.candidateSittings[TimingState.key(s, examNumber)]?.interview != nil { return s }
        return .formal
    }

    /// A staff call: the role is checked here, the room's staff by the core.
    static func staffCall<Req: ProtoMessage, Resp: ProtoMessage>(_ service: ServiceHost<TimingShellState>, _ method: RPCMethod<Req, Resp>,
                                                                 _ operation: @escaping @Sendable (Req, String, inout TimingState, inout [TimingEvent], Date) throws -> Resp) {
        service.serveResult(method) { req, info, state, tx in
            Result {
                try info.require(staff, to: method.name)
                return try run(&state, &tx, info.principal.id) { proctor, core, events, now in
                    try operation(req, proctor, &core, &events, now)
                }
            }
        }
    }

    /// A candidate call: the token is checked with roster first (off the
    /// engine thread), then the core runs for the exam number it belongs to.
    static func candidate<Req: ProtoMessage, Resp: ProtoMessage>(_ service: ServiceHost<TimingShellState>, _ method: RPCMethod<Req, Resp>,
                                                                 token: KeyPath<Req, String> & Sendable,
                                                                 _ operation: @escaping @Sendable (Req, String, inout TimingState, inout [TimingEvent], Date) throws -> Resp) {
        service.server.serveDeferred(method) { req, info, responder in
            Task {
                let who: String
                do {
                    who = try await authenticate(service, req[keyPath: token])
                } catch {
                    responder.fail(error)
                    return
                }
                service.engine.submitResult(responder, info) { state, tx in
                    Result {
                        try run(&state, &tx, who) { who, core, events, now in try operation(req, who, &core, &events, now) }
                    }
                }
            }
        }
    }

    static func authenticate(_ service: ServiceHost<TimingShellState>, _ token: String) async throws -> String {
        guard !token.isEmpty else { throw RPCError.unauthenticated("token is required: log in with roster first") }
        do {
            return try await service.client(for: "roster").call(RosterAPI.authenticate, TokenRequest(token: token),
                                                                 timeout: .seconds(3)).examNumber
        } catch let e as RPCError where e.code == .unauthenticated || e.code == .invalidArgument || e.code == .notFound {
            throw RPCError.unauthenticated(e.message)
        } catch {
            throw RPCError.unavailable("cannot check the token with roster: \(error)")
        }
    }
}
