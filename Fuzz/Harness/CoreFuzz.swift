import ExamPlan
import Foundation
import RosterCore
import ScoringCore

/// Beijing time, "2022-11-19 11:30".
private func bj(_ text: String) -> Date { BeijingTime.parse(text)! }

/// A valid GB 11643-1999 number: region 370202, born 1990-01-01, sequence `seq`.
func residentID(_ seq: Int) -> String {
    let body = "37020219900101" + String(format: "%03d", seq % 1000)
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    let sum = zip(body, weights).reduce(0) { $0 + Int(String($1.0))! * $1.1 }
    return body + String(Array("10X98765432")[sum % 11])
}

// MARK: - Roster CSV import (R1)

/// Services/RosterCore's `importCSV` on an empty roster. An accepted file
/// imported a second time must change nothing (the import is a merge).
enum RosterFuzz {
    static let now = bj("2022-11-10 10:00")

    static func run(_ data: UnsafeRawBufferPointer) {
        let file = Data(data)
        var s = RosterState()
        let first: ImportOutcome
        do { first = try s.importCSV(file, fileName: "fuzz.csv", now: now) } catch { return }
        check(first.rows == first.added + first.updated + first.unchanged, "import counts: \(first)")
        check(first.added == first.rows, "an empty roster took \(first.rows) rows but added \(first.added)")
        do {
            let again = try s.importCSV(file, fileName: "fuzz.csv", now: now)
            check(again.added == 0 && again.updated == 0 && again.postsAdded == 0 && again.postsUpdated == 0 && again.events.isEmpty,
                  "the same file twice changed something: \(again)")
        } catch {
            check(false, "the same file twice was refused: \(error)")
        }
    }

    static func seeds() -> [(name: String, bytes: [UInt8])] {
        let header = "exam_number,name,id_number,phone,post_code,post_name,written_score,places"
        let rows = (1...4).map { i in
            "20221100\(String(format: "%02d", i)),考生\(i),\(residentID(i)),1380000000\(i),P0\(1 + i % 2),\"岗位, \(1 + i % 2)\",8\(i).50,2"
        }
        let chinese = "准考证号,姓名,身份证号,手机号,岗位代码,岗位名称,笔试成绩,招聘人数"
        return [
            ("generated-en.csv", Array(([header] + rows).joined(separator: "\n").utf8) + [0x0A]),
            ("generated-zh-crlf.csv", [0xEF, 0xBB, 0xBF] + Array(([chinese] + rows).joined(separator: "\r\n").utf8)),
        ]
    }
}

// MARK: - Plan file

/// Shared/ExamPlan's `PlanFile.parse`. An accepted plan has no problems,
/// its times can be shown (BeijingTime), and it survives the JSON the
/// services store it in.
enum PlanFuzz {
    static let anchor = bj("2022-11-16 09:00")

    static func run(_ data: UnsafeRawBufferPointer) {
        guard let plan = try? PlanFile.parse(Data(data), anchor: anchor, source: "fuzz") else { return }
        check(plan.problems().isEmpty, "accepted plan has problems: \(plan.problems())")
        for d in [plan.confirmation.opens, plan.confirmation.closes, plan.mockEntry.opens, plan.mockEntry.closes,
                  plan.formalEntry.opens, plan.formalEntry.closes, plan.publication] {
            _ = BeijingTime.iso(d)
            _ = BeijingTime.short(d)
        }
        do {
            let json = try JSONEncoder().encode(plan)
            let back = try JSONDecoder().decode(ExamPlan.self, from: json)
            check(back == plan, "plan JSON round trip differs")
        } catch {
            check(false, "accepted plan does not survive JSON: \(error)")
        }
    }

    static func seeds() -> [(name: String, bytes: [UInt8])] {
        let plan = """
        { "exam": "2022 市南区社区专职工作者招聘面试",
          "confirmation": { "opens": "2022-11-17 09:00", "closes": "2022-11-17 16:00" },
          "mock":   { "entry_opens": "2022-11-18T08:50:00+08:00", "entry_closes": "2022-11-18 09:00:00" },
          "formal": { "entry_opens": "2022-11-19 11:00", "entry_closes": "2022-11-19 11:10" },
          "publication": "2022-11-21T01:00:00.000Z",
          "interview": { "reading_seconds": 300, "answering_seconds": 300, "answering_turn": "staff" },
          "rooms": [ { "id": "R01", "name": "第一考场",
                       "panel": [ { "id": "E01", "name": "王考官", "chief": true }, { "id": "E02", "name": "李考官" } ],
                       "candidates": [ "2022110001", "2022110002" ], "proctors": [ "P01" ] } ] }
        """
        let relative = """
        {"exam":"demo","confirmation":{"opens":"+0s","closes":"+90s"},"mock":{"entry_opens":"+2m","entry_closes":"+3m"},
         "formal":{"entry_opens":"+0.1h","entry_closes":"+7m"},"publication":"+1h",
         "rooms":[{"id":"R01","panel":[{"id":"E01","name":"e","chief":true}],"candidates":["1"]}]}
        """
        return [("generated.json", Array(plan.utf8)), ("relative.json", Array(relative.utf8))]
    }
}

