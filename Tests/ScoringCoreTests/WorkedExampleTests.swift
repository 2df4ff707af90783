import ExamPlan
import Foundation
import Testing
@testable import ScoringCore

/// Worked examples, computed by hand in the comments (R50-R54).
@Suite("worked examples (R50-R54)")
struct WorkedExampleTests {
    @Test func sevenExaminerPanelDropsOneHighAndOneLow() throws {
        var s = try examState()
        try s.interviewAndScore("2022110001", ["90", "85.5", "88", "79", "92.25", "86", "87"], seal: false)
        // Sorted: 79.00 85.50 86.00 87.00 88.00 90.00 92.25.
        // Drop the lowest (79.00) and the highest (92.25); the five left:
        // 85.50 + 86.00 + 87.00 + 88.00 + 90.00 = 436.50; 436.50 / 5 = 87.30.
        let events = try s.seal(examNumber: "2022110001", by: .chiefExaminer("E01"), now: sealTime)
        // Total (R51, 50/50): 80.00 x 50% + 87.30 x 50% = 40.00 + 43.65 = 83.65.
        #expect(events == [.interviewScoreSealed(examNumber: "2022110001", roomID: "R01", interviewScore: Points(hundredths: 8730),
                                                 totalScore: Points(hundredths: 8365), by: "E01", at: sealTime)])
        let c = try s.candidateScores(examNumber: "2022110001")
        #expect(c.seal?.droppedLow == [try Points("79")])
        #expect(c.seal?.droppedHigh == [try Points("92.25")])
        #expect(c.seal?.panel == ["E01", "E02", "E03", "E04", "E05", "E06", "E07"])
        #expect(c.interviewScore?.description == "87.30")
        #expect(c.totalScore?.description == "83.65")
        #expect(c.panel.map { $0.score?.description } == ["90.00", "85.50", "88.00", "79.00", "92.25", "86.00", "87.00"])
        // E04 gave the lowest (79.00), E05 the highest (92.25).
        #expect(c.panel.filter(\.dropped).map(\.examinerID) == ["E04", "E05"])
        // Seven equal scores: 80.00 either way; the panel's first two are marked.
        let equal = try scoredExam().candidateScores(examNumber: "2022110002")
        #expect(equal.interviewScore?.description == "80.00")
        #expect(equal.panel.filter(\.dropped).map(\.examinerID) == ["E01", "E02"])
    }

    @Test func smallPanelsAverageEveryScoreUnlessConfigured() throws {
        // 3 examiners, default (drop from a panel of 5): 87 + 89 + 88 = 264; / 3 = 88.00.
        let d = ScoringConfig()
        #expect(d.interviewScore([try Points("87"), try Points("89"), try Points("70")]).score.description == "82.00")
        // (87 + 89 + 70) / 3 = 246 / 3 = 82.00: nothing dropped.
        // Configured to drop from 3: only 87 is left.
        let c = ScoringConfig(trimFromPanelSize: 3)
        let m = c.interviewScore([try Points("87"), try Points("89"), try Points("70")])
        #expect(m.score.description == "87.00" && m.counted == 1)
        // Two from each end of the 7-panel: sorted 79 85.50 86 87 88 90 92.25,
        // dropping 79, 85.50 and 90, 92.25 leaves 86 + 87 + 88 = 261; / 3 = 87.00.
        let two = ScoringConfig(trimEachEnd: 2)
        let seven = try ["90", "85.5", "88", "79", "92.25", "86", "87"].map { try Points($0) }
        #expect(two.interviewScore(seven).score.description == "87.00")
    }

    @Test func roundingHalfUpAtTheThirdDecimal() throws {
        var s = try examState()
        // Room R02 has 4 examiners: below 5, so a plain mean (R50).
        // 85.25 + 85.26 + 85.25 + 85.26 = 341.02; 341.02 / 4 = 85.255 -> half up -> 85.26.
        try s.interviewAndScore("2022110041", ["85.25", "85.26", "85.25", "85.26"])
        let c = try s.candidateScores(examNumber: "2022110041")
        #expect(c.interviewScore?.description == "85.26")
        // Total: 70.25 x 50% + 85.26 x 50% = 35.125 + 42.63 = 77.755 exactly -> half up -> 77.76.
        #expect(c.totalScore?.description == "77.76")

        // One rounding at the end, not one per term (R51): 40/60,
        // written 80.09 x 40% = 32.036, interview 70.01 x 60% = 42.006;
        // exact sum 74.042 -> 74.04 (rounding each term first would give
        // 32.04 + 42.01 = 74.05).
        let w = ScoringConfig(writtenWeight: 40, interviewWeight: 60)
        #expect(w.total(written: try Points("80.09"), interview: try Points("70.01")).description == "74.04")
        // Exactly half a hundredth below: 0.005 -> 0.01 (half up, not to even).
        #expect(ScoringConfig().total(written: try Points("0.01"), interview: .zero).description == "0.01")
        #expect(ScoringConfig().total(written: try Points("0.03"), interview: .zero).description == "0.02")
        // 0.03 x 50% = 0.015 -> 0.02; banker's rounding would also give 0.02,
        // but 0.01 x 50% = 0.005 -> 0.01 where banker's gives 0.00.
    }

    @Test func tieOnTotalBrokenByHigherWrittenScore() throws {
        let s = try scoredExam()
        // Post P02: 2022110011 written 80.00, interview 90.00 -> (80 + 90) / 2 = 85.00;
        //           2022110012 written 84.00, interview 86.00 -> (84 + 86) / 2 = 85.00.
        // Equal totals; the higher written score (84.00) ranks first (R53 default).
        let r = try s.ranking(postCode: "P02")
        #expect(r.entries.map(\.examNumber) == ["2022110012", "2022110011"])
        #expect(r.entries.map(\.rank) == [1, 2])
        #expect(r.entries.map(\.totalScore.description) == ["85.00", "85.00"])
        #expect(r.entries.map(\.tieBrokenBy) == [.higherWrittenScore, .higherWrittenScore])
        #expect(r.entries.map(\.onPhysicalExamList) == [true, false])
        #expect(r.draws.isEmpty)
    }

    @Test func tieThatNeedsTheDrawIsReproducibleFromTheSeed() throws {
        var s = try scoredExam()
        // Post P03: both written 75.50; 2022110021 scores 88, 88, 88 -> 88.00,
        // 2022110022 scores 87, 89, 88 -> 264 / 3 = 88.00. Totals (75.50 + 88.00) / 2 = 81.75 both,
        // written equal: only the draw separates them.
        let before = try s.ranking(postCode: "P03")
        #expect(before.entries.map(\.rank) == [1, 1])
        #expect(before.entries.allSatisfy { $0.drawPending })
        // A shared rank on the single slot: both on the preview list (overflow).
        #expect(before.physicalExamOverflow)

        let seed: UInt64 = 20_221_121
        let events = try s.publish(by: ops, drawSeed: seed, now: publishTime)
        // The draw (TieDraw's documented method): tied sorted = [2022110021, 2022110022];
        // group seed = 20221121 XOR FNV-1a-64("P03\n2022110021\n2022110022") = 0x5667A4D0F80C9D84;
        // Fisher-Yates, i = 1: SplitMix64's first output 0x16778693584B0C34 is even, so
        // j = 0 mod 2 = 0: swap positions 1 and 0 -> [2022110022, 2022110021].
        let expected = ["2022110022", "2022110021"]
        #expect(TieDraw.groupSeed(seed: seed, postCode: "P03", tied: ["2022110021", "2022110022"]) == 0x5667_A4D0_F80C_9D84)
        #expect(referenceDraw(seed: seed, postCode: "P03", tied: ["2022110022", "2022110021"]) == expected)
        #expect(events == [.listsPublished(version: 1, at: publishTime, by: "ops01", reason: nil,
                                           draws: [TieDraw(postCode: "P03", tied: ["2022110021", "2022110022"], seed: seed)])])
        let after = try s.ranking(postCode: "P03")
        #expect(after.entries.map(\.examNumber) == expected)
        #expect(after.entries.map(\.rank) == [1, 2])
        #expect(after.entries.map(\.tieBrokenBy) == [.draw, .draw])
        #expect(after.entries.map(\.onPhysicalExamList) == [true, false])
        #expect(!after.physicalExamOverflow)
        // Reproducible: the same seed, another state, the same order.
        var again = try scoredExam()
        _ = try again.publish(by: ops, drawSeed: seed, now: publishTime)
        #expect(try again.ranking(postCode: "P03").entries.map(\.examNumber) == expected)
        #expect(again.publications == s.publications)
        // The draw depends on the seed: some seed gives each order.
        let orders = Set((0..<64 as Range<UInt64>).map { TieDraw.order(seed: $0, postCode: "P03", tied: ["2022110021", "2022110022"]) })
        #expect(orders.count == 2)
    }

    @Test func splitMix64MatchesTheReferenceOutputs() {
        // Vigna's splitmix64.c with x = 0.
        var r = SplitMix64(seed: 0)
        #expect(r.next() == 0xE220_A839_7B1D_CDAF)
        #expect(r.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(r.next() == 0x06C4_5D18_8009_454F)
        // A draw of five is a permutation, the same for the same seed.
        let five = ["05", "01", "04", "02", "03"]
        let a = TieDraw.order(seed: 42, postCode: "P09", tied: five)
        #expect(a.sorted() == five.sorted())
        #expect(a == TieDraw.order(seed: 42, postCode: "P09", tied: five.reversed()))
        #expect(a == referenceDraw(seed: 42, postCode: "P09", tied: five))
    }

    @Test func disqualificationAfterScoringVoidsTheScoreAndAReversalRestoresIt() throws {
        var s = try scoredExam()
        // Post P04 (1 place): 2022110031 (90.00 written, 90.00 interview) total 90.00, rank 1;
        //                     2022110032 (80.00, 80.00) total 80.00, rank 2.
        #expect(try s.ranking(postCode: "P04").entries.map(\.examNumber) == ["2022110031", "2022110032"])
        let decision = DisqualificationFact(decisionID: "D-0007", examNumber: "2022110031", effect: .scoreVoided, ground: 6,
                                            reason: "answering while wearing earphones", decidedAt: bj("2022-11-20 10:00"))
        let events = try s.recordDisqualification(decision, now: bj("2022-11-20 10:00"))
        #expect(events == [.disqualified(decisionID: "D-0007", examNumber: "2022110031", effect: .scoreVoided,
                                         voidedInterviewScore: Points(hundredths: 9000))])
        // Re-ranked: 2022110032 is first and takes the place.
        let r = try s.ranking(postCode: "P04")
        #expect(r.entries.map(\.examNumber) == ["2022110032"])
        #expect(r.entries[0].rank == 1 && r.entries[0].onPhysicalExamList)
        #expect(r.unranked.map(\.reason) == [.scoreVoided])
        // The record keeps the sealed score and why it does not count.
        let c = try s.candidateScores(examNumber: "2022110031")
        #expect(c.seal?.score.description == "90.00")
        #expect(c.interviewScore == nil && c.totalScore == nil && c.rank == nil)
        #expect(c.unrankedReason == .scoreVoided)
        #expect(c.disqualifications.map(\.fact) == [decision])
        #expect(s.currentLists().totalScores.first { $0.examNumber == "2022110031" }?.remark == "面试成绩无效")
        // Replaying discipline's event changes nothing.
        #expect(try s.recordDisqualification(decision, now: bj("2022-11-20 10:05")) == [])

        // Reversed: the score counts again and 2022110031 is first again.
        let back = try s.recordReversal(decisionID: "D-0007", reason: "review: the earphones were not in use",
                                        now: bj("2022-11-20 15:00"))
        #expect(back == [.reinstated(decisionID: "D-0007", examNumber: "2022110031", restoredInterviewScore: Points(hundredths: 9000))])
        #expect(try s.ranking(postCode: "P04").entries.map(\.examNumber) == ["2022110031", "2022110032"])
        #expect(try s.candidateScores(examNumber: "2022110031").disqualifications.first?.reversal?.reason
            == "review: the earphones were not in use")
        #expect(try s.recordReversal(decisionID: "D-0007", reason: "again", now: bj("2022-11-20 15:05")) == [])
    }

    @Test func absentDeclinedAndDisqualifiedHaveNoRank() throws {
        var s = try scoredExam()
        _ = try s.recordDisqualification(DisqualificationFact(
            decisionID: "D-0001", examNumber: "2022110002", effect: .cancelledQualification, ground: 2,
            reason: "stand-in found at screening", decidedAt: bj("2022-11-19 11:05")), now: bj("2022-11-19 11:05"))
        let r = try s.ranking(postCode: "P01")
        // 2022110001: 83.65, rank 1; the other three have no rank (R52).
        #expect(r.entries.map(\.examNumber) == ["2022110001"])
        #expect(r.unranked.map(\.examNumber) == ["2022110002", "2022110003", "2022110004"])
        #expect(r.unranked.map(\.reason) == [.qualificationCancelled, .absent, .declined])
        let rows = s.currentLists().totalScores.filter { $0.postCode == "P01" }
        #expect(rows.map(\.remark) == ["进入体检", "取消面试资格", "缺考", "放弃面试"])
        #expect(rows.dropFirst().allSatisfy { $0.interviewScore == nil && $0.totalScore == nil && $0.rank == nil })
    }

    @Test func minimumInterviewScoreKeepsTheTotalButNotTheList() throws {
        var s = try examState(ScoringConfig(minimumInterviewScore: try Points("60")))
        // P04: 2022110031 written 90, interview 58.00 -> (90 + 58) / 2 = 74.00, rank 1 but below 60;
        //      2022110032 written 80, interview 66.00 -> (80 + 66) / 2 = 73.00, rank 2, takes the place.
        try s.interviewAndScore("2022110031", ["58", "58", "58", "58"])
        try s.interviewAndScore("2022110032", ["66", "66", "66", "66"])
        let r = try s.ranking(postCode: "P04")
        #expect(r.entries.map(\.examNumber) == ["2022110031", "2022110032"])
        #expect(r.entries.map(\.totalScore.description) == ["74.00", "73.00"])
        #expect(r.entries.map(\.eligibleForPhysicalExam) == [false, true])
        #expect(r.entries.map(\.onPhysicalExamList) == [false, true])
        let rows = s.currentLists().totalScores.filter { $0.postCode == "P04" }
        #expect(rows.map(\.remark) == ["面试成绩低于60.00分", "进入体检"])
    }

    @Test func physicalExamRatioSizesTheList() throws {
        #expect(PhysicalExamRatio().slots(forPlaces: 3) == 3)
        // 1:1.5 -> 3 places x 3 / 2 = 4.5 -> 5 (half up); 1 place -> 1.5 -> 2.
        let r = PhysicalExamRatio(places: 2, candidates: 3)
        #expect(r.slots(forPlaces: 3) == 5 && r.slots(forPlaces: 1) == 2)
        // With 1:2, post P01 (1 place) lists both 2022110001 and 2022110002.
        let s = try scoredExam(ScoringConfig(physicalExamRatio: PhysicalExamRatio(places: 1, candidates: 2)))
        #expect(s.currentLists().physicalExam.filter { $0.postCode == "P01" }.map(\.examNumber) == ["2022110001", "2022110002"])
    }
}

/// The draw as TieDraw's documentation describes it, written again here.
func referenceDraw(seed: UInt64, postCode: String, tied: [String]) -> [String] {
    var h: UInt64 = 14_695_981_039_346_656_037
    let sorted = tied.sorted()
    for b in (postCode + "\n" + sorted.joined(separator: "\n")).utf8 { h = (h ^ UInt64(b)) &* 1_099_511_628_211 }
    var x = seed ^ h
    func next() -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    var a = sorted
    for i in stride(from: a.count - 1, to: 0, by: -1) {
        let bound = UInt64(i + 1)
        var r = next()
        while r < (0 &- bound) % bound { r = next() }
        a.swapAt(i, Int(r % bound))
    }
    return a
}
