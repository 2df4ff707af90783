// What staff see and do (R62): the proctors' live board, the examiners'
// scores, the chief's incidents and sheet, ops' import, counts, health,
// publication, lists and backups. Each action is one or a few mesh calls
// as the signed-in account; the services decide and check again.
import Bus
import ExamContracts
import ExamDay
import ExamPlan
import Foundation
import GatewayCore
import Logging
import ServiceKit
import Synchronization

/// The consoles watching a room's board, by room and sitting.
final class StaffLive: Sendable {
    final class Watcher: Sendable {
        let room: String
        let sitting: SittingKind
        let out: AsyncStream<String>.Continuation
        init(room: String, sitting: SittingKind, out: AsyncStream<String>.Continuation) {
            self.room = room
            self.sitting = sitting
            self.out = out
        }
    }

    let watchers = Mutex<[ObjectIdentifier: Watcher]>([:])
    /// Rooms whose board changed since the last push ("" = every room), and whether a push is scheduled.
    let dirty = Mutex<(rooms: Set<String>, scheduled: Bool)>(([], false))

    func add(_ w: Watcher) { watchers.withLock { $0[ObjectIdentifier(w)] = w } }
    func remove(_ w: Watcher) { watchers.withLock { $0[ObjectIdentifier(w)] = nil } }
    func all() -> [Watcher] { watchers.withLock { Array($0.values) } }
}

extension StaffDesk {
    // MARK: The board (R13, R14, R41), from events

    /// An event of a followed stream: applied to both sittings' boards;
    /// the consoles watching the rooms it touches get the new board within
    /// a few tens of milliseconds (pushes are coalesced).
    public func deliver(_ e: DeliveredEvent) {
        let rooms: Set<String> = boards.withLock { b in
            b[.mock]?.apply(e)
            b[.formal]?.apply(e)
            if let exam = Self.examNumber(of: e), let room = b[.formal]?.candidates[exam]?.room, !room.isEmpty { return [room] }
            return [""]
        }
        if e.topic.hasPrefix("timing.plan.") {
            // A new plan: the accounts follow it, once the edge has read it
            // (not the copy it held before the event).
            Task { [edge] in
                _ = try? await edge.refreshPlan().value
                try? await syncAccounts()
            }
        }
        let schedule = live.dirty.withLock { d -> Bool in
            d.rooms.formUnion(rooms)
            if d.scheduled { return false }
            d.scheduled = true
            return true
        }
        if schedule {
            Task {
                try? await Task.sleep(for: .milliseconds(25))
                pushBoards()
            }
        }
    }

    static func examNumber(of e: DeliveredEvent) -> String? {
        let t = e.topic
        if t.hasPrefix("roster.candidate."), let c = try? e.decode(CandidateEvent.self) { return c.examNumber }
        if t.hasPrefix("timing.candidate."), let m = try? e.decode(CandidateMoment.self) { return m.examNumber }
        if t.hasPrefix("timing.screening."), let s = try? e.decode(ScreeningEvent.self) { return s.examNumber }
        if t.hasPrefix("timing.interview."), let i = try? e.decode(InterviewEvent.self) { return i.examNumber }
        if t.hasPrefix("devices.signal."), let s = try? e.decode(SignalEvent.self) { return s.examNumber }
        if t.hasPrefix("devices.rule."), let r = try? e.decode(RuleEvent.self) { return r.examNumber }
        if t == "discipline.incident.reported", let i = try? e.decode(IncidentEvent.self).incident { return i.examNumber }
        if t.hasPrefix("discipline."), let d = try? e.decode(DecisionEvent.self) { return d.examNumber }
        return nil
    }

    func pushBoards() {
        let rooms = live.dirty.withLock { d -> Set<String> in
            defer { d.rooms = []; d.scheduled = false }
            return d.rooms
        }
        let now = nowMs
        var rendered: [String: String] = [:]
        for w in live.all() where rooms.contains("") || rooms.contains(w.room) {
            let key = "\(w.room)/\(w.sitting.rawValue)"
            if rendered[key] == nil, let b = board(room: w.room, sitting: w.sitting, now: now) {
                rendered[key] = Self.text(BoardMessage(board: b))
            }
            if let text = rendered[key] { w.out.yield(text) }
        }
    }

