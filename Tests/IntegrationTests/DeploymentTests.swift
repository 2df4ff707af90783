import Foundation
import ServiceKit
import TestSupport
import Testing

@Suite("deployment files")
struct DeploymentTests {
    func run(_ args: [String]) async throws -> (Int32, String) {
        try await runCommand("/usr/bin/env", args, in: repositoryRoot())
    }

    /// Debian's docker-compose validates the file without an engine.
    @Test func composeFileIsValidAndGivesEachServiceItsOwnVolume() async throws {
        let (status, text) = try await run(["docker-compose", "-f", "compose/docker-compose.yml", "config"])
        #expect(status == 0, "\(text)")
        for s in MeshConfig.serviceNames + [MeshConfig.gatewayName, MeshConfig.mediaName, "janus"] {
            #expect(text.contains("\(s)-data:/data") || text.contains("source: \(s)-data"), "\(s) has no volume of its own")
            #expect(text.contains("\n  \(s):\n"), "\(s) is not a service of the compose file")
        }
    }

    @Test func meshFilesListEveryServiceAndAgreeOnPorts() throws {
        let root = repositoryRoot()
        let local = try MeshConfig.load(path: root + "/compose/mesh.json")
        let compose = try MeshConfig.load(path: root + "/compose/mesh.compose.json")
        let members = Set(MeshConfig.serviceNames + [MeshConfig.gatewayName, MeshConfig.mediaName])
        #expect(Set(local.services.keys) == members)
        // Janus (R64): one instance each; browsers reach it through the edge in compose.
        #expect(local.janus?.map(\.name) == ["janus"] && compose.janus?.map(\.name) == ["janus"])
        #expect(compose.janus?.first?.public == "/janus" && compose.janus?.first?.rtpPorts == local.janus?.first?.rtpPorts)
        #expect(Set(compose.services.keys) == members)
        // The gateway's HTTP address: loopback locally, every interface in a container.
        #expect(local.services[MeshConfig.gatewayName]?.http == "127.0.0.1:8080")
        #expect(compose.services[MeshConfig.gatewayName]?.http == "0.0.0.0:8080")
        for s in members {
            let port = { (e: String) in e.split(separator: ":").last.map(String.init) ?? "" }
            #expect(port(local.services[s]!.rpc) == port(compose.services[s]!.rpc))
            #expect(port(local.services[s]!.events) == port(compose.services[s]!.events))
        }
    }

