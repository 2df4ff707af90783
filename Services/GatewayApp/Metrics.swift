// GET /metrics (issue 13): Prometheus text for the gateway and the mesh.
// The gateway's own HTTP figures come from Hummingbird's MetricsMiddleware
// through swift-metrics into a Prometheus registry; every mesh member's
// exam.v1.Node/Stats counters follow, one series per member, asked in
// parallel with a short timeout (a member that does not answer is
// exam_service_up 0).
import Bus
import CoreMetrics
import ExamContracts
import GatewayCore
import Foundation
import Hummingbird
import Metrics
import NIOCore
import Prometheus
import Synchronization

/// The process's metrics: one Prometheus registry behind swift-metrics
/// (bootstrapped once, on first use), and the scrape of the mesh.
public final class MeshMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    /// The one instance: MetricsSystem can be bootstrapped only once a process.
    public static let shared = MeshMetrics()

    private init() {
        registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// Records every HTTP request (hb_requests, http_server_request_duration,
    /// hb_request_errors, http_server_active_requests) into the registry.
    public func middleware<Context: RequestContext>() -> MetricsMiddleware<Context> { MetricsMiddleware() }

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The whole scrape: the registry, the gateway's own gauges, then each
    /// member's Stats.
    public func scrape(edge: Edge, timeout: Duration = .seconds(1)) async -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        var text = String(decoding: buffer, as: UTF8.self)
        text += "# TYPE exam_gateway_phone_sockets gauge\nexam_gateway_phone_sockets \(edge.phones.count)\n"
        text += "# TYPE exam_gateway_sessions_cached gauge\nexam_gateway_sessions_cached \(edge.sessions.withLock { $0.count })\n"
        let stats = await Self.stats(of: edge.settings.metricsMembers, mesh: edge.mesh, timeout: timeout)
        text += Self.render(stats)
        return text
    }

    /// Each member's StatsReply (nil: failed or not in time), asked in parallel.
    public static func stats(of members: [String], mesh: any MeshCalls, timeout: Duration) async -> [(String, StatsReply?)] {
        await withTaskGroup(of: (String, StatsReply?).self) { group in
            for m in members {
                group.addTask {
                    let reply = await within(timeout) {
                        try await mesh.call(m, NodeAPI.stats, StatsRequest(), as: CallPrincipal(id: "gateway", role: .service))
                    }
                    return (m, reply)
                }
            }
            var all: [(String, StatsReply?)] = []
            for await r in group { all.append(r) }
            return all.sorted { $0.0 < $1.0 }
        }
    }

    /// `body`'s result, or nil when it fails or takes longer than `limit`
    /// (returns at the limit even if `body` ignores cancellation).
    static func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async -> T? {
        let once = Once()
        let claim: @Sendable () -> Bool = { once.claim() }
        return await withCheckedContinuation { (c: CheckedContinuation<T?, Never>) in
            let work = Task {
                let r = try? await body()
                if claim() { c.resume(returning: r) }
            }
            Task {
                try? await Task.sleep(for: limit)
                if claim() {
                    c.resume(returning: nil)
                    work.cancel()
                }
            }
        }
    }

    /// The members' counters as Prometheus text: exam_service_up per member,
    /// then each stat as exam_service_<name>{service="..."}, one TYPE line
    /// per name; figures that go down (head seq, uptime, rows, bytes, in
    /// flight, open, live) are gauges, the rest counters.
    public static func render(_ stats: [(String, StatsReply?)]) -> String {
        var out = "# HELP exam_service_up 1 if the member answered exam.v1.Node/Stats in time, else 0.\n# TYPE exam_service_up gauge\n"
        for (member, reply) in stats {
            out += "exam_service_up{service=\"\(labelValue(member))\"} \(reply == nil ? 0 : 1)\n"
        }
        var series: [String: [(String, Int64)]] = [:]
        for (member, reply) in stats {
            for c in reply?.counters ?? [] {
                series["exam_service_" + metricName(c.name), default: []].append((member, c.value))
            }
        }
        for name in series.keys.sorted() {
            out += "# TYPE \(name) \(isGauge(name) ? "gauge" : "counter")\n"
            for (member, value) in series[name]! {
                out += "\(name){service=\"\(labelValue(member))\"} \(value)\n"
            }
        }
        return out
    }

    /// A stat's name as a metric name: [a-zA-Z0-9_] only.
    public static func metricName(_ s: String) -> String {
        String(s.unicodeScalars.map { u -> Character in
            (u.isASCII && (CharacterSet.alphanumerics.contains(u) || u == "_")) ? Character(u) : "_"
        })
    }

    static let gaugeMarks = ["head_seq", "latency_p", "latency_max", "uptime", "in_flight", "inflight", "store_rows", "store_bytes", "bytes",
                             "_open", "_live", "active", "connected", "queue", "size", "parked_now"]

    static func isGauge(_ name: String) -> Bool { gaugeMarks.contains { name.contains($0) } }

    /// A label value with Prometheus's escapes (backslash, quote, newline).
    static func labelValue(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Who may scrape: a loopback client, or anyone with the bearer token
    /// the gateway was given (--metrics-token / EXAM_METRICS_TOKEN).
    public static func allows(address: String, authorization: String?, token: String?) -> Bool {
        if isLoopback(address) { return true }
        guard let token, !token.isEmpty, let header = authorization, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)
        let want = Array(token.utf8)
        // Constant time in the token's length.
        guard given.count == want.count else { return false }
        return zip(given, want).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func isLoopback(_ address: String) -> Bool {
        address == "::1" || address.hasPrefix("127.") || address.hasPrefix("::ffff:127.")
    }
}

/// True for the first caller only.
private final class Once: Sendable {
    private let done = Mutex(false)
    func claim() -> Bool { done.withLock { d in defer { d = true }; return !d } }
}

/// GET /metrics, in the router's terms (add it after the router's middleware:
/// Hummingbird wraps a route in the middleware added before it).
struct MetricsRoute: Sendable {
    let edge: Edge
    var metrics = MeshMetrics.shared

    func add(to router: Router<EdgeRequestContext>) {
        router.get("metrics") { req, ctx in try await respond(req, ctx) }
    }

    func respond(_ request: Request, _ context: EdgeRequestContext) async throws -> Response {
        let address = EdgeRoutes.address(request, context, trustForwardedFor: edge.settings.trustForwardedFor)
        guard MeshMetrics.allows(address: address, authorization: request.headers[.authorization], token: edge.settings.metricsToken) else {
            throw EdgeError.denied("GET /metrics: only from this host, or with 'Authorization: Bearer <metrics token>'")
        }
        let text = await metrics.scrape(edge: edge)
        return Response(status: .ok, headers: [.contentType: MeshMetrics.contentType],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
