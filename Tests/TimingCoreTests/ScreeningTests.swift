import ExamPlan
import Foundation
import Testing
@testable import TimingCore

@Suite("Screening (R13)")
struct ScreeningTests {
    let n = "2022110001"

    @Test("a failed item yields a screening-failed event with the failed items as evidence")
    func failed() throws {
        var s = try confirmedState()
        try enterBoth(&s, n, at: t("2022-11-19 11:02"))
        var checks = ScreeningCheck.allPassed
        checks[2] = ScreeningCheck(.noEarphonesOrHeadset, passed: false, note: "white earbud in the left ear")
        let at = t("2022-11-19 11:03")
        let ev = try s.recordScreening(examNumber: n, sitting: .formal, identityConfirmed: true, checks: checks,
                                       proctor: "P01", now: at)
        #expect(ev == [.screeningFailed(sitting: .formal, examNumber: n, roomID: "R01", proctor: "P01", identityConfirmed: true,
                                        failed: [ScreeningCheck(.noEarphonesOrHeadset, passed: false, note: "white earbud in the left ear")],
                                        at: at)])
        #expect(ChecklistItem.noEarphonesOrHeadset.suggestedGround == 6)
        // Timing does not disqualify by itself.
        #expect(s.candidates[n]?.isDisqualified == false)
        // Put right, screened again: passes, and the last one counts.
        let again = try s.recordScreening(examNumber: n, sitting: .formal, identityConfirmed: true,
                                          checks: ScreeningCheck.allPassed, proctor: "E01", now: at.plus(60))
        #expect(again.map(\.topic) == ["timing.screening.passed"])
        #expect(s.candidateSittings["formal/\(n)"]?.screenings.count == 2)
        #expect(s.candidateSittings["formal/\(n)"]?.lastScreening?.passed == true)
    }

    @Test("identity not confirmed fails the screening")
    func identity() throws {
        var s = try confirmedState()
        try enterBoth(&s, n, at: t("2022-11-19 11:02"))
        let ev = try s.recordScreening(examNumber: n, sitting: .formal, identityConfirmed: false,
                                       checks: ScreeningCheck.allPassed, proctor: "P01", now: t("2022-11-19 11:03"))
        #expect(ev == [.screeningFailed(sitting: .formal, examNumber: n, roomID: "R01", proctor: "P01",
                                        identityConfirmed: false, failed: [], at: t("2022-11-19 11:03"))])
    }

    @Test("bad screenings are refused precisely")
    func refusals() throws {
        var s = try confirmedState()
        let now = t("2022-11-19 11:02")
        _ = s.tick(now: now, seed: 1)
        expectRefusal(&s, .failedPrecondition,
                      "candidate 2022110001 has not entered the formal interview main room (主房间); screening follows entry (R13)") {
            try $0.recordScreening(examNumber: n, sitting: .formal, identityConfirmed: true, checks: ScreeningCheck.allPassed,
                                   proctor: "P01", now: now)
        }
        try enterBoth(&s, n, at: now)
        expectRefusal(&s, .invalidArgument,
                      "checks: every checklist item exactly once (notice section 6): missing noMask; listed twice noSmartWatchOrBand") {
            var checks = ScreeningCheck.allPassed.filter { $0.item != .noMask }
            checks.append(ScreeningCheck(.noSmartWatchOrBand, passed: true))
            return try $0.recordScreening(examNumber: n, sitting: .formal, identityConfirmed: true, checks: checks,
                                          proctor: "P01", now: now)
        }
        expectRefusal(&s, .permissionDenied,
                      "P02 is not staff of room R01 (proctors: P01; panel: E01, E02, E03)") {
            try $0.recordScreening(examNumber: n, sitting: .formal, identityConfirmed: true, checks: ScreeningCheck.allPassed,
                                   proctor: "P02", now: now)
        }
    }
}
