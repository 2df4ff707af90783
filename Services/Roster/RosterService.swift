// roster: candidates, accounts, the confirmation window, identity (R1-R6).
// The thin shell around RosterCore: it hashes passwords (scrypt, salted),
// makes session tokens, keeps ID photos in its own table, follows timing's
// plan for the confirmation window, runs the window's end on the engine's
// timer (also catching up after downtime, R5), stores what changed and
// publishes the core's events. `roster import/list/counts/review/show` are the
// ops and proctor commands, talking to a running roster over the bus.
import ArgumentParser
import Bus
import Passwords
import ExamContracts
import ExamPlan
import Foundation
import GRDB
import Logging
import RosterCore
import ServiceKit
import Store

@main
struct RosterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roster",
        abstract: "The roster service (R1-R6), and its ops/proctor commands.",
        subcommands: [Serve.self, ImportList.self, ListCandidates.self, Counts.self, Show.self, Review.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the roster service.")

    @OptionGroup var host: HostOptions

    @Option(help: "scrypt cost N (a power of two) for candidates' passwords.")
    var scryptN = 1 << 15

    @Option(help: "Wrong passwords tolerated before the account locks.")
    var maxFailures = 5

    @Option(help: "Seconds an account stays locked.")
    var lockSeconds = 900

    @Option(help: "Seconds a login session lasts.")
    var sessionSeconds = 7200

    @Option(help: "Password hashes run at once, off the state thread (default: the number of cores).")
    var hashWorkers = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Logins and password changes waiting for a hash worker; beyond, RESOURCE_EXHAUSTED.")
    var hashQueue = 256

    func run() async throws {
        ExamLogHandler.bootstrap(level: host.level, format: host.format)
        guard scryptN >= 1024, scryptN & (scryptN - 1) == 0 else { throw ValidationError("--scrypt-n must be a power of two, at least 1024") }
        var config = RosterConfig()
        config.maxFailures = maxFailures
        config.lockSeconds = lockSeconds
        config.sessionSeconds = sessionSeconds
        let problems = config.problems()
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "; ")) }
        guard hashWorkers >= 1 else { throw ValidationError("--hash-workers must be at least 1") }
        guard hashQueue >= 0 else { throw ValidationError("--hash-queue must be at least 0") }
        let hasher = ScryptPasswords(n: scryptN)
        let slow = SlowWork(maxRunning: hashWorkers, maxWaiting: hashQueue, label: "roster.hash")
        // One hash now, so the first burst is judged by what a hash costs
        // on this machine (issue 22).
        let clock = ContinuousClock()
        let took = clock.measure { _ = hasher.hash("calibration", salt: Array(repeating: 7, count: 16)) }
        slow.calibrate(took)
        Logger(label: "roster").info("password hash calibrated", metadata: [
            "scrypt_n": "\(scryptN)", "ms": "\(took.components.seconds * 1000 + took.components.attoseconds / 1_000_000_000_000_000)",
            "workers": "\(hashWorkers)"])
        let service = try ServiceHost<RosterState>(name: "roster", options: host, migrations: RosterDocuments.migrations) { store in
            try RosterDocuments.load(store, config: config)
        }
        RosterShell.wire(service, hasher: hasher, slow: slow)
        try await service.run()
    }
}

/// The state as documents (candidate, post, meta) and the photos in a table
/// of their own (bytes are not state the core needs).
enum RosterDocuments {
    static let migrations = [
        Migration("roster-0001-photos") { db in
            try db.execute(sql: """
                CREATE TABLE photos (
                    exam_number TEXT PRIMARY KEY NOT NULL,
                    sha256 TEXT NOT NULL,
                    format TEXT NOT NULL,
                    bytes BLOB NOT NULL,
                    uploaded_ms INTEGER NOT NULL)
                """)
        },
    ]

