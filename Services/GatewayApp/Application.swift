// The gateway's HTTP application (R60-R63): a Hummingbird 2 router around
// the Edge. Routes follow protos/http/openapi.json one to one; every error
// is JSON {code, message} with grpc-gateway's status; pages are the files
// of the web folder, served with a CSP that allows no inline script.
import Foundation
import GatewayCore
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The request context: the client's address (rate limits, logs) and the
/// WebSocket upgrade.
public struct EdgeRequestContext: RequestContext, RemoteAddressRequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<EdgeRequestContext>
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        remoteAddress = source.channel.remoteAddress
    }

    /// Bodies are collected per route with their own limits (EdgeRoutes.body).
    public var maxUploadSize: Int { 8 * 1024 * 1024 }

    /// A path parameter, percent-decoded exactly once (issue 22: the router
    /// matches the raw path, so 'A%3Amain' reached the checks undecoded
    /// while 'A:main' passed; RFC 3986 2.1: both name the same thing).
    func pathParameter(_ name: String) throws(EdgeError) -> String {
        let raw = parameters.get(name) ?? ""
        guard let value = raw.removingPercentEncoding else {
            throw .invalid("路径参数 \(name)：'\(raw.prefix(70))' 的百分号编码无效（% 后应为两位十六进制数，解码后应为 UTF-8）")
        }
        return value
    }
}

public struct EdgeFiles: Sendable {
    /// The candidates' pages (index.html, app.js, app.css).
    public var web: String
    /// The committed OpenAPI document.
    public var openAPI: String
    public init(web: String, openAPI: String) {
        self.web = web
        self.openAPI = openAPI
    }

    /// Finds the repository's files from the working folder or the executable's.
    public static func locate(web: String?, openAPI: String?) -> EdgeFiles {
        let candidates = [FileManager.default.currentDirectoryPath,
                          URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
                              .deletingLastPathComponent().appendingPathComponent("../../..").standardized.path,
                          "/opt/exam"]
        func find(_ rel: String) -> String {
            for c in candidates {
                let p = (c as NSString).appendingPathComponent(rel)
                if FileManager.default.fileExists(atPath: p) { return p }
            }
            return rel
        }
        return EdgeFiles(web: web ?? find("Services/Gateway/web"), openAPI: openAPI ?? find("protos/http/openapi.json"))
    }
}

/// The HTTP application: the API, the WebSocket, the pages.
public func buildApplication(edge: Edge, files: EdgeFiles, configuration: ApplicationConfiguration,
                             staff: StaffDesk? = nil, members: [String] = [],
                             onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in })
    -> some ApplicationProtocol {
    let router = buildRouter(edge: edge, files: files, staff: staff, members: members)
    let ws = Router(context: EdgeRequestContext.self)
    ws.add(middleware: EdgeMiddleware(edge: edge))
    if let staff { StaffRoutes.addLive(staff, to: ws) }
    ws.ws("/api/v1/ws", shouldUpgrade: { request, _ in
        // A page of another site may not open a phone's socket (R63): the
        // Origin, when sent, must be this host.
        if let origin = request.headers[.origin], let host = request.head.authority,
           URL(string: origin)?.host.map({ host == $0 || host.hasPrefix($0 + ":") }) != true {
            throw EdgeError.denied("Origin: \(origin.prefix(80)) is not this site; cross-site WebSockets are refused")
        }
        return .upgrade([:])
    }, onUpgrade: { inbound, outbound, _ in
        let texts = inbound.messages(maxSize: 64 * 1024).compactMap { m -> String? in
            if case .text(let s) = m { return s }
            return nil
        }
        await edge.runPhone(messages: texts, send: { text in try await outbound.write(.text(text)) },
                            close: { reason in try? await outbound.close(.policyViolation, reason: String(reason.prefix(120))) })
    })
    var config = configuration
    config.serverName = "exam-gateway"
    // A district's phones arrive together at the entry window's opening:
    // a short listen queue would drop their connections (SYN retries of 1 s,
    // 3 s); the kernel caps it at net.core.somaxconn.
    config.backlog = max(config.backlog, 4096)
    // Issue 22: half-sent requests (headers never finished) were held open
    // 30 s and more; 500 of them are a slowloris. A connection whose request
    // head is not whole within `headerTimeout` is closed: its first head by
    // HeaderDeadline (Hummingbird's idle handler joins the pipeline only once
    // the first head is read, to tell HTTP from a WebSocket upgrade), every
    // later one on a kept-alive connection by that idle handler with the
    // same bound (it counts from the last response, and never while a
    // request's body keeps coming or its answer is being written). An
    // upgraded WebSocket has neither.
    let timeout = TimeAmount.nanoseconds(Int64(edge.settings.headerTimeout / .nanoseconds(1)))
    let channel = HTTP1WebSocketUpgradeChannel.Configuration(http1: .init(idleTimeout: timeout), ws: .init(maxFrameSize: 64 * 1024))
    let wsResponder = ws.buildResponder()
    let server = HTTPServerBuilder { responder in
        HeaderDeadline.Channel(inner: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: wsResponder, configuration: channel),
                               timeout: timeout)
    }
    return Application(router: router, server: server, configuration: config, onServerRunning: onServerRunning, logger: edge.logger)
}