    static func text<T: Encodable>(_ m: T) -> String {
        (try? PushJSON.encoder.encode(m)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// One room's board as the console shows it.
    func board(room: String, sitting: SittingKind, now: Int64) -> RoomBoard? {
        boards.withLock { all -> RoomBoard? in
            guard let b = all[sitting], let r = b.rooms.first(where: { $0.id == room }) else { return nil }
            let drawn = b.order[room] ?? []
            let rest = r.candidates.filter { !drawn.contains($0) }.sorted()
            let candidates = (drawn + rest).enumerated().map { i, exam -> BoardCandidate in
                let c = b.candidates[exam] ?? ProctorBoard.Candidate(examNumber: exam)
                func signal(_ p: ProctorBoard.Phone) -> PhoneSignal { PhoneSignal(connected: p.connected, lost: p.lost, broken: p.broken.sorted()) }
                let incidents = c.openIncidents.sorted { $0.key < $1.key }.map {
                    OpenIncidentRef(id: $0.key, ground: Int($0.value.split(separator: " ").last ?? "") ?? 0)
                }
                return BoardCandidate(examNumber: exam, name: c.name, order: i < drawn.count ? i + 1 : 0, roster: c.roster,
                                      mainIn: c.mainIn, secondaryIn: c.secondaryIn, absent: c.absent, screening: c.screening,
                                      phase: c.phase, startedAtMs: c.startedMs, readingEndsAtMs: c.readingEndsMs, endsAtMs: c.endsMs,
                                      endReason: c.endReason, state: b.state(c, now: now), main: signal(c.main), secondary: signal(c.secondary),
                                      openIncidents: incidents, standing: c.standing)
            }
            let entry = b.entry[sitting].map { EntryView(opensAtMs: $0.opens, closesAtMs: $0.closes, closed: $0.closed) }
            return RoomBoard(room: RoomRef(id: r.id, name: r.name), sitting: Edge.sittingName(sitting) ?? "formal", exam: b.exam,
                             entry: entry, drawn: !drawn.isEmpty, events: b.events, serverTimeMs: now, candidates: candidates)
        }
    }

    /// The sitting a board shows when none is asked for: the mock test
    /// until the formal entry opens (R12, R14).
    func sitting(_ name: String?) throws(EdgeError) -> SittingKind {
        if let name, !name.isEmpty { return Edge.kind(try StaffChecks.sitting(name)) }
        let formal = boards.withLock { $0[.formal] ?? ProctorBoard() }
        return ProctorBoard.sittingOfTheMoment(formal: formal, now: nowMs)
    }

    public func roomBoard(_ p: StaffPrincipal, room: String, sitting name: String?) async throws(EdgeError) -> RoomBoard {
        try require(p, [.proctor, .chief, .ops], room: room, doing: "watch the room")
        _ = try await self.room(room)
        let s = try sitting(name)
        guard let b = board(room: room, sitting: s, now: nowMs) else {
            throw .unavailable("board: room \(room) is not on the board yet (the gateway is still reading timing's plan); try again")
        }
        return b
    }

    /// Runs one console's board socket: the board at once, then after each
    /// change, and the server's time every 5 s, until it closes.
    public func runLive(_ p: StaffPrincipal, room: String, sitting name: String?, messages: some AsyncSequence<String, any Error>,
                        send: @escaping @Sendable (String) async throws -> Void) async {
        let (out, cont) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let writer = Task {
            for await text in out {
                do { try await send(text) } catch { break }
            }
        }
        do {
            let b = try await roomBoard(p, room: room, sitting: name)
            let w = StaffLive.Watcher(room: room, sitting: try sitting(name), out: cont)
            live.add(w)
            cont.yield(Self.text(BoardMessage(board: b)))
            let clock = Task { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(5))
                    cont.yield(Self.text(PushTime(serverTimeMs: nowMs)))
                }
            }
            logger.debug("staff board opened", metadata: ["account": "\(p.account.id)", "room": "\(room)"])
            do {
                for try await text in messages where text.contains("\"ping\"") {
                    cont.yield(Self.text(PushPong(t: 0, serverTimeMs: nowMs)))
                }
            } catch {}
            clock.cancel()
            live.remove(w)
        } catch {
            cont.yield(Self.text(PushError(code: error.code, message: error.message)))
        }
        cont.finish()
        await writer.value
    }

    struct BoardMessage: Encodable {
        var type = "board"
        var board: RoomBoard
    }


    // MARK: Proctor actions (R13, R14, R41)

    public func grounds() async throws(EdgeError) -> [GroundInfo] {
        if let g = grounds.withLock({ $0.isEmpty ? nil : $0 }) { return g }
        let r = try await edge.mesh("discipline", DisciplineAPI.grounds, GroundsRequest(), as: CallPrincipal(id: "gateway", role: .service))
        grounds.withLock { $0 = r.grounds }
        return r.grounds
    }

