import Foundation
import ExamPlan

/// The salted slow hash of changed passwords (R2). The shell implements it
/// with scrypt or PBKDF2 from swift-crypto (never hand-rolled); tests use a
/// fake. The core never sees anything but its output.
public protocol PasswordHashing: Sendable {
    /// Names the algorithm and its parameters ("pbkdf2-sha256:600000"); stored
    /// beside each hash so a hash made with other parameters is recognised.
    var scheme: String { get }
    /// The slow hash of `password` with `salt`.
    func hash(_ password: String, salt: [UInt8]) -> [UInt8]
}

/// A logged-in session: the shell gave the token to the client and keeps only
/// its digest, which is what the core stores and looks up.
public struct Session: Sendable, Equatable, Codable {
    public var examNumber: String
    public var expires: Date
}

/// A login either succeeds, or fails on a wrong password, which is counted
/// (R2) and so is a change with events to persist: it is returned, not
/// thrown. Refusals that change nothing (unknown phone, locked account, bad
/// input) are thrown.
public enum LoginOutcome: Sendable, Equatable {
    case loggedIn(Session, events: [RosterEvent])
    case wrongPassword(RosterError, events: [RosterEvent])

    public var events: [RosterEvent] {
        switch self { case .loggedIn(_, let e), .wrongPassword(_, let e): return e }
    }

    /// The session, or the refusal to answer with (after persisting `events`).
    public func session() throws(RosterError) -> Session {
        switch self {
        case .loggedIn(let s, _): return s
        case .wrongPassword(let e, _): throw e
        }
    }
}

/// Like `LoginOutcome`: a wrong old password is counted towards the lock.
public enum PasswordChangeOutcome: Sendable, Equatable {
    case changed(events: [RosterEvent])
    case wrongPassword(RosterError, events: [RosterEvent])

    public var events: [RosterEvent] {
        switch self { case .changed(let e), .wrongPassword(_, let e): return e }
    }
}

/// What a password is checked against (the first half of a login or a
/// password change, read from the state): the default (the ID number's
/// last six, compared in constant time), a stored salted hash, or nothing
/// for an unknown phone. Each costs exactly one slow hash (issue 22): the
/// default's is a dummy one, as the unknown phone's, so how long the answer
/// takes never tells whether a phone is on the list, or whether its
/// candidate still has the default password.
public enum PasswordCheck: Sendable, Equatable {
    case defaultPassword(String)
    case stored(StoredPassword)
    case unknown

    /// The slow part: pure, safe on any thread; one slow hash whatever the case.
    public func verify(_ password: String, hasher: some PasswordHashing) -> PasswordVerdict {
        switch self {
        case .defaultPassword(let expected):
            _ = hasher.hash(password, salt: Self.dummySalt)
            return PasswordVerdict(checked: self, matched: constantTimeEqual(Array(password.uppercased().utf8), Array(expected.utf8)))
        case .stored(let stored):
            return PasswordVerdict(checked: self, matched: constantTimeEqual(hasher.hash(password, salt: stored.salt), stored.hash))
        case .unknown:
            _ = hasher.hash(password, salt: Self.dummySalt)
            return PasswordVerdict(checked: self, matched: false)
        }
    }

    /// Still what `c`'s password is checked against.
    func isCurrent(for c: Candidate, expectedDefault: String) -> Bool {
        switch self {
        case .defaultPassword(let d): return c.account.password == nil && d == expectedDefault
        case .stored(let s): return c.account.password == s
        case .unknown: return false
        }
    }

    static let dummySalt: [UInt8] = Array("roster-unknown-phone-salt".utf8)

    func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool { Check.constantTimeEqual(a, b) }
}

/// The outcome of `PasswordCheck.verify`: what was checked, and whether the
/// password matched it.
public struct PasswordVerdict: Sendable, Equatable {
    public var checked: PasswordCheck
    public var matched: Bool
    public init(checked: PasswordCheck, matched: Bool) {
        self.checked = checked
        self.matched = matched
    }
}

/// The first half of a login (`RosterState.loginCheck`).
public struct LoginCheck: Sendable, Equatable {
    /// nil: no candidate has this phone.
    public var examNumber: String?
    /// The phone as asked (trimmed): an unknown one's failures are counted by it.
    public var phone: String
    public var password: PasswordCheck
}

