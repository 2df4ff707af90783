import Foundation

// Device rules as data (R32). A rule names the roles it applies to, how
// serious it is, and a condition on the reported status under which it is
// broken. The defaults transcribe the notice; ops may load others from a
// file (the types are Codable). Rules are compiled once per configuration,
// so evaluating them on a status change reads no strings.

/// How serious a broken rule is.
public enum RuleSeverity: String, Codable, Sendable, Hashable {
    /// The candidate's devices are unfit while it is broken: timing refuses
    /// entry (R11, R32) and discipline may hear of it (R41).
    case blocksEntry
    /// Reported, shown to staff and the candidate, but entry is allowed.
    case warning
}

/// A field of `DeviceStatus` a rule may look at.
public enum StatusField: String, Codable, Sendable, CaseIterable, Hashable {
    case cameraOn, camera, microphoneOn, speakerVolume, battery, network, foreground, screenAutoLockOff,
         clientVersion, os, osVersion

    enum Kind { case bool, int, choice([String]), version }

    var kind: Kind {
        switch self {
        case .cameraOn, .microphoneOn, .foreground, .screenAutoLockOff: return .bool
        case .speakerVolume, .battery: return .int
        case .camera: return .choice(CameraFacing.allCases.map(\.rawValue))
        case .network: return .choice(NetworkType.allCases.map(\.rawValue))
        case .os: return .choice(DeviceOS.allCases.map(\.rawValue))
        case .clientVersion, .osVersion: return .version
        }
    }
}

/// How a condition compares a field with its value.
public enum RuleOperator: String, Codable, Sendable, Hashable {
    /// Any field: the same value (versions compared as text).
    case equals, notEquals
    /// Numbers (speaker volume, battery): strictly below / above the value.
    case below, above
    /// Versions compared part by part as numbers ("8.0.20" = "8.0.20.0",
    /// "8.0.9" below "8.0.20").
    case versionEquals, versionBelow
}

/// One comparison, e.g. `battery below 20`. In a file:
/// `{ "field": "battery", "op": "below", "value": 20 }` (the value may be
/// written as a string, number or boolean).
public struct RuleCondition: Codable, Sendable, Equatable, Hashable {
    public var field: StatusField
    public var op: RuleOperator
    public var value: String

    public init(_ field: StatusField, _ op: RuleOperator, _ value: String) {
        self.field = field
        self.op = op
        self.value = value
    }

    enum CodingKeys: String, CodingKey { case field, op, value }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        field = try c.decode(StatusField.self, forKey: .field)
        op = try c.decode(RuleOperator.self, forKey: .op)
        if let s = try? c.decode(String.self, forKey: .value) {
            value = s
        } else if let b = try? c.decode(Bool.self, forKey: .value) {
            value = b ? "true" : "false"
        } else if let i = try? c.decode(Int.self, forKey: .value) {
            value = String(i)
        } else {
            throw DecodingError.dataCorruptedError(forKey: .value, in: c, debugDescription: "value: a string, integer or boolean")
        }
    }
}

/// A device rule (R32): broken while every condition of `when` holds on a
/// device of one of `roles`. Each rule is reported on its own: broken once
/// when it starts to hold, cleared once when it stops.
public struct DeviceRule: Codable, Sendable, Equatable, Hashable {
    /// Stable id, used in events and by staff ("ios-wechat-8.0.20").
    public var id: String
    /// For people: what the rule asks of the candidate.
    public var title: String
    public var roles: [DeviceRole]
    public var severity: RuleSeverity
    /// All must hold for the rule to be broken.
    public var when: [RuleCondition]
    /// Where the rule comes from (spec rule, notice section).
    public var basis: String

    public init(id: String, title: String, roles: [DeviceRole] = DeviceRole.allCases, severity: RuleSeverity,
                when: [RuleCondition], basis: String) {
        self.id = id
        self.title = title
        self.roles = roles
        self.severity = severity
        self.when = when
        self.basis = basis
    }