    static func load(_ store: ServiceStore, config: RosterConfig) throws -> RosterState {
        RosterState(config: config,
                    candidates: try store.documents(Candidate.self, kind: "candidate").map(\.value),
                    posts: try store.documents(Post.self, kind: "post").map(\.value),
                    meta: try store.document(RosterMeta.self, kind: "meta", key: "current") ?? RosterMeta())
    }

    /// Stages the documents the events touched, and publishes the events.
    static func record(_ events: [RosterEvent], _ state: RosterState, _ tx: inout Transaction) throws {
        for d in events.changedDocuments {
            switch d {
            case .candidate(let e):
                if let c = state.candidates[e] { tx.put(c, kind: "candidate", key: e) } else { tx.delete(kind: "candidate", key: e) }
            case .post(let p):
                if let v = state.posts[p] { tx.put(v, kind: "post", key: p) }
            case .meta:
                tx.put(state.meta, kind: "meta", key: "current")
            }
        }
        for e in events {
            for (topic, payload) in RosterWire.payloads(e, state) { try tx.publish(topic, payload) }
        }
    }
}

enum RosterShell {
    static let staff: Set<ActorRole> = [.proctor, .chiefExaminer, .ops]

    static func wire(_ service: ServiceHost<RosterState>, hasher: ScryptPasswords, slow: SlowWork) {
        // R5: the window's end, on time or caught up after downtime.
        service.atStart { state, tx in
            try RosterDocuments.record(state.tick(now: tx.now), state, &tx)
        }
        service.engine.wake(at: { $0.nextDeadline() }) { state, tx in
            try RosterDocuments.record(state.tick(now: tx.now), state, &tx)
        }

        service.serve(RosterAPI.import) { req, info, state, tx in
            try info.require([.ops], to: "importing the candidate list")
            let outcome = try run(&state, &tx) { s, now in
                let o = try s.importCSV(req.csv, fileName: req.fileName.isEmpty ? "import.csv" : req.fileName, now: now)
                return (o.events, o)
            }
            try tx.publish("roster.import.completed", ImportCompleted(fileName: outcome.fileName, rows: UInt32(outcome.rows),
                                                                     imported: UInt32(outcome.added), updated: UInt32(outcome.updated),
                                                                     unchanged: UInt32(outcome.unchanged), atMs: tx.nowMs))
            return ImportReply(rows: UInt32(outcome.rows), imported: UInt32(outcome.added), updated: UInt32(outcome.updated),
                               unchanged: UInt32(outcome.unchanged), posts: RosterWire.posts(state))
        }

        // Login (R2) in three steps, so the slow hash never runs on the state
        // thread: on the engine, what the password is checked against (quick,
        // changes nothing); the check on a hash worker (`slow`, bounded: a
        // flood beyond its queue is told to come back); on the engine again,
        // the verdict applied to the state as it is then. Wrong passwords are
        // counted (a change), so the count is committed and then the caller
        // hears "wrong". The reply goes out when the last step is committed;
        // no reactor or engine thread waits meanwhile.
        let engine = service.engine
        service.server.serveDeferred(RosterAPI.login) { req, info, responder in
            Task {
                let token = Secrets.newToken()
                let digest = Secrets.digest(token)
                do {
                    let check = try await engine.write { state, tx in
                        try op { try state.loginCheck(phone: req.phone, password: req.password, tokenDigest: digest,
                                                      now: tx.now, scheme: hasher.scheme) }
                    }
                    let password = req.password
                    // Every login costs one hash (issue 22), on a worker, if
                    // it can be done before the caller gives up.
                    let verdict = try await slow.run(finishBy: finishBy(info), busy: busy) {
                        check.password.verify(password, hasher: hasher)
                    }
                    engine.submitResult(responder, info) { state, tx in
                        do {
                            return try run(&state, &tx) { s, now -> ([RosterEvent], Result<LoginReply, Error>) in
                                switch try s.applyLogin(check, verdict: verdict, tokenDigest: digest, now: now) {
                                case .loggedIn(let session, let events):
                                    let changed = s.candidates[session.examNumber]?.account.password != nil
                                    return (events, .success(LoginReply(token: token, expiresAtMs: session.expires.unixMs,
                                                                        examNumber: session.examNumber, defaultPassword: !changed)))
                                case .wrongPassword(let error, let events):
                                    return (events, .failure(RosterShell.bus(error)))
                                }
                            }
                        } catch {
                            return .failure(error)
                        }
                    }
                } catch {
                    responder.fail(error)
                }
            }
        }

        // Logging out ends the session of the token (a candidate on a shared
        // phone; sessions last the exam day, so they must be revocable).
        service.serve(RosterAPI.logout) { req, _, state, tx in
            let digest = Secrets.digest(req.token)
            let exam = try run(&state, &tx) { s, now in
                let exam = try s.authenticate(tokenDigest: digest, now: now)
                return (try s.logout(tokenDigest: digest, now: now), exam)
            }
            let c = state.candidates[exam]
            return SessionView(examNumber: exam, status: RosterWire.status(c?.status ?? .imported), expiresAtMs: 0)
        }

        // A password change: the same three steps (the old password checked
        // and the new one hashed on a worker).
        service.server.serveDeferred(RosterAPI.changePassword) { req, info, responder in
            Task {
                let digest = Secrets.digest(req.token)
                do {
                    let salt = Secrets.randomBytes(16)
                    let check = try await engine.write { state, tx in
                        try op { try state.passwordChangeCheck(tokenDigest: digest, oldPassword: req.oldPassword, newPassword: req.newPassword,
                                                               salt: salt, now: tx.now, scheme: hasher.scheme) }
                    }
                    let (old, new) = (req.oldPassword, req.newPassword)
                    let verdict = try await slow.run(finishBy: finishBy(info), busy: busy) {
                        check.verify(oldPassword: old, newPassword: new, hasher: hasher)
                    }
                    engine.submitResult(responder, info) { state, tx in
                        do {
                            let changed = try run(&state, &tx) { s, now -> ([RosterEvent], Result<String, Error>) in
                                switch try s.applyPasswordChange(check, verdict: verdict, tokenDigest: digest, now: now) {
                                case .changed(let events):
                                    return (events, .success(try s.authenticate(tokenDigest: digest, now: now)))
                                case .wrongPassword(let error, let events):
                                    return (events, .failure(RosterShell.bus(error)))
                                }
                            }
                            let exam = try changed.get()
                            return .success(try RosterWire.view(state, exam))
                        } catch {
                            return .failure(error)
                        }
                    }
                } catch {
                    responder.fail(error)
                }
            }
        }

        service.server.serveDeferred(RosterAPI.uploadIdPhoto) { req, info, responder in
            // Hash the bytes off the engine thread; the core judges them.
            let digest = Secrets.sha256Hex(req.photo)
            service.engine.submit(responder, info) { state, tx in
                let exam = try run(&state, &tx) { s, now in
                    let events = try s.uploadPhoto(tokenDigest: Secrets.digest(req.token), photo: req.photo,
                                                   fileName: req.fileName, sha256: digest, now: now)
                    return (events, try s.authenticate(tokenDigest: Secrets.digest(req.token), now: now))
                }
                let format = PhotoInspector.format(of: req.photo)?.rawValue ?? "unknown"
                let photo = req.photo, at = tx.nowMs
                tx.execute { db in
                    try db.execute(sql: """
                        INSERT INTO photos(exam_number, sha256, format, bytes, uploaded_ms) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT(exam_number) DO UPDATE SET sha256 = excluded.sha256, format = excluded.format,
                            bytes = excluded.bytes, uploaded_ms = excluded.uploaded_ms
                        """, arguments: [exam, digest, format, photo, at])
                }
                return try RosterWire.view(state, exam)
            }
        }

        service.serve(RosterAPI.confirm) { req, _, state, tx in
            let exam = try run(&state, &tx) { s, now in
                (try s.confirm(tokenDigest: Secrets.digest(req.token), now: now), try s.authenticate(tokenDigest: Secrets.digest(req.token), now: now))
            }
            return try RosterWire.view(state, exam)
        }
        service.serve(RosterAPI.decline) { req, _, state, tx in
            let exam = try run(&state, &tx) { s, now in
                (try s.decline(tokenDigest: Secrets.digest(req.token), now: now), try s.authenticate(tokenDigest: Secrets.digest(req.token), now: now))
            }
            return try RosterWire.view(state, exam)
        }
        service.serve(RosterAPI.authenticate) { req, info, state, tx in
            // Service-only (issue 16): the services ask who a token is; a tool
            // or the edge acting for a person has no business asking.
            try info.require([.service], to: "Authenticate (who a candidate's token belongs to)")
            let exam = try op { try state.authenticate(tokenDigest: Secrets.digest(req.token), now: tx.now) }
            let c = state.candidates[exam]
            return SessionView(examNumber: exam, status: RosterWire.status(c?.status ?? .imported),
                               expiresAtMs: c?.account.sessions[Secrets.digest(req.token)]?.unixMs ?? 0)
        }

        // The candidate's own record, by token (R61 "my registration"): a
        // candidate never names whose record it reads.
        service.serve(RosterAPI.me) { req, _, state, tx in
            let exam = try op { try state.authenticate(tokenDigest: Secrets.digest(req.token), now: tx.now) }
            return try RosterWire.view(state, exam)
        }
        service.serve(RosterAPI.getCandidate) { req, info, state, _ in
            try info.require(staff.union([.service, .examiner]), to: "reading a candidate's record")
            return try RosterWire.view(state, req.examNumber)
        }
        service.serve(RosterAPI.listCandidates) { req, info, state, _ in
            try info.require(staff.union([.service, .examiner]), to: "listing candidates")
            let status = req.status == .unspecified ? nil : RosterWire.coreStatuses(req.status)
            let limit = req.limit == 0 ? 100 : Int(req.limit)
            var items: [ExamContracts.CandidateView] = []
            var total = 0
            for s in status ?? [nil] {
                let page = try op { try state.list(status: s, postCode: req.postCode.isEmpty ? nil : req.postCode,
                                                   offset: Int(req.offset), limit: limit) }
                total += page.total
                items += page.items.map(RosterWire.view)
            }
            return CandidateList(candidates: Array(items.prefix(limit)), total: UInt32(total))
        }
        service.serve(RosterAPI.counts) { _, _, state, _ in
            let counts = state.countsByStatus()
            var merged: [ExamContracts.CandidateStatus: Int] = [:]
            for (k, v) in counts { merged[RosterWire.status(k), default: 0] += v }
            return RosterCounts(byStatus: merged.sorted { $0.key.rawValue < $1.key.rawValue }.map { StatusCount(status: $0.key, count: UInt32($0.value)) },
                                total: UInt32(state.candidates.count), pendingReview: UInt32(state.reviewQueue().count),
                                posts: RosterWire.posts(state))
        }
        service.serve(RosterAPI.reviewQueue) { req, info, state, _ in
            try info.require(staff, to: "reading the photo review queue")
            let queue = state.reviewQueue().prefix(req.limit == 0 ? 100 : Int(req.limit))
            return CandidateList(candidates: try queue.map { try RosterWire.view(state, $0.examNumber) }, total: UInt32(state.reviewQueue().count))
        }
        service.serve(RosterAPI.reviewPhoto) { req, info, state, tx in
            try info.require(staff, to: "deciding a photo review")
            try run(&state, &tx) { s, now in
                (try s.reviewPhoto(examNumber: req.examNumber, approve: req.approve, reason: req.reason.isEmpty ? nil : req.reason,
                                   reviewer: info.principal.id, now: now), ())
            }
            return try RosterWire.view(state, req.examNumber)
        }
        service.serve(RosterAPI.recordFaceComparison) { req, info, state, tx in
            try info.require([.service, .ops], to: "recording a face comparison")
            var score: Points?
            if !req.score.isEmpty {
                do { score = try Points(req.score) } catch { throw RPCError.invalidArgument("score: \(error)") }
            }
            try run(&state, &tx) { s, now in
                (try s.recordFaceComparison(examNumber: req.examNumber, photoSHA256: req.photoSha256,
                                            backend: req.backend.isEmpty ? info.principal.id : req.backend, match: req.match,
                                            score: score, reason: req.reason.isEmpty ? nil : req.reason, now: now), ())
            }
            return try RosterWire.view(state, req.examNumber)
        }
        let store = service.store
        service.server.serve(RosterAPI.getPhoto) { req, info in
            try info.require(staff, to: "seeing an ID photo")
            guard let row = try store.read({ db in
                try Row.fetchOne(db, sql: "SELECT bytes, format FROM photos WHERE exam_number = ?", arguments: [req.examNumber])
            }) else { throw RPCError.notFound("no photo stored for \(req.examNumber)") }
            return PhotoReply(examNumber: req.examNumber, photo: row["bytes"], format: row["format"])
        }

        // R3: the window comes from timing's plan.
        service.follow("timing", prefixes: ["timing.plan.published"]) { event, state, tx in
            let plan = try ExamPlan(info: try event.decode(ExamPlanInfo.self))
            try run(&state, &tx) { s, now in (try s.setPlan(plan, now: now), ()) }
        }
    }

