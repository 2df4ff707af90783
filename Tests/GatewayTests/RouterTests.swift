import Bus
import ExamContracts
import Foundation
import GatewayApp
import GatewayCore
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

/// The repository's files, from this test file's place.
let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let files = EdgeFiles(web: repo + "/Services/Gateway/web", openAPI: repo + "/protos/http/openapi.json")

func app(_ mesh: FakeMesh, _ tune: (inout GatewaySettings) -> Void = { _ in }) -> some ApplicationProtocol {
    var s = GatewaySettings()
    tune(&s)
    var logger = Logger(label: "gateway-test")
    logger.logLevel = .warning
    return buildApplication(edge: Edge(mesh: mesh, settings: s, logger: logger), files: files,
                            configuration: .init(address: .hostname("127.0.0.1", port: 0)))
}

struct ErrorBody: Decodable, Equatable {
    var code: String
    var message: String
}

func json(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }
let jsonHeaders: HTTPFields = [.contentType: "application/json"]
func bearer(_ t: String) -> HTTPFields { [.contentType: "application/json", .authorization: "Bearer \(t)"] }

func error(_ r: TestResponse) throws -> ErrorBody { try JSONDecoder().decode(ErrorBody.self, from: Data(buffer: r.body)) }

@Suite struct RouterTests {
    // R60: bad JSON is a 400 that says where; the mesh hears nothing.
    @Test func malformedJSONAndWrongTypesAre400WithWhere() async throws {
        let mesh = FakeMesh.day()
        try await app(mesh).test(.router) { client in
            try await client.execute(uri: "/api/v1/session", method: .post, headers: jsonHeaders, body: json("{\"phone\": ")) { (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try error(r) == ErrorBody(code: "INVALID_ARGUMENT", message: "login: not valid JSON"))
            }
            try await client.execute(uri: "/api/v1/session", method: .post, headers: jsonHeaders,
                                     body: json("{\"phone\": 13800000001, \"password\": \"123456\"}")) { (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try error(r).message == "login: field 'phone': expected a string")
            }
            try await client.execute(uri: "/api/v1/session", method: .post, headers: [.contentType: "text/plain"],
                                     body: json("phone=1")) { (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try error(r).message.contains("Content-Type"))
            }
        }
        #expect(mesh.calls.isEmpty)
    }

    // R63: bodies have limits: 413, nothing reaches roster.
    @Test func oversizedBodiesAre413() async throws {
        let mesh = FakeMesh.day()
        try await app(mesh) { $0.photoBodyLimit = 1000 }.test(.router) { client in
            let big = String(repeating: "x", count: 20_000)
            try await client.execute(uri: "/api/v1/session", method: .post, headers: jsonHeaders,
                                     body: json("{\"phone\":\"13800000001\",\"password\":\"\(big)\"}")) { (r: TestResponse) async throws in
                #expect(r.status == .contentTooLarge)
                #expect(try error(r).code == "RESOURCE_EXHAUSTED")
                #expect(try error(r).message.contains("16384 bytes"))
            }
            try await client.execute(uri: "/api/v1/me/photo", method: .put,
                                     headers: [.contentType: "image/png", .authorization: "Bearer tok-A"],
                                     body: ByteBuffer(bytes: [UInt8](repeating: 7, count: 5000))) { (r: TestResponse) async throws in
                #expect(r.status == .contentTooLarge)
                #expect(try error(r).message.contains("ID photo"))
            }
        }
        #expect(mesh.calls("UploadIdPhoto").isEmpty)
        #expect(mesh.calls("Login").isEmpty)
    }

    // R63: login attempts per phone number are limited; Retry-After says when.
    @Test func loginRateLimit() async throws {
        let mesh = FakeMesh.day()
        try await app(mesh) { $0.login = .init(perPhone: 2, perAddress: 100, windowSeconds: 60) }.test(.router) { client in
            for _ in 0..<2 {
                try await client.execute(uri: "/api/v1/session", method: .post, headers: jsonHeaders,
                                         body: json("{\"phone\":\"13800000001\",\"password\":\"wrong1\"}")) { (r: TestResponse) async throws in
                    #expect(r.status == .unauthorized)
                    #expect(try error(r) == ErrorBody(code: "UNAUTHENTICATED", message: "wrong phone number or password"))
                }
            }
            try await client.execute(uri: "/api/v1/session", method: .post, headers: jsonHeaders,
                                     body: json("{\"phone\":\"13800000001\",\"password\":\"123456\"}")) { (r: TestResponse) async throws in
                #expect(r.status == .tooManyRequests)
                #expect(r.headers[.retryAfter] != nil)
                #expect(try error(r).code == "RESOURCE_EXHAUSTED")
            }
        }
        #expect(mesh.calls("Login").count == 2)
    }

