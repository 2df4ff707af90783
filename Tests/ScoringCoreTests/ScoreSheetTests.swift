import ExamPlan
import Foundation
import Testing
@testable import ScoringCore

@Suite("CSV score sheets (R50)")
struct ScoreSheetTests {
    func interviewed() throws -> ScoringState {
        var s = try examState()
        for n in ["2022110011", "2022110012"] { _ = try s.recordInterviewEnded(examNumber: n, sitting: .formal, now: formalEnd) }
        _ = try s.recordAbsent(examNumber: "2022110003", sitting: .formal, now: bj("2022-11-19 11:10"))
        return s
    }

    @Test func aGoodSheetRecordsEveryScore() throws {
        var s = try interviewed()
        // Excel's export: BOM, CRLF, columns in another order, an extra column, quoting.
        let sheet = "\u{FEFF}score,Exam_Number,examiner_id,note\r\n"
            + "90,2022110011,G01,\r\n" + "\"90.00\",2022110011,G02,\"ok, checked\"\r\n" + "90,2022110011,G03,\r\n"
            + "86,2022110012,G01,\r\n" + "86,2022110012,G02,\r\n" + "86,2022110012,G03,\r\n\r\n"
        let events = try s.submitSheet(sheet, by: ops, now: formalEnd)
        #expect(events.count == 6)
        // Same sheet again: a replay.
        #expect(try s.submitSheet(sheet, by: ops, now: formalEnd) == [])
        // Room R03 cannot be sealed whole: two of its candidates are not interviewed yet.
        expectRefused(&s, .failedPrecondition, mentions: ["2022110021: not interviewed yet", "2022110022: not interviewed yet"]) {
            try $0.sealRoom("R03", by: ops, now: sealTime)
        }
        _ = try s.seal(examNumber: "2022110011", by: ops, now: sealTime)
        // After the seal the same sheet is still a replay (same values), but a changed value is refused.
        #expect(try s.submitSheet(sheet, by: ops, now: sealTime) == [])
        expectRefused(&s, .invalidArgument, mentions: ["line 2, column 1 (exam_number): the interview score of candidate 2022110011 is sealed (90.00)"]) {
            try $0.submitSheet("exam_number,examiner_id,score\n2022110011,G01,91\n", by: ops, now: sealTime)
        }
        // 90.00 and 86.00, as in the worked tie example.
        #expect(try s.candidateScores(examNumber: "2022110011").interviewScore?.description == "90.00")
    }

    @Test func aBadSheetListsEveryBadRowAndRecordsNothing() throws {
        var s = try interviewed()
        _ = try s.submit(examNumber: "2022110011", examinerID: "G01", score: "90", now: formalEnd)
        let sheet = """
        exam_number,examiner_id,score
        2022110011,G02,100.001
        2022110011,G03,88
        2022110012,E01,85
        2022110003,E01,70
        2099999999,G01,80
        2022110012,G01,abc
        2022110012,G02,-1
        2022110011,G03,87
        2022110012,G03
        """
        let e = expectRefused(&s, .invalidArgument, mentions: ["score sheet rejected: 8 error(s); nothing was recorded"]) {
            try $0.submitSheet(sheet, by: ops, now: formalEnd)
        }
        #expect(e?.details == [
            "line 2, column 3 (score): score: '100.001' has more than two decimals; a score is 0 to 100 with at most two decimals (R50, notice 4(4))",
            "line 4, column 2 (examiner_id): examiner E01 is not on the panel of room R03 (G01, G02, G03), where candidate 2022110012 is interviewed (R50)",
            "line 5, column 1 (exam_number): candidate 2022110003 was absent from the formal interview (recorded 2022-11-19 11:10:00) and forfeits it (R12): no scores (R52)",
            "line 6, column 1 (exam_number): '2099999999' is not a candidate on the roster",
            "line 7, column 3 (score): score: 'abc' is not a number; a score is 0 to 100 with at most two decimals (R50, notice 4(4))",
            "line 8, column 3 (score): score: -1 is not between 0.00 and 100.00; a score is 0 to 100 with at most two decimals (R50, notice 4(4))",
            "line 9, column 2 (examiner_id): candidate 2022110011, examiner G03 is already on line 3",
            "line 10: 2 field(s), the header has 3",
        ])
        // Line 3 alone was fine, and still nothing was recorded.
        #expect(s.candidates["2022110011"]?.panelScores.keys.sorted() == ["G01"])
    }

    @Test func sheetHeaderAndCSVSyntax() throws {
        var s = try interviewed()
        expectRefused(&s, .invalidArgument, mentions: ["line 1: column score is missing"]) {
            try $0.submitSheet("exam_number,examiner_id\r\n2022110011,G01\r\n", by: ops, now: formalEnd)
        }
        expectRefused(&s, .invalidArgument, mentions: ["not valid CSV", "line 2: a quoted field is never closed"]) {
            try $0.submitSheet("exam_number,examiner_id,score\n2022110011,G01,\"90\n", by: ops, now: formalEnd)
        }
        expectRefused(&s, .invalidArgument, mentions: ["line 2: a quote inside an unquoted field"]) {
            try $0.submitSheet("exam_number,examiner_id,score\n2022110011,G01,9\"0\n", by: ops, now: formalEnd)
        }
        expectRefused(&s, .invalidArgument, mentions: ["empty"]) { try $0.submitSheet("\u{FEFF}", by: ops, now: formalEnd) }
        // A chief examiner enters their own room's sheet only; others may not at all.
        expectRefused(&s, .invalidArgument, mentions: ["line 2, column 1 (exam_number): candidate 2022110031 is in room R02; chief examiner G01 enters scores for room R03 only"]) {
            try $0.submitSheet("exam_number,examiner_id,score\n2022110031,F01,90\n", by: .chiefExaminer("G01"), now: formalEnd)
        }
        expectRefused(&s, .permissionDenied, mentions: ["G02 is no room's chief examiner"]) {
            try $0.submitSheet("exam_number,examiner_id,score\n2022110011,G02,90\n", by: .examiner("G02"), now: formalEnd)
        }
        #expect(try s.submitSheet("exam_number,examiner_id,score\n2022110011,G02,90\n", by: .chiefExaminer("G01"), now: formalEnd).count == 1)
    }

    @Test func readerLinesAndQuotes() throws {
        let rows = try CSVReader.parse("a,b\r\n\"x\r\ny\",\"\"\"q\"\"\"\r\n\r\nlast,\"\"")
        #expect(rows == [CSVReader.Record(line: 1, fields: ["a", "b"]),
                         CSVReader.Record(line: 2, fields: ["x\r\ny", "\"q\""]),
                         CSVReader.Record(line: 5, fields: ["last", ""])])
    }
}
