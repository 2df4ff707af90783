// What phones send, as the OpenAPI document (protos/http/openapi.json)
// describes it, and the checks the edge makes before anything reaches the
// mesh. The services check again; the edge's checks exist so a bad body is
// refused with where it is wrong (R60) and never costs a mesh call.
import Foundation

/// Decodes a JSON body, turning Foundation's errors into a message that says
/// which field is wrong and how.
public enum EdgeJSON {
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, what: String) throws(EdgeError) -> T {
        if data.isEmpty { throw .invalid("\(what): the body is empty; a JSON object is expected") }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let e as DecodingError {
            throw .invalid("\(what): \(describe(e))")
        } catch {
            throw .invalid("\(what): not valid JSON")
        }
    }

    static func path(_ p: [CodingKey]) -> String {
        p.isEmpty ? "the body" : "field '" + p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") + "'"
    }

    public static func describe(_ e: DecodingError) -> String {
        switch e {
        case .typeMismatch(let t, let c): return "\(path(c.codingPath)): expected \(typeName(t))"
        case .valueNotFound(let t, let c): return "\(path(c.codingPath)): expected \(typeName(t)), found null"
        case .keyNotFound(let k, let c): return "\(path(c.codingPath + [k])): missing"
        case .dataCorrupted(let c):
            if c.codingPath.isEmpty { return "not valid JSON" }
            return "\(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "not valid JSON"
        }
    }

    static func typeName(_ t: Any.Type) -> String {
        switch t {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int.Type, is Int32.Type, is Int64.Type: return "a whole number"
        case is Double.Type: return "a number"
        default:
            let n = String(describing: t)
            return n.hasPrefix("Dictionary") ? "an object" : n.hasPrefix("Array") ? "an array" : "a \(n)"
        }
    }
}

public enum Checks {
    /// A mainland mobile number (R1, R2): 11 digits starting with 1.
    public static func phone(_ s: String, field: String = "phone") throws(EdgeError) {
        guard s.count == 11, s.first == "1", s.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw .invalid("\(field): '\(s.prefix(20))' is not a mobile number (11 digits starting with 1)")
        }
    }

    public static func password(_ s: String, field: String) throws(EdgeError) {
        guard !s.isEmpty else { throw .invalid("\(field): empty") }
        guard s.utf8.count <= 128 else { throw .invalid("\(field): longer than 128 bytes") }
    }

    /// Device ids as devices accepts them (R30).
    public static func deviceID(_ s: String, field: String = "deviceId") throws(EdgeError) {
        guard !s.isEmpty else { throw .invalid("\(field): empty; the phone's device id is required") }
        guard s.utf8.count <= 64, s.utf8.allSatisfy({ isIdentifierByte($0) || $0 == 0x2E || $0 == 0x3A }) else {
            throw .invalid("\(field): '\(s.prefix(70))' is not a device id (ASCII letters, digits, '.', ':', '-' or '_', at most 64)")
        }
    }

    public static func account(_ s: String) throws(EdgeError) {
        guard !s.isEmpty else { throw .invalid("account: empty; each phone's account is required (R30)") }
        guard s.utf8.count <= 64, s.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && !$0.properties.isWhitespace }) else {
            throw .invalid("account: not an account id (printable, no spaces, at most 64 bytes)")
        }
    }

    static func isIdentifierByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
    }
}

/// Which phone (R30): the main phone (front camera, 主机位) or the secondary
/// phone (rear camera, 副机位).
public enum PhoneRole: String, Codable, Sendable, CaseIterable {
    case main, secondary
}

/// The two sittings of the day (R10, R19).
public enum SittingName: String, Codable, Sendable, CaseIterable {
    case mock, formal

    public static func parse(_ s: String) throws(EdgeError) -> SittingName {
        guard let v = SittingName(rawValue: s) else {
            throw .notFound("sitting '\(s.prefix(20))': there is no such sitting (mock or formal)")
        }
        return v
    }
}

public struct LoginBody: Codable, Sendable {
    public var phone: String
    public var password: String
    public init(phone: String, password: String) {
        self.phone = phone
        self.password = password
    }
    public func check() throws(EdgeError) {
        try Checks.phone(phone)
        try Checks.password(password, field: "password")
    }
}

