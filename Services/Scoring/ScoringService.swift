// scoring: examiner scores, interview and total scores, rankings, the
// physical-exam list, publication (R50-R55). The thin shell around
// ScoringCore: it follows roster (candidates, posts, written scores),
// timing (the plan, who was interviewed or absent) and discipline
// (disqualifications), feeds requests into the core, stores what changed and
// publishes the core's events.
import ArgumentParser
import Bus
import ExamContracts
import ExamPlan
import Foundation
import ScoringCore
import ServiceKit
import Store

@main
struct ScoringCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scoring",
                                                    abstract: "The scoring service: scores, rankings, publication (R50-R55).")

    @OptionGroup var host: HostOptions

    @Option(help: "Scoring configuration (JSON: trimEachEnd, trimFromPanelSize, writtenWeight, interviewWeight, minimumInterviewScore, tieBreakers, physicalExamRatio, sealWhenPanelComplete). Defaults: drop 1 high and 1 low from panels of 5 or more, 50/50, ties by written score then a draw, 1:1.")
    var config: String?

    func run() async throws {
        ExamLogHandler.bootstrap(level: host.level, format: host.format)
        let fresh = try loadServiceConfiguration(config, what: "scoring configuration", defaults: ScoringConfig()) { $0.problems() }
        let service = try ServiceHost<ScoringState>(name: "scoring", options: host) { store in
            try ScoringDocuments.load(store, config: fresh)
        }
        ScoringShell.wire(service)
        try await service.run()
    }
}

struct ScoringMeta: Codable {
    var config: ScoringConfig
    var drawSeed: UInt64?
}

/// The state as documents: meta (configuration, draw seed), the plan, one
/// per post, candidate, disqualification, correction and publication.
enum ScoringDocuments {
    static func load(_ store: ServiceStore, config: ScoringConfig) throws -> ScoringState {
        let meta = try store.document(ScoringMeta.self, kind: "meta", key: "current")
        return ScoringState(
            config: meta?.config ?? config,
            plan: try store.document(ExamPlan.self, kind: "plan", key: "current"),
            posts: Dictionary(uniqueKeysWithValues: try store.documents(Post.self, kind: "post").map { ($0.key, $0.value) }),
            candidates: Dictionary(uniqueKeysWithValues: try store.documents(ScoringCandidate.self, kind: "candidate").map { ($0.key, $0.value) }),
            disqualifications: Dictionary(uniqueKeysWithValues: try store.documents(Disqualification.self, kind: "disqualification").map { ($0.key, $0.value) }),
            corrections: Dictionary(uniqueKeysWithValues: try store.documents(CorrectionRecord.self, kind: "correction").compactMap { d in Int(d.key).map { ($0, d.value) } }),
            publications: Dictionary(uniqueKeysWithValues: try store.documents(Publication.self, kind: "publication").compactMap { d in Int(d.key).map { ($0, d.value) } }),
            drawSeed: meta?.drawSeed)
    }

    /// Stages the entities the events touched and publishes the events.
    static func record(_ events: [ScoringEvent], _ s: ScoringState, _ tx: inout Transaction) throws {
        func candidate(_ e: String) { if let c = s.candidates[e] { tx.put(c, kind: "candidate", key: e) } }
        func meta() { tx.put(ScoringMeta(config: s.config, drawSeed: s.drawSeed), kind: "meta", key: "current") }
        for e in events {
            switch e {
            case .candidateRecorded(let exam, let post):
                candidate(exam)
                if let p = s.posts[post] { tx.put(p, kind: "post", key: post) }
            case .postRecorded(let post, _, _):
                if let p = s.posts[post] { tx.put(p, kind: "post", key: post) }
            case .candidateStatusChanged(let exam, _), .attendanceRecorded(let exam, _),
                 .panelScoreSubmitted(let exam, _, _, _), .panelScoreRevised(let exam, _, _, _, _),
                 .interviewScoreSealed(let exam, _, _, _, _, _), .interviewScoreRecomputed(let exam, _, _, _):
                candidate(exam)
            case .planRecorded:
                if let p = s.plan { tx.put(p, kind: "plan", key: "current") }
            case .disqualified(let id, let exam, _, _), .reinstated(let id, let exam, _):
                candidate(exam)
                if let d = s.disqualifications[id] { tx.put(d, kind: "disqualification", key: id) }
            case .panelScoreCorrected(let id, let exam, _, _, _, _, _, _):
                candidate(exam)
                if let c = s.corrections[id] { tx.put(c, kind: "correction", key: String(id)) }
            case .listsPublished(let version, _, _, _, _):
                if let p = s.publications[version] { tx.put(p, kind: "publication", key: String(version)) }
                meta()
            case .configChanged:
                meta()
            case .recordingsChecked(let exam, _):
                candidate(exam)
            }
            if let (topic, payload) = ScoringWire.payload(e, s) { try tx.publish(topic, payload) }
        }
    }
}

