import Foundation

// The vocabulary of the devices service (R30-R35): the two phones of a
// candidate, what each reports on its heartbeat, and how it registered.

/// The two camera positions (机位) of the notice, section 5(1): the main
/// phone (第一机位, front camera, on the desk, joins the main room) and the
/// secondary phone (第二机位, rear camera, 1.5 m behind and to the side,
/// joins the secondary room) (R30).
public enum DeviceRole: String, Codable, Sendable, CaseIterable, Hashable {
    case main, secondary

    public var other: DeviceRole { self == .main ? .secondary : .main }
}

/// Which camera a phone films with: the notice, section 4(2)2, has the main
/// phone use the front camera and the secondary the rear one by default (R30).
public enum CameraFacing: String, Codable, Sendable, CaseIterable, Hashable {
    case front, rear
}

/// The phone's operating system. The only rule the notice ties to it is
/// "Apple users must not use WeChat 8.0.20" (section 5(2)2, R32).
public enum DeviceOS: String, Codable, Sendable, CaseIterable, Hashable {
    case ios, android, harmonyos, other
}

/// How the phone reaches the network. The notice (section 5(3)3) suggests
/// flight mode with Wi-Fi, or mobile data with calls diverted; informative.
public enum NetworkType: String, Codable, Sendable, CaseIterable, Hashable {
    case wifi, cellular5g, cellular4g, cellular3g, cellular2g, ethernet, none, unknown
}

/// What a phone reports on every heartbeat (R31). Equal statuses on
/// consecutive heartbeats are the normal case and cost nothing: rules are
/// evaluated only when the status changes (R32).
public struct DeviceStatus: Codable, Sendable, Equatable, Hashable {
    /// The camera is on (filming).
    public var cameraOn: Bool
    /// Which camera films (R30: main front, secondary rear).
    public var camera: CameraFacing
    public var microphoneOn: Bool
    /// Speaker volume, 0 (muted) to 100. The secondary must be muted (R30, R32).
    public var speakerVolume: Int
    /// Battery charge, 0 to 100 percent.
    public var battery: Int
    public var network: NetworkType
    /// The client (mini-program) is in the foreground: the notice, section
    /// 5(2)4, forbids quitting it or running it in the background.
    public var foreground: Bool
    /// The screen's automatic lock (定时息屏) is off, as section 5(2)3 requires.
    public var screenAutoLockOff: Bool
    /// The client (WeChat) version, e.g. "8.0.30".
    public var clientVersion: String
    public var os: DeviceOS
    /// The OS version, e.g. "16.1.1" or "13".
    public var osVersion: String

    public init(cameraOn: Bool = true, camera: CameraFacing, microphoneOn: Bool = true, speakerVolume: Int,
                battery: Int, network: NetworkType = .wifi, foreground: Bool = true, screenAutoLockOff: Bool = true,
                clientVersion: String, os: DeviceOS, osVersion: String) {
        self.cameraOn = cameraOn
        self.camera = camera
        self.microphoneOn = microphoneOn
        self.speakerVolume = speakerVolume
        self.battery = battery
        self.network = network
        self.foreground = foreground
        self.screenAutoLockOff = screenAutoLockOff
        self.clientVersion = clientVersion
        self.os = os
        self.osVersion = osVersion
    }
}

/// A registered phone (R30): who it belongs to, in which role, on which
/// WeChat account, and the settings it declared when it registered.
public struct DeviceRegistration: Codable, Sendable, Equatable, Hashable {
    public var deviceID: String
    public var examNumber: String
    public var role: DeviceRole
    /// The WeChat account the client is logged in with; the two roles must
    /// use different accounts (R30; notice 4(2)2 "登录不同微信账号").
    public var account: String
    public var camera: CameraFacing
    public var microphoneOn: Bool
    public var speakerVolume: Int
    public var os: DeviceOS
    public var osVersion: String
    public var clientVersion: String
    public var registeredAt: Date

    public init(deviceID: String, examNumber: String, role: DeviceRole, account: String, camera: CameraFacing,
                microphoneOn: Bool, speakerVolume: Int, os: DeviceOS, osVersion: String, clientVersion: String,
                registeredAt: Date) {
        self.deviceID = deviceID
        self.examNumber = examNumber
        self.role = role
        self.account = account
        self.camera = camera
        self.microphoneOn = microphoneOn
        self.speakerVolume = speakerVolume
        self.os = os
        self.osVersion = osVersion
        self.clientVersion = clientVersion
        self.registeredAt = registeredAt
    }

    /// The same registration apart from when it was made.
    func sameDetails(as other: DeviceRegistration) -> Bool {
        var a = self
        a.registeredAt = other.registeredAt
        return a == other
    }
}

