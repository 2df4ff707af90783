// discipline: the ten grounds, incidents, decisions, the append-only log
// (R40-R43). The thin shell around DisciplineCore: it feeds requests and the
// events it follows (roster's candidates, timing's plan, interviews and
// failed screenings, devices' ground 9 and broken rules) into the core,
// stores what changed, and publishes the core's events.
import ArgumentParser
import Bus
import DisciplineCore
import ExamContracts
import ExamPlan
import Foundation
import ServiceKit
import Store

@main
struct DisciplineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "discipline",
                                                    abstract: "The discipline service: incidents and decisions (R40-R43).")

    @OptionGroup var host: HostOptions

    @Flag(help: "Ground-9 incidents (signal loss) disqualify at once, decided by the system (R42).")
    var autoDecideGround9 = false

    @Flag(help: "A failed identity/room screening disqualifies at once, decided by the system.")
    var autoDecideScreening = false

    @Flag(help: "Any chief examiner may decide, not only the one on the candidate's room panel.")
    var chiefAnyRoom = false

    func run() async throws {
        ExamLogHandler.bootstrap(level: host.level, format: host.format)
        let config = DisciplineConfig(autoDecideGround9: autoDecideGround9, autoDecideScreening: autoDecideScreening,
                                      chiefMustSitOnCandidatePanel: !chiefAnyRoom)
        let service = try ServiceHost<DisciplineState>(name: "discipline", options: host) { store in
            try DisciplineDocuments.load(store, config: config)
        }
        DisciplineShell.wire(service)
        try await service.run()
    }
}

/// How the state is kept: one JSON document per entity (R43: incidents and
/// decisions are only ever added).
enum DisciplineDocuments {
    static func load(_ store: ServiceStore, config: DisciplineConfig) throws -> DisciplineState {
        let plan = try store.document(ExamPlan.self, kind: "plan", key: "current")
        do {
            return try DisciplineState(
                restoring: config, plan: plan,
                candidates: try store.documents(DisciplineCore.Candidate.self, kind: "candidate").map(\.value),
                interviews: try store.documents(InterviewRecord.self, kind: "interview").map(\.value),
                incidents: try store.documents(Incident.self, kind: "incident").map(\.value),
                decisions: try store.documents(Decision.self, kind: "decision").map(\.value))
        } catch let e as DisciplineError {
            throw ConfigError("the discipline store \(store.path) does not hold together: \(e.message)")
        }
    }

    /// Stages the entities `events` touched, and publishes the events.
    static func record(_ events: [DisciplineEvent], _ state: DisciplineState, _ tx: inout Transaction) throws {
        for e in events {
            switch e {
            case .incidentReported(let incident):
                tx.put(incident, kind: "incident", key: incident.id)
                try tx.publish(e.topic, IncidentEvent(incident: DisciplineWire.view(incident, state)))
            case .incidentDecided(let decision, let standing), .decisionReversed(let decision, _, let standing):
                tx.put(decision, kind: "decision", key: decision.id)
                try tx.publish(e.topic, DecisionEvent(decision: DisciplineWire.view(decision, standing: standing.standing),
                                                      examNumber: decision.examNumber, effect: DisciplineWire.effect(decision.effect),
                                                      standing: DisciplineWire.standing(standing.standing), atMs: decision.decidedAt.unixMs))
            }
        }
    }
}

