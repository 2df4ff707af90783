// Secrets shared by roster (candidates' accounts, R2) and the gateway
// (staff accounts, R62): salted slow password hashes and opaque tokens of
// which only a digest is ever stored.
import Crypto
import _CryptoExtras
import Foundation
import RosterCore

/// Passwords as salted slow hashes (R2): scrypt from swift-crypto.
public struct ScryptPasswords: PasswordHashing {
    public let n: Int
    public init(n: Int) { self.n = n }
    public var scheme: String { "scrypt-n\(n)-r8-p1" }

    public func hash(_ password: String, salt: [UInt8]) -> [UInt8] {
        let key = try! KDF.Scrypt.deriveKey(from: Array(password.utf8), salt: salt, outputByteCount: 32,
                                            rounds: n, blockSize: 8, parallelism: 1)
        return key.withUnsafeBytes { Array($0) }
    }
}

public enum Secrets {
    public static func randomBytes(_ n: Int) -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        return (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
    }

    /// An opaque session token for the client; only its digest is stored.
    public static func newToken() -> String {
        Data(randomBytes(32)).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func digest(_ token: String) -> String { sha256Hex(Data(token.utf8)) }

    /// A second secret derived from `secret` for one `purpose` (HMAC-SHA256,
    /// base64url): recomputed from the secret whenever needed, so it is
    /// never stored (the staff console's CSRF token from its session
    /// cookie, R63); without the secret it cannot be guessed.
    public static func derive(_ secret: String, purpose: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(purpose.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func sha256Hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// Compares two byte strings in time independent of where they differ.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