/// Which phone an event is about.
public struct DeviceRef: Codable, Sendable, Equatable, Hashable {
    public var deviceID: String
    public var examNumber: String
    public var role: DeviceRole

    public init(deviceID: String, examNumber: String, role: DeviceRole) {
        self.deviceID = deviceID
        self.examNumber = examNumber
        self.role = role
    }
}

/// An error of the devices core: what went wrong and where. A throwing
/// operation has changed nothing.
public struct DevicesError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Maps one to one onto the gRPC status codes the shell answers with.
    public enum Code: String, Codable, Sendable, Equatable {
        case invalidArgument, notFound, alreadyExists, failedPrecondition, permissionDenied
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    static func invalid(_ m: String) -> DevicesError { DevicesError(.invalidArgument, m) }
    static func notFound(_ m: String) -> DevicesError { DevicesError(.notFound, m) }
    static func exists(_ m: String) -> DevicesError { DevicesError(.alreadyExists, m) }
    static func precondition(_ m: String) -> DevicesError { DevicesError(.failedPrecondition, m) }
    static func denied(_ m: String) -> DevicesError { DevicesError(.permissionDenied, m) }
}

/// Argument checks shared by the operations: each names the field and says
/// what is wrong with it.
enum Check {
    /// Exam numbers follow the exam plan's identifiers: ASCII letters, digits,
    /// '-' or '_', at most 32 characters.
    static func examNumber(_ s: String, _ field: String = "exam_number") throws {
        guard !s.isEmpty else { throw DevicesError.invalid("\(field): empty; an exam number is required") }
        guard s.utf8.count <= 32, s.utf8.allSatisfy(isIdentifierByte) else {
            throw DevicesError.invalid("\(field): '\(s)' is not an exam number (ASCII letters, digits, '-' or '_', at most 32)")
        }
    }

    /// Device ids come from the client; ASCII letters, digits and . _ - :,
    /// at most 64 characters, so they are safe as store keys and in logs.
    static func deviceID(_ s: String, _ field: String = "device_id") throws {
        guard !s.isEmpty else { throw DevicesError.invalid("\(field): empty; a device id is required") }
        guard s.utf8.count <= 64, s.utf8.allSatisfy({ isIdentifierByte($0) || $0 == 0x2E || $0 == 0x3A }) else {
            throw DevicesError.invalid("\(field): '\(s)' is not a device id (ASCII letters, digits, '.', ':', '-' or '_', at most 64)")
        }
    }

    /// WeChat account ids: any printable text without spaces, at most 64 bytes.
    static func account(_ s: String) throws {
        guard !s.isEmpty else { throw DevicesError.invalid("account: empty; the WeChat account is required (R30)") }
        guard s.utf8.count <= 64, s.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && !$0.properties.isWhitespace }) else {
            throw DevicesError.invalid("account: '\(s)' is not an account id (printable, no spaces, at most 64 bytes)")
        }
    }

    static func version(_ s: String, _ field: String) throws {
        guard !s.isEmpty else { throw DevicesError.invalid("\(field): empty; a version is required") }
        guard s.utf8.count <= 32, s.utf8.allSatisfy({ isIdentifierByte($0) || $0 == 0x2E }) else {
            throw DevicesError.invalid("\(field): '\(s)' is not a version (letters, digits, '.', '-' or '_', at most 32)")
        }
    }

    static func percent(_ v: Int, _ field: String, _ what: String) throws {
        guard (0...100).contains(v) else { throw DevicesError.invalid("\(field): \(v) is impossible; \(what) is 0 to 100") }
    }

    static func isIdentifierByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
    }

    /// A heartbeat's status, every field checked, the first bad one named.
    static func status(_ s: DeviceStatus, device: String, context: String = "heartbeat from") throws {
        let at = "\(context) device \(device): status."
        do {
            try percent(s.battery, "battery", "a battery charge in percent")
            try percent(s.speakerVolume, "speaker_volume", "a speaker volume")
            try version(s.clientVersion, "client_version")
            try version(s.osVersion, "os_version")
        } catch let e as DevicesError {
            throw DevicesError.invalid(at + e.message)
        }
    }
}

/// Beijing wall-clock "HH:MM:SS" for event texts. UTC+8 has no daylight
/// saving, so this is arithmetic; `BeijingTime.clock` goes through Calendar
/// and is too slow for a mass loss of 20,000 phones.
enum Clock {
    static func hms(_ d: Date) -> String {
        let s = Int((d.timeIntervalSince1970 + 8 * 3600).rounded(.down))
        let day = ((s % 86_400) + 86_400) % 86_400
        let h = day / 3600, m = day / 60 % 60, sec = day % 60
        return (h < 10 ? "0" : "") + String(h) + (m < 10 ? ":0" : ":") + String(m) + (sec < 10 ? ":0" : ":") + String(sec)
    }
}
