import Foundation
import Testing
import ExamPlan
@testable import DisciplineCore

@Suite("Incidents (R41)")
struct IncidentTests {
    // MARK: From staff

    @Test(arguments: Ground.allCases)
    func staffReportOnEveryGround(_ ground: Ground) throws {
        var s = try seeded()
        let r = try s.report(staffReport(ground: ground.rawValue, at: bj("2022-11-19 11:13:12")), by: proctor, now: duringInterview)
        #expect(!r.duplicate)
        #expect(r.decision == nil)
        let i = r.incident
        #expect(i.id == "INC-000001" && i.seq == 1)
        #expect(i.ground == ground && i.source == .staff && i.sitting == .formal)
        #expect(i.examNumber == "2022110001")
        #expect(i.reporter == proctor)
        #expect(i.evidence == Evidence(text: "a second person walks behind the candidate", references: ["secondary@00:03:12"]))
        #expect(i.occurredAt == bj("2022-11-19 11:13:12") && i.reportedAt == duringInterview)
        #expect(r.events == [.incidentReported(incident: i)])
        #expect(r.events.map(\.topic) == ["discipline.incident.reported"])
        #expect(s.incidents[i.id] == i)
        #expect(try s.incidentRecord(i.id).status == .open)
    }

    @Test func examinerAndChiefMayReportAndTimeDefaultsToNow() throws {
        var s = try seeded()
        let a = try s.report(staffReport(ground: 4, evidence: "says 我是青岛大学毕业的"), by: examinerE02, now: duringInterview)
        let b = try s.report(staffReport(ground: 8, evidence: "answers a phone call"), by: chiefR01, now: duringInterview)
        #expect(a.incident.occurredAt == duringInterview)
        #expect(a.incident.reporter.role == .examiner && b.incident.reporter.role == .chiefExaminer)
        #expect(b.incident.id == "INC-000002")
    }

    @Test(arguments: [Role.candidate, .service, .ops])
    func nonStaffMayNotReportAsStaff(_ role: Role) throws {
        let s = try seeded()
        expectRefused(s, DisciplineError(.permissionDenied, "reporter X1 has role \(role.rawValue): only staff (proctor, examiner, chief examiner) report incidents; services use their own reports")) {
            try $0.report(staffReport(), by: Principal(id: "X1", role: role), now: duringInterview)
        }
    }

    @Test func badStaffReportsAreRefusedPrecisely() throws {
        let s = try seeded()
        expectRefused(s, DisciplineError(.invalidArgument, "ground: 11 is not a ground of section 7 of the notice (1-10)")) {
            try $0.report(staffReport(ground: 11), by: proctor, now: duringInterview)
        }
        expectRefused(s, DisciplineError(.invalidArgument, "ground: 0 is not a ground of section 7 of the notice (1-10)")) {
            try $0.report(staffReport(ground: 0), by: proctor, now: duringInterview)
        }
        expectRefused(s, DisciplineError(.notFound, "candidate 2022119999 is not on the roster")) {
            try $0.report(staffReport("2022119999"), by: proctor, now: duringInterview)
        }
        expectRefused(s, DisciplineError(.invalidArgument, "evidence: is empty")) {
            try $0.report(staffReport(evidence: "  \n "), by: proctor, now: duringInterview)
        }
        expectRefused(s, DisciplineError(.invalidArgument, "exam_number: '2022 0001' is not an exam number (1-32 letters, digits, '-' or '_')")) {
            try $0.report(staffReport("2022 0001"), by: proctor, now: duringInterview)
        }
        expectRefused(s, DisciplineError(.invalidArgument, "occurred_at: 2022-11-19 11:30:00 is later than now (2022-11-19 11:20:00, Beijing time)")) {
            try $0.report(staffReport(at: bj("2022-11-19 11:30:00")), by: proctor, now: duringInterview)
        }
        var r = staffReport()
        r.references = ["main@00:01:00", ""]
        expectRefused(s, DisciplineError(.invalidArgument, "references[1]: is empty")) {
            try $0.report(r, by: proctor, now: duringInterview)
        }
        expectRefused(s, DisciplineError(.invalidArgument, "reporter.id: '' is not an id (1-64 characters, no spaces)")) {
            try $0.report(staffReport(), by: Principal(id: "", role: .proctor), now: duringInterview)
        }
    }

