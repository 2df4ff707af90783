import ExamPlan
import Foundation
import Testing
@testable import TimingCore

@Suite("Entry (R11, R12, R18, R19, R32)")
struct EntryTests {
    let n = "2022110001"

    @Test("entry at 11:09:59.999 is accepted, at 11:10:00 refused")
    func windowEdges() throws {
        var s = try confirmedState()
        let late = t("2022-11-19 11:09:59").plus(0.999)
        _ = s.tick(now: late, seed: 1)
        let ev = try s.enter(examNumber: n, sitting: .formal, channel: .main, deviceID: "m1", now: late)
        #expect(ev == [.candidateEntered(sitting: .formal, examNumber: n, roomID: "R01", channel: .main, deviceID: "m1",
                                         reentry: false, replacedDeviceID: nil, remaining: nil, at: late)])
        let close = t("2022-11-19 11:10")
        _ = s.tick(now: close, seed: 1)
        expectRefusal(&s, .outOfRange,
                      "candidate 2022110002 cannot enter the formal interview main room (主房间): entry closed at 2022-11-19 11:10:00 and the candidate had no main-room entry; is absent and forfeits the interview (R12)") {
            try $0.enter(examNumber: "2022110002", sitting: .formal, channel: .main, deviceID: "m2", now: close)
        }
    }

    @Test("before the window opens, entry is refused")
    func tooEarly() throws {
        var s = try confirmedState()
        let early = t("2022-11-19 10:59:59")
        _ = s.tick(now: early, seed: 1)
        expectRefusal(&s, .outOfRange,
                      "candidate 2022110001 cannot enter the formal interview main room (主房间): the entry window 2022-11-19 11:00:00 - 11:10:00 has not opened yet") {
            try $0.enter(examNumber: n, sitting: .formal, channel: .main, deviceID: "m1", now: early)
        }
    }

    @Test("unknown, forfeited, declined, unconfirmed and disqualified candidates cannot enter")
    func whoMayEnter() throws {
        var s = try confirmedState()
        let now = t("2022-11-19 11:01")
        _ = s.tick(now: now, seed: 1)
        expectRefusal(&s, .notFound, "candidate 2022119999 is not in the exam plan") {
            try $0.enter(examNumber: "2022119999", sitting: .formal, channel: .main, deviceID: "m9", now: now)
        }
        _ = try s.applyRoster(examNumber: "2022110002", status: .forfeited, now: now)
        expectRefusal(&s, .failedPrecondition,
                      "candidate 2022110002 cannot enter the formal interview main room (主房间): forfeited the interview (roster: forfeited); forfeited candidates cannot enter rooms (R5, R6)") {
            try $0.enter(examNumber: "2022110002", sitting: .formal, channel: .main, deviceID: "m2", now: now)
        }
        _ = try s.applyRoster(examNumber: "2022110003", status: .declined, now: now)
        expectRefusal(&s, .failedPrecondition,
                      "candidate 2022110003 cannot enter the formal interview secondary room (副房间): declined the interview (roster: declined); declined candidates cannot enter rooms (R6)") {
            try $0.enter(examNumber: "2022110003", sitting: .formal, channel: .secondary, deviceID: "s3", now: now)
        }
        _ = try s.applyRoster(examNumber: "2022110004", status: .pending, now: now)
        expectRefusal(&s, .failedPrecondition,
                      "candidate 2022110004 cannot enter the formal interview main room (主房间): has not confirmed attendance (roster: pending)") {
            try $0.enter(examNumber: "2022110004", sitting: .formal, channel: .main, deviceID: "m4", now: now)
        }
        _ = try s.applyDisqualification(examNumber: "2022110005", incidentID: "I-9", ground: 6, now: now)
        expectRefusal(&s, .failedPrecondition,
                      "candidate 2022110005 cannot enter the formal interview main room (主房间): is disqualified (incident I-9, ground 6, R42)") {
            try $0.enter(examNumber: "2022110005", sitting: .formal, channel: .main, deviceID: "m5", now: now)
        }
        _ = try s.applyReinstatement(examNumber: "2022110005", incidentID: "I-9", now: now)
        #expect(try s.enter(examNumber: "2022110005", sitting: .formal, channel: .main, deviceID: "m5", now: now).count == 1)
        expectRefusal(&s, .invalidArgument, "deviceID: empty") {
            try $0.enter(examNumber: n, sitting: .formal, channel: .main, deviceID: " ", now: now)
        }
    }

    @Test("a second main-room entry from another device is refused; the same device re-enters")
    func oneDevicePerRoom() throws {
        var s = try confirmedState()
        _ = s.tick(now: t("2022-11-19 11:01"), seed: 1)
        _ = try s.enter(examNumber: n, sitting: .formal, channel: .main, deviceID: "m1", now: t("2022-11-19 11:01"))
        expectRefusal(&s, .alreadyExists,
                      "candidate 2022110001 cannot enter the formal interview main room (主房间) from device m1b: device m1 is in it since 2022-11-19 11:01:00; one device per room") {
            try $0.enter(examNumber: n, sitting: .formal, channel: .main, deviceID: "m1b", now: t("2022-11-19 11:02"))
        }
        expectRefusal(&s, .invalidArgument,
                      "candidate 2022110001 cannot enter the formal interview secondary room (副房间): device m1 is the main phone; the main and secondary phones must be two devices (R11, R30)") {
            try $0.enter(examNumber: n, sitting: .formal, channel: .secondary, deviceID: "m1", now: t("2022-11-19 11:02"))
        }
        let again = try s.enter(examNumber: n, sitting: .formal, channel: .main, deviceID: "m1", now: t("2022-11-19 11:03"))
        #expect(again.map(\.topic) == ["timing.candidate.reentered"])
        // After the phone left, another device may take the channel over.
        let left = try s.leave(examNumber: n, sitting: .formal, channel: .main, now: t("2022-11-19 11:04"))
        #expect(left == [.candidateLeft(sitting: .formal, examNumber: n, roomID: "R01", channel: .main, deviceID: "m1",
                                        reason: .left, duringInterview: false, at: t("2022-11-19 11:04"))])
        #expect(try s.leave(examNumber: n, sitting: .formal, channel: .main, now: t("2022-11-19 11:04")).isEmpty)
        let swap = try s.enter(examNumber: n, sitting: .formal, channel: .main, deviceID: "m1b", now: t("2022-11-19 11:05"))
        #expect(swap == [.candidateEntered(sitting: .formal, examNumber: n, roomID: "R01", channel: .main, deviceID: "m1b",
                                           reentry: true, replacedDeviceID: "m1", remaining: nil, at: t("2022-11-19 11:05"))])
        #expect(s.candidateSittings["formal/\(n)"]?.main?.previousDevices == ["m1"])
    }

    @Test("a phone known unfit is refused with the reasons; fit again, it enters (R32)")
    func unfitDevice() throws {
        var s = try confirmedState()
        let now = t("2022-11-19 11:02")
        _ = s.tick(now: now, seed: 1)
        let ev = try s.applyDeviceFitness(examNumber: n, channel: .main, fit: false,
                                          reasons: ["iOS with WeChat 8.0.20 is refused (notice 5(2)2)"], now: now)
        #expect(ev.isEmpty) // device fitness is per channel, not a candidate blocker
        expectRefusal(&s, .failedPrecondition,
                      "candidate 2022110001 cannot enter the formal interview main room (主房间): the main phone fails device rules (R32): iOS with WeChat 8.0.20 is refused (notice 5(2)2)") {
            try $0.enter(examNumber: n, sitting: .formal, channel: .main, deviceID: "m1", now: now)
        }
        #expect(try s.enter(examNumber: n, sitting: .formal, channel: .secondary, deviceID: "s1", now: now).count == 1)
        _ = try s.applyDeviceFitness(examNumber: n, channel: .main, fit: true, reasons: [], now: now)
        #expect(try s.enter(examNumber: n, sitting: .formal, channel: .main, deviceID: "m1", now: now).count == 1)
    }

    @Test("at the formal close a candidate with no main-room entry is absent and forfeits")
    func formalAbsence() throws {
        var s = try confirmedState()
        _ = try s.applyRoster(examNumber: "2022110006", status: .declined, now: t("2022-11-17 12:00"))
        for x in ["2022110001", "2022110002", "2022110005"] { try enterBoth(&s, x, at: t("2022-11-19 11:05")) }
        // 2022110003 entered only the secondary room: absent all the same (R12 counts the main room).
        _ = try s.enter(examNumber: "2022110003", sitting: .formal, channel: .secondary, deviceID: "s3", now: t("2022-11-19 11:06"))
        // 2022110002 entered and dropped: not absent.
        _ = try s.leave(examNumber: "2022110002", sitting: .formal, channel: .main, now: t("2022-11-19 11:07"))
        let close = t("2022-11-19 11:10")
        let ev = s.tick(now: close, seed: 11)
        #expect(ev.map(\.topic) == ["timing.entry.closed", "timing.candidate.absent", "timing.candidate.absent",
                                    "timing.room.drawn", "timing.room.drawn"])
        #expect(ev[0] == .entryClosed(sitting: .formal, entered: ["2022110001", "2022110002", "2022110005"],
                                      absent: ["2022110003", "2022110004"], notEligible: ["2022110006"], due: close, at: close))
        #expect(ev[1] == .candidateAbsent(sitting: .formal, examNumber: "2022110003", roomID: "R01", forfeitsInterview: true,
                                          due: close, at: close))
        #expect(s.candidateSittings["formal/2022110004"]?.forfeitedByAbsence == true)
        guard case .orderDrawn(_, "R01", _, let order, _, _, _, _) = ev[3] else { Issue.record("no draw"); return }
        #expect(Set(order) == ["2022110001", "2022110002"])
        // Mock is untouched by the formal absence, and vice versa.
        #expect(s.candidateSittings["mock/2022110004"]?.forfeitedByAbsence == false)
    }

    @Test("at the mock close absence is only recorded; the formal entry stays open to them (R19)")
    func mockAbsence() throws {
        var s = try confirmedState()
        try enterBoth(&s, "2022110001", .mock, at: t("2022-11-18 08:55"))
        let close = t("2022-11-18 09:00")
        let ev = s.tick(now: close, seed: 2)
        #expect(ev.contains(.candidateAbsent(sitting: .mock, examNumber: "2022110002", roomID: "R01",
                                             forfeitsInterview: false, due: close, at: close)))
        #expect(s.candidateSittings["mock/2022110002"]?.absentAt == close)
        #expect(s.candidateSittings["mock/2022110002"]?.forfeitedByAbsence == false)
        #expect(s.candidates["2022110002"]?.roster == .confirmed)
        expectRefusal(&s, .outOfRange) {
            try $0.enter(examNumber: "2022110002", sitting: .mock, channel: .main, deviceID: "m2", now: t("2022-11-18 09:01"))
        }
        let ev2 = try enterBoth(&s, "2022110002", .formal, at: t("2022-11-19 11:00"))
        #expect(ev2.map(\.topic) == ["timing.entry.opened", "timing.candidate.entered", "timing.candidate.entered"])
    }

    @Test("operations on a state with overdue transitions ask for a tick first")
    func tickFirst() throws {
        var s = try confirmedState()
        expectRefusal(&s, .failedPrecondition,
                      "timing has a transition due at 2022-11-18T08:50:00.000+08:00 that has not fired: call tick(now:seed:) first") {
            try $0.enter(examNumber: n, sitting: .formal, channel: .main, deviceID: "m1", now: t("2022-11-19 11:01"))
        }
    }

    @Test("entry opened and closed are events with due and fired times")
    func windowEvents() throws {
        var s = try confirmedState()
        let ev = s.tick(now: t("2022-11-18 08:50"), seed: 0)
        #expect(ev == [.entryOpened(sitting: .mock, opens: t("2022-11-18 08:50"), closes: t("2022-11-18 09:00"),
                                    due: t("2022-11-18 08:50"), at: t("2022-11-18 08:50"))])
        #expect(s.tick(now: t("2022-11-18 08:55"), seed: 0).isEmpty)
        #expect(s.nextDeadline() == t("2022-11-18 09:00"))
    }
}
