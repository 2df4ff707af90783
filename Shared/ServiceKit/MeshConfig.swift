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
///   "curve": { "keys_dir": "/etc/exam/keys" } }
/// ```
/// A service binds its own `bind_rpc` / `bind_events` (default: `rpc` /
/// `events`) and connects to the others' `rpc` / `events`.
public struct MeshConfig: Codable, Sendable, Equatable {
    public struct Endpoints: Codable, Sendable, Equatable {
        public var rpc: String
        public var events: String
        public var bindRPC: String?
        public var bindEvents: String?
        /// The service's CurveZMQ public key (Z85), when the mesh is encrypted.
        public var publicKey: String?
        /// The gateway only: where its HTTP server listens ("127.0.0.1:8080").
        public var http: String?

        enum CodingKeys: String, CodingKey {
            case rpc, events, bindRPC = "bind_rpc", bindEvents = "bind_events", publicKey = "public_key", http
        }

        public init(rpc: String, events: String, bindRPC: String? = nil, bindEvents: String? = nil, publicKey: String? = nil,
                    http: String? = nil) {
            self.rpc = rpc
            self.events = events
            self.bindRPC = bindRPC
            self.bindEvents = bindEvents
            self.publicKey = publicKey
            self.http = http
        }
    }

    public struct Curve: Codable, Sendable, Equatable {
        /// Holds `<service>.key` (secret + public, JSON) for this host's
        /// services and `clients/*.pub` for the allowed client keys.
        public var keysDir: String
        enum CodingKeys: String, CodingKey { case keysDir = "keys_dir" }
    }

    public var mesh: String
    public var services: [String: Endpoints]
    public var curve: Curve?

    public init(mesh: String, services: [String: Endpoints], curve: Curve? = nil) {
        self.mesh = mesh
        self.services = services
        self.curve = curve
    }

    public static let serviceNames = ["roster", "timing", "devices", "discipline", "scoring"]
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
        let problems = config.problems()
        if !problems.isEmpty {
            throw ConfigError("mesh file \(path) has \(problems.count) problem(s):\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
        }
        return config
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
            if curve != nil && (e.publicKey?.utf8.count ?? 0) != 40 {
                out.append("services.\(name).public_key: a 40-character Z85 key is required when curve is on")
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
