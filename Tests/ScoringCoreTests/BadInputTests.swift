import ExamPlan
import Foundation
import SchemaSamples
import Testing
@testable import ScoringCore

/// Bad inputs get a precise error and change nothing (SPEC, "bad input").
@Suite("bad inputs are refused and change nothing")
struct BadInputTests {
    func interviewed() throws -> ScoringState {
        var s = try examState()
        _ = try s.recordInterviewEnded(examNumber: "2022110001", sitting: .formal, now: formalEnd)
        _ = try s.recordAbsent(examNumber: "2022110003", sitting: .formal, now: bj("2022-11-19 11:10"))
        return s
    }

    @Test func scoreWithThreeDecimals() throws {
        var s = try interviewed()
        expectRefused(&s, .invalidArgument, mentions: ["'100.001' has more than two decimals", "candidate 2022110001", "examiner E02"]) {
            try $0.submit(examNumber: "2022110001", examinerID: "E02", score: "100.001", now: formalEnd)
        }
    }

    @Test func scoreBelowZeroOrAboveHundred() throws {
        var s = try interviewed()
        expectRefused(&s, .invalidArgument, mentions: ["-1 is not between 0.00 and 100.00"]) {
            try $0.submit(examNumber: "2022110001", examinerID: "E02", score: "-1", now: formalEnd)
        }
        expectRefused(&s, .invalidArgument, mentions: ["100.01 is not between 0.00 and 100.00"]) {
            try $0.submit(examNumber: "2022110001", examinerID: "E02", score: "100.01", now: formalEnd)
        }
        // Both ends are allowed.
        #expect(try s.submit(examNumber: "2022110001", examinerID: "E02", score: "100", now: formalEnd).count == 1)
        #expect(try s.submit(examNumber: "2022110001", examinerID: "E03", score: "0.00", now: formalEnd).count == 1)
    }

    @Test func scoreThatIsNotANumber() throws {
        var s = try interviewed()
        for text in ["abc", "", "8 5", "1e2", "８５", "85,5", "NaN"] {
            expectRefused(&s, .invalidArgument, mentions: ["is not a number", "a score is 0 to 100"]) {
                try $0.submit(examNumber: "2022110001", examinerID: "E02", score: text, now: formalEnd)
            }
        }
    }

    /// Issue 22: " 80" was taken as 80.00 though the OpenAPI schema's
    /// pattern forbids it; so were "+80" and "080". A score is written as
    /// the schema says, or refused with what is wrong, and nothing changes.
    @Test func scoreWithSpacesSignOrLeadingZeros() throws {
        var s = try interviewed()
        for text in [" 80", "80 ", "\t80", "80\n", "\u{3000}80", "+80", "-0", "080", "0100", "007.5"] {
            expectRefused(&s, .invalidArgument, mentions: ["'\(text)'", "candidate 2022110001", "R50"]) {
                try $0.submit(examNumber: "2022110001", examinerID: "E02", score: text, now: formalEnd)
            }
        }
        // Written as the schema says, it is taken; Check.points also reads the
        // written scores of the list and the score sheet's cells.
        #expect(try s.submit(examNumber: "2022110001", examinerID: "E02", score: "80", now: formalEnd).count == 1)
        #expect(throws: ScoringError.self) { try Check.points(" 80", "written score") }
    }

    /// The scores scoring takes are exactly those the OpenAPI document's
    /// Score pattern allows (its `\d` is ECMA-262's, ASCII digits only).
    @Test func scoresAgreeWithTheOpenAPIPattern() throws {
        let rx = try ScorePattern.regex()
        for text in ScorePattern.samples {
            let matches = ScorePattern.allows(text, rx)
            let taken = (try? Check.points(text, "score")) != nil
            #expect(matches == taken, "'\(text)': the schema \(matches ? "allows" : "forbids") it, scoring \(taken ? "takes" : "refuses") it")
        }
    }