public struct PasswordBody: Codable, Sendable {
    public var oldPassword: String
    public var newPassword: String
    public func check() throws(EdgeError) {
        try Checks.password(oldPassword, field: "oldPassword")
        try Checks.password(newPassword, field: "newPassword")
    }
}

public struct DeclineBody: Codable, Sendable {
    /// Declining gives up the post (R6): the client must say so explicitly.
    public var giveUpPost: Bool
    public init(giveUpPost: Bool) { self.giveUpPost = giveUpPost }
    public func check() throws(EdgeError) {
        guard giveUpPost else {
            throw .invalid("giveUpPost: must be true; declining gives up the interview and the post (R3, R6) and cannot be undone")
        }
    }
}

/// What a phone reports about itself (R31), as the page can know it.
public struct DeviceStatusBody: Codable, Sendable, Equatable {
    public enum CameraFacing: String, Codable, Sendable { case front, rear }
    public enum Network: String, Codable, Sendable { case none, wifi, cellular4g = "4g", cellular5g = "5g", other }
    public enum OS: String, Codable, Sendable { case ios, android, other }

    public var cameraOn: Bool
    public var camera: CameraFacing
    public var microphoneOn: Bool
    public var speakerVolume: Int
    public var batteryPercent: Int
    public var network: Network
    public var inForeground: Bool
    public var autoLockOff: Bool
    public var clientVersion: String
    public var os: OS
    public var osVersion: String

    public init(cameraOn: Bool, camera: CameraFacing, microphoneOn: Bool, speakerVolume: Int, batteryPercent: Int,
                network: Network, inForeground: Bool, autoLockOff: Bool, clientVersion: String, os: OS, osVersion: String) {
        self.cameraOn = cameraOn
        self.camera = camera
        self.microphoneOn = microphoneOn
        self.speakerVolume = speakerVolume
        self.batteryPercent = batteryPercent
        self.network = network
        self.inForeground = inForeground
        self.autoLockOff = autoLockOff
        self.clientVersion = clientVersion
        self.os = os
        self.osVersion = osVersion
    }

    public func check(field: String = "status") throws(EdgeError) {
        guard (0...100).contains(speakerVolume) else { throw .invalid("\(field).speakerVolume: \(speakerVolume) is impossible; 0 to 100") }
        guard (0...100).contains(batteryPercent) else { throw .invalid("\(field).batteryPercent: \(batteryPercent) is impossible; 0 to 100") }
        for (name, v) in [("clientVersion", clientVersion), ("osVersion", osVersion)] {
            guard !v.isEmpty, v.utf8.count <= 32, v.utf8.allSatisfy({ Checks.isIdentifierByte($0) || $0 == 0x2E }) else {
                throw .invalid("\(field).\(name): '\(v.prefix(40))' is not a version (letters, digits, '.', '-' or '_', 1 to 32)")
            }
        }
    }
}

public struct RegisterDeviceBody: Codable, Sendable {
    public var role: PhoneRole
    public var deviceId: String
    public var account: String
    public var status: DeviceStatusBody
    public func check() throws(EdgeError) {
        try Checks.deviceID(deviceId)
        try Checks.account(account)
        try status.check()
    }
}

public struct StatusReportBody: Codable, Sendable {
    public var deviceKey: String
    public var status: DeviceStatusBody
    public func check() throws(EdgeError) {
        guard !deviceKey.isEmpty, deviceKey.utf8.count <= 256 else { throw .invalid("deviceKey: empty or longer than 256 bytes") }
        try status.check()
    }
}

public struct RoomMoveBody: Codable, Sendable {
    public var role: PhoneRole
    public var deviceId: String
    public func check() throws(EdgeError) { try Checks.deviceID(deviceId) }
}

public struct MainPhoneBody: Codable, Sendable {
    public var deviceId: String
    /// Ending early cannot be undone (R17): "end" requires it to be true.
    public var confirm: Bool?
    public func check() throws(EdgeError) { try Checks.deviceID(deviceId) }
}
