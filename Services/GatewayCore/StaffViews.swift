// What the staff console sends and receives (docs/staff-api.md,
// protos/http/openapi.json): bodies with their checks, and views. Pure.
import Foundation

public struct StaffSignInBody: Codable, Sendable {
    public var id: String
    public var password: String?
    public var code: String?
    public var newPassword: String?

    public func check() throws(EdgeError) {
        if id.isEmpty || id.count > 64 { throw .invalid("id: say your staff id (e.g. R01-P1), at most 64 characters") }
        if code == nil {
            guard let p = password, !p.isEmpty else { throw .invalid("password: required (first sign-in: send code and newPassword)") }
            if p.count > 256 { throw .invalid("password: at most 256 characters") }
        } else {
            guard let c = code, !c.isEmpty, c.count <= 64 else { throw .invalid("code: the one-time code ops gave you") }
            guard let n = newPassword, !n.isEmpty else { throw .invalid("newPassword: required with a one-time code") }
            if n.count > 256 { throw .invalid("newPassword: at most 256 characters") }
        }
    }

    /// Codes are shown grouped ("ABCD-EFGH-JK"); people type them in any case, with or without dashes or spaces.
    public static func normalizeCode(_ c: String) -> String {
        String(c.uppercased().filter { $0.isLetter || $0.isNumber })
    }
}

public struct StaffSessionView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: String
    public var roleText: String
    public var rooms: [RoomRef]
    public var csrf: String
    public var expiresAtMs: Int64
    public var serverTimeMs: Int64
    public init(id: String, name: String, role: StaffRole, rooms: [RoomRef], csrf: String, expiresAtMs: Int64, serverTimeMs: Int64) {
        self.id = id
        self.name = name
        self.role = role.rawValue
        self.roleText = role.chinese
        self.rooms = rooms
        self.csrf = csrf
        self.expiresAtMs = expiresAtMs
        self.serverTimeMs = serverTimeMs
    }
}

// MARK: The proctor's board (R13, R14, R41)

public struct PhoneSignal: Codable, Sendable, Equatable {
    public var connected: Bool
    public var lost: Bool
    public var broken: [String]
    public init(connected: Bool, lost: Bool, broken: [String]) {
        self.connected = connected
        self.lost = lost
        self.broken = broken
    }
}

public struct OpenIncidentRef: Codable, Sendable, Equatable {
    public var id: String
    public var ground: Int
    public init(id: String, ground: Int) {
        self.id = id
        self.ground = ground
    }
}

public struct BoardCandidate: Codable, Sendable, Equatable {
    public var examNumber: String
    public var name: String
    public var order: Int
    public var roster: String
    public var mainIn: Bool
    public var secondaryIn: Bool
    public var absent: Bool
    public var screening: String
    public var phase: String
    public var startedAtMs: Int64
    public var readingEndsAtMs: Int64
    public var endsAtMs: Int64
    public var endReason: String
    public var state: String
    public var stateText: String
    public var main: PhoneSignal
    public var secondary: PhoneSignal
    public var openIncidents: [OpenIncidentRef]
    public var standing: String
    public init(examNumber: String, name: String, order: Int, roster: String, mainIn: Bool, secondaryIn: Bool, absent: Bool,
                screening: String, phase: String, startedAtMs: Int64, readingEndsAtMs: Int64, endsAtMs: Int64, endReason: String,
                state: String, main: PhoneSignal, secondary: PhoneSignal, openIncidents: [OpenIncidentRef], standing: String) {
        self.examNumber = examNumber
        self.name = name
        self.order = order
        self.roster = roster
        self.mainIn = mainIn
        self.secondaryIn = secondaryIn
        self.absent = absent
        self.screening = screening
        self.phase = phase
        self.startedAtMs = startedAtMs
        self.readingEndsAtMs = readingEndsAtMs
        self.endsAtMs = endsAtMs
        self.endReason = endReason
        self.state = state
        self.stateText = Self.chinese(state)
        self.main = main
        self.secondary = secondary
        self.openIncidents = openIncidents
        self.standing = standing
    }