    public func screen(_ p: StaffPrincipal, room: String, _ body: ScreeningBody) async throws(EdgeError) -> ScreeningResult {
        try body.check()
        let r = try await roomOf(body.examNumber, for: p, [.proctor], doing: "screen")
        guard r.id == room else { throw .invalid("examNumber \(body.examNumber): in room \(r.id), not \(room)") }
        let given = Dictionary((body.checklist ?? []).map { ($0.item, $0) }, uniquingKeysWith: { a, _ in a })
        let checklist = StaffChecklist.items.enumerated().map { i, item -> ChecklistResult in
            let g = given[item.item]
            return ChecklistResult(item: ChecklistItemKind(rawValue: Int32(i + 1)) ?? .unspecified, passed: g?.passed ?? true, note: g?.note ?? "")
        }
        let v = try await call("timing", TimingAPI.recordScreening,
                               ScreeningRequest(examNumber: body.examNumber, sitting: Edge.kind(try StaffChecks.sitting(body.sitting)),
                                                identityConfirmed: body.identityConfirmed, checklist: checklist), as: p)
        let failed = (body.checklist ?? []).filter { !$0.passed }.map(\.item) + (body.identityConfirmed ? [] : ["identity"])
        logger.info("screening recorded", metadata: ["exam_number": "\(body.examNumber)", "room": "\(room)", "by": "\(p.account.id)",
                                                     "passed": "\(v.screeningPassed)"])
        return ScreeningResult(examNumber: v.examNumber, screening: v.screeningPassed ? "passed" : "failed", failedItems: failed)
    }

    public func start(_ p: StaffPrincipal, room: String, _ body: StartBody) async throws(EdgeError) -> InterviewReply {
        try body.check()
        try require(p, [.proctor], room: room, doing: "start an interview")
        _ = try await self.room(room)
        if let e = body.examNumber, !e.isEmpty {
            let r = try await roomOf(e, for: p, [.proctor], doing: "start the interview of")
            guard r.id == room else { throw .invalid("examNumber \(e): in room \(r.id), not \(room)") }
        }
        let i = try await call("timing", TimingAPI.startInterview,
                               StartInterviewRequest(roomId: room, sitting: Edge.kind(try StaffChecks.sitting(body.sitting)),
                                                     examNumber: body.examNumber ?? ""), as: p)
        logger.info("interview started", metadata: ["exam_number": "\(i.examNumber)", "room": "\(room)", "by": "\(p.account.id)"])
        return InterviewReply(i)
    }

    public func announceAnswering(_ p: StaffPrincipal, room: String, _ body: AnsweringBody) async throws(EdgeError) -> InterviewReply {
        try body.check()
        let r = try await roomOf(body.examNumber, for: p, [.proctor], doing: "announce answering for")
        guard r.id == room else { throw .invalid("examNumber \(body.examNumber): in room \(r.id), not \(room)") }
        let i = try await call("timing", TimingAPI.announceAnswering,
                               InterviewRequest(examNumber: body.examNumber, sitting: Edge.kind(try StaffChecks.sitting(body.sitting))), as: p)
        return InterviewReply(i)
    }

    public func report(_ p: StaffPrincipal, _ body: IncidentBody) async throws(EdgeError) -> IncidentReply {
        try body.check()
        let room = try await roomOf(body.examNumber, for: p, [.proctor, .examiner, .chief], doing: "report an incident about")
        let sitting = try body.sitting.map { s throws(EdgeError) in Edge.kind(try StaffChecks.sitting(s)) } ?? .formal
        let v = try await call("discipline", DisciplineAPI.report,
                               ReportRequest(examNumber: body.examNumber, ground: UInt32(body.ground), evidence: body.note, sitting: sitting), as: p)
        logger.info("incident reported", metadata: ["exam_number": "\(body.examNumber)", "room": "\(room.id)", "by": "\(p.account.id)",
                                                    "ground": "\(body.ground)", "incident": "\(v.incidentId)"])
        return await incident(v, room: room.id)
    }

    // MARK: Chief examiner (R42)

    func incident(_ v: IncidentView, room: String, name: String = "") async -> IncidentReply {
        var outages: [OutageReply] = []
        if v.ground?.number == 9,
           let o = try? await edge.mesh("devices", DevicesAPI.listOutages, DevicesCandidateRef(examNumber: v.examNumber),
                                        as: CallPrincipal(id: "gateway", role: .service)) {
            outages = o.outages.map(OutageReply.init)
        }
        var failed: [String] = []
        if v.source == "timing.screening" {
            failed = v.references.isEmpty ? [v.evidence] : v.references
        }
        return IncidentReply(v, room: room, name: name, outages: outages, failedItems: failed)
    }

