import Foundation
import Testing
import ExamPlan
@testable import DisciplineCore

@Suite("Decisions (R42) and the log (R43)")
struct DecisionTests {
    @Test func disqualificationBeforeTheInterviewCancelsTheQualification() throws {
        var s = try seeded()
        let i = try s.report(staffReport(ground: 2, evidence: "face does not match the ID photo"), by: proctor, now: beforeInterview).incident
        let r = try s.decide(incidentID: i.id, outcome: .disqualify, reason: "stand-in confirmed", by: chiefR01, now: beforeInterview)
        let d = r.decision
        #expect(d.id == "DEC-000002" && d.seq == 2)
        #expect(d.outcome == .disqualify && d.effect == .qualificationCancelled)
        #expect(d.decidedBy == chiefR01 && !d.automatic && d.supersedes == nil && d.decidedAt == beforeInterview)
        let standing = CandidateStanding(examNumber: "2022110001", standing: .qualificationCancelled, activeDisqualifications: ["DEC-000002"])
        #expect(r.standing == standing)
        #expect(r.events == [.incidentDecided(decision: d, standing: standing)])
        #expect(r.events.map(\.topic) == ["discipline.incident.decided"])
        #expect(try s.standing(of: "2022110001") == standing)
        #expect(try s.incidentRecord(i.id).status == .disqualified)
        #expect(try s.standing(of: "2022110002").standing == .qualified)
    }

    @Test func disqualificationAfterTheInterviewStartedVoidsTheScore() throws {
        var s = try seeded()
        try s.applyInterview(examNumber: "2022110001", sitting: .formal, startedAt: bj("2022-11-19 11:12:00"))
        let i = try s.report(staffReport(ground: 8, evidence: "answers a call"), by: proctor, now: duringInterview).incident
        let during = try s.decide(incidentID: i.id, outcome: .disqualify, reason: "answered a call", by: chiefR01, now: duringInterview)
        #expect(during.decision.effect == .scoreVoided)
        #expect(during.standing.standing == .scoreVoided)

        // After the end, too.
        try s.applyInterview(examNumber: "2022110002", sitting: .formal, startedAt: bj("2022-11-19 11:22:00"), endedAt: bj("2022-11-19 11:32:00"))
        let j = try s.report(staffReport("2022110002", ground: 3, evidence: "the interview video is on a public site"), by: proctor, now: bj("2022-11-20 09:00")).incident
        #expect(try s.decide(incidentID: j.id, outcome: .disqualify, reason: "spread the video", by: chiefR01, now: bj("2022-11-20 10:00")).decision.effect == .scoreVoided)
    }

    /// A start timing announced for later, or only the mock test, is not
    /// the formal interview having started.
    @Test func mockTestAndFutureStartDoNotCount() throws {
        var s = try seeded()
        try s.applyInterview(examNumber: "2022110001", sitting: .mock, startedAt: bj("2022-11-18 09:10"), endedAt: bj("2022-11-18 09:20"))
        try s.applyInterview(examNumber: "2022110001", sitting: .formal, startedAt: bj("2022-11-19 11:30"))
        let i = try s.report(staffReport(), by: proctor, now: beforeInterview).incident
        #expect(try s.decide(incidentID: i.id, outcome: .disqualify, reason: "r", by: chiefR01, now: beforeInterview).decision.effect == .qualificationCancelled)
    }

    @Test func dismissalChangesNothing() throws {
        var s = try seeded()
        let i = try s.report(staffReport(ground: 5), by: proctor, now: beforeInterview).incident
        let r = try s.decide(incidentID: i.id, outcome: .dismiss, reason: "the scarf is ordinary", by: chiefR01, now: beforeInterview)
        #expect(r.decision.outcome == .dismiss && r.decision.effect == .none)
        #expect(r.standing == CandidateStanding(examNumber: "2022110001", standing: .qualified, activeDisqualifications: []))
        #expect(try s.incidentRecord(i.id).status == .dismissed)
    }

