// The staff console's work (R62, R63): staff accounts and cookie sessions
// kept in the gateway's own store (StaffDirectory on the gateway's engine),
// the proctors' live board built from the services' events (the terminal
// proctor's ProctorBoard), and every staff action as a mesh call whose
// actor is the signed-in account, never a field of the request.
import Bus
import ExamContracts
import ExamDay
import ExamPlan
import Foundation
import GatewayCore
import GRDB
import Logging
import Passwords
import RosterCore
import ServiceKit
import Store
import Synchronization

/// Sign-ins' slow work (SlowWork, shared with roster, is in Passwords):
/// beyond its queue the caller is told to come back.
extension SlowWork {
    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws(EdgeError) -> T {
        try await run(busy: EdgeError.tooMany("sign-in: too many at once; try again in a few seconds (R63)", retryAfter: 2), body)
    }
}

/// A signed-in staff member, as the routes see them.
public struct StaffPrincipal: Sendable {
    public var account: StaffAccount
    public var session: StaffSessionRecord
    /// The session's CSRF token, derived from the cookie's token
    /// (`StaffDesk.csrf(for:)`): never stored, only its digest is.
    public var csrf: String
    public var call: CallPrincipal {
        let role: ActorRole = switch account.role {
        case .proctor: .proctor
        case .examiner: .examiner
        case .chief: .chiefExaminer
        case .ops: .ops
        }
        return CallPrincipal(id: account.id, role: role)
    }
}

public struct StaffSettings: Sendable {
    public var policy = StaffPolicy()
    /// Ops accounts (R62: from configuration).
    public var ops = ["ops"]
    /// Cookies marked Secure (behind the TLS terminator).
    public var secureCookies = false
    public init() {}
}

/// Staff documents in the gateway's store.
public enum StaffDocuments {
    static let account = "staff.account"
    static let session = "staff.session"

    /// The gateway store's own schema changes (never edited once shipped).
    public static let migrations = [
        // Issue 22: sessions kept their CSRF token in plain text (the
        // cookie's token was already a digest). Each stored session's token
        // becomes its SHA-256, so the sessions open now go on working (their
        // pages still hold the token; see StaffDesk.csrfMatches).
        Migration("gateway-0001-staff-csrf-digests") { db in
            let rows = try Row.fetchAll(db, sql: "SELECT key, body FROM documents WHERE kind = ?", arguments: [session])
            for row in rows {
                let key: String = row["key"]
                let body: Data = row["body"]
                guard var doc = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                    throw StoreError("staff session \(key.prefix(12))…: not a JSON object; cannot migrate its CSRF token")
                }
                guard let csrf = doc.removeValue(forKey: "csrf") as? String else { continue }
                doc["csrfDigest"] = Secrets.digest(csrf)
                let rewritten = try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])
                try db.execute(sql: "UPDATE documents SET body = ? WHERE kind = ? AND key = ?", arguments: [rewritten, session, key])
            }
        },
    ]

    public static func load(_ store: ServiceStore, policy: StaffPolicy) throws -> StaffDirectory {
        StaffDirectory(policy: policy,
                       accounts: try store.documents(StaffAccount.self, kind: account).map(\.value),
                       sessions: try store.documents(StaffSessionRecord.self, kind: session).map(\.value))
    }

    static func put(_ a: StaffAccount, _ tx: inout Transaction) { tx.put(a, kind: account, key: a.id) }
    static func put(_ s: StaffSessionRecord, _ tx: inout Transaction) { tx.put(s, kind: session, key: s.digest) }
    static func end(_ digests: [String], _ tx: inout Transaction) {
        for d in digests { tx.delete(kind: session, key: d) }
    }
}

public final class StaffDesk: Sendable {
    public let edge: Edge
    public let engine: Engine<StaffDirectory>
    let hasher: any PasswordHashing
    public let settings: StaffSettings
    let slow: SlowWork
    let throttle: Mutex<LoginThrottle>
    /// Unknown ids' failed sign-ins, locked as accounts are (issue 22; in
    /// memory only, see DecoyLocks).
    let decoys = Mutex(DecoyLocks())
    let boards = Mutex<[SittingKind: ProctorBoard]>([.mock: ProctorBoard(sitting: .mock), .formal: ProctorBoard(sitting: .formal)])
    let live = StaffLive()
    let grounds = Mutex<[GroundInfo]>([])

    public init(edge: Edge, engine: Engine<StaffDirectory>, hasher: any PasswordHashing, settings: StaffSettings = StaffSettings(),
                slow: SlowWork = SlowWork()) {
        self.edge = edge
        self.engine = engine
        self.hasher = hasher
        self.settings = settings
        self.slow = slow
        throttle = Mutex(LoginThrottle(edge.settings.login))
        engine.wake(at: { d in
            d.sessions.values.map(\.expiresMs).min().map { Date(timeIntervalSince1970: Double($0) / 1000) }
        }, run: { d, tx in
            StaffDocuments.end(d.expireSessions(now: tx.nowMs), &tx)
        })
    }

