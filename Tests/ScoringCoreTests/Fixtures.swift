import ExamPlan
import Foundation
import Testing
@testable import ScoringCore

/// Beijing time, "2022-11-19 11:30".
func bj(_ text: String) -> Date { BeijingTime.parse(text)! }

let formalEnd = bj("2022-11-19 12:00")
let sealTime = bj("2022-11-19 17:00")
let publishTime = bj("2022-11-21 09:00")

let ops = ScoringActor.ops("ops01")

/// A valid GB 11643-1999 number: region 370202 (Shinan), born 1990-01-01,
/// sequence `seq`, and its check character.
func residentID(_ seq: Int) -> String {
    let body = "37020219900101" + String(format: "%03d", seq)
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    let sum = zip(body, weights).reduce(0) { $0 + Int(String($1.0))! * $1.1 }
    return body + String(Array("10X98765432")[sum % 11])
}

func panel(_ prefix: String, _ n: Int) -> [Examiner] {
    (1...n).map { Examiner(id: "\(prefix)0\($0)", name: "\(prefix)考官\($0)", chief: $0 == 1) }
}

/// Three rooms: R01 with a 7-examiner panel (trimmed mean), R02 with 4
/// (plain mean: below the default panel size of 5), R03 with 3 (plain mean).
func noticePlan() -> ExamPlan {
    ExamPlan(
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
}

/// (exam number, name, post, written score, ID sequence)
let roster: [(String, String, String, String, Int)] = [
    ("2022110001", "张三", "P01", "80.00", 1),
    ("2022110002", "李四", "P01", "78.00", 2),
    ("2022110003", "王五", "P01", "70.00", 3),   // absent
    ("2022110004", "赵六", "P01", "88.00", 4),   // declined
    ("2022110011", "孙一", "P02", "80.00", 11),
    ("2022110012", "周二", "P02", "84.00", 12),
    ("2022110021", "吴三", "P03", "75.50", 21),
    ("2022110022", "郑四", "P03", "75.50", 22),
    ("2022110031", "冯五", "P04", "90.00", 31),
    ("2022110032", "陈六", "P04", "80.00", 32),
    ("2022110041", "褚七", "P05", "70.25", 41),
    ("2022110042", "卫八", "P05", "60.00", 42),
]

let postNames = ["P01": "社区专职工作者A岗", "P02": "社区专职工作者B岗", "P03": "社区专职工作者C岗",
                 "P04": "社区专职工作者D岗", "P05": "社区专职工作者E岗"]

func fact(_ r: (String, String, String, String, Int), places: Int = 1) -> CandidateFact {
    CandidateFact(examNumber: r.0, name: r.1, idNumber: residentID(r.4), postCode: r.2, postName: postNames[r.2]!,
                  writtenScore: r.3, places: places)
}

/// Roster imported, everyone confirmed except 2022110004 (declined), the plan
/// from timing; nobody interviewed yet.
func examState(_ config: ScoringConfig = ScoringConfig()) throws -> ScoringState {
    var s = try ScoringState(config: config)
    let importTime = bj("2022-11-16 10:00")
    for r in roster { _ = try s.recordCandidate(fact(r), now: importTime) }
    for r in roster {
        _ = try s.recordCandidateStatus(examNumber: r.0, status: r.0 == "2022110004" ? .declined : .confirmed,
                                        now: bj("2022-11-17 10:00"))
    }
    _ = try s.recordPlan(noticePlan(), now: importTime)
    return s
}

extension ScoringState {
    /// The room's panel in the plan's order.
    func panelIDs(_ n: String) -> [String] { plan!.room(of: n)!.panel.map(\.id) }

    /// Timing reports the formal interview ended; each examiner of the panel
    /// submits the score at the same position; the chief seals.
    mutating func interviewAndScore(_ n: String, _ scores: [String], seal: Bool = true) throws {
        _ = try recordInterviewEnded(examNumber: n, sitting: .formal, now: formalEnd)
        for (e, s) in zip(panelIDs(n), scores) { _ = try submit(examNumber: n, examinerID: e, score: s, now: formalEnd) }
        if seal { _ = try self.seal(examNumber: n, by: ops, now: sealTime) }
    }

    func rank(_ n: String) throws -> Int? { try candidateScores(examNumber: n).rank }
}

/// Everyone interviewed and sealed (2022110003 absent, 2022110004 declined):
/// the state just before publication. Hand-computed results are in the
/// tests that use it.
func scoredExam(_ config: ScoringConfig = ScoringConfig()) throws -> ScoringState {
    var s = try examState(config)
    try s.interviewAndScore("2022110001", ["90", "85.5", "88", "79", "92.25", "86", "87"])   // 87.30
    try s.interviewAndScore("2022110002", ["80", "80", "80", "80", "80", "80", "80"])          // 80.00
    _ = try s.recordAbsent(examNumber: "2022110003", sitting: .formal, now: bj("2022-11-19 11:10"))
    try s.interviewAndScore("2022110011", ["90", "90", "90"])                                 // 90.00
    try s.interviewAndScore("2022110012", ["86", "86", "86"])                                 // 86.00
    try s.interviewAndScore("2022110021", ["88", "88", "88"])                                 // 88.00
    try s.interviewAndScore("2022110022", ["87", "89", "88"])                                 // 88.00
    try s.interviewAndScore("2022110031", ["90", "90", "90", "90"])                           // 90.00
    try s.interviewAndScore("2022110032", ["80", "80", "80", "80"])                           // 80.00
    try s.interviewAndScore("2022110041", ["85.25", "85.26", "85.25", "85.26"])               // 85.26
    try s.interviewAndScore("2022110042", ["60", "61", "59", "60"])                           // 60.00
    return s
}

/// Runs `op` on `state`, expects it to throw `code` with a message holding
/// every string of `mentions`, and checks the state did not change at all.
@discardableResult
func expectRefused(_ state: inout ScoringState, _ code: ScoringError.Code, mentions: [String] = [],
                   sourceLocation: SourceLocation = #_sourceLocation,
                   _ op: (inout ScoringState) throws -> [ScoringEvent]) -> ScoringError? {
    let before = state
    var caught: ScoringError?
    do {
        let events = try op(&state)
        Issue.record("expected \(code), got events \(events)", sourceLocation: sourceLocation)
    } catch let e as ScoringError {
        caught = e
        #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
        for m in mentions { #expect(e.description.contains(m), "'\(m)' not in: \(e)", sourceLocation: sourceLocation) }
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
    #expect(state == before, "a refused call changed the state", sourceLocation: sourceLocation)
    return caught
}
