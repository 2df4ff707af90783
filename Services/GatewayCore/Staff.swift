// Staff accounts and their sessions (R62, R63), as a pure state machine:
// the shell hashes (slowly, off the state thread), makes random codes and
// tokens, and stores what changed; this decides who may sign in, when an
// account locks, which session is alive. The accounts live in the
// gateway's own store, not beside the candidates in roster: staff come
// from the plan and the gateway's configuration, not from the imported
// list, they sign in only at the gateway, and a roster re-import or a
// candidate's lockout must never touch them.
import ExamPlan
import Foundation

public enum StaffRole: String, Codable, Sendable, CaseIterable {
    case proctor, examiner, chief, ops

    public var chinese: String {
        switch self {
        case .proctor: "考务人员"
        case .examiner: "考官"
        case .chief: "主考官"
        case .ops: "运维"
        }
    }
}

/// What the shell stores of a salted slow hash.
public struct PasswordRecord: Codable, Sendable, Equatable {
    public var scheme: String
    public var salt: [UInt8]
    public var hash: [UInt8]
    public init(scheme: String, salt: [UInt8], hash: [UInt8]) {
        self.scheme = scheme
        self.salt = salt
        self.hash = hash
    }
}

public struct StaffAccount: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: StaffRole
    /// The rooms this account works in (ops: none listed, every room allowed).
    public var rooms: [String]
    public var password: PasswordRecord?
    /// SHA-256 of the one-time code (codes are long and random: a fast digest suffices).
    public var codeDigest: String?
    public var codeExpiresMs: Int64 = 0
    public var failures = 0
    public var lockedUntilMs: Int64 = 0
    /// No longer in the plan or the configuration: kept for the log, cannot sign in.
    public var retired = false

    public init(id: String, name: String, role: StaffRole, rooms: [String]) {
        self.id = id
        self.name = name
        self.role = role
        self.rooms = rooms
    }

    public func isLocked(now: Int64) -> Bool { lockedUntilMs > now }

    /// May this account see or act in `room`? Ops: every room.
    public func works(in room: String) -> Bool { role == .ops || rooms.contains(room) }
}

public struct StaffSessionRecord: Codable, Sendable, Equatable {
    /// SHA-256 of the cookie's token: the token itself is never stored.
    public var digest: String
    public var account: String
    /// SHA-256 of the session's CSRF token (R63; issue 22): like the
    /// cookie's token, the CSRF token itself is never stored. The shell
    /// derives the token from the cookie's (so a reloaded page is given it
    /// again) and compares digests in constant time.
    public var csrfDigest: String
    public var createdMs: Int64
    public var expiresMs: Int64
}

public struct StaffPolicy: Sendable, Equatable {
    /// Failed sign-ins in a row after which the account locks.
    public var maxFailures = 5
    public var lockSeconds = 15 * 60
    /// How long a signed-in session lasts (an exam day's shift).
    public var sessionSeconds = 12 * 3600
    /// How long a one-time code may be used.
    public var codeSeconds = 3 * 24 * 3600
    public var minPasswordLength = 10
    /// Sessions one account may hold at once (the oldest ends first).
    public var sessionsPerAccount = 8
    public init() {}
}

/// One account of the plan or the configuration, as the sync sees it.
public struct StaffSeat: Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: StaffRole
    public var rooms: [String]
    public init(id: String, name: String, role: StaffRole, rooms: [String]) {
        self.id = id
        self.name = name
        self.role = role
        self.rooms = rooms
    }

    /// Who the plan names: each room's proctors, its panel (the chief
    /// marked), and the ops accounts of the configuration.
    public static func seats(of plan: ExamPlan, ops: [String]) -> [StaffSeat] {
        var byID: [String: StaffSeat] = [:]
        for room in plan.rooms {
            for p in room.proctors {
                // A proctor may watch several rooms.
                byID[p, default: StaffSeat(id: p, name: p, role: .proctor, rooms: [])].rooms.append(room.id)
            }
            for e in room.panel {
                byID[e.id] = StaffSeat(id: e.id, name: e.name, role: e.chief ? .chief : .examiner, rooms: [room.id])
            }
        }
        for o in ops where byID[o] == nil { byID[o] = StaffSeat(id: o, name: o, role: .ops, rooms: []) }
        return byID.values.sorted { $0.id < $1.id }
    }
}