enum DisciplineShell {
    static func wire(_ service: ServiceHost<DisciplineState>) {
        let staff: Set<ActorRole> = [.proctor, .examiner, .chiefExaminer, .ops]

        service.serve(DisciplineAPI.grounds) { _, _, _, _ in
            GroundsReply(grounds: Ground.allCases.map(DisciplineWire.ground))
        }

        service.serve(DisciplineAPI.report) { req, info, state, tx in
            let report = StaffReport(examNumber: req.examNumber, ground: Int(req.ground), evidence: req.evidence,
                                     references: req.references, occurredAt: optionalDate(req.occurredAtMs),
                                     sitting: DisciplineWire.sitting(req.sitting),
                                     requestID: req.requestId.isEmpty ? nil : req.requestId)
            let result = try core { try state.report(report, by: DisciplineWire.principal(info), now: tx.now) }
            try DisciplineDocuments.record(result.events, state, &tx)
            var view = DisciplineWire.view(result.incident, state)
            view.duplicate = result.duplicate
            return view
        }

        service.serve(DisciplineAPI.decide) { req, info, state, tx in
            let outcome: Outcome
            switch req.outcome {
            case .disqualify: outcome = .disqualify
            case .dismiss: outcome = .dismiss
            case .unspecified: throw RPCError.invalidArgument("outcome: say DECISION_OUTCOME_DISQUALIFY or DECISION_OUTCOME_DISMISS")
            }
            let result = try core {
                try state.decide(incidentID: req.incidentId, outcome: outcome, reason: req.reason,
                                 by: DisciplineWire.principal(info), now: tx.now)
            }
            try DisciplineDocuments.record(result.events, state, &tx)
            return DisciplineWire.view(result.decision, standing: result.standing.standing)
        }

        service.serve(DisciplineAPI.reverse) { req, info, state, tx in
            let result = try core {
                try state.reverse(decisionID: req.decisionId, reason: req.reason, by: DisciplineWire.principal(info), now: tx.now)
            }
            try DisciplineDocuments.record(result.events, state, &tx)
            return DisciplineWire.view(result.decision, standing: result.standing.standing)
        }

        service.serve(DisciplineAPI.listIncidents) { req, _, state, _ in
            var status: StatusFilter?
            if !req.status.isEmpty {
                guard let s = StatusFilter(rawValue: req.status) else {
                    throw RPCError.invalidArgument("status: '\(req.status)' is not one of \(StatusFilter.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                status = s
            }
            let query = IncidentQuery(examNumber: req.examNumber.isEmpty ? nil : req.examNumber,
                                      ground: req.ground == 0 ? nil : Int(req.ground), status: status)
            let records = try core { try state.incidents(matching: query) }
            return IncidentList(incidents: records.map { DisciplineWire.view($0) })
        }

        service.serve(DisciplineAPI.getIncident) { req, _, state, _ in
            DisciplineWire.view(try core { try state.incidentRecord(req.incidentId) })
        }

        service.serve(DisciplineAPI.standing) { req, _, state, _ in
            let s = try core { try state.standing(of: req.examNumber) }
            return StandingView(examNumber: s.examNumber, standing: DisciplineWire.standing(s.standing),
                                activeDisqualifications: s.activeDisqualifications)
        }

        service.serve(DisciplineAPI.exportLog) { _, info, state, _ in
            try info.require(staff, to: "exporting the discipline log")
            return ExportLogReply(csv: state.exportCSVData(), entries: UInt32(state.log.count))
        }

        follow(service)
    }

    /// What discipline learns from the others (R41: incidents from services).
    static func follow(_ service: ServiceHost<DisciplineState>) {
        service.follow("roster", prefixes: ["roster.candidate."]) { event, state, tx in
            let c = try event.decode(CandidateEvent.self)
            if try core({ try state.applyCandidate(examNumber: c.examNumber, name: c.name, postCode: c.postCode) }),
               let stored = state.candidates[c.examNumber] {
                tx.put(stored, kind: "candidate", key: c.examNumber)
            }
        }

        service.follow("timing", prefixes: ["timing.plan.published", "timing.interview.started", "timing.interview.ended",
                                            "timing.screening.failed"]) { event, state, tx in
            switch event.topic {
            case "timing.plan.published":
                let plan = try ExamPlan(info: try event.decode(ExamPlanInfo.self))
                if try core({ try state.applyPlan(plan) }) { tx.put(plan, kind: "plan", key: "current") }
            case "timing.interview.started", "timing.interview.ended":
                let i = try event.decode(InterviewEvent.self)
                let sitting = try Sitting(wire: i.sitting)
                let started = event.topic == "timing.interview.started"
                if try core({
                    try state.applyInterview(examNumber: i.examNumber, sitting: sitting,
                                             startedAt: started ? Date(unixMs: i.atMs) : nil,
                                             endedAt: started ? nil : Date(unixMs: i.atMs))
                }), let stored = state.interviews[InterviewRecord.key(i.examNumber, sitting)] {
                    tx.put(stored, kind: "interview", key: stored.key)
                }
            default:
                let s = try event.decode(ScreeningEvent.self)
                let report = ScreeningReport(examNumber: s.examNumber, sourceKey: "timing#\(event.header.stream)#\(event.seq)",
                                             sitting: try Sitting(wire: s.sitting), failedItems: s.failedItems,
                                             screenedBy: s.proctor.isEmpty ? nil : s.proctor, screenedAt: Date(unixMs: s.atMs),
                                             note: s.identityConfirmed ? "" : "identity not confirmed")
                let result = try core { try state.report(report, now: tx.now) }
                try DisciplineDocuments.record(result.events, state, &tx)
            }
        }

        // R38: an incomplete recording is evidence for the chief examiner.
        service.follow("recordings", prefixes: ["recordings.completeness."]) { event, state, tx in
            let c = try event.decode(CompletenessEvent.self)
            guard let check = c.completeness, let sitting = try? Sitting(wire: c.sitting) else { return }
            let issues = check.problems.map { p in
                RecordingIssue(position: p.role == .secondary ? .secondary : .main, recordingID: p.recordingId, kind: p.kind,
                               text: p.text, duringSignalLoss: p.gap?.duringSignalLoss ?? false)
            }
            if try core({ try state.applyRecordingsCheck(examNumber: c.examNumber, sitting: sitting, issues: issues) }) {
                let key = InterviewRecord.key(c.examNumber, sitting)
                if let stored = state.interviews[key] { tx.put(stored, kind: "interview", key: key) }
            }
        }
        service.follow("devices", prefixes: ["devices.ground9.", "devices.rule.broken"]) { event, state, tx in
            if event.topic.hasPrefix("devices.ground9.") {
                let g = try event.decode(Ground9Event.self)
                let pattern: SignalLossPattern
                switch g.kind {
                case .bothAtOnce: pattern = .bothAtOnce
                case .oneLong: pattern = .oneLong
                case .repeated: pattern = .repeated
                case .unspecified: throw RPCError.invalidArgument("ground 9 event without its kind")
                }
                let report = SignalLossReport(
                    examNumber: g.examNumber, sourceKey: "devices:" + (g.key.isEmpty ? "\(event.header.stream)#\(event.seq)" : g.key),
                    pattern: pattern, positions: g.roles.compactMap(DisciplineWire.position),
                    lostAt: Date(unixMs: g.lostAtMs), durationSeconds: g.lengthMs > 0 ? Double(g.lengthMs) / 1000 : nil,
                    interruptions: g.interruptions > 0 ? Int(g.interruptions) : nil,
                    sitting: (try? Sitting(wire: g.sitting)) ?? .formal, note: g.evidence)
                let result = try core { try state.report(report, now: tx.now) }
                try DisciplineDocuments.record(result.events, state, &tx)
            } else {
                // A broken rule is misconduct only while the formal interview
                // runs; before it, it just keeps the phone out (R32).
                let r = try event.decode(RuleEvent.self)
                guard let rule = r.rule, rule.blocksEntry, let position = DisciplineWire.position(r.role),
                      let interview = state.interviews[InterviewRecord.key(r.examNumber, .formal)],
                      interview.startedAt != nil, interview.endedAt == nil else { return }
                let report = DeviceRuleReport(examNumber: r.examNumber, sourceKey: "devices#\(event.header.stream)#\(event.seq)",
                                              position: position, rule: rule.rule, detail: r.detail.isEmpty ? rule.text : r.detail,
                                              observedAt: Date(unixMs: r.atMs), sitting: .formal)
                let result = try core { try state.report(report, now: tx.now) }
                try DisciplineDocuments.record(result.events, state, &tx)
            }
        }
    }

    /// Runs a core operation, turning its refusal into the bus's error.
    static func core<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as DisciplineError {
            throw RPCError(coreCode: e.code.rawValue, message: e.message)
        }
    }
}

/// The core's values as protos/exam/v1/discipline.proto has them.
enum DisciplineWire {
    static func principal(_ info: CallInfo) -> DisciplineCore.Principal {
        DisciplineCore.Principal(id: info.principal.id, role: Role(rawValue: info.principal.role.coreName) ?? .candidate)
    }

