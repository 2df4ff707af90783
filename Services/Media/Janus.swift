// Janus's plain HTTP API, as the media service uses it: one session with
// one VideoRoom handle, the plugin's synchronous requests (create, allowed,
// kick, destroy, listparticipants), and "No such session" read as a Janus
// restart. Only this file speaks Janus's JSON.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MediaCore
import Synchronization

/// A refusal or failure of Janus, as the shell reads it.
struct JanusFailure: Error, CustomStringConvertible {
    enum Kind { case unreachable, noSession, plugin }
    var kind: Kind
    var code: Int
    var message: String
    var description: String { "Janus \(kind == .plugin ? "refused (\(code))" : kind == .noSession ? "lost our session" : "unreachable"): \(message)" }

    /// VideoRoom's error codes the shell acts on.
    static let noSuchRoom = 426
    static let roomExists = 427
    static let noSuchFeed = 428
}

/// One JSON value from Janus (only what the shell reads).
typealias JSON = [String: Any]

final class JanusClient: Sendable {
    let api: URL
    let adminKey: String
    private struct Link {
        var session: UInt64?
        var handle: UInt64?
        var counter: UInt64 = 0
        /// Janus's sessions made: a new one after a restart (a page re-joins when it changes).
        var epoch: UInt32 = 0
        var up = false
    }
    private let link = Mutex(Link())
    private let http: URLSession

    var epoch: UInt32 { link.withLock { $0.epoch } }
    var up: Bool { link.withLock { $0.up } }

    init(api: URL, adminKey: String) {
        self.api = api
        self.adminKey = adminKey
        let c = URLSessionConfiguration.ephemeral
        c.timeoutIntervalForRequest = 3
        c.httpMaximumConnectionsPerHost = 4
        http = URLSession(configuration: c)
    }

    /// A VideoRoom request; answers the plugin's data, or throws its error.
    func videoroom(_ body: JSON) async throws -> JSON {
        let h = try await attached()
        let reply: JSON
        do {
            reply = try await post(api.appendingPathComponent("\(h.session)/\(h.handle)"), ["janus": "message", "body": body])
        } catch let f as JanusFailure where f.kind == .noSession {
            // Janus restarted (or dropped us): a new session, once.
            forget()
            let h2 = try await attached()
            reply = try await post(api.appendingPathComponent("\(h2.session)/\(h2.handle)"), ["janus": "message", "body": body])
        }
        guard let plugindata = reply["plugindata"] as? JSON, let data = plugindata["data"] as? JSON else {
            throw JanusFailure(kind: .plugin, code: 0, message: "no plugin data in \(reply["janus"] ?? "?")")
        }
        if let code = data["error_code"] as? Int {
            throw JanusFailure(kind: .plugin, code: code, message: data["error"] as? String ?? "")
        }
        return data
    }

    /// Keeps the session alive (Janus drops a silent one after session_timeout).
    func keepalive() async throws {
        let h = try await attached()
        do {
            _ = try await post(api.appendingPathComponent("\(h.session)"), ["janus": "keepalive"])
        } catch let f as JanusFailure where f.kind == .noSession {
            forget()
            _ = try await attached()
        }
    }

    /// Marks the session lost: the next call makes a new one.
    func forget() {
        link.withLock { $0.session = nil; $0.handle = nil }
    }

    private func attached() async throws -> (session: UInt64, handle: UInt64) {
        if let (s, h) = link.withLock({ l -> (UInt64, UInt64)? in
            guard let s = l.session, let h = l.handle else { return nil }
            return (s, h)
        }) { return (s, h) }
        let created = try await post(api, ["janus": "create"])
        guard let s = (created["data"] as? JSON)?["id"] as? UInt64 ?? ((created["data"] as? JSON)?["id"] as? Int).map(UInt64.init) else {
            throw JanusFailure(kind: .unreachable, code: 0, message: "create gave no session id")
        }
        let att = try await post(api.appendingPathComponent("\(s)"), ["janus": "attach", "plugin": "janus.plugin.videoroom"])
        guard let h = (att["data"] as? JSON)?["id"] as? UInt64 ?? ((att["data"] as? JSON)?["id"] as? Int).map(UInt64.init) else {
            throw JanusFailure(kind: .unreachable, code: 0, message: "attach gave no handle id")
        }
        link.withLock { l in
            l.session = s
            l.handle = h
            l.epoch &+= 1
        }
        return (s, h)
    }