/// The first half of a password change (`RosterState.passwordChangeCheck`).
public struct PasswordChangeCheck: Sendable, Equatable {
    public var examNumber: String
    public var old: PasswordCheck
    public var salt: [UInt8]

    /// The slow part, off the state: the old password checked (a hash if it
    /// was changed), then, if it matched, the new one hashed with the salt.
    public func verify(oldPassword: String, newPassword: String, hasher: some PasswordHashing) -> PasswordChangeVerdict {
        let v = old.verify(oldPassword, hasher: hasher)
        guard v.matched else { return PasswordChangeVerdict(checked: old, matched: false, newPassword: nil) }
        return PasswordChangeVerdict(checked: old, matched: true,
                                     newPassword: .init(scheme: hasher.scheme, salt: salt, hash: hasher.hash(newPassword, salt: salt)))
    }
}

/// The outcome of `PasswordChangeCheck.verify`.
public struct PasswordChangeVerdict: Sendable, Equatable {
    public struct NewPassword: Sendable, Equatable {
        public var scheme: String
        public var salt: [UInt8]
        public var hash: [UInt8]
    }
    public var checked: PasswordCheck
    public var matched: Bool
    public var newPassword: NewPassword?
}

extension RosterState {
    static let maxTokenDigestLength = 128

    /// R2: logs in by phone (the user name) and password.
    ///
    /// The default password is the ID number's last six characters, X in
    /// either case. It is never stored: it is checked against the ID number
    /// the roster holds anyway (R1), so storing it, or a hash of it, would add
    /// nothing an attacker of the store lacks; "passwords are stored only as
    /// salted slow hashes" then holds for every password a candidate chose.
    /// The comparison is constant-time.
    ///
    /// Lock: `maxFailures` consecutive wrong passwords are tolerated, each
    /// answered with the attempts left; the next one (the maxFailures+1-th)
    /// locks the account for `lockSeconds`. While locked even the right
    /// password is refused (permissionDenied, saying until when); attempts
    /// then are not counted and do not extend the lock. After the lock the
    /// count starts again from zero; any success resets it.
    ///
    /// Declined and forfeited candidates may still log in, to see their
    /// status; R6 keeps them out of the rooms (timing) and of confirming.
    public mutating func login(phone: String, password: String, tokenDigest: String, now: Date,
                               hasher: some PasswordHashing) throws(RosterError) -> LoginOutcome {
        let check = try loginCheck(phone: phone, password: password, tokenDigest: tokenDigest, now: now, scheme: hasher.scheme)
        return try applyLogin(check, verdict: check.password.verify(password, hasher: hasher), tokenDigest: tokenDigest, now: now)
    }

    /// The first half of `login`, quick and changing nothing: the input's
    /// checks, the lock, and what the password must be checked against. The
    /// slow part (`PasswordCheck.verify`) may then run anywhere, off the
    /// state; `applyLogin` decides with the state as it is by then.
    /// An unknown phone is not refused here: it gets a check of its own (a
    /// dummy hash), so it costs what a changed password costs.
    public func loginCheck(phone: String, password: String, tokenDigest: String, now: Date,
                           scheme: String) throws(RosterError) -> LoginCheck {
        try checkTokenDigest(tokenDigest)
        guard bySession[tokenDigest] == nil else { throw RosterError(.alreadyExists, "the session token digest is already in use") }
        guard !password.isEmpty, password.count <= config.maxPasswordLength else {
            throw .invalid(password.isEmpty ? "the password is empty" : "the password is longer than \(config.maxPasswordLength) characters")
        }
        let p = phone.trimmingCharacters(in: .whitespaces)
        guard let exam = byPhone[p], let c = candidates[exam] else {
            if let until = phantoms[p]?.lockedUntil, now < until {
                throw RosterError(.permissionDenied, lockedMessage(until))
            }
            return LoginCheck(examNumber: nil, phone: p, password: .unknown)
        }
        if let until = c.account.lockedUntil, now < until {
            throw RosterError(.permissionDenied, lockedMessage(until))
        }
        return LoginCheck(examNumber: exam, phone: p, password: try passwordCheck(of: c, scheme: scheme))
    }