    /// The rules of the notice, with these decisions:
    /// - WeChat 8.0.20 on iOS blocks entry: the notice forbids it outright
    ///   (5(2)2 "苹果用户禁止使用8.0.20版本微信"). Android 8.0.20 is fine.
    /// - The secondary's speaker must be muted and its microphone on, the
    ///   main phone the front camera, the secondary the rear one (5(1), 4(2)2;
    ///   R30): block entry, as registration already requires them.
    /// - Both phones film with the camera on and the microphone on (4(2)2:
    ///   the mini-program must be allowed both): block entry.
    /// - Screen auto-lock on blocks entry: 5(2)3 requires it off ("将手机定时
    ///   息屏功能关闭"), and a locking screen cuts the video mid-interview,
    ///   which is ground 9's business; better refused at the door.
    /// - Client in the background blocks entry: 5(2)4 says it must not be
    ///   ("不得...将小程序设置为后台运行"); during the interview the broken
    ///   rule is an event discipline hears of (R41).
    /// - Battery below 20 % warns: 5(2)4 asks for "足够电量" without a number;
    ///   a charger fixes it, and the interview is only 10 minutes.
    public static let noticeDefaults: [DeviceRule] = [
        DeviceRule(id: "ios-wechat-8.0.20", title: "Apple phones must not use WeChat 8.0.20",
                   severity: .blocksEntry,
                   when: [RuleCondition(.os, .equals, "ios"), RuleCondition(.clientVersion, .versionEquals, "8.0.20")],
                   basis: "R32; notice 5(2)2"),
        DeviceRule(id: "secondary-speaker-muted", title: "The secondary phone's speaker must be muted",
                   roles: [.secondary], severity: .blocksEntry,
                   when: [RuleCondition(.speakerVolume, .above, "0")], basis: "R30, R32; notice 5(1)"),
        DeviceRule(id: "main-front-camera", title: "The main phone films with the front camera",
                   roles: [.main], severity: .blocksEntry,
                   when: [RuleCondition(.camera, .notEquals, "front")], basis: "R30; notice 4(2)2"),
        DeviceRule(id: "secondary-rear-camera", title: "The secondary phone films with the rear camera",
                   roles: [.secondary], severity: .blocksEntry,
                   when: [RuleCondition(.camera, .notEquals, "rear")], basis: "R30; notice 4(2)2, 5(1)"),
        DeviceRule(id: "microphone-on", title: "The microphone must be on",
                   severity: .blocksEntry,
                   when: [RuleCondition(.microphoneOn, .equals, "false")], basis: "R30; notice 4(2)2, 5(1)"),
        DeviceRule(id: "camera-on", title: "The camera must be on",
                   severity: .blocksEntry,
                   when: [RuleCondition(.cameraOn, .equals, "false")], basis: "R30; notice 4(2)2"),
        DeviceRule(id: "screen-auto-lock-off", title: "Screen auto-lock must be off",
                   severity: .blocksEntry,
                   when: [RuleCondition(.screenAutoLockOff, .equals, "false")], basis: "R32; notice 5(2)3"),
        DeviceRule(id: "client-foreground", title: "The client must stay in the foreground",
                   severity: .blocksEntry,
                   when: [RuleCondition(.foreground, .equals, "false")], basis: "R31; notice 5(2)4"),
        DeviceRule(id: "battery-low", title: "Battery below 20 %: charge the phone",
                   severity: .warning,
                   when: [RuleCondition(.battery, .below, "20")], basis: "R32; notice 5(2)4"),
    ]

    /// What is wrong with the rule, each problem saying where.
    func problems(at: String) -> [String] {
        var out: [String] = []
        if id.isEmpty || id.utf8.count > 64 || !id.utf8.allSatisfy({ Check.isIdentifierByte($0) || $0 == 0x2E }) {
            out.append("\(at).id: '\(id)' is not a rule id (letters, digits, '.', '-' or '_', at most 64)")
        }
        if roles.isEmpty { out.append("\(at).roles: a rule applies to main, secondary or both") }
        if Set(roles).count != roles.count { out.append("\(at).roles: a role is listed twice") }
        if when.isEmpty { out.append("\(at).when: a rule needs at least one condition") }
        for (j, c) in when.enumerated() {
            if let p = CompiledCondition(c).problem { out.append("\(at).when[\(j)]: \(p)") }
        }
        return out
    }
}

/// A comparison made ready to run: the value parsed once.
struct CompiledCondition: Sendable {
    enum Test: Sendable {
        case bool(Bool, equal: Bool)
        case int(RuleOperator, Int)
        case text(String, equal: Bool)
        case version(RuleOperator, [Int])
        case invalid(String)
    }

    let field: StatusField
    let test: Test

    init(_ c: RuleCondition) {
        field = c.field
        let v = c.value
        let name = "\(c.field.rawValue) \(c.op.rawValue) '\(v)'"
        switch (c.field.kind, c.op) {
        case (.bool, .equals), (.bool, .notEquals):
            if v == "true" || v == "false" { test = .bool(v == "true", equal: c.op == .equals) } else {
                test = .invalid("\(name): \(c.field.rawValue) is true or false")
            }
        case (.int, .equals), (.int, .notEquals), (.int, .below), (.int, .above):
            if let i = Int(v), (0...100).contains(i) { test = .int(c.op, i) } else {
                test = .invalid("\(name): \(c.field.rawValue) is a whole number 0 to 100")
            }
        case (.choice(let options), .equals), (.choice(let options), .notEquals):
            if options.contains(v) { test = .text(v, equal: c.op == .equals) } else {
                test = .invalid("\(name): \(c.field.rawValue) is one of \(options.joined(separator: ", "))")
            }
        case (.version, .equals), (.version, .notEquals):
            test = v.isEmpty ? .invalid("\(name): empty version") : .text(v, equal: c.op == .equals)
        case (.version, .versionEquals), (.version, .versionBelow):
            if let parts = VersionNumber.parts(v) { test = .version(c.op, parts) } else {
                test = .invalid("\(name): not a version of numbers and dots")
            }
        default:
            test = .invalid("\(name): \(c.op.rawValue) does not apply to \(c.field.rawValue)")
        }
    }

