import Bus
import DemoKit
import ExamContracts
import ExamDay
import ExamPlan
import Foundation
import ServiceKit
import TestSupport
import Testing

/// The proctor command against real processes (issue 8): its event tail
/// loses and repeats nothing across a SIGKILL of timing, and its board shows
/// what happened in the room.
@Suite("proctor live view through real processes", .serialized)
struct ProctorMeshTests {
    struct TailLine: Decodable { var publisher: String; var seq: UInt64; var topic: String }

    @Test func tailSurvivesATimingCrashAndTheBoardShowsTheRoom() async throws {
        let h = try MeshHarness(tag: "proctor", services: ["roster", "timing"])
        let people = DemoRoster(count: 4, seed: 21)
        let planJSON = people.planJSON(roomSize: 4, confirmation: ("+17s", "+32s"), mockEntry: ("+33s", "+35s"),
                                       formalEntry: ("+36s", "+40s"), publication: "+1h", readingSeconds: 60, answeringSeconds: 60,
                                       panelSize: 3)
        let day = try await OpenedDay(h, people, planJSON: planJSON)
        let (staff, plan, room, clients, planPath) = (day.staff, day.plan, day.room, day.clients, day.planPath)
        let tail = try ToolProcess("proctor", ["--mesh", h.meshPath, "--tail", "--json"])
        for c in clients.prefix(3) { _ = try await c.confirmWithPhoto() }
        _ = try await clients[3].decline()

        try await waitForClock(plan.formalEntry.opens)
        for c in clients.prefix(2) {
            _ = try await c.enter(.formal, .main)
            _ = try await c.enter(.formal, .secondary)
        }
        // clients[2] never enters: absent at the close (R12).
        let absence = try h.events("timing", ["timing.candidate.absent"])
        try await waitForClock(plan.formalEntry.closes)
        _ = try await within(.seconds(10), "the absence at the entry close") { () -> Bool in
            for await e in absence where try e.decode(CandidateMoment.self).sitting == .formal { return true }
            return false
        }
        for c in clients.prefix(2) { _ = try await staff.screen(c.examNumber, room: room, .formal) }
        let first = try await staff.startNext(room: room, .formal)

        // Timing dies and comes back while the proctor follows it.
        h.launcher.signal("timing", SIGKILL)
        _ = await h.launcher.waitExit("timing", timeout: .seconds(10))
        try await h.start("timing", ["--plan", planPath])
        let candidate = clients.first { $0.examNumber == first.examNumber }!
        _ = try await candidate.revealQuestion(.formal)

        // Everything timing kept, straight from its stream...
        let head = try await h.call("timing", NodeAPI.info, InfoRequest()).headSeq
        let kept = try await h.collect("timing", []) { $0.last?.seq ?? 0 >= head }
        // ...arrived through the proctor's tail once each, in order.
        let seen = try await within(.seconds(20), "the proctor's tail to reach timing #\(head)") { () -> [TailLine] in
            var got: [TailLine] = []
            for await line in tail.lines {
                let l = try JSONDecoder().decode(TailLine.self, from: Data(line.utf8))
                guard l.publisher == "timing" else { continue }
                got.append(l)
                if l.seq >= head { break }
            }
            return got
        }
        tail.terminate()
        #expect(seen.map(\.seq) == Array(1...head))
        #expect(seen.map(\.topic) == kept.prefix(seen.count).map(\.topic))

        // The board: the interview running with its time left, the absent
        // candidate, the one who declined.
        let (board, status) = try await ToolProcess.run("proctor", ["--mesh", h.meshPath, "--once", "--sitting", "formal", "--room", room])
        #expect(status == 0)
        let text = board.joined(separator: "\n")
        func row(_ c: CandidateClient) -> String { board.first { $0.contains(c.examNumber) } ?? "" }
        #expect(row(candidate).contains("reading") && row(candidate).contains("left"), "\(text)")
        #expect(row(clients[2]).contains("absent"), "\(text)")
        #expect(row(clients[3]).contains("declined"), "\(text)")
        #expect(board.contains { $0.hasPrefix(room) && $0.contains("▶ \(first.examNumber)") }, "\(text)")
        #expect(!text.contains("still catching up"), "\(text)")
        await h.shutdown()
    }
}
