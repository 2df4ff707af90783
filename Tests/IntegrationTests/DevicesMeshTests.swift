import Bus
import DemoKit
import ExamContracts
import ExamDay
import ExamPlan
import Foundation
import PhoneSim
import ServiceKit
import Synchronization
import TestSupport
import Testing

// Issue 5's "must show": the phone simulator plays 200 candidates through
// real processes (roster, timing, devices, phone-sim); the scripted faults
// produce exactly the expected losses, restores, ground-9 incidents and
// rule breaches on devices' stream, and nothing else (R30-R35).

/// Devices' thresholds for the test: lost after 4 s of silence (R33), a
/// long outage is more than 10 s, more than 2 interruptions is too many
/// (R34). Phones beat every 500 ms, so only a scripted silence (at least a
/// second longer than the timeout) is a loss.
private let lossTimeout = 4.0, longOutage = 10.0, maxInterruptions = 2, heartbeatMs = 500

/// Who does what (indexes into the roster; rooms of two, so candidates 2k
/// and 2k+1 share room k+1). Faults anchored on the interview fall inside
/// its 15 + 15 s and end well before it does.
private enum Cast {
    static let drop = 0           // main silent 6 s: lost + restored, no ground 9
    static let call = 2           // a call cuts the main phone 6 s, then it rejoins (R35, R18)
    static let bothDrop = 4       // both silent 6 s: ground 9 (a) (R34)
    static let longDrop = 6       // secondary silent 14 s: ground 9 (b)
    static let repeated = 8       // main silent 5.5 s, three times: ground 9 (c)
    static let banned = 10        // iOS WeChat 8.0.20 refused (R32), updated after 3 s
    static let speaker = 12       // secondary's speaker on 4 s: rule broken, then cleared
    static let background = 14    // client in the background 4 s
    static let beforeStart = 16   // both silent 6 s before any interview: no ground 9
    static let endsEarly = 18     // ends the interview when answering starts (R17)
    static let mock = [1, 3, 20, 21]  // also join the mock sitting (R19)
    static let leavingCount = 10  // the last ten: a second simulator that stops after their interviews
}