    var problem: String? {
        if case .invalid(let p) = test { return p }
        return nil
    }

    /// Whether it holds on `s`; nil when `s` does not know the field (a
    /// registration knows only some of them).
    func holds(_ s: FieldSource) -> Bool? {
        switch test {
        case .bool(let want, let equal):
            guard let b = s.bool(field) else { return nil }
            return (b == want) == equal
        case .int(let op, let want):
            guard let i = s.int(field) else { return nil }
            switch op {
            case .equals: return i == want
            case .notEquals: return i != want
            case .below: return i < want
            case .above: return i > want
            default: return false
            }
        case .text(let want, let equal):
            guard let t = s.text(field) else { return nil }
            return (t == want) == equal
        case .version(let op, let want):
            guard let t = s.text(field) else { return nil }
            guard let have = VersionNumber.parts(t) else { return false }
            let order = VersionNumber.compare(have, want)
            return op == .versionEquals ? order == 0 : order < 0
        case .invalid:
            return false
        }
    }
}

/// A rule made ready to run.
struct CompiledRule: Sendable {
    let rule: DeviceRule
    let conditions: [CompiledCondition]
    let appliesToMain: Bool
    let appliesToSecondary: Bool

    init(_ rule: DeviceRule) {
        self.rule = rule
        conditions = rule.when.map(CompiledCondition.init)
        appliesToMain = rule.roles.contains(.main)
        appliesToSecondary = rule.roles.contains(.secondary)
    }

    func applies(to role: DeviceRole) -> Bool { role == .main ? appliesToMain : appliesToSecondary }

    /// Broken: every condition holds. Nil when a condition's field is
    /// unknown to `s` (the rule cannot be judged from it).
    func broken(_ s: FieldSource) -> Bool? {
        var all = true
        for c in conditions {
            guard let h = c.holds(s) else { return nil }
            if !h { all = false }
        }
        return all
    }

    /// "os=ios client_version=8.0.20": the values the rule looked at.
    func evidence(_ s: FieldSource) -> String {
        var seen: [StatusField] = []
        for c in conditions where !seen.contains(c.field) { seen.append(c.field) }
        return seen.map { "\($0.rawValue)=\(s.describe($0))" }.joined(separator: " ")
    }
}

/// Where a rule reads fields: a heartbeat's status, or a registration.
struct FieldSource {
    let status: DeviceStatus?
    let registration: DeviceRegistration?

    init(status: DeviceStatus) { self.status = status; registration = nil }
    init(registration: DeviceRegistration) { status = nil; self.registration = registration }

    func bool(_ f: StatusField) -> Bool? {
        if let s = status {
            switch f {
            case .cameraOn: return s.cameraOn
            case .microphoneOn: return s.microphoneOn
            case .foreground: return s.foreground
            case .screenAutoLockOff: return s.screenAutoLockOff
            default: return nil
            }
        }
        if let r = registration, f == .microphoneOn { return r.microphoneOn }
        return nil
    }

    func int(_ f: StatusField) -> Int? {
        if let s = status {
            switch f {
            case .speakerVolume: return s.speakerVolume
            case .battery: return s.battery
            default: return nil
            }
        }
        if let r = registration, f == .speakerVolume { return r.speakerVolume }
        return nil
    }

    func text(_ f: StatusField) -> String? {
        if let s = status {
            switch f {
            case .camera: return s.camera.rawValue
            case .network: return s.network.rawValue
            case .os: return s.os.rawValue
            case .clientVersion: return s.clientVersion
            case .osVersion: return s.osVersion
            default: return nil
            }
        }
        if let r = registration {
            switch f {
            case .camera: return r.camera.rawValue
            case .os: return r.os.rawValue
            case .clientVersion: return r.clientVersion
            case .osVersion: return r.osVersion
            default: return nil
            }
        }
        return nil
    }

    func describe(_ f: StatusField) -> String {
        if let b = bool(f) { return b ? "true" : "false" }
        if let i = int(f) { return String(i) }
        return text(f) ?? "?"
    }
}

/// Dotted version numbers: "8.0.20" -> [8, 0, 20]. A part's leading digits
/// count ("20b" -> 20); a part without digits is not a number.
enum VersionNumber {
    static func parts(_ s: String) -> [Int]? {
        var out: [Int] = []
        for p in s.split(separator: ".", omittingEmptySubsequences: false) {
            let digits = p.prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, digits.count <= 9, let n = Int(digits) else { return nil }
            out.append(n)
        }
        return out.isEmpty ? nil : out
    }

    /// -1, 0, 1; missing parts are 0 ("8.0" = "8.0.0").
    static func compare(_ a: [Int], _ b: [Int]) -> Int {
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : 0, y = i < b.count ? b[i] : 0
            if x != y { return x < y ? -1 : 1 }
        }
        return 0
    }
}
