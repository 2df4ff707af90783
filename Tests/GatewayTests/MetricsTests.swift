import Bus
import ExamContracts
import Foundation
import GatewayApp
import Hummingbird
import HummingbirdTesting
import Testing

/// GET /metrics (issue 13): the gateway's HTTP figures and every member's
/// Stats as Prometheus text; only for this host or the metrics token.
@Suite struct MetricsTests {
    static let token = "scrape-secret"

    func mesh() -> FakeMesh {
        let m = FakeMesh.day()
        m.on(NodeAPI.stats) { _, _ in
            StatsReply(service: "roster", counters: [Counter(name: "rpc.calls", value: 123), Counter(name: "engine.head_seq", value: 42),
                                                     Counter(name: "store.rows.documents", value: 7)])
        }
        return m
    }

    @Test func scrapeHasHTTPFiguresAndEachMembersStats() async throws {
        let fake = mesh()
        try await app(fake, {
            $0.metricsToken = Self.token
            $0.metricsMembers = ["gateway", "roster"]
        }).test(.router) { client in
            try await client.execute(uri: "/api/v1/time", method: .get) { (r: TestResponse) async throws in
                #expect(r.status == .ok)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(Self.token)"]) { (r: TestResponse) async throws in
                #expect(r.status == .ok)
                #expect(r.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                let text = String(buffer: r.body)
                // Hummingbird's MetricsMiddleware through swift-metrics.
                #expect(text.contains("hb_requests{"), "\(text)")
                #expect(text.contains("/api/v1/time"))
                #expect(text.contains("http_server_request_duration"))
                // The members' Stats, one TYPE line per name.
                #expect(text.contains("# TYPE exam_service_rpc_calls counter\n"))
                #expect(text.contains("exam_service_rpc_calls{service=\"roster\"} 123\n"))
                #expect(text.contains("# TYPE exam_service_engine_head_seq gauge\n"))
                #expect(text.contains("exam_service_engine_head_seq{service=\"gateway\"} 42\n"))
                #expect(text.contains("# TYPE exam_service_store_rows_documents gauge\n"))
                #expect(text.components(separatedBy: "# TYPE exam_service_rpc_calls ").count == 2)
                #expect(text.contains("exam_service_up{service=\"roster\"} 1\n"))
                #expect(text.contains("exam_gateway_phone_sockets 0\n"))
            }
        }
    }

    @Test func aMemberWhoseStatsFailsIsDown() async throws {
        let fake = mesh()
        let stats = await MeshMetrics.stats(of: ["roster", "timing"], mesh: Failing(inner: fake, failing: "timing"), timeout: .seconds(1))
        let text = MeshMetrics.render(stats)
        #expect(text.contains("exam_service_up{service=\"roster\"} 1\n"))
        #expect(text.contains("exam_service_up{service=\"timing\"} 0\n"))
        #expect(!text.contains("{service=\"timing\"} 1"))
        #expect(text.contains("# TYPE exam_service_up gauge\n"))
    }

    @Test func aMemberThatDoesNotAnswerIsDownWithinTheTimeout() async throws {
        let started = ContinuousClock.now
        let stats = await MeshMetrics.stats(of: ["devices"], mesh: Silent(), timeout: .milliseconds(200))
        // Long before the member's 30 s (a loaded machine may be slow to wake the timer).
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(MeshMetrics.render(stats).contains("exam_service_up{service=\"devices\"} 0\n"))
    }

    @Test func withoutTheTokenFromAnotherHostIs403() async throws {
        try await app(mesh(), { $0.metricsToken = Self.token; $0.metricsMembers = ["roster"] }).test(.router) { client in
            // Router tests have no peer address: not loopback.
            try await client.execute(uri: "/metrics", method: .get) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden)
                #expect(try error(r).code == "PERMISSION_DENIED")
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer wrong-secret"]) { (r: TestResponse) async throws in
                #expect(r.status == .forbidden)
            }
        }
    }

    @Test func accessDecision() {
        #expect(MeshMetrics.allows(address: "127.0.0.1", authorization: nil, token: nil))
        #expect(MeshMetrics.allows(address: "::1", authorization: nil, token: nil))
        #expect(MeshMetrics.allows(address: "::ffff:127.0.0.1", authorization: nil, token: "t"))
        #expect(!MeshMetrics.allows(address: "10.0.0.5", authorization: nil, token: "t"))
        #expect(!MeshMetrics.allows(address: "10.0.0.5", authorization: "Bearer t", token: nil))
        #expect(!MeshMetrics.allows(address: "10.0.0.5", authorization: "Bearer x", token: "t"))
        #expect(!MeshMetrics.allows(address: "10.0.0.5", authorization: "Bearer ", token: ""))
        #expect(MeshMetrics.allows(address: "10.0.0.5", authorization: "Bearer t", token: "t"))
        #expect(!MeshMetrics.allows(address: "unknown", authorization: "Basic t", token: "t"))
    }

    @Test func statNamesAreSanitised() {
        #expect(MeshMetrics.metricName("store.rows.roster-candidates") == "store_rows_roster_candidates")
        #expect(MeshMetrics.metricName("考生.calls") == "___calls")
    }
}

/// The fake mesh, with one member whose calls fail.
struct Failing: MeshCalls {
    let inner: FakeMesh
    let failing: String
    func call<Req, Resp>(_ service: String, _ method: RPCMethod<Req, Resp>, _ request: Req, as who: CallPrincipal) async throws -> Resp {
        if service == failing { throw RPCError(.unavailable, "\(service) is down") }
        return try await inner.call(service, method, request, as: who)
    }
}

/// A member that answers only after 30 s, and ignores cancellation.
struct Silent: MeshCalls {
    func call<Req, Resp>(_ service: String, _ method: RPCMethod<Req, Resp>, _ request: Req, as who: CallPrincipal) async throws -> Resp {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().asyncAfter(deadline: .now() + 30) { c.resume() }
        }
        throw RPCError(.deadlineExceeded, "too late")
    }
}
