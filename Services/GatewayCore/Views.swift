// What the edge answers, as the OpenAPI document describes it. Times are
// the server's (milliseconds since 1970) plus Beijing-time text for people.
import ExamPlan
import Foundation

public struct SessionReply: Codable, Sendable {
    public var token: String
    public var expiresAtMs: Int64
    public var expiresAt: String
    public var examNumber: String
    public var defaultPassword: Bool
    public init(token: String, expiresAtMs: Int64, examNumber: String, defaultPassword: Bool) {
        self.token = token
        self.expiresAtMs = expiresAtMs
        expiresAt = BeijingTime.iso(Date(timeIntervalSince1970: Double(expiresAtMs) / 1000))
        self.examNumber = examNumber
        self.defaultPassword = defaultPassword
    }
}

public struct TimeReply: Codable, Sendable {
    public var serverTimeMs: Int64
    public var beijing: String
    public init(now: Date) {
        serverTimeMs = Int64((now.timeIntervalSince1970 * 1000).rounded())
        beijing = BeijingTime.iso(now)
    }
}

/// A plan window as a phone shows it.
public struct WindowView: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case before, open, closed }
    public var opensMs: Int64
    public var closesMs: Int64
    public var text: String
    public var state: State

    public init(_ w: TimeWindow, now: Date) {
        opensMs = Int64((w.opens.timeIntervalSince1970 * 1000).rounded())
        closesMs = Int64((w.closes.timeIntervalSince1970 * 1000).rounded())
        text = w.text
        state = w.hasClosed(at: now) ? .closed : w.hasOpened(at: now) ? .open : .before
    }
}

public struct RoomRef: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

public struct PostRef: Codable, Sendable, Equatable {
    public var code: String
    public var name: String
    public init(code: String, name: String) {
        self.code = code
        self.name = name
    }
}

/// One check of the ID photo (R4). Roster lists the checks a reviewer (or
/// the face backend) still has to make as not passed, "not yet checked":
/// for the candidate they are pending, not failed.
public struct PhotoCheckView: Codable, Sendable, Equatable {
    public var name: String
    public var label: String
    public var passed: Bool
    public var state: String
    public var detail: String
    public init(name: String, passed: Bool, detail: String) {
        self.name = name
        label = Texts.photoCheck[name] ?? name
        self.passed = passed
        let pending = !passed && detail == "not yet checked"
        state = passed ? "passed" : pending ? "pending" : "failed"
        self.detail = pending ? "待人工审核" : detail
    }
}

public struct IdentityStateView: Codable, Sendable, Equatable {
    public var status: String
    public var statusText: String
    public var checks: [PhotoCheckView]
    public var reason: String
    public init(status: String, checks: [PhotoCheckView], reason: String) {
        self.status = status
        statusText = Texts.identity[status] ?? status
        self.checks = checks
        self.reason = reason
    }
}

public struct Windows: Codable, Sendable, Equatable {
    public var confirmation: WindowView
    public var mock: WindowView
    public var formal: WindowView
    public init(plan: ExamPlan, now: Date) {
        confirmation = WindowView(plan.confirmation, now: now)
        mock = WindowView(plan.mockEntry, now: now)
        formal = WindowView(plan.formalEntry, now: now)
    }
}

public struct InterviewLength: Codable, Sendable, Equatable {
    public var readingSeconds: Int
    public var answeringSeconds: Int
}

/// "My registration" (R61): the candidate's own record, the plan's windows
/// and room, and what the candidate may do now.
public struct Registration: Codable, Sendable {
    public var examNumber: String
    public var name: String
    public var idNumberMasked: String
    public var phoneMasked: String
    public var post: PostRef
    public var writtenScore: String
    public var status: String
    public var statusText: String
    public var statusReason: String
    public var identity: IdentityStateView
    public var room: RoomRef?
    public var windows: Windows?
    public var interview: InterviewLength?
    public var canConfirm: Bool
    public var canDecline: Bool
    public var serverTimeMs: Int64

