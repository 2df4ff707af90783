import CZMQ
import Foundation
import Logging

/// A CurveZMQ key pair in Z85 text (40 characters each), as
/// `zmq_curve_keypair` makes them.
public struct CurveKeyPair: Sendable, Codable, Equatable {
    public var publicKey: String
    public var secretKey: String

    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A fresh key pair from libzmq (built with libsodium on Debian).
    public static func generate() throws -> CurveKeyPair {
        var pub = [CChar](repeating: 0, count: 41)
        var sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else { throw ZMQError.last("zmq_curve_keypair") }
        return CurveKeyPair(publicKey: string(fromCBuffer: pub), secretKey: string(fromCBuffer: sec))
    }
}

/// How a socket secures its connections. With keys configured (the mesh's
/// default, issue 16), every connection is CurveZMQ-encrypted, servers prove
/// who they are with their key pair, and a server accepts only the client
/// keys of the mesh's members (checked by the reactor's ZAP handler, which
/// names the member: a call's `peer` in `CallInfo`). Plain only where a test
/// or a loopback-only mesh file says so.
public enum BusSecurity: Sendable, Equatable {
    case plain
    /// A service's own sockets: its key pair, and the members it accepts
    /// (client public key in Z85 -> member name).
    case curveServer(keys: CurveKeyPair, members: [String: String])
    /// A client connecting to a service whose public key it knows.
    case curveClient(keys: CurveKeyPair, serverPublicKey: String)

    public var isCurve: Bool { self != .plain }

    func applyServer(_ s: ZSocket) throws {
        guard case .curveServer(let keys, _) = self else { return }
        try s.set(ZMQ_CURVE_SERVER, 1)
        try s.set(ZMQ_CURVE_SECRETKEY, string: keys.secretKey)
        try s.set(ZMQ_ZAP_DOMAIN, string: "exam")
    }

    func applyClient(_ s: ZSocket) throws {
        guard case .curveClient(let keys, let server) = self else { return }
        try s.set(ZMQ_CURVE_SERVERKEY, string: server)
        try s.set(ZMQ_CURVE_PUBLICKEY, string: keys.publicKey)
        try s.set(ZMQ_CURVE_SECRETKEY, string: keys.secretKey)
    }
}

/// The ZAP handler (RFC 27): libzmq asks it, over inproc, whether a CURVE
/// client may connect. It answers 200 with the member's name as the user id
/// (libzmq then marks every message from that connection with it, read back
/// as the "User-Id" property) for a member's public key, 400 otherwise.
/// Refusals are counted in `zap.refused` and logged once per key, not per
/// attempt: a peer with a wrong key retries every few hundred milliseconds.
final class ZAPHandler {
    let socket: ZSocket
    var members: [[UInt8]: String] = [:]
    let refused, accepted: Counter
    let logger: Logger
    /// Keys already logged as refused (bounded: a flood of fresh keys is counted, not logged).
    private var loggedRefusals: Set<[UInt8]> = []

    init(_ loop: ReactorLoop, counters: Counters, logger: Logger) throws {
        socket = try ZSocket(loop.context, .rep)
        try socket.set(ZMQ_LINGER, 0)
        _ = try socket.bind("inproc://zeromq.zap.01")
        refused = counters.counter("zap.refused")
        accepted = counters.counter("zap.accepted")
        self.logger = logger
    }

    func answer() {
        while let (frames, _) = socket.receive(maxFrames: 8) {
            // version, request id, domain, address, identity, mechanism, credentials...
            guard frames.count >= 6 else { continue }
            let requestID = frames[1]
            let key = frames.count >= 7 ? frames[6] : []
            let member = String(decoding: frames[5], as: UTF8.self) == "CURVE" ? members[key] : nil
            if let member {
                accepted.add()
                socket.send([Array("1.0".utf8), requestID, Array("200".utf8), Array("OK".utf8), Array(member.utf8), []])
            } else {
                refused.add()
                if loggedRefusals.count < 1024, loggedRefusals.insert(key).inserted {
                    let shown = key.count == 32 ? String(z85Encode(key).prefix(8)) + "…" : "(\(String(decoding: frames[5], as: UTF8.self)))"
                    logger.warning("refused a connection: its CurveZMQ key is not a member's (logged once per key; counted in zap.refused)",
                                   metadata: ["peer": .string(String(decoding: frames[3], as: UTF8.self)), "key": .string(shown)])
                }
                socket.send([Array("1.0".utf8), requestID, Array("400".utf8), Array("not a member of this mesh".utf8), [], []])
            }
        }
    }
}

func z85Decode(_ text: String) -> [UInt8]? {
    guard text.utf8.count == 40 else { return nil }
    var out = [UInt8](repeating: 0, count: 32)
    guard zmq_z85_decode(&out, text) != nil else { return nil }
    return out
}

func z85Encode(_ key: [UInt8]) -> String {
    var out = [CChar](repeating: 0, count: key.count * 5 / 4 + 1)
    guard key.count % 4 == 0, zmq_z85_encode(&out, key, key.count) != nil else { return "" }
    return string(fromCBuffer: out)
}

extension ReactorLoop {
    /// Makes sure the ZAP handler runs and knows `security`'s members.
    func installZAP(for security: BusSecurity, counters: Counters, logger: Logger) throws {
        guard case .curveServer(_, let members) = security else { return }
        let zap: ZAPHandler
        if let existing = zapHandler {
            zap = existing
        } else {
            zap = try ZAPHandler(self, counters: counters, logger: logger)
            zapHandler = zap
            add(zap.socket) { _ in zap.answer() }
        }
        for (key, name) in members {
            guard let raw = z85Decode(key) else { throw ZMQError(errno: EINVAL, context: "the public key of member '\(name)' is not a 40-character Z85 key") }
            zap.members[raw] = name
        }
    }
}
