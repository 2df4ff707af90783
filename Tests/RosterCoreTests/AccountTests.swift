import Foundation
import Testing
import ExamPlan
@testable import RosterCore

/// R2: login by phone, default password, changes, lock, sessions.
@Suite struct AccountTests {
    let r1 = candidateRow(1)
    var defaultPassword: String { String(r1.id.suffix(6)) }

    @Test func defaultPasswordIsTheIDsLastSixWithXInEitherCase() throws {
        var s = try seeded(4)
        let out = try s.login(phone: r1.phone, password: defaultPassword, tokenDigest: digest(1), now: inWindow, hasher: hasher)
        let session = try out.session()
        // The plan is known: the session lasts to the end of the formal day.
        #expect(session == Session(examNumber: "2022110001", expires: bj("2022-11-20 00:00:00")))
        #expect(out.events == [.loggedIn(examNumber: "2022110001", sessionExpires: session.expires, at: inWindow)])
        #expect(try s.authenticate(tokenDigest: digest(1), now: inWindow) == "2022110001")
        // Nothing about the default password is stored.
        #expect(s.candidates["2022110001"]?.account.password == nil)

        // An ID ending in X: x and X both work.
        var t = RosterState()
        var seq = 0
        var id = residentID(seq: 0)
        while id.last != "X" { seq += 1; id = residentID(seq: seq) }
        let row = Row(exam: "X1", name: "张三", id: id, phone: "13900000000")
        _ = try t.importCSV(csv([row]), fileName: "x.csv", now: beforeWindow)
        for (n, pw) in [String(id.suffix(6)), String(id.suffix(6)).lowercased()].enumerated() {
            #expect(try t.login(phone: row.phone, password: pw, tokenDigest: digest(100 + n), now: inWindow, hasher: hasher).session().examNumber == "X1")
        }
    }

    @Test func unknownPhoneAndBadInputChangeNothing() throws {
        var s = try seeded(2)
        let e = expectRefusal(&s, .unauthenticated, "手机号或密码错误") { s throws(RosterError) in
            _ = try s.login(phone: "13999999999", password: "123456", tokenDigest: digest(1), now: inWindow, hasher: hasher)
        }
        // The same words as a wrong password: no telling who is on the list.
        let wrong = try s.login(phone: r1.phone, password: "000000", tokenDigest: digest(1), now: inWindow, hasher: hasher)
        guard case .wrongPassword(let we, _) = wrong else { Issue.record("\(wrong)"); return }
        #expect(we == e)
        expectRefusal(&s, .invalidArgument, "empty") { s throws(RosterError) in
            _ = try s.login(phone: r1.phone, password: "", tokenDigest: digest(1), now: inWindow, hasher: hasher)
        }
        expectRefusal(&s, .invalidArgument, "token digest") { s throws(RosterError) in
            _ = try s.login(phone: r1.phone, password: "x", tokenDigest: "", now: inWindow, hasher: hasher)
        }
        try logIn(&s, 1, token: 5)
        expectRefusal(&s, .alreadyExists) { s throws(RosterError) in
            _ = try s.login(phone: candidateRow(2).phone, password: String(candidateRow(2).id.suffix(6)), tokenDigest: digest(5), now: inWindow, hasher: hasher)
        }
    }

