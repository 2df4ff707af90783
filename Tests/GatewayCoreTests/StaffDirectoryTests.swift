import ExamPlan
import Foundation
import GatewayCore
import Testing

/// Staff accounts and sessions as a pure state machine (R62, R63).
@Suite struct StaffDirectoryTests {
    static func plan() -> ExamPlan {
        let t = Date(timeIntervalSince1970: 1_700_000_000)
        func w(_ a: Double, _ b: Double) -> TimeWindow { TimeWindow(opens: t.addingTimeInterval(a), closes: t.addingTimeInterval(b)) }
        return ExamPlan(exam: "test", confirmation: w(0, 10), mockEntry: w(20, 30), formalEntry: w(40, 50), publication: t.addingTimeInterval(100),
                        interview: InterviewDurations(),
                        rooms: [ExamRoom(id: "R01", name: "第1考场", panel: [Examiner(id: "R01-E1", name: "甲", chief: true), Examiner(id: "R01-E2", name: "乙")],
                                         candidates: ["2022110001"], proctors: ["P1"]),
                                ExamRoom(id: "R02", name: "第2考场", panel: [Examiner(id: "R02-E1", name: "丙", chief: true)],
                                         candidates: ["2022110002"], proctors: ["P1", "R02-P1"])])
    }

    @Test func seatsComeFromRoomsPanelsAndOps() {
        let seats = StaffSeat.seats(of: Self.plan(), ops: ["ops", "ops2"])
        let byID = Dictionary(uniqueKeysWithValues: seats.map { ($0.id, $0) })
        #expect(byID["R01-E1"]?.role == .chief)
        #expect(byID["R01-E2"]?.role == .examiner)
        #expect(byID["P1"]?.rooms == ["R01", "R02"])  // one proctor, two rooms
        #expect(byID["R02-P1"]?.role == .proctor)
        #expect(byID["ops2"]?.role == .ops)
        #expect(seats.count == 7)
    }

    @Test func syncAddsUpdatesAndRetires() throws {
        var d = StaffDirectory()
        let first = d.sync(StaffSeat.seats(of: Self.plan(), ops: ["ops"]))
        #expect(first.changed.count == 6)
        #expect(d.sync(StaffSeat.seats(of: Self.plan(), ops: ["ops"])).changed.isEmpty)  // idempotent
        _ = try? d.issueCode(id: "R02-P1", digest: "d", reset: false, now: 0)
        var p = Self.plan()
        p.rooms[1].proctors = ["P1"]
        let r = d.sync(StaffSeat.seats(of: p, ops: ["ops"]))
        #expect(r.changed.map(\.id) == ["R02-P1"])
        #expect(d.accounts["R02-P1"]?.retired == true)
        #expect(try d.check(id: "R02-P1", withCode: true, now: 1) == .refuse)  // answered as a wrong code (issue 22)
    }