    @Test func onlyAChiefExaminerDecides() throws {
        var s = try seeded()
        let i = try s.report(staffReport(), by: proctor, now: beforeInterview).incident
        expectRefused(s, DisciplineError(.permissionDenied, "P01 (role proctor) may not decide incident INC-000001: only a chief examiner decides incidents (R42)")) {
            try $0.decide(incidentID: i.id, outcome: .disqualify, reason: "seen", by: proctor, now: beforeInterview)
        }
        expectRefused(s, DisciplineError(.permissionDenied, "E02 (role examiner) may not decide incident INC-000001: only a chief examiner decides incidents (R42)")) {
            try $0.decide(incidentID: i.id, outcome: .dismiss, reason: "seen", by: examinerE02, now: beforeInterview)
        }
        // The chief of another room may not decide for this room's candidate.
        expectRefused(s, DisciplineError(.permissionDenied, "E11 may not decide incident INC-000001: 2022110001 sits in room R01, whose chief examiner is E01")) {
            try $0.decide(incidentID: i.id, outcome: .disqualify, reason: "seen", by: chiefR02, now: beforeInterview)
        }
        // A principal with the role but another id than the panel's chief.
        expectRefused(s, DisciplineError(.permissionDenied, "E02 may not decide incident INC-000001: 2022110001 sits in room R01, whose chief examiner is E01")) {
            try $0.decide(incidentID: i.id, outcome: .disqualify, reason: "seen", by: Principal(id: "E02", role: .chiefExaminer), now: beforeInterview)
        }
        // Configured off, the role suffices.
        s.config.chiefMustSitOnCandidatePanel = false
        #expect(try s.decide(incidentID: i.id, outcome: .dismiss, reason: "r", by: chiefR02, now: beforeInterview).decision.decidedBy == chiefR02)
    }

    @Test func withoutAPlanTheRoleAloneIsChecked() throws {
        var s = DisciplineState()
        try s.applyCandidate(examNumber: "2022110001", name: "张三")
        let i = try s.report(staffReport(), by: proctor, now: beforeInterview).incident
        #expect(try s.decide(incidentID: i.id, outcome: .dismiss, reason: "r", by: chiefR02, now: beforeInterview).decision.outcome == .dismiss)
    }

    @Test func decidingADecidedIncidentNeedsAReversal() throws {
        var s = try seeded()
        let i = try s.report(staffReport(), by: proctor, now: beforeInterview).incident
        _ = try s.decide(incidentID: i.id, outcome: .dismiss, reason: "nobody there", by: chiefR01, now: beforeInterview)
        for outcome in Outcome.allCases {
            expectRefused(s, DisciplineError(.failedPrecondition, "incident INC-000001 was already decided by DEC-000002 (dismiss, 2022-11-19 11:05:00 Beijing time); a different decision needs a reversal request for DEC-000002")) {
                try $0.decide(incidentID: i.id, outcome: outcome, reason: "again", by: chiefR01, now: duringInterview)
            }
        }
    }

    @Test func badDecisionRequests() throws {
        var s = try seeded()
        let i = try s.report(staffReport(), by: proctor, now: beforeInterview).incident
        expectRefused(s, DisciplineError(.notFound, "incident INC-000099 does not exist")) {
            try $0.decide(incidentID: "INC-000099", outcome: .dismiss, reason: "r", by: chiefR01, now: beforeInterview)
        }
        expectRefused(s, DisciplineError(.invalidArgument, "reason: is empty")) {
            try $0.decide(incidentID: i.id, outcome: .dismiss, reason: " ", by: chiefR01, now: beforeInterview)
        }
        expectRefused(s, DisciplineError(.notFound, "decision DEC-000099 does not exist")) {
            try $0.reverse(decisionID: "DEC-000099", reason: "r", by: chiefR01, now: beforeInterview)
        }
    }

