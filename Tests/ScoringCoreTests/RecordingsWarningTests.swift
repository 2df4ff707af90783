import ExamPlan
import Foundation
import Testing
@testable import ScoringCore

@Suite("publication warns while recordings are incomplete (R38)")
struct RecordingsWarningTests {
    @Test func publicationCarriesTheIncompleteRecordingsAndStillPublishes() throws {
        var s = try scoredExam()
        let t = bj("2022-11-19 12:30")
        // recordings checked three formal interviews: one whole, two not.
        #expect(s.recordRecordingsCheck(examNumber: "2022110001", incomplete: [], now: t)
            == [.recordingsChecked(examNumber: "2022110001", incomplete: [])])
        _ = s.recordRecordingsCheck(examNumber: "2022110002", incomplete: ["main (gap 5.1 s, signal lost)", "secondary (gap 5.0 s, signal lost)"], now: t)
        _ = s.recordRecordingsCheck(examNumber: "2022110011", incomplete: ["secondary (unfinished)"], now: t)
        // A repeat changes nothing; a candidate roster never announced is ignored.
        #expect(s.recordRecordingsCheck(examNumber: "2022110011", incomplete: ["secondary (unfinished)"], now: t) == [])
        #expect(s.recordRecordingsCheck(examNumber: "2099990001", incomplete: ["main (missing)"], now: t) == [])

        // A warning, not a refusal: the lists are published and carry it.
        let events = try s.publish(by: ops, drawSeed: 7, now: publishTime)
        #expect(events.map(\.topic) == ["scoring.published"])
        let p = try s.publication()
        #expect(p.recordingsWarning == "3 recordings incomplete: 2022110002 main (gap 5.1 s, signal lost), "
            + "2022110002 secondary (gap 5.0 s, signal lost), 2022110011 secondary (unfinished)")
        #expect(!p.lists.totalScores.isEmpty)
        // The JSON list says it too.
        let json = String(decoding: try ScoringExport.json(p), as: UTF8.self)
        #expect(json.contains(#""recordings_warning" : "3 recordings incomplete: 2022110002 main"#))
    }

    @Test func noWarningWhenEveryRecordingIsWhole() throws {
        var s = try scoredExam()
        _ = s.recordRecordingsCheck(examNumber: "2022110001", incomplete: [], now: publishTime)
        _ = try s.publish(by: ops, drawSeed: 7, now: publishTime)
        #expect(try s.publication().recordingsWarning == nil)
        #expect(!String(decoding: try ScoringExport.json(try s.publication()), as: UTF8.self).contains("recordings_warning"))
    }

    @Test func aLongListIsCutWithHowManyMore() throws {
        var s = try scoredExam()
        _ = s.recordRecordingsCheck(examNumber: "2022110002", incomplete: ["main (missing)", "secondary (missing)"], now: publishTime)
        _ = s.recordRecordingsCheck(examNumber: "2022110011", incomplete: ["secondary (unfinished)"], now: publishTime)
        #expect(s.recordingsWarning(shown: 2) == "3 recordings incomplete: 2022110002 main (missing), 2022110002 secondary (missing), "
            + "and 1 more (exam.v1.Recordings/Completeness lists them all)")
    }
}
