import Bus
import DemoKit
import ExamContracts
import ExamDay
import ExamPlan
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ServiceKit
import TestSupport
import Testing

/// The staff console through real processes (R62, R63): `gateway staff
/// codes` hands out one-time codes, a first sign-in sets the password, the
/// board is built from the services' events and survives a SIGKILL of
/// roster (replay), the session survives a gateway restart, and no code,
/// password or session token reaches the gateway's log.
@Suite("staff console through real processes (R62, R63)", .serialized)
struct StaffConsoleMeshTests {
    /// A browser's cookie jar of one: the staff session.
    final class Browser: @unchecked Sendable {
        let base: String
        var cookie = ""
        var csrf = ""
        init(base: String) { self.base = base }

        func send(_ method: String, _ path: String, json: String? = nil, csrf send: Bool = true) async throws -> (Int, [String: Any]) {
            var r = URLRequest(url: URL(string: base + path)!)
            r.httpMethod = method
            if !cookie.isEmpty { r.setValue(cookie, forHTTPHeaderField: "Cookie") }
            if send && !csrf.isEmpty { r.setValue(csrf, forHTTPHeaderField: "X-CSRF-Token") }
            if let json {
                r.httpBody = Data(json.utf8)
                r.setValue("application/json", forHTTPHeaderField: "Content-Type")
            }
            let (data, response) = try await URLSession.shared.data(for: r)
            let http = response as! HTTPURLResponse
            if let set = http.value(forHTTPHeaderField: "Set-Cookie") { cookie = String(set.split(separator: ";")[0]) }
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            if let c = object["csrf"] as? String { csrf = c }
            return (http.statusCode, object)
        }
    }

