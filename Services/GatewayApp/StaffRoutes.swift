// The staff console's routes (docs/staff-api.md, protos/http/openapi.json
// under /api/v1/staff): a cookie session (HttpOnly, SameSite=Strict,
// expiring), a CSRF token on every request that changes state (R63), and
// the actor of every mesh call taken from the session (R62).
import Foundation
import GatewayCore
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import Passwords

public enum StaffCookie {
    public static let name = "exam_staff"

    static func token(_ req: Request) -> String? {
        guard let header = req.headers[.cookie] else { return nil }
        for part in header.split(separator: ";") {
            let kv = part.trimmingCharacters(in: .whitespaces)
            if kv.hasPrefix(name + "=") { return String(kv.dropFirst(name.count + 1)) }
        }
        return nil
    }

    static func set(_ token: String, maxAge: Int, secure: Bool) -> String {
        "\(name)=\(token); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)\(secure ? "; Secure" : "")"
    }

    static func clear(secure: Bool) -> String { set("", maxAge: 0, secure: secure) }
}

struct StaffRoutes: Sendable {
    let desk: StaffDesk
    let members: [String]
    let edge: EdgeRoutes

    /// The session of the request's cookie; for a request that changes
    /// state, also its CSRF token (a page of another site cannot read it,
    /// so it cannot forge the request, R63) and, when sent, an Origin of
    /// this site.
    func staff(_ req: Request, changing: Bool) async throws -> StaffPrincipal {
        let p = try await desk.authenticate(token: StaffCookie.token(req))
        if changing {
            try Self.sameOrigin(req)
            let given = req.headers[.init("X-CSRF-Token")!] ?? ""
            guard !given.isEmpty else {
                throw EdgeError.denied("X-CSRF-Token: missing; send the csrf of GET /api/v1/staff/session with every change (R63)")
            }
            // Digests compared in constant time: only the digest is stored (issue 22).
            guard StaffDesk.csrfMatches(given, p) else {
                throw EdgeError.denied("X-CSRF-Token: not this session's token (R63)")
            }
        }
        return p
    }

    static func sameOrigin(_ req: Request) throws {
        if let origin = req.headers[.origin], let host = req.head.authority,
           URL(string: origin)?.host.map({ host == $0 || host.hasPrefix($0 + ":") }) != true {
            throw EdgeError.denied("Origin: \(origin.prefix(80)) is not this site; cross-site requests are refused (R63)")
        }
    }

