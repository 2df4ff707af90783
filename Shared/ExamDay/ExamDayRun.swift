import Bus
import DemoKit
import ExamContracts
import ExamPlan
import Foundation
import PhoneSim
import ServiceKit
import Synchronization

/// Who does what on the demo's exam day, by exam number: chosen from the
/// candidates' positions in the list so the same list always gets the same
/// script.
public struct ExamDayScript: Sendable, Codable {
    public var decline: Set<String> = []          // R3: gives up
    public var forget: Set<String> = []           // R5: never confirms
    public var skipMock: Set<String> = []         // R19: own risk
    public var absentFormal: Set<String> = []     // R12: forfeits the interview
    public var failScreening: Set<String> = []    // R13: earphones; disqualified before the interview
    public var bothPhonesLost: Set<String> = []   // R34 ground 9: disqualified, score voided
    public var droppedOnce: Set<String> = []      // R33: lost and restored, no ground 9
    public var incomingCall: Set<String> = []     // R35: a call cuts the main phone briefly
    public var bannedVersion: Set<String> = []    // R32: iOS WeChat 8.0.20 refused, then updated
    public var toldName: Set<String> = []         // staff incident, ground 4, dismissed
    public var endsEarly: Set<String> = []        // R17
    /// R38: the secondary phone's page is closed before its recorder stops,
    /// so its final chunk never goes out (heartbeats go on): the one
    /// incomplete recording no phone fault explains. Chosen over a stall
    /// because it does not depend on the interview's length or --max-gap.
    public var unfinishedRecording: Set<String> = []
    /// Seconds of silence that make a phone lost (devices' loss timeout).
    public var lossTimeout: Double = 2

    public init() {}

    /// The demo's script for `roster` (rooms of `roomSize` in list order).
    public static func demo(_ roster: DemoRoster, roomSize: Int, lossTimeout: Double = 2) -> ExamDayScript {
        var s = ExamDayScript()
        s.lossTimeout = lossTimeout
        let all = roster.candidates.map(\.examNumber)
        for (i, e) in all.enumerated() {
            if i % 10 == 9 { s.decline.insert(e) } else if i % 10 == 7 { s.forget.insert(e) }
        }
        let confirmed = all.filter { !s.decline.contains($0) && !s.forget.contains($0) }
        for (i, e) in confirmed.enumerated() where i % 6 == 4 { s.skipMock.insert(e) }
        // One of each fault, spread over the rooms.
        let rooms = stride(from: 0, to: all.count, by: roomSize).map { Array(all[$0..<min($0 + roomSize, all.count)]) }
            .map { room in room.filter { confirmed.contains($0) } }
        func pick(_ room: Int, _ k: Int) -> String? {
            let r = rooms[room % rooms.count]
            return r.isEmpty ? nil : r[k % r.count]
        }
        if let e = pick(0, 0) { s.bothPhonesLost.insert(e) }
        if let e = pick(0, 2) { s.incomingCall.insert(e) }
        if let e = pick(1, 0) { s.failScreening.insert(e) }
        if let e = pick(1, 2) { s.droppedOnce.insert(e) }
        if let e = pick(2, 1) { s.absentFormal.insert(e) }
        if let e = pick(2, 3) { s.toldName.insert(e) }
        if let e = pick(3, 1) { s.bannedVersion.insert(e) }
        if let e = pick(3, 2) { s.endsEarly.insert(e) }
        if let e = pick(1, 1) { s.unfinishedRecording.insert(e) }
        return s
    }

    /// Every panel examiner's score for a candidate: 70.00 to 94.99, the
    /// same for the same pair every time.
    public static func score(_ examNumber: String, _ examinerID: String) -> String {
        var h: UInt64 = 1469598103934665603
        for b in (examNumber + "/" + examinerID).utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        let hundredths = 7000 + Int(h % 2500)
        return "\(hundredths / 100).\(String(format: "%02d", hundredths % 100))"
    }
}