    public var logger: Logger { edge.logger }
    var nowMs: Int64 { edge.nowMs }

    /// The services' streams the board is built from (from their start:
    /// a restarted gateway rebuilds the same board; a restarted service is
    /// caught up by replay, R21).
    public static let followed: [(service: String, prefixes: [String])] = [
        ("roster", ["roster.candidate."]),
        ("timing", ["timing."]),
        ("devices", ["devices.signal.", "devices.rule."]),
        ("discipline", ["discipline."]),
    ]

    // MARK: Accounts (R62)

    /// Accounts from the plan's rooms and panels and the configured ops.
    @discardableResult
    public func syncAccounts() async throws(EdgeError) -> Int {
        let plan = try await edge.currentPlan()
        let seats = StaffSeat.seats(of: plan, ops: settings.ops)
        do {
            let changed = try await engine.write { d, tx -> [StaffAccount] in
                let (changed, ended) = d.sync(seats)
                for a in changed { StaffDocuments.put(a, &tx) }
                StaffDocuments.end(ended, &tx)
                return changed
            }
            for a in changed {
                logger.info(a.retired ? "staff account retired" : "staff account set from the plan",
                            metadata: ["account": "\(a.id)", "role": "\(a.role.rawValue)", "rooms": "\(a.rooms.joined(separator: ","))"])
            }
            return changed.count
        } catch {
            throw EdgeError(failed: error, calling: "gateway's store")
        }
    }

