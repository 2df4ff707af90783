import Bus
import DemoKit
import ExamContracts
import ExamDay
import ExamPlan
import Foundation
import ServiceKit
import Synchronization
import TestSupport
import Testing

/// Two phones per candidate, heartbeating from the test until it stops them.
final class TestPhones: Sendable {
    let mesh: MeshClient
    private let keys = Mutex<[String: String]>([:])
    private let silent = Mutex<Set<String>>([])

    init(mesh: MeshClient) { self.mesh = mesh }

    static func status(_ role: DeviceRole) -> DeviceStatus {
        DeviceStatus(cameraOn: true, camera: role == .main ? .front : .rear, microphoneOn: true, speakerVolume: 0,
                     batteryPercent: 90, network: .wifi, inForeground: true, autoLockOff: true, clientVersion: "8.0.44",
                     os: .android, osVersion: "13")
    }

    func register(_ c: CandidateClient) async throws {
        for role in [DeviceRole.main, .secondary] {
            let id = c.deviceID(role == .main ? .main : .secondary)
            let r = try await mesh.call("devices", DevicesAPI.registerDevice,
                                        RegisterRequest(token: c.token, role: role, deviceId: id, account: "wx-\(id)",
                                                        status: Self.status(role)))
            keys.withLock { $0[id] = r.deviceKey }
        }
    }

    /// The key devices gave the phone `deviceID` ("" before it registered).
    func key(_ deviceID: String) -> String { keys.withLock { $0[deviceID] ?? "" } }

    func silence(_ deviceIDs: [String]) { silent.withLock { $0.formUnion(deviceIDs) } }

    /// One heartbeat from every phone not silenced, every `every`.
    func run(every: Duration = .milliseconds(400)) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                let beats = keys.withLock { k in k }.filter { !silent.withLock { s in s }.contains($0.key) }
                    .map { HeartbeatRequest(deviceId: $0.key, deviceKey: $0.value, status: Self.status($0.key.hasSuffix("main") ? .main : .secondary)) }
                _ = try? await mesh.call("devices", DevicesAPI.heartbeatBatch, HeartbeatBatchRequest(heartbeats: beats))
                try? await Task.sleep(for: every)  // the phones' own pace, not a wait for the system
            }
        }
    }
}

