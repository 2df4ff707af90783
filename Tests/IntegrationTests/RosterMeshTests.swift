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

/// A plan whose confirmation window opens `opensIn` seconds after timing
/// first starts and lasts `lasts`; the sittings come long after.
func rosterPlan(_ r: DemoRoster, opensIn: Int, lasts: Int) -> String {
    r.planJSON(roomSize: 50, confirmation: ("+\(opensIn)s", "+\(opensIn + lasts)s"),
               mockEntry: ("+\(opensIn + lasts + 600)s", "+\(opensIn + lasts + 660)s"),
               formalEntry: ("+\(opensIn + lasts + 1200)s", "+\(opensIn + lasts + 1260)s"),
               publication: "+2h", readingSeconds: 300, answeringSeconds: 300, panelSize: 3)
}

@Suite("roster through real processes (R1-R6)", .serialized)
struct RosterMeshTests {
    @Test func aThousandCandidatesConfirmDeclineOrForfeitAcrossARosterCrash() async throws {
        let h = try MeshHarness(tag: "roster", services: ["roster", "timing"])
        let people = DemoRoster(count: 1000, seed: 7)
        let planPath = h.dir + "/plan.json"
        try Data(rosterPlan(people, opensIn: 20, lasts: 45).utf8).write(to: URL(fileURLWithPath: planPath))
        try await h.start("timing", ["--plan", planPath])
        try await h.start("roster", ["--scrypt-n", "1024"])
        let staff = Staff(mesh: h.tools)
        let plan = try await staff.plan()
        let events = try h.events("roster", ["roster.candidate.", "roster.confirmation.closed"])

        // R1: the list, imported before confirmation opens.
        let imported = try await staff.importRoster(people.csv())
        #expect(imported.imported == 1000)
        #expect(imported.posts.count == 3)
        // The same file again changes nothing.
        let again = try await staff.importRoster(people.csv())
        #expect(again.imported == 0 && again.unchanged == 1000)

        try await waitForClock(plan.confirmation.opens)
        let confirming = Array(people.candidates[0..<150])
        let declining = Array(people.candidates[150..<200])
        let forgetting = Array(people.candidates[200..<260])
        let done = Mutex<Set<String>>([])
        // R3: photo then a second confirm, for 150; half of them before roster
        // crashes, half after it restarted.
        try await inParallel(Array(confirming.prefix(75))) { c in
            let client = try await CandidateClient.login(h.tools, c)
            let v = try await client.confirmWithPhoto()
            #expect(v.status == .confirmed)
            done.withLock { _ = $0.insert(c.examNumber) }
        }
        h.launcher.signal("roster", SIGKILL)
        _ = await h.launcher.waitExit("roster", timeout: .seconds(10))
        try await h.start("roster", ["--scrypt-n", "1024"])
        try await inParallel(Array(confirming.suffix(75))) { c in
            let client = try await CandidateClient.login(h.tools, c)
            #expect(try await client.confirmWithPhoto().status == .confirmed)
        }
        try await inParallel(declining) { c in
            let client = try await CandidateClient.login(h.tools, c)
            #expect(try await client.decline().status == .declined)
        }
        // These log in and never confirm: forfeited at the window's end (R5).
        try await inParallel(forgetting) { c in _ = try await CandidateClient.login(h.tools, c) }

        // Read the outcome from the event stream: each candidate's final word once.
        let seen = try await within(.seconds(120), "the window's end") { () -> [DeliveredEvent] in
            var got: [DeliveredEvent] = []
            for await e in events {
                got.append(e)
                if e.topic == "roster.confirmation.closed" { break }
            }
            return got
        }
        func who(_ topic: String) throws -> [String] {
            try seen.filter { $0.topic == topic }.map { try $0.decode(CandidateEvent.self).examNumber }
        }
        let confirmed = try who("roster.candidate.confirmed"), declined = try who("roster.candidate.declined")
        let forfeited = try who("roster.candidate.forfeited")
        #expect(confirmed.count == 150 && Set(confirmed) == Set(confirming.map(\.examNumber)))
        #expect(declined.count == 50 && Set(declined) == Set(declining.map(\.examNumber)))
        #expect(forfeited.count == 800)
        #expect(Set(forfeited).isDisjoint(with: Set(confirmed + declined)))
        #expect(try who("roster.candidate.imported").count == 1000)
        // Nothing acknowledged before the crash was lost.
        #expect(done.withLock { $0.count } == 75)
        let counts = try await h.call("roster", RosterAPI.counts, CountsRequest())
        let byStatus = Dictionary(uniqueKeysWithValues: counts.byStatus.map { ($0.status, $0.count) })
        #expect(byStatus[.confirmed] == 150 && byStatus[.declined] == 50 && byStatus[.forfeited] == 800)
        // R6: a forfeited candidate cannot enter a room.
        let late = try await CandidateClient.login(h.tools, forgetting[0])
        await #expect(throws: RPCError.self) { _ = try await late.enter(.mock, .main) }
        await h.shutdown()
    }