    @Test func examinerNotOnTheRoomsPanel() throws {
        var s = try interviewed()
        // F01 sits on room R02's panel; 2022110001 was interviewed in R01.
        expectRefused(&s, .permissionDenied,
                      mentions: ["examiner F01 is not on the panel of room R01 (E01, E02, E03, E04, E05, E06, E07)", "candidate 2022110001"]) {
            try $0.submit(examNumber: "2022110001", examinerID: "F01", score: "85", now: formalEnd)
        }
        expectRefused(&s, .invalidArgument, mentions: ["examiner id", "not 1-32 letters"]) {
            try $0.submit(examNumber: "2022110001", examinerID: "E 01", score: "85", now: formalEnd)
        }
    }

    @Test func scoreForAnAbsentCandidate() throws {
        var s = try interviewed()
        expectRefused(&s, .failedPrecondition, mentions: ["candidate 2022110003 was absent from the formal interview", "R12"]) {
            try $0.submit(examNumber: "2022110003", examinerID: "E01", score: "85", now: formalEnd)
        }
    }

    @Test func scoreForDeclinedNotInterviewedDisqualifiedOrUnknown() throws {
        var s = try interviewed()
        expectRefused(&s, .failedPrecondition, mentions: ["2022110004 declined the interview"]) {
            try $0.submit(examNumber: "2022110004", examinerID: "E01", score: "85", now: formalEnd)
        }
        expectRefused(&s, .failedPrecondition, mentions: ["2022110002 has not been interviewed in the formal sitting yet"]) {
            try $0.submit(examNumber: "2022110002", examinerID: "E01", score: "85", now: formalEnd)
        }
        expectRefused(&s, .notFound, mentions: ["candidate 2099000000 is not on the roster"]) {
            try $0.submit(examNumber: "2099000000", examinerID: "E01", score: "85", now: formalEnd)
        }
        _ = try s.recordDisqualification(DisqualificationFact(
            decisionID: "D-0002", examNumber: "2022110001", effect: .scoreVoided, ground: 8, reason: "answered a call",
            decidedAt: formalEnd), now: formalEnd)
        expectRefused(&s, .failedPrecondition, mentions: ["2022110001 is disqualified by decision D-0002 (ground 8)", "the interview score is void"]) {
            try $0.submit(examNumber: "2022110001", examinerID: "E01", score: "85", now: formalEnd)
        }
        // A mock-sitting report is not an interview (R19).
        #expect(try s.recordInterviewEnded(examNumber: "2022110002", sitting: .mock, now: bj("2022-11-18 09:30")) == [])
        #expect(s.candidates["2022110002"]?.attendance == nil)
    }