    /// A one-time code: 10 letters and digits without look-alikes, shown
    /// grouped; only its digest is kept.
    static func newCode() -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var g = SystemRandomNumberGenerator()
        let raw = String((0..<10).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &g)] })
        return "\(raw.prefix(4))-\(raw.dropFirst(4).prefix(4))-\(raw.suffix(2))"
    }

    public static func info(_ a: StaffAccount, now: Int64, code: String = "") -> StaffAccountInfo {
        StaffAccountInfo(id: a.id, name: a.name, role: a.role.rawValue, rooms: a.rooms, passwordSet: a.password != nil,
                         locked: a.isLocked(now: now), retired: a.retired, code: code, codeExpiresAtMs: code.isEmpty ? 0 : a.codeExpiresMs)
    }

    /// exam.v1.Gateway/StaffCodes on the engine (ops' `gateway staff codes`).
    public static func issueCodes(_ req: StaffCodesRequest, by who: CallPrincipal, _ d: inout StaffDirectory,
                                  _ tx: inout Transaction, logger: Logger) throws -> StaffCodesReply {
        guard who.role == .ops || who.role == .service else {
            throw RPCError.permissionDenied("staff codes are for ops; \(who.id) (\(who.role)) may not")
        }
        let ids = req.account.isEmpty ? d.waitingForCode(now: tx.nowMs, renew: req.renew) : [req.account]
        var out: [StaffAccountInfo] = []
        var staged = d
        for id in ids {
            let code = newCode()
            do {
                let (a, ended) = try staged.issueCode(id: id, digest: Secrets.digest(StaffSignInBody.normalizeCode(code)),
                                                      reset: req.reset, now: tx.nowMs)
                out.append(info(a, now: tx.nowMs, code: code))
                StaffDocuments.end(ended, &tx)
            } catch {
                switch error {
                case .noSuchAccount: throw RPCError.notFound(error.message)
                case .passwordSet, .retired: throw RPCError.failedPrecondition(error.message)
                }
            }
        }
        d = staged
        for a in out {
            if let acc = d.accounts[a.id] { StaffDocuments.put(acc, &tx) }
            logger.info("staff one-time code issued", metadata: ["account": "\(a.id)", "by": "\(who.id)", "reset": "\(req.reset)"])
        }
        return StaffCodesReply(accounts: out)
    }

    // MARK: Sign-in and sessions (R63)

    public struct SignedIn: Sendable {
        public var view: StaffSessionView
        public var token: String
    }

    /// The session's CSRF token (R63), derived from the cookie's token: a
    /// page of another site cannot read the cookie, so it cannot make the
    /// token; the gateway keeps only digests of both (issue 22).
    public static func csrf(for token: String) -> String { Secrets.derive(token, purpose: "exam-staff-csrf-v1") }

    /// Whether `given` is the session's CSRF token: digests compared in
    /// constant time. A session opened before the CSRF digests (migration
    /// gateway-0001) keeps its random token, whose digest was stored; a
    /// reloaded page of it is given the derived one: both are accepted.
    public static func csrfMatches(_ given: String, _ p: StaffPrincipal) -> Bool {
        let g = Array(Secrets.digest(given).utf8)
        let stored = Secrets.constantTimeEqual(g, Array(p.session.csrfDigest.utf8))
        let derived = Secrets.constantTimeEqual(g, Array(Secrets.digest(p.csrf).utf8))
        return stored || derived
    }

    /// A sign-in (R62, R63). Nothing in the answer, its status, or its cost
    /// tells a real id from an unknown one (issue 22): an unknown id, an
    /// account without a password yet, a retired one and a wrong password
    /// all cost one slow hash and answer 401 with the same message, and all
    /// lock after `maxFailures` in a row (accounts in the store, unknown ids
    /// in `decoys`); with a one-time code the same holds for its own message.
    public func signIn(_ body: StaffSignInBody, address: String) async throws(EdgeError) -> SignedIn {
        try body.check()
        let now = nowMs
        if let refused = throttle.withLock({ $0.admit(phone: body.id, address: address, now: edge.clock()) }) {
            logger.notice("staff sign-in refused by rate limit", metadata: ["account": "\(body.id.prefix(64))", "address": "\(address)"])
            throw refused
        }
        let withCode = body.code != nil
        let wrong: SignInError = withCode ? .wrongCode : .wrong
        let decoyKey = Secrets.digest("staff-id:" + body.id)
        let check: SignInCheck
        let policy: StaffPolicy
        do {
            (check, policy) = try await engine.read { d in (try d.check(id: body.id, withCode: withCode, now: now), d.policy) }
        } catch let e as SignInError {
            logger.notice("staff sign-in refused", metadata: ["account": "\(body.id.prefix(64))", "address": "\(address)", "why": "\(e)"])
            throw e.edgeError(now: now)
        } catch {
            throw EdgeError(failed: error, calling: "gateway's store")
        }
        if check == .unknown, let until = decoys.withLock({ $0.lockedUntil(decoyKey, now: now) }) {
            logger.notice("staff sign-in refused", metadata: ["account": "\(body.id.prefix(64))", "address": "\(address)", "why": "locked"])
            throw SignInError.locked(untilMs: until).edgeError(now: now)
        }
        let h = hasher
        /// The slow hash a real password check costs, for a sign-in that has
        /// nothing to verify: its time tells nothing either.
        @Sendable func decoyHash() async throws(EdgeError) {
            let given = body.password ?? body.code ?? ""
            _ = try await slow.run { h.hash(given, salt: [UInt8](repeating: 0, count: 16)) }
        }
        var newPassword: PasswordRecord?
        let ok: Bool
        switch check {
        case .password(let record):
            let given = body.password ?? ""
            ok = try await slow.run { Secrets.constantTimeEqual(h.hash(given, salt: record.salt), record.hash) }
        case .code(let digest):
            ok = Secrets.constantTimeEqual(Array(Secrets.digest(StaffSignInBody.normalizeCode(body.code ?? "")).utf8), Array(digest.utf8))
            if ok {
                let p = body.newPassword ?? ""
                do { try await engine.read { d in try d.checkNewPassword(p, id: body.id) } } catch let e as SignInError {
                    throw e.edgeError(now: now)
                } catch { throw EdgeError(failed: error, calling: "gateway's store") }
                let salt = Secrets.randomBytes(16)
                let scheme = h.scheme
                newPassword = try await slow.run { PasswordRecord(scheme: scheme, salt: salt, hash: h.hash(p, salt: salt)) }
            } else {
                try await decoyHash()
            }
        case .refuse, .unknown:
            try await decoyHash()
            ok = false
        }
        guard ok else {
            let lockedUntil: Int64?
            if check == .unknown {
                lockedUntil = decoys.withLock { $0.failed(decoyKey, now: now, policy: policy) }
            } else {
                let after = try? await engine.write { d, tx -> StaffAccount? in
                    // The sign-in's own clock, as for an unknown id: the lock's end and
                    // Retry-After are the same to the millisecond (issue 22).
                    let a = d.failed(id: body.id, now: now)
                    if let a { StaffDocuments.put(a, &tx) }
                    return a
                }
                lockedUntil = after.flatMap { $0.isLocked(now: now) ? $0.lockedUntilMs : nil }
            }
            edge.counters.counter(lockedUntil != nil ? "staff.sign_in_locked" : "staff.sign_in_failed").add()
            logger.notice("staff sign-in failed", metadata: ["account": "\(body.id.prefix(64))", "address": "\(address)",
                                                             "why": "\(check == .unknown ? "unknown id" : check == .refuse ? "nothing to verify" : "wrong secret")",
                                                             "locked": "\(lockedUntil != nil)"])
            if let lockedUntil { throw SignInError.locked(untilMs: lockedUntil).edgeError(now: now) }
            throw wrong.edgeError(now: now)
        }
        let token = Secrets.newToken()
        let digest = Secrets.digest(token)
        let csrfDigest = Secrets.digest(Self.csrf(for: token))
        let set = newPassword
        let opened: (StaffAccount, StaffSessionRecord)?
        do {
            opened = try await engine.write { d, tx -> (StaffAccount, StaffSessionRecord)? in
                guard let r = d.signedIn(id: body.id, newPassword: set, session: digest, csrfDigest: csrfDigest, now: tx.nowMs) else { return nil }
                StaffDocuments.put(r.account, &tx)
                StaffDocuments.put(r.session, &tx)
                StaffDocuments.end(r.ended, &tx)
                return (r.account, r.session)
            }
        } catch { throw EdgeError(failed: error, calling: "gateway's store") }
        guard let (account, session) = opened else { throw wrong.edgeError(now: now) }
        edge.counters.counter("staff.sign_ins").add()
        logger.info(set == nil ? "staff signed in" : "staff signed in and set a password",
                    metadata: ["account": "\(account.id)", "role": "\(account.role.rawValue)", "address": "\(address)"])
        return SignedIn(view: try await view(StaffPrincipal(account: account, session: session, csrf: Self.csrf(for: token))), token: token)
    }

    public func view(_ p: StaffPrincipal) async throws(EdgeError) -> StaffSessionView {
        let plan = try? await edge.currentPlan()
        let rooms = (plan?.rooms ?? []).filter { p.account.works(in: $0.id) }.map { RoomRef(id: $0.id, name: $0.name) }
        return StaffSessionView(id: p.account.id, name: p.account.name, role: p.account.role, rooms: rooms, csrf: p.csrf,
                                expiresAtMs: p.session.expiresMs, serverTimeMs: nowMs)
    }

    /// The session of a cookie's token; nil: not signed in (or expired).
    public func authenticate(token: String?) async throws(EdgeError) -> StaffPrincipal {
        guard let token, !token.isEmpty, token.utf8.count <= 128 else {
            throw .unauthenticated("session: not signed in (POST /api/v1/staff/session)")
        }
        let digest = Secrets.digest(token)
        let now = nowMs
        let found: (StaffSessionRecord, StaffAccount)?
        do { found = try await engine.read { d in d.session(digest, now: now) } } catch {
            throw EdgeError(failed: error, calling: "gateway's store")
        }
        guard let (s, a) = found else { throw .unauthenticated("session: expired or signed out; sign in again") }
        return StaffPrincipal(account: a, session: s, csrf: Self.csrf(for: token))
    }

    public func signOut(_ p: StaffPrincipal) async throws(EdgeError) {
        let digest = p.session.digest
        do {
            _ = try await engine.write { d, tx in
                if d.endSession(digest) != nil { StaffDocuments.end([digest], &tx) }
            }
        } catch { throw EdgeError(failed: error, calling: "gateway's store") }
        logger.info("staff signed out", metadata: ["account": "\(p.account.id)"])
        await edge.endMediaGrants(person: p.account.id, role: p.call.role)
    }

    // MARK: Who may do what (R62)

    /// Refuses unless `p` has one of `roles` and works in `room`.
    func require(_ p: StaffPrincipal, _ roles: Set<StaffRole>, room: String?, doing what: String) throws(EdgeError) {
        guard roles.contains(p.account.role) else {
            throw .denied("\(p.account.id) (\(p.account.role.rawValue)) may not \(what); only \(roles.map(\.rawValue).sorted().joined(separator: ", ")) may (R62)")
        }
        if let room, !p.account.works(in: room) {
            throw .denied("\(p.account.id) (\(p.account.role.rawValue)) works in \(p.account.rooms.joined(separator: ", ")), not room \(room): may not \(what) there (R62)")
        }
    }

    func room(_ id: String) async throws(EdgeError) -> ExamRoom {
        guard let r = try await edge.currentPlan().room(id: id) else { throw .notFound("room '\(id.prefix(20))': no such room in the plan") }
        return r
    }

    /// The candidate's room, checked against the staff member's.
    func roomOf(_ examNumber: String, for p: StaffPrincipal, _ roles: Set<StaffRole>, doing what: String) async throws(EdgeError) -> ExamRoom {
        guard let r = try await edge.currentPlan().room(of: examNumber) else {
            throw .notFound("examNumber \(examNumber): not a candidate of the plan")
        }
        try require(p, roles, room: r.id, doing: "\(what) candidate \(examNumber) of room \(r.id)")
        return r
    }

    func call<Req, Resp>(_ service: String, _ method: RPCMethod<Req, Resp>, _ request: Req, as p: StaffPrincipal) async throws(EdgeError) -> Resp {
        try await edge.mesh(service, method, request, as: p.call)
    }
}