/// Why a sign-in is refused. Nothing here tells a real id from an unknown
/// one (R63; issue 22: an outside tester told unclaimed ids apart by a 400
/// "password: not set yet"): an unknown id, an account without a password
/// yet, a retired one and a wrong password all answer `wrong`; with a
/// one-time code, an unknown id, a wrong, expired or spent code and an
/// account that has a password already all answer `wrongCode`.
public enum SignInError: Error, Equatable, Sendable {
    /// A password sign-in that did not verify, whatever the reason.
    case wrong
    /// A one-time-code sign-in that did not verify, whatever the reason.
    case wrongCode
    case locked(untilMs: Int64)
    /// The right code but an unacceptable new password (only someone
    /// holding the account's code ever sees this).
    case weakPassword(String)
}

/// What the shell must check, slowly, before `signedIn` or `failed`.
public enum SignInCheck: Sendable, Equatable {
    case password(PasswordRecord)
    case code(digest: String)
    /// A real account with nothing to verify (no password yet, no valid
    /// code, retired): the shell does the same slow work as for a real
    /// check, counts a failure on the account and answers as a wrong secret.
    case refuse
    /// No such account: the same slow work and answer; the failure is
    /// counted in the shell's `DecoyLocks`, so that it locks alike.
    case unknown
}

public struct StaffDirectory: Sendable, Equatable {
    public var accounts: [String: StaffAccount] = [:]
    public var sessions: [String: StaffSessionRecord] = [:]
    public var policy: StaffPolicy

    public init(policy: StaffPolicy = StaffPolicy(), accounts: [StaffAccount] = [], sessions: [StaffSessionRecord] = []) {
        self.policy = policy
        for a in accounts { self.accounts[a.id] = a }
        for s in sessions { self.sessions[s.digest] = s }
    }

    /// Makes the accounts match the plan and configuration: new seats get
    /// an account without a password, changed rooms or roles are updated,
    /// accounts no longer named are retired (their sessions end). Returns
    /// the accounts that changed and the sessions that ended.
    public mutating func sync(_ seats: [StaffSeat]) -> (changed: [StaffAccount], endedSessions: [String]) {
        var changed: [StaffAccount] = []
        let named = Set(seats.map(\.id))
        for seat in seats {
            var a = accounts[seat.id] ?? StaffAccount(id: seat.id, name: seat.name, role: seat.role, rooms: seat.rooms)
            let before = accounts[seat.id]
            a.name = seat.name
            a.role = seat.role
            a.rooms = seat.rooms.sorted()
            a.retired = false
            if a != before { accounts[seat.id] = a; changed.append(a) }
        }
        var ended: [String] = []
        for (id, var a) in accounts where !named.contains(id) && !a.retired {
            a.retired = true
            accounts[id] = a
            changed.append(a)
            ended += endSessions(of: id)
        }
        return (changed.sorted { $0.id < $1.id }, ended)
    }

    /// The first step of a sign-in: what must be verified, or that nothing
    /// can be (`refuse`, `unknown`: answered as a wrong secret, never with
    /// the reason, issue 22). Only a lock is said at once, as it is for an
    /// unknown id that failed as often (`DecoyLocks`).
    /// `withCode` says the person brought a one-time code (first sign-in).
    public func check(id: String, withCode: Bool, now: Int64) throws(SignInError) -> SignInCheck {
        guard let a = accounts[id] else { return .unknown }
        if a.isLocked(now: now) { throw .locked(untilMs: a.lockedUntilMs) }
        if a.retired { return .refuse }
        if withCode {
            guard a.password == nil, let d = a.codeDigest, a.codeExpiresMs > now else { return .refuse }
            return .code(digest: d)
        }
        guard let p = a.password else { return .refuse }
        return .password(p)
    }