@Suite("devices through real processes, with the phone simulator (R30-R35)", .serialized)
struct DevicesMeshTests {
    @Test func twoHundredCandidatesScriptedFaultsGiveExactlyTheExpectedSignalEvents() async throws {
        let clock = ContinuousClock()
        let began = clock.now
        let h = try MeshHarness(tag: "dev", services: ["roster", "timing", "devices"])
        let people = DemoRoster(count: 200, seed: 5)
        let c = people.candidates.map(\.examNumber)
        // Confirmation from timing's start for 75 s (the logins, photos and
        // the simulator's set-up take about 6 s here, over 45 s in a loaded
        // full run), a 5 s mock entry, a
        // 12 s formal entry, rooms of two, 15 s reading + 15 s answering.
        let planPath = h.dir + "/plan.json", devicesConfig = h.dir + "/devices.json"
        try Data(people.planJSON(roomSize: 2, confirmation: ("+0s", "+75s"), mockEntry: ("+76s", "+81s"),
                                 formalEntry: ("+83s", "+95s"), publication: "+1h", readingSeconds: 15, answeringSeconds: 15,
                                 panelSize: 1).utf8).write(to: URL(fileURLWithPath: planPath))
        try Data(#"{ "loss_timeout_seconds": \#(lossTimeout), "long_outage_seconds": \#(longOutage), "max_interruptions": \#(maxInterruptions) }"#.utf8)
            .write(to: URL(fileURLWithPath: devicesConfig))

        // The list before the plan: once confirmation opens it is frozen (R1, R3).
        try await h.start("roster", ["--scrypt-n", "1024"])
        try await h.start("devices", ["--config", devicesConfig])
        let staff = Staff(mesh: h.tools)
        #expect(try await staff.importRoster(people.csv()).imported == 200)
        let planApplied = try h.events("roster", ["roster.plan.applied"])
        try await h.start("timing", ["--plan", planPath])
        _ = try await within(.seconds(20), "roster to take timing's plan") { () -> Bool in
            for await _ in planApplied { return true }
            return false
        }
        let plan = try await staff.plan()

        // Everyone confirms with their own colour photo (R3, R4).
        try await inParallel(people.candidates, width: 8) { p in
            let client = try await CandidateClient.login(h.tools, p)
            let photo = SyntheticPhoto.blockyPNG(seed: UInt64(p.examNumber)! &* 0x9E37_79B9)
            _ = try await h.call("roster", RosterAPI.uploadIdPhoto,
                                 UploadIdPhotoRequest(token: client.token, photo: photo, fileName: "\(p.examNumber).png"))
            #expect(try await client.confirm().status == .confirmed)
        }
        let confirmedBy = clock.now - began

        // The scenario: every candidate's two phones, a few scripted faults.
        var scenario = PhoneScenario.demo(roster: people, heartbeatMs: heartbeatMs, sittings: [.formal], lingerSeconds: nil)
        scenario.script(c[Cast.drop], faults: [FaultScript(.drop, role: .main, at: 3, seconds: 6)])
        scenario.script(c[Cast.call], faults: [FaultScript(.call, at: 3, seconds: 6)])
        scenario.script(c[Cast.bothDrop], faults: [FaultScript(.bothDrop, at: 3, seconds: 6)])
        scenario.script(c[Cast.longDrop], faults: [FaultScript(.drop, role: .secondary, at: 2, seconds: 14)])
        scenario.script(c[Cast.repeated], faults: [FaultScript(.drop, at: 1, seconds: 5.5), FaultScript(.drop, at: 8, seconds: 5.5),
                                                   FaultScript(.drop, at: 15, seconds: 5.5)])
        scenario.script(c[Cast.banned], faults: [FaultScript(.bannedVersion, seconds: 3)])
        scenario.script(c[Cast.speaker], faults: [FaultScript(.speakerOn, at: 3, seconds: 4, volume: 35)])
        scenario.script(c[Cast.background], faults: [FaultScript(.background, role: .main, at: 3, seconds: 4)])
        scenario.script(c[Cast.beforeStart], faults: [FaultScript(.bothDrop, anchor: .start, at: 2, seconds: 6)])
        scenario.script(c[Cast.endsEarly], faults: [], endEarly: true)
        for i in Cast.mock { scenario.script(c[i], faults: [], sittings: [.mock, .formal]) }
        // Two simulators: the last ten candidates play in a second one that
        // stops by itself 2 s after their interviews ended (its linger), so
        // their phones fall silent after the end: lost, never restored, and
        // no ground 9, since the interviews were over (R34).
        var leaving = scenario
        scenario.candidates.removeLast(Cast.leavingCount)
        leaving.candidates.removeFirst(200 - Cast.leavingCount)
        leaving.lingerSeconds = 2
        #expect(scenario.problems().isEmpty && leaving.problems().isEmpty)
        let scenarioPath = h.dir + "/scenario.json", reportPath = h.dir + "/phone-sim-report.json"
        let leavingPath = h.dir + "/leaving.json", leavingReportPath = h.dir + "/leaving-report.json"
        try scenario.write(to: scenarioPath)
        try leaving.write(to: leavingPath)

        // The interviews, as proctors run them: once a room's order is drawn
        // at the entry close (R20), screen everyone (R13), start the first;
        // when an interview ends, start the next (R14).
        let timing = try h.events("timing", ["timing.room.drawn", "timing.interview.ended"])
        try await h.launcher.start([
            MeshLauncher.Spec(name: "phone-sim", arguments: ["--scenario", scenarioPath, "--report", reportPath]),
            MeshLauncher.Spec(name: "phone-sim-leaving", executable: "phone-sim",
                              arguments: ["--name", "phone-sim-leaving", "--scenario", leavingPath, "--report", leavingReportPath]),
        ])
        let readyBy = clock.now - began
        #expect(Date() < plan.mockEntry.opens, "the simulator was ready only after the mock entry opened: lengthen the confirmation window")

        let proctors = Proctors(staff: staff)
        let ended = try await within(.seconds(150), "every formal interview to end") { () -> [String: String] in
            var orders: [String: [String]] = [:], started: [String: Int] = [:], ended: [String: String] = [:]
            for await e in timing {
                if e.topic == "timing.room.drawn" {
                    let d = try e.decode(DrawEvent.self)
                    guard d.sitting == .formal else { continue }
                    orders[d.roomId] = d.order
                    started[d.roomId] = d.order.isEmpty ? 0 : 1
                    let room = d.roomId, order = d.order
                    Task { await proctors.open(room, order) }
                } else {
                    let i = try e.decode(InterviewEvent.self)
                    guard i.sitting == .formal else { continue }
                    ended[i.examNumber] = i.reason
                    if let order = orders[i.roomId], let n = started[i.roomId], n < order.count {
                        started[i.roomId] = n + 1
                        let room = i.roomId
                        Task { await proctors.startNext(room) }
                    }
                }
                if orders.count == plan.rooms.count && ended.count == orders.values.reduce(0, { $0 + $1.count }) { break }
            }
            return ended
        }
        #expect(proctors.problems.isEmpty, "\(proctors.problems)")
        #expect(ended.count == 200, "interviews ended: \(ended.count) of 200")
        #expect(ended[c[Cast.endsEarly]] == "ended_early")
        #expect(ended.filter { $0.key != c[Cast.endsEarly] }.allSatisfy { $0.value == "time_up" })

        // The second simulator ends by itself; its phones are lost.
        let leftWith = await h.launcher.waitExit("phone-sim-leaving", timeout: .seconds(30))
        #expect(leftWith == 0, "phone-sim-leaving: \(String(describing: leftWith)); log:\n\(h.log("phone-sim-leaving"))")
        let leavingReport = try PhoneSimReport.load(path: leavingReportPath)
        #expect(leavingReport.stopReason == "finished")
        let leavers = Set(leaving.candidates.map(\.examNumber))
        _ = try await h.collect("devices", ["devices.signal.lost"], within: .seconds(20)) { events in
            events.filter { e in (try? e.decode(SignalEvent.self)).map { leavers.contains($0.examNumber) } ?? false }.count == 2 * leavers.count
        }

        // Everything devices said up to now (the first simulator still beating).
        let head = try await h.call("devices", NodeAPI.info, InfoRequest()).headSeq
        let said = try await h.collect("devices", ["devices."], within: .seconds(30)) { $0.last.map { $0.seq >= head } ?? (head == 0) }
        let status = await h.launcher.stop("phone-sim", timeout: .seconds(15))
        #expect(status == 0, "phone-sim exited with \(String(describing: status)); log:\n\(h.log("phone-sim"))")
        let first = try PhoneSimReport.load(path: reportPath)
        #expect(first.stopReason == "SIGTERM")
        var report = first
        report.candidates += leavingReport.candidates
        report.heartbeatsRefused += leavingReport.heartbeatsRefused
        report.batchesFailed += leavingReport.batchesFailed

        // Exactly the scripted losses and restores (R33, R35), nothing else.
        let m = "main", s = "secondary"
        var lost: [String] = [], restored: [String] = [], ground9: [String] = [], rules: [String] = []
        var outages: [String: [Int64]] = [:], lateness: [Int64] = [], leftAfterTheEnd: [String] = []
        for e in said {
            switch e.topic {
            case "devices.signal.lost":
                let v = try e.decode(SignalEvent.self)
                if leavers.contains(v.examNumber) {
                    // Silent only once the simulator stopped, after the interviews.
                    #expect(v.lastSeenMs >= (leavingReport.candidate(v.examNumber)?.interview(.formal)?.endedAtMs ?? .max))
                    leftAfterTheEnd.append("\(v.examNumber) \(v.role == .main ? m : s)")
                    continue
                }
                lost.append("\(v.examNumber) \(v.role == .main ? m : s)")
                // Detected on time: past the timeout (R33: "more than"; the
                // same millisecond counts, times are whole ms), within a second.
                let late = v.atMs - v.lastSeenMs - Int64(lossTimeout * 1000)
                lateness.append(late)
                #expect(late >= 0 && late < 1000, "loss of \(v.deviceId) detected \(late) ms after its timeout")
            case "devices.signal.restored":
                let v = try e.decode(SignalEvent.self)
                restored.append("\(v.examNumber) \(v.role == .main ? m : s)")
                outages["\(v.examNumber) \(v.role == .main ? m : s)", default: []].append(v.outageMs)
            case "devices.ground9.detected":
                let v = try e.decode(Ground9Event.self)
                ground9.append("\(v.examNumber) \(v.kind)")
                #expect(v.sitting == .formal)
            case "devices.rule.broken", "devices.rule.cleared":
                let v = try e.decode(RuleEvent.self)
                rules.append("\(v.examNumber) \(v.role == .main ? m : s) \(v.rule?.rule ?? "?") \(e.topic.hasSuffix("broken") ? "broken" : "cleared")")
            default:
                continue
            }
        }
        let expectedSignal = [
            "\(c[Cast.drop]) \(m)", "\(c[Cast.call]) \(m)", "\(c[Cast.bothDrop]) \(m)", "\(c[Cast.bothDrop]) \(s)",
            "\(c[Cast.longDrop]) \(s)", "\(c[Cast.repeated]) \(m)", "\(c[Cast.repeated]) \(m)", "\(c[Cast.repeated]) \(m)",
            "\(c[Cast.beforeStart]) \(m)", "\(c[Cast.beforeStart]) \(s)",
        ].sorted()
        #expect(lost.sorted() == expectedSignal)
        #expect(leftAfterTheEnd.sorted() == leavers.flatMap { ["\($0) \(m)", "\($0) \(s)"] }.sorted())
        #expect(restored.sorted() == expectedSignal)
        // R34: each kind once, only for the faults inside the formal interview.
        #expect(ground9.sorted() == ["\(c[Cast.bothDrop]) bothAtOnce", "\(c[Cast.longDrop]) oneLong", "\(c[Cast.repeated]) repeated"].sorted())
        // R32: each rule its own event, broken then cleared.
        #expect(rules.sorted() == [
            "\(c[Cast.speaker]) \(s) secondary-speaker-muted broken", "\(c[Cast.speaker]) \(s) secondary-speaker-muted cleared",
            "\(c[Cast.background]) \(m) client-foreground broken", "\(c[Cast.background]) \(m) client-foreground cleared",
        ].sorted())

