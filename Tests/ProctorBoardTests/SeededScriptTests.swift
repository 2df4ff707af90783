import DemoKit
import ExamDay
import Testing

/// The big day's script (issue 15): the same seed gives the same day, so a
/// crash campaign can be compared with an undisturbed run.
@Suite("a seeded exam-day script")
struct SeededScriptTests {
    let roster = DemoRoster(count: 2_000, seed: 7, posts: DemoRoster.posts(for: 2_000))

    @Test func theSameSeedGivesTheSameDayAndAnotherSeedAnother() {
        let a = ExamDayScript.seeded(roster, seed: 1), b = ExamDayScript.seeded(roster, seed: 1), c = ExamDayScript.seeded(roster, seed: 2)
        #expect(a.summary == b.summary)
        #expect(a.bothPhonesLost == b.bothPhonesLost && a.decline == b.decline && a.endsEarly == b.endsEarly)
        #expect(a.decline != c.decline)
    }

    @Test func eachCandidateMeetsOneFaultAtMostAndOnlyIfTheyCome() {
        let s = ExamDayScript.seeded(roster, seed: 20221117)
        let faults = [s.absentFormal, s.failScreening, s.bothPhonesLost, s.droppedOnce, s.incomingCall, s.bannedVersion, s.toldName, s.endsEarly]
        for c in roster.candidates {
            let e = c.examNumber
            #expect(faults.filter { $0.contains(e) }.count <= 1, "\(e) meets more than one fault")
            if s.decline.contains(e) || s.forget.contains(e) {
                #expect(faults.allSatisfy { !$0.contains(e) } && !s.skipMock.contains(e), "\(e) does not come but has a fault")
            }
        }
        // Rates per thousand (Rates()): about 40 decline, 10 absent, 5 lose both phones of 2,000 in 1,000.
        #expect((40...120).contains(s.decline.count), "\(s.decline.count) decline")
        #expect((3...25).contains(s.bothPhonesLost.count), "\(s.bothPhonesLost.count) lose both phones")
        #expect(DemoRoster.posts(for: 2_000).count == 40)
    }
}