    /// A wrong password or code: counted; the account locks after
    /// `maxFailures` in a row (R63). Returns the account as it is now.
    @discardableResult
    public mutating func failed(id: String, now: Int64) -> StaffAccount? {
        guard var a = accounts[id] else { return nil }
        a.failures += 1
        if a.failures >= policy.maxFailures {
            a.lockedUntilMs = now + Int64(policy.lockSeconds) * 1000
            a.failures = 0
        }
        accounts[id] = a
        return a
    }

    public func checkNewPassword(_ password: String, id: String) throws(SignInError) {
        if password.count < policy.minPasswordLength {
            throw .weakPassword("newPassword：新密码至少 \(policy.minPasswordLength) 个字符")
        }
        if password.lowercased().contains(id.lowercased()) {
            throw .weakPassword("newPassword：新密码不能包含账号")
        }
    }

    /// A verified sign-in: the code (if used) is spent and the password set;
    /// the session opens. Returns the account and the ended sessions (over
    /// the per-account bound).
    public mutating func signedIn(id: String, newPassword: PasswordRecord?, session digest: String, csrfDigest: String,
                                  now: Int64) -> (account: StaffAccount, session: StaffSessionRecord, ended: [String])? {
        guard var a = accounts[id] else { return nil }
        a.failures = 0
        a.lockedUntilMs = 0
        if let p = newPassword {
            a.password = p
            a.codeDigest = nil
            a.codeExpiresMs = 0
        }
        accounts[id] = a
        let s = StaffSessionRecord(digest: digest, account: id, csrfDigest: csrfDigest, createdMs: now,
                                   expiresMs: now + Int64(policy.sessionSeconds) * 1000)
        sessions[digest] = s
        var ended: [String] = []
        let mine = sessions.values.filter { $0.account == id }.sorted { ($0.createdMs, $0.digest) < ($1.createdMs, $1.digest) }
        for old in mine.prefix(max(0, mine.count - policy.sessionsPerAccount)) {
            sessions[old.digest] = nil
            ended.append(old.digest)
        }
        return (a, s, ended)
    }

    /// The session of a cookie's digest, if it is alive and its account may
    /// still sign in.
    public func session(_ digest: String, now: Int64) -> (StaffSessionRecord, StaffAccount)? {
        guard let s = sessions[digest], s.expiresMs > now, let a = accounts[s.account], !a.retired else { return nil }
        return (s, a)
    }

    public mutating func endSession(_ digest: String) -> StaffSessionRecord? {
        sessions.removeValue(forKey: digest)
    }

    public mutating func endSessions(of id: String) -> [String] {
        let mine = sessions.values.filter { $0.account == id }.map(\.digest)
        for d in mine { sessions[d] = nil }
        return mine
    }

    public mutating func expireSessions(now: Int64) -> [String] {
        let old = sessions.values.filter { $0.expiresMs <= now }.map(\.digest)
        for d in old { sessions[d] = nil }
        return old
    }

    /// A one-time code for `id`. With `reset` the password is cleared and
    /// the account's sessions end (a lost password, a departed proctor's
    /// seat handed to another person).
    public mutating func issueCode(id: String, digest: String, reset: Bool, now: Int64)
        throws(StaffCodeError) -> (account: StaffAccount, ended: [String]) {
        guard var a = accounts[id] else { throw .noSuchAccount(id) }
        if a.retired { throw .retired(id) }
        var ended: [String] = []
        if a.password != nil {
            guard reset else { throw .passwordSet(id) }
            a.password = nil
            ended = endSessions(of: id)
        }
        a.codeDigest = digest
        a.codeExpiresMs = now + Int64(policy.codeSeconds) * 1000
        a.failures = 0
        a.lockedUntilMs = 0
        accounts[id] = a
        return (a, ended)
    }

    /// Accounts that need a code: no password yet, not retired, and (unless
    /// `renew`) no unexpired code already handed out: asking twice must not
    /// void the codes people already hold.
    public func waitingForCode(now: Int64, renew: Bool = false) -> [String] {
        accounts.values.filter { a in
            a.password == nil && !a.retired && (renew || a.codeDigest == nil || a.codeExpiresMs <= now)
        }.map(\.id).sorted()
    }
}