    private func post(_ url: URL, _ body: JSON) async throws -> JSON {
        let n = link.withLock { l -> UInt64 in l.counter &+= 1; return l.counter }
        var b = body
        b["transaction"] = "media-\(n)"
        var req = URLRequest(url: url)
        req.httpMethod = "POST"
        req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        req.httpBody = try JSONSerialization.data(withJSONObject: b)
        let data: Data
        do {
            (data, _) = try await http.data(for: req)
        } catch {
            link.withLock { $0.up = false }
            forget()
            throw JanusFailure(kind: .unreachable, code: 0, message: "\(url.host ?? "?"):\(url.port ?? 0): \(error.localizedDescription)")
        }
        link.withLock { $0.up = true }
        guard let json = try JSONSerialization.jsonObject(with: data) as? JSON else {
            throw JanusFailure(kind: .unreachable, code: 0, message: "not JSON")
        }
        if json["janus"] as? String == "error" {
            let e = json["error"] as? JSON
            let code = e?["code"] as? Int ?? 0
            // 458: no such session; 459: no such handle.
            throw JanusFailure(kind: code == 458 || code == 459 ? .noSession : .plugin, code: code, message: e?["reason"] as? String ?? "")
        }
        return json
    }
}

/// The core's effects, carried out on Janus. Each is idempotent: a room that
/// exists is brought in line, a room that is gone needs no destroy.
struct JanusDriver {
    let janus: JanusClient

    /// Carries out `effect`; returns what the core should hear back.
    enum Outcome { case done, destroyed(String), missing(String) }

    func apply(_ effect: JanusEffect) async throws -> Outcome {
        switch effect {
        case .ensure(let room, let allowed):
            do {
                _ = try await janus.videoroom([
                    "request": "create", "room": room.janusRoom, "admin_key": janus.adminKey, "secret": room.secret,
                    "description": "\(room.examNumber) \(room.sitting.rawValue) \(room.side.rawValue)",
                    "is_private": true, "allowed": allowed, "require_pvtid": true, "publishers": 8,
                    "videocodec": "vp8", "audiocodec": "opus", "bitrate": 1_200_000, "notify_joining": false,
                ])
            } catch let f as JanusFailure where f.kind == .plugin && f.code == JanusFailure.roomExists {
                // Already there (a repeat): bring its allowed list in line.
                _ = try await janus.videoroom(["request": "allowed", "room": room.janusRoom, "secret": room.secret,
                                               "action": "enable"])
                if !allowed.isEmpty {
                    _ = try await janus.videoroom(["request": "allowed", "room": room.janusRoom, "secret": room.secret,
                                                   "action": "add", "allowed": allowed])
                }
            }
            return .done
        case .allow(let room, let secret, let tokens):
            return try await missingIs(.done) {
                _ = try await janus.videoroom(["request": "allowed", "room": room, "secret": secret, "action": "add", "allowed": tokens])
            }
        case .disallow(let room, let secret, let tokens):
            return try await missingIs(.done) {
                _ = try await janus.videoroom(["request": "allowed", "room": room, "secret": secret, "action": "remove", "allowed": tokens])
            }
        case .kick(let room, let secret, let feed):
            do {
                _ = try await janus.videoroom(["request": "kick", "room": room, "secret": secret, "id": feed])
            } catch let f as JanusFailure where f.kind == .plugin && (f.code == JanusFailure.noSuchFeed || f.code == JanusFailure.noSuchRoom) {
                // Not (or no longer) there: nothing to kick.
            }
            return .done
        case .destroy(let key, let room, let secret):
            do {
                _ = try await janus.videoroom(["request": "destroy", "room": room, "secret": secret, "permanent": false])
            } catch let f as JanusFailure where f.kind == .plugin && f.code == JanusFailure.noSuchRoom {}
            return .destroyed(key)
        }
    }

    /// The participants Janus holds in a room, or nil when it has no such room.
    func participants(_ room: UInt64) async throws -> [ObservedParticipant]? {
        do {
            let data = try await janus.videoroom(["request": "listparticipants", "room": room])
            return (data["participants"] as? [JSON] ?? []).compactMap { p in
                guard let id = (p["id"] as? UInt64) ?? (p["id"] as? Int).map(UInt64.init) else { return nil }
                return ObservedParticipant(feedID: id, display: p["display"] as? String ?? "", publishing: p["publisher"] as? Bool ?? false)
            }
        } catch let f as JanusFailure where f.kind == .plugin && f.code == JanusFailure.noSuchRoom {
            return nil
        }
    }

    private func missingIs(_ outcome: Outcome, _ body: () async throws -> Void) async throws -> Outcome {
        do { try await body() } catch let f as JanusFailure where f.kind == .plugin && f.code == JanusFailure.noSuchRoom {}
        return outcome
    }
}
