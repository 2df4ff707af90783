import Bus
import ExamContracts
import Foundation
import ServiceKit

/// The mesh for an integration test: services as real processes (through
/// the same launcher as `exam-mesh`), on Unix sockets in a fresh folder,
/// and a tool client to call them and follow their events.
public final class MeshHarness: Sendable {
    public let dir: String
    public let mesh: MeshConfig
    public let meshPath: String
    public let launcher: MeshLauncher
    public let tools: MeshClient

    /// `janus`: the mesh also has a Janus instance (R64) on free loopback
    /// ports, offering loopback ICE candidates only.
    public init(tag: String, services: [String], janus: Bool = false) throws {
        dir = try temporaryFolder(tag)
        var mesh = MeshConfig.ipc(in: dir, services: services)
        if janus {
            let p = try freeLoopbackPorts(2)
            let rtp = 41000 + Int(getpid() % 40) * 200
            mesh.janus = [MeshConfig.JanusInstance(name: "janus", api: "http://127.0.0.1:\(p[0])/janus", admin: "http://127.0.0.1:\(p[1])/admin",
                                                   public: "http://127.0.0.1:\(p[0])/janus", rtpPorts: "\(rtp)-\(rtp + 199)",
                                                   iceEnforce: "lo", bind: nil, allowOrigin: nil, iceServers: nil)]
        }
        // CurveZMQ on, as everywhere (issue 16); the tests' own client plays staff and candidates.
        mesh.curve = MeshConfig.Curve(keysDir: dir + "/keys", tools: ["test": ["staff", "candidate"]])
        self.mesh = mesh
        meshPath = dir + "/mesh.json"
        try mesh.write(to: meshPath)
        launcher = try MeshLauncher(binDir: executablesFolder, dataDir: dir, meshPath: meshPath)
        tools = MeshClient(mesh: mesh, caller: "test")
    }

    public func start(_ name: String, _ arguments: [String] = [], executable: String? = nil) async throws {
        try await launcher.start(MeshLauncher.Spec(name: name, executable: executable, arguments: arguments))
    }

    public func call<Req, Resp>(_ service: String, _ method: RPCMethod<Req, Resp>, _ request: Req,
                                as who: CallPrincipal? = nil, timeout: Duration = .seconds(10)) async throws -> Resp {
        try await tools.call(service, method, request, timeout: timeout, as: who)
    }

    /// Follows `service`'s topics from the beginning of its stream.
    public func events(_ service: String, _ prefixes: [String] = []) throws -> AsyncStream<DeliveredEvent> {
        try tools.events(service, prefixes: prefixes).1
    }

    /// Collects events of `service` under `prefixes` until `done` says so.
    public func collect(_ service: String, _ prefixes: [String], within limit: Duration = .seconds(60),
                        until done: @escaping @Sendable ([DeliveredEvent]) -> Bool) async throws -> [DeliveredEvent] {
        let stream = try events(service, prefixes)
        return try await within(limit, "events \(prefixes) of \(service)") {
            var got: [DeliveredEvent] = []
            for await e in stream {
                got.append(e)
                if done(got) { break }
            }
            return got
        }
    }

    /// The last lines of a service's log (for failure messages).
    public func log(_ service: String) -> String { launcher.tail(launcher.logPath(service), lines: 40) }

    public func shutdown() async {
        await launcher.stopAll()
        tools.close()
    }
}