/// How the day is played at scale: how many clients act at once, whether
/// each candidate's fault gets a line of its own, the photos' size, the
/// phones' beat.
public struct ExamDayOptions: Sendable {
    /// Candidates' and examiners' clients acting at once.
    public var width = 8
    /// A summary line per fault played (the demo); off for a big day, where
    /// the counts say it.
    public var perCandidateSteps = true
    /// Smaller photos (about 38 KB instead of 230 KB): ten thousand of them.
    public var compactPhotos = false
    /// The phones' heartbeat period (R31: about once a second).
    public var heartbeatMs = 500
    /// How long the day waits for a window's or an interview's event.
    public var eventWait: Duration = .seconds(300)
    /// The phones record and upload every interview (R37) and the day ends
    /// with recordings' completeness (R38); off for a big day's heartbeat load.
    public var uploads = true
    /// How long past an interview's end staff wait for the services' word
    /// on a phone fault in it (a ground-9 incident, a restored signal):
    /// longer when a partition may hold devices' view of timing back (issue 16).
    public var faultSlack: Duration = .seconds(15)
    public init() {}
}

/// What the day produced.
public struct ExamDayOutcome: Sendable {
    public var confirmed: [String] = []
    public var declined: [String] = []
    public var forfeited: [String] = []
    public var interviewedMock: [String] = []
    public var interviewedFormal: [String] = []
    public var disqualified: [String] = []
    public var incidents: [String] = []
    /// Scripted phone faults the services never reported (see `faults`).
    public var unobserved: [String] = []
    public var publication: PublicationView?
    /// Every checked interview's two recordings (R38), when the phones upload.
    public var recordings: [RecordingOutcome] = []
    /// Interviews recordings had not checked when the day stopped waiting.
    public var recordingsPending = 0
    public var files: [String] = []
    public var steps: [String] = []
}

/// Plays a whole exam day against a running mesh: ops import the list;
/// candidates confirm, decline or forget; phones register and beat; the
/// mock test and the formal interviews run room by room with screening and
/// the never-pausing countdown; faults, incidents and decisions happen as
/// scripted; examiners score; the chief seals; ops publish and export.
public final class ExamDayRun: Sendable {
    public let mesh: MeshClient
    public let roster: DemoRoster
    public let script: ExamDayScript
    public let outputDir: String
    /// Starts the phone simulator (`phone-sim`) beside the services.
    let launcher: MeshLauncher
    let staff: Staff
    let say: @Sendable (String) -> Void
    let clients = Mutex<[String: CandidateClient]>([:])
    let outcome = Mutex(ExamDayOutcome())
    /// Called at the day's milestones ("confirmation.opened", "mock.closed",
    /// "formal.opened", "formal.closed", "scores.started"); tests use it to
    /// crash a service there. It must return at once (start its own task).
    let checkpoint: @Sendable (String) -> Void
    public let options: ExamDayOptions
    /// Every write a client here was answered OK (issue 15).
    public let ledger = AckLedger()

    public init(mesh: MeshClient, roster: DemoRoster, script: ExamDayScript, outputDir: String, launcher: MeshLauncher,
                options: ExamDayOptions = ExamDayOptions(),
                say: @escaping @Sendable (String) -> Void = { print($0) },
                checkpoint: @escaping @Sendable (String) -> Void = { _ in }) {
        self.mesh = mesh
        self.options = options
        self.launcher = launcher
        self.roster = roster
        self.script = script
        self.outputDir = outputDir
        self.say = say
        self.checkpoint = checkpoint
        staff = Staff(mesh: mesh)
    }