@Suite("discipline through real processes (R40-R43)", .serialized)
struct DisciplineMeshTests {
    @Test func groundNineAndAStaffIncidentEndInDecisionsTimingActsOn() async throws {
        let h = try MeshHarness(tag: "disc", services: ["roster", "timing", "devices", "discipline"])
        let people = DemoRoster(count: 3, seed: 21)
        let planJSON = people.planJSON(roomSize: 3, confirmation: ("+17s", "+32s"), mockEntry: ("+33s", "+35s"),
                                       formalEntry: ("+36s", "+42s"), publication: "+1h", readingSeconds: 8, answeringSeconds: 8,
                                       panelSize: 3)
        let devicesConfig = h.dir + "/devices.json"
        try Data(#"{ "loss_timeout_seconds": 3, "long_outage_seconds": 5, "max_interruptions": 3 }"#.utf8)
            .write(to: URL(fileURLWithPath: devicesConfig))
        let day = try await OpenedDay(h, people, planJSON: planJSON, more: [("devices", ["--config", devicesConfig]), ("discipline", [])])
        let (staff, plan, room, clients) = (day.staff, day.plan, day.room, day.clients)
        for c in clients { _ = try await c.confirmWithPhoto() }
        let phones = TestPhones(mesh: h.tools)
        for c in clients { try await phones.register(c) }
        let beating = phones.run()
        defer { beating.cancel() }

        try await waitForClock(plan.formalEntry.opens)
        for c in clients {
            _ = try await c.enter(.formal, .main)
            _ = try await c.enter(.formal, .secondary)
        }
        try await waitForClock(plan.formalEntry.closes)
        for c in clients { _ = try await staff.screen(c.examNumber, room: room, .formal) }

        // A staff incident before C's interview (ground 7, another device):
        // the chief disqualifies; the qualification is cancelled (R42).
        let decisions = try h.events("discipline", ["discipline.incident."])
        let eligibility = try h.events("timing", ["timing.candidate.eligibility"])
        let order = try await staff.room(room, .formal).queue.map(\.examNumber)
        let c = clients.first { $0.examNumber == order[2] }!
        let incident = try await staff.report(c.examNumber, ground: 7, evidence: "a tablet on the desk, seen by the secondary camera",
                                              room: room, requestID: "r-1")
        #expect(incident.ground?.number == 7)
        #expect(incident.status == "open")
        // The same report again (a retry) is recorded once.
        let retry = try await staff.report(c.examNumber, ground: 7, evidence: "a tablet on the desk, seen by the secondary camera",
                                           room: room, requestID: "r-1")
        #expect(retry.incidentId == incident.incidentId && retry.duplicate)
        // Only the chief examiner decides.
        do {
            _ = try await h.call("discipline", DisciplineAPI.decide,
                                 DecideRequest(incidentId: incident.incidentId, outcome: .disqualify, reason: "x"), as: Staff.proctor(room))
            Issue.record("a proctor decided")
        } catch let e as RPCError { #expect(e.code == .permissionDenied) }
        let staffDecision = try await staff.decide(incident.incidentId, disqualify: true, reason: "another electronic device (ground 7)", room: room)
        #expect(staffDecision.effect == .qualificationCancelled)
        // Deciding it again without the reversal request is refused.
        await #expect(throws: RPCError.self) {
            _ = try await staff.decide(incident.incidentId, disqualify: false, reason: "second thoughts", room: room)
        }
        let blocked = try await within(.seconds(15), "timing to block C") { () -> EligibilityEvent? in
            for await e in eligibility {
                let v = try e.decode(EligibilityEvent.self)
                if v.examNumber == c.examNumber && !v.canEnter { return v }
            }
            return nil
        }
        #expect(blocked?.blockers.contains { $0.contains("disqualif") } == true)

        // A's interview: both phones go silent at once: ground 9 (R34),
        // detected by devices, recorded by discipline, decided by the chief.
        let a = try await staff.startNext(room: room, .formal)
        phones.silence([clients.first { $0.examNumber == a.examNumber }!.deviceID(.main),
                        clients.first { $0.examNumber == a.examNumber }!.deviceID(.secondary)])
        let nine = try await within(.seconds(30), "a ground-9 incident") { () -> IncidentView? in
            for await e in decisions where e.topic == "discipline.incident.reported" {
                let i = try e.decode(IncidentEvent.self).incident
                if i?.ground?.number == 9 { return i }
            }
            return nil
        }
        #expect(nine?.examNumber == a.examNumber)
        #expect(nine?.source == "devices.signal")
        let decided = try await staff.decide(try #require(nine?.incidentId), disqualify: true, reason: "both positions lost at once", room: room)
        #expect(decided.effect == .scoreVoided)   // after the interview started (R42)

        // C cannot be called (disqualified), nor re-enter.
        do {
            _ = try await h.call("timing", TimingAPI.startInterview,
                                 StartInterviewRequest(roomId: room, sitting: .formal, examNumber: c.examNumber), as: Staff.proctor(room))
            Issue.record("a disqualified candidate was called")
        } catch let e as RPCError { #expect(e.code == .failedPrecondition || e.code == .alreadyExists) }
        // The log keeps both, in order; the export has no ID numbers.
        let log = try await h.call("discipline", DisciplineAPI.exportLog, ExportLogRequest(), as: Staff.ops)
        let csv = String(decoding: log.csv, as: UTF8.self)
        #expect(log.entries == 4)
        #expect(csv.hasPrefix("\u{FEFF}"))
        for p in people.candidates { #expect(!csv.contains(p.idNumber)) }
        let listed = try await h.call("discipline", DisciplineAPI.listIncidents, ListIncidentsRequest(status: "disqualified"))
        #expect(Set(listed.incidents.map(\.examNumber)) == [a.examNumber, c.examNumber])
        await h.shutdown()
    }
}