    /// Issue 22: roster's "come back in N ms" (its hash queue cannot answer
    /// within the call's deadline) reaches the phone as 429 with Retry-After,
    /// and such attempts do not use up the phone's budget (R63): the phone
    /// is still let in when the queue has room again.
    @Test func aQueuedLoginIs429WithRetryAfterAndCostsNoAttempt() async throws {
        let mesh = FakeMesh.day()
        let queueFull = QueueSwitch()
        mesh.on(RosterAPI.login) { req, _ in
            if queueFull.full.withLock({ $0 }) {
                throw RPCError.resourceExhausted("登录人数较多，正在排队，请约 3 秒后重试 (R2)", retryAfterMs: 2_400)
            }
            return LoginReply(token: "tok-A", expiresAtMs: unixMillis(Date()) + 3_600_000, examNumber: "2022110001", defaultPassword: false)
        }
        try await app(mesh) { $0.login = .init(perPhone: 2, perAddress: 3, windowSeconds: 60) }.test(.router) { client in
            for _ in 0..<5 {
                try await client.execute(uri: "/api/v1/session", method: .post, headers: jsonHeaders,
                                         body: json("{\"phone\":\"13800000001\",\"password\":\"Sesame-2022\"}")) { (r: TestResponse) async throws in
                    #expect(r.status == .tooManyRequests)
                    #expect(r.headers[.retryAfter] == "3")
                    #expect(try error(r) == ErrorBody(code: "RESOURCE_EXHAUSTED", message: "登录人数较多，正在排队，请约 3 秒后重试 (R2)"))
                }
            }
            queueFull.full.withLock { $0 = false }
            try await client.execute(uri: "/api/v1/session", method: .post, headers: jsonHeaders,
                                     body: json("{\"phone\":\"13800000001\",\"password\":\"Sesame-2022\"}")) { (r: TestResponse) async throws in
                #expect(r.status == .created)
            }
        }
        #expect(mesh.calls("Login").count == 6)
    }

    /// Sessions last the exam day (issue 22), so logging out ends the
    /// session on roster, not only on the page.
    @Test func logoutEndsTheSessionOnRoster() async throws {
        let mesh = FakeMesh.day()
        mesh.on(RosterAPI.logout) { req, who in
            guard req.token == "tok-A", who == CallPrincipal(id: "2022110001", role: .candidate) else { throw RPCError(.unauthenticated, "unknown session") }
            return SessionView(examNumber: "2022110001", status: .confirmed)
        }
        try await app(mesh).test(.router) { client in
            try await client.execute(uri: "/api/v1/session", method: .delete, headers: [.authorization: "Bearer tok-A"]) { (r: TestResponse) async throws in
                #expect(r.status == .noContent)
            }
            try await client.execute(uri: "/api/v1/session", method: .delete) { (r: TestResponse) async throws in
                #expect(r.status == .unauthorized)
            }
        }
        #expect(mesh.calls("Roster/Logout").count == 1)
    }

    @Test func loginReturnsASession() async throws {
        let mesh = FakeMesh.day()
        try await app(mesh).test(.router) { client in
            try await client.execute(uri: "/api/v1/session", method: .post, headers: jsonHeaders,
                                     body: json("{\"phone\":\"13800000001\",\"password\":\"123456\"}")) { (r: TestResponse) async throws in
                #expect(r.status == .created)
                let s = try JSONDecoder().decode(SessionReply.self, from: Data(buffer: r.body))
                #expect(s.token == "tok-A" && s.examNumber == "2022110001" && s.defaultPassword)
                #expect(s.expiresAt.hasSuffix("+08:00"))
            }
        }
    }