    /// The second half of `login`: applies the verdict of `check`, judged
    /// again against the state as it is now. Meanwhile the account may have
    /// been locked (refused as locked, like any login then), its lock may
    /// have ended, or its password changed: a verdict about another password
    /// is worth nothing, and is answered like a wrong password but not
    /// counted (it guessed nothing about the password there is now).
    public mutating func applyLogin(_ check: LoginCheck, verdict: PasswordVerdict, tokenDigest: String,
                                    now: Date) throws(RosterError) -> LoginOutcome {
        let wrong = RosterState.wrongPassword
        try checkTokenDigest(tokenDigest)
        guard bySession[tokenDigest] == nil else { throw RosterError(.alreadyExists, "the session token digest is already in use") }
        // Same answer for an unknown phone as for a wrong password: the
        // login page must not tell who is on the list.
        guard let exam = check.examNumber, var c = candidates[exam] else {
            // An unknown phone counts and locks like a real one (issue 22):
            // "locked" must not tell who is on the list either.
            countPhantomFailure(phone: check.phone, now: now)
            throw wrong
        }
        if let until = c.account.lockedUntil, now < until {
            throw RosterError(.permissionDenied, lockedMessage(until))
        }
        guard verdict.checked == check.password, check.password.isCurrent(for: c, expectedDefault: defaultPassword(of: c)) else {
            throw wrong
        }
        if c.account.lockedUntil != nil {
            // The lock is over: a fresh count (R2).
            c.account.lockedUntil = nil
            c.account.consecutiveFailures = 0
        }
        guard verdict.matched else {
            return .wrongPassword(wrong, events: countFailure(&c, now: now))
        }
        c.account.consecutiveFailures = 0
        c.account.lastLoginAt = now
        let expires = sessionExpiry(loggedInAt: now)
        c.account.sessions = c.account.sessions.filter { $0.value > now }
        while c.account.sessions.count >= config.maxSessionsPerCandidate,
              let oldest = c.account.sessions.min(by: { ($0.value, $0.key) < ($1.value, $1.key) }) {
            c.account.sessions[oldest.key] = nil
        }
        c.account.sessions[tokenDigest] = expires
        store(c, at: exam)
        return .loggedIn(Session(examNumber: exam, expires: expires),
                         events: [.loggedIn(examNumber: exam, sessionExpires: expires, at: now)])
    }

    /// The exam number of the session's candidate; unauthenticated for an
    /// unknown or expired session (an expiry at `now` is expired).
    public func authenticate(tokenDigest: String, now: Date) throws(RosterError) -> String {
        guard let exam = bySession[tokenDigest], let expires = candidates[exam]?.account.sessions[tokenDigest] else {
            throw RosterError(.unauthenticated, "unknown session: log in again")
        }
        guard now < expires else {
            throw RosterError(.unauthenticated, "the session expired at \(Check.beijing(expires)): log in again")
        }
        return exam
    }

    /// Ends a session (and drops the candidate's expired ones).
    public mutating func logout(tokenDigest: String, now: Date) throws(RosterError) -> [RosterEvent] {
        let exam = try authenticate(tokenDigest: tokenDigest, now: now)
        var c = candidates[exam]!
        c.account.sessions[tokenDigest] = nil
        c.account.sessions = c.account.sessions.filter { $0.value > now }
        store(c, at: exam)
        return [.loggedOut(examNumber: exam, at: now)]
    }

    /// R2: the logged-in candidate changes the password. The new one has at
    /// least `minPasswordLength` characters, differs from the old one and from
    /// the default (the ID's last six). A wrong old password counts towards the
    /// lock like a wrong login (a stolen session must not become a way to
    /// guess the password). The change ends every other session of the
    /// candidate; the one used stays.
    public mutating func changePassword(tokenDigest: String, oldPassword: String, newPassword: String,
                                        salt: [UInt8], now: Date, hasher: some PasswordHashing) throws(RosterError) -> PasswordChangeOutcome {
        let check = try passwordChangeCheck(tokenDigest: tokenDigest, oldPassword: oldPassword, newPassword: newPassword,
                                            salt: salt, now: now, scheme: hasher.scheme)
        return try applyPasswordChange(check, verdict: check.verify(oldPassword: oldPassword, newPassword: newPassword, hasher: hasher),
                                       tokenDigest: tokenDigest, now: now)
    }

