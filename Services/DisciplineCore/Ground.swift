import Foundation

/// The ten grounds on which a candidate loses the interview qualification or
/// the interview score: section 7 (面试纪律要求) of the notice, items 1-10, in
/// the notice's order and with its numbers (R40). The list is closed: the
/// notice names exactly these ten, and item 10 is already the catch-all, so a
/// new case would be a new rule, not a new row.
public enum Ground: Int, CaseIterable, Codable, Sendable, Comparable, CustomStringConvertible {
    case otherPersonInRoom = 1
    case standIn = 2
    case recordingOrSpreading = 3
    case disclosingIdentity = 4
    case unfairClothingOrJewellery = 5
    case earphonesHelpOrMaterial = 6
    case otherElectronicDevice = 7
    case answeringCall = 8
    case signalLoss = 9
    case otherMisconduct = 10

    /// The number the notice gives the ground (1...10).
    public var number: Int { rawValue }

    /// The notice's text, verbatim from section 7, without the list's
    /// closing punctuation ("；" / "。").
    public var chinese: String {
        switch self {
        case .otherPersonInRoom: return "面试房间内有其他人在场或中途进入的"
        case .standIn: return "由他人代考或代他人参加面试的"
        case .recordingOrSpreading: return "自行录制面试视频、音频，对外透露及传播的"
        case .disclosingIdentity: return "以任何方式向考官透露本人的姓名、学习院校、亲属关系等信息的"
        case .unfairClothingOrJewellery: return "穿戴有明显影响考试公平的服装、饰品等参加面试的"
        case .earphonesHelpOrMaterial: return "佩戴耳麦，向他人求助、查阅资料的"
        case .otherElectronicDevice: return "违规使用面试所用手机以外其他电子设备的"
        case .answeringCall: return "面试过程中接听音视频电话的"
        case .signalLoss: return "面试过程中双机位信号同时中断、单机位长时间信号中断或多次信号中断的"
        case .otherMisconduct: return "有其他违纪、舞弊行为的"
        }
    }

    /// An English rendering of the same ground, for people who do not read
    /// Chinese; the Chinese text is the authority.
    public var english: String {
        switch self {
        case .otherPersonInRoom: return "Another person is in the interview room, or enters it during the interview"
        case .standIn: return "Someone else sits the interview for the candidate, or the candidate sits it for someone else"
        case .recordingOrSpreading: return "The candidate records the interview's video or audio, or discloses or spreads it"
        case .disclosingIdentity: return "The candidate tells the examiners, in any way, their name, school, family relations or similar"
        case .unfairClothingOrJewellery: return "The candidate wears clothing or jewellery that clearly affects the fairness of the exam"
        case .earphonesHelpOrMaterial: return "The candidate wears earphones, asks others for help, or consults material"
        case .otherElectronicDevice: return "The candidate uses an electronic device other than the interview phones"
        case .answeringCall: return "The candidate answers an audio or video call during the interview"
        case .signalLoss: return "During the interview both positions lose signal at once, one position loses signal for a long time, or the signal is interrupted many times"
        case .otherMisconduct: return "Any other breach of exam discipline or cheating"
        }
    }

    /// "9. 面试过程中…" (for people and the export).
    public var description: String { "\(rawValue). \(chinese)" }

    /// The ground numbered `number`, or invalidArgument naming the range (R40).
    public static func numbered(_ number: Int, field: String = "ground") throws(DisciplineError) -> Ground {
        guard let g = Ground(rawValue: number) else {
            throw DisciplineError(.invalidArgument, "\(field): \(number) is not a ground of section 7 of the notice (1-10)")
        }
        return g
    }

    public static func < (a: Ground, b: Ground) -> Bool { a.rawValue < b.rawValue }
}
