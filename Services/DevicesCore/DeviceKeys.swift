import Crypto

/// Device keys (R30, R31): RegisterDevice hands each phone a key derived
/// from the service's secret and the device id; every heartbeat carries it,
/// so only the phone that registered can speak for that device. Pure
/// computation; the shell keeps the secret in its store.
///
/// `@unchecked Sendable`: swift-crypto does not mark `SymmetricKey` Sendable,
/// but it is a value whose storage is written once, here, and only read
/// afterwards (HMAC), so sharing it between threads is safe.
public struct DeviceKeys: @unchecked Sendable {
    public let secret: [UInt8]
    let key: SymmetricKey

    public init(secret: [UInt8]) {
        self.secret = secret
        key = SymmetricKey(data: secret)
    }

    /// 32 lowercase hex digits: the first 16 bytes of HMAC-SHA256(secret, id).
    public func key(for deviceID: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(deviceID.utf8), using: key)
        // A table, not String(format:): this runs for every heartbeat, and
        // Foundation's formatting alone capped a service near 50,000/s.
        return mac.withUnsafeBytes { bytes in
            String(unsafeUninitializedCapacity: 32) { out in
                for i in 0..<16 {
                    out[2 * i] = Self.digits[Int(bytes[i] >> 4)]
                    out[2 * i + 1] = Self.digits[Int(bytes[i] & 0xF)]
                }
                return 32
            }
        }
    }

    /// Whether `presented` is `deviceID`'s key, in time that does not depend
    /// on where they differ.
    public func verify(_ presented: String, deviceID: String) -> Bool {
        let expected = Array(key(for: deviceID).utf8), given = Array(presented.utf8)
        guard expected.count == given.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<expected.count { diff |= expected[i] ^ given[i] }
        return diff == 0
    }

    static let digits: [UInt8] = Array("0123456789abcdef".utf8)
}