    public func incidents(_ p: StaffPrincipal, room: String?, status: String?) async throws(EdgeError) -> IncidentList {
        let s = status ?? "open"
        guard ["open", "decided", "all"].contains(s) else { throw .invalid("status: '\(s.prefix(20))' is not open, decided or all") }
        let plan = try await edge.currentPlan()
        let rooms: [ExamRoom]
        if let room {
            rooms = [try await self.room(room)]
            try require(p, [.chief, .ops], room: room, doing: "read the incidents")
        } else {
            try require(p, [.chief, .ops], room: nil, doing: "read the incidents")
            rooms = plan.rooms.filter { p.account.works(in: $0.id) }
        }
        let list = try await edge.mesh("discipline", DisciplineAPI.listIncidents,
                                       ListIncidentsRequest(status: s == "all" ? "" : s == "open" ? "open" : ""), as: p.call)
        var roomOf: [String: String] = [:]
        for r in rooms { for c in r.candidates { roomOf[c] = r.id } }
        let names = boards.withLock { $0[.formal]?.candidates.mapValues(\.name) ?? [:] }
        var out: [IncidentReply] = []
        for v in list.incidents {
            guard let r = roomOf[v.examNumber] else { continue }
            if s == "decided" && v.status == "open" { continue }
            out.append(await incident(v, room: r, name: names[v.examNumber] ?? ""))
        }
        return IncidentList(incidents: out)
    }

    public func decide(_ p: StaffPrincipal, incident id: String, _ body: DecisionBody) async throws(EdgeError) -> DecisionReply {
        try body.check()
        guard !id.isEmpty, id.count <= 64 else { throw .invalid("incident id: '\(id.prefix(40))' is not an incident id") }
        try require(p, [.chief], room: nil, doing: "decide incidents")
        let v = try await edge.mesh("discipline", DisciplineAPI.getIncident, IncidentRef(incidentId: id), as: p.call)
        _ = try await roomOf(v.examNumber, for: p, [.chief], doing: "decide an incident about")
        let d = try await call("discipline", DisciplineAPI.decide,
                               DecideRequest(incidentId: id, outcome: body.disqualify ? .disqualify : .dismiss, reason: body.reason), as: p)
        logger.info("incident decided", metadata: ["incident": "\(id)", "exam_number": "\(v.examNumber)", "by": "\(p.account.id)",
                                                   "outcome": "\(body.disqualify ? "disqualified" : "dismissed")"])
        return DecisionReply(d)
    }

    // MARK: Examiners (R50) and the chief's sheet

    /// The room's candidates whose formal interview ended, in interview order.
    func interviewed(_ room: ExamRoom) -> [(exam: String, name: String, order: Int)] {
        boards.withLock { b in
            guard let board = b[.formal] else { return [] }
            let drawn = board.order[room.id] ?? []
            let all = drawn + room.candidates.filter { !drawn.contains($0) }.sorted()
            return all.enumerated().compactMap { i, e in
                guard let c = board.candidates[e], c.phase == "ended" else { return nil }
                return (e, c.name, i < drawn.count ? i + 1 : 0)
            }.sorted { ($0.2 == 0 ? Int.max : $0.2, $0.0) < ($1.2 == 0 ? Int.max : $1.2, $1.0) }
        }
    }

    func scores(of exams: [String]) async -> [String: CandidateScores] {
        await withTaskGroup(of: (String, CandidateScores?).self) { group in
            for e in exams {
                group.addTask { [edge] in
                    (e, try? await edge.mesh("scoring", ScoringAPI.getScores, ScoringCandidateRef(examNumber: e),
                                             as: CallPrincipal(id: "gateway", role: .service)))
                }
            }
            var out: [String: CandidateScores] = [:]
            for await (e, s) in group { if let s { out[e] = s } }
            return out
        }
    }

    public func myScores(_ p: StaffPrincipal, room id: String) async throws(EdgeError) -> ExaminerSheet {
        try require(p, [.examiner, .chief], room: id, doing: "score")
        let room = try await self.room(id)
        let list = interviewed(room)
        let scores = await scores(of: list.map(\.exam))
        let rows = list.map { c -> ExaminerRow in
            let s = scores[c.exam]
            return ExaminerRow(examNumber: c.exam, name: s?.name.isEmpty == false ? s!.name : c.name, order: c.order, interviewed: true,
                               standing: s?.standing ?? "", myScore: s?.panel.first { $0.examinerId == p.account.id }?.score ?? "",
                               scored: s?.panel.filter { !$0.score.isEmpty }.count ?? 0, panelSize: room.panel.count, sealed: s?.sealed ?? false)
        }
        return ExaminerSheet(room: RoomRef(id: room.id, name: room.name), sealed: !rows.isEmpty && rows.allSatisfy(\.sealed),
                             examinerId: p.account.id, candidates: rows)
    }