    public init(examNumber: String, name: String, idNumberMasked: String, phoneMasked: String, post: PostRef,
                writtenScore: String, status: String, statusReason: String, identity: IdentityStateView,
                plan: ExamPlan?, now: Date) {
        self.examNumber = examNumber
        self.name = name
        self.idNumberMasked = idNumberMasked
        self.phoneMasked = phoneMasked
        self.post = post
        self.writtenScore = writtenScore
        self.status = status
        statusText = Texts.candidate[status] ?? status
        self.statusReason = statusReason
        self.identity = identity
        room = plan?.room(of: examNumber).map { RoomRef(id: $0.id, name: $0.name) }
        windows = plan.map { Windows(plan: $0, now: now) }
        interview = plan.map { InterviewLength(readingSeconds: $0.interview.readingSeconds, answeringSeconds: $0.interview.answeringSeconds) }
        // R3: inside the window, only while still undecided. Roster decides; this only guides the page.
        let windowOpen = plan.map { $0.confirmation.contains(now) } ?? false
        canConfirm = windowOpen && status == "imported"
        canDecline = windowOpen && status == "imported"
        serverTimeMs = Int64((now.timeIntervalSince1970 * 1000).rounded())
    }
}

public struct InterviewView: Codable, Sendable, Equatable {
    public var phase: String
    public var phaseText: String
    public var startedAtMs: Int64
    public var readingEndsAtMs: Int64
    public var endsAtMs: Int64
    public var remainingMs: Int64
    public var questionRevealed: Bool
    /// Only once revealed, and only to the main phone (R14).
    public var question: String?
    public var endReason: String
    public var recordingSaved: Bool
    /// The plan's rule (R14): "automatic" answering starts when reading
    /// time is up; "staff" waits for the proctor's announcement.
    public var answeringTurn: String

    public init(phase: String, startedAtMs: Int64, readingEndsAtMs: Int64, endsAtMs: Int64, remainingMs: Int64,
                questionRevealed: Bool, question: String?, endReason: String, recordingSaved: Bool, answeringTurn: String) {
        self.answeringTurn = answeringTurn
        self.phase = phase
        phaseText = Texts.phase[phase] ?? phase
        self.startedAtMs = startedAtMs
        self.readingEndsAtMs = readingEndsAtMs
        self.endsAtMs = endsAtMs
        self.remainingMs = remainingMs
        self.questionRevealed = questionRevealed
        self.question = question
        self.endReason = endReason
        self.recordingSaved = recordingSaved
    }
}

/// One sitting as a phone sees it: room, queue, screening, the countdown.
public struct SittingState: Codable, Sendable, Equatable {
    public var sitting: String
    public var examNumber: String
    public var room: RoomRef?
    public var status: String
    public var statusText: String
    public var blockers: [String]
    public var inMainRoom: Bool
    public var inSecondaryRoom: Bool
    public var screened: Bool
    public var screeningPassed: Bool
    public var position: Int
    /// Interviews still to come before this candidate's; -1 when unknown.
    public var ahead: Int
    public var yourTurnNext: Bool
    public var entry: WindowView?
    public var interview: InterviewView?
    public var serverTimeMs: Int64

    public init(sitting: SittingName, examNumber: String, room: RoomRef?, status: String, blockers: [String],
                inMainRoom: Bool, inSecondaryRoom: Bool, screened: Bool, screeningPassed: Bool, position: Int,
                ahead: Int, yourTurnNext: Bool, entry: WindowView?, interview: InterviewView?, serverTimeMs: Int64) {
        self.sitting = sitting.rawValue
        self.examNumber = examNumber
        self.room = room
        self.status = status
        statusText = Texts.sitting[status] ?? status
        self.blockers = blockers
        self.inMainRoom = inMainRoom
        self.inSecondaryRoom = inSecondaryRoom
        self.screened = screened
        self.screeningPassed = screeningPassed
        self.position = position
        self.ahead = ahead
        self.yourTurnNext = yourTurnNext
        self.entry = entry
        self.interview = interview
        self.serverTimeMs = serverTimeMs
    }
}