    /// The terminal proctor's words in Chinese (the countdown itself ticks
    /// in the page from the server's time).
    public static func chinese(_ state: String) -> String {
        if state.hasPrefix("reading") { return "阅题中" }
        if state.hasPrefix("answering") { return "答题中" }
        switch state {
        case "disqualified": return "已取消资格"
        case "declined": return "已放弃"
        case "forfeited": return "视为放弃"
        case "absent": return "缺考"
        case "done (ended early)": return "已结束（提前）"
        case "done": return "已结束"
        case "present, not screened": return "已入场，待核验"
        case "present, screening passed": return "已入场，核验通过"
        case "present, screening failed": return "已入场，核验未通过"
        case "not entered": return "未入场"
        case "not confirmed": return "未确认"
        default: return state
        }
    }
}

public struct EntryView: Codable, Sendable, Equatable {
    public var opensAtMs: Int64
    public var closesAtMs: Int64
    public var closed: Bool
    public init(opensAtMs: Int64, closesAtMs: Int64, closed: Bool) {
        self.opensAtMs = opensAtMs
        self.closesAtMs = closesAtMs
        self.closed = closed
    }
}

public struct RoomBoard: Codable, Sendable, Equatable {
    public var room: RoomRef
    public var sitting: String
    public var exam: String
    public var entry: EntryView?
    public var drawn: Bool
    public var events: Int
    public var serverTimeMs: Int64
    public var candidates: [BoardCandidate]
    public init(room: RoomRef, sitting: String, exam: String, entry: EntryView?, drawn: Bool, events: Int, serverTimeMs: Int64,
                candidates: [BoardCandidate]) {
        self.room = room
        self.sitting = sitting
        self.exam = exam
        self.entry = entry
        self.drawn = drawn
        self.events = events
        self.serverTimeMs = serverTimeMs
        self.candidates = candidates
    }
}

/// The section-6 checklist as the console shows it (R13).
public struct ChecklistItemView: Codable, Sendable, Equatable {
    public var item: String
    public var zh: String
    public var ground: Int
}

public enum StaffChecklist {
    /// (wire name, Chinese, the section-7 ground a failure most likely falls under)
    public static let items: [ChecklistItemView] = [
        .init(item: "alone_in_closed_room_with_one_door", zh: "独处于封闭、仅有一个出入口的房间", ground: 1),
        .init(item: "desk_only_blank_a4_and_black_pen", zh: "桌面仅有空白A4纸和黑色签字笔", ground: 6),
        .init(item: "no_earphones_or_headset", zh: "未佩戴耳机、耳麦", ground: 6),
        .init(item: "no_mask", zh: "未佩戴口罩", ground: 10),
        .init(item: "no_smart_watch_or_band", zh: "未佩戴智能手表、手环", ground: 7),
        .init(item: "no_other_electronic_devices", zh: "无其他电子设备", ground: 7),
        .init(item: "no_beauty_filter_virtual_background_or_backlight", zh: "未使用美颜、虚拟背景，未逆光", ground: 10),
        .init(item: "face_and_ears_visible", zh: "面部及双耳清晰可见", ground: 10),
    ]

    public static func index(_ name: String) -> Int? { items.firstIndex { $0.item == name } }
}

public struct ChecklistEntryBody: Codable, Sendable {
    public var item: String
    public var passed: Bool
    public var note: String?
    public init(item: String, passed: Bool, note: String? = nil) {
        self.item = item
        self.passed = passed
        self.note = note
    }
}

public struct ScreeningBody: Codable, Sendable {
    public var examNumber: String
    public var sitting: String
    public var identityConfirmed: Bool
    public var checklist: [ChecklistEntryBody]?

    public init(examNumber: String, sitting: String, identityConfirmed: Bool, checklist: [ChecklistEntryBody]?) {
        self.examNumber = examNumber
        self.sitting = sitting
        self.identityConfirmed = identityConfirmed
        self.checklist = checklist
    }

    public func check() throws(EdgeError) {
        try StaffChecks.examNumber(examNumber)
        _ = try StaffChecks.sitting(sitting)
        var seen = Set<String>()
        for (i, c) in (checklist ?? []).enumerated() {
            guard StaffChecklist.index(c.item) != nil else {
                throw .invalid("checklist[\(i)].item: '\(c.item.prefix(60))' is not an item of the checklist (GET /api/v1/staff/checklist)")
            }
            guard seen.insert(c.item).inserted else { throw .invalid("checklist[\(i)].item: \(c.item) is listed twice") }
            if (c.note ?? "").count > 500 { throw .invalid("checklist[\(i)].note: at most 500 characters") }
        }
    }
}