    /// Fires what is due (the window's end), then runs `body` with the same
    /// now; stores and publishes every event (also the tick's when the
    /// operation is refused).
    @discardableResult
    static func run<T>(_ state: inout RosterState, _ tx: inout Transaction,
                       _ body: (inout RosterState, Date) throws -> ([RosterEvent], T)) throws -> T {
        let now = tx.now
        let due = state.tick(now: now)
        do {
            let (events, result) = try op { try body(&state, now) }
            try RosterDocuments.record(due + events, state, &tx)
            return result
        } catch {
            try RosterDocuments.record(due, state, &tx)
            throw error
        }
    }

    /// A login or password change the hash workers cannot take in time:
    /// "come back after `retryAfter`", said at once (issue 22). The phone
    /// page waits and retries by itself, showing "排队登录中".
    static func busy(_ retryAfter: Duration) -> RPCError {
        let ms = max(1000, min(60_000, retryAfter.components.seconds * 1000 + retryAfter.components.attoseconds / 1_000_000_000_000_000))
        return RPCError.resourceExhausted("登录人数较多，正在排队，请约 \((ms + 999) / 1000) 秒后重试 (R2)", retryAfterMs: UInt32(ms))
    }

    /// The time by which a hash must be done for its answer to reach the
    /// caller: the call's deadline less a margin for the state step and the
    /// reply, and a tenth of what is left (a loaded machine is slower than
    /// its average; nil: the caller set none).
    static func finishBy(_ info: CallInfo) -> Int64? {
        guard info.deadlineUnixMs != 0 else { return nil }
        let left = info.deadlineUnixMs - SlowWork.unixMs()
        return info.deadlineUnixMs - replyMarginMs - max(0, left / 10)
    }
    static let replyMarginMs: Int64 = 250

    static func op<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as RosterError { throw bus(e) }
    }

    static func bus(_ e: RosterError) -> RPCError {
        // The details are added unless the message already lists them (a
        // refused import names every bad row once, R1).
        let listed = e.details.allSatisfy { e.message.contains($0) }
        let details = e.details.isEmpty || listed ? "" : "\n" + e.details.joined(separator: "\n")
        return RPCError(RPCCode(rawValue: e.code.grpcStatus) ?? .internal, e.message + details)
    }
}