    public func submitScore(_ p: StaffPrincipal, examNumber: String, _ body: ScoreBody) async throws(EdgeError) -> ExaminerRow {
        try StaffChecks.examNumber(examNumber)
        try body.check()
        let room = try await roomOf(examNumber, for: p, [.examiner, .chief], doing: "score")
        // examinerId stays empty: scoring takes the caller, the signed-in examiner.
        let s = try await call("scoring", ScoringAPI.submitScore,
                               SubmitScoreRequest(examNumber: examNumber, score: body.score), as: p)
        let mine = s.panel.first { $0.examinerId == p.account.id }?.score ?? ""
        logger.info("score submitted", metadata: ["exam_number": "\(examNumber)", "room": "\(room.id)", "by": "\(p.account.id)"])
        let order = interviewed(room).first { $0.exam == examNumber }?.order ?? 0
        return ExaminerRow(examNumber: examNumber, name: s.name, order: order, interviewed: true, standing: s.standing, myScore: mine,
                           scored: s.panel.filter { !$0.score.isEmpty }.count, panelSize: room.panel.count, sealed: s.sealed)
    }

    public func sheet(_ p: StaffPrincipal, room id: String) async throws(EdgeError) -> RoomSheet {
        try require(p, [.chief, .ops], room: id, doing: "read the room's score sheet")
        let room = try await self.room(id)
        let list = interviewed(room)
        let scores = await scores(of: list.map(\.exam))
        let rows = list.map { c -> SheetRow in
            let s = scores[c.exam]
            var by: [String: String] = [:]
            for ps in s?.panel ?? [] where !ps.score.isEmpty { by[ps.examinerId] = ps.score }
            return SheetRow(examNumber: c.exam, name: s?.name ?? c.name, order: c.order, standing: s?.standing ?? "", scores: by,
                            interviewScore: s?.interviewScore ?? "", missing: room.panel.map(\.id).filter { by[$0] == nil },
                            sealed: s?.sealed ?? false)
        }
        return RoomSheet(room: RoomRef(id: room.id, name: room.name), sealed: !rows.isEmpty && rows.allSatisfy(\.sealed),
                         panel: room.panel.map { PanelMember(id: $0.id, name: $0.name, chief: $0.chief) }, candidates: rows)
    }

    public func seal(_ p: StaffPrincipal, room id: String) async throws(EdgeError) -> SealResult {
        try require(p, [.chief], room: id, doing: "seal the room's scores")
        _ = try await self.room(id)
        let r = try await call("scoring", ScoringAPI.seal, SealRequest(roomId: id), as: p)
        logger.info("room sealed", metadata: ["room": "\(id)", "by": "\(p.account.id)", "candidates": "\(r.sealed.count)"])
        return SealResult(sealed: r.sealed.map { SealedScore(examNumber: $0.examNumber, interviewScore: $0.interviewScore) })
    }

    // MARK: Ops (R1, R55)

    public func importRoster(_ p: StaffPrincipal, csv: [UInt8], fileName: String) async throws -> ImportResult {
        try require(p, [.ops], room: nil, doing: "import the candidate list")
        guard !csv.isEmpty else { throw EdgeError.invalid("body: the CSV file is empty") }
        do {
            let r = try await edge.mesh.call("roster", RosterAPI.import, ImportRequest(csv: Data(csv), fileName: fileName), as: p.call)
            logger.info("candidate list imported", metadata: ["by": "\(p.account.id)", "rows": "\(r.rows)", "imported": "\(r.imported)"])
            return ImportResult(rows: Int(r.rows), imported: Int(r.imported), updated: Int(r.updated), unchanged: Int(r.unchanged),
                                fileName: fileName)
        } catch let e as RPCError where e.code == .invalidArgument {
            throw ImportRefused(message: e.message, rows: ImportRefused.rows(in: e.message))
        } catch {
            throw EdgeError(failed: error, calling: "roster")
        }
    }