enum ScoringShell {
    static func wire(_ service: ServiceHost<ScoringState>) {
        service.serve(ScoringAPI.submitScore) { req, info, state, tx in
            try info.require([.examiner, .chiefExaminer], to: "submitting a score")
            let examiner = req.examinerId.isEmpty ? info.principal.id : req.examinerId
            guard examiner == info.principal.id else {
                throw RPCError.permissionDenied("\(info.principal.id) may not submit a score as \(examiner): an examiner submits their own")
            }
            try run(&state, &tx) { s, now in try s.submit(examNumber: req.examNumber, examinerID: examiner, score: req.score, now: now) }
            return try ScoringWire.scores(state, req.examNumber)
        }
        service.serve(ScoringAPI.submitSheet) { req, info, state, tx in
            let actor = try ScoringWire.actor(info)
            guard let text = String(data: req.csv, encoding: .utf8) else {
                throw RPCError.invalidArgument("score sheet is not UTF-8 text")
            }
            let events = try run(&state, &tx) { s, now in try s.submitSheet(text, by: actor, now: now) }
            let rows = text.split(whereSeparator: \.isNewline).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.count
            return SheetReply(rows: UInt32(max(0, rows - 1)), accepted: UInt32(events.filter {
                if case .panelScoreSubmitted = $0 { return true }
                if case .panelScoreRevised = $0 { return true }
                return false
            }.count))
        }
        service.serve(ScoringAPI.seal) { req, info, state, tx in
            let actor = try ScoringWire.actor(info)
            let events: [ScoringEvent]
            if !req.examNumber.isEmpty {
                events = try run(&state, &tx) { s, now in try s.seal(examNumber: req.examNumber, by: actor, now: now) }
            } else if !req.roomId.isEmpty {
                events = try run(&state, &tx) { s, now in try s.sealRoom(req.roomId, by: actor, now: now) }
            } else {
                throw RPCError.invalidArgument("seal: give exam_number or room_id")
            }
            let sealed = events.compactMap { e -> String? in
                if case .interviewScoreSealed(let exam, _, _, _, _, _) = e { return exam }
                return nil
            }
            return SealReply(sealed: try sealed.map { try ScoringWire.scores(state, $0) })
        }
        service.serve(ScoringAPI.publish) { _, info, state, tx in
            let actor = try ScoringWire.actor(info)
            // The draw that breaks ties nothing else breaks (R53): a fresh
            // seed from the system's generator, recorded with the lists.
            let seed = UInt64.random(in: 1...UInt64.max)
            try run(&state, &tx) { s, now in try s.publish(by: actor, drawSeed: seed, now: now) }
            return ScoringWire.publication(try op { try state.publication() })
        }
        service.serve(ScoringAPI.correct) { req, info, state, tx in
            let actor = try ScoringWire.actor(info)
            try run(&state, &tx) { s, now in
                try s.correct(examNumber: req.examNumber, examinerID: req.examinerId, score: req.score, reason: req.reason,
                              by: actor, now: now)
            }
            return try ScoringWire.scores(state, req.examNumber)
        }
        service.serve(ScoringAPI.getScores) { req, _, state, _ in try ScoringWire.scores(state, req.examNumber) }
        service.serve(ScoringAPI.ranking) { req, _, state, _ in ScoringWire.ranking(try op { try state.ranking(postCode: req.postCode) }) }
        service.serve(ScoringAPI.missing) { _, _, state, _ in
            MissingReply(missing: state.missingBeforePublication().map(\.description))
        }
        service.serve(ScoringAPI.export) { req, _, state, _ in
            // Published lists when there are (R55: what the public saw),
            // else the live ones, marked as drafts by version 0.
            let published = state.latestPublication
            let lists = published?.lists ?? state.currentLists()
            let version = UInt32(published?.version ?? 0)
            let stem = (req.list == .physicalExam ? "physical-exam-list" : "total-scores") + (published == nil ? "-draft" : "-v\(version)")
            switch req.format {
            case .csv:
                let data = req.list == .physicalExam ? ScoringExport.physicalExamCSV(lists) : ScoringExport.totalScoresCSV(lists)
                return ExportReply(content: data, fileName: stem + ".csv", version: version)
            case .json:
                guard let published else {
                    throw RPCError.failedPrecondition("the JSON export is of a publication; nothing is published yet (export CSV for the draft)")
                }
                return ExportReply(content: try ScoringExport.json(published), fileName: stem + ".json", version: version)
            }
        }
        follow(service)
    }

