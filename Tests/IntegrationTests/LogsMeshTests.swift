import Bus
import DemoKit
import ExamContracts
import ExamDay
import ExamPlan
import Foundation
import ServiceKit
import TestSupport
import Testing

/// The logs ops read (issue 13): roster as a real process with JSON lines
/// at debug: a line per call, a line per state change with who caused it,
/// and never an ID number, a password or a token.
@Suite("logs of a real service", .serialized)
struct LogsMeshTests {
    @Test func jsonLinesNameCallsAndChangesButNoSecrets() async throws {
        let h = try MeshHarness(tag: "logs", services: ["roster", "timing"])
        let people = DemoRoster(count: 4, seed: 13)
        // The window opens 12 s after timing starts: the import must come
        // before (the list is frozen once candidates confirm), even on a
        // loaded machine.
        let planPath = h.dir + "/plan.json"
        try Data(rosterPlan(people, opensIn: 18, lasts: 60).utf8).write(to: URL(fileURLWithPath: planPath))
        let logOptions = ["--log-level", "debug", "--log-format", "json"]
        try await h.start("timing", ["--plan", planPath] + logOptions)
        try await h.start("roster", ["--scrypt-n", "1024"] + logOptions)
        let staff = Staff(mesh: h.tools)
        let plan = try await staff.plan()
        #expect(try await staff.importRoster(people.csv()).imported == 4)
        try await waitForClock(plan.confirmation.opens)
        let c = people.candidates[0]
        let client = try await CandidateClient.login(h.tools, c)
        #expect(try await client.confirmWithPhoto().status == .confirmed)
        await h.shutdown()

        let text = try String(contentsOfFile: h.launcher.logPath("roster"), encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count > 5)
        var records: [[String: String]] = []
        for line in lines {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                Issue.record("not a JSON object: \(line)")
                continue
            }
            #expect(o["time"] is String && o["level"] is String && o["service"] as? String == "roster" && o["message"] is String,
                    "\(line)")
            records.append(o.compactMapValues { $0 as? String })
        }
        // A line per call served, at debug.
        let imports = records.filter { $0["message"] == "call" && $0["method"] == "exam.v1.Roster/Import" }
        #expect(imports.contains { $0["code"] == "OK" && $0["level"] == "debug" && Double($0["ms"] ?? "") != nil
                && $0["actor"] == "ops:ops" && $0["caller"] == "test" }, "\(imports)")
        // A line per state change, at info, with who caused it.
        let confirmed = records.filter { $0["message"] == "roster.candidate.confirmed" }
        #expect(confirmed.count == 1, "\(confirmed)")
        #expect(confirmed.first?["level"] == "info")
        #expect(confirmed.first?["exam_number"] == c.examNumber)
        #expect(confirmed.first?["by"] == "candidate:\(c.examNumber)")
        #expect(confirmed.first?["seq"].flatMap { UInt64($0) } != nil)
        // The imports were caused by ops.
        #expect(records.contains { $0["message"] == "roster.candidate.imported" && $0["by"] == "ops:ops" })
        // No secret in any line: ID numbers, default passwords, the token.
        for p in people.candidates {
            #expect(!text.contains(p.idNumber), "\(p.examNumber)'s ID number is in roster's log")
            // As a word of its own (six digits may well sit inside a longer number).
            let word = try NSRegularExpression(pattern: "(?<![0-9A-Za-z])\(NSRegularExpression.escapedPattern(for: p.defaultPassword))(?![0-9A-Za-z])")
            #expect(word.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil,
                    "\(p.examNumber)'s default password is in roster's log")
        }
        #expect(!text.contains(client.token), "a login token is in roster's log")
        // timing's log is JSON lines too.
        let timing = try String(contentsOfFile: h.launcher.logPath("timing"), encoding: .utf8)
        for line in timing.split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "\(line)")
        }
    }
}