    public func counts(_ p: StaffPrincipal) async throws(EdgeError) -> CountsReply {
        try require(p, [.ops, .chief], room: nil, doing: "read the counts")
        let r = try await call("roster", RosterAPI.counts, CountsRequest(), as: p)
        let d = try? await edge.mesh("devices", DevicesAPI.fleetCounts, FleetCountsRequest(), as: p.call)
        var byStatus: [String: Int] = [:]
        for s in r.byStatus { byStatus[Edge.statusName(s.status)] = Int(s.count) }
        return CountsReply(roster: byStatus, total: Int(r.total), pendingReview: Int(r.pendingReview),
                           devices: d.map { DeviceCounts(candidates: Int($0.candidates), devices: Int($0.devices), connected: Int($0.connected),
                                                         lost: Int($0.lost), blocked: Int($0.blocked), fitCandidates: Int($0.fitCandidates)) })
    }

    public func health(_ p: StaffPrincipal, members: [String]) async throws(EdgeError) -> HealthReply {
        try require(p, [.ops], room: nil, doing: "read the mesh's health")
        let mesh = edge.mesh
        let who = p.call
        let found = await withTaskGroup(of: MemberHealth.self) { group in
            for m in members {
                group.addTask {
                    let started = ContinuousClock.now
                    do {
                        _ = try await mesh.call(m, NodeAPI.ping, PingRequest(), as: who)
                        let ms = Double((ContinuousClock.now - started).components.attoseconds) / 1e15
                            + Double((ContinuousClock.now - started).components.seconds) * 1000
                        let info = try await mesh.call(m, NodeAPI.info, InfoRequest(), as: who)
                        let stats = try? await mesh.call(m, NodeAPI.stats, StatsRequest(), as: who)
                        let bytes = stats?.counters.first { $0.name == "store.bytes" }?.value ?? 0
                        return MemberHealth(name: m, ok: true, ms: (ms * 10).rounded() / 10, headSeq: info.headSeq,
                                            uptimeSeconds: info.uptimeMs / 1000, storeBytes: bytes, version: info.version, error: "")
                    } catch {
                        let e = EdgeError(failed: error, calling: m)
                        return MemberHealth(name: m, ok: false, ms: 0, headSeq: 0, uptimeSeconds: 0, storeBytes: 0, version: "",
                                            error: "\(e.code): \(e.message)")
                    }
                }
            }
            var out: [MemberHealth] = []
            for await h in group { out.append(h) }
            return out
        }
        return HealthReply(members: members.compactMap { m in found.first { $0.name == m } }, serverTimeMs: nowMs)
    }

    public func publish(_ p: StaffPrincipal) async throws(EdgeError) -> PublicationReply {
        try require(p, [.ops], room: nil, doing: "publish the scores")
        let v = try await call("scoring", ScoringAPI.publish, PublishRequest(), as: p)
        logger.info("scores published", metadata: ["by": "\(p.account.id)", "version": "\(v.version)", "candidates": "\(v.candidates)"])
        return PublicationReply(version: Int(v.version), publishedAtMs: v.publishedAtMs, candidates: Int(v.candidates),
                                physicalExam: Int(v.physicalExam))
    }

    /// A public list (ID numbers masked, R55) as a file. Ops: the whole
    /// list, or one room's rows with `room`. A chief examiner (issue 22, the
    /// lead's decision): the ranking of their own room only, the rows of the
    /// candidates of the room(s) the plan gives them; another room is
    /// refused and its rows never leave the gateway (R62).
    public func list(_ p: StaffPrincipal, name: String, room: String? = nil) async throws(EdgeError) -> (content: Data, fileName: String, json: Bool) {
        let role = p.account.role
        guard role == .ops || role == .chief else {
            throw .denied("\(p.account.id)（\(role.chinese)）不能下载名单：名单只供运维下载，主考官可下载本考场的成绩排名（R62）")
        }
        let parts = name.split(separator: ".")
        guard parts.count == 2, let format: ExportFormat = parts[1] == "csv" ? .csv : parts[1] == "json" ? .json : nil else {
            throw .notFound("list '\(name.prefix(40))': say ranking.csv, ranking.json, physical-exam.csv or physical-exam.json")
        }
        let kind: ListKind
        switch parts[0] {
        case "ranking", "totals": kind = .totals
        case "physical-exam": kind = .physicalExam
        default: throw .notFound("list '\(parts[0].prefix(40))': no such list (ranking, physical-exam)")
        }
        // Whose rows: nil is every candidate's (ops without a room).
        var rooms: [String]?
        if let room {
            guard !room.isEmpty, room.count <= 32 else { throw .invalid("room：'\(room.prefix(40))' 不是考场编号") }
            _ = try await self.room(room)
            rooms = [room]
        }
        if role == .chief {
            guard kind == .totals else {
                throw .denied("\(p.account.id)（主考官）只能下载本考场的成绩排名（ranking）；体检名单只供运维下载（R62）")
            }
            if let room, !p.account.works(in: room) {
                throw .denied("\(p.account.id)（主考官）负责考场 \(p.account.rooms.joined(separator: "、"))，不能下载考场 \(room) 的成绩排名（R62）")
            }
            rooms = rooms ?? p.account.rooms
        }
        let r = try await call("scoring", ScoringAPI.export, ExportRequest(list: kind, format: format), as: p)
        var content = r.content
        var fileName = r.fileName.isEmpty ? name : r.fileName
        if let rooms {
            let plan = try await edge.currentPlan()
            let keep = Set(plan.rooms.filter { rooms.contains($0.id) }.flatMap(\.candidates))
            do {
                content = format == .json ? try ListFilter.json(content, keep: keep) : try ListFilter.csv(content, keep: keep)
            } catch {
                logger.error("list not filtered: refused", metadata: ["list": "\(name)", "error": "\(error.message)"])
                throw EdgeError("INTERNAL", error.message)
            }
            let ext = (fileName as NSString).pathExtension
            fileName = (fileName as NSString).deletingPathExtension + "-" + rooms.sorted().joined(separator: "-") + (ext.isEmpty ? "" : "." + ext)
        }
        logger.info("list downloaded", metadata: ["by": "\(p.account.id)", "list": "\(name)", "rooms": "\(rooms?.joined(separator: ",") ?? "all")"])
        return (content, fileName, format == .json)
    }