    // MARK: From devices: ground 9

    @Test func signalLossFromDevices() throws {
        var s = try seeded()
        let r = try s.report(signalReport(), now: duringInterview)
        let i = r.incident
        #expect(i.ground == .signalLoss && i.source == .signalLoss && i.sitting == .formal)
        #expect(i.reporter == Principal(id: "devices", role: .service))
        #expect(i.dedupKey == "devices#41")
        #expect(i.occurredAt == bj("2022-11-19 11:18:30"))
        #expect(i.evidence.signalLoss == SignalLossEvidence(pattern: .bothAtOnce, positions: [.main, .secondary],
                                                             lostAt: bj("2022-11-19 11:18:30"), durationSeconds: 45))
        #expect(i.evidence.text == "Ground 9: both positions (main and secondary) lost signal at once at 2022-11-19 11:18:30 for 45 s (Beijing time)")
        #expect(r.decision == nil, "autoDecideGround9 is off by default")
        #expect(try s.incidentRecord(i.id).status == .open)
    }

    @Test func signalLossPatterns() throws {
        var s = try seeded()
        let long = try s.report(SignalLossReport(examNumber: "2022110002", sourceKey: "devices#50", pattern: .oneLong,
                                                 positions: [.secondary], lostAt: bj("2022-11-19 11:15:00"), durationSeconds: 130,
                                                 note: "threshold 60 s"), now: duringInterview)
        #expect(long.incident.evidence.text == "Ground 9: the secondary position lost signal at 2022-11-19 11:15:00 for 130 s (Beijing time); threshold 60 s")
        let many = try s.report(SignalLossReport(examNumber: "2022110002", sourceKey: "devices#51", pattern: .repeated,
                                                 positions: [.main], lostAt: bj("2022-11-19 11:12:00"), durationSeconds: 22.5,
                                                 interruptions: 4), now: duringInterview)
        #expect(many.incident.evidence.text == "Ground 9: 4 signal interruptions (main) from 2022-11-19 11:12:00, 22.5 s in all (Beijing time)")
        #expect(many.incident.evidence.signalLoss?.interruptions == 4)
    }

    @Test func badSignalLossReportsAreRefused() throws {
        let s = try seeded()
        var r = signalReport()
        r.positions = [.main]
        expectRefused(s, DisciplineError(.invalidArgument, "positions: both_at_once needs main and secondary, not main")) {
            try $0.report(r, now: duringInterview)
        }
        r = signalReport(); r.pattern = .oneLong; r.positions = [.main]; r.durationSeconds = nil
        expectRefused(s, DisciplineError(.invalidArgument, "duration_seconds: one_long needs how long the signal was lost")) {
            try $0.report(r, now: duringInterview)
        }
        r = signalReport(); r.pattern = .repeated; r.interruptions = 1
        expectRefused(s, DisciplineError(.invalidArgument, "interruptions: repeated needs the number of interruptions (at least 2)")) {
            try $0.report(r, now: duringInterview)
        }
        r = signalReport(); r.sourceKey = ""
        expectRefused(s, DisciplineError(.invalidArgument, "source_key: '' is not an id (1-200 characters, no spaces)")) {
            try $0.report(r, now: duringInterview)
        }
        expectRefused(s, DisciplineError(.notFound, "candidate 2022119999 is not on the roster")) {
            try $0.report(signalReport("2022119999"), now: duringInterview)
        }
    }

    // MARK: From timing: failed screening

    @Test func failedScreeningIsGround10ByDefault() throws {
        var s = try seeded()
        let r = try s.report(ScreeningReport(examNumber: "2022110001", sourceKey: "timing#7", sitting: .formal,
                                             failedItems: ["id_card_matches_face", "room_door_closed"], screenedBy: "P01",
                                             screenedAt: bj("2022-11-19 11:04:00")), now: beforeInterview)
        let i = r.incident
        #expect(i.ground == .otherMisconduct && i.source == .screening)
        #expect(i.reporter == Principal(id: "timing", role: .service))
        #expect(i.evidence.screening == ScreeningEvidence(sitting: .formal, failedItems: ["id_card_matches_face", "room_door_closed"], screenedBy: "P01"))
        #expect(i.evidence.text == "Failed identity/room screening at formal entry (notice 4(三)2(1)): id_card_matches_face, room_door_closed; screened by P01")
        #expect(r.decision == nil)
    }

    @Test func screeningMayNameASpecificGroundButNot9() throws {
        var s = try seeded()
        let r = try s.report(ScreeningReport(examNumber: "2022110002", sourceKey: "timing#8", sitting: .formal,
                                             failedItems: ["alone_in_room"], screenedAt: beforeInterview, ground: 1), now: beforeInterview)
        #expect(r.incident.ground == .otherPersonInRoom)
        let base = s
        expectRefused(base, DisciplineError(.invalidArgument, "ground: 9 (signal loss) is reported by devices as a signal-loss report, with its measurements")) {
            try $0.report(ScreeningReport(examNumber: "2022110002", sourceKey: "timing#9", sitting: .formal,
                                          failedItems: ["x"], screenedAt: beforeInterview, ground: 9), now: beforeInterview)
        }
        expectRefused(base, DisciplineError(.invalidArgument, "ground: 12 is not a ground of section 7 of the notice (1-10)")) {
            try $0.report(ScreeningReport(examNumber: "2022110002", sourceKey: "timing#9", sitting: .formal,
                                          failedItems: ["x"], screenedAt: beforeInterview, ground: 12), now: beforeInterview)
        }
        expectRefused(base, DisciplineError(.invalidArgument, "failed_items: a failed screening names at least one failed checklist item")) {
            try $0.report(ScreeningReport(examNumber: "2022110002", sourceKey: "timing#9", sitting: .formal,
                                          failedItems: [], screenedAt: beforeInterview), now: beforeInterview)
        }
    }

    // MARK: From devices: broken device rules

    @Test func brokenDeviceRule() throws {
        var s = try seeded()
        let r = try s.report(DeviceRuleReport(examNumber: "2022110003", sourceKey: "devices#90", position: .secondary,
                                              rule: "secondary_speaker_muted", detail: "speaker volume 60%",
                                              observedAt: bj("2022-11-19 11:02:00"), sitting: .formal), now: beforeInterview)
        let i = r.incident
        #expect(i.ground == .otherMisconduct && i.source == .deviceRule && i.sitting == .formal)
        #expect(i.evidence.deviceRule == DeviceRuleEvidence(position: .secondary, rule: "secondary_speaker_muted", detail: "speaker volume 60%"))
        #expect(i.evidence.text == "Device rule broken on the secondary phone: secondary_speaker_muted (speaker volume 60%)")
        expectRefused(s, DisciplineError(.invalidArgument, "rule: is empty")) {
            try $0.report(DeviceRuleReport(examNumber: "2022110003", sourceKey: "devices#91", position: .main, rule: " ",
                                           detail: "", observedAt: beforeInterview), now: beforeInterview)
        }
    }

    // MARK: Duplicates

    @Test func redeliveredServiceReportIsRecordedOnce() throws {
        var s = try seeded()
        let first = try s.report(signalReport(), now: duringInterview)
        let after = s
        let again = try s.report(signalReport(), now: duringInterview.addingTimeInterval(30))
        #expect(again.duplicate)
        #expect(again.events.isEmpty)
        #expect(again.incident == first.incident)
        #expect(s == after)
        #expect(s.incidents.count == 1)
    }

    @Test func redeliveryDoesNotAutoDecideTwice() throws {
        var s = try seeded(DisciplineConfig(autoDecideGround9: true))
        _ = try s.report(signalReport(), now: duringInterview)
        let after = s
        let again = try s.report(signalReport(), now: duringInterview)
        #expect(again.duplicate && again.decision == nil && again.events.isEmpty)
        #expect(s == after && s.decisions.count == 1)
    }

    @Test func retriedStaffRequestIsRecordedOnce() throws {
        var s = try seeded()
        let first = try s.report(staffReport(requestID: "req-1"), by: proctor, now: duringInterview)
        // The retry comes later; its "now" differs, the content does not.
        let again = try s.report(staffReport(requestID: "req-1"), by: proctor, now: duringInterview.addingTimeInterval(5))
        #expect(again.duplicate && again.incident == first.incident && again.events.isEmpty)
        #expect(s.incidents.count == 1)
        // The same request id from another reporter is another request.
        let other = try s.report(staffReport(requestID: "req-1"), by: Principal(id: "P02", role: .proctor), now: duringInterview)
        #expect(!other.duplicate && other.incident.id == "INC-000002")
        // Without a request id, two reports are two incidents.
        _ = try s.report(staffReport(), by: proctor, now: duringInterview)
        _ = try s.report(staffReport(), by: proctor, now: duringInterview)
        #expect(s.incidents.count == 4)
    }

    @Test func sameKeyWithOtherContentIsAlreadyExists() throws {
        var s = try seeded()
        _ = try s.report(signalReport(), now: duringInterview)
        expectRefused(s, DisciplineError(.alreadyExists, "key devices#41 already recorded incident INC-000001 (2022110001, ground 9) with different content; a new incident needs a new key")) {
            try $0.report(signalReport("2022110002"), now: duringInterview)
        }
        _ = try s.report(staffReport(requestID: "r9"), by: proctor, now: duringInterview)
        expectRefused(s, DisciplineError(.alreadyExists, "key staff:P01#r9 already recorded incident INC-000002 (2022110001, ground 1) with different content; a new incident needs a new key")) {
            try $0.report(staffReport(ground: 6, requestID: "r9"), by: proctor, now: duringInterview)
        }
    }

    // MARK: What other services tell

    @Test func candidatesAndInterviews() throws {
        var s = DisciplineState()
        #expect(try s.applyCandidate(examNumber: "2022110001", name: "张三"))
        #expect(try !s.applyCandidate(examNumber: "2022110001", name: "张三"))
        #expect(try s.applyCandidate(examNumber: "2022110001", name: "张三丰"))
        #expect(s.candidates["2022110001"]?.name == "张三丰")
        let start = bj("2022-11-19 11:12:00"), end = bj("2022-11-19 11:22:00")
        #expect(try s.applyInterview(examNumber: "2022110001", sitting: .formal, startedAt: start))
        #expect(try !s.applyInterview(examNumber: "2022110001", sitting: .formal, startedAt: start))
        // A re-entry (R18) does not restart the interview: the first start stands.
        #expect(try !s.applyInterview(examNumber: "2022110001", sitting: .formal, startedAt: start.addingTimeInterval(60)))
        #expect(try s.applyInterview(examNumber: "2022110001", sitting: .formal, endedAt: end))
        #expect(s.interviews["2022110001/formal"] == InterviewRecord(examNumber: "2022110001", sitting: .formal, startedAt: start, endedAt: end))
        // Timing's events may come before roster's: kept.
        #expect(try s.applyInterview(examNumber: "2022110077", sitting: .formal, startedAt: start))

        expectRefused(s, DisciplineError(.invalidArgument, "interview of 2022110002 (formal): neither started_at nor ended_at is given")) {
            try $0.applyInterview(examNumber: "2022110002", sitting: .formal)
        }
        expectRefused(s, DisciplineError(.invalidArgument, "interview of 2022110002 (mock): ended at 2022-11-19 11:12:00, before it started at 2022-11-19 11:22:00 (Beijing time)")) {
            try $0.applyInterview(examNumber: "2022110002", sitting: .mock, startedAt: end, endedAt: start)
        }
        expectRefused(s, DisciplineError(.invalidArgument, "name: is empty")) {
            try $0.applyCandidate(examNumber: "2022110009", name: "")
        }
        var bad = plan()
        bad.rooms[1].panel[0].chief = false
        expectRefused(s, DisciplineError(.invalidArgument, "plan: rooms[1] (R02).panel: exactly one examiner must be the chief (has 0)")) {
            try $0.applyPlan(bad)
        }
    }
}
