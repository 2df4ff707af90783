import Bus
import ExamContracts
import ExamPlan
import Foundation
import GatewayApp
import GatewayCore
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Passwords
import ServiceKit
import Store
import Testing

/// The staff console through HTTP (R62, R63): a real staff store (SQLite on
/// the gateway's engine) and a stand-in mesh that records who every call
/// acted for.
final class StaffFixture: Sendable {
    let mesh: FakeMesh
    let folder: String
    let engine: Engine<StaffDirectory>
    let desk: StaffDesk

    init(folder: String? = nil, media: Bool = false) throws {
        mesh = FakeMesh.day()
        let plan = StaffFixture.plan()
        mesh.on(TimingAPI.getPlan) { _, _ in plan.info(loadedAt: Date()) }
        mesh.on(ScoringAPI.submitScore) { req, who in
            CandidateScores(examNumber: req.examNumber, name: "张三", panel: [PanelScore(examinerId: who.id, score: req.score)])
        }
        mesh.on(ScoringAPI.publish) { _, _ in PublicationView(version: 1, publishedAtMs: 1, candidates: 2) }
        mesh.on(DisciplineAPI.getIncident) { req, _ in
            IncidentView(incidentId: req.incidentId, examNumber: "2022110001", ground: GroundInfo(number: 1), status: "open")
        }
        mesh.on(DisciplineAPI.decide) { req, who in DecisionView(incidentId: req.incidentId, examNumber: "2022110001", decidedBy: who.id) }
        mesh.on(DisciplineAPI.report) { req, who in
            IncidentView(incidentId: "INC-1", examNumber: req.examNumber, ground: GroundInfo(number: req.ground), reporter: who.id, status: "open")
        }
        self.folder = folder ?? NSTemporaryDirectory() + "staff-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: self.folder, withIntermediateDirectories: true)
        let store = try ServiceStore(path: self.folder + "/gateway.sqlite")
        var logger = Logger(label: "staff-test")
        logger.logLevel = .warning
        engine = try Engine(service: "gateway", store: store, state: try StaffDocuments.load(store, policy: StaffPolicy()),
                            counters: Counters(), logger: logger)
        engine.start(publisher: nil)
        var settings = GatewaySettings()
        settings.media = media
        desk = StaffDesk(edge: Edge(mesh: mesh, settings: settings, logger: logger), engine: engine, hasher: ScryptPasswords(n: 1024))
    }

    func stop() { _ = engine.stop(timeout: .seconds(5)) }

    static func plan() -> ExamPlan {
        let t = Date()
        func w(_ a: Double, _ b: Double) -> TimeWindow { TimeWindow(opens: t.addingTimeInterval(a), closes: t.addingTimeInterval(b)) }
        return ExamPlan(exam: "test", confirmation: w(-100, 10), mockEntry: w(20, 30), formalEntry: w(40, 50), publication: t.addingTimeInterval(86_400),
                        interview: InterviewDurations(),
                        rooms: [ExamRoom(id: "R01", name: "第1考场",
                                         panel: [Examiner(id: "R01-E1", name: "甲", chief: true), Examiner(id: "R01-E2", name: "乙")],
                                         candidates: ["2022110001"], proctors: ["R01-P1"]),
                                ExamRoom(id: "R02", name: "第2考场", panel: [Examiner(id: "R02-E1", name: "丙", chief: true)],
                                         candidates: ["2022110002"], proctors: ["R02-P1"])])
    }

    /// One-time codes of every account, as `gateway staff codes` gets them.
    func codes() async throws -> [String: String] {
        try await desk.syncAccounts()
        let log = desk.logger
        let r = try await engine.write { d, tx in
            try StaffDesk.issueCodes(StaffCodesRequest(), by: CallPrincipal(id: "ops", role: .ops), &d, &tx, logger: log)
        }
        return Dictionary(uniqueKeysWithValues: r.accounts.map { ($0.id, $0.code) })
    }

    func app() -> some ApplicationProtocol {
        buildApplication(edge: desk.edge, files: files, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                         staff: desk, members: ["roster", "timing"])
    }
}

/// A signed-in browser: its cookie and CSRF token.
struct StaffBrowser {
    var cookie: String
    var csrf: String

    func headers(csrf send: Bool = true) -> HTTPFields {
        var h: HTTPFields = [.contentType: "application/json", .cookie: cookie]
        if send { h[.init("X-CSRF-Token")!] = csrf }
        return h
    }
}