/// Closes a connection whose first request head (the request line and the
/// headers, up to the blank line) has not arrived whole within `timeout`
/// (issue 22). It reads the raw bytes before any HTTP decoding, and once the
/// head is whole it only passes bytes on.
final class HeaderDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var done = false
    /// The last bytes seen, to find the blank line across reads.
    private var tail: [UInt8] = []

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !done, Self.endsHead(unwrapInboundIn(data).readableBytesView, tail: &tail) {
            done = true
            disarm()
        }
        context.fireChannelRead(data)
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard !done, timer == nil else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            // Told as the end of the client's input first, so that the
            // upgrade step ends quietly: an error line per stalled
            // connection would let a slowloris flood the log.
            bound.value.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            bound.value.close(promise: nil)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }

    /// Whether `bytes` complete the head: a blank line (CRLF CRLF, or LF LF
    /// as lenient parsers take it) across this read and the `tail` of the
    /// ones before.
    static func endsHead(_ bytes: ByteBufferView, tail: inout [UInt8]) -> Bool {
        for b in bytes {
            tail.append(b)
            if tail.count > 4 { tail.removeFirst(tail.count - 4) }
            if tail.suffix(4) == [0x0D, 0x0A, 0x0D, 0x0A] || tail.suffix(2) == [0x0A, 0x0A] { return true }
        }
        return false
    }

    /// The server's child channel with a HeaderDeadline first in its pipeline.
    struct Channel<Inner: ServerChildChannel>: ServerChildChannel {
        typealias Value = Inner.Value
        let inner: Inner
        let timeout: TimeAmount

        func setup(channel: any NIOCore.Channel, logger: Logger) -> EventLoopFuture<Value> {
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(HeaderDeadline(timeout: timeout), position: .first)
            }.flatMap { inner.setup(channel: channel, logger: logger) }
                .flatMapThrowing { value in
                    try channel.pipeline.syncOperations.addHandler(ParseErrorAnswer(logger: logger))
                    return value
                }
        }

        func handle(value: Value, logger: Logger) async {
            await inner.handle(value: value, logger: logger)
        }
    }
}

/// Answers a first request the HTTP parser refuses (a control character in a
/// header or the request line, issue 22) with 400 and closes: the upgrade
/// step of Hummingbird's WebSocket channel lets the parser's error pass to
/// the end of the pipeline unhandled, and the connection stayed open and
/// silent until the client gave up. Added last while the first request is
/// read; once a request is through it only passes things on (later
/// requests are Hummingbird's to answer).
final class ParseErrorAnswer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let logger: Logger
    private var answered = false
    /// A request got through: what follows is Hummingbird's to answer.
    private var passed = false

    init(logger: Logger) { self.logger = logger }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        passed = true
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, !passed else {
            context.fireErrorCaught(error)
            return
        }
        guard !answered else { return }
        answered = true
        logger.notice("request refused before routing: not a valid HTTP/1.1 request (400, closed)", metadata: ["error": "\(error)"])
        let body = #"{"code":"INVALID_ARGUMENT","message":"请求格式无效：请求行或请求头含有不允许的字符 (HTTP 400)"}"#
        let text = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + body
        // Written from the first handler's place: bytes straight to the
        // socket, whatever state the HTTP handlers are in.
        guard let first = try? context.pipeline.syncOperations.context(handlerType: HeaderDeadline.self) else {
            context.close(promise: nil)
            return
        }
        let channel = context.channel
        first.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: text))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// `staff`: the staff console's accounts and work (absent: candidates only);
