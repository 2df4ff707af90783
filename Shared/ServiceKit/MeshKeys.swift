import Bus
import Foundation

/// The keys of a CurveZMQ mesh (issue 16), one pair per member, in a folder:
///
///     <dir>/public/<member>.pub   the member's public key (Z85, 40 characters):
///                                 the folder lists every member of the mesh
///     <dir>/<member>.key          its key pair (JSON, mode 0600): only on the
///                                 host where that member runs
///
/// `examctl keys` makes them; ops copy the whole `public/` folder to every
/// host and each secret only to its member's host (compose mounts each as a
/// secret). A member's name is the service's name in the mesh file, or a
/// tool's (`defaultTools`).
public enum MeshKeys {
    /// The tools of the mesh and what they may assert, unless the mesh file's
    /// `curve.tools` says otherwise: examctl (staff accounts, imports, the
    /// staff CLIs) and the exam-day driver play staff and candidates; the
    /// proctor view is staff; phone-sim plays candidates' phones.
    public static let defaultTools: [String: [String]] = [
        "examctl": ["staff", "candidate"], "proctor": ["staff"], "phone-sim": ["candidate"], "exam-day": ["staff", "candidate"],
    ]

    /// Makes a key pair for every member in `members` that has none yet (all
    /// of them with `rotate`), and its public key file. Returns the members
    /// whose keys were made.
    @discardableResult
    public static func ensure(dir: String, members: [String], rotate: Bool = false) throws -> [String] {
        let fm = FileManager.default
        let publicDir = (dir as NSString).appendingPathComponent("public")
        try fm.createDirectory(atPath: publicDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: dir)
        var made: [String] = []
        for m in members {
            guard isMemberName(m) else { throw ConfigError("'\(m)' is not a member name (lowercase letters, digits and '-')") }
            let keyPath = (dir as NSString).appendingPathComponent("\(m).key")
            let pubPath = (publicDir as NSString).appendingPathComponent("\(m).pub")
            let pair: CurveKeyPair
            if !rotate, fm.fileExists(atPath: keyPath) {
                pair = try load(dir: dir, member: m)
            } else {
                pair = try CurveKeyPair.generate()
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys]
                try write(try e.encode(pair), to: keyPath, mode: 0o600)
                made.append(m)
            }
            if (try? String(contentsOfFile: pubPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) != pair.publicKey {
                try write(Data((pair.publicKey + "\n").utf8), to: pubPath, mode: 0o644)
            }
        }
        return made
    }

    /// Every member that needs keys in `mesh`: its services and its tools.
    public static func members(of mesh: MeshConfig, extraTools: [String] = []) -> [String] {
        Array(Set(mesh.services.keys).union(mesh.toolPolicies.keys).union(extraTools)).sorted()
    }

    public static func load(dir: String, member: String) throws -> CurveKeyPair {
        let path = (dir as NSString).appendingPathComponent("\(member).key")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("the CurveZMQ key of '\(member)' (\(path)) cannot be read: `examctl keys --mesh <mesh file>` makes the mesh's keys")
        }
        let pair: CurveKeyPair
        do { pair = try JSONDecoder().decode(CurveKeyPair.self, from: data) } catch {
            throw ConfigError("the CurveZMQ key \(path) is not valid: \(describeJSONError(error))")
        }
        guard pair.publicKey.utf8.count == 40, pair.secretKey.utf8.count == 40 else {
            throw ConfigError("the CurveZMQ key \(path) is not valid: publicKey and secretKey are 40-character Z85 keys")
        }
        return pair
    }

    /// Member name -> public key, from `<dir>/public/*.pub`.
    public static func publicKeys(dir: String) throws -> [String: String] {
        let publicDir = (dir as NSString).appendingPathComponent("public")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: publicDir) else {
            throw ConfigError("the mesh's public keys (\(publicDir)) cannot be read: `examctl keys --mesh <mesh file>` makes them")
        }
        var out: [String: String] = [:]
        for f in names.sorted() where f.hasSuffix(".pub") {
            let path = (publicDir as NSString).appendingPathComponent(f)
            let key = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard key.utf8.count == 40 else { throw ConfigError("\(path): a public key is one 40-character Z85 line") }
            out[String(f.dropLast(4))] = key
        }
        return out
    }

    static func isMemberName(_ m: String) -> Bool {
        !m.isEmpty && m.count <= 64 && m.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" }
    }

    /// Writes through a temporary file and a rename, so a reader never sees half a key.
    static func write(_ data: Data, to path: String, mode: Int) throws {
        let tmp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: mode]) else {
            throw ConfigError("cannot write \(tmp)")
        }
        guard rename(tmp, path) == 0 else { throw ConfigError("cannot rename \(tmp) to \(path): \(String(cString: strerror(errno)))") }
    }
}

extension MeshConfig {
    /// Tools' policies: the defaults, overridden by the mesh file's `curve.tools`.
    public var toolPolicies: [String: [String]] {
        MeshKeys.defaultTools.merging(curve?.tools ?? [:]) { _, mine in mine }
    }

    /// Who may assert which role on this mesh (nil on a plain mesh: then
    /// nothing identifies a caller, and every actor is believed).
    public func actorTrust() throws -> ActorTrust? {
        guard let curve else { return nil }
        var roles: [String: Set<ActorRole>] = [:]
        for member in try MeshKeys.publicKeys(dir: curve.keysDir).keys {
            if member == MeshConfig.gatewayName {
                // The edge asserts who a verified session belongs to (R60-R63), and itself.
                roles[member] = ActorTrust.staff.union([.candidate, .service])
            } else if services[member] != nil {
                roles[member] = [.service]
            } else if let names = toolPolicies[member] {
                roles[member] = names.reduce(into: Set<ActorRole>()) { $0.formUnion(ActorTrust.roles(named: $1) ?? []) }.subtracting([.service])
            } else {
                roles[member] = []
            }
        }
        return ActorTrust(roles: roles)
    }

    /// The CurveZMQ settings of `service`'s own sockets (plain when the mesh is):
    /// its key pair, and every member's public key with its name.
    func serverSecurity(for service: String) throws -> BusSecurity {
        guard let curve else { return .plain }
        let keys = try MeshKeys.load(dir: curve.keysDir, member: service)
        let members = try MeshKeys.publicKeys(dir: curve.keysDir)
        guard members[service] == keys.publicKey else {
            throw ConfigError("\(curve.keysDir)/public/\(service).pub does not match \(service).key: copy the public folder `examctl keys` made with this key")
        }
        return .curveServer(keys: keys, members: Dictionary(members.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a }))
    }

    /// The CurveZMQ settings for connecting to `service` with member `me`'s key pair.
    public func clientSecurity(to service: String, as me: String) throws -> BusSecurity {
        guard let curve else { return .plain }
        guard let server = try MeshKeys.publicKeys(dir: curve.keysDir)[service] else {
            throw ConfigError("no public key for \(service) in \(curve.keysDir)/public: `examctl keys --mesh <mesh file>` makes the mesh's keys")
        }
        return .curveClient(keys: try MeshKeys.load(dir: curve.keysDir, member: me), serverPublicKey: server)
    }
}
