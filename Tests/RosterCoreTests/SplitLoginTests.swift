import Foundation
import Synchronization
import Testing
import ExamPlan
@testable import RosterCore

/// Counts the hashes it makes (the slow work a check asks for).
final class CountingHasher: PasswordHashing {
    let count = Mutex(0)
    var scheme: String { hasher.scheme }
    func hash(_ password: String, salt: [UInt8]) -> [UInt8] {
        count.withLock { $0 += 1 }
        return hasher.hash(password, salt: salt)
    }
    var hashes: Int { count.withLock { $0 } }
}

/// R2, the login and the password change split in two around the slow hash
/// (which the shell runs off the state thread): the check reads, the apply
/// decides with the state as it is then.
@Suite struct SplitLoginTests {
    let r1 = candidateRow(1)
    var defaultPassword: String { String(r1.id.suffix(6)) }

    /// Candidate 1 with the password "Sesame-2022" (and no session).
    func changed() throws -> RosterState {
        var s = try seeded(2)
        let t = try logIn(&s, 1, token: 90)
        _ = try s.changePassword(tokenDigest: t, oldPassword: defaultPassword, newPassword: "Sesame-2022", salt: salt, now: inWindow, hasher: hasher)
        _ = try s.logout(tokenDigest: t, now: inWindow)
        return s
    }

    @Test func theCheckChangesNothingAndSaysWhatToVerify() throws {
        var s = try seeded(2)
        let before = s
        let d = try s.loginCheck(phone: r1.phone, password: "x", tokenDigest: digest(1), now: inWindow, scheme: hasher.scheme)
        #expect(d == LoginCheck(examNumber: "2022110001", phone: r1.phone, password: .defaultPassword(defaultPassword.uppercased())))
        #expect(s == before)
        // The default password costs one hash too (issue 22: a phone still
        // on its default answered in 4 ms, an unknown one in 500 ms).
        let counting = CountingHasher()
        #expect(d.password.verify(defaultPassword, hasher: counting).matched && counting.hashes == 1)
        #expect(!d.password.verify("654321", hasher: counting).matched && counting.hashes == 2)

        // An unknown phone is not refused by the check: it costs a hash like
        // a changed password, then fails like a wrong one.
        let u = try s.loginCheck(phone: "13999999999", password: "123456", tokenDigest: digest(1), now: inWindow, scheme: hasher.scheme)
        #expect(u == LoginCheck(examNumber: nil, phone: "13999999999", password: .unknown))
        let uv = u.password.verify("123456", hasher: counting)
        #expect(!uv.matched && counting.hashes == 3)
        let refused = expectRefusal(&s, .unauthenticated, "手机号或密码错误") { s throws(RosterError) in
            _ = try s.applyLogin(u, verdict: uv, tokenDigest: digest(1), now: inWindow)
        }
        #expect(refused?.message == "手机号或密码错误")

        // A changed password: one hash, of the stored salt.
        s = try changed()
        let c = try s.loginCheck(phone: r1.phone, password: "Sesame-2022", tokenDigest: digest(2), now: inWindow, scheme: hasher.scheme)
        guard case .stored(let stored) = c.password else { Issue.record("\(c)"); return }
        #expect(stored.salt == salt)
        let v = c.password.verify("Sesame-2022", hasher: counting)
        #expect(v.matched && counting.hashes == 4)
        let out = try s.applyLogin(c, verdict: v, tokenDigest: digest(2), now: inWindow)
        #expect(try out.session().examNumber == "2022110001")

        // Refusals that change nothing are the check's, in the old order.
        expectRefusal(&s, .invalidArgument, "the password is empty") { s throws(RosterError) in
            _ = try s.loginCheck(phone: r1.phone, password: "", tokenDigest: digest(3), now: inWindow, scheme: hasher.scheme)
        }
        expectRefusal(&s, .alreadyExists) { s throws(RosterError) in
            _ = try s.loginCheck(phone: r1.phone, password: "x", tokenDigest: digest(2), now: inWindow, scheme: hasher.scheme)
        }
        expectRefusal(&s, .failedPrecondition, "was hashed with 'fake-fnv'") { s throws(RosterError) in
            _ = try s.loginCheck(phone: r1.phone, password: "x", tokenDigest: digest(3), now: inWindow, scheme: "other")
        }
    }