func signIn(_ client: some TestClientProtocol, _ id: String, code: String) async throws -> StaffBrowser {
    try await client.execute(uri: "/api/v1/staff/session", method: .post, headers: jsonHeaders,
                             body: json(#"{"id":"\#(id)","code":"\#(code)","newPassword":"a long enough secret"}"#)) { (r: TestResponse) async throws in
        #expect(r.status == .created, "sign-in of \(id): \(String(buffer: r.body))")
        let set = try #require(r.headers[.setCookie])
        #expect(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"))
        let view = try JSONDecoder().decode(StaffSessionView.self, from: Data(buffer: r.body))
        #expect(view.id == id)
        return StaffBrowser(cookie: String(set.split(separator: ";")[0]), csrf: view.csrf)
    }
}

@Suite struct StaffRouterTests {
    @Test func anExaminerOfR01CannotScoreR02sCandidateAndAForgedActorIsIgnored() async throws {
        let f = try StaffFixture()
        defer { f.stop() }
        let codes = try await f.codes()
        try await f.app().test(.router) { client in
            let e2 = try await signIn(client, "R01-E2", code: codes["R01-E2"]!)
            try await client.execute(uri: "/api/v1/staff/scores/2022110002", method: .put, headers: e2.headers(),
                                     body: json(#"{"score":"85.50"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden)
                #expect(try error(r).message.contains("not room R02"))
            }
            #expect(f.mesh.calls("SubmitScore").isEmpty, "nothing reached scoring")
            // Its own room's candidate, with a body claiming to be the chief: the session decides.
            try await client.execute(uri: "/api/v1/staff/scores/2022110001", method: .put, headers: e2.headers(),
                                     body: json(#"{"score":"85.50","examinerId":"R01-E1","actor":{"id":"R01-E1","role":4},"by":"R01-E1"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .ok, "\(String(buffer: r.body))")
                #expect(String(buffer: r.body).contains(#""myScore":"85.50""#))
            }
            let call = try #require(f.mesh.calls("SubmitScore").first)
            #expect(call.actor == CallPrincipal(id: "R01-E2", role: .examiner))
            #expect((call.request as? SubmitScoreRequest)?.examinerId == "")
            // Out of range is refused at the door, before the mesh.
            try await client.execute(uri: "/api/v1/staff/scores/2022110001", method: .put, headers: e2.headers(),
                                     body: json(#"{"score":"100.01"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try error(r).message.hasPrefix("score:"))
            }
            #expect(f.mesh.calls("SubmitScore").count == 1)
        }
    }

    @Test func aProctorCannotDecideButTheRoomsChiefCan() async throws {
        let f = try StaffFixture()
        defer { f.stop() }
        let codes = try await f.codes()
        try await f.app().test(.router) { client in
            let proctor = try await signIn(client, "R01-P1", code: codes["R01-P1"]!)
            try await client.execute(uri: "/api/v1/staff/incidents/INC-1/decision", method: .post, headers: proctor.headers(),
                                     body: json(#"{"disqualify":true,"reason":"seen on camera"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden)
                #expect(try error(r).message.contains("may not decide incidents"))
            }
            let otherChief = try await signIn(client, "R02-E1", code: codes["R02-E1"]!)
            try await client.execute(uri: "/api/v1/staff/incidents/INC-1/decision", method: .post, headers: otherChief.headers(),
                                     body: json(#"{"disqualify":true,"reason":"seen on camera"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden, "R02's chief does not decide about R01's candidate")
            }
            #expect(f.mesh.calls("Decide").isEmpty)
            let chief = try await signIn(client, "R01-E1", code: codes["R01-E1"]!)
            try await client.execute(uri: "/api/v1/staff/incidents/INC-1/decision", method: .post, headers: chief.headers(),
                                     body: json(#"{"disqualify":false,"reason":"a cat, not a person","decidedBy":"ops"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .ok, "\(String(buffer: r.body))")
            }
            #expect(f.mesh.calls("Decide").map(\.actor) == [CallPrincipal(id: "R01-E1", role: .chiefExaminer)])
            // The proctor reports; a forged reporter is ignored.
            try await client.execute(uri: "/api/v1/staff/incidents", method: .post, headers: proctor.headers(),
                                     body: json(#"{"examNumber":"2022110001","ground":1,"note":"someone walked in","reporter":"R01-E1"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .created, "\(String(buffer: r.body))")
            }
            #expect(f.mesh.calls("Report").map(\.actor) == [CallPrincipal(id: "R01-P1", role: .proctor)])
        }
    }

    /// R65: a sign-out ends the person's live-room grants (media is told,
    /// as the gateway's own service actor); the grant itself is asked as the
    /// signed-in account, whatever the body says.
    @Test func liveRoomGrantsAreAskedAsTheAccountAndEndWithTheSignOut() async throws {
        let f = try StaffFixture(media: true)
        defer { f.stop() }
        f.mesh.on(MediaAPI.grantStaff) { req, who in
            MediaGrant(grantId: "g-01", holder: who.id, holderRole: who.role, examNumber: req.examNumber, roomId: "R01", sitting: req.sitting)
        }
        f.mesh.on(MediaAPI.endPerson) { _, _ in EndGrantReply(ended: 1) }
        let codes = try await f.codes()
        try await f.app().test(.router) { client in
            let proctor = try await signIn(client, "R01-P1", code: codes["R01-P1"]!)
            try await client.execute(uri: "/api/v1/staff/media/grant", method: .post, headers: proctor.headers(),
                                     body: json(#"{"examNumber":"2022110001","sitting":"formal","holder":"R01-E1"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .ok, "\(String(buffer: r.body))")
                let g = try JSONDecoder().decode(MediaGrantView.self, from: Data(buffer: r.body))
                #expect(g.holder == "R01-P1" && g.holderRole == "proctor" && g.sitting == "formal")
            }
            // Another room's candidate: refused before the mesh.
            try await client.execute(uri: "/api/v1/staff/media/grant", method: .post, headers: proctor.headers(),
                                     body: json(#"{"examNumber":"2022110002"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden)
            }
            #expect(f.mesh.calls("GrantStaff").map(\.actor) == [CallPrincipal(id: "R01-P1", role: .proctor)])
            try await client.execute(uri: "/api/v1/staff/session", method: .delete, headers: proctor.headers()) { (r: TestResponse) async throws in
                #expect(r.status == .noContent)
            }
            let ended = f.mesh.calls("EndPerson")
            #expect(ended.map(\.actor) == [CallPrincipal(id: "gateway", role: .service)])
            let told = ended.first?.request as? EndPersonRequest
            #expect(told?.person == "R01-P1" && told?.role == .proctor)
        }
    }

    @Test func aCandidatesTokenOpensNoStaffPage() async throws {
        let f = try StaffFixture()
        defer { f.stop() }
        try await f.app().test(.router) { client in
            for (uri, method) in [("/api/v1/staff/session", HTTPRequest.Method.get), ("/api/v1/staff/rooms/R01/board", .get),
                                  ("/api/v1/staff/health", .get), ("/api/v1/staff/publication", .post)] {
                for h: HTTPFields in [bearer("tok-A"), [.cookie: "\(StaffCookie.name)=tok-A"], [:]] {
                    try await client.execute(uri: uri, method: method, headers: h) { (r: TestResponse) async throws in
                        #expect(r.status == .unauthorized, "\(method) \(uri) with \(h)")
                    }
                }
            }
        }
        #expect(f.mesh.calls("Publish").isEmpty)
    }

    @Test func aRequestWithoutTheCSRFTokenChangesNothing() async throws {
        let f = try StaffFixture()
        defer { f.stop() }
        let codes = try await f.codes()
        try await f.app().test(.router) { client in
            let ops = try await signIn(client, "ops", code: codes["ops"]!)
            try await client.execute(uri: "/api/v1/staff/publication", method: .post, headers: ops.headers(csrf: false)) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden)
                #expect(try error(r).message.hasPrefix("X-CSRF-Token: missing"))
            }
            var forged = ops
            forged.csrf = "guessed"
            try await client.execute(uri: "/api/v1/staff/publication", method: .post, headers: forged.headers()) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden)
            }
            var crossSite = ops.headers()
            crossSite[.origin] = "https://evil.example"
            try await client.execute(uri: "/api/v1/staff/publication", method: .post, headers: crossSite) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden)
            }
            try await client.execute(uri: "/api/v1/staff/session", method: .delete, headers: ops.headers(csrf: false)) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden, "signing out is a change too")
            }
            #expect(f.mesh.calls("Publish").isEmpty, "nothing reached scoring")
            try await client.execute(uri: "/api/v1/staff/publication", method: .post, headers: ops.headers()) { (r: TestResponse) async throws in
                #expect(r.status == .ok)
            }
            #expect(f.mesh.calls("Publish").map(\.actor) == [CallPrincipal(id: "ops", role: .ops)])
        }
    }

    @Test func signInLocksAfterFailuresAndSessionsSurviveARestart() async throws {
        let f = try StaffFixture()
        let codes = try await f.codes()
        let kept = try await f.app().test(.router) { client -> StaffBrowser in
            let ops = try await signIn(client, "ops", code: codes["ops"]!)
            // The code is spent.
            try await client.execute(uri: "/api/v1/staff/session", method: .post, headers: jsonHeaders,
                                     body: json(#"{"id":"ops","code":"\#(codes["ops"]!)","newPassword":"another long secret"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try error(r).code == "FAILED_PRECONDITION")
            }
            for _ in 0..<4 {
                try await client.execute(uri: "/api/v1/staff/session", method: .post, headers: jsonHeaders,
                                         body: json(#"{"id":"ops","password":"wrong password"}"#)) { (r: TestResponse) async throws in
                    #expect(r.status == .unauthorized)
                    #expect(try error(r).message == "id or password: wrong")
                }
            }
            try await client.execute(uri: "/api/v1/staff/session", method: .post, headers: jsonHeaders,
                                     body: json(#"{"id":"ops","password":"wrong password"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .tooManyRequests)
                #expect(r.headers[.retryAfter] != nil)
            }
            // Locked: even the right password waits.
            try await client.execute(uri: "/api/v1/staff/session", method: .post, headers: jsonHeaders,
                                     body: json(#"{"id":"ops","password":"a long enough secret"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .tooManyRequests)
            }
            // An unknown id gets the same answer as a wrong password.
            try await client.execute(uri: "/api/v1/staff/session", method: .post, headers: jsonHeaders,
                                     body: json(#"{"id":"nobody","password":"wrong password"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .unauthorized)
                #expect(try error(r).message == "id or password: wrong")
            }
            return ops
        }
        f.stop()
        // A restarted gateway (the same store) knows the session and the lock.
        let again = try StaffFixture(folder: f.folder)
        defer { again.stop() }
        try await again.app().test(.router) { client in
            let ops = kept
            try await client.execute(uri: "/api/v1/staff/session", method: .get, headers: ops.headers(csrf: false)) { (r: TestResponse) async throws in
                #expect(r.status == .ok)
                #expect(try JSONDecoder().decode(StaffSessionView.self, from: Data(buffer: r.body)).csrf == ops.csrf)
            }
            try await client.execute(uri: "/api/v1/staff/session", method: .delete, headers: ops.headers()) { (r: TestResponse) async throws in
                #expect(r.status == .noContent)
                #expect(r.headers[.setCookie]?.contains("Max-Age=0") == true)
            }
            try await client.execute(uri: "/api/v1/staff/session", method: .get, headers: ops.headers(csrf: false)) { (r: TestResponse) async throws in
                #expect(r.status == .unauthorized)
            }
        }
    }

    @Test func proctorsSeeOnlyTheirRoomAndScreenWithTheChecklist() async throws {
        let f = try StaffFixture()
        defer { f.stop() }
        f.mesh.on(TimingAPI.recordScreening) { req, _ in
            CandidateTimingView(examNumber: req.examNumber, roomId: "R01", sitting: req.sitting, screened: true,
                                screeningPassed: req.checklist.allSatisfy(\.passed))
        }
        let codes = try await f.codes()
        try await f.app().test(.router) { client in
            let p = try await signIn(client, "R01-P1", code: codes["R01-P1"]!)
            try await client.execute(uri: "/api/v1/staff/rooms/R02/board", method: .get, headers: p.headers(csrf: false)) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden)
            }
            try await client.execute(uri: "/api/v1/staff/rooms/R02/screenings", method: .post, headers: p.headers(),
                                     body: json(#"{"examNumber":"2022110002","sitting":"formal","identityConfirmed":true}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden)
            }
            try await client.execute(uri: "/api/v1/staff/rooms/R01/screenings", method: .post, headers: p.headers(),
                                     body: json(#"{"examNumber":"2022110001","sitting":"formal","identityConfirmed":true,"checklist":[{"item":"no_mask","passed":false,"note":"mask on"}]}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .ok, "\(String(buffer: r.body))")
                #expect(String(buffer: r.body).contains(#""screening":"failed""#))
            }
            let call = try #require(f.mesh.calls("RecordScreening").first)
            let req = try #require(call.request as? ScreeningRequest)
            #expect(req.checklist.count == 8, "the whole section-6 checklist goes to timing")
            #expect(req.checklist.filter { !$0.passed }.map(\.item) == [.noMask])
            #expect(call.actor == CallPrincipal(id: "R01-P1", role: .proctor))
            try await client.execute(uri: "/api/v1/staff/rooms/R01/screenings", method: .post, headers: p.headers(),
                                     body: json(#"{"examNumber":"2022110001","sitting":"later","identityConfirmed":true}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .badRequest)
                #expect(try error(r).message.hasPrefix("sitting:"))
            }
            #expect(f.mesh.calls("RecordScreening").count == 1)
        }
    }
}