    public func backup(_ p: StaffPrincipal, _ body: BackupBody, members: [String]) async throws(EdgeError) -> BackupResult {
        try require(p, [.ops], room: nil, doing: "back up a store")
        guard members.contains(body.service) else {
            throw .invalid("service: '\(body.service.prefix(40))' is not a member of the mesh (\(members.joined(separator: ", ")))")
        }
        let info = try await call(body.service, NodeAPI.info, InfoRequest(), as: p)
        let folder = (info.storePath as NSString).deletingLastPathComponent
        let stamp = BeijingTime.iso(edge.clock()).filter { $0.isNumber }.prefix(14)
        let path = (folder as NSString).appendingPathComponent("\(body.service)-backup-\(stamp)-\(Int.random(in: 1000...9999)).sqlite")
        let r = try await edge.mesh(body.service, NodeAPI.backup, BackupRequest(path: path), as: p.call)
        logger.info("backup written", metadata: ["service": "\(body.service)", "path": "\(r.path)", "by": "\(p.account.id)"])
        return BackupResult(service: body.service, path: r.path, bytes: r.bytes, headSeq: r.headSeq)
    }
}

/// A refused import: 400 with every bad row (R1).
public struct ImportRefused: Error, Sendable {
    public var message: String
    public var rows: [BadRow]

    public struct BadRow: Codable, Sendable, Equatable {
        public var line: Int
        public var column: String
        public var message: String
    }

    /// "line 3, column id_number: ..." lines of roster's message.
    static func rows(in message: String) -> [BadRow] {
        var out: [BadRow] = []
        for part in message.split(whereSeparator: { $0 == "\n" || $0 == ";" }) {
            let s = part.trimmingCharacters(in: .whitespaces)
            guard let r = s.range(of: "line ") else { continue }
            let rest = s[r.upperBound...]
            let digits = rest.prefix { $0.isNumber }
            guard let line = Int(digits) else { continue }
            var column = ""
            if let c = rest.range(of: "column ") {
                column = String(rest[c.upperBound...].prefix { $0 != ":" && $0 != "," && $0 != " " })
            }
            let text = s.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? s
            out.append(BadRow(line: line, column: column, message: text))
        }
        return out
    }
}

// MARK: Replies

public struct ScreeningResult: Codable, Sendable {
    public var examNumber: String
    public var screening: String
    public var failedItems: [String]
}

public struct InterviewReply: Codable, Sendable {
    public var examNumber: String
    public var sitting: String
    public var phase: String
    public var startedAtMs: Int64
    public var readingEndsAtMs: Int64
    public var endsAtMs: Int64
    init(_ i: InterviewInfo) {
        examNumber = i.examNumber
        sitting = Edge.sittingName(i.sitting) ?? "formal"
        phase = Edge.phaseName(i.phase)
        startedAtMs = i.startedAtMs
        readingEndsAtMs = i.readingEndsAtMs
        endsAtMs = i.endsAtMs
    }
}

public struct GroundReply: Codable, Sendable {
    public var number: Int
    public var zh: String
    public var en: String
    init(_ g: GroundInfo) {
        number = Int(g.number)
        zh = g.chinese
        en = g.english
    }
}

