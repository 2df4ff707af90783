import Foundation
import Testing
import ExamPlan
@testable import DisciplineCore

/// A Beijing time, "2022-11-19 11:20:00".
func bj(_ text: String) -> Date { BeijingTime.parse(text)! }

let proctor = Principal(id: "P01", role: .proctor)
let examinerE02 = Principal(id: "E02", role: .examiner)
let chiefR01 = Principal(id: "E01", role: .chiefExaminer)
let chiefR02 = Principal(id: "E11", role: .chiefExaminer)

/// Two rooms: R01 (chief E01) with 2022110001 and 2022110002, R02 (chief
/// E11) with 2022110003. Formal entry 11:00-11:10 on 19 Nov (the notice).
func plan() -> ExamPlan {
    ExamPlan(
        exam: "2022 市南区社区专职工作者招聘面试",
        confirmation: TimeWindow(opens: bj("2022-11-17 09:00"), closes: bj("2022-11-17 16:00")),
        mockEntry: TimeWindow(opens: bj("2022-11-18 08:50"), closes: bj("2022-11-18 09:00")),
        formalEntry: TimeWindow(opens: bj("2022-11-19 11:00"), closes: bj("2022-11-19 11:10")),
        publication: bj("2022-11-21 09:00"),
        interview: InterviewDurations(),
        rooms: [
            ExamRoom(id: "R01", name: "第一考场",
                     panel: [Examiner(id: "E01", name: "王考官", chief: true), Examiner(id: "E02", name: "李考官"), Examiner(id: "E03", name: "张考官")],
                     candidates: ["2022110001", "2022110002"], proctors: ["P01"]),
            ExamRoom(id: "R02", name: "第二考场",
                     panel: [Examiner(id: "E11", name: "赵考官", chief: true), Examiner(id: "E12", name: "钱考官")],
                     candidates: ["2022110003"], proctors: ["P02"]),
        ])
}

/// A state that knows the plan and three candidates.
func seeded(_ config: DisciplineConfig = DisciplineConfig()) throws -> DisciplineState {
    var s = DisciplineState(config: config)
    try s.applyPlan(plan())
    try s.applyCandidate(examNumber: "2022110001", name: "张三", postCode: "SN01")
    try s.applyCandidate(examNumber: "2022110002", name: "李四", postCode: "SN01")
    try s.applyCandidate(examNumber: "2022110003", name: "王五", postCode: "SN02")
    return s
}

let beforeInterview = bj("2022-11-19 11:05:00")
let duringInterview = bj("2022-11-19 11:20:00")

func staffReport(_ exam: String = "2022110001", ground: Int = 1, evidence: String = "a second person walks behind the candidate",
                 requestID: String? = nil, at: Date? = nil) -> StaffReport {
    StaffReport(examNumber: exam, ground: ground, evidence: evidence, references: ["secondary@00:03:12"],
                occurredAt: at, sitting: .formal, requestID: requestID)
}

func signalReport(_ exam: String = "2022110001", key: String = "devices#41") -> SignalLossReport {
    SignalLossReport(examNumber: exam, sourceKey: key, pattern: .bothAtOnce, positions: [.main, .secondary],
                     lostAt: bj("2022-11-19 11:18:30"), durationSeconds: 45)
}

/// Runs `op` on a copy of `state`, expects exactly `expected`, and checks the
/// copy did not change.
func expectRefused<T>(_ state: DisciplineState, _ expected: DisciplineError,
                      sourceLocation: SourceLocation = #_sourceLocation,
                      _ op: (inout DisciplineState) throws -> T) {
    var copy = state
    do {
        _ = try op(&copy)
        Issue.record("expected \(expected), but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as DisciplineError {
        #expect(error == expected, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
    }
    #expect(copy == state, "a refused call changed the state", sourceLocation: sourceLocation)
}

/// A small RFC 4180 reader, to check the export round-trips.
func parseCSV(_ text: String) -> [[String]] {
    var rows: [[String]] = []
    var row: [String] = []
    var field = ""
    var quoted = false
    var chars = Array(text.unicodeScalars)[...]
    while let c = chars.popFirst() {
        if quoted {
            if c == "\"" {
                if chars.first == "\"" { field.unicodeScalars.append("\""); chars.removeFirst() } else { quoted = false }
            } else { field.unicodeScalars.append(c) }
        } else if c == "\"" {
            quoted = true
        } else if c == "," {
            row.append(field); field = ""
        } else if c == "\r" && chars.first == "\n" {
            chars.removeFirst()
            row.append(field); field = ""
            rows.append(row); row = []
        } else {
            field.unicodeScalars.append(c)
        }
    }
    if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
    return rows
}