public struct StartBody: Codable, Sendable {
    public var sitting: String
    public var examNumber: String?
    public func check() throws(EdgeError) {
        _ = try StaffChecks.sitting(sitting)
        if let e = examNumber, !e.isEmpty { try StaffChecks.examNumber(e) }
    }
}

public struct AnsweringBody: Codable, Sendable {
    public var sitting: String
    public var examNumber: String
    public func check() throws(EdgeError) {
        _ = try StaffChecks.sitting(sitting)
        try StaffChecks.examNumber(examNumber)
    }
}

public struct IncidentBody: Codable, Sendable {
    public var examNumber: String
    public var ground: Int
    public var note: String
    public var sitting: String?
    public init(examNumber: String, ground: Int, note: String, sitting: String?) {
        self.examNumber = examNumber
        self.ground = ground
        self.note = note
        self.sitting = sitting
    }
    public func check() throws(EdgeError) {
        try StaffChecks.examNumber(examNumber)
        guard (1...10).contains(ground) else { throw .invalid("ground: \(ground) is not one of the ten grounds 1..10 (notice section 7, R41)") }
        let n = note.trimmingCharacters(in: .whitespacesAndNewlines)
        if n.isEmpty { throw .invalid("note: say what was seen (R41)") }
        if note.count > 2000 { throw .invalid("note: at most 2000 characters") }
        if let s = sitting { _ = try StaffChecks.sitting(s) }
    }
}

public struct DecisionBody: Codable, Sendable {
    public var disqualify: Bool
    public var reason: String
    public init(disqualify: Bool, reason: String) {
        self.disqualify = disqualify
        self.reason = reason
    }
    public func check() throws(EdgeError) {
        if reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw .invalid("reason: a decision needs its reason (R42)") }
        if reason.count > 2000 { throw .invalid("reason: at most 2000 characters") }
    }
}

public struct ScoreBody: Codable, Sendable {
    public var score: String
    public init(score: String) { self.score = score }
    /// 0-100 with at most two decimals (R50), written exactly as the
    /// OpenAPI document's Score pattern says (`^(100(\.0{1,2})?|\d{1,2}(\.\d{1,2})?)$`):
    /// issue 22 found " 80" trimmed and taken as 80.00. Scoring checks again.
    public func check() throws(EdgeError) {
        let parts = score.split(separator: ".", omittingEmptySubsequences: false)
        let digits: (Substring) -> Bool = { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
        guard parts.count <= 2, parts.allSatisfy(digits), parts[0].count <= 3, parts.count == 1 || parts[1].count <= 2 else {
            let why = score.first?.isWhitespace == true || score.last?.isWhitespace == true ? "前后有空格" : "不是至多两位小数的数字"
            throw .invalid("score: '\(score.prefix(20))' \(why)：分数写作 0 至 100 的数字，至多两位小数，不带空格、正负号或多余的前导零，如 80、85.5、100（R50）")
        }
        let whole = Int(parts[0]) ?? 999
        let frac = parts.count == 2 ? Int(parts[1]) ?? 0 : 0
        if whole > 100 || (whole == 100 && frac != 0) {
            throw .invalid("score: \(score) 超过 100（R50）")
        }
        if parts[0].count == 3 && whole != 100 {
            throw .invalid("score: '\(score)' 的整数部分有多余的前导零，如 80、85.5、100（R50）")
        }
    }
}

public struct BackupBody: Codable, Sendable {
    public var service: String
}

public enum StaffChecks {
    public static func sitting(_ s: String) throws(EdgeError) -> SittingName {
        guard let v = SittingName(rawValue: s) else { throw .invalid("sitting: '\(s.prefix(20))' is not mock or formal") }
        return v
    }

    public static func examNumber(_ e: String) throws(EdgeError) {
        guard !e.isEmpty, e.count <= 32, e.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw .invalid("examNumber: '\(e.prefix(40))' is not an exam number")
        }
    }
}