    /// maxFailures (5) wrong passwords are tolerated; the 6th locks for 900 s.
    @Test func bruteForceLocksOnTheNPlusFirstWrongPassword() throws {
        var s = try seeded(2)
        var t = inWindow
        func attempt(_ pw: String, token: Int) throws -> LoginOutcome {
            try s.login(phone: r1.phone, password: pw, tokenDigest: digest(token), now: t, hasher: hasher)
        }
        // Edge 1: five wrong, then the right one still works and resets the count.
        for k in 1...5 {
            let out = try attempt("wrong\(k)", token: k)
            #expect(out.events == [.loginFailed(examNumber: "2022110001", consecutiveFailures: k, attemptsLeft: 5 - k, at: t)])
            t += 1
        }
        _ = try attempt(defaultPassword, token: 50).session()
        #expect(s.candidates["2022110001"]?.account.consecutiveFailures == 0)

        // Edge 2: six wrong: the sixth locks.
        for k in 1...5 { _ = try attempt("wrong\(k)", token: 10 + k); t += 1 }
        let lockedAt = t
        let sixth = try attempt("wrong6", token: 16)
        let until = lockedAt.addingTimeInterval(900)
        #expect(sixth.events == [.accountLocked(examNumber: "2022110001", consecutiveFailures: 6, until: until, at: lockedAt)])
        #expect(throws: RosterError.self) { try sixth.session() }
        #expect(BeijingTime.short(until) == "2022-11-17 10:15:10")

        // During the lock even the right password fails, saying until when,
        // and the attempts do not extend it.
        for when in [lockedAt.addingTimeInterval(1), until.addingTimeInterval(-0.001)] {
            t = when
            expectRefusal(&s, .permissionDenied, "账号已锁定至 2022-11-17 10:15:10（北京时间）") { s throws(RosterError) in
                _ = try s.login(phone: r1.phone, password: defaultPassword, tokenDigest: digest(60), now: t, hasher: hasher)
            }
        }
        // At the lock's end the right password works again.
        t = until
        #expect(try attempt(defaultPassword, token: 61).session().examNumber == "2022110001")
        let account = try #require(s.candidates["2022110001"]?.account)
        #expect(account.lockedUntil == nil && account.consecutiveFailures == 0)
    }

    @Test func afterALockExpiresTheCountStartsAgain() throws {
        var s = try seeded(1)
        var t = inWindow
        for k in 1...6 { _ = try s.login(phone: r1.phone, password: "bad", tokenDigest: digest(k), now: t, hasher: hasher); t += 1 }
        t += 900
        let out = try s.login(phone: r1.phone, password: "bad", tokenDigest: digest(9), now: t, hasher: hasher)
        #expect(out.events == [.loginFailed(examNumber: "2022110001", consecutiveFailures: 1, attemptsLeft: 4, at: t)])
    }

    @Test func sessionsExpire() throws {
        var s = try seeded(1, plan: false)
        let token = try logIn(&s, 1, now: inWindow)
        let expires = inWindow.addingTimeInterval(7200)
        #expect(try s.authenticate(tokenDigest: token, now: expires.addingTimeInterval(-0.001)) == "2022110001")
        expectRefusal(&s, .unauthenticated, "the session expired at 2022-11-17 12:00:00 (Beijing time)") { s throws(RosterError) in
            _ = try s.authenticate(tokenDigest: token, now: expires)
        }
        expectRefusal(&s, .unauthenticated, "unknown session") { s throws(RosterError) in
            _ = try s.authenticate(tokenDigest: digest(999), now: inWindow)
        }
        // An expired session cannot act.
        expectRefusal(&s, .unauthenticated) { s throws(RosterError) in _ = try s.confirm(tokenDigest: token, now: expires) }
    }

    /// Issue 22: 20,000 phones must not all hash in the formal morning's
    /// ten-minute entry window. A login for confirmation (17th) or the mock
    /// test (18th) lasts to the end of the formal day (19th, 24:00 Beijing),
    /// never more than maxSessionSeconds; without a plan, sessionSeconds.
    @Test func aSessionLastsToTheEndOfTheFormalDay() throws {
        var s = try seeded(1)
        let mockMorning = bj("2022-11-18 08:45:00")
        let token = try logIn(&s, 1, now: mockMorning)
        let formalEntry = bj("2022-11-19 11:05:00")
        #expect(try s.authenticate(tokenDigest: token, now: formalEntry) == "2022110001")
        #expect(try s.authenticate(tokenDigest: token, now: bj("2022-11-19 23:59:59")) == "2022110001")
        expectRefusal(&s, .unauthenticated, "expired") { s throws(RosterError) in
            _ = try s.authenticate(tokenDigest: token, now: bj("2022-11-20 00:00:00"))
        }
        // A login after the formal day: sessionSeconds from then.
        let late = bj("2022-11-21 10:00:00")
        #expect(s.sessionExpiry(loggedInAt: late) == late.addingTimeInterval(7200))
        // Never beyond the cap, however far off the formal day is.
        var cfg = RosterConfig()
        cfg.maxSessionSeconds = 24 * 3600
        s.setConfig(cfg)
        let early = bj("2022-11-10 09:00:00")
        #expect(s.sessionExpiry(loggedInAt: early) == early.addingTimeInterval(24 * 3600))
    }