public struct OutageReply: Codable, Sendable {
    public var role: String
    public var deviceId: String
    public var lostAtMs: Int64
    public var restoredAtMs: Int64
    public var seconds: Double
    init(_ o: Outage) {
        role = o.role == .main ? "main" : "secondary"
        deviceId = o.deviceId
        lostAtMs = o.lostAtMs
        restoredAtMs = o.restoredAtMs
        seconds = Double(o.lengthMs) / 1000
    }
}

public struct IncidentReply: Codable, Sendable {
    public var id: String
    public var examNumber: String
    public var name: String
    public var room: String
    public var sitting: String
    public var ground: GroundReply?
    public var source: String
    public var evidence: String
    public var references: [String]
    public var reporter: String
    public var occurredAtMs: Int64
    public var reportedAtMs: Int64
    public var status: String
    public var outages: [OutageReply]
    public var failedItems: [String]
    init(_ v: IncidentView, room: String, name: String, outages: [OutageReply], failedItems: [String]) {
        id = v.incidentId
        examNumber = v.examNumber
        self.name = name
        self.room = room
        sitting = Edge.sittingName(v.sitting) ?? "formal"
        ground = v.ground.map(GroundReply.init)
        source = v.source
        evidence = v.evidence
        references = v.references
        reporter = v.reporter
        occurredAtMs = v.occurredAtMs
        reportedAtMs = v.reportedAtMs
        status = v.status
        self.outages = outages
        self.failedItems = failedItems
    }
}

public struct IncidentList: Codable, Sendable {
    public var incidents: [IncidentReply]
}

public struct DecisionReply: Codable, Sendable {
    public var decisionId: String
    public var incidentId: String
    public var examNumber: String
    public var outcome: String
    public var reason: String
    public var decidedBy: String
    public var decidedAtMs: Int64
    init(_ d: DecisionView) {
        decisionId = d.decisionId
        incidentId = d.incidentId
        examNumber = d.examNumber
        outcome = d.outcome == .disqualify ? "disqualified" : "dismissed"
        reason = d.reason
        decidedBy = d.decidedBy
        decidedAtMs = d.decidedAtMs
    }
}

public struct ExaminerRow: Codable, Sendable {
    public var examNumber: String
    public var name: String
    public var order: Int
    public var interviewed: Bool
    public var standing: String
    public var myScore: String
    public var scored: Int
    public var panelSize: Int
    public var sealed: Bool
}

public struct ExaminerSheet: Codable, Sendable {
    public var room: RoomRef
    public var sealed: Bool
    public var examinerId: String
    public var candidates: [ExaminerRow]
}

public struct PanelMember: Codable, Sendable {
    public var id: String
    public var name: String
    public var chief: Bool
}

public struct SheetRow: Codable, Sendable {
    public var examNumber: String
    public var name: String
    public var order: Int
    public var standing: String
    public var scores: [String: String]
    public var interviewScore: String
    public var missing: [String]
    public var sealed: Bool
}

public struct RoomSheet: Codable, Sendable {
    public var room: RoomRef
    public var sealed: Bool
    public var panel: [PanelMember]
    public var candidates: [SheetRow]
}

public struct SealedScore: Codable, Sendable {
    public var examNumber: String
    public var interviewScore: String
}

public struct SealResult: Codable, Sendable {
    public var sealed: [SealedScore]
}

public struct ImportResult: Codable, Sendable {
    public var rows: Int
    public var imported: Int
    public var updated: Int
    public var unchanged: Int
    public var fileName: String
}

public struct DeviceCounts: Codable, Sendable {
    public var candidates: Int
    public var devices: Int
    public var connected: Int
    public var lost: Int
    public var blocked: Int
    public var fitCandidates: Int
}

public struct CountsReply: Codable, Sendable {
    public var roster: [String: Int]
    public var total: Int
    public var pendingReview: Int
    public var devices: DeviceCounts?
}

public struct MemberHealth: Codable, Sendable {
    public var name: String
    public var ok: Bool
    public var ms: Double
    public var headSeq: UInt64
    public var uptimeSeconds: Int64
    public var storeBytes: Int64
    public var version: String
    public var error: String
}

public struct HealthReply: Codable, Sendable {
    public var members: [MemberHealth]
    public var serverTimeMs: Int64
}

public struct PublicationReply: Codable, Sendable {
    public var version: Int
    public var publishedAtMs: Int64
    public var candidates: Int
    public var physicalExam: Int
}

public struct BackupResult: Codable, Sendable {
    public var service: String
    public var path: String
    public var bytes: Int64
    public var headSeq: UInt64
}