    @Test func reversalAndReversalOfTheReversal() throws {
        var s = try seeded()
        let i = try s.report(staffReport(ground: 1), by: proctor, now: beforeInterview).incident
        let first = try s.decide(incidentID: i.id, outcome: .disqualify, reason: "a person behind", by: chiefR01, now: beforeInterview).decision

        let rev = try s.reverse(decisionID: first.id, reason: "it was a poster, not a person", by: chiefR01, now: bj("2022-11-19 11:08:00"))
        let d2 = rev.decision
        #expect(d2.id == "DEC-000003" && d2.supersedes == first.id && d2.isReversal)
        #expect(d2.outcome == .dismiss && d2.effect == .restored)
        #expect(rev.standing == CandidateStanding(examNumber: "2022110001", standing: .qualified, activeDisqualifications: []))
        #expect(rev.events == [.decisionReversed(decision: d2, reversed: first, standing: rev.standing)])
        #expect(rev.events.map(\.topic) == ["discipline.decision.reversed"])
        #expect(s.decisions[first.id] == first, "the reversed decision stays as it was (R43)")

        // The old decision is no longer in force: it cannot be reversed again.
        expectRefused(s, DisciplineError(.failedPrecondition, "decision DEC-000002 on incident INC-000001 is no longer in force: DEC-000003 superseded it; reverse DEC-000003 instead")) {
            try $0.reverse(decisionID: first.id, reason: "again", by: chiefR01, now: duringInterview)
        }
        // Only a chief reverses.
        expectRefused(s, DisciplineError(.permissionDenied, "P01 (role proctor) may not reverse decision DEC-000003 on incident INC-000001: only a chief examiner decides incidents (R42)")) {
            try $0.reverse(decisionID: d2.id, reason: "r", by: proctor, now: duringInterview)
        }

        // Reversing the reversal, now during the interview: the score goes.
        try s.applyInterview(examNumber: "2022110001", sitting: .formal, startedAt: bj("2022-11-19 11:12:00"))
        let rev2 = try s.reverse(decisionID: d2.id, reason: "the recording shows a person after all", by: chiefR01, now: duringInterview)
        #expect(rev2.decision.id == "DEC-000004" && rev2.decision.supersedes == d2.id)
        #expect(rev2.decision.outcome == .disqualify && rev2.decision.effect == .scoreVoided)
        #expect(rev2.standing == CandidateStanding(examNumber: "2022110001", standing: .scoreVoided, activeDisqualifications: ["DEC-000004"]))

        let record = try s.incidentRecord(i.id)
        #expect(record.decisions.map(\.id) == ["DEC-000002", "DEC-000003", "DEC-000004"])
        #expect(record.status == .disqualified && record.wasReversed)
        #expect(s.log.map(\.seq) == [1, 2, 3, 4])
    }

    @Test func reversingADismissalDisqualifies() throws {
        var s = try seeded()
        let i = try s.report(staffReport(ground: 7), by: proctor, now: beforeInterview).incident
        let d = try s.decide(incidentID: i.id, outcome: .dismiss, reason: "a clock, not a device", by: chiefR01, now: beforeInterview).decision
        let r = try s.reverse(decisionID: d.id, reason: "a smart watch", by: chiefR01, now: beforeInterview)
        #expect(r.decision.outcome == .disqualify && r.decision.effect == .qualificationCancelled)
    }

    @Test func reversingOneOfTwoDisqualificationsKeepsTheOther() throws {
        var s = try seeded()
        let a = try s.report(staffReport(ground: 1), by: proctor, now: beforeInterview).incident
        let b = try s.report(staffReport(ground: 6, evidence: "reads notes"), by: proctor, now: beforeInterview).incident
        let da = try s.decide(incidentID: a.id, outcome: .disqualify, reason: "r1", by: chiefR01, now: beforeInterview).decision
        let db = try s.decide(incidentID: b.id, outcome: .disqualify, reason: "r2", by: chiefR01, now: beforeInterview).decision
        #expect(try s.standing(of: "2022110001").activeDisqualifications == [da.id, db.id])
        let r = try s.reverse(decisionID: da.id, reason: "mistaken", by: chiefR01, now: beforeInterview)
        #expect(r.decision.effect == .restored)
        #expect(r.standing == CandidateStanding(examNumber: "2022110001", standing: .qualificationCancelled, activeDisqualifications: [db.id]))
    }

    // MARK: Automatic ground 9

