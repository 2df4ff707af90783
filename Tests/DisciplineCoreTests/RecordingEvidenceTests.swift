import ExamPlan
import Foundation
import Testing
@testable import DisciplineCore

@Suite("incomplete recordings as the chief examiner's evidence (R38)")
struct RecordingEvidenceTests {
    let lostGap = RecordingIssue(position: .secondary, recordingID: "2022110001-formal-secondary", kind: "gap",
                                 text: "a 45.0 s gap in the secondary phone's recording; the phone's signal was lost then (ground 9)",
                                 duringSignalLoss: true)
    let unfinished = RecordingIssue(position: .main, recordingID: "2022110001-formal-main", kind: "unfinished",
                                    text: "the main phone's upload never finished (12 chunks, 196608 bytes arrived)")

    @Test func aGapDuringTheSignalLossBacksTheGround9Incident() throws {
        var s = try seeded()
        _ = try s.applyInterview(examNumber: "2022110001", sitting: .formal, startedAt: bj("2022-11-19 11:10:00"))
        let incident = try s.report(signalReport(), now: duringInterview).incident
        #expect(try s.applyRecordingsCheck(examNumber: "2022110001", sitting: .formal, issues: [unfinished, lostGap]))
        // The same check again changes nothing.
        #expect(try !s.applyRecordingsCheck(examNumber: "2022110001", sitting: .formal, issues: [unfinished, lostGap]))
        // The ground-9 incident shows the gap during the outage first; the
        // log itself is untouched (append-only).
        let record = try s.incidentRecord(incident.id)
        #expect(record.recordings == [lostGap, unfinished])
        #expect(record.incident == incident)
        #expect(record.recordings.first?.reference
            == "recording 2022110001-formal-secondary: a 45.0 s gap in the secondary phone's recording; the phone's signal was lost then (ground 9)")
        #expect(try s.incidents(matching: IncidentQuery(examNumber: "2022110001")).map(\.recordings) == [[lostGap, unfinished]])
        #expect(s.openIncidents().first?.recordings == [lostGap, unfinished])
    }

    @Test func otherIncidentsAndOtherCandidatesSeeOnlyTheirOwnSitting() throws {
        var s = try seeded()
        let staff = try s.report(staffReport("2022110002", ground: 4, evidence: "said their name"), by: proctor, now: duringInterview).incident
        _ = try s.applyRecordingsCheck(examNumber: "2022110001", sitting: .formal, issues: [lostGap])
        // Another candidate's incident: none of it.
        #expect(try s.incidentRecord(staff.id).recordings == [])
        // 2022110002's mock recordings do not concern a formal incident.
        _ = try s.applyRecordingsCheck(examNumber: "2022110002", sitting: .mock, issues: [unfinished])
        #expect(try s.incidentRecord(staff.id).recordings == [])
        // Its formal check, complete: nothing to show.
        #expect(try s.applyRecordingsCheck(examNumber: "2022110002", sitting: .formal, issues: []))
        #expect(try s.incidentRecord(staff.id).recordings == [])
    }

    @Test func aBadCheckIsRefusedAndChangesNothing() throws {
        let s = try seeded()
        expectRefused(s, DisciplineError(.invalidArgument, "exam_number: '' is not an exam number (1-32 letters, digits, '-' or '_')")) {
            try $0.applyRecordingsCheck(examNumber: "", sitting: .formal, issues: [lostGap])
        }
    }
}
