import ExamPlan
import Foundation
import Testing
@testable import ScoringCore

@Suite("public lists and exports (R55)")
struct ExportTests {
    func published() throws -> ScoringState {
        var s = try scoredExam()
        _ = try s.publish(by: ops, drawSeed: 20_221_121, now: publishTime)
        return s
    }

    @Test func totalScoresCSVOpensInExcel() throws {
        let p = try published().publication()
        let data = ScoringExport.totalScoresCSV(p.lists)
        // UTF-8 with a BOM, so Excel does not read it as GBK.
        #expect(Array(data.prefix(3)) == [0xEF, 0xBB, 0xBF])
        let text = String(decoding: data.dropFirst(3), as: UTF8.self)
        // Every record ends in CRLF, and there is no bare LF.
        #expect(text.hasSuffix("\r\n"))
        #expect(text.replacingOccurrences(of: "\r\n", with: "").contains("\n") == false)
        let lines = text.components(separatedBy: "\r\n").dropLast()
        #expect(lines.first == "岗位代码,岗位名称,准考证号,姓名,身份证号,笔试成绩,面试成绩,总成绩,岗位排名,备注")
        #expect(lines.count == 1 + roster.count)
        // 2022110001: 80.00, 87.30, 83.65, first of P01; its ID masked (first 6, last 4).
        let id1 = residentID(1)
        let masked = String(id1.prefix(6)) + "********" + String(id1.suffix(4))
        #expect(lines[1] == "P01,社区专职工作者A岗,2022110001,张三,\(masked),80.00,87.30,83.65,1,进入体检")
        #expect(lines[2] == "P01,社区专职工作者A岗,2022110002,李四,\(ResidentID.mask(residentID(2))),78.00,80.00,79.00,2,")
        #expect(lines[3] == "P01,社区专职工作者A岗,2022110003,王五,\(ResidentID.mask(residentID(3))),70.00,,,,缺考")
        // Never a full ID number.
        for r in roster { #expect(!text.contains(residentID(r.4))) }
        // The physical-exam list: one per post (1 place each, 1:1).
        let pe = String(decoding: ScoringExport.physicalExamCSV(p.lists).dropFirst(3), as: UTF8.self)
        #expect(pe.components(separatedBy: "\r\n").dropLast().map { $0.split(separator: ",")[3] }
            == ["准考证号", "2022110001", "2022110012", "2022110022", "2022110031", "2022110041"])
    }

    @Test func csvQuotingFollowsRFC4180AndDefusesFormulas() throws {
        #expect(ScoringExport.field("plain") == "plain")
        #expect(ScoringExport.field("a,b") == "\"a,b\"")
        #expect(ScoringExport.field("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(ScoringExport.field("two\r\nlines") == "\"two\r\nlines\"")
        #expect(ScoringExport.field(" padded") == "\" padded\"")
        #expect(ScoringExport.text("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")")
        #expect(ScoringExport.text("-1+1") == "'-1+1")
        #expect(ScoringExport.text("张三") == "张三")

        // A post name with a comma and quotes, through the whole path.
        var s = try examState()
        var f = fact(roster[0])
        f.postName = "社区工作者,\"网格\"岗"
        _ = try s.recordCandidate(f, now: bj("2022-11-16 11:00"))
        let text = String(decoding: ScoringExport.totalScoresCSV(s.currentLists()).dropFirst(3), as: UTF8.self)
        #expect(text.contains("P01,\"社区工作者,\"\"网格\"\"岗\",2022110001,张三,"))
        // The reader the score sheets use reads it back field for field.
        let rows = try CSVReader.parse(text)
        #expect(rows[1].fields[1] == "社区工作者,\"网格\"岗")
        #expect(rows.allSatisfy { $0.fields.count == 10 })
    }

    @Test func jsonHasScoresAsStringsAndMaskedIDs() throws {
        let p = try published().publication()
        let data = try ScoringExport.json(p)
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(object["version"] as? Int == 1)
        #expect(object["published_at"] as? String == "2022-11-21T09:00:00.000+08:00")
        #expect(object["draw_seed"] as? String == "20221121")
        #expect(object["reason"] is NSNull)
        let rows = object["total_scores"] as! [[String: Any]]
        let first = rows[0]
        #expect(first["exam_number"] as? String == "2022110001")
        #expect(first["written_score"] as? String == "80.00")
        #expect(first["interview_score"] as? String == "87.30")
        #expect(first["total_score"] as? String == "83.65")
        #expect(first["rank"] as? Int == 1)
        #expect(first["masked_id"] as? String == ResidentID.mask(residentID(1)))
        // The absent candidate: explicit nulls, same keys as every row.
        let absent = rows.first { $0["exam_number"] as? String == "2022110003" }!
        #expect(absent["interview_score"] is NSNull && absent["total_score"] is NSNull && absent["rank"] is NSNull)
        #expect(Set(absent.keys) == Set(first.keys))
        let draws = object["draws"] as! [[String: Any]]
        #expect(draws.count == 1 && draws[0]["order"] as? [String] == ["2022110022", "2022110021"])
        let text = String(decoding: data, as: UTF8.self)
        for r in roster { #expect(!text.contains(residentID(r.4))) }
        // Decodes back into the Codable document.
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        let doc = try d.decode(ScoringExport.Document.self, from: data)
        #expect(doc.totalScores == p.lists.totalScores && doc.physicalExam == p.lists.physicalExam)
    }
}
