import ExamPlan
import Foundation
import Testing
@testable import ScoringCore

@Suite("sealing, publication and corrections (R50, R55)")
struct PublicationTests {
    @Test func anExaminerMayChangeTheirScoreUntilTheSeal() throws {
        var s = try examState()
        try s.interviewAndScore("2022110011", ["90", "90", "90"], seal: false)
        // The same value again is a replay.
        #expect(try s.submit(examNumber: "2022110011", examinerID: "G02", score: "90.00", now: formalEnd) == [])
        let t = bj("2022-11-19 12:05")
        #expect(try s.submit(examNumber: "2022110011", examinerID: "G02", score: "84.5", now: t)
            == [.panelScoreRevised(examNumber: "2022110011", examinerID: "G02", from: Points(hundredths: 9000), to: Points(hundredths: 8450), at: t)])
        // (90 + 84.50 + 90) / 3 = 264.50 / 3 = 88.1666... -> 88.17.
        // Total: (80.00 + 88.17) / 2 = 168.17 / 2 = 84.085 -> 84.09.
        #expect(try s.seal(examNumber: "2022110011", by: .chiefExaminer("G01"), now: sealTime) == [
            .interviewScoreSealed(examNumber: "2022110011", roomID: "R03", interviewScore: Points(hundredths: 8817),
                                  totalScore: Points(hundredths: 8409), by: "G01", at: sealTime)])
        expectRefused(&s, .failedPrecondition, mentions: ["sealed", "correction with a reason"]) {
            try $0.submit(examNumber: "2022110011", examinerID: "G02", score: "90", now: sealTime)
        }
    }

    @Test func automaticSealWhenConfigured() throws {
        var s = try examState(ScoringConfig(sealWhenPanelComplete: true))
        _ = try s.recordInterviewEnded(examNumber: "2022110021", sitting: .formal, now: formalEnd)
        _ = try s.submit(examNumber: "2022110021", examinerID: "G01", score: "88", now: formalEnd)
        _ = try s.submit(examNumber: "2022110021", examinerID: "G02", score: "88", now: formalEnd)
        let last = try s.submit(examNumber: "2022110021", examinerID: "G03", score: "88", now: formalEnd)
        // (88 + 88 + 88) / 3 = 88.00; total (75.50 + 88.00) / 2 = 81.75.
        #expect(last == [
            .panelScoreSubmitted(examNumber: "2022110021", examinerID: "G03", score: Points(hundredths: 8800), at: formalEnd),
            .interviewScoreSealed(examNumber: "2022110021", roomID: "R03", interviewScore: Points(hundredths: 8800),
                                  totalScore: Points(hundredths: 8175), by: "auto", at: formalEnd),
        ])
    }

    @Test func sealARoomSkipsWhoIsOutAndSealsTheRest() throws {
        var s = try examState()
        try s.interviewAndScore("2022110001", ["90", "85.5", "88", "79", "92.25", "86", "87"], seal: false)
        try s.interviewAndScore("2022110002", ["80", "80", "80", "80", "80", "80", "80"], seal: false)
        _ = try s.recordAbsent(examNumber: "2022110003", sitting: .formal, now: bj("2022-11-19 11:10"))
        // 2022110003 absent and 2022110004 declined are skipped.
        let events = try s.sealRoom("R01", by: .chiefExaminer("E01"), now: sealTime)
        #expect(events.map(\.topic) == ["scoring.interview.sealed", "scoring.interview.sealed"])
        #expect(try s.sealRoom("R01", by: ops, now: sealTime) == [])
    }

    @Test func correctionAfterPublicationIsLoggedRecomputedAndRepublished() throws {
        var s = try scoredExam()
        _ = try s.publish(by: ops, drawSeed: 20_221_121, now: publishTime)
        let v1 = try s.publication()
        #expect(v1.version == 1 && v1.reason == nil && v1.drawSeed == 20_221_121)
        // E05 had entered 92.25 for 2022110001 instead of 82.25.
        // Scores now 90 85.50 88 79 82.25 86 87; sorted 79 82.25 85.50 86 87 88 90;
        // drop 79 and 90: 82.25 + 85.50 + 86 + 87 + 88 = 428.75; / 5 = 85.75.
        // Total (80.00 + 85.75) / 2 = 82.875 -> 82.88. Still first of P01.
        let t = bj("2022-11-21 14:00")
        let events = try s.correct(examNumber: "2022110001", examinerID: "E05", score: "82.25",
                                   reason: "score sheet misread: 82.25, not 92.25", by: ops, now: t)
        #expect(events.count == 3)
        #expect(events[0] == .panelScoreCorrected(correctionID: 1, examNumber: "2022110001", examinerID: "E05",
                                                  from: Points(hundredths: 9225), to: Points(hundredths: 8225),
                                                  reason: "score sheet misread: 82.25, not 92.25", by: "ops01", at: t))
        #expect(events[1] == .interviewScoreRecomputed(examNumber: "2022110001", from: Points(hundredths: 8730),
                                                       to: Points(hundredths: 8575), at: t))
        #expect(events[2].topic == "scoring.published")
        let v2 = try s.publication()
        #expect(v2.version == 2)
        #expect(v2.reason == "correction 1 of candidate 2022110001: score sheet misread: 82.25, not 92.25")
        #expect(v2.lists.totalScores.first { $0.examNumber == "2022110001" }?.totalScore?.description == "82.88")
        // The earlier version stays as it was; the log keeps the correction.
        #expect(try s.publication(version: 1).lists.totalScores.first { $0.examNumber == "2022110001" }?.totalScore?.description == "83.65")
        #expect(s.corrections[1] == CorrectionRecord(
            id: 1, examNumber: "2022110001", examinerID: "E05", from: Points(hundredths: 9225), to: Points(hundredths: 8225),
            reason: "score sheet misread: 82.25, not 92.25", by: "ops01", at: t, interviewBefore: Points(hundredths: 8730),
            interviewAfter: Points(hundredths: 8575), publicationVersion: 2))
        #expect(try s.candidateScores(examNumber: "2022110001").corrections.count == 1)
        // Only ops or the room's chief examiner corrects.
        expectRefused(&s, .permissionDenied, mentions: ["may correct scores"]) {
            try $0.correct(examNumber: "2022110001", examinerID: "E05", score: "80", reason: "r", by: .examiner("E05"), now: t)
        }
        expectRefused(&s, .invalidArgument, mentions: ["already 82.25: nothing to correct"]) {
            try $0.correct(examNumber: "2022110001", examinerID: "E05", score: "82.25", reason: "r", by: ops, now: t)
        }
        expectRefused(&s, .alreadyExists, mentions: ["already published (version 2"]) {
            try $0.publish(by: ops, drawSeed: 9, now: t)
        }
    }

    @Test func afterPublicationOnlyCorrectionsAndDisciplineChangeAnything() throws {
        var s = try scoredExam()
        _ = try s.publish(by: ops, drawSeed: 5, now: publishTime)
        // Replays stay harmless.
        #expect(try s.recordCandidate(fact(roster[0]), now: publishTime) == [])
        #expect(try s.recordPlan(noticePlan(), now: publishTime) == [])
        #expect(try s.recordInterviewEnded(examNumber: "2022110001", sitting: .formal, now: publishTime) == [])
        // Changes are refused.
        var changed = fact(roster[0])
        changed.writtenScore = "81.00"
        expectRefused(&s, .failedPrecondition, mentions: ["published (version 1", "roster's change to candidate 2022110001"]) {
            try $0.recordCandidate(changed, now: publishTime)
        }
        expectRefused(&s, .failedPrecondition, mentions: ["frozen"]) {
            try $0.reconfigure(ScoringConfig(writtenWeight: 40, interviewWeight: 60), by: ops, now: publishTime)
        }

        // A disqualification after publication: P04's 2022110031 (90.00) loses its
        // rank; 2022110032 (80.00) moves up and onto the list; version 2.
        let t = bj("2022-11-22 10:00")
        let events = try s.recordDisqualification(DisqualificationFact(
            decisionID: "D-0009", examNumber: "2022110031", effect: .scoreVoided, ground: 3,
            reason: "spread the interview video", decidedAt: t), now: t)
        #expect(events.map(\.topic) == ["scoring.score.voided", "scoring.published"])
        let v2 = try s.publication()
        #expect(v2.version == 2 && v2.reason == "decision D-0009 (ground 3): 2022110031 disqualified")
        #expect(v2.lists.physicalExam.filter { $0.postCode == "P04" }.map(\.examNumber) == ["2022110032"])
        // Reversed: version 3, equal to version 1's lists.
        let back = try s.recordReversal(decisionID: "D-0009", reason: "appeal upheld", now: bj("2022-11-23 10:00"))
        #expect(back.map(\.topic) == ["scoring.score.restored", "scoring.published"])
        #expect(try s.publication().version == 3)
        #expect(try s.publication().lists == s.publication(version: 1).lists)
        // A decision about someone already out (declined) changes no list: no new version.
        let none = try s.recordDisqualification(DisqualificationFact(
            decisionID: "D-0010", examNumber: "2022110004", effect: .cancelledQualification, ground: 2,
            reason: "stand-in", decidedAt: t), now: t)
        #expect(none.map(\.topic) == ["scoring.score.voided"])
    }

    @Test func reinstatedAfterPublicationWithoutASealIsSealedLate() throws {
        var s = try examState()
        // 2022110021 is disqualified at screening before any score.
        _ = try s.recordDisqualification(DisqualificationFact(
            decisionID: "D-0003", examNumber: "2022110021", effect: .cancelledQualification, ground: 1,
            reason: "another person in the room", decidedAt: bj("2022-11-19 11:08")), now: bj("2022-11-19 11:08"))
        _ = try s.recordInterviewEnded(examNumber: "2022110021", sitting: .formal, now: formalEnd)
        for (n, scores) in [("2022110001", ["90", "85.5", "88", "79", "92.25", "86", "87"]), ("2022110002", ["80", "80", "80", "80", "80", "80", "80"]),
                            ("2022110011", ["90", "90", "90"]), ("2022110012", ["86", "86", "86"]), ("2022110022", ["87", "89", "88"]),
                            ("2022110031", ["90", "90", "90", "90"]), ("2022110032", ["80", "80", "80", "80"]),
                            ("2022110041", ["85.25", "85.26", "85.25", "85.26"]), ("2022110042", ["60", "61", "59", "60"])] {
            try s.interviewAndScore(n, scores)
        }
        _ = try s.recordAbsent(examNumber: "2022110003", sitting: .formal, now: bj("2022-11-19 11:10"))
        _ = try s.publish(by: ops, drawSeed: 5, now: publishTime)
        _ = try s.recordReversal(decisionID: "D-0003", reason: "review: the person was a proctor's mistake", now: bj("2022-11-22 09:00"))
        #expect(s.missingBeforePublication().map(\.examNumber) == ["2022110021"])
        // Scores only through logged corrections now, then a late seal republishes.
        for e in ["G01", "G02", "G03"] {
            _ = try s.correct(examNumber: "2022110021", examinerID: e, score: "88", reason: "scores after reinstatement",
                              by: .chiefExaminer("G01"), now: bj("2022-11-22 10:00"))
        }
        let events = try s.seal(examNumber: "2022110021", by: ops, now: bj("2022-11-22 11:00"))
        #expect(events.map(\.topic) == ["scoring.interview.sealed", "scoring.published"])
        // 2022110021 and 2022110022 now tie at 81.75: the recorded seed draws them.
        #expect(try s.publication().lists.draws.map(\.postCode) == ["P03"])
        #expect(try s.ranking(postCode: "P03").entries.map(\.rank) == [1, 2])
    }

    @Test func replaysAreHarmlessAndTheStateRoundTripsAsJSON() throws {
        var s = try scoredExam()
        let before = s
        for r in roster { #expect(try s.recordCandidate(fact(r), now: sealTime) == []) }
        #expect(try s.recordCandidateStatus(examNumber: "2022110001", status: .confirmed, now: sealTime) == [])
        #expect(try s.recordAbsent(examNumber: "2022110003", sitting: .formal, now: sealTime) == [])
        // Even after the seal, the same score again (a client's retry) is a replay.
        #expect(try s.submit(examNumber: "2022110041", examinerID: "F01", score: "85.25", now: sealTime) == [])
        #expect(s == before)
        _ = try s.publish(by: ops, drawSeed: UInt64.max - 1, now: publishTime)
        _ = try s.correct(examNumber: "2022110002", examinerID: "E03", score: "81", reason: "typo", by: ops, now: bj("2022-11-21 11:00"))
        let data = try JSONEncoder().encode(s)
        let back = try JSONDecoder().decode(ScoringState.self, from: data)
        #expect(back == s)
        #expect(back.drawSeed == UInt64.max - 1)
        // No full ID number is stored anywhere.
        let text = String(decoding: data, as: UTF8.self)
        for r in roster { #expect(!text.contains(residentID(r.4))) }
        // Events round-trip too.
        let e = ScoringEvent.listsPublished(version: 2, at: publishTime, by: "ops01", reason: "r",
                                            draws: [TieDraw(postCode: "P03", tied: ["b", "a"], seed: 3)])
        #expect(try JSONDecoder().decode(ScoringEvent.self, from: JSONEncoder().encode(e)) == e)
        // A config file may leave out every field.
        #expect(try JSONDecoder().decode(ScoringConfig.self, from: Data("{}".utf8)) == ScoringConfig())
        #expect(try JSONDecoder().decode(ScoringConfig.self, from: Data(#"{"minimumInterviewScore":"60"}"#.utf8)).minimumInterviewScore
            == Points(hundredths: 6000))
    }
}
