import Foundation
import Testing
import ExamPlan
@testable import RosterCore

/// R1: import of the qualified-candidate list.
@Suite struct ImportTests {
    @Test func importsAValidFile() throws {
        var s = RosterState()
        let rows = (1...3).map { candidateRow($0) } + [candidateRow(4, post: "P02", places: "1")]
        let out = try s.importCSV(csv(rows), fileName: "list.csv", now: beforeWindow)
        #expect(out.rows == 4 && out.added == 4 && out.updated == 0 && out.unchanged == 0)
        #expect(out.postsAdded == 2 && out.postsUpdated == 0)
        #expect(out.events.count == 6)
        #expect(out.events.first == .postDefined(post: PostFacts(code: "P01", name: "社区专职工作者A", places: 2), at: beforeWindow))
        guard case .candidateImported(let facts, let source, _) = out.events[2] else { Issue.record("\(out.events[2])"); return }
        #expect(facts.examNumber == "2022110001" && source == "list.csv line 2")
        #expect(facts.maskedIDNumber == "370202********" + String(rows[0].id.suffix(4)))
        #expect(facts.writtenScore == Points(hundredths: 8150))
        let c = try #require(s.candidates["2022110004"])
        #expect(c.status == .imported && c.postCode == "P02" && c.source == "list.csv line 5")
        #expect(s.posts["P02"]?.places == 1)
        #expect(out.events.changedDocuments == [.post("P01"), .post("P02"), .candidate("2022110001"), .candidate("2022110002"),
                                                .candidate("2022110003"), .candidate("2022110004")])
    }

    @Test func bomChineseHeadersQuotedNamesCRLFAnyOrder() throws {
        var s = RosterState()
        let id1 = residentID(seq: 1), id2 = residentID(birth: "19851231", seq: 77)
        let idX = residentID(birth: "19921114", seq: 3)
        let lower = idX.lowercased()  // an x check character may come lower-case
        let text = "岗位名称,准考证号,姓名,笔试成绩,身份证号,手机号,招聘人数,岗位代码\r\n"
            + "\"社区工作者, 第一组\",A001,\"Smith, John \"\"JJ\"\"\",88.5,\(id1),13800000001,2,P01\r\n"
            + "\"社区工作者, 第一组\",A002,欧阳 娜娜,90,\(id2),19912345678,2,P01\r\n"
            + "\"社区工作者, 第一组\",A003,王五,70.25,\(lower),15000000003,2,P01\r\n"
        var data = Data([0xEF, 0xBB, 0xBF])
        data.append(Data(text.utf8))
        let out = try s.importCSV(data, fileName: "名单.csv", now: beforeWindow)
        #expect(out.added == 3)
        #expect(s.candidates["A001"]?.name == "Smith, John \"JJ\"")
        #expect(s.candidates["A001"]?.writtenScore == Points(hundredths: 8850))
        #expect(s.candidates["A002"]?.phone == "19912345678")
        #expect(s.candidates["A003"]?.idNumber == idX.uppercased())
        #expect(s.posts["P01"]?.name == "社区工作者, 第一组")
    }

    @Test func theSameFileTwiceChangesNothing() throws {
        var s = RosterState()
        let data = csv((1...5).map { candidateRow($0) })
        _ = try s.importCSV(data, fileName: "list.csv", now: beforeWindow)
        let before = s
        let again = try s.importCSV(data, fileName: "list.csv", now: beforeWindow.addingTimeInterval(60))
        #expect(again.events.isEmpty && again.added == 0 && again.updated == 0 && again.unchanged == 5)
        #expect(s == before)
        // Equal values written differently are the same: 85.5 = 85.50, x = X.
        var rows = (1...5).map { candidateRow($0) }
        rows[0].score = String(rows[0].score.dropLast())
        let again2 = try s.importCSV(csv(rows, eol: "\r\n"), fileName: "list-copy.csv", now: beforeWindow)
        #expect(again2.events.isEmpty)
        #expect(s == before)
    }

    /// One bad row, one exact error each (the issue's list).
    @Test(arguments: [
        ("checksum", "line 2, column id_number: check character is WRONG, but GB 11643-1999 gives RIGHT"),
        ("birth", "line 2, column id_number: birth date 19900230 is not a real date"),
        ("duplicatePhone", "line 3, column phone: 13800000001 is also on line 2"),
        ("phone12", "line 2, column phone: '138000000011' has 12 digits, not 11"),
        ("phonePrefix", "line 2, column phone: '12800000001' is not a mainland mobile number (1, then 3-9, then 9 digits)"),
        ("emptyName", "line 2, column name: is empty"),
        ("score3", "line 2, column written_score: '88.125' has more than two decimals"),
        ("score101", "line 2, column written_score: 100.01 is not between 0.00 and 100.00"),
        ("places", "line 3, column places: 3 differs from 2 given for post P01 on line 2"),
        ("placesZero", "line 2, column places: '0' is not a whole number from 1 to 10000"),
        ("postName", "line 3, column post_name: '别的名字' differs from '社区专职工作者A' given for post P01 on line 2"),
        ("duplicateExam", "line 3, column exam_number: 2022110001 is also on line 2"),
        ("duplicateID", "line 3, column id_number: the same ID number is on line 2"),
        ("badExam", "line 2, column exam_number: '2022 0001' is not an exam number (1 to 32 letters, digits, '-' or '_')"),
        ("fields", "line 2: 7 fields, the header has 8"),
        ("quote", "line 2, column name: a quote inside an unquoted field (quote the whole field and double the quote)"),
    ])
    func aBadRowRejectsTheFileWithItsExactError(kind: String, expected: String) throws {
        var rows = [candidateRow(1), candidateRow(2)]
        var expected = expected
        var data: Data?
        switch kind {
        case "checksum":
            let good = rows[0].id
            let right = good.last!
            let wrong: Character = right == "1" ? "2" : "1"
            rows[0].id = String(good.dropLast()) + String(wrong)
            expected = expected.replacingOccurrences(of: "WRONG", with: String(wrong)).replacingOccurrences(of: "RIGHT", with: String(right))
        case "birth": rows[0].id = residentID(birth: "19900230", seq: 1)
        case "duplicatePhone": rows[1].phone = rows[0].phone
        case "phone12": rows[0].phone = rows[0].phone + "1"
        case "phonePrefix": rows[0].phone = "12800000001"
        case "emptyName": rows[0].name = "   "
        case "score3": rows[0].score = "88.125"
        case "score101": rows[0].score = "100.01"
        case "places": rows[1].places = "3"
        case "placesZero": rows[0].places = "0"; rows[1].places = "0"; expected += "\nline 3, column places: '0' is not a whole number from 1 to 10000"
        case "postName": rows[1].postName = "别的名字"
        case "duplicateExam": rows[1].exam = rows[0].exam
        case "duplicateID": rows[1].id = rows[0].id
        case "badExam": rows[0].exam = "2022 0001"
        case "fields":
            data = Data((englishHeader + "\n" + rows[0].fields.dropLast().joined(separator: ",") + "\n"
                         + rows[1].fields.joined(separator: ",") + "\n").utf8)
        case "quote":
            data = Data((englishHeader + "\n" + rows[0].fields.enumerated().map { $0.offset == 1 ? "Li \"Lei\"" : $0.element }.joined(separator: ",") + "\n"
                         + rows[1].fields.joined(separator: ",") + "\n").utf8)
        default: Issue.record("unknown case \(kind)")
        }
        var s = RosterState()
        let e = expectRefusal(&s, .invalidArgument, "nothing imported") { s throws(RosterError) in
            _ = try s.importCSV(data ?? csv(rows), fileName: "list.csv", now: beforeWindow)
        }
        #expect(e?.details == expected.components(separatedBy: "\n"))
        #expect(s.candidates.isEmpty && s.posts.isEmpty)
    }

    @Test func everyBadRowIsListedAndNothingIsImported() throws {
        var rows = (1...6).map { candidateRow($0) }
        rows[0].id = residentID(birth: "19900230", seq: 1)   // line 2
        rows[0].phone = "1380000001"                          // line 2, second problem
        rows[2].name = ""                                     // line 4
        rows[3].score = "88.125"                              // line 5
        rows[5].phone = rows[4].phone                         // line 7
        var s = try seeded(0 + 1, plan: false)                // one stored candidate
        let e = expectRefusal(&s, .invalidArgument, "list2.csv: 4 bad row(s), nothing imported (R1):") { s throws(RosterError) in
            _ = try s.importCSV(csv(rows), fileName: "list2.csv", now: beforeWindow)
        }
        #expect(e?.details == [
            "line 2, column id_number: birth date 19900230 is not a real date",
            "line 2, column phone: '1380000001' has 10 digits, not 11",
            "line 4, column name: is empty",
            "line 5, column written_score: '88.125' has more than two decimals",
            "line 7, column phone: 13800000005 is also on line 6",
        ])
        #expect(e?.message.hasSuffix(e!.details.joined(separator: "\n")) == true)
    }

    @Test func nonUTF8IsRefusedClearly() throws {
        var s = RosterState()
        var bytes = Array((englishHeader + "\n").utf8)
        bytes += Array("2022110001,".utf8) + [0xD5, 0xC5, 0xC8, 0xFD] + Array(",x,x,x,x,x,x\n".utf8)  // 张三 in GBK
        let e = expectRefusal(&s, .invalidArgument, "list.csv is not UTF-8 text") { s throws(RosterError) in
            _ = try s.importCSV(Data(bytes), fileName: "list.csv", now: beforeWindow)
        }
        #expect(e?.details == ["line 2: byte 0xD5 at offset \(englishHeader.utf8.count + 12) is not UTF-8"])
        #expect(e?.message.contains("GBK") == true)
        expectRefusal(&s, .invalidArgument, "UTF-16") { s throws(RosterError) in
            _ = try s.importCSV(Data([0xFF, 0xFE, 0x65, 0x00]), fileName: "list.csv", now: beforeWindow)
        }
    }

    @Test func headerProblems() throws {
        var s = RosterState()
        let e = expectRefusal(&s, .invalidArgument, "the header row is wrong") { s throws(RosterError) in
            _ = try s.importCSV(Data("exam_number,name,id_number,phone,post_code,post_name,score,places,name\nA,b,c,d,e,f,g,h,i\n".utf8),
                                fileName: "list.csv", now: beforeWindow)
        }
        #expect(e?.details.count == 3)
        #expect(e?.details[0].hasPrefix("line 1, column 'score': unknown column (expected exam_number, name,") == true)
        #expect(e?.details[1] == "line 1, column name: appears twice (columns 2 and 9)")
        #expect(e?.details[2] == "line 1: missing column written_score (笔试成绩)")
        let q = expectRefusal(&s, .invalidArgument) { s throws(RosterError) in
            _ = try s.importCSV(Data(("exam_number,na\"me,id_number,phone,post_code,post_name,written_score,places\n" + candidateRow(1).fields.joined(separator: ",")).utf8),
                                fileName: "list.csv", now: beforeWindow)
        }
        #expect(q?.details.first == "line 1, column 2: a quote inside an unquoted field (quote the whole field and double the quote)")
        expectRefusal(&s, .invalidArgument, "empty") { s throws(RosterError) in
            _ = try s.importCSV(Data(), fileName: "list.csv", now: beforeWindow)
        }
        expectRefusal(&s, .invalidArgument, "no candidate rows") { s throws(RosterError) in
            _ = try s.importCSV(Data((englishHeader + "\r\n\r\n").utf8), fileName: "list.csv", now: beforeWindow)
        }
    }

    @Test func lineNumbersAreFileLinesAcrossQuotedLineBreaks() throws {
        var s = RosterState()
        let r1 = candidateRow(1), r2 = candidateRow(2), r3 = candidateRow(3)
        var f1 = r1.fields; f1[5] = "社区\n专职"   // a line break inside a quoted post name: lines 2-3
        var f3 = r3.fields; f3[1] = "\"never closed"
        let text = englishHeader + "\n" + f1.map(csvField).joined(separator: ",") + "\n\n"
            + r2.fields.joined(separator: ",").replacingOccurrences(of: r2.phone, with: "1") + "\n"   // line 5
            + f3.joined(separator: ",") + "\n"                                                         // line 6
        let e = expectRefusal(&s, .invalidArgument) { s throws(RosterError) in
            _ = try s.importCSV(Data(text.utf8), fileName: "list.csv", now: beforeWindow)
        }
        #expect(e?.details == [
            "line 2, column post_name: contains control characters or a line break",
            "line 5, column phone: '1' has 1 digits, not 11",
            "line 6, column name: the quoted field is never closed (the rest of the file is inside it)",
        ])
    }

    @Test func duplicatesAgainstTheStore() throws {
        var s = try seeded(3, plan: false)
        var newcomer = candidateRow(9)
        newcomer.phone = candidateRow(2).phone
        newcomer.id = candidateRow(3).id
        let e = expectRefusal(&s, .invalidArgument) { s throws(RosterError) in
            _ = try s.importCSV(csv([newcomer]), fileName: "late.csv", now: beforeWindow)
        }
        #expect(e?.details == [
            "line 2, column id_number: the ID number already belongs to candidate 2022110003",
            "line 2, column phone: 13800000002 already belongs to candidate 2022110002",
        ])
        // Two stored candidates swapping phones in one file is consistent.
        var rows = (1...3).map { candidateRow($0) }
        (rows[0].phone, rows[1].phone) = (rows[1].phone, rows[0].phone)
        let out = try s.importCSV(csv(rows), fileName: "fix.csv", now: beforeWindow)
        #expect(out.updated == 2)
        #expect(s.byPhone[candidateRow(1).phone] == "2022110002" && s.byPhone[candidateRow(2).phone] == "2022110001")
        #expect(out.events.contains(.candidateUpdated(candidate: s.facts(s.candidates["2022110001"]!), changed: ["phone"],
                                                      source: "fix.csv line 2", at: beforeWindow)))
    }

    @Test func aLaterFileUpdatesAndKeepsAbsentCandidates() throws {
        var s = try seeded(4, plan: false)
        var rows = [candidateRow(2), candidateRow(5)]
        rows[0].name = "考生二"
        rows[0].places = "3"; rows[1].places = "3"
        let out = try s.importCSV(csv(rows), fileName: "v2.csv", now: beforeWindow)
        #expect(out.added == 1 && out.updated == 1 && out.postsUpdated == 1)
        #expect(out.events.first == .postUpdated(post: PostFacts(code: "P01", name: "社区专职工作者A", places: 3),
                                                 previous: PostFacts(code: "P01", name: "社区专职工作者A", places: 2), at: beforeWindow))
        #expect(s.candidates.count == 5)          // 1, 3, 4 kept although absent
        #expect(s.candidates["2022110002"]?.name == "考生二")
        #expect(s.candidates["2022110001"]?.source == "list.csv line 2")
    }

    @Test func anUpdatedFileIsRefusedOnceTheWindowOpened() throws {
        var s = try seeded(3)
        let same = csv((1...3).map { candidateRow($0) })
        var rows = (1...3).map { candidateRow($0) }
        rows[1].score = "99.00"
        // Before 09:00 still allowed (tested on a copy).
        var early = s
        #expect(try early.importCSV(csv(rows), fileName: "v2.csv", now: bj("2022-11-17 08:59:59", ms: 999)).updated == 1)
        expectRefusal(&s, .failedPrecondition, "would add 0 and change 1 candidate(s) (2022110002) and 0 post(s), but the confirmation window opened at 2022-11-17 09:00:00 (Beijing time)") { s throws(RosterError) in
            _ = try s.importCSV(csv(rows), fileName: "v2.csv", now: windowOpens)
        }
        expectRefusal(&s, .failedPrecondition, "would add 1") { s throws(RosterError) in
            _ = try s.importCSV(csv([candidateRow(7)]), fileName: "late.csv", now: bj("2022-11-18 10:00:00"))
        }
        // The same file is still a harmless no-op.
        #expect(try s.importCSV(same, fileName: "list.csv", now: inWindow).events.isEmpty)
    }

    @Test func removingACandidateOnlyBeforeTheWindow() throws {
        var s = try seeded(3)
        let events = try s.removeCandidate(examNumber: "2022110003", reason: "imported by mistake", by: "ops1", now: beforeWindow)
        #expect(events == [.candidateRemoved(examNumber: "2022110003", postCode: "P01", reason: "imported by mistake", by: "ops1", at: beforeWindow)])
        #expect(s.candidates["2022110003"] == nil && s.byPhone[candidateRow(3).phone] == nil)
        #expect(events.changedDocuments == [.candidate("2022110003")])
        expectRefusal(&s, .failedPrecondition, "cannot be removed") { s throws(RosterError) in
            _ = try s.removeCandidate(examNumber: "2022110002", reason: "x", by: "ops1", now: windowOpens)
        }
        expectRefusal(&s, .notFound) { s throws(RosterError) in
            _ = try s.removeCandidate(examNumber: "nobody", reason: "x", by: "ops1", now: beforeWindow)
        }
        expectRefusal(&s, .invalidArgument, "the reason is empty") { s throws(RosterError) in
            _ = try s.removeCandidate(examNumber: "2022110002", reason: " ", by: "ops1", now: beforeWindow)
        }
    }

    @Test func tenThousandRowsImportQuickly() throws {
        var rows: [Row] = []
        for i in 0..<10_000 {
            let day = 1 + i / 1000
            rows.append(Row(exam: String(format: "2022%06d", i), name: "考生\(i)",
                            id: residentID(birth: String(format: "199002%02d", day), seq: i % 1000),
                            phone: String(format: "139%08d", i), post: "P\(i % 20)", postName: "岗位\(i % 20)",
                            score: "\(60 + i % 40).\(i % 100)", places: "\(1 + i % 20)"))
        }
        let data = csv(rows)
        var s = RosterState()
        let clock = ContinuousClock()
        var out: ImportOutcome?
        let took = try clock.measure { out = try s.importCSV(data, fileName: "big.csv", now: beforeWindow) }
        #expect(out?.added == 10_000 && s.posts.count == 20)
        #expect(took < .seconds(10), "import of 10,000 rows took \(took)")
        let again = try clock.measure { out = try s.importCSV(data, fileName: "big.csv", now: beforeWindow) }
        #expect(out?.events.isEmpty == true)
        #expect(again < .seconds(10))
        // The all-errors path on a big file is linear too.
        var bad = rows
        for i in stride(from: 0, to: 10_000, by: 2) { bad[i].phone = "1" }
        var t = RosterState()
        let e = expectRefusal(&t, .invalidArgument) { t throws(RosterError) in _ = try t.importCSV(csv(bad), fileName: "bad.csv", now: beforeWindow) }
        #expect(e?.details.count == 5000)
    }

    @Test func oversizedFileIsRefused() throws {
        var config = RosterConfig()
        config.maxImportBytes = 100
        var s = RosterState(config: config)
        expectRefusal(&s, .resourceExhausted, "above the limit") { s throws(RosterError) in
            _ = try s.importCSV(csv([candidateRow(1), candidateRow(2)]), fileName: "list.csv", now: beforeWindow)
        }
    }
}
