import ExamPlan
import Foundation
import Testing
@testable import TimingCore

@Suite("Interviews and the countdown (R14-R18)")
struct InterviewTests {
    let start = t("2022-11-19 11:12")

    /// R01 ready, the first of the drawn order started at 11:12:00.
    func running(turn: AnsweringTurn = .automatic) throws -> (TimingState, [String]) {
        var s = try confirmedState(turn: turn)
        let order = try formalRoomReady(&s)
        _ = s.tick(now: start, seed: 0)
        let ev = try s.startInterview(roomID: "R01", sitting: .formal, examNumber: order[0], proctor: "P01", now: start)
        #expect(ev == [.interviewStarted(sitting: .formal, examNumber: order[0], roomID: "R01", proctor: "P01",
                                         readingEndsAt: start.plus(300), endsAt: start.plus(600), at: start)])
        return (s, order)
    }

    @Test("automatic turn at exactly 5:00, end at exactly 10:00; the candidate leaves and the recording is saved")
    func automatic() throws {
        var (s, order) = try running()
        let n = order[0]
        #expect(s.nextDeadline() == start.plus(300))
        let reveal = try s.revealQuestion(examNumber: n, deviceID: mainDevice(n), now: start.plus(3))
        #expect(reveal == [.questionRevealed(sitting: .formal, examNumber: n, roomID: "R01", at: start.plus(3))])
        #expect(try s.revealQuestion(examNumber: n, deviceID: mainDevice(n), now: start.plus(4)).isEmpty)

        #expect(s.tick(now: start.plus(299.999), seed: 0).isEmpty)
        #expect(try s.interviewClock(examNumber: n, sitting: .formal, now: start.plus(299.999)).phase == .reading)
        let turn = s.tick(now: start.plus(300), seed: 0)
        #expect(turn == [.answeringStarted(sitting: .formal, examNumber: n, roomID: "R01", turn: .automatic,
                                           announcedBy: nil, endsAt: start.plus(600), due: start.plus(300), at: start.plus(300))])
        #expect(try s.interviewClock(examNumber: n, sitting: .formal, now: start.plus(300)).phase == .answering)

        #expect(s.tick(now: start.plus(599.999), seed: 0).isEmpty)
        let clock = try s.interviewClock(examNumber: n, sitting: .formal, now: start.plus(599))
        #expect(clock.remaining == 1)
        let end = start.plus(600)
        let ev = s.tick(now: end, seed: 0)
        #expect(ev == [
            .interviewEnded(sitting: .formal, examNumber: n, roomID: "R01", reason: .timeUp, remaining: 0, due: end, at: end),
            .candidateLeft(sitting: .formal, examNumber: n, roomID: "R01", channel: .main, deviceID: mainDevice(n),
                           reason: .interviewOver, duringInterview: true, at: end),
            .candidateLeft(sitting: .formal, examNumber: n, roomID: "R01", channel: .secondary, deviceID: secondaryDevice(n),
                           reason: .interviewOver, duringInterview: true, at: end),
            .answerRecordingSaved(sitting: .formal, examNumber: n, roomID: "R01", answeringFrom: start.plus(300),
                                  until: end, due: end, at: end),
        ])
        #expect(s.tick(now: end.plus(60), seed: 0).isEmpty)
        #expect(s.rooms["formal/R01"]?.current == nil)
        #expect(try s.interviewClock(examNumber: n, sitting: .formal, now: end).phase == .ended)
    }

    @Test("ending early is refused while reading, accepted while answering")
    func endEarly() throws {
        var (s, order) = try running()
        let n = order[0]
        expectRefusal(&s, .failedPrecondition,
                      "ending early is possible only while answering (R17); \(n) is reading until 2022-11-19 11:17:00") {
            try $0.endInterview(examNumber: n, deviceID: mainDevice(n), now: start.plus(120))
        }
        _ = s.tick(now: start.plus(300), seed: 0)
        expectRefusal(&s, .permissionDenied) {
            try $0.endInterview(examNumber: n, deviceID: secondaryDevice(n), now: start.plus(420))
        }
        let at = start.plus(420)
        let ev = try s.endInterview(examNumber: n, deviceID: mainDevice(n), now: at)
        #expect(ev.first == .interviewEnded(sitting: .formal, examNumber: n, roomID: "R01", reason: .endedEarly,
                                            remaining: 180, due: nil, at: at))
        #expect(ev.map(\.topic) == ["timing.interview.ended", "timing.candidate.left", "timing.candidate.left",
                                    "timing.interview.recording_saved"])
        // Nothing left to fire for it; a repeat is refused with when it ended.
        #expect(s.nextDeadline() == nil)
        expectRefusal(&s, .outOfRange, "the formal interview of \(n) ended at 2022-11-19 11:19:00") {
            try $0.endInterview(examNumber: n, deviceID: mainDevice(n), now: at.plus(1))
        }
    }

    @Test("staff turn: refused before 5:00, late at 7:00 still ends at 10:00")
    func staffTurnLate() throws {
        var (s, order) = try running(turn: .staff)
        let n = order[0]
        expectRefusal(&s, .outOfRange,
                      "the reading time of \(n) lasts until 2022-11-19 11:17:00 (300 s, R14); answering can be announced from then on") {
            try $0.announceAnswering(examNumber: n, proctor: "P01", now: start.plus(299))
        }
        let up = s.tick(now: start.plus(300), seed: 0)
        #expect(up == [.readingTimeUp(sitting: .formal, examNumber: n, roomID: "R01", due: start.plus(300), at: start.plus(300))])
        // Still reading until staff announce: ending early refused.
        expectRefusal(&s, .failedPrecondition,
                      "ending early is possible only while answering (R17); \(n) is reading until staff announce answering") {
            try $0.endInterview(examNumber: n, deviceID: mainDevice(n), now: start.plus(400))
        }
        #expect(s.nextDeadline() == start.plus(600))
        _ = s.tick(now: start.plus(420), seed: 0)
        let ann = try s.announceAnswering(examNumber: n, proctor: "E01", now: start.plus(420))
        #expect(ann == [.answeringStarted(sitting: .formal, examNumber: n, roomID: "R01", turn: .staff, announcedBy: "E01",
                                          endsAt: start.plus(600), due: start.plus(300), at: start.plus(420))])
        expectRefusal(&s, .alreadyExists, "answering was announced for \(n) at 2022-11-19 11:19:00 by E01") {
            try $0.announceAnswering(examNumber: n, proctor: "P01", now: start.plus(430))
        }
        let end = s.tick(now: start.plus(600), seed: 0)
        #expect(end.first == .interviewEnded(sitting: .formal, examNumber: n, roomID: "R01", reason: .timeUp, remaining: 0,
                                            due: start.plus(600), at: start.plus(600)))
        #expect(end.last == .answerRecordingSaved(sitting: .formal, examNumber: n, roomID: "R01", answeringFrom: start.plus(420),
                                                 until: start.plus(600), due: start.plus(600), at: start.plus(600)))
    }

    @Test("announcing answering in an automatic plan is refused")
    func announceInAutomatic() throws {
        var (s, order) = try running()
        _ = s.tick(now: start.plus(301), seed: 0)
        expectRefusal(&s, .failedPrecondition) {
            try $0.announceAnswering(examNumber: order[0], proctor: "P01", now: start.plus(301))
        }
    }

    @Test("re-entry with 1 s left is accepted, after zero refused with when it ended (R18)")
    func reentry() throws {
        var (s, order) = try running()
        let n = order[0]
        _ = s.tick(now: start.plus(400), seed: 0)
        let left = try s.leave(examNumber: n, sitting: .formal, channel: .main, now: start.plus(400))
        #expect(left.first == .candidateLeft(sitting: .formal, examNumber: n, roomID: "R01", channel: .main,
                                             deviceID: mainDevice(n), reason: .left, duringInterview: true, at: start.plus(400)))
        // The countdown never paused (R15).
        #expect(try s.interviewClock(examNumber: n, sitting: .formal, now: start.plus(500)).remaining == 100)
        let oneLeft = start.plus(599)
        _ = s.tick(now: oneLeft, seed: 0)
        let back = try s.enter(examNumber: n, sitting: .formal, channel: .main, deviceID: mainDevice(n), now: oneLeft)
        #expect(back == [.candidateEntered(sitting: .formal, examNumber: n, roomID: "R01", channel: .main,
                                           deviceID: mainDevice(n), reentry: true, replacedDeviceID: nil, remaining: 1,
                                           at: oneLeft)])
        _ = s.tick(now: start.plus(600), seed: 0)
        expectRefusal(&s, .outOfRange,
                      "candidate \(n) cannot enter the formal interview main room (主房间): the interview ended at 2022-11-19 11:22:00; re-entry is refused once the countdown is over (R18)") {
            try $0.enter(examNumber: n, sitting: .formal, channel: .main, deviceID: mainDevice(n), now: start.plus(600))
        }
    }

    @Test("starting twice, while another runs, out of order, unscreened, absent or before the draw is refused")
    func startRefusals() throws {
        var s = try confirmedState()
        try enterBoth(&s, "2022110001", at: t("2022-11-19 11:05"))
        expectRefusal(&s, .failedPrecondition,
                      "cannot start the formal interview of 2022110001 in room R01: the interview order is not drawn yet; it is drawn when entry closes at 2022-11-19 11:10:00 (R20)") {
            try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: "2022110001", proctor: "P01", now: t("2022-11-19 11:06"))
        }
        for n in ["2022110002", "2022110003"] { try enterBoth(&s, n, at: t("2022-11-19 11:06")) }
        _ = s.tick(now: t("2022-11-19 11:10"), seed: formalSeed)
        let order = s.rooms["formal/R01"]!.draw!.order
        #expect(order.count == 3)
        let now = t("2022-11-19 11:11")
        expectRefusal(&s, .failedPrecondition,
                      "cannot start the formal interview of \(order[0]) in room R01: the candidate has not been screened (R13)") {
            try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: order[0], proctor: "P01", now: now)
        }
        expectRefusal(&s, .failedPrecondition,
                      "cannot start the formal interview of 2022110004 in room R01: the candidate has no main-room entry (absent, R12)") {
            try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: "2022110004", proctor: "P01", now: now)
        }
        expectRefusal(&s, .invalidArgument,
                      "cannot start the formal interview of 2022110005 in room R01: the candidate belongs to room R02") {
            try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: "2022110005", proctor: "P01", now: now)
        }
        expectRefusal(&s, .permissionDenied) {
            try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: order[0], proctor: "E11", now: now)
        }
        for n in order {
            _ = try s.recordScreening(examNumber: n, sitting: .formal, identityConfirmed: true,
                                      checks: ScreeningCheck.allPassed, proctor: "P01", now: now)
        }
        expectRefusal(&s, .failedPrecondition,
                      "cannot start the formal interview of \(order[1]) in room R01: the drawn order puts \(order[0]) before \(order[1]), and \(order[0]) is waiting and ready (R20)") {
            try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: order[1], proctor: "P01", now: now)
        }
        _ = try s.startInterview(roomID: "R01", sitting: .formal, examNumber: order[0], proctor: "P01", now: now)
        expectRefusal(&s, .alreadyExists,
                      "cannot start the formal interview of \(order[0]) in room R01: the interview was started at 2022-11-19 11:11:00 and is running since 2022-11-19 11:11:00; each candidate is interviewed once") {
            try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: order[0], proctor: "P01", now: now.plus(5))
        }
        expectRefusal(&s, .failedPrecondition,
                      "cannot start the formal interview of \(order[1]) in room R01: the room is interviewing \(order[0]) until 2022-11-19 11:21:00; one interview at a time (R11)") {
            try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: order[1], proctor: "P01", now: now.plus(5))
        }
        // Room R02 is independent: its own interviews may run at the same time.
        // After the end, the next one may start; the first cannot start again.
        _ = s.tick(now: now.plus(600), seed: 0)
        expectRefusal(&s, .alreadyExists) {
            try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: order[0], proctor: "P01", now: now.plus(600))
        }
        // A waiting candidate whose phone dropped may be passed over and called later.
        _ = try s.leave(examNumber: order[1], sitting: .formal, channel: .main, now: now.plus(600))
        expectRefusal(&s, .failedPrecondition) {
            try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: order[1], proctor: "P01", now: now.plus(610))
        }
        let third = try s.startInterview(roomID: "R01", sitting: .formal, examNumber: order[2], proctor: "P01", now: now.plus(610))
        #expect(third.map(\.topic) == ["timing.interview.started"])
    }

    @Test("a disqualified candidate is not called; the countdown of a running interview does not stop")
    func disqualification() throws {
        var (s, order) = try running()
        _ = try s.applyDisqualification(examNumber: order[1], incidentID: "I-3", ground: 1, now: start.plus(10))
        _ = try s.applyDisqualification(examNumber: order[0], incidentID: "I-4", ground: 8, now: start.plus(20))
        #expect(s.nextDeadline() == start.plus(300))
        _ = s.tick(now: start.plus(600), seed: 0)
        expectRefusal(&s, .failedPrecondition,
                      "cannot start the formal interview of \(order[1]) in room R01: the candidate is disqualified (incident I-3, ground 1, R42)") {
            try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: order[1], proctor: "P01", now: start.plus(601))
        }
        #expect(try s.startInterview(roomID: "R01", sitting: .formal, examNumber: order[2], proctor: "P01", now: start.plus(601)).count == 1)
    }

    @Test("ending a room: refused while an interview runs; records who was not interviewed and why")
    func endRoom() throws {
        var (s, order) = try running()
        expectRefusal(&s, .failedPrecondition,
                      "room R01 (formal interview) is interviewing \(order[0]) until 2022-11-19 11:22:00; the countdown cannot be cut short (R15)") {
            try $0.endRoom(roomID: "R01", sitting: .formal, proctor: "P01", now: start.plus(60))
        }
        let end = start.plus(600)
        _ = s.tick(now: end, seed: 0)
        _ = try s.applyDisqualification(examNumber: order[1], incidentID: "I-5", now: end)
        _ = try s.leave(examNumber: order[2], sitting: .formal, channel: .main, now: end)
        let ev = try s.endRoom(roomID: "R01", sitting: .formal, proctor: "E01", now: end.plus(30))
        #expect(ev.last == .roomEnded(sitting: .formal, roomID: "R01", proctor: "E01", interviewed: [order[0]],
                                      notInterviewed: [NotInterviewed(examNumber: order[1], reason: .disqualified),
                                                       NotInterviewed(examNumber: order[2], reason: .notPresent),
                                                       NotInterviewed(examNumber: order[3], reason: .notReached)],
                                      at: end.plus(30)))
        // Those still in the room (main or secondary) leave with it.
        #expect(ev.dropLast().allSatisfy { if case .candidateLeft(_, _, _, _, _, .roomEnded, _, _) = $0 { true } else { false } })
        #expect(ev.count == 1 + 2 + 1 + 2) // order[1] both phones, order[2] secondary, order[3] both
        expectRefusal(&s, .failedPrecondition) {
            try $0.endRoom(roomID: "R01", sitting: .formal, proctor: "P01", now: end.plus(40))
        }
        expectRefusal(&s, .failedPrecondition) {
            try $0.enter(examNumber: order[3], sitting: .formal, channel: .main, deviceID: mainDevice(order[3]), now: end.plus(40))
        }
    }

    @Test("the mock test runs the same machinery, recorded apart (R19)")
    func mock() throws {
        var s = try confirmedState()
        for n in R01 { try enterBoth(&s, n, .mock, at: t("2022-11-18 08:52")) }
        _ = s.tick(now: t("2022-11-18 09:00"), seed: 4)
        let order = s.rooms["mock/R01"]!.draw!.order
        #expect(order == InterviewDraw.order(of: R01, seed: SplitMix64(seed: 4).nextCopy()))
        let at = t("2022-11-18 09:05")
        _ = try s.recordScreening(examNumber: order[0], sitting: .mock, identityConfirmed: true,
                                  checks: ScreeningCheck.allPassed, proctor: "P01", now: at)
        let ev = try s.startInterview(roomID: "R01", sitting: .mock, examNumber: order[0], proctor: "P01", now: at)
        #expect(ev.first?.sitting == .mock)
        _ = s.tick(now: at.plus(600), seed: 0)
        #expect(s.candidateSittings["mock/\(order[0])"]?.interview?.endReason == .timeUp)
        #expect(s.candidateSittings["formal/\(order[0])"]?.interview == nil)
        // The formal sitting is untouched: the same candidate enters and is interviewed again.
        try enterBoth(&s, order[0], .formal, at: t("2022-11-19 11:01"))
        #expect(s.candidateSittings["formal/\(order[0])"]?.main?.present == true)
    }
}

extension SplitMix64 {
    func nextCopy() -> UInt64 { var c = self; return c.next() }
}