    /// Issue 22: an unknown phone answered 401 for ever while a real one
    /// locked (403): the answers told who is on the list. Now the same
    /// sequence of wrong passwords gets the same answers, word for word.
    @Test func anUnknownPhoneLocksLikeARealOne() throws {
        var s = try seeded(1)
        func answers(_ phone: String, tokenBase: Int) -> [String] {
            var out: [String] = []
            var t = inWindow
            for k in 0..<8 {
                do {
                    let o = try s.login(phone: phone, password: "wrong-\(k)", tokenDigest: digest(tokenBase + k), now: t, hasher: hasher)
                    if case .wrongPassword(let e, _) = o { out.append("\(e.code) \(e.message)") } else { out.append("logged in") }
                } catch { out.append("\(error.code) \(error.message)") }
                t += 1
            }
            return out
        }
        let real = answers(r1.phone, tokenBase: 100)
        let unknown = answers("13999999999", tokenBase: 200)
        #expect(real == unknown)
        #expect(real.prefix(6).allSatisfy { $0.contains("手机号或密码错误") }, "\(real)")
        #expect(real.suffix(2).allSatisfy { $0.contains("permissionDenied") && $0.contains("账号已锁定至 2022-11-17 10:15:05") }, "\(real)")
        // The phantom lock ends when a real one would.
        let after = bj("2022-11-17 10:15:06")
        expectRefusal(&s, .unauthenticated, "手机号或密码错误") { s throws(RosterError) in
            _ = try s.login(phone: "13999999999", password: "x", tokenDigest: digest(300), now: after, hasher: hasher)
        }
    }

    @Test func logoutEndsTheSession() throws {
        var s = try seeded(1)
        let token = try logIn(&s, 1)
        #expect(try s.logout(tokenDigest: token, now: inWindow) == [.loggedOut(examNumber: "2022110001", at: inWindow)])
        expectRefusal(&s, .unauthenticated) { s throws(RosterError) in _ = try s.authenticate(tokenDigest: token, now: inWindow) }
        #expect(s.bySession.isEmpty)
    }

    @Test func sessionsPerCandidateAreBounded() throws {
        var s = try seeded(1)
        for k in 0..<15 { try logIn(&s, 1, token: k, now: inWindow.addingTimeInterval(Double(k))) }
        #expect(s.candidates["2022110001"]?.account.sessions.count == 10)
        #expect(s.bySession.count == 10)
        #expect(throws: RosterError.self) { try s.authenticate(tokenDigest: digest(0), now: inWindow.addingTimeInterval(20)) }
        #expect(try s.authenticate(tokenDigest: digest(14), now: inWindow.addingTimeInterval(20)) == "2022110001")
    }

