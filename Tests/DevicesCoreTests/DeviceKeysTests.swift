import DevicesCore
import Testing

/// Device keys (R30, R31): what RegisterDevice hands out and heartbeats prove.
@Suite struct DeviceKeysTests {
    let keys = DeviceKeys(secret: Array(0..<32))

    @Test func aKeyIsTheFirstHalfOfTheHMACInHex() {
        // Python: hmac.new(bytes(range(32)), b"2022110001-main", hashlib.sha256).hexdigest()[:32]
        #expect(keys.key(for: "2022110001-main") == "d12adaea767c47a0dba4578b3a146394")
    }

    @Test func onlyTheRightKeyForTheRightDevicePasses() {
        let key = keys.key(for: "2022110001-main")
        #expect(keys.verify(key, deviceID: "2022110001-main"))
        #expect(!keys.verify(key, deviceID: "2022110001-secondary"))
        let tampered = String(key.dropLast()) + (key.hasSuffix("0") ? "1" : "0")
        #expect(!keys.verify(tampered, deviceID: "2022110001-main"))
        #expect(!keys.verify(key.uppercased(), deviceID: "2022110001-main"))
        #expect(!keys.verify("", deviceID: "2022110001-main"))
        #expect(!DeviceKeys(secret: Array(1...32)).verify(key, deviceID: "2022110001-main"))
    }
}