    /// What scoring learns from the others (R52: who was interviewed, absent,
    /// disqualified).
    static func follow(_ service: ServiceHost<ScoringState>) {
        service.follow("roster", prefixes: ["roster.candidate."]) { event, state, tx in
            let c = try event.decode(CandidateEvent.self)
            try run(&state, &tx) { s, now in
                var events = try s.recordCandidate(CandidateFact(examNumber: c.examNumber, name: c.name, idNumber: c.idNumberMasked,
                                                                 postCode: c.postCode, postName: c.postName, writtenScore: c.writtenScore,
                                                                 places: Int(c.postPlaces)), now: now)
                events += try s.recordCandidateStatus(examNumber: c.examNumber, status: ScoringWire.rosterStatus(c.status), now: now)
                return events
            }
        }
        service.follow("timing", prefixes: ["timing.plan.published", "timing.interview.ended", "timing.candidate.absent"]) { event, state, tx in
            switch event.topic {
            case "timing.plan.published":
                let plan = try ExamPlan(info: try event.decode(ExamPlanInfo.self))
                try run(&state, &tx) { s, now in try s.recordPlan(plan, now: now) }
            case "timing.interview.ended":
                let i = try event.decode(InterviewEvent.self)
                let sitting = try Sitting(wire: i.sitting)
                try run(&state, &tx) { s, now in try s.recordInterviewEnded(examNumber: i.examNumber, sitting: sitting, now: Date(unixMs: i.atMs)) }
            default:
                let m = try event.decode(CandidateMoment.self)
                let sitting = try Sitting(wire: m.sitting)
                try run(&state, &tx) { s, now in try s.recordAbsent(examNumber: m.examNumber, sitting: sitting, now: Date(unixMs: m.atMs)) }
            }
        }
        // R38: the formal interviews' recordings, for publication's warning.
        service.follow("recordings", prefixes: ["recordings.completeness."]) { event, state, tx in
            let c = try event.decode(CompletenessEvent.self)
            guard c.sitting == .formal, let check = c.completeness else { return }
            let incomplete = ScoringWire.incompleteRecordings(check)
            try run(&state, &tx) { s, now in s.recordRecordingsCheck(examNumber: c.examNumber, incomplete: incomplete, now: now) }
        }
        service.follow("discipline", prefixes: ["discipline.incident.decided", "discipline.decision.reversed"]) { event, state, tx in
            let d = try event.decode(DecisionEvent.self)
            guard let decision = d.decision else { return }
            switch d.effect {
            case .qualificationCancelled, .scoreVoided:
                let fact = DisqualificationFact(decisionID: decision.decisionId, examNumber: d.examNumber,
                                                effect: d.effect == .scoreVoided ? .scoreVoided : .cancelledQualification,
                                                ground: nil, reason: decision.reason, decidedAt: Date(unixMs: decision.decidedAtMs))
                try run(&state, &tx) { s, now in try s.recordDisqualification(fact, now: now) }
            case .restored:
                guard !decision.supersedes.isEmpty else { return }
                try run(&state, &tx) { s, now in try s.recordReversal(decisionID: decision.supersedes, reason: decision.reason, now: now) }
            case .none:
                return
            }
        }
    }

    /// Runs a core operation; its refusal becomes the bus's error, its
    /// events are stored and published.
    @discardableResult
    static func run(_ state: inout ScoringState, _ tx: inout Transaction,
                    _ body: (inout ScoringState, Date) throws -> [ScoringEvent]) throws -> [ScoringEvent] {
        let now = tx.now
        let events = try op { try body(&state, now) }
        try ScoringDocuments.record(events, state, &tx)
        return events
    }

    static func op<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ScoringError {
            let details = e.details.isEmpty ? "" : "\n" + e.details.map { "  - \($0)" }.joined(separator: "\n")
            throw RPCError(coreCode: e.code.rawValue, message: e.message + details)
        }
    }
}