    /// One service's block of `docker-compose config`'s output: its lines
    /// below `  name:`, indented deeper.
    func block(_ name: String, of config: String) -> String {
        let lines = config.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: "  \(name):") else { return "" }
        return lines[(start + 1)...].prefix { $0.hasPrefix("    ") }.joined(separator: "\n")
    }

    /// Issue 16: from outside only the edge (nginx, TLS) is reached, on 443
    /// and 80; the gateway is not published, marks its cookie Secure and
    /// takes the client's address from the edge; the edge's configuration
    /// and the site's certificate are mounted where exam-edge.conf reads
    /// them, and it proxies to the gateway's port of the compose mesh.
    @Test func theEdgeTerminatesTLSInFrontOfTheGateway() async throws {
        let (status, config) = try await run(["docker-compose", "-f", "compose/docker-compose.yml", "config"])
        #expect(status == 0, "\(config)")
        let edge = block("edge", of: config), gateway = block("gateway", of: config)
        #expect(!edge.isEmpty, "no edge service:\n\(config)")
        for published in ["443", "80"] {
            #expect(edge.contains("published: \(published)\n      target: \(published)"), "the edge does not publish \(published):\n\(edge)")
        }
        #expect(edge.contains("nginx/exam-edge.conf:/etc/nginx/conf.d/exam-edge.conf:ro"), "\(edge)")
        #expect(edge.contains("target: /etc/exam/tls/site.crt") && edge.contains("target: /etc/exam/tls/site.key"), "\(edge)")
        #expect(edge.contains("gateway"), "the edge does not depend on the gateway:\n\(edge)")
        #expect(!gateway.isEmpty)
        #expect(!gateway.contains("published:") && !gateway.contains("ports:"), "the gateway is published directly:\n\(gateway)")
        #expect(gateway.contains("- --secure-cookies") && gateway.contains("- --trust-forwarded-for"), "\(gateway)")
        // Nothing else is published either: the edge is the only door, and
        // Janus publishes its media ports (UDP) only: its signalling goes
        // through the edge's /janus (issue 21).
        let members = MeshConfig.serviceNames + [MeshConfig.gatewayName, MeshConfig.mediaName, "janus", "edge"]
        let publishing = Set(members.filter { block($0, of: config).contains("published:") })
        #expect(publishing == ["edge", "janus"])
        let janus = block("janus", of: config)
        #expect(janus.contains("protocol: udp") && !janus.contains("protocol: tcp"), "Janus publishes more than its UDP media ports:\n\(janus)")
        #expect(!janus.contains("target: 8188\n      published"), "\(janus)")

        let root = repositoryRoot()
        let conf = try String(contentsOfFile: root + "/compose/nginx/exam-edge.conf", encoding: .utf8)
        let mesh = try MeshConfig.load(path: root + "/compose/mesh.compose.json")
        let port = mesh.services[MeshConfig.gatewayName]?.http?.split(separator: ":").last.map(String.init) ?? "?"
        for line in ["listen 443 ssl http2", "listen 80", "ssl_certificate     /etc/exam/tls/site.crt;",
                     "ssl_certificate_key /etc/exam/tls/site.key;", "ssl_protocols TLSv1.2 TLSv1.3;",
                     "set $exam_gateway http://gateway:\(port);", "add_header Strict-Transport-Security",
                     "location = /api/v1/ws {", "location = /api/v1/staff/live {", "client_max_body_size 8m;",
                     "set $exam_janus http://janus:8188;", "location /janus {"] {
            #expect(conf.contains(line), "exam-edge.conf has no '\(line)'")
        }
    }

    @Test func aBrokenMeshFileIsRefusedWithEveryProblem() throws {
        let dir = try temporaryFolder("mesh")
        try Data("""
        { "mesh": "x", "services": {
            "roster": { "rpc": "tcp://127.0.0.1:7101", "events": "tcp://127.0.0.1:7101" },
            "Timing": { "rpc": "http://x", "events": "tcp://127.0.0.1:99999" } } }
        """.utf8).write(to: URL(fileURLWithPath: dir + "/mesh.json"))
        do {
            _ = try MeshConfig.load(path: dir + "/mesh.json")
            Issue.record("accepted")
        } catch let e as ConfigError {
            #expect(e.description.contains("services.Timing: a service name is lowercase"))
            #expect(e.description.contains("services.Timing.rpc: 'http://x' is not a tcp://"))
            #expect(e.description.contains("services.Timing.events: 'tcp://127.0.0.1:99999' has no valid port"))
            #expect(e.description.contains("services.roster.events: tcp://127.0.0.1:7101 is also services.roster.rpc"))
        }
    }

    /// A service's own configuration file (devices --config, scoring
    /// --config): no file gives the defaults; a bad one is refused with what
    /// and where, and every broken constraint listed.
    @Test func aServiceConfigurationIsReadOrRefusedWithWhatAndWhere() throws {
        struct Limits: Decodable, Equatable {
            var timeoutSeconds = 10
            var ratio = 1
            func problems() -> [String] {
                (timeoutSeconds > 0 ? [] : ["timeoutSeconds must be above 0"]) + (ratio >= 1 ? [] : ["ratio must be at least 1"])
            }
        }
        let dir = try temporaryFolder("config")
        func load(_ text: String?) throws -> Limits {
            var path: String?
            if let text {
                path = dir + "/limits.json"
                try Data(text.utf8).write(to: URL(fileURLWithPath: path!))
            }
            return try loadServiceConfiguration(path, what: "limits configuration", defaults: Limits()) { $0.problems() }
        }
        func refusal(_ text: String) -> String {
            switch Result(catching: { try load(text) }) {
            case .success: return "accepted"
            case .failure(let error): return (error as? ConfigError)?.description ?? "not a ConfigError: \(error)"
            }
        }
        #expect(try load(nil) == Limits())
        #expect(try load(#"{"timeoutSeconds": 3, "ratio": 2}"#) == Limits(timeoutSeconds: 3, ratio: 2))
        #expect(refusal(#"{"timeoutSeconds": "ten", "ratio": 1}"#) == "limits configuration \(dir)/limits.json is not valid: timeoutSeconds should be Int")
        #expect(refusal(#"{"timeoutSeconds": 0, "ratio": 0}"#)
            == "limits configuration \(dir)/limits.json: timeoutSeconds must be above 0; ratio must be at least 1")
        do {
            _ = try loadServiceConfiguration(dir + "/absent.json", what: "limits configuration", defaults: Limits()) { $0.problems() }
            Issue.record("a missing file was accepted")
        } catch let e as ConfigError {
            #expect(e.description == "limits configuration \(dir)/absent.json cannot be read")
        }
    }
}