    @Test func ground9DecidesItselfWhenConfigured() throws {
        var s = try seeded(DisciplineConfig(autoDecideGround9: true))
        try s.applyInterview(examNumber: "2022110001", sitting: .formal, startedAt: bj("2022-11-19 11:12:00"))
        let r = try s.report(signalReport(), now: duringInterview)
        let d = try #require(r.decision)
        #expect(d.automatic && d.decidedBy == Principal.system && d.decidedBy == Principal(id: "discipline", role: .service))
        #expect(d.outcome == .disqualify && d.effect == .scoreVoided && d.incidentID == r.incident.id && d.seq == 2)
        #expect(d.reason.contains("autoDecideGround9"))
        #expect(r.events.map(\.topic) == ["discipline.incident.reported", "discipline.incident.decided"])
        #expect(r.events[1] == .incidentDecided(decision: d, standing: CandidateStanding(examNumber: "2022110001", standing: .scoreVoided, activeDisqualifications: [d.id])))
        #expect(s.openIncidents().isEmpty)

        // A staff report on ground 9 is a ground-9 incident too.
        let staff = try s.report(staffReport("2022110002", ground: 9, evidence: "both feeds frozen"), by: proctor, now: beforeInterview)
        #expect(staff.decision?.effect == .qualificationCancelled)
        // Other grounds stay open.
        #expect(try s.report(staffReport("2022110003", ground: 8), by: proctor, now: duringInterview).decision == nil)

        // The chief may reverse an automatic decision.
        let rev = try s.reverse(decisionID: d.id, reason: "the outage was on our side", by: chiefR01, now: duringInterview)
        #expect(rev.decision.effect == .restored && rev.standing.standing == .qualified)
    }

    @Test func ground9StaysOpenWhenNotConfigured() throws {
        var s = try seeded(DisciplineConfig(autoDecideGround9: false))
        let r = try s.report(signalReport(), now: duringInterview)
        #expect(r.decision == nil && r.events.count == 1)
        #expect(s.openIncidents().map(\.incident.id) == [r.incident.id])
        #expect(try s.decide(incidentID: r.incident.id, outcome: .dismiss, reason: "the mesh was down", by: chiefR01, now: duringInterview).decision.effect == .none)
    }

    @Test func screeningDecidesItselfWhenConfigured() throws {
        var s = try seeded(DisciplineConfig(autoDecideScreening: true))
        let r = try s.report(ScreeningReport(examNumber: "2022110003", sourceKey: "timing#3", sitting: .formal,
                                             failedItems: ["id_card_matches_face"], screenedAt: beforeInterview), now: beforeInterview)
        #expect(r.decision?.effect == .qualificationCancelled && r.decision?.automatic == true)
        #expect(r.decision?.reason.contains("4(三)2(1)") == true)
    }

    // MARK: The log (R43)

    @Test func theLogIsAppendOnly() throws {
        var s = try seeded(DisciplineConfig(autoDecideGround9: true))
        var seen: [LogEntry] = []
        func check() {
            let log = s.log
            #expect(Array(log.prefix(seen.count)) == seen, "an earlier entry changed")
            #expect(log.map(\.seq) == Array(1...log.count), "seq runs 1, 2, 3... without gaps")
            seen = log
        }
        let a = try s.report(staffReport(), by: proctor, now: beforeInterview).incident; check()
        let da = try s.decide(incidentID: a.id, outcome: .disqualify, reason: "r", by: chiefR01, now: beforeInterview).decision; check()
        let ra = try s.reverse(decisionID: da.id, reason: "undo", by: chiefR01, now: beforeInterview).decision; check()
        _ = try s.reverse(decisionID: ra.id, reason: "redo", by: chiefR01, now: beforeInterview); check()
        _ = try s.report(signalReport("2022110002"), now: duringInterview); check()
        _ = try s.report(signalReport("2022110002"), now: duringInterview); check()
        #expect(s.lastSeq == 6 && s.incidents.count == 2 && s.decisions.count == 4)
    }