    /// The first half of `changePassword`, quick and changing nothing: every
    /// check of the input, the session and the lock, and what the old
    /// password must be checked against. `PasswordChangeCheck.verify` (the
    /// slow hashes: the old password's if it was changed, the new one's) may
    /// then run off the state; `applyPasswordChange` decides.
    public func passwordChangeCheck(tokenDigest: String, oldPassword: String, newPassword: String,
                                    salt: [UInt8], now: Date, scheme: String) throws(RosterError) -> PasswordChangeCheck {
        let exam = try authenticate(tokenDigest: tokenDigest, now: now)
        let c = candidates[exam]!
        if let until = c.account.lockedUntil, now < until {
            throw RosterError(.permissionDenied, lockedMessage(until))
        }
        guard salt.count >= config.minSaltBytes else {
            throw .invalid("the salt has \(salt.count) bytes, at least \(config.minSaltBytes)")
        }
        guard !oldPassword.isEmpty, oldPassword.count <= config.maxPasswordLength else {
            throw .invalid("the old password is empty or longer than \(config.maxPasswordLength) characters")
        }
        let n = newPassword.count
        guard n >= config.minPasswordLength else {
            throw .invalid("the new password has \(n) characters, at least \(config.minPasswordLength)")
        }
        guard n <= config.maxPasswordLength else {
            throw .invalid("the new password has \(n) characters, at most \(config.maxPasswordLength)")
        }
        guard newPassword == newPassword.trimmingCharacters(in: .whitespacesAndNewlines),
              !newPassword.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalid("the new password starts or ends with a space or contains control characters")
        }
        guard newPassword != oldPassword else { throw .invalid("the new password is the same as the old one") }
        guard newPassword.uppercased() != defaultPassword(of: c) else {
            throw .invalid("the new password is the default (the ID number's last six characters)")
        }
        return PasswordChangeCheck(examNumber: exam, old: try passwordCheck(of: c, scheme: scheme), salt: salt)
    }

    /// The second half of `changePassword`, judged against the state as it
    /// is now: the session must still be there, the account not locked
    /// meanwhile, and the old password still the one verified (else the
    /// change is refused: changed meanwhile, try again).
    public mutating func applyPasswordChange(_ check: PasswordChangeCheck, verdict: PasswordChangeVerdict, tokenDigest: String,
                                             now: Date) throws(RosterError) -> PasswordChangeOutcome {
        let exam = try authenticate(tokenDigest: tokenDigest, now: now)
        var c = candidates[exam]!
        if let until = c.account.lockedUntil, now < until {
            throw RosterError(.permissionDenied, lockedMessage(until))
        }
        guard exam == check.examNumber, verdict.checked == check.old,
              check.old.isCurrent(for: c, expectedDefault: defaultPassword(of: c)) else {
            throw RosterError(.failedPrecondition, "the password was changed meanwhile: try again")
        }
        if c.account.lockedUntil != nil { c.account.lockedUntil = nil; c.account.consecutiveFailures = 0 }
        guard verdict.matched else {
            return .wrongPassword(RosterError(.permissionDenied, "the old password is wrong"), events: countFailure(&c, now: now))
        }
        guard let new = verdict.newPassword, !new.hash.isEmpty else {
            throw RosterError(.failedPrecondition, "the password hasher returned nothing")
        }
        c.account.password = StoredPassword(scheme: new.scheme, salt: new.salt, hash: new.hash, changedAt: now)
        c.account.consecutiveFailures = 0
        let others = c.account.sessions.keys.filter { $0 != tokenDigest }
        for d in others { c.account.sessions[d] = nil }
        c.account.sessions = c.account.sessions.filter { $0.value > now }
        store(c, at: exam)
        return .changed(events: [.passwordChanged(examNumber: exam, sessionsEnded: others.count, at: now)])
    }

    // MARK: - internals

    func defaultPassword(of c: Candidate) -> String { String(c.idNumber.suffix(6)).uppercased() }

    /// What a password of `c` is checked against; a stored hash made with
    /// another scheme than this service's is refused (never a silent failure
    /// of every login).
    func passwordCheck(of c: Candidate, scheme: String) throws(RosterError) -> PasswordCheck {
        guard let stored = c.account.password else { return .defaultPassword(defaultPassword(of: c)) }
        guard stored.scheme == scheme else {
            throw RosterError(.failedPrecondition,
                              "the password of \(c.examNumber) was hashed with '\(stored.scheme)', this service hashes with '\(scheme)'")
        }
        return .stored(stored)
    }

    /// Counts a wrong password into `c`, stores it, and returns the events.
    mutating func countFailure(_ c: inout Candidate, now: Date) -> [RosterEvent] {
        c.account.consecutiveFailures += 1
        let failures = c.account.consecutiveFailures
        var events: [RosterEvent]
        if failures > config.maxFailures {
            let until = now.addingTimeInterval(TimeInterval(config.lockSeconds))
            c.account.lockedUntil = until
            events = [.accountLocked(examNumber: c.examNumber, consecutiveFailures: failures, until: until, at: now)]
        } else {
            events = [.loginFailed(examNumber: c.examNumber, consecutiveFailures: failures,
                                   attemptsLeft: config.maxFailures - failures, at: now)]
        }
        store(c, at: c.examNumber)
        return events
    }

    /// When a session made at `now` ends: `sessionSeconds` later, or at the
    /// end of the formal exam day (24:00 Beijing time) if that is later,
    /// never beyond `maxSessionSeconds` (issue 22: the formal morning's
    /// entry window is not the time for 20,000 phones to hash passwords).
    public func sessionExpiry(loggedInAt now: Date) -> Date {
        let base = now.addingTimeInterval(TimeInterval(config.sessionSeconds))
        guard let plan = meta.plan else { return base }
        var beijing = Calendar(identifier: .gregorian)
        beijing.timeZone = TimeZone(secondsFromGMT: 8 * 3600)!
        guard let dayEnd = beijing.date(byAdding: .day, value: 1, to: beijing.startOfDay(for: plan.formalEntry.closes)) else { return base }
        let cap = now.addingTimeInterval(TimeInterval(config.maxSessionSeconds))
        return max(base, min(dayEnd, cap))
    }

    /// Said alike for a wrong password and an unknown phone (R2, issue 22).
    static let wrongPassword = RosterError(.unauthenticated, "手机号或密码错误")

    func lockedMessage(_ until: Date) -> String {
        "密码错误次数过多，账号已锁定至 \(BeijingTime.short(until))（北京时间），请届时再登录 (R2)"
    }

    /// A failure on a phone no candidate has, counted as a real account's
    /// would be (the maxFailures+1-th locks it for lockSeconds), so an
    /// unknown phone answers exactly as a real one would: "wrong" and then
    /// "locked until". Kept in memory only, at most `maxPhantomAccounts`
    /// (when full, those whose count matters least go first): a restart
    /// forgets them, as it would forget nothing of a real account; the
    /// difference shows only to someone who can restart roster.
    mutating func countPhantomFailure(phone: String, now: Date) {
        guard !phone.isEmpty else { return }
        if phantoms.count >= config.maxPhantomAccounts, phantoms[phone] == nil {
            phantoms = phantoms.filter { ($0.value.lockedUntil ?? .distantPast) > now }
            if phantoms.count >= config.maxPhantomAccounts { phantoms.removeAll(keepingCapacity: true) }
        }
        var a = phantoms[phone] ?? PhantomAccount()
        if let until = a.lockedUntil, now >= until { a = PhantomAccount() }
        a.consecutiveFailures += 1
        if a.consecutiveFailures > config.maxFailures { a.lockedUntil = now.addingTimeInterval(TimeInterval(config.lockSeconds)) }
        phantoms[phone] = a
    }

    func checkTokenDigest(_ d: String) throws(RosterError) {
        guard !d.isEmpty, d.utf8.count <= Self.maxTokenDigestLength,
              d.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalid("the session token digest must be 1 to \(Self.maxTokenDigestLength) printable ASCII characters")
        }
    }
}