/// `members`: the mesh's members, for ops' health and backups.
public func buildRouter(edge: Edge, files: EdgeFiles, staff: StaffDesk? = nil, members: [String] = []) -> Router<EdgeRequestContext> {
    let router = Router(context: EdgeRequestContext.self)
    let table = RouteTable(web: files.web)
    router.add(middleware: MeshMetrics.shared.middleware())  // first: it sees every response
    router.add(middleware: EdgeMiddleware(edge: edge, routes: table))
    router.add(middleware: FileMiddleware(files.web, searchForIndexHtml: true))
    MetricsRoute(edge: edge).add(to: router)
    let routes = EdgeRoutes(edge: edge, openAPI: (try? Data(contentsOf: URL(fileURLWithPath: files.openAPI))) ?? Data())
    routes.add(to: router.group("api/v1"))
    if let staff { StaffRoutes(desk: staff, members: members, edge: routes).add(to: router.group("api/v1/staff")) }
    table.set(router.routes)
    return router
}

/// Which methods each path takes (issue 22: TRACE and other methods a path
/// does not take answered 404; RFC 9110 15.5.6: 405 with Allow). Filled
/// once the routes are added; the pages take GET and HEAD.
final class RouteTable: Sendable {
    let web: String
    private let routes = Mutex<[(path: RouterPath, methods: [String])]>([])

    init(web: String) {
        self.web = web
    }

    func set(_ list: [Router<EdgeRequestContext>.RouteDescription]) {
        var byPath: [String: (RouterPath, Set<String>)] = [:]
        for r in list { byPath[r.path.description, default: (r.path, [])].1.insert(r.method.rawValue) }
        routes.withLock { $0 = byPath.values.map { ($0.0, $0.1.sorted()) } }
    }

    /// The methods `path` (raw, as the router matches it) takes; empty: no
    /// such path.
    func allowed(_ path: String) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        let api = routes.withLock { all in
            all.filter { r in r.path.count == parts.count && zip(r.path, parts).allSatisfy { $0 ~= $1 } }.flatMap(\.methods)
        }
        if !api.isEmpty { return Array(Set(api)).sorted() }
        return isPage(path) ? ["GET", "HEAD"] : []
    }

    /// Whether FileMiddleware would serve `path` to a GET.
    func isPage(_ path: String) -> Bool {
        guard !path.hasPrefix("/api/"), let decoded = path.removingPercentEncoding, !decoded.contains("..") else { return false }
        var isFolder: ObjCBool = false
        let file = web + decoded
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isFolder) else { return false }
        return !isFolder.boolValue || FileManager.default.fileExists(atPath: (file as NSString).appendingPathComponent("index.html"))
    }
}

struct EdgeRoutes: Sendable {
    let edge: Edge
    let openAPI: Data