        // The simulator's account agrees: each outage devices measured is the
        // gap between the last heartbeat before the fault and the first after.
        for (i, exam) in [Cast.drop, Cast.call, Cast.bothDrop, Cast.longDrop, Cast.repeated, Cast.beforeStart].map({ ($0, c[$0]) }) {
            guard let r = report.candidate(exam) else {
                Issue.record("no report for \(exam)")
                continue
            }
            for role in [PhoneRole.main, .secondary] {
                let played = r.faults.filter { $0.roles.contains(role) }
                let gaps = played.compactMap { f in f.firstAfter(role).flatMap { a in f.lastBefore(role).map { a - $0 } } }
                let measured = outages["\(exam) \(role.rawValue)"] ?? []
                #expect(gaps.count == played.count, "candidate \(i): a fault without its heartbeat times: \(played)")
                #expect(measured.count == gaps.count, "candidate \(i) \(role): devices restored \(measured.count) outages, the simulator played \(gaps.count)")
                for (gap, outage) in zip(gaps.sorted(), measured.sorted()) {
                    #expect(abs(gap - outage) < 500, "candidate \(i) \(role): simulator gap \(gap) ms, devices outage \(outage) ms")
                }
                for f in played { #expect(f.startedAtMs != nil && f.endedAtMs != nil && f.failure == nil, "\(f)") }
            }
        }

        // What each simulated candidate did.
        #expect(report.candidates.count == 200)
        #expect(report.candidates.allSatisfy { $0.loggedInAtMs != nil })
        #expect(report.candidates.flatMap(\.phones).filter { $0.registeredAtMs != nil }.count == 400)
        #expect(report.heartbeatsRefused == 0 && report.batchesFailed == 0)
        for r in report.candidates {
            for role in PhoneRole.allCases {
                #expect(r.entries.contains { $0.sitting == .formal && $0.channel == role && $0.atMs != nil && !$0.reentry },
                        "\(r.examNumber) \(role) did not enter the formal sitting: \(r.entries)")
            }
            let formal = r.interview(.formal)
            #expect(formal?.questionRevealedAtMs != nil && formal?.endedAtMs != nil, "\(r.examNumber): \(String(describing: formal))")
        }
        for i in Cast.mock {
            #expect(report.candidate(c[i])?.entries.contains { $0.sitting == .mock && $0.channel == .main && $0.atMs != nil } == true)
        }
        let banned = report.candidate(c[Cast.banned])
        let refusal = banned?.phone(.main)?.registrationFailures.first
        #expect(refusal?.code == "FAILED_PRECONDITION" && refusal?.message.contains("ios-wechat-8.0.20") == true, "\(String(describing: refusal))")
        #expect(banned?.phone(.main)?.clientVersion == "8.0.30" && banned?.phone(.main)?.registeredAtMs != nil)
        #expect(report.candidate(c[Cast.call])?.entries.contains { $0.reentry && $0.atMs != nil } == true, "no rejoin after the call (R18)")
        #expect(report.candidate(c[Cast.endsEarly])?.interview(.formal)?.endRequestedAtMs != nil)