    static func sitting(_ s: SittingKind) -> Sitting? {
        switch s {
        case .mock: .mock
        case .formal: .formal
        case .unspecified: nil
        }
    }

    static func position(_ role: DeviceRole) -> DevicePosition? {
        switch role {
        case .main: .main
        case .secondary: .secondary
        case .unspecified: nil
        }
    }

    static func ground(_ g: Ground) -> GroundInfo {
        GroundInfo(number: UInt32(g.number), chinese: g.chinese, english: g.english)
    }

    static func effect(_ e: Effect) -> DecisionEffect {
        switch e {
        case .none: .none
        case .qualificationCancelled: .qualificationCancelled
        case .scoreVoided: .scoreVoided
        case .restored: .restored
        }
    }

    static func standing(_ s: Standing) -> ExamContracts.CandidateStanding {
        switch s {
        case .qualified: .qualified
        case .qualificationCancelled: .qualificationCancelled
        case .scoreVoided: .scoreVoided
        }
    }

    static func view(_ d: Decision, standing: Standing? = nil) -> DecisionView {
        DecisionView(decisionId: d.id, incidentId: d.incidentID, examNumber: d.examNumber,
                     outcome: d.outcome == .disqualify ? .disqualify : .dismiss, reason: d.reason,
                     decidedBy: d.decidedBy.id, automatic: d.automatic, decidedAtMs: d.decidedAt.unixMs,
                     effect: effect(d.effect), supersedes: d.supersedes ?? "",
                     standing: standing.map(Self.standing) ?? .qualified)
    }

    static func view(_ i: Incident, _ state: DisciplineState) -> IncidentView {
        if let record = try? state.incidentRecord(i.id) { return view(record) }
        return view(i, status: "open", decisions: [])
    }

    static func view(_ r: IncidentRecord) -> IncidentView {
        var v = view(r.incident, status: r.status.rawValue, decisions: r.decisions)
        // R38: the candidate's incomplete recordings, beside the reporter's references.
        v.references += r.recordings.map(\.reference)
        return v
    }

    static func view(_ i: Incident, status: String, decisions: [Decision]) -> IncidentView {
        IncidentView(incidentId: i.id, seq: UInt64(i.seq), examNumber: i.examNumber, ground: ground(i.ground),
                     source: i.source.rawValue, sitting: i.sitting?.wire ?? .unspecified,
                     evidence: i.evidence.text, references: i.evidence.references,
                     reporter: i.reporter.id, occurredAtMs: i.occurredAt.unixMs, reportedAtMs: i.reportedAt.unixMs,
                     status: status, decisions: decisions.map { view($0) })
    }
}