public struct DeviceReply: Codable, Sendable {
    public var deviceId: String
    public var role: PhoneRole
    public var deviceKey: String
    public var fit: Bool
    public var reasons: [String]
    public init(deviceId: String, role: PhoneRole, deviceKey: String, fit: Bool, reasons: [String]) {
        self.deviceId = deviceId
        self.role = role
        self.deviceKey = deviceKey
        self.fit = fit
        self.reasons = reasons
    }
}

public struct HeartbeatResult: Codable, Sendable {
    public var fit: Bool
    public var brokenRules: [String]
    public var serverTimeMs: Int64
    public init(fit: Bool, brokenRules: [String], serverTimeMs: Int64) {
        self.fit = fit
        self.brokenRules = brokenRules
        self.serverTimeMs = serverTimeMs
    }
}

/// The Chinese the pages show for the services' states.
public enum Texts {
    public static let candidate = [
        "imported": "待确认", "confirmed": "已确认参加面试", "declined": "已放弃面试资格", "forfeited": "逾期未确认，视为放弃",
    ]
    public static let identity = [
        "none": "未上传身份证照片", "pending_review": "照片已上传，等待审核", "approved": "身份核验通过", "rejected": "身份核验未通过",
    ]
    public static let sitting = [
        "not_eligible": "不能进入考场", "awaiting_entry": "等待进入考场", "absent": "未在规定时间进入考场",
        "waiting": "已进入考场，候考中", "interviewing": "面试进行中", "interviewed": "面试已结束", "not_interviewed": "未参加面试",
    ]
    public static let phase = ["reading": "阅题", "answering": "作答", "ended": "已结束"]
    /// Roster's photo checks (R4), by name.
    public static let photoCheck = [
        "real_image": "真实的 JPEG/PNG 图片", "file_size": "文件大小", "pixel_size": "像素尺寸", "colour": "彩色照片",
        "not_duplicate": "未与他人照片重复", "card_name_matches_roster": "证件姓名与名单一致",
        "card_id_matches_roster": "证件号码与名单一致", "face_matches_card": "人像与证件照一致",
    ]

    /// A line for the candidate about an event of the mesh (R21: every
    /// announcement is an event; the phone hears the ones about it).
    public static func event(_ topic: String, role: String? = nil, detail: String = "") -> String {
        let who = role.map { $0 == "main" ? "主机位" : $0 == "secondary" ? "副机位" : $0 } ?? ""
        switch topic {
        case "timing.entry.opened": return "考场已开放进入"
        case "timing.entry.closed": return "进入考场时间已结束"
        case "timing.candidate.entered": return "\(who)已进入考场"
        case "timing.candidate.reentered": return "\(who)已重新进入考场"
        case "timing.candidate.left": return "\(who)已离开考场"
        case "timing.candidate.absent": return "未在规定时间进入考场"
        case "timing.candidate.eligibility": return detail.isEmpty ? "进入考场的资格已更新" : "进入考场的资格已更新：\(detail)"
        case "timing.room.drawn": return "考场已抽签确定面试顺序"
        case "timing.screening.passed": return "身份和环境核验通过"
        case "timing.screening.failed": return "身份或环境核验未通过"
        case "timing.interview.started": return "开始面试：请查看题目，阅题开始"
        case "timing.interview.question_revealed": return "题目已显示"
        case "timing.interview.reading_time_up": return "阅题时间到"
        case "timing.interview.answering": return "停止阅题，开始作答"
        case "timing.interview.ended": return detail == "ended_early" ? "已结束面试" : "面试时间到，面试结束"
        case "timing.interview.recording_saved": return "面试录像已保存"
        case "devices.signal.connected": return "\(who)已连接"
        case "devices.signal.lost": return "\(who)信号中断"
        case "devices.signal.restored": return "\(who)信号已恢复"
        case "devices.rule.broken": return detail.isEmpty ? "\(who)设备不符合要求" : "\(who)设备不符合要求：\(detail)"
        case "devices.rule.cleared": return "\(who)设备问题已解决"
        case "devices.fitness.changed": return detail.isEmpty ? "设备状态已更新" : detail
        default: return topic
        }
    }
}