    @Test func codesSignInAndABoardThatSurvivesRestarts() async throws {
        let h = try MeshHarness(tag: "staff", services: ["roster", "timing", "devices", "discipline", "scoring", "gateway"])
        let people = DemoRoster(count: 6, seed: 13)
        let planPath = h.dir + "/plan.json"
        try Data(rosterPlan(people, opensIn: 18, lasts: 300).utf8).write(to: URL(fileURLWithPath: planPath))
        try await h.start("timing", ["--plan", planPath])
        try await h.start("roster", ["--scrypt-n", "1024"])
        // The list first: the confirmation window freezes it, and starting
        // the others takes long on a loaded machine.
        let staff = Staff(mesh: h.tools)
        _ = try await staff.importRoster(people.csv())
        try await h.start("devices")
        try await h.start("discipline")
        try await h.start("scoring")
        let gatewayArgs = ["--http", "127.0.0.1:0", "--scrypt-n", "1024", "--ops", "ops", "--ops", "ops-night"]
        try await h.start("gateway", gatewayArgs)
        defer { Task { await h.shutdown() } }
        let plan = try await staff.plan()
        let room = try #require(plan.rooms.first)
        let proctorID = try #require(room.proctors.first)

        // The accounts appear from the plan (the gateway reads it after READY).
        let accounts = try await within(.seconds(20), "staff accounts from the plan") {
            while true {
                let a = try await h.call("gateway", GatewayAPI.staffAccounts, StaffAccountsRequest()).accounts
                if a.contains(where: { $0.id == proctorID }) { return a }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(Set(accounts.map(\.id)).isSuperset(of: [proctorID, "ops", "ops-night"] + room.panel.map(\.id)))
        #expect(accounts.first { $0.id == room.panel.first { $0.chief }!.id }?.role == "chief")
        // A candidate may not ask for codes.
        await #expect(throws: RPCError.self) {
            try await h.call("gateway", GatewayAPI.staffCodes, StaffCodesRequest(), as: CallPrincipal(id: people.candidates[0].examNumber, role: .candidate))
        }

        // `gateway staff codes` (the real command) prints one code per account without a password.
        let run = try await ToolProcess.run("gateway", ["staff", "codes", "--mesh", h.meshPath, "--json"])
        #expect(run.status == 0)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(run.output.joined(separator: "\n").utf8)) as? [[String: Any]])
        let codes = Dictionary(uniqueKeysWithValues: rows.map { ($0["id"] as! String, $0["code"] as! String) })
        let code = try #require(codes[proctorID])

        let ready = try #require(h.launcher.readyLine("gateway"))
        let address = try #require(ready.split(separator: " ").first { $0.hasPrefix("http=") }?.dropFirst(5))
        let browser = Browser(base: "http://\(address)")
        var (status, body) = try await browser.send("POST", "/api/v1/staff/session",
                                                    json: #"{"id":"\#(proctorID)","code":"\#(code.lowercased())","newPassword":"correct horse battery"}"#)
        #expect(status == 201, "\(body)")
        #expect(body["role"] as? String == "proctor")
        #expect((body["rooms"] as? [[String: Any]])?.map { $0["id"] as? String } == [room.id])

        // The board: the imported candidates with their names (roster's events).
        /// exam number -> name and roster status, as the board shows them.
        @Sendable func board() async throws -> [String: [String: String]] {
            let (s, b) = try await browser.send("GET", "/api/v1/staff/rooms/\(room.id)/board?sitting=formal")
            #expect(s == 200, "\(b)")
            var out: [String: [String: String]] = [:]
            for c in b["candidates"] as? [[String: Any]] ?? [] {
                out[c["examNumber"] as? String ?? ""] = ["name": c["name"] as? String ?? "", "roster": c["roster"] as? String ?? ""]
            }
            return out
        }
        let first = people.candidates.first { room.candidates.contains($0.examNumber) }!
        try await within(.seconds(20), "the board shows the imported candidates") {
            while try await board()[first.examNumber]?["name"] != first.name {
                try await Task.sleep(for: .milliseconds(100))
            }
        }

        // roster dies (SIGKILL) and comes back; a confirmation made after it
        // reaches the board by roster's stream (the gateway catches up).
        h.launcher.signal("roster", SIGKILL)
        _ = await h.launcher.waitExit("roster", timeout: .seconds(10))
        try await h.start("roster", ["--scrypt-n", "1024"])
        try await waitForClock(plan.confirmation.opens)
        let candidate = try await CandidateClient.login(h.tools, first)
        _ = try await candidate.confirmWithPhoto()
        try await within(.seconds(20), "the board shows the confirmation after roster's restart") {
            while try await board()[first.examNumber]?["roster"] != "confirmed" {
                try await Task.sleep(for: .milliseconds(100))
            }
        }

        // The gateway restarts: the session is still there (its store), the board is rebuilt by replay.
        #expect(await h.launcher.stop("gateway", timeout: .seconds(15)) == 0)
        try await h.start("gateway", gatewayArgs)
        let again = try #require(h.launcher.readyLine("gateway"))
        let address2 = try #require(again.split(separator: " ").first { $0.hasPrefix("http=") }?.dropFirst(5))
        let after = Browser(base: "http://\(address2)")
        after.cookie = browser.cookie
        (status, body) = try await after.send("GET", "/api/v1/staff/session")
        #expect(status == 200 && body["id"] as? String == proctorID, "\(body)")
        try await within(.seconds(20), "the rebuilt board") {
            while true {
                let (s, b) = try await after.send("GET", "/api/v1/staff/rooms/\(room.id)/board?sitting=formal")
                let row = (b["candidates"] as? [[String: Any]])?.first { $0["examNumber"] as? String == first.examNumber }
                if s == 200, row?["roster"] as? String == "confirmed" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        // A proctor does not publish; nothing changes without the CSRF token.
        (status, _) = try await after.send("POST", "/api/v1/staff/publication")
        #expect(status == 403)
        (status, _) = try await after.send("DELETE", "/api/v1/staff/session", csrf: false)
        #expect(status == 403)
        (status, _) = try await after.send("DELETE", "/api/v1/staff/session")
        #expect(status == 204)

        #expect(await h.launcher.stop("gateway", timeout: .seconds(15)) == 0)
        let log = (try? String(contentsOfFile: h.launcher.logPath("gateway"), encoding: .utf8)) ?? ""
        for secret in [code, "correct horse battery", browser.cookie.split(separator: "=").last.map(String.init) ?? "-", browser.csrf] {
            #expect(!log.contains(secret), "the gateway's log holds a secret")
        }
        #expect(log.contains("staff signed in and set a password") && log.contains(proctorID))
    }
}