    func add(to api: RouterGroup<EdgeRequestContext>) {
        api.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: openAPI)))
        }
        api.get("time") { _, _ in try json(TimeReply(now: edge.clock())) }
        api.post("session") { req, ctx in
            let body = try await decode(LoginBody.self, req, ctx, what: "login")
            return try json(try await edge.login(body, address: address(req, ctx)), status: .created)
        }
        // Logging out ends the session on roster (it lasts the exam day, so a
        // phone handed on must be able to end it, issue 22).
        api.delete("session") { req, _ in
            try await edge.logout(try await session(req))
            return Response(status: .noContent)
        }
        api.post("password") { req, ctx in
            let s = try await session(req)
            return try json(try await edge.changePassword(s, try await decode(PasswordBody.self, req, ctx, what: "password change")))
        }
        api.get("me") { req, _ in try json(try await edge.me(try await session(req))) }
        api.put("me/photo") { req, ctx in
            let s = try await session(req)
            let bytes = try await body(req, limit: edge.settings.photoBodyLimit, what: "the ID photo")
            return try json(try await edge.uploadPhoto(s, Array(buffer: bytes), contentType: req.headers[.contentType]))
        }
        api.post("me/confirm") { req, _ in try json(try await edge.confirm(try await session(req))) }
        api.post("me/decline") { req, ctx in
            let s = try await session(req)
            return try json(try await edge.decline(s, try await decode(DeclineBody.self, req, ctx, what: "decline")))
        }
        api.post("devices") { req, ctx in
            let s = try await session(req)
            return try json(try await edge.registerDevice(s, try await decode(RegisterDeviceBody.self, req, ctx, what: "device registration")),
                            status: .created)
        }
        api.post("devices/:deviceId/status") { req, ctx in
            let s = try await session(req)
            let id = try ctx.pathParameter("deviceId")
            return try json(try await edge.reportStatus(s, deviceID: id, try await decode(StatusReportBody.self, req, ctx, what: "status")))
        }
        api.get("sittings/:sitting") { req, ctx in
            let s = try await session(req)
            // An unknown role is refused, not ignored (issue 22).
            var role: PhoneRole?
            if let r = req.uri.queryParameters.get("role") {
                guard let known = PhoneRole(rawValue: String(r)) else {
                    throw EdgeError.invalid("查询参数 role：'\(r.prefix(20))' 不是允许的值（\(PhoneRole.allCases.map(\.rawValue).joined(separator: "、"))）")
                }
                role = known
            }
            return try json(try await edge.sittingState(s, try sitting(ctx), role: role))
        }
        api.post("sittings/:sitting/enter") { req, ctx in
            let s = try await session(req)
            return try json(try await edge.enter(s, try sitting(ctx), try await decode(RoomMoveBody.self, req, ctx, what: "enter")))
        }
        api.post("sittings/:sitting/leave") { req, ctx in
            let s = try await session(req)
            return try json(try await edge.leave(s, try sitting(ctx), try await decode(RoomMoveBody.self, req, ctx, what: "leave")))
        }
        api.post("sittings/:sitting/reveal") { req, ctx in
            let s = try await session(req)
            return try json(try await edge.reveal(s, try sitting(ctx), try await decode(MainPhoneBody.self, req, ctx, what: "reveal")))
        }
        api.post("sittings/:sitting/end") { req, ctx in
            let s = try await session(req)
            return try json(try await edge.end(s, try sitting(ctx), try await decode(MainPhoneBody.self, req, ctx, what: "end")))
        }
        // Live rooms (issue 21, R64, R65): a grant to join Janus with.
        api.post("media/grant") { req, ctx in
            let s = try await session(req)
            let proof = try PhoneProof.from(req)
            return try json(try await edge.mediaGrant(s, proof, try await decode(MediaGrantBody.self, req, ctx, what: "media grant")))
        }
        api.delete("media/grant/:grantId") { req, ctx in
            let s = try await session(req)
            return try json(try await edge.endMediaGrant(s, grant: try ctx.pathParameter("grantId")))
        }
        // Recordings (issue 14, R36-R39): tus-like resumable upload.
        api.post("sittings/:sitting/recording") { req, ctx in
            let s = try await session(req)
            let proof = try PhoneProof.from(req)
            let body = try await decode(CreateRecordingBody.self, req, ctx, what: "recording")
            let v = try await Self.tus { try await edge.createRecording(s, try sitting(ctx), proof, body) }
            var r = try json(v, status: .created)
            r.headers[.location] = "/api/v1/recordings/\(v.recordingId)"
            Self.uploadHeaders(&r, v)
            return r
        }
        // Where the server's copy ends: HEAD (tus, headers only) or GET (JSON too).
        @Sendable func uploadState(_ req: Request, _ ctx: EdgeRequestContext, body: Bool) async throws -> Response {
            let s = try await session(req)
            let v = try await Self.tus {
                try await edge.uploadState(s, recording: try ctx.pathParameter("recordingId"), try PhoneProof.from(req))
            }
            var r = try body ? json(v) : Response(status: .ok)
            Self.uploadHeaders(&r, v)
            return r
        }
        api.head("recordings/:recordingId") { req, ctx in try await uploadState(req, ctx, body: false) }
        api.get("recordings/:recordingId/upload") { req, ctx in try await uploadState(req, ctx, body: true) }
        api.patch("recordings/:recordingId") { req, ctx in
            // Too large is refused from its Content-Length before anything
            // else (413, nothing reaches the mesh); a body without one is
            // cut at the limit while it is read.
            let limit = RecordingLimits.maxChunkBytes
            if let cl = req.headers[.contentLength].flatMap(Int.init), cl > limit {
                throw EdgeBodyTooLarge(message: "body: the chunk's \(cl) bytes are more than the \(limit) allowed; send it in slices of at most 1 MiB (R37)")
            }
            let s = try await session(req)
            let proof = try PhoneProof.from(req)
            let h = try ChunkHeaders.parse { name in req.headers[.init(name)!] }
            let bytes = try await body(req, limit: limit, what: "the chunk (at most 1 MiB, R37)")
            let v = try await Self.tus {
                try await edge.appendChunk(s, recording: try ctx.pathParameter("recordingId"), proof, h, bytes)
            }
            var r = Response(status: .noContent)
            Self.uploadHeaders(&r, v)
            return r
        }
    }

    /// tus's answer headers: where the upload stands.
    static func uploadHeaders(_ r: inout Response, _ v: UploadView) {
        r.headers[.init("Upload-Offset")!] = String(v.nextOffset)
        r.headers[.init("Upload-Index")!] = String(v.nextIndex)
        r.headers[.init("Upload-Finished")!] = v.finished || v.closed ? "true" : "false"
        if v.duplicate { r.headers[.init("Upload-Duplicate")!] = "true" }
    }

    /// A chunk out of order is tus's 409 Conflict (the message names the
    /// index and offset expected); every other code as the README's table.
    static func tus<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as EdgeError where e.code == "OUT_OF_RANGE" {
            throw EdgeErrorWithStatus(error: e, status: .conflict)
        }
    }


    func session(_ req: Request) async throws -> CandidateSession {
        let header = req.headers[.authorization] ?? ""
        guard header.hasPrefix("Bearer ") else {
            throw EdgeError.unauthenticated(header.isEmpty ? "Authorization: missing; send 'Bearer <token>' from POST /api/v1/session"
                                                           : "Authorization: not a bearer token; send 'Bearer <token>'")
        }
        return try await edge.authenticate(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces))
    }

    func sitting(_ ctx: EdgeRequestContext) throws -> SittingName {
        try SittingName.parse(try ctx.pathParameter("sitting"))
    }

    func address(_ req: Request, _ ctx: EdgeRequestContext) -> String {
        Self.address(req, ctx, trustForwardedFor: edge.settings.trustForwardedFor)
    }

    static func address(_ req: Request, _ ctx: EdgeRequestContext, trustForwardedFor: Bool) -> String {
        if trustForwardedFor, let f = req.headers[.init("X-Forwarded-For")!]?.split(separator: ",").first {
            return f.trimmingCharacters(in: .whitespaces)
        }
        return ctx.remoteAddress?.ipAddress ?? "unknown"
    }

    func body(_ req: Request, limit: Int, what: String) async throws -> ByteBuffer {
        do {
            return try await req.body.collect(upTo: limit)
        } catch {
            throw EdgeBodyTooLarge(message: "body: \(what) is larger than the \(limit) bytes allowed (R63)")
        }
    }

    func decode<T: Decodable>(_ type: T.Type, _ req: Request, _ ctx: EdgeRequestContext, what: String) async throws -> T {
        if let ct = req.headers[.contentType], !ct.lowercased().hasPrefix("application/json") {
            throw EdgeError.invalid("Content-Type: '\(ct.prefix(40))' is not application/json")
        }
        let b = try await body(req, limit: edge.settings.jsonBodyLimit, what: "the \(what) body")
        return try EdgeJSON.decode(type, from: Data(buffer: b), what: what)
    }
}

