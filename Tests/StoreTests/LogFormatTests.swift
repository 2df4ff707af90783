import ArgumentParser
import Bus
import Foundation
import Logging
import ServiceKit
import Testing

/// The log lines ops read (issue 13): JSON lines that parse, and state
/// changes that name only whitelisted payload keys.
@Suite struct LogFormatTests {
    func object(_ line: String) throws -> [String: Any] {
        #expect(line.hasSuffix("\n"))
        #expect(line.dropLast().firstIndex(of: "\n") == nil, "one record, one line")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func jsonLineHasTheFieldsAndEscapes() throws {
        let line = ExamLogHandler.line(
            time: Date(timeIntervalSince1970: 1_700_000_000), level: .info, label: "roster",
            message: "said \"hi\"\nthen\tleft \\ 考生",
            metadata: ["exam_number": "10101", "note": "a \"quoted\"\r\nvalue\u{01}", "level": "shadow", "count": "\(3)"],
            format: .json)
        let o = try object(line)
        #expect((o["time"] as? String)?.hasPrefix("2023-11-15T06:13:20") == true, "Beijing time")
        #expect(o["level"] as? String == "info")
        #expect(o["service"] as? String == "roster")
        #expect(o["message"] as? String == "said \"hi\"\nthen\tleft \\ 考生")
        #expect(o["exam_number"] as? String == "10101")
        #expect(o["note"] as? String == "a \"quoted\"\r\nvalue\u{01}")
        #expect(o["count"] as? String == "3")
        // A metadata key never replaces the record's own field.
        #expect(o["meta.level"] as? String == "shadow")
    }

    @Test func textLineIsUnchanged() {
        let line = ExamLogHandler.line(time: Date(timeIntervalSince1970: 0), level: .debug, label: "timing",
                                       message: "call", metadata: ["b": "2", "a": "1"], format: .text)
        #expect(line.hasSuffix(" debug timing: call a=1 b=2\n"))
    }

    /// Issue 22: a client's field with a newline or a NUL (a staff id
    /// "ops\nFAKE-LOG level=critical injected") never starts a line of its
    /// own nor writes a raw control character, in the text format too.
    @Test func textLinesEscapeControlCharactersInEveryValue() {
        let forged = "ops\nFAKE-LOG level=critical injected"
        let line = ExamLogHandler.line(time: Date(timeIntervalSince1970: 0), level: .notice, label: "gateway",
                                       message: "sign-in refused for \(forged)\u{0}",
                                       metadata: ["account": "\(forged)", "nul": "ops\u{0}", "path": "C:\\x\\n", "who": "考生\u{2028}张三\u{85}"],
                                       format: .text)
        #expect(line.hasSuffix("\n") && line.dropLast().firstIndex(of: "\n") == nil, "one record, one line: \(line)")
        #expect(!line.dropLast().unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 })
        #expect(line.contains("account=ops\\nFAKE-LOG level=critical injected"))
        #expect(line.contains("nul=ops\\u{0}"))
        #expect(line.contains("sign-in refused for ops\\nFAKE-LOG level=critical injected\\u{0}"))
        // A backslash is doubled, so an escape cannot be written by hand.
        #expect(line.contains("path=C:\\\\x\\\\n"))
        #expect(line.contains("who=考生\\u{2028}张三\\u{85}"))
    }

    @Test func everyControlCharacterIsEscaped() throws {
        let all = String(String.UnicodeScalarView((0..<0x80).compactMap(Unicode.Scalar.init))) + "\u{2028}\u{2029}"
        let literal = ExamLogHandler.jsonString(all)
        #expect(!literal.unicodeScalars.contains { $0.value < 0x20 })
        let back = try JSONSerialization.jsonObject(with: Data("[\(literal)]".utf8)) as? [String]
        #expect(back == [all])
    }

    @Test func formatOptionIsValidated() throws {
        #expect(try LogFormat.parse("json") == .json)
        #expect(try LogFormat.parse("TEXT") == .text)
        #expect(throws: ConfigError.self) { _ = try LogFormat.parse("xml") }
        #expect(try HostOptions.parse(["--log-format", "json"]).format == .json)
        do {
            _ = try HostOptions.parse(["--log-format", "yaml"])
            Issue.record("a bad log format was accepted")
        } catch {
            #expect(HostOptions.message(for: error).contains("'yaml' is neither 'text' nor 'json'"))
        }
    }

    @Test func changeLinesTakeOnlyWhitelistedKeys() {
        let payload: [String: Any] = [
            "exam_number": "10101", "name": "张三", "id_number_masked": "3702**********1234",
            "incident": ["incident_id": "I-7", "exam_number": "10102", "id_number": "370202199001011234"],
            "room_id": "R01", "sitting": "SITTING_KIND_MOCK", "token": "secret",
        ]
        let keys = Dictionary(uniqueKeysWithValues: ChangeLog.keys(in: payload))
        #expect(keys == ["exam_number": "10101", "room": "R01", "sitting": "SITTING_KIND_MOCK", "incident": "I-7"])
        // One level down when the top has none.
        let nested = Dictionary(uniqueKeysWithValues: ChangeLog.keys(in: ["incident": ["examNumber": "10103", "roomId": "R02"]]))
        #expect(nested == ["exam_number": "10103", "room": "R02"])
    }

    @Test func principalsAreNamedRoleColonID() {
        #expect(CallPrincipal(id: "10101", role: .candidate).logName == "candidate:10101")
        #expect(CallPrincipal(id: "R01-E1", role: .chiefExaminer).logName == "chief_examiner:R01-E1")
        #expect(CallPrincipal.anonymous.logName == "anonymous")
    }
}