    func add(to api: RouterGroup<EdgeRequestContext>) {
        let secure = desk.settings.secureCookies
        let maxAge = desk.settings.policy.sessionSeconds
        api.post("session") { req, ctx in
            try Self.sameOrigin(req)
            let body = try await edge.decode(StaffSignInBody.self, req, ctx, what: "sign-in")
            let s = try await desk.signIn(body, address: edge.address(req, ctx))
            var r = try json(s.view, status: .created)
            r.headers[.setCookie] = StaffCookie.set(s.token, maxAge: maxAge, secure: secure)
            return r
        }
        api.get("session") { req, _ in try json(try await desk.view(try await staff(req, changing: false))) }
        api.delete("session") { req, _ in
            try await desk.signOut(try await staff(req, changing: true))
            var r = Response(status: .noContent)
            r.headers[.setCookie] = StaffCookie.clear(secure: secure)
            return r
        }
        // Live rooms (issue 21, R65): one candidate's two rooms.
        api.post("media/grant") { req, ctx in
            let p = try await staff(req, changing: true)
            return try json(try await desk.mediaGrant(p, try await edge.decode(MediaGrantBody.self, req, ctx, what: "media grant")))
        }
        api.delete("media/grant/:grantId") { req, ctx in
            let p = try await staff(req, changing: true)
            return try json(try await desk.endMediaGrant(p, grant: try ctx.pathParameter("grantId")))
        }
        api.get("grounds") { req, _ in
            _ = try await staff(req, changing: false)
            return try json(StaffGroundsReply(grounds: try await desk.grounds().map(GroundReply.init)))
        }
        api.get("checklist") { req, _ in
            _ = try await staff(req, changing: false)
            return try json(ChecklistReply(items: StaffChecklist.items))
        }

        // Proctors (R13, R14, R41)
        api.get("rooms/:room/board") { req, ctx in
            let p = try await staff(req, changing: false)
            return try json(try await desk.roomBoard(p, room: room(ctx), sitting: req.uri.queryParameters.get("sitting")))
        }
        api.post("rooms/:room/screenings") { req, ctx in
            let p = try await staff(req, changing: true)
            return try json(try await desk.screen(p, room: room(ctx), try await edge.decode(ScreeningBody.self, req, ctx, what: "screening")))
        }
        api.post("rooms/:room/interviews") { req, ctx in
            let p = try await staff(req, changing: true)
            return try json(try await desk.start(p, room: room(ctx), try await edge.decode(StartBody.self, req, ctx, what: "start")),
                            status: .created)
        }
        api.post("rooms/:room/answering") { req, ctx in
            let p = try await staff(req, changing: true)
            return try json(try await desk.announceAnswering(p, room: room(ctx),
                                                             try await edge.decode(AnsweringBody.self, req, ctx, what: "answering")))
        }
        api.post("incidents") { req, ctx in
            let p = try await staff(req, changing: true)
            return try json(try await desk.report(p, try await edge.decode(IncidentBody.self, req, ctx, what: "incident")), status: .created)
        }

        // The chief examiner (R42)
        api.get("incidents") { req, _ in
            let p = try await staff(req, changing: false)
            return try json(try await desk.incidents(p, room: req.uri.queryParameters.get("room"),
                                                     status: req.uri.queryParameters.get("status")))
        }
        api.post("incidents/:id/decision") { req, ctx in
            let p = try await staff(req, changing: true)
            return try json(try await desk.decide(p, incident: try ctx.pathParameter("id"),
                                                  try await edge.decode(DecisionBody.self, req, ctx, what: "decision")))
        }
        api.get("rooms/:room/sheet") { req, ctx in
            try json(try await desk.sheet(try await staff(req, changing: false), room: room(ctx)))
        }
        api.post("rooms/:room/seal") { req, ctx in
            try json(try await desk.seal(try await staff(req, changing: true), room: room(ctx)))
        }

        // Recordings (R38, R39): the chief of the candidate's room and ops.
        api.get("candidates/:exam/recordings") { req, ctx in
            let p = try await staff(req, changing: false)
            return try json(try await desk.recordings(p, examNumber: try ctx.pathParameter("exam"),
                                                      sitting: req.uri.queryParameters.get("sitting").map { String($0) }))
        }
        api.get("recordings/:recordingId/video") { req, ctx in
            let p = try await staff(req, changing: false)
            return try await desk.playback(p, recording: try ctx.pathParameter("recordingId"), range: req.headers[.range])
        }

        // Examiners (R50)
        api.get("rooms/:room/scores") { req, ctx in
            try json(try await desk.myScores(try await staff(req, changing: false), room: room(ctx)))
        }
        api.put("scores/:exam") { req, ctx in
            let p = try await staff(req, changing: true)
            return try json(try await desk.submitScore(p, examNumber: try ctx.pathParameter("exam"),
                                                       try await edge.decode(ScoreBody.self, req, ctx, what: "score")))
        }

        // Ops (R1, R55)
        api.put("roster") { req, ctx in
            let p = try await staff(req, changing: true)
            if let ct = req.headers[.contentType], !ct.lowercased().hasPrefix("text/csv"), !ct.lowercased().hasPrefix("application/octet-stream") {
                throw EdgeError.invalid("Content-Type: '\(ct.prefix(40))' is not text/csv")
            }
            let bytes = try await edge.body(req, limit: 8 * 1024 * 1024, what: "the candidate list")
            let name = req.uri.queryParameters.get("fileName").map { String($0) } ?? "roster.csv"
            return try json(try await desk.importRoster(p, csv: Array(buffer: bytes), fileName: String(name.prefix(200))))
        }
        api.get("counts") { req, _ in try json(try await desk.counts(try await staff(req, changing: false))) }
        api.get("health") { req, _ in try json(try await desk.health(try await staff(req, changing: false), members: members)) }
        api.post("publication") { req, _ in try json(try await desk.publish(try await staff(req, changing: true))) }
        api.get("lists/:name") { req, ctx in
            let f = try await desk.list(try await staff(req, changing: false), name: try ctx.pathParameter("name"),
                                        room: req.uri.queryParameters.get("room").map { String($0) })
            let safe = f.fileName.filter { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
            return Response(status: .ok, headers: [
                .contentType: f.json ? "application/json; charset=utf-8" : "text/csv; charset=utf-8",
                .contentDisposition: "attachment; filename=\"\(safe.isEmpty ? "list" : safe)\"",
            ], body: .init(byteBuffer: ByteBuffer(bytes: f.content)))
        }
        api.post("backups") { req, ctx in
            let p = try await staff(req, changing: true)
            return try json(try await desk.backup(p, try await edge.decode(BackupBody.self, req, ctx, what: "backup"), members: members))
        }
    }

    func room(_ ctx: EdgeRequestContext) throws -> String {
        let r = try ctx.pathParameter("room")
        guard !r.isEmpty, r.count <= 32 else { throw EdgeError.invalid("room: '\(r.prefix(40))' is not a room id") }
        return r
    }

    /// The console's board socket: the same cookie session and origin rule.
    static func addLive(_ desk: StaffDesk, to ws: Router<EdgeRequestContext>) {
        ws.ws("/api/v1/staff/live", shouldUpgrade: { request, _ in
            try sameOrigin(request)
            let p = try await desk.authenticate(token: StaffCookie.token(request))
            let room = request.uri.queryParameters.get("room").map { String($0) } ?? ""
            _ = try await desk.roomBoard(p, room: room, sitting: request.uri.queryParameters.get("sitting").map { String($0) })
            return .upgrade([:])
        }, onUpgrade: { inbound, outbound, context in
            let request = context.request
            guard let p = try? await desk.authenticate(token: StaffCookie.token(request)) else { return }
            let texts = inbound.messages(maxSize: 4 * 1024).compactMap { m -> String? in
                if case .text(let s) = m { return s }
                return nil
            }
            await desk.runLive(p, room: request.uri.queryParameters.get("room").map { String($0) } ?? "",
                               sitting: request.uri.queryParameters.get("sitting").map { String($0) },
                               messages: texts, send: { text in try await outbound.write(.text(text)) })
        })
    }
}

struct StaffGroundsReply: Codable, Sendable {
    var grounds: [GroundReply]
}

struct ChecklistReply: Codable, Sendable {
    var items: [ChecklistItemView]
}