    @Test func badInputsAreRefusedWithWhereAndChangeNothing() async throws {
        let h = try MeshHarness(tag: "roster-bad", services: ["roster", "timing"])
        let people = DemoRoster(count: 5, seed: 9)
        let planPath = h.dir + "/plan.json"
        try Data(rosterPlan(people, opensIn: 3, lasts: 60).utf8).write(to: URL(fileURLWithPath: planPath))
        try await h.start("timing", ["--plan", planPath])
        try await h.start("roster", ["--scrypt-n", "1024", "--max-failures", "3", "--lock-seconds", "60"])
        let staff = Staff(mesh: h.tools)
        let plan = try await staff.plan()

        // A file with bad rows: every error, with line and column; nothing imported.
        var csv = String(decoding: people.csv(bom: false), as: UTF8.self).components(separatedBy: "\r\n")
        csv[2] = csv[2].replacingOccurrences(of: people.candidates[1].phone, with: people.candidates[1].phone + "1")
        csv[3] = csv[3].replacingOccurrences(of: people.candidates[2].writtenScore, with: "88.125")
        do {
            _ = try await staff.importRoster(Data(csv.joined(separator: "\r\n").utf8))
            Issue.record("a bad file was accepted")
        } catch let e as RPCError {
            #expect(e.code == .invalidArgument)
            #expect(e.message.contains("line 3, column phone"))
            #expect(e.message.contains("line 4, column written_score"))
            // Each bad row once (the message used to list them twice).
            #expect(e.message.components(separatedBy: "line 3, column phone").count == 2, "\(e.message)")
            #expect(e.message.components(separatedBy: "line 4, column written_score").count == 2)
        }
        #expect(try await h.call("roster", RosterAPI.counts, CountsRequest()).total == 0)
        _ = try await staff.importRoster(people.csv())
        try await waitForClock(plan.confirmation.opens)

        // R2: with 3 tolerated, the 4th wrong password locks the account;
        // the right one then fails, saying until when.
        let c = people.candidates[0]
        let locks = try h.events("roster", ["roster.account.locked"])
        for _ in 0..<4 {
            await #expect(throws: RPCError(.unauthenticated, "手机号或密码错误")) {
                _ = try await CandidateClient.login(h.tools, c, password: "wrong-pass")
            }
        }
        let locked = try await within(.seconds(10), "the lock") { () -> AccountEvent? in
            for await e in locks { return try e.decode(AccountEvent.self) }
            return nil
        }
        #expect(locked?.examNumber == c.examNumber)
        #expect(locked?.failures == 4)
        do {
            _ = try await CandidateClient.login(h.tools, c)
            Issue.record("the right password got in during the lock")
        } catch let e as RPCError {
            #expect(e.code == .permissionDenied)
            #expect(e.message.contains("北京时间"))
        }

        // A 20 MB upload is refused before anything is stored.
        let other = try await CandidateClient.login(h.tools, people.candidates[1])
        do {
            _ = try await h.call("roster", RosterAPI.uploadIdPhoto,
                                 UploadIdPhotoRequest(token: other.token, photo: Data(count: 20 << 20), fileName: "big.jpg"))
            Issue.record("20 MB accepted")
        } catch let e as RPCError {
            #expect(e.code == .invalidArgument)
        }
        await #expect(throws: RPCError.self) {
            _ = try await h.call("roster", RosterAPI.getPhoto, CandidateRef(examNumber: people.candidates[1].examNumber), as: Staff.ops)
        }
        // A PNG named .jpg is judged by its bytes.
        let png = SyntheticPhoto.png(seed: 42)
        let view = try await h.call("roster", RosterAPI.uploadIdPhoto, UploadIdPhotoRequest(token: other.token, photo: png, fileName: "card.jpg"))
        #expect(view.identity?.format == "png")
        await h.shutdown()
    }
}
