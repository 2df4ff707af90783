import CZMQ
import Foundation

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

/// How a socket secures its connections. Plain on loopback by default; with
/// keys configured, every connection is CurveZMQ-encrypted, servers prove who
/// they are with their key pair, and a server accepts only the client keys on
/// its allow-list (checked by the reactor's ZAP handler).
public enum BusSecurity: Sendable, Equatable {
    case plain
    /// A service's own sockets: its key pair, and the client public keys it accepts.
    case curveServer(keys: CurveKeyPair, allowedClients: Set<String>)
    /// A client connecting to a service whose public key it knows.
    case curveClient(keys: CurveKeyPair, serverPublicKey: String)

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
/// client may connect. It answers 200 for public keys on the allow-list of
/// any server socket of this reactor, 400 otherwise.
final class ZAPHandler {
    let socket: ZSocket
    var allowed: Set<[UInt8]> = []
    let counters: Counters

    init(_ loop: ReactorLoop, counters: Counters) throws {
        socket = try ZSocket(loop.context, .rep)
        try socket.set(ZMQ_LINGER, 0)
        _ = try socket.bind("inproc://zeromq.zap.01")
        self.counters = counters
    }

    func answer() {
        while let (frames, _) = socket.receive(maxFrames: 8) {
            // version, request id, domain, address, identity, mechanism, credentials...
            guard frames.count >= 6 else { continue }
            let requestID = frames[1]
            var status = "400", text = "client key not allowed"
            if String(decoding: frames[5], as: UTF8.self) == "CURVE", frames.count >= 7, allowed.contains(frames[6]) {
                status = "200"; text = "OK"
            }
            counters.add(status == "200" ? "zap.accepted" : "zap.refused")
            socket.send([Array("1.0".utf8), requestID, Array(status.utf8), Array(text.utf8), [], []])
        }
    }
}

func z85Decode(_ text: String) -> [UInt8]? {
    guard text.utf8.count == 40 else { return nil }
    var out = [UInt8](repeating: 0, count: 32)
    guard zmq_z85_decode(&out, text) != nil else { return nil }
    return out
}

extension ReactorLoop {
    /// Makes sure the ZAP handler runs and knows `security`'s allowed clients.
    func installZAP(for security: BusSecurity) throws {
        guard case .curveServer(_, let clients) = security else { return }
        let zap: ZAPHandler
        if let existing = zapHandler {
            zap = existing
        } else {
            zap = try ZAPHandler(self, counters: Counters())
            zapHandler = zap
            add(zap.socket) { _ in zap.answer() }
        }
        for c in clients {
            guard let key = z85Decode(c) else { throw ZMQError(errno: EINVAL, context: "allowed client key '\(c)' is not a 40-character Z85 key") }
            zap.allowed.insert(key)
        }
    }
}
