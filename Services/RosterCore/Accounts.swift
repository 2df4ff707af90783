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
        try checkTokenDigest(tokenDigest)
        guard bySession[tokenDigest] == nil else { throw RosterError(.alreadyExists, "the session token digest is already in use") }
        guard !password.isEmpty, password.count <= config.maxPasswordLength else {
            throw .invalid(password.isEmpty ? "the password is empty" : "the password is longer than \(config.maxPasswordLength) characters")
        }
        let p = phone.trimmingCharacters(in: .whitespaces)
        // Same answer for an unknown phone as for a wrong password: the
        // login page must not tell who is on the list.
        guard let exam = byPhone[p], var c = candidates[exam] else {
            throw RosterError(.unauthenticated, "wrong phone number or password")
        }
        if let until = c.account.lockedUntil, now < until {
            throw RosterError(.permissionDenied, lockedMessage(until))
        }
        if c.account.lockedUntil != nil {
            // The lock is over: a fresh count (R2).
            c.account.lockedUntil = nil
            c.account.consecutiveFailures = 0
        }
        guard try verify(password, of: c, hasher: hasher) else {
            return .wrongPassword(RosterError(.unauthenticated, "wrong phone number or password"), events: countFailure(&c, now: now))
        }
        c.account.consecutiveFailures = 0
        c.account.lastLoginAt = now
        let expires = now.addingTimeInterval(TimeInterval(config.sessionSeconds))
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
        let exam = try authenticate(tokenDigest: tokenDigest, now: now)
        var c = candidates[exam]!
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
        if c.account.lockedUntil != nil { c.account.lockedUntil = nil; c.account.consecutiveFailures = 0 }
        guard try verify(oldPassword, of: c, hasher: hasher) else {
            return .wrongPassword(RosterError(.permissionDenied, "the old password is wrong"), events: countFailure(&c, now: now))
        }
        let hash = hasher.hash(newPassword, salt: salt)
        guard !hash.isEmpty else { throw RosterError(.failedPrecondition, "the password hasher returned nothing") }
        c.account.password = StoredPassword(scheme: hasher.scheme, salt: salt, hash: hash, changedAt: now)
        c.account.consecutiveFailures = 0
        let others = c.account.sessions.keys.filter { $0 != tokenDigest }
        for d in others { c.account.sessions[d] = nil }
        c.account.sessions = c.account.sessions.filter { $0.value > now }
        store(c, at: exam)
        return .changed(events: [.passwordChanged(examNumber: exam, sessionsEnded: others.count, at: now)])
    }

    // MARK: - internals

    func defaultPassword(of c: Candidate) -> String { String(c.idNumber.suffix(6)).uppercased() }

    /// True when `password` is the candidate's: the stored hash if the
    /// password was changed, else the default (X in either case).
    func verify(_ password: String, of c: Candidate, hasher: some PasswordHashing) throws(RosterError) -> Bool {
        guard let stored = c.account.password else {
            return Check.constantTimeEqual(Array(password.uppercased().utf8), Array(defaultPassword(of: c).utf8))
        }
        guard stored.scheme == hasher.scheme else {
            throw RosterError(.failedPrecondition,
                              "the password of \(c.examNumber) was hashed with '\(stored.scheme)', this service hashes with '\(hasher.scheme)'")
        }
        return Check.constantTimeEqual(hasher.hash(password, salt: stored.salt), stored.hash)
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

    func lockedMessage(_ until: Date) -> String {
        "the account is locked after too many wrong passwords until \(Check.beijing(until)) (R2)"
    }

    func checkTokenDigest(_ d: String) throws(RosterError) {
        guard !d.isEmpty, d.utf8.count <= Self.maxTokenDigestLength,
              d.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalid("the session token digest must be 1 to \(Self.maxTokenDigestLength) printable ASCII characters")
        }
    }
}