    @Test func firstSignInNeedsTheCodeThenThePassword() throws {
        var d = StaffDirectory()
        _ = d.sync(StaffSeat.seats(of: Self.plan(), ops: ["ops"]))
        // No password yet, no code yet: nothing to verify, answered as a wrong secret (issue 22).
        #expect(try d.check(id: "ops", withCode: false, now: 1) == .refuse)
        #expect(try d.check(id: "ops", withCode: true, now: 1) == .refuse)
        #expect(d.waitingForCode(now: 1).contains("ops"))
        let (a, _) = try d.issueCode(id: "ops", digest: "code-digest", reset: false, now: 1)
        #expect(a.codeExpiresMs > 1)
        // Asking again does not void the code handed out, unless renewing or once it expired.
        #expect(!d.waitingForCode(now: 2).contains("ops"))
        #expect(d.waitingForCode(now: 2, renew: true).contains("ops"))
        #expect(d.waitingForCode(now: a.codeExpiresMs).contains("ops"))
        #expect(try d.check(id: "ops", withCode: true, now: 2) == .code(digest: "code-digest"))
        #expect(try d.check(id: "ops", withCode: true, now: a.codeExpiresMs) == .refuse)  // expired
        let p = PasswordRecord(scheme: "s", salt: [1], hash: [2])
        let opened = d.signedIn(id: "ops", newPassword: p, session: "sess", csrfDigest: "c", now: 3)
        #expect(opened?.account.codeDigest == nil && opened != nil)  // the code is spent
        #expect(try d.check(id: "ops", withCode: true, now: 4) == .refuse)  // the code is spent
        #expect(try d.check(id: "ops", withCode: false, now: 4) == .password(p))
        #expect(throws: StaffCodeError.passwordSet("ops")) { try d.issueCode(id: "ops", digest: "x", reset: false, now: 5) }
        // A reset clears the password and ends the sessions.
        let reset = try d.issueCode(id: "ops", digest: "new", reset: true, now: 5)
        #expect(reset.ended == ["sess"])
        #expect(d.session("sess", now: 6) == nil)
        #expect(throws: StaffCodeError.noSuchAccount("nobody")) { try d.issueCode(id: "nobody", digest: "x", reset: false, now: 5) }
        #expect(try d.check(id: "nobody", withCode: false, now: 1) == .unknown)
    }