    /// Does `body` again while the service it calls is down or restarting
    /// (UNAVAILABLE, DEADLINE_EXCEEDED: the request may or may not have been
    /// applied), as a real client does; `done` says which refusal on a retry
    /// means "it was applied the first time" (already confirmed, already
    /// started...).
    func retrying<T: Sendable>(_ what: String, done: @escaping @Sendable (RPCError) -> Bool = { _ in false },
                               _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await body()
            } catch let e as RPCError where e.code == .unavailable || e.code == .deadlineExceeded {
                guard attempt < 60 else { throw ExamDayError("\(what): still failing after \(attempt) attempts: \(e)") }
                try await Task.sleep(for: .milliseconds(250))  // the client's retry pace
            } catch let e as RPCError where attempt > 1 && done(e) {
                return nil
            }
        }
    }

    func step(_ text: String) {
        say("[\(BeijingTime.clock(Date()))] \(text)")
        outcome.withLock { $0.steps.append(text) }
    }

    /// A line about one candidate: said only when the options want them.
    func candidateStep(_ text: String) {
        if options.perCandidateSteps { step(text) }
    }

    func client(_ e: String) -> CandidateClient? { clients.withLock { $0[e] } }

    public func run() async throws -> ExamDayOutcome {
        let plan = try await staff.plan()
        let timing = try EventWatcher.follow(mesh, "timing", ["timing.interview.", "timing.entry.", "timing.candidate.absent"],
                                           key: EventWatcher.interviewKey)
        let rosterEvents = try EventWatcher.follow(mesh, "roster", ["roster.confirmation.closed", "roster.candidate."])
        let discipline = try EventWatcher.follow(mesh, "discipline", ["discipline.incident."])
        let completeness = try EventWatcher.follow(mesh, "recordings", ["recordings.completeness."], key: RecordingsSummary.key)

        // 1. The list (R1), before confirmation opens.
        let csv = roster.csv()
        guard let imported = try await retrying("import", { try await self.staff.importRoster(csv) }) else { throw ExamDayError("import") }
        step("import: \(imported.imported) candidates in \(imported.posts.count) posts (\(imported.unchanged) already there)")

        // 2. Confirmation (R3-R5).
        try await waitForClock(plan.confirmation.opens)
        step("confirmation opens: \(plan.confirmation.text)")
        checkpoint("confirmation.opened")
        let already: @Sendable (RPCError) -> Bool = { $0.code == .failedPrecondition && $0.message.contains("already") }
        let width = options.width
        try await inParallel(roster.candidates, width: width) { c in
            if self.script.forget.contains(c.examNumber) { return }
            guard let client = try await self.retrying("login of \(c.examNumber)", { try await CandidateClient.login(self.mesh, c) }) else { return }
            self.clients.withLock { $0[c.examNumber] = client }
            let e = c.examNumber
            if self.script.decline.contains(e) {
                if try await self.retrying("decline of \(e)", done: { _ in true }, { try await client.decline() }) != nil {
                    self.ledger.record(.declined(e))
                }
            } else {
                let compact = self.options.compactPhotos
                if let v = try await self.retrying("photo of \(e)", done: already, { try await client.uploadPhoto(compact: compact) }) {
                    self.ledger.record(.photo(e, uploadedAtMs: v.identity?.uploadedAtMs ?? 0))
                }
                if try await self.retrying("confirm of \(e)", done: already, { try await client.confirm() }) != nil {
                    self.ledger.record(.confirmed(e))
                }
            }
        }
        // Proctors clear the photo review queue (R4), a page at a time.
        var reviewed = 0
        while true {
            let queue = try await retrying("review queue") {
                try await self.mesh.call("roster", RosterAPI.reviewQueue, ReviewQueueRequest(limit: 1000), as: Staff.proctor("R01"))
            } ?? CandidateList()
            if queue.candidates.isEmpty { break }
            try await inParallel(queue.candidates.map(\.examNumber), width: width) { e in
                if try await self.retrying("review of \(e)", done: { _ in true }, {
                    try await self.mesh.call("roster", RosterAPI.reviewPhoto, ReviewPhotoRequest(examNumber: e, approve: true),
                                             as: Staff.proctor("R01"))
                }) != nil { self.ledger.record(.reviewed(e)) }
            }
            reviewed += queue.candidates.count
        }
        step("confirmation: photos reviewed: \(reviewed) approved")

        // 3. Phones (R30-R35): the candidates' phones are the phone
        // simulator, a process of its own. It logs in, registers both
        // phones (devices accepts them once roster says "confirmed"),
        // beats, enters the rooms when timing opens them, reveals the
        // question, ends early and fails as scripted; this run plays the
        // staff around it.
        let scenario = phoneScenario()
        let scenarioPath = (launcher.dataDir as NSString).appendingPathComponent("phones.json")
        try scenario.write(to: scenarioPath)
        let ready = try await launcher.start(MeshLauncher.Spec(name: "phone-sim", arguments: ["--scenario", scenarioPath]))
        step("phones: phone-sim plays \(scenario.candidates.count) candidates' two phones (\(ready.split(separator: " ").dropFirst(2).joined(separator: " ")))")
        let closed = try await rosterEvents.first(within: options.eventWait, "the confirmation window's end") { $0.topic == "roster.confirmation.closed" }
        let notice = try closed.decode(RosterNotice.self)
        outcome.withLock { o in
            o.confirmed = roster.candidates.map(\.examNumber).filter { !script.decline.contains($0) && !script.forget.contains($0) }
            o.declined = roster.candidates.map(\.examNumber).filter { script.decline.contains($0) }
            o.forfeited = roster.candidates.map(\.examNumber).filter { script.forget.contains($0) }
        }
        step("confirmation closed: \(notice.confirmed) confirmed, \(notice.declined) declined, \(notice.forfeited) forfeited (R5)")

        // 4. The mock test (R19), then 5. the formal interview.
        let devices = try EventWatcher.follow(mesh, "devices", ["devices.signal."])
        for sitting in [SittingKind.mock, .formal] {
            try await runSitting(sitting, plan: plan, timing: timing, discipline: discipline, devices: devices)
        }
        // 5b. The recordings (R38): recordings checks each interview's two
        // videos once its grace period is over; the phones stop after that,
        // so no final chunk is cut off.
        if options.uploads { try await summariseRecordings(completeness) }
        checkpoint("phones.stopping")
        if let report = await stopPhones() {
            for c in report.candidates {
                for p in c.phones where p.registeredAtMs != nil { ledger.record(.registered(c.examNumber, deviceID: p.deviceId)) }
            }
            for e in script.bannedVersion.sorted() {
                guard let main = report.candidate(e)?.phone(.main) else { continue }
                let refusal = main.registrationFailures.first { $0.code == "FAILED_PRECONDITION" }.map { "\($0.code): \($0.message)" } ?? "not refused"
                candidateStep("devices: \(e)'s iPhone with WeChat 8.0.20 was refused (R32: \(refusal)); "
                     + (main.registeredAtMs != nil ? "after the update it registered" : "it never registered"))
            }
            step("phones: \(report.heartbeatsSent) heartbeats sent, \(report.heartbeatsRefused) refused; "
                 + "\(report.candidates.reduce(0) { $0 + $1.faults.count }) faults played")
        }

        // 6. Scores (R50), sealed per room.
        let interviewed = outcome.withLock { $0.interviewedFormal }
        let disqualified = Set(outcome.withLock { $0.disqualified })
        checkpoint("scores.started")
        // Counted from who was scored and what the seals say, not by
        // subtraction: a candidate disqualified before the interview was
        // never among the interviewed (issue 15: "44 scored" where 45 were sealed).
        let scored = interviewed.filter { !disqualified.contains($0) }
        try await inParallel(scored, width: width) { e in
            guard let room = plan.room(of: e) else { return }
            for examiner in room.panel {
                let score = ExamDayScript.score(e, examiner.id)
                // A retried score is the same score: scoring takes it again (a correction to itself).
                if try await self.retrying("score of \(e) by \(examiner.id)", {
                    try await self.staff.score(e, examiner: examiner.id, score)
                }) != nil { self.ledger.record(.scored(e, examiner: examiner.id, score: score)) }
            }
        }
        for room in plan.rooms {
            if let r = try await retrying("seal of \(room.id)", { try await self.staff.sealRoom(room.id) }) {
                for c in r.sealed { ledger.record(.sealed(c.examNumber)) }
            }
        }
        // Sealed as scoring has it (a seal may also come with the panel's last score).
        let sealed = Mutex(0)
        try await inParallel(scored, width: width) { e in
            if try await self.retrying("scores of \(e)", { try await self.staff.scores(e) })?.sealed == true { sealed.withLock { $0 += 1 } }
        }
        step("scores: \(scored.count) candidates scored by their panels; \(sealed.withLock { $0 }) interview scores sealed")

        // 7. Publication (R55) and the public lists.
        let publication = try await retrying("publication", done: { $0.code == .alreadyExists }) { try await self.staff.publish() }
        outcome.withLock { $0.publication = publication }
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        var files: [String] = []
        for (list, format) in [(ListKind.totals, ExportFormat.csv), (.totals, .json), (.physicalExam, .csv), (.physicalExam, .json)] {
            guard let r = try await retrying("export", { try await self.staff.export(list, format) }) else { continue }
            let path = (outputDir as NSString).appendingPathComponent(r.fileName)
            try r.content.write(to: URL(fileURLWithPath: path))
            files.append(path)
        }
        outcome.withLock { $0.files = files }
        let warning = publication.map { $0.recordingsWarning.isEmpty ? "" : "; warning (R38): \($0.recordingsWarning)" } ?? ""
        step("published: version \(publication?.version ?? 0), \(publication?.candidates ?? 0) on the total list, \(publication?.physicalExam ?? 0) on the physical-exam list" + warning)
        return outcome.withLock { $0 }
    }

    func runSitting(_ sitting: SittingKind, plan: ExamPlan, timing: EventWatcher, discipline: EventWatcher,
                    devices: EventWatcher) async throws {
        let name = sitting == .mock ? "mock" : "formal"
        let window = sitting == .mock ? plan.mockEntry : plan.formalEntry
        try await waitForClock(window.opens)
        checkpoint("\(name).opened")
        // The phones enter by themselves (R11); timing's close says who did.
        let confirmed = outcome.withLock { $0.confirmed }
        let close = try await timing.first(within: options.eventWait, "the \(name) entry close") { e in
            e.topic == "timing.entry.closed" && (try? e.decode(EntryWindowEvent.self).sitting) == sitting
        }
        let entered = try close.decode(EntryWindowEvent.self).entered
        step("\(name): \(entered.count) of \(confirmed.count) candidates' phones entered (\(window.text))")
        checkpoint("\(name).closed")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for room in plan.rooms {
                group.addTask {
                    try await self.runRoom(room, sitting, timing: timing, discipline: discipline, devices: devices)
                }
            }
            try await group.waitForAll()
        }
        let done = outcome.withLock { sitting == .mock ? $0.interviewedMock.count : $0.interviewedFormal.count }
        step("\(name): \(done) interviews held in \(plan.rooms.count) rooms")
    }

    func runRoom(_ room: ExamRoom, _ sitting: SittingKind, timing: EventWatcher, discipline: EventWatcher,
                 devices: EventWatcher) async throws {
        let formal = sitting == .formal
        let rid = room.id
        guard let view = try await retrying("room \(rid)", { try await self.staff.room(rid, sitting) }) else { return }
        let present = view.queue.filter(\.inMainRoom).map(\.examNumber)
        // Screening on entry (R13).
        for e in present {
            if formal && script.failScreening.contains(e) {
                if try await retrying("screening of \(e)", {
                    try await self.staff.screen(e, room: rid, sitting, failing: .noEarphonesOrHeadset, note: "earphones in both ears")
                }) != nil { ledger.record(.screened(e, sitting, passed: false)) }
                let incident = try await discipline.first(within: .seconds(60), "the screening incident of \(e)") { ev in
                    (try? ev.decode(IncidentEvent.self).incident?.examNumber) == e
                }
                let id = try incident.decode(IncidentEvent.self).incident?.incidentId ?? ""
                if try await retrying("decision on \(id)", done: { $0.code == .failedPrecondition }, {
                    try await self.staff.decide(id, disqualify: true, reason: "failed screening: earphones (R13)", room: rid)
                }) != nil { ledger.record(.decided(incident: id, status: "disqualified")) }
                outcome.withLock { $0.disqualified.append(e); $0.incidents.append("\(e): failed screening, disqualified before the interview") }
                candidateStep("formal \(rid): \(e) failed screening (earphones); the chief examiner cancels the qualification (R13, R42)")
            } else {
                if try await retrying("screening of \(e)", { try await self.staff.screen(e, room: rid, sitting) }) != nil {
                    ledger.record(.screened(e, sitting, passed: true))
                }
            }
        }
        // Interviews in the drawn order (R20), one at a time (R14). The
        // next candidate is named explicitly, so a retried start cannot call
        // the one after.
        while true {
            guard let info = try await retrying("room \(rid)", { try await self.staff.room(rid, sitting) }), !info.next.isEmpty else { break }
            let e = info.next
            let startedNow = try await retrying("start of \(e)", done: { $0.code == .alreadyExists || $0.code == .failedPrecondition }) {
                try await self.mesh.call("timing", TimingAPI.startInterview,
                                         StartInterviewRequest(roomId: rid, sitting: sitting, examNumber: e), as: Staff.proctor(rid))
            }
            let started: InterviewInfo
            if let startedNow { ledger.record(.started(e, sitting, startedAtMs: startedNow.startedAtMs)) }
            if let startedNow { started = startedNow } else { started = try await interviewInfo(e, sitting, timing: timing) }
            // The main phone reveals the question (R14) and, if scripted,
            // ends early (R17); the phones' faults play out meanwhile.
            if formal { try await faults(e, room: room, started: started, discipline: discipline, devices: devices) }
            let ended = try await timing.interview("timing.interview.ended", e, sitting,
                                                   within: .seconds(Int64(started.endsAtMs - started.startedAtMs) / 1000 + 90))
            if formal && ended.reason == "ended_early" {
                candidateStep("formal \(rid): \(e) said \"finished\" and ended early with \(ended.remainingMs / 1000) s left (R17)")
            }
            outcome.withLock { formal ? $0.interviewedFormal.append(e) : $0.interviewedMock.append(e) }
        }
        _ = try await retrying("end of room \(rid)", done: { _ in true }) { try await self.staff.endRoom(rid, sitting) }
    }

    /// An interview that started (when the reply of the start was lost).
    func interviewInfo(_ e: String, _ sitting: SittingKind, timing: EventWatcher) async throws -> InterviewInfo {
        let s = try await timing.interview("timing.interview.started", e, sitting)
        return InterviewInfo(examNumber: e, roomId: s.roomId, sitting: sitting, phase: .reading, startedAtMs: s.startedAtMs,
                             readingEndsAtMs: s.readingEndsAtMs, endsAtMs: s.endsAtMs)
    }

    /// What happens during a formal interview, from its start: the phone
    /// simulator plays the phones' faults; staff act on what the services
    /// report.
    func faults(_ e: String, room: ExamRoom, started: InterviewInfo, discipline: EventWatcher, devices: EventWatcher) async throws {
        // A phone fault that devices could not see (it was restarting when
        // the phones went dark and came back) is noted, not waited for
        // forever: the lists then say what the services saw.
        let length = Duration.seconds(Int64(started.endsAtMs - started.startedAtMs) / 1000) + options.faultSlack
        if script.bothPhonesLost.contains(e) {
            let found = try? await discipline.first(within: length, "a ground-9 incident of \(e)") { ev in
                guard let i = try? ev.decode(IncidentEvent.self).incident else { return false }
                return i.examNumber == e && i.ground?.number == 9
            }
            guard let ev = found else {
                outcome.withLock { $0.unobserved.append("\(e): both phones dark, no ground-9 incident") }
                step("formal \(room.id): \(e)'s two phones went dark together, but no ground-9 incident came (devices did not see it)")
                return
            }
            let id = try ev.decode(IncidentEvent.self).incident?.incidentId ?? ""
            if try await retrying("decision on \(id)", done: { $0.code == .failedPrecondition }, {
                try await self.staff.decide(id, disqualify: true, reason: "both positions lost at once (ground 9)", room: room.id)
            }) != nil { ledger.record(.decided(incident: id, status: "disqualified")) }
            outcome.withLock { $0.disqualified.append(e); $0.incidents.append("\(e): both phones lost, disqualified, score void") }
            candidateStep("formal \(room.id): \(e)'s two phones went dark together; ground 9; the chief examiner voids the score (R34, R42)")
        }
        if script.droppedOnce.contains(e) {
            guard let outage = try? await restored(e, .secondary, devices, within: length) else {
                outcome.withLock { $0.unobserved.append("\(e): secondary phone's drop not seen") }
                return
            }
            candidateStep("formal \(room.id): \(e)'s secondary phone was lost for \(seconds(outage)) s and came back (R33)")
        }
        if script.incomingCall.contains(e) {
            guard let outage = try? await restored(e, .main, devices, within: length) else {
                outcome.withLock { $0.unobserved.append("\(e): main phone's call not seen") }
                return
            }
            candidateStep("formal \(room.id): a call cut \(e)'s main phone for \(seconds(outage)) s; the client came back by itself (R35)")
        }
        if script.toldName.contains(e) {
            let rid = room.id
            if let i = try await retrying("report on \(e)", { try await self.staff.report(e, ground: 4, evidence: "said their own name while answering", room: rid, requestID: "demo-\(e)") }) {
                ledger.record(.reported(incident: i.incidentId, examNumber: e))
                if try await retrying("decision on \(i.incidentId)", done: { $0.code == .failedPrecondition }, {
                    try await self.staff.decide(i.incidentId, disqualify: false, reason: "said a common surname only; not identifying", room: rid)
                }) != nil { ledger.record(.decided(incident: i.incidentId, status: "dismissed")) }
            }
            outcome.withLock { $0.incidents.append("\(e): ground 4 reported, dismissed") }
            candidateStep("formal \(room.id): a proctor reports \(e) for ground 4; the chief examiner dismisses it (R41, R42)")
        }
    }

    /// Devices' word that `e`'s `role` phone is back: the outage in ms.
    func restored(_ e: String, _ role: DeviceRole, _ devices: EventWatcher, within: Duration) async throws -> Int64 {
        let ev = try await devices.first(within: within, "the \(role) phone of \(e) restored") { ev in
            guard ev.topic == "devices.signal.restored", let s = try? ev.decode(SignalEvent.self) else { return false }
            return s.examNumber == e && s.role == role
        }
        return try ev.decode(SignalEvent.self).outageMs
    }

    func seconds(_ ms: Int64) -> String { String(format: "%.1f", Double(ms) / 1000) }

    /// The candidates' phones as the script wants them (R30-R35): every
    /// confirmed candidate, in the sittings they attend, with the faults.
    public func phoneScenario() -> PhoneScenario {
        let t = script.lossTimeout
        let confirmed = roster.candidates.filter { !script.decline.contains($0.examNumber) && !script.forget.contains($0.examNumber) }
        return PhoneScenario(heartbeatMs: options.heartbeatMs, lingerSeconds: nil, uploads: options.uploads ? UploadSettings() : nil,
                             candidates: confirmed.map { c in
            let e = c.examNumber
            var faults: [FaultScript] = []
            // Durations against devices' loss timeout `t`: lost, but not
            // for long enough to be ground 9 (b) unless both phones go.
            if script.bothPhonesLost.contains(e) { faults.append(FaultScript(.bothDrop, at: 0.5, seconds: t * 2.5)) }
            // Long enough to be seen across one restart of devices, which
            // judges silence afresh from its start (issue 15's crash campaign).
            if script.droppedOnce.contains(e) { faults.append(FaultScript(.drop, role: .secondary, at: 0.5, seconds: t * 2.2)) }
            if script.incomingCall.contains(e) { faults.append(FaultScript(.call, at: 0.5, seconds: t * 2)) }
            if script.bannedVersion.contains(e) { faults.append(FaultScript(.bannedVersion, seconds: 1)) }
            var sittings: [SittingChoice] = []
            if !script.skipMock.contains(e) { sittings.append(.mock) }
            if !script.absentFormal.contains(e) { sittings.append(.formal) }
            return CandidateScript(examNumber: e, phone: c.phone, password: c.defaultPassword, sittings: sittings,
                                   endEarly: script.endsEarly.contains(e),
                                   mainOS: script.bannedVersion.contains(e) ? .ios : .android, faults: faults,
                                   uploadFaults: script.unfinishedRecording.contains(e) ? [UploadFaultScript(.unfinished, role: .secondary)] : [])
        })
    }

    /// Waits for recordings' check of every interview held (its event),
    /// then says what it found: "recordings: N of M complete; incomplete: ...".
    func summariseRecordings(_ events: EventWatcher) async throws {
        let held = outcome.withLock { o in o.interviewedMock.map { ($0, SittingKind.mock) } + o.interviewedFormal.map { ($0, SittingKind.formal) } }
        let deadline = ContinuousClock.now + .seconds(90)
        var unchecked = 0
        for (e, sitting) in held {
            let left = deadline - ContinuousClock.now
            if left <= .zero { unchecked += 1; continue }
            if (try? await events.first(key: RecordingsSummary.key(e, sitting), within: left, "the recordings check of \(e)")) == nil { unchecked += 1 }
        }
        let report = try await retrying("completeness") {
            try await self.mesh.call("recordings", RecordingsAPI.completeness, CompletenessRequest(), as: Staff.ops)
        } ?? CompletenessReport()
        let outcomes = RecordingsSummary.outcomes(report)
        outcome.withLock { $0.recordings = outcomes; $0.recordingsPending = Int(report.pending) }
        step(RecordingsSummary.line(outcomes, pending: max(Int(report.pending), unchecked)))
    }

    /// Stops the phones (SIGTERM: they finish their beat and write their
    /// report) and reads the report.
    func stopPhones() async -> PhoneSimReport? {
        _ = await launcher.stop("phone-sim")
        return try? PhoneSimReport.load(path: (launcher.dataDir as NSString).appendingPathComponent("phone-sim-report.json"))
    }
}

/// Runs `body` over `items`, at most `width` at a time (many candidates'
/// clients at once, as on the day).
public func inParallel<T: Sendable>(_ items: [T], width: Int = 8,
                                    _ body: @escaping @Sendable (T) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var next = 0
        while next < min(width, items.count) {
            let item = items[next]
            group.addTask { try await body(item) }
            next += 1
        }
        while try await group.next() != nil {
            if next < items.count {
                let item = items[next]
                group.addTask { try await body(item) }
                next += 1
            }
        }
    }
}
