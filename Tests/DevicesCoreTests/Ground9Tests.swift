import DevicesCore
import ExamPlan
import Foundation
import Testing

@Suite("ground 9 (R34)")
struct Ground9Tests {
    // The formal interview starts at 100 in every test.

    @Test func bothLostWhenTheOutagesOverlap() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 99)
        #expect(try s.startFormal(100).isEmpty)
        // main silent after 120 until 141; secondary silent after 140: both out during [140, 141).
        let e = try s.drive(from: 100, to: 170, mainOff: [121...140], secondaryOff: [141...160])
        let i = incidents(e)
        #expect(i.map(\.kind) == [.bothLost])
        let inc = try #require(i.first)
        #expect(inc.bothLostFrom == at(140) && inc.bothLostUntil == at(141))
        #expect(inc.detectedAt == at(150.5) && inc.interviewStarted == at(100) && inc.threshold == 0)
        #expect(inc.outages.map(\.deviceID) == ["m1", "s1"])
        #expect(inc.outages[0].restoredAt == at(141) && inc.outages[1].restoredAt == nil)
        #expect(inc.summary == "ground 9: both phones' signal lost at the same time, from 11:02:20 to 11:02:21 (1.000 s); main m1 lost 11:02:00-11:02:21 (21.000 s); secondary s1 lost 11:02:20-still lost")
        #expect(s.interview(exam1, .formal)?.reported == [.bothLost: at(150.5)])
    }

    @Test func outagesThatOnlyTouchAreNotBothLost() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 99)
        _ = try s.startFormal(100)
        // main restored by its beat at 141; secondary's last beat is at 141.
        let e = try s.drive(from: 100, to: 170, mainOff: [121...140], secondaryOff: [142...160])
        #expect(topics(e).filter { $0 == "devices.signal.lost" }.count == 2)
        #expect(incidents(e).isEmpty)
    }

    @Test func bothLostAtOnceIsReportedAtDetectionAndOnlyOnce() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 99)
        _ = try s.startFormal(100)
        let e = try s.drive(from: 100, to: 200, mainOff: [121...135, 161...170], secondaryOff: [121...135, 161...170])
        let i = incidents(e)
        #expect(i.map(\.kind) == [.bothLost, .tooManyInterruptions])
        #expect(i[0].detectedAt == at(130.5) && i[0].bothLostFrom == at(120) && i[0].bothLostUntil == nil)
        #expect(i[1].interruptions == 4 && i[1].detectedAt == at(170.5))
    }

    @Test func bothAlreadyLostWhenTheInterviewStarts() throws {
        var s = try fixture()
        _ = s.tick(now: at(10.5))
        let e = try s.startFormal(100)
        #expect(incidents(e).map(\.kind) == [.bothLost])
        #expect(incidents(e).first?.bothLostFrom == at(100))
    }

    @Test func anOutageOfExactlyTheThresholdIsNotLong() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 99)
        _ = try s.startFormal(100)
        // main last seen 110, restored at 140: 30 s exactly.
        let e = try s.drive(from: 100, to: 160, mainOff: [111...139])
        #expect(outagesRestored(e).map(\.seconds) == [30])
        #expect(incidents(e).isEmpty)
    }

    @Test func anOutageJustOverTheThresholdIsLongOnRestore() throws {
        var s = try fixture()
        _ = try s.startFormal(100)
        try s.beatBoth(from: 100, to: 110)
        try s.beat("s1", .secondary, 115)
        _ = s.tick(now: at(120.5))  // m1 lost, last seen 110
        try s.beat("s1", .secondary, 125)
        try s.beat("s1", .secondary, 135)
        // No tick since: the restoring heartbeat judges it.
        let e = try s.beat("m1", .main, 140.001)
        let i = try #require(incidents(e).first)
        #expect(i.kind == .longOutage && i.outages.first?.restoredAt == at(140.001))
        #expect(abs(i.lostSeconds! - 30.001) < 1e-6 && i.threshold == 30)
    }

    @Test func aLongOutageIsReportedByTheTickAfterTheThresholdAndOnce() throws {
        var s = try fixture()
        _ = try s.startFormal(100)
        try s.beatBoth(from: 100, to: 110)
        for n in [115.0, 125, 135] { try s.beat("s1", .secondary, n) }
        _ = s.tick(now: at(120.5))
        // The next deadline is the long one: 110 + 30, just after.
        #expect(s.nextDeadline() == Date(timeIntervalSinceReferenceDate: (at(110).timeIntervalSinceReferenceDate + 30).nextUp))
        #expect(s.tick(now: at(140)).isEmpty)
        let e = s.tick(now: at(140.25))
        let i = try #require(incidents(e).first)
        #expect(e.count == 1 && i.kind == .longOutage && i.lostSeconds == 30.25 && i.outages[0].restoredAt == nil)
        #expect(i.summary.hasPrefix("ground 9: main phone m1 lost for 30.250 s in the interview and counting, more than 30.000 s"))
        #expect(s.tick(now: at(141)).isEmpty)
        // A second long outage in the same interview is not reported again.
        try s.beat("m1", .main, 142)
        let again = try s.drive(from: 143, to: 200, mainOff: [143...190])
        #expect(incidents(again).isEmpty)
    }

    @Test func onlyTheOutagesTimeInsideTheInterviewCounts() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 79)
        _ = try s.startFormal(100)
        // Lost from 90 to 115: 25 s, but 15 inside the interview.
        let e1 = try s.drive(from: 80, to: 130, mainOff: [91...114])
        #expect(outagesRestored(e1).map(\.seconds) == [25])
        #expect(incidents(e1).isEmpty)
        // Lost from 140 (inside) for 32 s: long at 170.5, counted from the start of the outage.
        let e2 = try s.drive(from: 131, to: 180, mainOff: [141...171])
        #expect(incidents(e2).map(\.kind) == [.longOutage])
        #expect(incidents(e2).first?.detectedAt == at(170.5))
    }

    @Test func anOutageOpenAtTheStartCountsFromTheStart() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 79, mainOff: [])
        let e0 = try s.drive(from: 80, to: 99, mainOff: [81...200])
        #expect(topics(e0).contains("devices.signal.lost"))
        _ = try s.startFormal(100)
        let e = try s.drive(from: 100, to: 131, mainOff: [81...200])
        let i = try #require(incidents(e).first)
        #expect(i.kind == .longOutage && i.detectedAt == at(130.5) && i.lostSeconds == 30.5)
    }

    @Test func moreInterruptionsThanTheThresholdEdge() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 99)
        _ = try s.startFormal(100)
        // Three outages of 12 s: fine.
        let e1 = try s.drive(from: 100, to: 165, mainOff: [111...122, 131...142, 151...162])
        #expect(outagesRestored(e1).count == 3)
        #expect(incidents(e1).isEmpty)
        // The fourth, on the other phone: reported at its detection.
        let e2 = try s.drive(from: 166, to: 200, secondaryOff: [171...182])
        let i = try #require(incidents(e2).first)
        #expect(incidents(e2).count == 1)
        #expect(i.kind == .tooManyInterruptions && i.interruptions == 4 && i.threshold == 3 && i.detectedAt == at(180.5))
        #expect(i.outages.map(\.lastSeen) == [at(110), at(130), at(150), at(170)])
        #expect(i.outages.map(\.deviceID) == ["m1", "m1", "m1", "s1"])
        // The fifth: nothing more.
        #expect(incidents(try s.drive(from: 201, to: 230, mainOff: [205...220])).isEmpty)
    }

    @Test func thresholdsComeFromConfiguration() throws {
        var s = try fixture(DevicesConfig(lossTimeoutSeconds: 5, longOutageSeconds: 60, maxInterruptions: 1))
        _ = try s.startFormal(100)
        let e = try s.drive(from: 100, to: 200, mainOff: [111...150, 161...170])
        // 40 s is not long under 60; the second outage is more than 1.
        #expect(incidents(e).map(\.kind) == [.tooManyInterruptions])
        #expect(incidents(e).first?.detectedAt == at(165.5))
    }

    @Test func onlyDuringTheFormalInterview() throws {
        var s = try fixture()
        // Mock interview: outages galore, nothing reported.
        _ = try s.applyInterview(examNumber: exam1, sitting: .mock, started: at(10))
        let mock = try s.drive(from: 10, to: 200, mainOff: [20...60, 80...90, 100...110, 120...130], secondaryOff: [40...70])
        #expect(!topics(mock).isEmpty && incidents(mock).isEmpty)
        _ = try s.applyInterview(examNumber: exam1, sitting: .mock, ended: at(200))
        // Before the formal one: nothing.
        let before = try s.drive(from: 201, to: 400, mainOff: [220...260, 280...290, 300...310], secondaryOff: [240...270])
        #expect(incidents(before).isEmpty)
        // The formal interview 401-500 is clean; the phones drop at its end.
        #expect(try s.startFormal(401).isEmpty)
        #expect(incidents(try s.drive(from: 401, to: 499)).isEmpty)
        #expect(try s.applyInterview(examNumber: exam1, sitting: .formal, ended: at(500)).isEmpty)
        let after = try s.drive(from: 500, to: 600, mainOff: [500...600], secondaryOff: [500...600])
        #expect(topics(after).filter { $0 == "devices.signal.lost" }.count == 2)
        #expect(incidents(after).isEmpty)
        #expect(s.nextDeadline() == nil)
    }

    @Test func aLongOutageRunningAtTheEndIsJudgedAtTheEnd() throws {
        var s = try fixture()
        _ = try s.startFormal(100)
        try s.beat("s1", .secondary, 110)
        try s.beat("m1", .main, 110)
        try s.beat("s1", .secondary, 119)
        _ = s.tick(now: at(120.5))  // m1 lost; the shell does not tick again in time
        try s.beat("s1", .secondary, 129)
        try s.beat("s1", .secondary, 138)
        let e = try s.applyInterview(examNumber: exam1, sitting: .formal, ended: at(145))
        let i = try #require(incidents(e).first)
        #expect(i.kind == .longOutage && i.lostSeconds == 35)
        #expect(s.interview(exam1, .formal)?.ended == at(145))
    }

    @Test func interviewEventsValidateAndReplayIdempotently() throws {
        var s = try fixture()
        _ = try s.startFormal(100)
        #expect(try s.startFormal(100).isEmpty)
        try expectRefused(&s, .failedPrecondition,
                          "interview of 2022110001 (formal): already started at 2022-11-19T11:01:40.000+08:00, not again at 2022-11-19T11:01:50.000+08:00") {
            try $0.startFormal(110)
        }
        try expectRefused(&s, .invalidArgument,
                          "ended: 2022-11-19T11:01:30.000+08:00 is before the interview of 2022110001 started at 2022-11-19T11:01:40.000+08:00") {
            try $0.applyInterview(examNumber: exam1, sitting: .formal, ended: at(90))
        }
        try expectRefused(&s, .failedPrecondition, "interview of 2022110002 (formal): cannot end, it has not started") {
            try $0.applyInterview(examNumber: exam2, sitting: .formal, ended: at(90))
        }
        _ = try s.applyInterview(examNumber: exam1, sitting: .formal, ended: at(700))
        #expect(try s.applyInterview(examNumber: exam1, sitting: .formal, ended: at(700)).isEmpty)
        try expectRefused(&s, .failedPrecondition, "interview of 2022110001 (formal): already ended at 2022-11-19T11:11:40.000+08:00") {
            try $0.applyInterview(examNumber: exam1, sitting: .formal, ended: at(701))
        }
        try expectRefused(&s, .invalidArgument, "exam_number: 'a b' is not an exam number (ASCII letters, digits, '-' or '_', at most 32)") {
            try $0.applyInterview(examNumber: "a b", sitting: .formal, started: at(1))
        }
    }

    @Test func aReplacedPhonesOutageCountsInFullForItsPosition() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 99)
        _ = try s.startFormal(100)
        _ = try s.drive(from: 100, to: 124, mainOff: [111...124])  // m1 lost at 120.5, last seen 110
        #expect(topics(try s.reg(exam1, .main, "m2", account: "wx-m1", now: at(125))) == ["devices.device.replaced"])
        let e = try s.drive(from: 125, to: 145, mainOff: [125...141], main: "m2")
        let i = try #require(incidents(e).first)
        #expect(i.kind == .longOutage && i.detectedAt == at(140.5) && i.outages[0].deviceID == "m1")
        let o = try #require(outagesRestored(e).first)
        #expect(o.deviceID == "m1" && o.restoredBy == "m2" && o.lastSeen == at(110) && o.restoredAt == at(142))
        #expect(try s.outages(of: exam1).count == 1)
    }
}
