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

/// The gateway as a real process on the mesh (R60): READY with its HTTP
/// address, answers exam.v1.Node like every member, a candidate confirms
/// over HTTP and roster records it, bad input changes nothing, SIGTERM
/// drains and exits 0.
@Suite("gateway through real processes (R60, R61, R63)", .serialized)
struct GatewayMeshTests {
    struct HTTP {
        let base: String
        func send(_ method: String, _ path: String, token: String? = nil, json: String? = nil, body: Data? = nil,
                  contentType: String? = nil) async throws -> (Int, [String: Any], [AnyHashable: Any]) {
            var r = URLRequest(url: URL(string: base + path)!)
            r.httpMethod = method
            if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            if let json {
                r.httpBody = Data(json.utf8)
                r.setValue("application/json", forHTTPHeaderField: "Content-Type")
            }
            if let body {
                r.httpBody = body
                r.setValue(contentType, forHTTPHeaderField: "Content-Type")
            }
            let (data, response) = try await URLSession.shared.data(for: r)
            let http = response as! HTTPURLResponse
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            return (http.statusCode, object, http.allHeaderFields)
        }
    }

    @Test func aCandidateConfirmsThroughTheGateway() async throws {
        let h = try MeshHarness(tag: "gateway", services: ["roster", "timing", "devices", "gateway"])
        let people = DemoRoster(count: 6, seed: 11)
        let planPath = h.dir + "/plan.json"
        try Data(rosterPlan(people, opensIn: 16, lasts: 300).utf8).write(to: URL(fileURLWithPath: planPath))  // time to start four services and import, even on a loaded machine
        try await h.start("timing", ["--plan", planPath])
        try await h.start("roster", ["--scrypt-n", "1024"])
        // The list first: the confirmation window freezes it, and starting
        // the others takes long on a loaded machine.
        let staff = Staff(mesh: h.tools)
        _ = try await staff.importRoster(people.csv())
        try await h.start("devices")
        try await h.start("gateway", ["--http", "127.0.0.1:0", "--login-per-phone", "3"])
        defer { Task { await h.shutdown() } }

        let ready = try #require(h.launcher.readyLine("gateway"))
        let address = try #require(ready.split(separator: " ").first { $0.hasPrefix("http=") }?.dropFirst(5))
        let http = HTTP(base: "http://\(address)")
        // A member of the mesh like the services: examctl ping gateway.
        let ping = try await h.call("gateway", NodeAPI.ping, PingRequest())
        #expect(ping.service == "gateway")

        let plan = try await staff.plan()
        try await waitForClock(plan.confirmation.opens)
        let c = people.candidates[0]

        // Bad inputs first: each a 4xx with {code, message}, nothing changed.
        var (status, body, _) = try await http.send("POST", "/api/v1/session", json: "{\"phone\": \(c.phone)}")
        #expect(status == 400 && body["code"] as? String == "INVALID_ARGUMENT")
        (status, body, _) = try await http.send("POST", "/api/v1/session", json: "{\"phone\":\"\(c.phone)\",\"password\":\"000000\"}")
        #expect(status == 401 && body["code"] as? String == "UNAUTHENTICATED")

        (status, body, _) = try await http.send("POST", "/api/v1/session", json: "{\"phone\":\"\(c.phone)\",\"password\":\"\(c.defaultPassword)\"}")
        #expect(status == 201, "\(body)")
        let token = try #require(body["token"] as? String)
        #expect(body["examNumber"] as? String == c.examNumber)

        (status, body, _) = try await http.send("GET", "/api/v1/me", token: token)
        #expect(status == 200 && body["status"] as? String == "imported" && body["canConfirm"] as? Bool == true)
        #expect((body["windows"] as? [String: Any])?["confirmation"] != nil)

        // Confirming before the photo is refused by roster, whose message passes through (R3, R60).
        (status, body, _) = try await http.send("POST", "/api/v1/me/confirm", token: token)
        #expect(status == 400 && body["code"] as? String == "FAILED_PRECONDITION", "\(body)")
        #expect(try await h.call("roster", RosterAPI.getCandidate, CandidateRef(examNumber: c.examNumber), as: Staff.ops).status == .imported)

        (status, body, _) = try await http.send("PUT", "/api/v1/me/photo", token: token,
                                               body: SyntheticPhoto.png(seed: 99), contentType: "image/png")
        #expect(status == 200, "\(body)")
        #expect((body["identity"] as? [String: Any])?["status"] as? String != "none")
        (status, body, _) = try await http.send("POST", "/api/v1/me/confirm", token: token)
        #expect(status == 200 && body["status"] as? String == "confirmed", "\(body)")
        // Roster recorded it, for this candidate, acted by the candidate.
        #expect(try await h.call("roster", RosterAPI.getCandidate, CandidateRef(examNumber: c.examNumber), as: Staff.ops).status == .confirmed)

        // A declined-by-mistake request without consent changes nothing.
        (status, body, _) = try await http.send("POST", "/api/v1/me/decline", token: token, json: "{\"giveUpPost\": false}")
        #expect(status == 400)
        #expect(try await h.call("roster", RosterAPI.getCandidate, CandidateRef(examNumber: c.examNumber), as: Staff.ops).status == .confirmed)

        // R63: the login limit per phone number (3 here) answers 429 with Retry-After.
        for _ in 0..<2 { _ = try await http.send("POST", "/api/v1/session", json: "{\"phone\":\"\(c.phone)\",\"password\":\"000000\"}") }
        let (limited, limitedBody, headers) = try await http.send("POST", "/api/v1/session", json: "{\"phone\":\"\(c.phone)\",\"password\":\"\(c.defaultPassword)\"}")
        #expect(limited == 429 && limitedBody["code"] as? String == "RESOURCE_EXHAUSTED")
        #expect(headers["Retry-After"] != nil || headers["retry-after"] != nil)

        // SIGTERM: the gateway drains and exits cleanly within its bound.
        let code = await h.launcher.stop("gateway", timeout: .seconds(15))
        #expect(code == 0, "\(h.log("gateway"))")
        // No token and no full ID number in its log (R63).
        let log = (try? String(contentsOfFile: h.launcher.logPath("gateway"), encoding: .utf8)) ?? ""
        #expect(!log.contains(token))
        #expect(!log.contains(c.idNumber))
        #expect(log.contains("candidate confirmed") && log.contains(c.examNumber))
    }
}