// MARK: - Score sheet (R50)

/// Services/ScoringCore's `submitSheet` on the notice's worked exam: three
/// rooms, twelve candidates, some interviewed. The first byte picks who
/// submits (ops, or the chief examiner of R01 or R03). An accepted sheet
/// submitted again records nothing (a replay).
enum SheetFuzz {
    static let formalEnd = bj("2022-11-19 12:00")

    static func panel(_ prefix: String, _ n: Int) -> [Examiner] {
        (1...n).map { Examiner(id: "\(prefix)0\($0)", name: "\(prefix)考官\($0)", chief: $0 == 1) }
    }

    static let base: ScoringState = {
        let plan = ExamPlan(
            exam: "2022市南区社区专职工作者公开招聘面试",
            confirmation: TimeWindow(opens: bj("2022-11-17 09:00"), closes: bj("2022-11-17 16:00")),
            mockEntry: TimeWindow(opens: bj("2022-11-18 08:50"), closes: bj("2022-11-18 09:00")),
            formalEntry: TimeWindow(opens: bj("2022-11-19 11:00"), closes: bj("2022-11-19 11:10")),
            publication: bj("2022-11-21 09:00"), interview: InterviewDurations(),
            rooms: [
                ExamRoom(id: "R01", name: "第一考场", panel: panel("E", 7),
                         candidates: ["2022110001", "2022110002", "2022110003", "2022110004"]),
                ExamRoom(id: "R02", name: "第二考场", panel: panel("F", 4),
                         candidates: ["2022110031", "2022110032", "2022110041", "2022110042"]),
                ExamRoom(id: "R03", name: "第三考场", panel: panel("G", 3),
                         candidates: ["2022110011", "2022110012", "2022110021", "2022110022"]),
            ])
        let roster: [(String, String, Int)] = [
            ("2022110001", "P01", 1), ("2022110002", "P01", 2), ("2022110003", "P01", 3), ("2022110004", "P01", 4),
            ("2022110011", "P02", 11), ("2022110012", "P02", 12), ("2022110021", "P03", 21), ("2022110022", "P03", 22),
            ("2022110031", "P04", 31), ("2022110032", "P04", 32), ("2022110041", "P05", 41), ("2022110042", "P05", 42),
        ]
        do {
            var s = try ScoringState()
            let importTime = bj("2022-11-16 10:00")
            for (n, post, seq) in roster {
                _ = try s.recordCandidate(CandidateFact(examNumber: n, name: "考生\(seq)", idNumber: residentID(seq), postCode: post,
                                                        postName: "岗位\(post)", writtenScore: "8\(seq % 10).50", places: 1), now: importTime)
            }
            for (n, _, _) in roster {
                _ = try s.recordCandidateStatus(examNumber: n, status: n == "2022110004" ? .declined : .confirmed,
                                                now: bj("2022-11-17 10:00"))
            }
            _ = try s.recordPlan(plan, now: importTime)
            for n in ["2022110001", "2022110002", "2022110011", "2022110012", "2022110031"] {
                _ = try s.recordInterviewEnded(examNumber: n, sitting: .formal, now: formalEnd)
            }
            _ = try s.recordAbsent(examNumber: "2022110003", sitting: .formal, now: bj("2022-11-19 11:10"))
            return s
        } catch {
            fatalError("the score sheet fixture is broken: \(error)")
        }
    }()

    static let actors: [ScoringActor] = [.ops("ops01"), .chiefExaminer("E01"), .chiefExaminer("G01"), .examiner("E02")]

    static func run(_ data: UnsafeRawBufferPointer) {
        guard let pick = data.first else { return }
        let text = String(decoding: data.tail, as: UTF8.self)
        let actor = actors[Int(pick) % actors.count]
        var s = base
        guard (try? s.submitSheet(text, by: actor, now: formalEnd)) != nil else { return }
        do {
            let again = try s.submitSheet(text, by: actor, now: formalEnd)
            check(again.isEmpty, "the same sheet twice recorded \(again.count) more event(s)")
        } catch {
            check(false, "the same sheet twice was refused: \(error)")
        }
    }

    static func seeds() -> [(name: String, bytes: [UInt8])] {
        let ops = "\u{FEFF}score,Exam_Number,examiner_id,note\r\n"
            + "90,2022110011,G01,\r\n" + "\"90.00\",2022110011,G02,\"ok, checked\"\r\n" + "90,2022110011,G03,\r\n"
            + "86,2022110012,G01,\r\n" + "86.5,2022110012,G02,\r\n" + "86.25,2022110012,G03,\r\n\r\n"
        let chief = "exam_number,examiner_id,score\n" + (1...7).map { "2022110001,E0\($0),8\($0).5" }.joined(separator: "\n")
            + "\n" + (1...7).map { "2022110002,E0\($0),9\($0)" }.joined(separator: "\n") + "\n"
        return [("ops.csv", [0] + Array(ops.utf8)), ("chief-r01.csv", [1] + Array(chief.utf8)),
                ("chief-r03.csv", [2] + Array("exam_number,examiner_id,score\n2022110011,G01,90\n".utf8))]
    }
}
