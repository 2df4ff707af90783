import ExamPlan
import Foundation
import Testing
@testable import TimingCore

@Suite("Queries: room, countdown, candidate")
struct ViewTests {
    @Test("the room view shows the drawn queue, who is present, the current interview and what is left")
    func roomView() throws {
        var s = try confirmedState()
        let before = try s.roomView(roomID: "R01", sitting: .formal, now: t("2022-11-19 10:00"))
        #expect(before.draw == nil)
        #expect(before.queue.map(\.examNumber) == R01.sorted())
        #expect(before.queue.allSatisfy { $0.status == .awaitingEntry })

        let order = try formalRoomReady(&s)
        _ = try s.leave(examNumber: order[1], sitting: .formal, channel: .main, now: t("2022-11-19 11:11"))
        let v0 = try s.roomView(roomID: "R01", sitting: .formal, now: t("2022-11-19 11:11"))
        #expect(v0.queue.map(\.examNumber) == order)
        #expect(v0.queue.map(\.position) == [1, 2, 3, 4])
        #expect(v0.next == order[0])
        #expect(v0.present == [order[0], order[2], order[3]])
        #expect(v0.queue[1].ready == false)
        #expect(!v0.entryOpen)

        let start = t("2022-11-19 11:12")
        _ = try s.startInterview(roomID: "R01", sitting: .formal, examNumber: order[0], proctor: "P01", now: start)
        let v = try s.roomView(roomID: "R01", sitting: .formal, now: start.plus(90))
        #expect(v.current?.examNumber == order[0])
        #expect(v.current?.phase == .reading)
        #expect(v.current?.remaining == 510)
        #expect(v.current?.readingRemaining == 210)
        #expect(v.next == nil)
        #expect(v.queue[0].status == .interviewing)
    }

    @Test("a candidate's state per sitting")
    func candidateView() throws {
        var s = try confirmedState()
        _ = s.tick(now: t("2022-11-19 11:10"), seed: 1)
        let absent = try s.candidateView(examNumber: "2022110001", sitting: .formal, now: t("2022-11-19 11:11"))
        #expect(absent.status == .absent)
        #expect(absent.forfeited)
        let mock = try s.candidateView(examNumber: "2022110001", sitting: .mock, now: t("2022-11-19 11:11"))
        #expect(mock.status == .absent)
        #expect(!mock.forfeited)
        #expect {
            try s.interviewClock(examNumber: "2022110001", sitting: .formal, now: t("2022-11-19 11:11"))
        } throws: { ($0 as? TimingError)?.code == .notFound }
        #expect {
            try s.roomView(roomID: "R09", sitting: .formal, now: t("2022-11-19 11:11"))
        } throws: { ($0 as? TimingError) == TimingError(.notFound, "room R09 is not in the exam plan") }
    }
}