    @Test func publishingWithScoresMissingListsWho() throws {
        var s = try examState()
        try s.interviewAndScore("2022110001", ["90", "85.5", "88", "79", "92.25", "86", "87"])
        // 2022110002: interviewed, two examiners have not scored.
        try s.interviewAndScore("2022110002", ["80", "80", "80", "80", "80"], seal: false)
        // 2022110011: everyone scored, not sealed.
        try s.interviewAndScore("2022110011", ["90", "90", "90"], seal: false)
        _ = try s.recordAbsent(examNumber: "2022110003", sitting: .formal, now: bj("2022-11-19 11:10"))
        let e = expectRefused(&s, .failedPrecondition, mentions: ["9 candidate(s) lack a sealed interview score"]) {
            try $0.publish(by: ops, drawSeed: 1, now: publishTime)
        }
        #expect(e?.details == [
            "2022110002 (room R01): no score yet from E06, E07",
            "2022110011 (room R03): every examiner has scored, the interview score is not sealed",
            "2022110012 (room R03): not interviewed yet (timing has reported neither the interview's end nor absence)",
            "2022110021 (room R03): not interviewed yet (timing has reported neither the interview's end nor absence)",
            "2022110022 (room R03): not interviewed yet (timing has reported neither the interview's end nor absence)",
            "2022110031 (room R02): not interviewed yet (timing has reported neither the interview's end nor absence)",
            "2022110032 (room R02): not interviewed yet (timing has reported neither the interview's end nor absence)",
            "2022110041 (room R02): not interviewed yet (timing has reported neither the interview's end nor absence)",
            "2022110042 (room R02): not interviewed yet (timing has reported neither the interview's end nor absence)",
        ])
        #expect(s.missingBeforePublication().map(\.problem).prefix(2) == [.scoresMissing, .notSealed])
    }

    @Test func correctionAfterPublicationWithoutAReason() throws {
        var s = try scoredExam()
        _ = try s.publish(by: ops, drawSeed: 7, now: publishTime)
        for reason in ["", "   ", "\n"] {
            expectRefused(&s, .invalidArgument, mentions: ["needs a reason (R55)", "candidate 2022110001", "examiner E02"]) {
                try $0.correct(examNumber: "2022110001", examinerID: "E02", score: "86", reason: reason, by: ops, now: bj("2022-11-21 10:00"))
            }
        }
        // And a plain submission after publication is refused.
        expectRefused(&s, .failedPrecondition, mentions: ["scores are published (version 1", "frozen", "correction with a reason"]) {
            try $0.submit(examNumber: "2022110001", examinerID: "E02", score: "86", now: bj("2022-11-21 10:00"))
        }
    }

    @Test func sealingAndPublishingNeedTheRightActor() throws {
        var s = try examState()
        try s.interviewAndScore("2022110001", ["90", "85.5", "88", "79", "92.25", "86", "87"], seal: false)
        // E02 is on the panel but not its chief; G01 is another room's chief.
        expectRefused(&s, .permissionDenied, mentions: ["only ops or room R01's chief examiner (E01) may seal", "E02"]) {
            try $0.seal(examNumber: "2022110001", by: .examiner("E02"), now: sealTime)
        }
        expectRefused(&s, .permissionDenied, mentions: ["G01"]) {
            try $0.seal(examNumber: "2022110001", by: .chiefExaminer("G01"), now: sealTime)
        }
        expectRefused(&s, .permissionDenied, mentions: ["only ops may publish"]) {
            try $0.publish(by: .chiefExaminer("E01"), drawSeed: 1, now: publishTime)
        }
        _ = try s.seal(examNumber: "2022110001", by: .chiefExaminer("E01"), now: sealTime)
        expectRefused(&s, .alreadyExists, mentions: ["already sealed: 87.30, by E01"]) {
            try $0.seal(examNumber: "2022110001", by: ops, now: sealTime)
        }
    }

    @Test func sealWithAnIncompletePanel() throws {
        var s = try examState()
        try s.interviewAndScore("2022110001", ["90", "85.5", "88", "79", "92.25"], seal: false)
        let e = expectRefused(&s, .failedPrecondition, mentions: ["2 of 7 examiners of room R01 have not scored (E06, E07)"]) {
            try $0.seal(examNumber: "2022110001", by: ops, now: sealTime)
        }
        #expect(e?.details == ["E06", "E07"])
        // A room is sealed all or nothing.
        expectRefused(&s, .failedPrecondition, mentions: ["room R01 cannot be sealed", "nothing was sealed"]) {
            try $0.sealRoom("R01", by: ops, now: sealTime)
        }
        expectRefused(&s, .notFound, mentions: ["room R99"]) { try $0.sealRoom("R99", by: ops, now: sealTime) }
    }

    @Test func factsThatAreInvalidOrConflicting() throws {
        var s = try examState()
        var bad = fact(roster[0])
        bad.idNumber = "370202199001010010"
        let e = expectRefused(&s, .invalidArgument, mentions: ["candidate 2022110001: ID number 370202********0010", "check character"]) {
            try $0.recordCandidate(bad, now: bj("2022-11-16 10:00"))
        }
        // The full number never appears in a message.
        #expect(e.map { !$0.description.contains("370202199001010010") } == true)
        var written = fact(roster[0])
        written.writtenScore = "80.123"
        expectRefused(&s, .invalidArgument, mentions: ["written score", "more than two decimals"]) {
            try $0.recordCandidate(written, now: bj("2022-11-16 10:00"))
        }
        expectRefused(&s, .notFound) { try $0.recordCandidateStatus(examNumber: "2099", status: .confirmed, now: formalEnd) }
        _ = try s.recordAbsent(examNumber: "2022110003", sitting: .formal, now: bj("2022-11-19 11:10"))
        expectRefused(&s, .failedPrecondition, mentions: ["absent", "cannot now have ended"]) {
            try $0.recordInterviewEnded(examNumber: "2022110003", sitting: .formal, now: formalEnd)
        }
        let d = DisqualificationFact(decisionID: "D-1", examNumber: "2022110001", effect: .scoreVoided, ground: 11,
                                     reason: "x", decidedAt: formalEnd)
        expectRefused(&s, .invalidArgument, mentions: ["ground 11"]) { try $0.recordDisqualification(d, now: formalEnd) }
        expectRefused(&s, .notFound, mentions: ["decision D-404"]) { try $0.recordReversal(decisionID: "D-404", reason: "r", now: formalEnd) }
        var ok = d
        ok.ground = 10
        _ = try s.recordDisqualification(ok, now: formalEnd)
        var other = ok
        other.examNumber = "2022110002"
        expectRefused(&s, .alreadyExists, mentions: ["decision D-1 is already recorded"]) { try $0.recordDisqualification(other, now: formalEnd) }
    }

    @Test func invalidConfiguration() throws {
        #expect(throws: ScoringError.self) { try ScoringState(config: ScoringConfig(writtenWeight: 60, interviewWeight: 50)) }
        let problems = ScoringConfig(trimEachEnd: 2, trimFromPanelSize: 4, writtenWeight: 60, interviewWeight: 50,
                                     tieBreakers: [.draw, .higherWrittenScore]).problems()
        #expect(problems == [
            "trimFromPanelSize: 4 would leave no score to average after dropping 2 from each end (needs at least 5)",
            "writtenWeight + interviewWeight: 60 + 50 = 110, not 100 (R51)",
            "tieBreakers: draw must be the last rule (nothing can follow a draw)",
        ])
        var s = try scoredExam()
        expectRefused(&s, .failedPrecondition, mentions: ["trimming rule cannot change", "already sealed"]) {
            try $0.reconfigure(ScoringConfig(trimEachEnd: 2), by: ops, now: sealTime)
        }
        expectRefused(&s, .invalidArgument, mentions: ["configuration is invalid"]) {
            try $0.reconfigure(ScoringConfig(writtenWeight: 0, interviewWeight: 0), by: ops, now: sealTime)
        }
        // Weights may change before publication: P01's 2022110001 at 40/60:
        // 80.00 x 40% + 87.30 x 60% = 32.00 + 52.38 = 84.38.
        _ = try s.reconfigure(ScoringConfig(writtenWeight: 40, interviewWeight: 60), by: ops, now: sealTime)
        #expect(try s.candidateScores(examNumber: "2022110001").totalScore?.description == "84.38")
    }
}

@Suite("masked ID numbers from roster")
struct MaskedIDFactTests {
    @Test func aMaskedNumberIsTakenAsIsAndABadMaskRefused() throws {
        var s = try ScoringState()
        var f = fact(roster[0])
        f.idNumber = "370202********123X"
        _ = try s.recordCandidate(f, now: bj("2022-11-16 10:00"))
        #expect(s.candidates[f.examNumber]?.maskedID == "370202********123X")
        var bad = fact(roster[1])
        bad.idNumber = "3702*****1234"
        #expect(throws: ScoringError.self) { try s.recordCandidate(bad, now: bj("2022-11-16 10:00")) }
    }
}
