import Bus
import Foundation

/// The mesh file: where every service of the mesh listens, and how the
/// connections are secured. One file for all services (compose/mesh.json is
/// the loopback default; compose/mesh.compose.json the containers').
///
/// ```json
/// { "mesh": "local",
///   "services": {
///     "roster": { "rpc": "tcp://127.0.0.1:7101", "events": "tcp://127.0.0.1:7102" },
///     ... },
///   "curve": { "keys_dir": "keys" } }
/// ```
/// A service binds its own `bind_rpc` / `bind_events` (default: `rpc` /
/// `events`) and connects to the others' `rpc` / `events`. `curve` turns on
/// CurveZMQ (issue 16: every mesh file this repository ships has it): the
/// keys folder (relative to the mesh file) holds `public/<member>.pub` for
/// every member of the mesh and `<member>.key` for the members running here
/// (`examctl keys` makes them, `MeshKeys`). Without `curve` the mesh is
/// plain: no encryption, and every actor a call names is believed.
public struct MeshConfig: Codable, Sendable, Equatable {
    public struct Endpoints: Codable, Sendable, Equatable {
        public var rpc: String
        public var events: String
        public var bindRPC: String?
        public var bindEvents: String?
        /// The gateway only: where its HTTP server listens ("127.0.0.1:8080").
        public var http: String?

        enum CodingKeys: String, CodingKey {
            case rpc, events, bindRPC = "bind_rpc", bindEvents = "bind_events", http
        }

        public init(rpc: String, events: String, bindRPC: String? = nil, bindEvents: String? = nil, http: String? = nil) {
            self.rpc = rpc
            self.events = events
            self.bindRPC = bindRPC
            self.bindEvents = bindEvents
            self.http = http
        }
    }

    public struct Curve: Codable, Sendable, Equatable {
        /// Holds `public/<member>.pub` (Z85) for every member and
        /// `<member>.key` (JSON key pair, secret) for this host's members.
        /// Relative to the mesh file's folder when relative.
        public var keysDir: String
        /// Tools' policies: member name -> the roles it may assert
        /// ("staff", "proctor", "examiner", "chief_examiner", "ops",
        /// "candidate"), over `MeshKeys.defaultTools`. Services assert
        /// "service" only, the gateway staff roles and candidates too.
        public var tools: [String: [String]]?
        enum CodingKeys: String, CodingKey { case keysDir = "keys_dir", tools }
        public init(keysDir: String, tools: [String: [String]]? = nil) {
            self.keysDir = keysDir
            self.tools = tools
        }
    }

    /// A Janus instance of the mesh (R64-R67): the media server the media
    /// service drives. `compose/janus/janus-run` starts it from this entry.
    public struct JanusInstance: Codable, Sendable, Equatable {
        public var name: String
        /// Janus's HTTP API as media reaches it ("http://127.0.0.1:8188/janus").
        public var api: String
        /// Its admin API (loopback only; the secret is <keys>/janus.secret).
        public var admin: String
        /// Its HTTP API as browsers reach it: the same address on a loopback
        /// mesh, "/janus" behind the TLS edge (compose).
        public var `public`: String
        /// The UDP ports of its media ("20000-20199").
        public var rtpPorts: String?
        /// The interface Janus offers ICE candidates on ("lo" for a loopback mesh).
        public var iceEnforce: String?
        /// Where its HTTP API listens (default 127.0.0.1; "0.0.0.0" in a container).
        public var bind: String?
        /// CORS for the HTTP API (default "*"; the edge's origin in production).
        public var allowOrigin: String?
        /// STUN/TURN servers handed to browsers with each grant.
        public var iceServers: [IceServerEntry]?

        public init(name: String, api: String, admin: String, public: String, rtpPorts: String? = nil, iceEnforce: String? = nil,
                    bind: String? = nil, allowOrigin: String? = nil, iceServers: [IceServerEntry]? = nil) {
            self.name = name
            self.api = api
            self.admin = admin
            self.public = `public`
            self.rtpPorts = rtpPorts
            self.iceEnforce = iceEnforce
            self.bind = bind
            self.allowOrigin = allowOrigin
            self.iceServers = iceServers
        }

        enum CodingKeys: String, CodingKey {
            case name, api, admin, `public`, rtpPorts = "rtp_ports", iceEnforce = "ice_enforce", bind, allowOrigin = "allow_origin",
                 iceServers = "ice_servers"
        }
    }

    public struct IceServerEntry: Codable, Sendable, Equatable {
        public var urls: [String]
        public var username: String?
        public var credential: String?
    }