    @Test func queries() throws {
        var s = try seeded()
        let a = try s.report(staffReport("2022110001", ground: 1), by: proctor, now: beforeInterview).incident
        let b = try s.report(staffReport("2022110001", ground: 6), by: proctor, now: beforeInterview).incident
        let c = try s.report(signalReport("2022110002"), now: duringInterview).incident
        let d = try s.report(staffReport("2022110003", ground: 1), by: proctor, now: beforeInterview).incident
        let da = try s.decide(incidentID: a.id, outcome: .disqualify, reason: "r", by: chiefR01, now: beforeInterview).decision
        _ = try s.reverse(decisionID: da.id, reason: "undo", by: chiefR01, now: beforeInterview)
        _ = try s.decide(incidentID: c.id, outcome: .disqualify, reason: "r", by: chiefR01, now: duringInterview)

        func ids(_ q: IncidentQuery) throws -> [String] { try s.incidents(matching: q).map(\.incident.id) }
        #expect(try ids(IncidentQuery()) == [a.id, b.id, c.id, d.id])
        #expect(try ids(IncidentQuery(examNumber: "2022110001")) == [a.id, b.id])
        #expect(try ids(IncidentQuery(ground: 1)) == [a.id, d.id])
        #expect(try ids(IncidentQuery(ground: 9)) == [c.id])
        #expect(try ids(IncidentQuery(status: .open)) == [b.id, d.id])
        #expect(try ids(IncidentQuery(status: .decided)) == [a.id, c.id])
        #expect(try ids(IncidentQuery(status: .disqualified)) == [c.id])
        #expect(try ids(IncidentQuery(status: .dismissed)) == [a.id])
        #expect(try ids(IncidentQuery(status: .reversed)) == [a.id])
        #expect(try ids(IncidentQuery(examNumber: "2022110001", ground: 1, status: .reversed)) == [a.id])
        #expect(s.openIncidents().map(\.incident.id) == [b.id, d.id])
        #expect(try s.incidents(matching: IncidentQuery(examNumber: "2022110001"))[0].decisions.count == 2)
        // No interview start heard for 2022110002: the qualification goes.
        #expect(try s.standing(of: "2022110002").standing == .qualificationCancelled)

        #expect(throws: DisciplineError(.invalidArgument, "ground: 11 is not a ground of section 7 of the notice (1-10)")) {
            try s.incidents(matching: IncidentQuery(ground: 11))
        }
        #expect(throws: DisciplineError(.notFound, "candidate 2022119999 is not on the roster")) {
            try s.incidents(matching: IncidentQuery(examNumber: "2022119999"))
        }
        #expect(throws: DisciplineError(.notFound, "candidate 2022119999 is not on the roster")) {
            try s.standing(of: "2022119999")
        }
    }

    // MARK: Persistence

    @Test func stateRoundTripsAndRestoresFromEntities() throws {
        var s = try seeded(DisciplineConfig(autoDecideGround9: true))
        try s.applyInterview(examNumber: "2022110001", sitting: .formal, startedAt: bj("2022-11-19 11:12:00"))
        let a = try s.report(staffReport(requestID: "q1"), by: proctor, now: beforeInterview).incident
        let d = try s.decide(incidentID: a.id, outcome: .disqualify, reason: "r", by: chiefR01, now: beforeInterview).decision
        _ = try s.reverse(decisionID: d.id, reason: "undo", by: chiefR01, now: beforeInterview)
        _ = try s.report(signalReport("2022110002"), now: duringInterview)

        let data = try JSONEncoder().encode(s)
        #expect(try JSONDecoder().decode(DisciplineState.self, from: data) == s)

        let restored = try DisciplineState(restoring: s.config, plan: s.plan, candidates: Array(s.candidates.values),
                                           interviews: Array(s.interviews.values), incidents: Array(s.incidents.values),
                                           decisions: Array(s.decisions.values))
        #expect(restored == s)

        var broken = Array(s.decisions.values)
        broken.removeAll { $0.id == "DEC-000002" }
        #expect(throws: DisciplineError(.failedPrecondition, "stored log: decision DEC-000003 supersedes DEC-000002, but INC-000001's decision in force was none")) {
            try DisciplineState(restoring: s.config, plan: s.plan, candidates: [], interviews: [],
                                incidents: Array(s.incidents.values), decisions: broken)
        }
        // Events are JSON too, for the outbox.
        let events = try s.report(staffReport(), by: proctor, now: duringInterview).events
        #expect(try JSONDecoder().decode([DisciplineEvent].self, from: JSONEncoder().encode(events)) == events)
    }
}
