import Bus
import DemoKit
import ExamContracts
import ExamDay
import ExamPlan
import Foundation
import ServiceKit
import TestSupport
import Testing

@Suite("timing through real processes (R10-R22)", .serialized)
struct TimingMeshTests {
    @Test func countdownsSurviveATimingCrashAndFireOnTimeOnce() async throws {
        let h = try MeshHarness(tag: "timing", services: ["roster", "timing"])
        let people = DemoRoster(count: 6, seed: 11)
        // Confirmation, a mock entry, the formal entry; 3 s reading + 3 s answering.
        let planJSON = people.planJSON(roomSize: 6, confirmation: ("+17s", "+34s"), mockEntry: ("+35s", "+39s"),
                                       formalEntry: ("+40s", "+46s"), publication: "+1h", readingSeconds: 3, answeringSeconds: 3,
                                       panelSize: 3)
        let day = try await OpenedDay(h, people, planJSON: planJSON)
        let (staff, plan, room, clients, planPath) = (day.staff, day.plan, day.room, day.clients, day.planPath)
        for c in clients.prefix(5) { _ = try await c.confirmWithPhoto() }
        _ = try await clients[5].decline()

        // Timing learns confirmations from roster's events; wait for the
        // last one to be applied before the entry window.
        let eligibility = try h.events("timing", ["timing.candidate.eligibility"])
        _ = try await within(.seconds(20), "timing to see the confirmations") { () -> Int in
            var can = Set<String>()
            for await e in eligibility {
                let v = try e.decode(EligibilityEvent.self)
                if v.canEnter { can.insert(v.examNumber) } else { can.remove(v.examNumber) }
                if can.count == 5 { break }
            }
            return can.count
        }

        try await waitForClock(plan.formalEntry.opens)
        // Entry edges through the process: the declined candidate is refused
        // (R6, R11); a second main-room entry from another device is refused.
        do {
            _ = try await clients[5].enter(.formal, .main)
            Issue.record("a declined candidate entered")
        } catch let e as RPCError { #expect(e.code == .failedPrecondition) }
        for c in clients.prefix(4) {
            #expect(try await c.enter(.formal, .main).inMainRoom)
            _ = try await c.enter(.formal, .secondary)
        }
        do {
            _ = try await h.call("timing", TimingAPI.enter,
                                 EnterRequest(token: clients[0].token, sitting: .formal, channel: .main, deviceId: "another-phone"))
            Issue.record("a second main-room device was let in")
        } catch let e as RPCError { #expect(e.code == .alreadyExists) }
        // clients[4] never enters: absent at the close, forfeits (R12).
        let closed = try h.events("timing", ["timing.candidate.absent"])
        try await waitForClock(plan.formalEntry.closes)
        let absentee = clients[4].examNumber
        let absent = try await within(.seconds(10), "the absence at the entry close") { () -> CandidateMoment? in
            for await e in closed {
                let m = try e.decode(CandidateMoment.self)
                if m.sitting == .formal && m.examNumber == absentee { return m }
            }
            return nil
        }
        #expect(absent?.forfeitsInterview == true)

        // Screen everyone present, then the first interview.
        for c in clients.prefix(4) { _ = try await staff.screen(c.examNumber, room: room, .formal) }
        let phases = try h.events("timing", ["timing.interview."])
        let first = try await staff.startNext(room: room, .formal)
        #expect(first.phase == .reading)
        #expect(first.endsAtMs - first.startedAtMs == 6000)
        await #expect(throws: RPCError.self) {
            _ = try await h.call("timing", TimingAPI.startInterview,
                                 StartInterviewRequest(roomId: room, sitting: .formal, examNumber: first.examNumber), as: Staff.proctor(room))
        }
        let candidate = clients.first { $0.examNumber == first.examNumber }!
        _ = try await candidate.revealQuestion(.formal)
        // R17: ending early during reading is refused.
        await #expect(throws: RPCError.self) { _ = try await candidate.endInterview(.formal) }

        // R22: timing dies mid-reading and comes back after the turn to
        // answering was due; the countdown did not pause.
        h.launcher.signal("timing", SIGKILL)
        _ = await h.launcher.waitExit("timing", timeout: .seconds(10))
        try await waitForClock(Date(unixMs: first.readingEndsAtMs).addingTimeInterval(1))
        try await h.start("timing", ["--plan", planPath])

        let events = try await within(.seconds(20), "the first interview's end") { () -> [DeliveredEvent] in
            var got: [DeliveredEvent] = []
            for await e in phases {
                let i = try e.decode(InterviewEvent.self)
                guard i.examNumber == first.examNumber else { continue }
                got.append(e)
                if e.topic == "timing.interview.recording_saved" { break }
            }
            return got
        }
        let topics = events.map(\.topic)
        #expect(topics.filter { $0 == "timing.interview.started" }.count == 1)
        #expect(topics.filter { $0 == "timing.interview.answering" }.count == 1)
        #expect(topics.filter { $0 == "timing.interview.ended" }.count == 1)
        let answering = try events.first { $0.topic == "timing.interview.answering" }!.decode(InterviewEvent.self)
        #expect(answering.dueMs == first.readingEndsAtMs)   // fired late, carrying its due time
        let ended = try events.first { $0.topic == "timing.interview.ended" }!.decode(InterviewEvent.self)
        #expect(ended.reason == "time_up")
        #expect(ended.dueMs == first.endsAtMs)
        #expect(ended.atMs - first.endsAtMs <= 1000, "the end fired \(ended.atMs - first.endsAtMs) ms after it was due")
        // R18: after the end, re-entry is refused.
        do {
            _ = try await candidate.enter(.formal, .main)
            Issue.record("re-entry after the countdown ended")
        } catch let e as RPCError { #expect(e.code == .outOfRange || e.code == .failedPrecondition) }

        // The next interview: the candidate ends early while answering (R17).
        let second = try await staff.startNext(room: room, .formal)
        let next = clients.first { $0.examNumber == second.examNumber }!
        try await waitForClock(Date(unixMs: second.readingEndsAtMs).addingTimeInterval(0.3))
        let early = try await next.endInterview(.formal)
        #expect(early.phase == .ended)
        #expect(early.endReason == "ended_early")
        await h.shutdown()
    }
}