    @Test func passwordChangeRules() throws {
        var s = try seeded(2)
        let token = try logIn(&s, 1, token: 1)
        let other = try logIn(&s, 1, token: 2)
        func change(_ s: inout RosterState, old: String, new: String, salt: [UInt8] = salt) throws(RosterError) -> PasswordChangeOutcome {
            try s.changePassword(tokenDigest: token, oldPassword: old, newPassword: new, salt: salt, now: inWindow, hasher: hasher)
        }
        expectRefusal(&s, .invalidArgument, "the new password has 7 characters, at least 8") { s throws(RosterError) in _ = try change(&s, old: defaultPassword, new: "abc4567") }
        var short = RosterConfig(); short.minPasswordLength = 6
        s.setConfig(short)
        expectRefusal(&s, .invalidArgument, "the new password is the default (the ID number's last six characters)") { s throws(RosterError) in
            _ = try change(&s, old: "Sesame-2021", new: defaultPassword)
        }
        s.setConfig(RosterConfig())
        expectRefusal(&s, .invalidArgument, "the same as the old one") { s throws(RosterError) in _ = try change(&s, old: "Sesame-2022", new: "Sesame-2022") }
        expectRefusal(&s, .invalidArgument, "salt") { s throws(RosterError) in _ = try change(&s, old: defaultPassword, new: "Sesame-2022", salt: [1, 2, 3]) }
        expectRefusal(&s, .unauthenticated) { s throws(RosterError) in
            _ = try s.changePassword(tokenDigest: digest(77), oldPassword: defaultPassword, newPassword: "Sesame-2022", salt: salt, now: inWindow, hasher: hasher)
        }
        // A wrong old password is counted like a wrong login.
        let wrong = try change(&s, old: "nope", new: "Sesame-2022")
        #expect(wrong.events == [.loginFailed(examNumber: "2022110001", consecutiveFailures: 1, attemptsLeft: 4, at: inWindow)])
        guard case .wrongPassword(let e, _) = wrong else { Issue.record("\(wrong)"); return }
        #expect(e.code == .permissionDenied && e.message == "the old password is wrong")

        // The change: stored as salt + hash only, other sessions ended.
        let done = try change(&s, old: defaultPassword, new: "Sesame-2022")
        #expect(done.events == [.passwordChanged(examNumber: "2022110001", sessionsEnded: 1, at: inWindow)])
        let stored = try #require(s.candidates["2022110001"]?.account.password)
        #expect(stored == StoredPassword(scheme: "fake-fnv", salt: salt, hash: hasher.hash("Sesame-2022", salt: salt), changedAt: inWindow))
        #expect(s.candidates["2022110001"]?.account.consecutiveFailures == 0)
        #expect(try s.authenticate(tokenDigest: token, now: inWindow) == "2022110001")
        #expect(throws: RosterError.self) { try s.authenticate(tokenDigest: other, now: inWindow) }
        // No password, hash or salt in the events or the public view.
        let json = String(decoding: try JSONEncoder().encode(done.events), as: UTF8.self)
            + String(decoding: try JSONEncoder().encode(s.candidateView(examNumber: "2022110001")), as: UTF8.self)
        #expect(!json.contains("Sesame") && !json.contains("hash") && !json.contains("salt") && !json.contains(r1.id))

        // Now the default fails and the new password works.
        let old = try s.login(phone: r1.phone, password: defaultPassword, tokenDigest: digest(3), now: inWindow, hasher: hasher)
        #expect(old.events.first.map { if case .loginFailed = $0 { true } else { false } } == true)
        #expect(try s.login(phone: r1.phone, password: "Sesame-2022", tokenDigest: digest(4), now: inWindow, hasher: hasher).session().examNumber == "2022110001")
        // A hasher with other parameters does not silently fail every login.
        expectRefusal(&s, .failedPrecondition, "was hashed with 'fake-fnv'") { s throws(RosterError) in
            _ = try s.login(phone: r1.phone, password: "Sesame-2022", tokenDigest: digest(5), now: inWindow, hasher: FakeHasher(scheme: "other"))
        }
    }

    @Test func aLockedAccountCannotChangeItsPassword() throws {
        var s = try seeded(1)
        let token = try logIn(&s, 1)
        for k in 1...6 { _ = try s.login(phone: r1.phone, password: "bad", tokenDigest: digest(10 + k), now: inWindow, hasher: hasher) }
        expectRefusal(&s, .permissionDenied, "已锁定") { s throws(RosterError) in
            _ = try s.changePassword(tokenDigest: token, oldPassword: defaultPassword, newPassword: "Sesame-2022", salt: salt, now: inWindow, hasher: hasher)
        }
    }

    @Test func constantTimeCompare() {
        #expect(Check.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!Check.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!Check.constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(!Check.constantTimeEqual([], [0]))
    }
}