        await h.shutdown()
        print("devices mesh test: confirmed by \(confirmedBy), simulator ready by \(readyBy), losses detected "
              + "\(lateness.min() ?? 0)...\(lateness.max() ?? 0) ms after their timeout, done in \(clock.now - began)")
    }
}

@Suite("phone simulator scenarios")
struct PhoneScenarioTests {
    @Test func aScenarioFileReadsWithDefaultsAndEveryProblemIsNamed() throws {
        let json = """
        { "heartbeat_ms": 500, "candidates": [
            { "exam_number": "2022110001", "phone": "13912345678", "password": "12345X", "end_early": true,
              "faults": [ { "kind": "drop", "role": "secondary", "at": 5, "seconds": 12 },
                          { "kind": "bannedVersion", "seconds": 3 },
                          { "kind": "speakerOn", "anchor": "start", "at": 2, "seconds": 4 } ] },
            { "exam_number": "2022110001", "phone": "13912345678", "password": "",
              "faults": [ { "kind": "call", "role": "secondary", "seconds": 0 }, { "kind": "background" } ] } ] }
        """
        let path = try temporaryFolder("scen") + "/s.json"
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try PhoneScenario.load(path: path)
            Issue.record("a scenario with problems loaded")
        } catch let e as ScenarioError {
            for part in ["candidates[1].exam_number", "candidates[1].phone", "candidates[1].password",
                         "candidates[1].faults[0].seconds", "candidates[1].faults[0].role", "candidates[1].faults[1].seconds"] {
                #expect(e.description.contains(part), "\(part) not named in: \(e.description)")
            }
        }
        var good = PhoneScenario.demo(roster: DemoRoster(count: 3), heartbeatMs: 500, lingerSeconds: nil)
        good.script(good.candidates[0].examNumber, faults: [FaultScript(.drop, role: .secondary, at: 5, seconds: 12)], endEarly: true)
        try good.write(to: path)
        let back = try PhoneScenario.load(path: path)
        #expect(back == good)
        #expect(back.candidates[0].faults[0].anchor == .interview && back.candidates[1].sittings == [.mock, .formal])
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self).contains("\"heartbeat_ms\" : 500"))
    }

    @Test func uploadsAreOffUnlessAskedAndTheirProblemsAreNamed() throws {
        let path = try temporaryFolder("scen-up") + "/s.json"
        let base = #"{ "candidates": [ { "exam_number": "2022110001", "phone": "13912345678", "password": "12345X" } ] }"#
        try Data(base.utf8).write(to: URL(fileURLWithPath: path))
        #expect(try PhoneScenario.load(path: path).uploads == nil)
        let json = """
        { "uploads": { "chunk_ms": 50, "chunk_bytes": 0 }, "candidates": [
            { "exam_number": "2022110001", "phone": "13912345678", "password": "12345X",
              "upload_faults": [ { "kind": "stall", "role": "main", "at": 2 }, { "kind": "unfinished", "seconds": 3 } ] } ] }
        """
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try PhoneScenario.load(path: path)
            Issue.record("a scenario with problems loaded")
        } catch let e as ScenarioError {
            for part in ["uploads.chunk_ms", "uploads.chunk_bytes", "candidates[0].upload_faults[0].seconds",
                         "candidates[0].upload_faults[1].seconds"] {
                #expect(e.description.contains(part), "\(part) not named in: \(e.description)")
            }
        }
        var good = PhoneScenario.demo(roster: DemoRoster(count: 2), lingerSeconds: nil)
        good.uploads = UploadSettings()
        good.candidates[1].uploadFaults = [UploadFaultScript(.unfinished, role: .secondary), UploadFaultScript(.stall, role: .main, at: 3, seconds: 4)]
        try good.write(to: path)
        let back = try PhoneScenario.load(path: path)
        #expect(back == good && back.uploads?.chunkMs == 1000 && back.uploads?.chunkBytes == 16_384)
    }
}

/// Proctors running the formal rooms: screening (R13), "start, read the
/// question" for the next in the drawn order (R14, R20).
final class Proctors: Sendable {
    let staff: Staff
    private let failures = Mutex<[String]>([])

    init(staff: Staff) { self.staff = staff }

    var problems: [String] { failures.withLock { $0 } }

    /// The order is drawn: screen everyone present, start the first.
    func open(_ room: String, _ order: [String]) async {
        do {
            for exam in order { _ = try await staff.screen(exam, room: room, .formal) }
        } catch {
            failures.withLock { $0.append("screening in \(room): \(error)") }
        }
        if !order.isEmpty { await startNext(room) }
    }

    func startNext(_ room: String) async {
        do { _ = try await staff.startNext(room: room, .formal) } catch {
            failures.withLock { $0.append("start in \(room): \(error)") }
        }
    }
}
