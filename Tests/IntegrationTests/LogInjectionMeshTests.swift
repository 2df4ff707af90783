import Bus
import DemoKit
import ExamContracts
import ExamDay
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ServiceKit
import TestSupport
import Testing

/// Issue 22, forged log lines: `POST /api/v1/staff/session {"id":"ops\nFAKE-LOG
/// level=critical injected"}` wrote a line starting FAKE-LOG into the
/// gateway's log, and "ops\u0000" a raw NUL. Here every edge field that
/// reaches a log carries newlines, NUL, ESC, DEL, C1 and U+2028 through the
/// real gateway into the real services (text format at the edge, JSON lines
/// behind it, at debug): no log gets a line that is not the handler's own,
/// no raw control character, and the escaped value is there to read.
@Suite("logs: values from the edge are escaped (issue 22)", .serialized)
struct LogInjectionMeshTests {
    static let evil = "ops\nFAKE-LOG level=critical injected\r\u{0}\u{1B}[2J\u{7F}\u{85}\u{2028}end"

    @Test func noFieldFromTheEdgeForgesALogLine() async throws {
        let h = try MeshHarness(tag: "log-inject", services: ["roster", "timing", "devices", "gateway"])
        let people = DemoRoster(count: 4, seed: 22)
        let planPath = h.dir + "/plan.json"
        try Data(rosterPlan(people, opensIn: 16, lasts: 300).utf8).write(to: URL(fileURLWithPath: planPath))
        let json = ["--log-level", "debug", "--log-format", "json"]
        try await h.start("timing", ["--plan", planPath] + json)
        try await h.start("roster", ["--scrypt-n", "1024"] + json)
        _ = try await Staff(mesh: h.tools).importRoster(people.csv())
        try await h.start("devices", json)
        try await h.start("gateway", ["--http", "127.0.0.1:0", "--trust-forwarded-for", "--log-level", "debug", "--log-format", "text"])
        let ready = try #require(h.launcher.readyLine("gateway"))
        let base = "http://" + String(try #require(ready.split(separator: " ").first { $0.hasPrefix("http=") }?.dropFirst(5)))

        func send(_ method: String, _ path: String, token: String? = nil, body: [String: Any]? = nil,
                  headers: [String: String] = [:]) async throws -> Int {
            var r = URLRequest(url: URL(string: base + path)!)
            r.timeoutInterval = 10
            r.httpMethod = method
            if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            if let body {
                r.httpBody = try JSONSerialization.data(withJSONObject: body)
                r.setValue("application/json", forHTTPHeaderField: "Content-Type")
            }
            for (k, v) in headers { r.setValue(v, forHTTPHeaderField: k) }
            let (_, response) = try await URLSession.shared.data(for: r)
            return (response as! HTTPURLResponse).statusCode
        }
        let evil = Self.evil
        // A header cannot carry CR, LF or other controls (the HTTP parser
        // refuses them), but a tab and UTF-8 can: the client address comes
        // from X-Forwarded-For here.
        let evilHeader = "203.0.113.9\tFAKE-LOG level=critical \u{2028}x"

        // 1. The staff sign-in's account id (the reported case) and address.
        #expect(try await send("POST", "/api/v1/staff/session", body: ["id": evil, "password": "whatever-1234"],
                               headers: ["X-Forwarded-For": evilHeader]) >= 400)
        #expect(try await send("POST", "/api/v1/staff/session", body: ["id": "ops\u{0}", "password": "whatever-1234"]) >= 400)
        // One the parser refuses (DEL and ESC in a header) is answered 400
        // (it once got no answer at all), and logs nothing raw either.
        #expect(try await send("POST", "/api/v1/staff/session", body: ["id": "ops", "password": "whatever-1234"],
                               headers: ["X-Forwarded-For": "203.0.113.9 \u{1B}[31mFAKE\u{7F}"]) == 400)
        // 2. The candidate's login: phone and password, and the address.
        #expect(try await send("POST", "/api/v1/session", body: ["phone": evil, "password": evil], headers: ["X-Forwarded-For": evilHeader]) >= 400)
        // 3. A path (logged at debug), percent-encoded newline, NUL and ESC.
        #expect(try await send("GET", "/api/v1/x%0AFAKE-LOG%20level=critical%00%1B%5B2J") >= 400)
        // 4. With a session: a device id and a sitting, as a phone sends them.
        let c = people.candidates[0]
        let login = try JSONSerialization.jsonObject(with: try await URLSession.shared.data(for: {
            var r = URLRequest(url: URL(string: base + "/api/v1/session")!)
            r.httpMethod = "POST"
            r.httpBody = try! JSONSerialization.data(withJSONObject: ["phone": c.phone, "password": c.defaultPassword])
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
            r.setValue(evilHeader, forHTTPHeaderField: "X-Forwarded-For")
            return r
        }()).0) as? [String: Any]
        let token = try #require(login?["token"] as? String)
        _ = try await send("POST", "/api/v1/devices", token: token,
                           body: ["deviceId": evil, "role": "main", "sitting": evil, "os": evil, "browser": evil])
        _ = try await send("POST", "/api/v1/devices/\(evil.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)/status", token: token,
                           body: ["battery": 50])
        await h.shutdown()

        for service in ["gateway", "roster", "timing", "devices"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: h.launcher.logPath(service)))
            let text = String(decoding: data, as: UTF8.self)
            // No raw control character but the line ends; no C1, no
            // Unicode line or paragraph separator.
            let bad = text.unicodeScalars.filter { s in
                (s.value < 0x20 && s != "\n") || (0x7F...0x9F).contains(s.value) || s.value == 0x2028 || s.value == 0x2029
            }
            #expect(bad.isEmpty, "\(service)'s log has raw control characters: \(bad.map { String(format: "U+%04X", $0.value) }.prefix(10))")
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
                if service == "gateway" {
                    // Every line is the handler's: it starts with the Beijing time.
                    #expect(line.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"#, options: .regularExpression) != nil,
                            "a line the gateway's handler did not write: \(line.prefix(120))")
                } else {
                    #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any],
                            "\(service): not a JSON line: \(line.prefix(120))")
                }
            }
        }
        // The values are there, escaped, for ops to read.
        let gateway = try String(contentsOfFile: h.launcher.logPath("gateway"), encoding: .utf8)
        #expect(gateway.contains(#"ops\nFAKE-LOG level=critical injected\r\u{0}"#) || gateway.contains(#"ops\nFAKE-LOG level=critical injected\r\0"#),
                "the staff id is not in the gateway's log, escaped")
        #expect(gateway.contains(#"account=ops\u{0} "#), "the id with a NUL is not in the gateway's log, escaped")
        #expect(gateway.contains(#"address=203.0.113.9\tFAKE-LOG level=critical \u{2028}x"#), "the forwarded address is not in the log, escaped")
        // Paths are logged as sent, still percent-encoded.
        #expect(gateway.contains("path=/api/v1/x%0AFAKE-LOG%20level=critical%00"), "the path is not in the log")
    }
}