    @Test func locksAfterRepeatedFailuresAndUnlocksLater() throws {
        var d = StaffDirectory()
        _ = d.sync(StaffSeat.seats(of: Self.plan(), ops: ["ops"]))
        _ = try d.issueCode(id: "R01-E2", digest: "c", reset: false, now: 0)
        _ = d.signedIn(id: "R01-E2", newPassword: PasswordRecord(scheme: "s", salt: [], hash: [1]), session: "s1", csrfDigest: "c", now: 0)
        for i in 1..<d.policy.maxFailures {
            #expect(d.failed(id: "R01-E2", now: 1000)?.isLocked(now: 1000) == false, "failure \(i) does not lock yet")
        }
        let lockedNow = d.failed(id: "R01-E2", now: 1000)
        let locked = try #require(lockedNow)
        #expect(locked.isLocked(now: 1000))
        #expect(throws: SignInError.locked(untilMs: 1000 + Int64(d.policy.lockSeconds) * 1000)) {
            try d.check(id: "R01-E2", withCode: false, now: 2000)
        }
        #expect((try? d.check(id: "R01-E2", withCode: false, now: locked.lockedUntilMs)) != nil)
        #expect(SignInError.locked(untilMs: 61_000).edgeError(now: 1_000).retryAfterSeconds == 60)
    }

    /// Issue 22: an unknown id locks after as many failures as an account,
    /// for as long, and the table stays bounded.
    @Test func unknownIdsLockAsAccountsDoAndTheTableIsBounded() throws {
        var d = StaffDirectory()
        _ = d.sync(StaffSeat.seats(of: Self.plan(), ops: ["ops"]))
        var decoys = DecoyLocks(capacity: 8)
        for i in 1..<d.policy.maxFailures {
            #expect(decoys.failed("k", now: 1000, policy: d.policy) == nil, "failure \(i)")
            #expect(d.failed(id: "ops", now: 1000)?.isLocked(now: 1000) == false)
        }
        let until = decoys.failed("k", now: 1000, policy: d.policy)
        #expect(until == d.failed(id: "ops", now: 1000)?.lockedUntilMs && until != nil, "the same lock as an account's")
        #expect(decoys.lockedUntil("k", now: 2000) == until)
        #expect(decoys.lockedUntil("k", now: until!) == nil)
        for i in 0..<100 { _ = decoys.failed("other-\(i)", now: 3000 + Int64(i), policy: d.policy) }
        #expect(decoys.count <= 8)
    }

    /// A list is cut to some candidates' rows byte for byte; a file whose
    /// shape is unknown is refused, never passed on whole (issue 22).
    @Test func listsAreFilteredByExamNumberOrRefused() throws {
        let csv = Data([0xEF, 0xBB, 0xBF] + Array("a,准考证号,b\r\n1,\"X\",\"q\"\"\r\nz\"\r\n2,Y,w\r\n".utf8))
        let kept = try ListFilter.csv(csv, keep: ["X"])
        #expect(kept == Data([0xEF, 0xBB, 0xBF] + Array("a,准考证号,b\r\n1,\"X\",\"q\"\"\r\nz\"\r\n".utf8)))
        #expect(try ListFilter.csv(csv, keep: []) == Data([0xEF, 0xBB, 0xBF] + Array("a,准考证号,b\r\n".utf8)))
        #expect(throws: ListFilter.Unreadable.self) { try ListFilter.csv(Data("a,b\r\n1,2\r\n".utf8), keep: ["1"]) }
        #expect(throws: ListFilter.Unreadable.self) { try ListFilter.csv(Data("准考证号\r\n\"1\r\n".utf8), keep: ["1"]) }
        #expect(throws: ListFilter.Unreadable.self) { try ListFilter.json(Data(#"{"rows":[]}"#.utf8), keep: ["1"]) }
    }

    @Test func sessionsExpireAndAreBoundedPerAccount() throws {
        var d = StaffDirectory()
        d.policy.sessionsPerAccount = 2
        _ = d.sync(StaffSeat.seats(of: Self.plan(), ops: ["ops"]))
        let p = PasswordRecord(scheme: "s", salt: [], hash: [1])
        _ = d.signedIn(id: "ops", newPassword: p, session: "a", csrfDigest: "1", now: 1)
        _ = d.signedIn(id: "ops", newPassword: nil, session: "b", csrfDigest: "2", now: 2)
        let thirdNow = d.signedIn(id: "ops", newPassword: nil, session: "c", csrfDigest: "3", now: 3)
        let third = try #require(thirdNow)
        #expect(third.ended == ["a"])  // the oldest ends first
        #expect(d.session("b", now: 4)?.1.id == "ops")
        let expiry = try #require(d.sessions["c"]).expiresMs
        #expect(d.session("c", now: expiry) == nil)
        #expect(Set(d.expireSessions(now: expiry)) == ["b", "c"])
        #expect(d.sessions.isEmpty)
    }

    @Test func newPasswordsMustBeLongAndNotTheID() {
        let d = StaffDirectory()
        #expect(throws: SignInError.self) { try d.checkNewPassword("short", id: "ops") }
        #expect(throws: SignInError.self) { try d.checkNewPassword("my-R01-P1-password", id: "R01-P1") }
        #expect((try? d.checkNewPassword("a long enough secret", id: "R01-P1")) != nil)
    }

    @Test func staffBodiesAreCheckedWithWhere() {
        for bad in ["100.01", "-1", "1e2", "87.555", "", "abc", "101", "١٢"] {
            #expect(throws: EdgeError.self, "\(bad)") { try ScoreBody(score: bad).check() }
        }
        for good in ["0", "100", "100.00", "87.5", "87.50", "9.05"] {
            #expect((try? ScoreBody(score: good).check()) != nil, "\(good)")
        }
        #expect(throws: EdgeError.invalid("ground: 11 is not one of the ten grounds 1..10 (notice section 7, R41)")) {
            try IncidentBody(examNumber: "2022110001", ground: 11, note: "x", sitting: nil).check()
        }
        #expect(throws: EdgeError.self) { try IncidentBody(examNumber: "2022110001", ground: 1, note: "  ", sitting: nil).check() }
        #expect(throws: EdgeError.self) { try DecisionBody(disqualify: true, reason: "").check() }
        #expect(throws: EdgeError.self) {
            try ScreeningBody(examNumber: "2022110001", sitting: "formal", identityConfirmed: true,
                              checklist: [ChecklistEntryBody(item: "no_such_item", passed: true)]).check()
        }
        #expect(StaffSignInBody.normalizeCode("abcd-efgh jk") == "ABCDEFGHJK")
    }
}
