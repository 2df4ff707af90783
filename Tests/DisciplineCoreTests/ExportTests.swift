import Foundation
import Testing
import ExamPlan
@testable import DisciplineCore

@Suite("Export of the log (R43)")
struct ExportTests {
    @Test func csvForTheRecord() throws {
        var s = try seeded()
        try s.applyInterview(examNumber: "2022110001", sitting: .formal, startedAt: bj("2022-11-19 11:12:00"))
        let i = try s.report(StaffReport(examNumber: "2022110001", ground: 1,
                                         evidence: "line one\nID 37020219900101123X shown on camera",
                                         references: ["main@00:03:12", "secondary@00:03:15"],
                                         occurredAt: bj("2022-11-19 11:15:12"), sitting: .formal), by: proctor, now: duringInterview).incident
        let reason = #"person behind, "clearly" visible"#
        let d = try s.decide(incidentID: i.id, outcome: .disqualify, reason: reason, by: chiefR01, now: bj("2022-11-19 11:25:00")).decision
        _ = try s.reverse(decisionID: d.id, reason: "=HYPERLINK(\"x\")", by: chiefR01, now: bj("2022-11-19 11:30:00"))

        let data = s.exportCSVData()
        #expect(Array(data.prefix(3)) == [0xEF, 0xBB, 0xBF], "UTF-8 BOM")
        let text = s.exportCSV()
        #expect(text.hasPrefix("\u{FEFF}seq,entry,id,incident_id,exam_number,ground,ground_text,source,sitting,actor_id,actor_role,occurred_at_beijing,recorded_at_beijing,outcome,effect,supersedes,automatic,text,evidence_refs\r\n"))
        #expect(text.contains("\"person behind, \"\"clearly\"\" visible\""), "RFC 4180: quoted, quotes doubled")
        #expect(!text.contains("37020219900101123X"), "no ID number in the export")
        #expect(text.hasSuffix("\r\n"))

        let rows = parseCSV(String(text.dropFirst()))
        #expect(rows.count == 4)
        #expect(rows.allSatisfy { $0.count == LogExport.header.count })
        #expect(rows[0] == LogExport.header)
        #expect(rows[1] == ["1", "incident", "INC-000001", "INC-000001", "2022110001", "1", "面试房间内有其他人在场或中途进入的",
                            "staff", "formal", "P01", "proctor", "2022-11-19 11:15:12", "2022-11-19 11:20:00", "", "", "", "",
                            "line one\nID 370202********123X shown on camera", "main@00:03:12 | secondary@00:03:15"])
        #expect(rows[2] == ["2", "decision", "DEC-000002", "INC-000001", "2022110001", "1", "面试房间内有其他人在场或中途进入的",
                            "", "", "E01", "chief_examiner", "", "2022-11-19 11:25:00", "disqualify", "score_voided", "", "no",
                            reason, ""])
        #expect(rows[3][1] == "reversal" && rows[3][13] == "dismiss" && rows[3][14] == "restored" && rows[3][15] == "DEC-000002")
        #expect(rows[3][17] == "'=HYPERLINK(\"x\")", "formulas are defused")
    }

    @Test func beijingTimeNotUTC() throws {
        var s = try seeded()
        // 03:20 UTC is 11:20 in Beijing.
        let utc = ISO8601DateFormatter().date(from: "2022-11-19T03:20:00Z")!
        _ = try s.report(staffReport(at: utc), by: proctor, now: utc)
        let rows = parseCSV(String(s.exportCSV().dropFirst()))
        #expect(rows[1][11] == "2022-11-19 11:20:00" && rows[1][12] == "2022-11-19 11:20:00")
    }

    @Test func emptyLogIsTheHeaderAlone() {
        #expect(DisciplineState().exportCSV() == "\u{FEFF}" + LogExport.header.joined(separator: ",") + "\r\n")
    }

    @Test func idNumbersAreMaskedWhereverTyped() {
        #expect(LogExport.maskIDNumbers("370202199001011234") == "370202********1234")
        #expect(LogExport.maskIDNumbers("id:37020219900101123x.") == "id:370202********123x.")
        #expect(LogExport.maskIDNumbers("370202900101123 old") == "370202*****1123 old")
        #expect(LogExport.maskIDNumbers("phone 13800138000, exam 2022110001") == "phone 13800138000, exam 2022110001")
    }
}