/// An edge error answered with another status than the table's (tus's 409).
struct EdgeErrorWithStatus: Error {
    var error: EdgeError
    var status: HTTPResponse.Status
}

/// A body over its limit: 413, code RESOURCE_EXHAUSTED.
struct EdgeBodyTooLarge: Error {
    var message: String
}

func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try PushJSON.encoder.encode(value)
    return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

func errorResponse(_ e: EdgeError, status: HTTPResponse.Status? = nil) -> Response {
    struct Body: Encodable { var code: String; var message: String }
    var r = (try? json(Body(code: e.code, message: e.message), status: status ?? .init(code: e.httpStatus)))
        ?? Response(status: .internalServerError)
    if let s = e.retryAfterSeconds { r.headers[.retryAfter] = String(s) }
    return r
}

/// Every response: errors as JSON, security headers (R63), no caching of
/// API answers, and a log line per request at debug (no query string, no
/// token, no body).
struct EdgeMiddleware: RouterMiddleware {
    typealias Context = EdgeRequestContext
    let edge: Edge
    /// The routes' methods, for 405 with Allow (nil: the WebSocket router).
    var routes: RouteTable?

    /// The pages' policy; `connect` adds the origins the pages may call
    /// besides their own: the mesh's Janus instances, where browsers reach
    /// them directly (a loopback mesh; behind the edge Janus is /janus, on
    /// the site's own origin).
    static func csp(connect: [String] = []) -> String {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            + "media-src 'self' blob: mediastream:; connect-src \((["'self'"] + connect).joined(separator: " ")); object-src 'none'; "
            + "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        do {
            try Self.checkPath(request.uri.path)
            response = try await next(request, context)
        } catch let e as EdgeError {
            response = errorResponse(e)
        } catch let e as ImportRefused {
            // R1: every bad row, with its line and column, for the page to list.
            struct Body: Encodable { var code: String; var message: String; var rows: [ImportRefused.BadRow] }
            response = (try? json(Body(code: "INVALID_ARGUMENT", message: e.message, rows: e.rows), status: .badRequest))
                ?? errorResponse(.invalid(e.message))
        } catch let e as EdgeErrorWithStatus {
            response = errorResponse(e.error, status: e.status)
        } catch let e as RangeRefused {
            response = errorResponse(EdgeError("OUT_OF_RANGE", e.message), status: .rangeNotSatisfiable)
            response.headers[.contentRange] = "bytes */\(e.total.map(String.init) ?? "*")"
        } catch let e as EdgeBodyTooLarge {
            response = errorResponse(EdgeError("RESOURCE_EXHAUSTED", e.message), status: .contentTooLarge)
        } catch let e as HTTPError {
            if e.status == .notFound, let allow = routes?.allowed(request.uri.path), !allow.isEmpty, !allow.contains(request.method.rawValue) {
                // The path is known, the method is not (RFC 9110 15.5.6).
                response = errorResponse(EdgeError("UNIMPLEMENTED", "\(request.method) \(request.uri.path)：该路径不接受此方法；可用的方法：\(allow.joined(separator: ", "))"),
                                         status: .methodNotAllowed)
                response.headers[.allow] = allow.joined(separator: ", ")
            } else {
                response = errorResponse(Self.edgeError(e, request), status: e.status)
            }
        } catch {
            edge.logger.error("unexpected error", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            response = errorResponse(EdgeError("INTERNAL", "the gateway failed on \(request.method) \(request.uri.path)"))
        }
        var h = response.headers
        h[.contentSecurityPolicy] = edge.settings.contentSecurityPolicy
        h[.xContentTypeOptions] = "nosniff"
        h[.init("X-Frame-Options")!] = "DENY"
        h[.init("Referrer-Policy")!] = "no-referrer"
        h[.init("Permissions-Policy")!] = "camera=(self), microphone=(self), geolocation=()"
        h[.init("Cross-Origin-Opener-Policy")!] = "same-origin"
        // API answers are never cached; pages are revalidated (a new version
        // reaches phones at once).
        h[.cacheControl] = request.uri.path.hasPrefix("/api/") ? "no-store" : "no-cache"
        response.headers = h
        let ms = (ContinuousClock.now - started).components
        edge.logger.debug("http", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)",
                                             "status": "\(response.status.code)",
                                             "ms": "\(Double(ms.seconds) * 1000 + Double(ms.attoseconds) / 1e15)"])
        return response
    }

    /// Issue 22: '/index.html%00' and '/app.js%00.html' served the file (the
    /// NUL ended the name in the file system's call). A path with a control
    /// character (C0, DEL, C1), sent raw or percent-encoded, or with a broken
    /// escape, is refused before any route or file sees it.
    static func checkPath(_ raw: String) throws(EdgeError) {
        guard let decoded = raw.removingPercentEncoding else {
            throw .invalid("路径：'\(raw.prefix(80))' 的百分号编码无效（% 后应为两位十六进制数，解码后应为 UTF-8）")
        }
        if let bad = decoded.unicodeScalars.first(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            throw .invalid("路径：含控制字符 U+\(String(format: "%04X", bad.value))（如 %00），请求被拒绝")
        }
    }

    static func edgeError(_ e: HTTPError, _ request: Request) -> EdgeError {
        let code: String = switch e.status.code {
        case 400: "INVALID_ARGUMENT"
        case 401: "UNAUTHENTICATED"
        case 403: "PERMISSION_DENIED"
        case 404: "NOT_FOUND"
        case 405: "UNIMPLEMENTED"
        case 409: "ALREADY_EXISTS"
        case 413, 429: "RESOURCE_EXHAUSTED"
        case 503: "UNAVAILABLE"
        default: e.status.code >= 500 ? "INTERNAL" : "INVALID_ARGUMENT"
        }
        let what: String = switch e.status.code {
        case 404: "\(request.method) \(request.uri.path): no such page or operation (see /api/v1/openapi.json)"
        case 405: "\(request.method) \(request.uri.path): this method is not allowed here"
        case 413: "body: larger than allowed (R63)"
        default: "\(request.method) \(request.uri.path): \(e.body ?? e.status.reasonPhrase)"
        }
        return EdgeError(code, what)
    }
}