public enum StaffCodeError: Error, Equatable, Sendable {
    case noSuchAccount(String)
    case passwordSet(String)
    case retired(String)

    public var message: String {
        switch self {
        case .noSuchAccount(let id): "account: no staff account '\(id.prefix(40))' (accounts come from the plan's rooms and panels and the gateway's --ops)"
        case .passwordSet(let id): "account \(id): has a password already; pass reset to clear it and issue a new code"
        case .retired(let id): "account \(id): no longer in the plan or the configuration"
        }
    }
}

extension SignInError {
    /// The edge's error: one answer for an unknown id, an account without a
    /// password yet and a wrong secret (R63; issue 22).
    public func edgeError(now: Int64) -> EdgeError {
        switch self {
        case .wrong: .unauthenticated(Self.wrongMessage)
        case .wrongCode: .unauthenticated(Self.wrongCodeMessage)
        case .locked(let until):
            EdgeError("RESOURCE_EXHAUSTED",
                      "账号：连续登录失败次数过多，已锁定至北京时间 \(BeijingTime.short(Date(timeIntervalSince1970: Double(until) / 1000)))（R63）",
                      retryAfterSeconds: Int(max(1, (until - now + 999) / 1000)))
        case .weakPassword(let m): .invalid(m)
        }
    }

    public static let wrongMessage = "账号或密码错误（尚未设置密码的账号，请用运维发放的一次性验证码首次登录）"
    public static let wrongCodeMessage = "账号或一次性验证码错误，或验证码已过期、已使用（已设置密码的账号请用密码登录；需要新验证码请联系运维）"
}

/// Failed sign-ins of ids that are no account (R63; issue 22): counted and
/// locked exactly as an account's (`StaffDirectory.failed`), so that an
/// unknown id answers 401 and then, after `maxFailures` in a row, 429 like
/// a real one and a guesser cannot tell which ids exist. Kept in memory
/// only, never persisted (a restart forgets them; an account's own lock is
/// in the store), keyed by a digest of the id (a password typed into the
/// id field is not kept), and bounded: past `capacity` keys, expired ones
/// go first, then the least recently failed.
public struct DecoyLocks: Sendable {
    struct Entry: Sendable {
        var failures = 0
        var lockedUntilMs: Int64 = 0
        var touchedMs: Int64 = 0
    }

    public let capacity: Int
    private var entries: [String: Entry] = [:]

    public init(capacity: Int = 50_000) {
        self.capacity = max(1, capacity)
    }

    public var count: Int { entries.count }

    /// Until when `key` is locked, if it is now.
    public func lockedUntil(_ key: String, now: Int64) -> Int64? {
        guard let e = entries[key], e.lockedUntilMs > now else { return nil }
        return e.lockedUntilMs
    }

    /// A failed sign-in of `key`: returns until when it is locked, if this
    /// failure locked it (the account's rule: `maxFailures` in a row lock
    /// it for `lockSeconds`, and the count starts again).
    public mutating func failed(_ key: String, now: Int64, policy: StaffPolicy) -> Int64? {
        if entries[key] == nil, entries.count >= capacity { evict(now: now) }
        var e = entries[key] ?? Entry()
        e.failures += 1
        e.touchedMs = now
        if e.failures >= policy.maxFailures {
            e.lockedUntilMs = now + Int64(policy.lockSeconds) * 1000
            e.failures = 0
        }
        entries[key] = e
        return e.lockedUntilMs > now ? e.lockedUntilMs : nil
    }

    private mutating func evict(now: Int64) {
        entries = entries.filter { $0.value.lockedUntilMs > now || $0.value.failures > 0 }
        guard entries.count >= capacity else { return }
        let oldest = entries.sorted { $0.value.touchedMs < $1.value.touchedMs }.prefix(max(1, capacity / 4)).map(\.key)
        for k in oldest { entries[k] = nil }
    }
}
