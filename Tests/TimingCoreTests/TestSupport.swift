import ExamPlan
import Foundation
import Testing
@testable import TimingCore

/// Beijing time from the notice's own dates: t("2022-11-19 11:00").
func t(_ text: String) -> Date {
    guard let d = BeijingTime.parse(text) else { fatalError("bad time \(text)") }
    return d
}

extension Date {
    func plus(_ seconds: TimeInterval) -> Date { addingTimeInterval(seconds) }
}

let R01 = ["2022110004", "2022110001", "2022110003", "2022110002"]
let R02 = ["2022110005", "2022110006"]

/// The notice's plan: confirmation 17 Nov 09:00-16:00, mock entry 18 Nov
/// 08:50-09:00, formal entry 19 Nov 11:00-11:10, publication 21 Nov, 5 + 5.
func noticePlan(turn: AnsweringTurn = .automatic, r01: [String] = R01, r02: [String] = R02) -> ExamPlan {
    ExamPlan(exam: "2022 市南区社区专职工作者招聘面试",
             confirmation: TimeWindow(opens: t("2022-11-17 09:00"), closes: t("2022-11-17 16:00")),
             mockEntry: TimeWindow(opens: t("2022-11-18 08:50"), closes: t("2022-11-18 09:00")),
             formalEntry: TimeWindow(opens: t("2022-11-19 11:00"), closes: t("2022-11-19 11:10")),
             publication: t("2022-11-21 09:00"),
             interview: InterviewDurations(readingSeconds: 300, answeringSeconds: 300, answeringTurn: turn),
             rooms: [
                ExamRoom(id: "R01", name: "第一考场",
                         panel: [Examiner(id: "E01", name: "王考官", chief: true), Examiner(id: "E02", name: "李考官"),
                                 Examiner(id: "E03", name: "张考官")],
                         candidates: r01, proctors: ["P01"]),
                ExamRoom(id: "R02", name: "第二考场",
                         panel: [Examiner(id: "E11", name: "赵考官", chief: true), Examiner(id: "E12", name: "刘考官")],
                         candidates: r02, proctors: ["P02"]),
             ])
}

/// Every candidate confirmed by roster.
func confirmedState(turn: AnsweringTurn = .automatic) throws -> TimingState {
    var s = try TimingState(plan: noticePlan(turn: turn))
    for n in R01 + R02 { _ = try s.applyRoster(examNumber: n, status: .confirmed, now: t("2022-11-17 10:00")) }
    return s
}

func mainDevice(_ n: String) -> String { "main-\(n)" }
func secondaryDevice(_ n: String) -> String { "sec-\(n)" }

/// Ticks and enters both phones.
@discardableResult
func enterBoth(_ s: inout TimingState, _ n: String, _ sitting: Sitting = .formal, at now: Date) throws -> [TimingEvent] {
    var ev = s.tick(now: now, seed: 1)
    ev += try s.enter(examNumber: n, sitting: sitting, channel: .main, deviceID: mainDevice(n), now: now)
    ev += try s.enter(examNumber: n, sitting: sitting, channel: .secondary, deviceID: secondaryDevice(n), now: now)
    return ev
}

let formalSeed: UInt64 = 20221119

/// Room R01 in the formal sitting: all four entered at 11:05, entry closed
/// at 11:10 with `formalSeed`, all screened; returns the drawn order.
func formalRoomReady(_ s: inout TimingState) throws -> [String] {
    for n in R01 { try enterBoth(&s, n, at: t("2022-11-19 11:05")) }
    _ = s.tick(now: t("2022-11-19 11:10"), seed: formalSeed)
    for n in R01 {
        _ = try s.recordScreening(examNumber: n, sitting: .formal, identityConfirmed: true, checks: ScreeningCheck.allPassed,
                                  proctor: "P01", now: t("2022-11-19 11:10:30"))
    }
    return s.rooms[TimingState.key(.formal, "R01")]!.draw!.order
}

/// Asserts that `op` throws `code` (and `message`, when given) and leaves
/// the state unchanged.
@discardableResult
func expectRefusal(_ state: inout TimingState, _ code: TimingError.Code, _ message: String? = nil,
                   sourceLocation: SourceLocation = #_sourceLocation,
                   _ op: (inout TimingState) throws -> [TimingEvent]) -> TimingError? {
    let before = state
    do {
        let events = try op(&state)
        Issue.record("expected \(code), but it succeeded with \(events)", sourceLocation: sourceLocation)
        return nil
    } catch let e as TimingError {
        #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
        if let message { #expect(e.message == message, sourceLocation: sourceLocation) }
        #expect(state == before, "a refused operation changed the state", sourceLocation: sourceLocation)
        return e
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// JSON round trip, as the shell persists the state.
func persisted(_ s: TimingState) throws -> TimingState {
    let data = try JSONEncoder().encode(s)
    return try JSONDecoder().decode(TimingState.self, from: data)
}