    public var mesh: String
    public var services: [String: Endpoints]
    public var curve: Curve?
    /// The media servers (R64-R67); absent: the mesh has no live rooms.
    public var janus: [JanusInstance]?

    public init(mesh: String, services: [String: Endpoints], curve: Curve? = nil, janus: [JanusInstance]? = nil) {
        self.mesh = mesh
        self.services = services
        self.curve = curve
        self.janus = janus
    }

    /// The media service's name: started by the launchers when the mesh file
    /// lists it (it needs a Janus instance of the "janus" list).
    public static let mediaName = "media"

    /// The Janus instance named `name` (nil: the first of the list).
    public func janusInstance(named name: String?) throws -> JanusInstance {
        let list = janus ?? []
        guard let j = name.map({ n in list.first { $0.name == n } }) ?? list.first else {
            throw ConfigError(name.map { "the mesh file has no janus instance named '\($0)' (it has: \(list.map(\.name).joined(separator: ", ")))" }
                              ?? "the mesh file has no \"janus\" list: the media service needs a Janus instance")
        }
        return j
    }

    /// Janus's admin secret (rooms are made with it as the VideoRoom admin_key):
    /// `<keys>/janus.secret`, made by compose/janus/janus-run on its first start.
    public static func janusSecret(_ mesh: MeshConfig, keysDir: String? = nil) throws -> String {
        guard let dir = keysDir ?? mesh.curve?.keysDir else {
            throw ConfigError("the mesh file has no curve.keys_dir: the Janus secret lives in the keys folder")
        }
        let path = (dir as NSString).appendingPathComponent("janus.secret")
        guard let data = FileManager.default.contents(atPath: path),
              let s = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), s.count >= 16 else {
            throw ConfigError("\(path): no Janus secret (at least 16 characters); compose/janus/janus-run makes it on its first start")
        }
        return s
    }

    public static let serviceNames = ["roster", "timing", "devices", "discipline", "scoring", "recordings"]
    /// The edge (R60): a member of the mesh like the services, with an HTTP address.
    public static let gatewayName = "gateway"

    /// Reads and checks a mesh file; every problem is listed, with where it is.
    public static func load(path: String) throws -> MeshConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("mesh file \(path) cannot be read (set --mesh or EXAM_MESH)")
        }
        let config: MeshConfig
        do {
            config = try JSONDecoder().decode(MeshConfig.self, from: data)
        } catch {
            throw ConfigError("mesh file \(path) is not valid: \(describeJSONError(error))")
        }
        var config2 = config
        if let keys = config.curve?.keysDir, !keys.hasPrefix("/") {
            // Relative to the mesh file, so the file and its keys move together.
            let folder = (URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent().path as NSString)
            config2.curve?.keysDir = folder.appendingPathComponent(keys)
        }
        let problems = config2.problems()
        if !problems.isEmpty {
            throw ConfigError("mesh file \(path) has \(problems.count) problem(s):\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
        }
        return config2
    }

    public func problems() -> [String] {
        var out: [String] = []
        var seen: [String: String] = [:]
        for (name, e) in services.sorted(by: { $0.key < $1.key }) {
            if name.isEmpty || !name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" }) {
                out.append("services.\(name): a service name is lowercase letters, digits and '-'")
            }
            for (field, ep) in [("rpc", e.rpc), ("events", e.events), ("bind_rpc", e.bindRPC ?? e.rpc), ("bind_events", e.bindEvents ?? e.events)] {
                if let p = Self.endpointProblem(ep) { out.append("services.\(name).\(field): \(p)") }
            }
            for (field, ep) in [("rpc", e.rpc), ("events", e.events)] {
                if let other = seen[ep] { out.append("services.\(name).\(field): \(ep) is also \(other)") }
                seen[ep] = "services.\(name).\(field)"
            }
            if let h = e.http, Self.hostPort(h) == nil {
                out.append("services.\(name).http: '\(h)' is not host:port")
            }
        }
        for (i, j) in (janus ?? []).enumerated() {
            if j.name.isEmpty || !j.name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" }) {
                out.append("janus[\(i)].name: '\(j.name)' is not lowercase letters, digits and '-'")
            }
            for (field, url) in [("api", j.api), ("admin", j.admin)] where !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
                out.append("janus[\(i)].\(field): '\(url)' is not an http(s) URL")
            }
            if j.public.isEmpty { out.append("janus[\(i)].public: empty (the address browsers reach Janus's HTTP API at)") }
            if let r = j.rtpPorts {
                let p = r.split(separator: "-").compactMap { Int($0) }
                if p.count != 2 || p[0] < 1024 || p[1] > 65535 || p[0] >= p[1] { out.append("janus[\(i)].rtp_ports: '\(r)' is not LOW-HIGH within 1024-65535") }
            }
        }
        if services[Self.mediaName] != nil && (janus ?? []).isEmpty {
            out.append("services.media: the media service needs a \"janus\" list (a Janus instance to drive)")
        }
        return out + curveProblems()
    }

    public func curveProblems() -> [String] {
        var out: [String] = []
        if let curve {
            if curve.keysDir.isEmpty { out.append("curve.keys_dir: empty (say where the keys folder is)") }
            for (tool, roles) in (curve.tools ?? [:]).sorted(by: { $0.key < $1.key }) {
                if services[tool] != nil { out.append("curve.tools.\(tool): a service's policy is fixed (it asserts service only)") }
                for r in roles where ActorTrust.roles(named: r) == nil || r == "service" {
                    out.append("curve.tools.\(tool): '\(r)' is not a role a tool may assert (staff, proctor, examiner, chief_examiner, ops, candidate)")
                }
            }
        }
        return out
    }

    static func endpointProblem(_ ep: String) -> String? {
        if ep.hasPrefix("ipc://") || ep.hasPrefix("inproc://") { return ep.count > 6 ? nil : "empty path" }
        guard ep.hasPrefix("tcp://") else { return "'\(ep)' is not a tcp://, ipc:// or inproc:// endpoint" }
        let rest = ep.dropFirst(6)
        guard let colon = rest.lastIndex(of: ":"), !rest[..<colon].isEmpty else { return "'\(ep)' has no host:port" }
        let port = rest[rest.index(after: colon)...]
        if port == "*" { return nil }
        guard let p = Int(port), (1...65535).contains(p) else { return "'\(ep)' has no valid port" }
        return nil
    }

    /// "127.0.0.1:8080" as host and port (port 0: any free port).
    public static func hostPort(_ s: String) -> (host: String, port: Int)? {
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        let host = String(s[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host.isEmpty ? nil : (host, port)
    }

    public func endpoints(of service: String) throws -> Endpoints {
        guard let e = services[service] else {
            throw ConfigError("the mesh file lists no service '\(service)' (it has: \(services.keys.sorted().joined(separator: ", ")))")
        }
        return e
    }

    /// A loopback mesh of Unix sockets in `dir` (tests and the local launcher:
    /// no port can be taken by something else).
    public static func ipc(in dir: String, services: [String]) -> MeshConfig {
        MeshConfig(mesh: "local-ipc", services: Dictionary(uniqueKeysWithValues: services.map { name in
            (name, Endpoints(rpc: "ipc://\(dir)/\(name).rpc", events: "ipc://\(dir)/\(name).events"))
        }))
    }

    public func write(to path: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try e.encode(self).write(to: URL(fileURLWithPath: path))
    }
}

public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A JSON decoding error as a person would say it: what, and where.
public func describeJSONError(_ error: Error) -> String {
    func path(_ p: [CodingKey]) -> String {
        p.isEmpty ? "top level" : p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    guard let e = error as? DecodingError else { return "\(error)" }
    switch e {
    case .keyNotFound(let k, let c): return "\(path(c.codingPath + [k])) is missing"
    case .typeMismatch(let t, let c): return "\(path(c.codingPath)) should be \(t)"
    case .valueNotFound(let t, let c): return "\(path(c.codingPath)) should be \(t), found null"
    case .dataCorrupted(let c):
        let underlying = (c.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
        return "\(path(c.codingPath)): \(underlying ?? c.debugDescription)"
    @unknown default: return "\(e)"
    }
}

/// Reads a service's JSON configuration file: `defaults` when no file is
/// given; otherwise the file, refused with what and where when it cannot be
/// read, is not valid JSON for `T`, or breaks one of `problems` (each listed).
public func loadServiceConfiguration<T: Decodable>(_ path: String?, what: String, defaults: T,
                                                   problems: (T) -> [String]) throws -> T {
    guard let path else { return defaults }
    guard let data = FileManager.default.contents(atPath: path) else { throw ConfigError("\(what) \(path) cannot be read") }
    let config: T
    do { config = try JSONDecoder().decode(T.self, from: data) } catch {
        throw ConfigError("\(what) \(path) is not valid: \(describeJSONError(error))")
    }
    let found = problems(config)
    guard found.isEmpty else { throw ConfigError("\(what) \(path): " + found.joined(separator: "; ")) }
    return config
}