    // Who acts is the verified session's candidate, never the client's word.
    @Test func actorComesFromTheSession() async throws {
        let mesh = FakeMesh.day()
        try await app(mesh).test(.router) { client in
            try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer tok-A", .init("X-Actor")!: "R01-E1"]) { (r: TestResponse) async throws in
                #expect(r.status == .ok)
                let reg = try JSONDecoder().decode(Registration.self, from: Data(buffer: r.body))
                #expect(reg.examNumber == "2022110001" && reg.statusText == "待确认")
            }
            try await client.execute(uri: "/api/v1/me", method: .get) { (r: TestResponse) async throws in
                #expect(r.status == .unauthorized)
                #expect(try error(r).message.contains("Authorization"))
            }
            try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer nope"]) { (r: TestResponse) async throws in
                #expect(r.status == .unauthorized)
            }
        }
        let me = try #require(mesh.calls("Roster/Me").first)
        #expect(me.actor == CallPrincipal(id: "2022110001", role: .candidate))
    }

    // R3, R6: declining gives up the post; the client must say so.
    @Test func declineNeedsExplicitConsent() async throws {
        let mesh = FakeMesh.day()
        try await app(mesh).test(.router) { client in
            try await client.execute(uri: "/api/v1/me/decline", method: .post, headers: bearer("tok-A"), body: json("{\"giveUpPost\":false}")) { (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try error(r).message.contains("gives up"))
            }
            try await client.execute(uri: "/api/v1/me/decline", method: .post, headers: bearer("tok-A"), body: json("{}")) { (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try error(r).message == "decline: field 'giveUpPost': missing")
            }
            #expect(mesh.calls("Decline").isEmpty)
            try await client.execute(uri: "/api/v1/me/decline", method: .post, headers: bearer("tok-A"), body: json("{\"giveUpPost\":true}")) { (r: TestResponse) async throws in
                #expect(r.status == .ok)
            }
        }
        #expect(mesh.calls("Decline").count == 1)
    }

    // R14, R17: the secondary phone may not reveal or end; a token of B with
    // A's phone is refused; nothing reaches timing.
    @Test func onlyTheOwnMainPhoneRevealsAndEnds() async throws {
        let mesh = FakeMesh.day()
        try await app(mesh).test(.router) { client in
            try await client.execute(uri: "/api/v1/sittings/formal/reveal", method: .post, headers: bearer("tok-A"),
                                     body: json("{\"deviceId\":\"A-sec\"}")) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden)
                #expect(try error(r).message.contains("secondary phone"))
            }
            try await client.execute(uri: "/api/v1/sittings/formal/reveal", method: .post, headers: bearer("tok-B"),
                                     body: json("{\"deviceId\":\"A-main\"}")) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden)
                #expect(try error(r).message.contains("not one of candidate 2022110002's"))
            }
            try await client.execute(uri: "/api/v1/sittings/formal/end", method: .post, headers: bearer("tok-A"),
                                     body: json("{\"deviceId\":\"A-main\"}")) { (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try error(r).message.contains("confirm"))
            }
            #expect(mesh.calls("RevealQuestion").isEmpty && mesh.calls("EndInterview").isEmpty)
            try await client.execute(uri: "/api/v1/sittings/formal/reveal", method: .post, headers: bearer("tok-A"),
                                     body: json("{\"deviceId\":\"A-main\"}")) { (r: TestResponse) async throws in
                #expect(r.status == .ok)
            }
            try await client.execute(uri: "/api/v1/sittings/lunch/reveal", method: .post, headers: bearer("tok-A"),
                                     body: json("{\"deviceId\":\"A-main\"}")) { (r: TestResponse) async throws in
                #expect(r.status == .notFound)
            }
        }
        #expect(mesh.calls("RevealQuestion").count == 1)
        #expect(mesh.calls("RevealQuestion").first?.actor == CallPrincipal(id: "2022110001", role: .candidate))
    }

    // The services' codes pass through with grpc-gateway's statuses (R60).
    @Test func serviceErrorsPassThrough() async throws {
        let mesh = FakeMesh.day()
        try await app(mesh).test(.router) { client in
            try await client.execute(uri: "/api/v1/sittings/formal/enter", method: .post, headers: bearer("tok-A"),
                                     body: json("{\"role\":\"main\",\"deviceId\":\"A-main\"}")) { (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try error(r) == ErrorBody(code: "FAILED_PRECONDITION", message: "formal entry is open 11:00-11:10 Beijing; it is 10:59 (R11)"))
            }
            let status = #"{"cameraOn":true,"camera":"front","microphoneOn":true,"speakerVolume":50,"batteryPercent":90,"network":"wifi","inForeground":true,"autoLockOff":true,"clientVersion":"web-1","os":"android","osVersion":"14"}"#
            try await client.execute(uri: "/api/v1/devices", method: .post, headers: bearer("tok-A"),
                                     body: json("{\"role\":\"main\",\"deviceId\":\"third-phone\",\"account\":\"w3\",\"status\":\(status)}")) { (r: TestResponse) async throws in
                #expect(r.status == .conflict)
                #expect(try error(r).code == "ALREADY_EXISTS")
            }
            try await client.execute(uri: "/api/v1/devices", method: .post, headers: bearer("tok-A"),
                                     body: json("{\"role\":\"main\",\"deviceId\":\"A-main\",\"account\":\"w1\",\"status\":\(status)}")) { (r: TestResponse) async throws in
                #expect(r.status == .created)
                let d = try JSONDecoder().decode(DeviceReply.self, from: Data(buffer: r.body))
                #expect(d.deviceKey == "key-A-main")
            }
        }
    }

    // R63: security headers on pages and answers; CSP without inline script.
    @Test func pagesCarrySecurityHeaders() async throws {
        try await app(FakeMesh.day()).test(.router) { client in
            try await client.execute(uri: "/", method: .get) { (r: TestResponse) async throws in
                #expect(r.status == .ok)
                #expect(String(buffer: r.body).contains("<meta charset=\"utf-8\">"))
                let csp = try #require(r.headers[.contentSecurityPolicy])
                #expect(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"))
                #expect(r.headers[.xContentTypeOptions] == "nosniff")
                #expect(r.headers[.accessControlAllowOrigin] == nil)
            }
            try await client.execute(uri: "/api/v1/nothing", method: .get) { (r: TestResponse) async throws in
                #expect(r.status == .notFound)
                #expect(try error(r).code == "NOT_FOUND")
                #expect(r.headers[.cacheControl] == "no-store")
            }
        }
    }

    // Issue 22: '/index.html%00' and '/app.js%00.html' served the file (the
    // NUL cut the name short). A percent-encoded NUL or any other control
    // character in the path is refused (400, what and where), never served.
    @Test func controlCharactersInThePathAreRefused() async throws {
        try await app(FakeMesh.day()).test(.router) { client in
            for uri in ["/index.html%00", "/app.js%00.html", "/index.html%0A", "/index.html%0d%0a", "/staff/index.html%00",
                        "/index.html%7F", "/index.html%C2%85", "/api/v1/time%00", "/%00/index.html"] {
                try await client.execute(uri: uri, method: .get) { (r: TestResponse) async throws in
                    #expect(r.status == .badRequest, "\(uri)")
                    let body = String(buffer: r.body)
                    #expect(!body.lowercased().contains("<html") && !body.contains("ExamWeb") && !body.contains("function"), "\(uri) served a file")
                    #expect(try error(r).code == "INVALID_ARGUMENT", "\(uri)")
                    #expect(try error(r).message.contains("路径"), "\(uri): \(body)")
                }
            }
            try await client.execute(uri: "/index.html", method: .get) { (r: TestResponse) async throws in
                #expect(r.status == .ok)
            }
        }
    }

    // Issue 22: a path parameter with '%3A' was not decoded ('A%3Amain'
    // refused as a device id while 'A:main' is one): path parameters are
    // percent-decoded exactly once.
    @Test func percentEncodedPathParametersAreDecodedOnce() async throws {
        let mesh = FakeMesh.day()
        mesh.on(DevicesAPI.getCandidateDevices) { req, _ in
            CandidateDevicesView(examNumber: req.examNumber, devices: [DeviceView(deviceId: "A:main", role: .main)], fit: true)
        }
        mesh.on(DevicesAPI.heartbeat) { _, _ in HeartbeatReply(fit: true, serverTimeMs: 7) }
        let body = #"{"deviceKey":"key-A","status":{"cameraOn":true,"camera":"front","microphoneOn":true,"speakerVolume":50,"batteryPercent":90,"network":"wifi","inForeground":true,"autoLockOff":true,"clientVersion":"web-1","os":"android","osVersion":"14"}}"#
        try await app(mesh).test(.router) { client in
            for uri in ["/api/v1/devices/A:main/status", "/api/v1/devices/A%3Amain/status", "/api/v1/devices/A%3amain/status"] {
                try await client.execute(uri: uri, method: .post, headers: bearer("tok-A"), body: json(body)) { (r: TestResponse) async throws in
                    #expect(r.status == .ok, "\(uri): \(String(buffer: r.body))")
                }
            }
            // Once, not twice: '%253A' is the text '%3A', not a device id.
            try await client.execute(uri: "/api/v1/devices/A%253Amain/status", method: .post, headers: bearer("tok-A"),
                                     body: json(body)) { (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try error(r).message.contains("A%3Amain"), "\(String(buffer: r.body))")
            }
            // A broken escape says where.
            try await client.execute(uri: "/api/v1/devices/A%zzmain/status", method: .post, headers: bearer("tok-A"),
                                     body: json(body)) { (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try error(r).code == "INVALID_ARGUMENT")
            }
        }
        #expect(mesh.calls("Devices/Heartbeat").map { ($0.request as? HeartbeatRequest)?.deviceId } == ["A:main", "A:main", "A:main"])
    }

    // Issue 22: an unknown enum value in the query string was ignored; it is
    // refused with the parameter and the values allowed, before the mesh.
    @Test func anUnknownRoleInTheQueryIsRefused() async throws {
        let mesh = FakeMesh.day()
        try await app(mesh).test(.router) { client in
            for bad in ["tablet", "MAIN", ""] {
                try await client.execute(uri: "/api/v1/sittings/formal?role=\(bad)", method: .get, headers: bearer("tok-A")) { (r: TestResponse) async throws in
                    #expect(r.status == .badRequest, "role=\(bad)")
                    let e = try error(r)
                    #expect(e.code == "INVALID_ARGUMENT")
                    #expect(e.message.contains("role") && e.message.contains("main") && e.message.contains("secondary"), "\(e.message)")
                }
            }
            #expect(mesh.calls("GetCandidateState").isEmpty, "nothing reached timing")
            for good in ["/api/v1/sittings/formal?role=main", "/api/v1/sittings/formal?role=secondary", "/api/v1/sittings/formal"] {
                try await client.execute(uri: good, method: .get, headers: bearer("tok-A")) { (r: TestResponse) async throws in
                    #expect(r.status == .ok, "\(good): \(String(buffer: r.body))")
                }
            }
        }
    }

    // Issue 22: TRACE (or any method a path does not take) answered 404; the
    // convention is 405 with an Allow header (RFC 9110 15.5.6). Unknown
    // paths stay 404.
    @Test func aMethodAKnownPathDoesNotTakeIs405WithAllow() async throws {
        let trace = HTTPRequest.Method("TRACE")!
        try await app(FakeMesh.day()).test(.router) { client in
            for (uri, method, allow) in [("/api/v1/time", trace, "GET"), ("/api/v1/session", HTTPRequest.Method.put, "DELETE, POST"),
                                         ("/api/v1/devices/A-main/status", trace, "POST"),
                                         ("/api/v1/recordings/2022110001-formal-main", trace, "HEAD, PATCH"),
                                         ("/index.html", trace, "GET, HEAD"), ("/", HTTPRequest.Method.post, "GET, HEAD"),
                                         ("/staff/", trace, "GET, HEAD")] {
                try await client.execute(uri: uri, method: method) { (r: TestResponse) async throws in
                    #expect(r.status == .methodNotAllowed, "\(method) \(uri): \(r.status)")
                    #expect(r.headers[.allow] == allow, "\(method) \(uri)")
                    #expect((try? error(r).code) == "UNIMPLEMENTED", "\(String(buffer: r.body))")
                    #expect(!String(buffer: r.body).lowercased().contains("<html"))
                }
            }
            for uri in ["/api/v1/nothing", "/nothing.html"] {
                try await client.execute(uri: uri, method: trace) { (r: TestResponse) async throws in
                    #expect(r.status == .notFound, "\(uri)")
                }
            }
        }
    }

    // The committed OpenAPI document and the routes are in step: every
    // documented operation is routed (none answers the router's 404).
    @Test func everyDocumentedOperationIsRouted() async throws {
        let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: files.openAPI))) as! [String: Any]
        let paths = (doc["paths"] as! [String: [String: Any]]).mapValues { Array($0.keys) }
        #expect(paths.count >= 33)
        let staff = try StaffFixture()
        defer { staff.stop() }
        try await staff.app().test(.router) { client in
            try await client.execute(uri: "/api/v1/openapi.json", method: .get) { (r: TestResponse) async throws in
                #expect(r.status == .ok)
                #expect(Data(buffer: r.body) == (try Data(contentsOf: URL(fileURLWithPath: files.openAPI))))
            }
            for (path, ops) in paths {
                var uri = path
                for (name, value) in ["{sitting}": "mock", "{deviceId}": "A-main", "{room}": "R01", "{id}": "INC-1",
                                      "{examNumber}": "2022110001", "{list}": "ranking.csv",
                                      "{recordingId}": "2022110001-formal-main", "{grantId}": "g-0123abcd"] {
                    uri = uri.replacingOccurrences(of: name, with: value)
                }
                #expect(!uri.contains("{"), "\(path) has a parameter this test does not fill")
                for method in ops {
                    try await client.execute(uri: uri, method: HTTPRequest.Method(method.uppercased())!, headers: bearer("tok-A"),
                                             body: json("{}")) { (r: TestResponse) async throws in
                        let routerMiss = r.status == .notFound && ((try? error(r).message.contains("no such page")) ?? false)
                        #expect(!routerMiss, "\(method) \(path) is documented but not routed")
                    }
                }
            }
        }
    }
}

/// Whether the stand-in roster's hash queue is full.
final class QueueSwitch: Sendable {
    let full = Mutex(true)
}
