import ExamPlan
import Foundation
import Testing
@testable import TimingCore

@Suite("Plan (R10) and eligibility learned from events")
struct PlanAndEligibilityTests {
    @Test("the state is built from the plan: rooms, candidates, both sittings")
    func fromPlan() throws {
        let s = try TimingState(plan: noticePlan())
        #expect(s.candidates.count == 6)
        #expect(s.candidates["2022110005"]?.roomID == "R02")
        #expect(s.candidates.values.allSatisfy { $0.roster == .pending })
        #expect(s.candidateSittings.count == 12)
        #expect(Set(s.rooms.keys) == ["mock/R01", "mock/R02", "formal/R01", "formal/R02"])
        #expect(Set(s.entries.keys) == ["mock", "formal"])
        #expect(s.nextDeadline() == t("2022-11-18 08:50"))
    }

    @Test("an invalid plan is refused with its problems")
    func invalidPlan() {
        var plan = noticePlan()
        plan.mockEntry = TimeWindow(opens: t("2022-11-19 11:05"), closes: t("2022-11-19 11:15"))
        #expect {
            _ = try TimingState(plan: plan)
        } throws: { e in
            guard let e = e as? TimingError else { return false }
            return e.code == .invalidArgument && e.message.hasPrefix("the exam plan is invalid: ")
                && e.message.contains("overlaps")
        }
    }

    @Test("roster, discipline and devices events are idempotent; older replays are ignored")
    func replays() throws {
        var s = try TimingState(plan: noticePlan())
        let n = "2022110001"
        let at = t("2022-11-17 10:00")
        let first = try s.applyRoster(examNumber: n, status: .confirmed, sourceSeq: 10, now: at)
        #expect(first == [.eligibilityChanged(examNumber: n, roomID: "R01", canEnter: true, blockers: [], at: at)])
        #expect(try s.applyRoster(examNumber: n, status: .confirmed, sourceSeq: 10, now: at).isEmpty)
        #expect(try s.applyRoster(examNumber: n, status: .pending, sourceSeq: 3, now: at).isEmpty)
        #expect(s.candidates[n]?.roster == .confirmed)

        let d = try s.applyDisqualification(examNumber: n, incidentID: "I-1", ground: 2, sourceSeq: 50, now: at)
        #expect(d == [.eligibilityChanged(examNumber: n, roomID: "R01", canEnter: false,
                                          blockers: ["is disqualified (incident I-1, ground 2, R42)"], at: at)])
        let snapshot = s
        #expect(try s.applyDisqualification(examNumber: n, incidentID: "I-1", ground: 2, sourceSeq: 50, now: at).isEmpty)
        #expect(s == snapshot)
        let r = try s.applyReinstatement(examNumber: n, incidentID: "I-1", sourceSeq: 51, now: at)
        #expect(r == [.eligibilityChanged(examNumber: n, roomID: "R01", canEnter: true, blockers: [], at: at)])
        // A replay of the disqualification after its reversal changes nothing.
        #expect(try s.applyDisqualification(examNumber: n, incidentID: "I-1", ground: 2, sourceSeq: 50, now: at).isEmpty)
        #expect(s.candidates[n]?.isDisqualified == false)

        _ = try s.applyDeviceFitness(examNumber: n, channel: .main, fit: false, reasons: ["iOS WeChat 8.0.20 is refused"],
                                     sourceSeq: 7, now: at)
        #expect(try s.applyDeviceFitness(examNumber: n, channel: .main, fit: true, reasons: [], sourceSeq: 6, now: at).isEmpty)
        #expect(s.candidates[n]?.mainDevice?.fit == false)
        #expect(s.candidates[n]?.secondaryDevice == nil)
    }

    @Test("eligibility inputs for unknown candidates or bad grounds are refused")
    func badEligibilityInputs() throws {
        var s = try TimingState(plan: noticePlan())
        expectRefusal(&s, .notFound, "candidate 2022119999 is not in the exam plan") {
            try $0.applyRoster(examNumber: "2022119999", status: .confirmed, now: t("2022-11-17 10:00"))
        }
        expectRefusal(&s, .invalidArgument, "ground: 11 is not one of the notice's grounds 1-10 (section 7, R40)") {
            try $0.applyDisqualification(examNumber: "2022110001", incidentID: "I-2", ground: 11, now: t("2022-11-17 10:00"))
        }
    }

    @Test("changes(since:) names the documents to write")
    func changes() throws {
        let s0 = try confirmedState()
        var s = s0
        _ = s.tick(now: t("2022-11-19 11:00"), seed: 3)
        _ = try s.enter(examNumber: "2022110001", sitting: .formal, channel: .main, deviceID: "m1", now: t("2022-11-19 11:01"))
        let ch = s.changes(since: s0)
        #expect(!ch.plan)
        #expect(ch.candidates.isEmpty)
        #expect(ch.entries == ["formal", "mock"])
        #expect(ch.candidateSittings.contains("formal/2022110001"))
        #expect(ch.rooms == ["mock/R01", "mock/R02"]) // the mock close drew (late) orders
        // Reassembled from documents, the state is the same.
        let back = TimingState(plan: s.plan, candidates: s.candidates, candidateSittings: s.candidateSittings,
                               rooms: s.rooms, entries: s.entries)
        #expect(back == s)
    }
}