    @Test func aPasswordChangedMeanwhileMakesTheVerdictWorthNothing() throws {
        var s = try seeded(2)
        // Checked against the default, which is right...
        let d = try s.loginCheck(phone: r1.phone, password: defaultPassword, tokenDigest: digest(1), now: inWindow, scheme: hasher.scheme)
        let v = d.password.verify(defaultPassword, hasher: hasher)
        #expect(v.matched)
        // ...but the password is changed before the verdict is applied.
        let t = try logIn(&s, 1, token: 50)
        _ = try s.changePassword(tokenDigest: t, oldPassword: defaultPassword, newPassword: "Sesame-2022", salt: salt, now: inWindow, hasher: hasher)
        let failures = s.candidates["2022110001"]?.account.consecutiveFailures
        // Refused like a wrong password, not counted, no session.
        expectRefusal(&s, .unauthenticated, "手机号或密码错误") { s throws(RosterError) in
            _ = try s.applyLogin(d, verdict: v, tokenDigest: digest(1), now: inWindow)
        }
        #expect(s.candidates["2022110001"]?.account.consecutiveFailures == failures)
        // A verdict about something else than the check is worth nothing either.
        let fresh = try s.loginCheck(phone: r1.phone, password: "Sesame-2022", tokenDigest: digest(2), now: inWindow, scheme: hasher.scheme)
        expectRefusal(&s, .unauthenticated) { s throws(RosterError) in
            _ = try s.applyLogin(fresh, verdict: v, tokenDigest: digest(2), now: inWindow)
        }
        #expect(try s.applyLogin(fresh, verdict: fresh.password.verify("Sesame-2022", hasher: hasher), tokenDigest: digest(2), now: inWindow)
            .session().examNumber == "2022110001")
    }

    @Test func concurrentWrongPasswordsLockInTheOrderApplied() throws {
        var s = try seeded(2)
        // Seven logins all checked before any is applied (all hashing at once).
        let checks = try (1...7).map { k in
            try s.loginCheck(phone: r1.phone, password: "bad\(k)", tokenDigest: digest(k), now: inWindow, scheme: hasher.scheme)
        }
        let verdicts = checks.enumerated().map { $0.element.password.verify("bad\($0.offset + 1)", hasher: hasher) }
        for k in 1...5 {
            let out = try s.applyLogin(checks[k - 1], verdict: verdicts[k - 1], tokenDigest: digest(k), now: inWindow)
            #expect(out.events == [.loginFailed(examNumber: "2022110001", consecutiveFailures: k, attemptsLeft: 5 - k, at: inWindow)])
        }
        let locking = try s.applyLogin(checks[5], verdict: verdicts[5], tokenDigest: digest(6), now: inWindow)
        let until = inWindow.addingTimeInterval(900)
        #expect(locking.events == [.accountLocked(examNumber: "2022110001", consecutiveFailures: 6, until: until, at: inWindow)])
        // The seventh finds the account locked: refused as locked, not counted.
        expectRefusal(&s, .permissionDenied, "已锁定") { s throws(RosterError) in
            _ = try s.applyLogin(checks[6], verdict: verdicts[6], tokenDigest: digest(7), now: inWindow)
        }
        // Even the right password, checked before the lock, is refused once it is locked.
        var t = try seeded(2)
        let right = try t.loginCheck(phone: r1.phone, password: defaultPassword, tokenDigest: digest(20), now: inWindow, scheme: hasher.scheme)
        for k in 1...6 { _ = try t.login(phone: r1.phone, password: "bad", tokenDigest: digest(k), now: inWindow, hasher: hasher) }
        expectRefusal(&t, .permissionDenied, "已锁定") { t throws(RosterError) in
            _ = try t.applyLogin(right, verdict: right.password.verify(defaultPassword, hasher: hasher), tokenDigest: digest(20), now: inWindow)
        }
        // After the lock a verdict applied starts a fresh count (R2).
        let after = until.addingTimeInterval(1)
        let late = try t.loginCheck(phone: r1.phone, password: "bad", tokenDigest: digest(21), now: after, scheme: hasher.scheme)
        let out = try t.applyLogin(late, verdict: late.password.verify("bad", hasher: hasher), tokenDigest: digest(21), now: after)
        #expect(out.events == [.loginFailed(examNumber: "2022110001", consecutiveFailures: 1, attemptsLeft: 4, at: after)])
    }

    @Test func passwordChangeSplit() throws {
        var s = try seeded(2)
        let token = try logIn(&s, 1, token: 1)
        let before = s
        let check = try s.passwordChangeCheck(tokenDigest: token, oldPassword: defaultPassword, newPassword: "Sesame-2022",
                                              salt: salt, now: inWindow, scheme: hasher.scheme)
        #expect(s == before)
        #expect(check == PasswordChangeCheck(examNumber: "2022110001", old: .defaultPassword(defaultPassword.uppercased()), salt: salt))
        // The old password costs one hash whatever it is checked against
        // (issue 22); the new one is hashed only when the old one matched.
        let counting = CountingHasher()
        let wrong = check.verify(oldPassword: "nope-nope", newPassword: "Sesame-2022", hasher: counting)
        #expect(!wrong.matched && wrong.newPassword == nil && counting.hashes == 1)
        let right = check.verify(oldPassword: defaultPassword, newPassword: "Sesame-2022", hasher: counting)
        #expect(right.matched && right.newPassword?.hash == hasher.hash("Sesame-2022", salt: salt) && counting.hashes == 3)

        // Another change lands first: this one is refused, try again.
        var raced = s
        _ = try raced.changePassword(tokenDigest: token, oldPassword: defaultPassword, newPassword: "Other-2022x", salt: salt, now: inWindow, hasher: hasher)
        expectRefusal(&raced, .failedPrecondition, "changed meanwhile") { s throws(RosterError) in
            _ = try s.applyPasswordChange(check, verdict: right, tokenDigest: token, now: inWindow)
        }
        // The session ended meanwhile: unauthenticated.
        var ended = s
        _ = try ended.logout(tokenDigest: token, now: inWindow)
        expectRefusal(&ended, .unauthenticated) { s throws(RosterError) in
            _ = try s.applyPasswordChange(check, verdict: right, tokenDigest: token, now: inWindow)
        }
        // A wrong old password is counted; the right one changes it.
        let counted = try s.applyPasswordChange(check, verdict: wrong, tokenDigest: token, now: inWindow)
        #expect(counted.events == [.loginFailed(examNumber: "2022110001", consecutiveFailures: 1, attemptsLeft: 4, at: inWindow)])
        let done = try s.applyPasswordChange(check, verdict: right, tokenDigest: token, now: inWindow)
        #expect(done.events == [.passwordChanged(examNumber: "2022110001", sessionsEnded: 0, at: inWindow)])
        #expect(s.candidates["2022110001"]?.account.password
                == StoredPassword(scheme: "fake-fnv", salt: salt, hash: hasher.hash("Sesame-2022", salt: salt), changedAt: inWindow))
    }
}
