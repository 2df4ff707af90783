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
    public var csrf: String
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

public enum SignInError: Error, Equatable, Sendable {
    /// Unknown id or wrong secret: the same answer for both.
    case wrong
    case locked(untilMs: Int64)
    /// The account has no password yet: the one-time code is needed.
    case needsCode
    /// A code was sent but the account already has a password.
    case passwordAlreadySet
    case codeExpired
    case retired
    case weakPassword(String)
}

/// What the shell must check, slowly, before `signedIn` or `failed`.
public enum SignInCheck: Sendable, Equatable {
    case password(PasswordRecord)
    case code(digest: String)
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

    /// The first step of a sign-in: what must be verified, or why not.
    /// `code` says the person brought a one-time code (first sign-in).
    public func check(id: String, withCode: Bool, now: Int64) throws(SignInError) -> SignInCheck {
        guard let a = accounts[id] else { throw .wrong }
        if a.retired { throw .retired }
        if a.isLocked(now: now) { throw .locked(untilMs: a.lockedUntilMs) }
        if withCode {
            guard a.password == nil else { throw .passwordAlreadySet }
            guard let d = a.codeDigest else { throw .needsCode }
            if a.codeExpiresMs <= now { throw .codeExpired }
            return .code(digest: d)
        }
        guard let p = a.password else { throw .needsCode }
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
            throw .weakPassword("newPassword: at least \(policy.minPasswordLength) characters")
        }
        if password.lowercased().contains(id.lowercased()) {
            throw .weakPassword("newPassword: must not contain the account id")
        }
    }

    /// A verified sign-in: the code (if used) is spent and the password set;
    /// the session opens. Returns the account and the ended sessions (over
    /// the per-account bound).
    public mutating func signedIn(id: String, newPassword: PasswordRecord?, session digest: String, csrf: String,
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
        let s = StaffSessionRecord(digest: digest, account: id, csrf: csrf, createdMs: now,
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
    /// The edge's error: one answer for an unknown id and a wrong secret.
    public func edgeError(now: Int64) -> EdgeError {
        switch self {
        case .wrong: .unauthenticated("id or password: wrong")
        case .locked(let until):
            EdgeError("RESOURCE_EXHAUSTED",
                      "account: locked after repeated failed sign-ins until \(BeijingTime.short(Date(timeIntervalSince1970: Double(until) / 1000))) Beijing time (R63)",
                      retryAfterSeconds: Int(max(1, (until - now + 999) / 1000)))
        case .needsCode: EdgeError("FAILED_PRECONDITION", "password: not set yet; sign in with the one-time code ops gave you and choose a password")
        case .passwordAlreadySet: EdgeError("FAILED_PRECONDITION", "code: this account has a password already; sign in with it (ops can reset it)")
        case .codeExpired: EdgeError("FAILED_PRECONDITION", "code: expired; ask ops for a new one")
        case .retired: .denied("account: no longer in the plan; ask ops")
        case .weakPassword(let m): .invalid(m)
        }
    }
}
