import ExamPlan
import Foundation

/// Every announcement and transition of timing, with the server time it
/// happened (R21). Events fired by `tick` also carry `due`, the time the
/// rule set for them; `at` is later than `due` only when timing caught up
/// after a stall or a restart (R22). The shell publishes each on `topic`.
public enum TimingEvent: Codable, Sendable, Equatable {
    /// Roster, discipline or devices changed whether the candidate may enter
    /// (`blockers` empty = may enter). Not tied to a sitting.
    case eligibilityChanged(examNumber: String, roomID: String, canEnter: Bool, blockers: [String], at: Date)

    /// The entry window opened (R11).
    case entryOpened(sitting: Sitting, opens: Date, closes: Date, due: Date, at: Date)
    /// The entry window closed (R12): who had a main-room entry, who is
    /// absent, who could not enter (not confirmed or disqualified).
    case entryClosed(sitting: Sitting, entered: [String], absent: [String], notEligible: [String], due: Date, at: Date)

    /// A phone joined its room; `reentry` when the channel had been entered
    /// before in this sitting (R18); `replacedDeviceID` when another device
    /// had held the channel and had left; `remaining` is the candidate's own
    /// countdown when it is running.
    case candidateEntered(sitting: Sitting, examNumber: String, roomID: String, channel: EntryChannel, deviceID: String,
                          reentry: Bool, replacedDeviceID: String?, remaining: TimeInterval?, at: Date)
    case candidateLeft(sitting: Sitting, examNumber: String, roomID: String, channel: EntryChannel, deviceID: String,
                       reason: LeaveReason, duringInterview: Bool, at: Date)
    /// No main-room entry at the close (R12): formal forfeits, mock is only
    /// recorded (R19).
    case candidateAbsent(sitting: Sitting, examNumber: String, roomID: String, forfeitsInterview: Bool, due: Date, at: Date)

    /// A room's interview order (R20): reproduce with
    /// `InterviewDraw.order(of: order, seed: seed)`. `drawnBy` nil = drawn
    /// automatically at the entry close (`due` = the close); else a staff
    /// redraw (`due` nil), replacing the draw with seed `replacesSeed`.
    case orderDrawn(sitting: Sitting, roomID: String, seed: UInt64, order: [String], drawnBy: String?,
                    replacesSeed: UInt64?, due: Date?, at: Date)

    case screeningPassed(sitting: Sitting, examNumber: String, roomID: String, proctor: String, at: Date)
    /// Evidence for discipline (R13, R41): the failed items with notes and
    /// suggested grounds; timing itself does not disqualify.
    case screeningFailed(sitting: Sitting, examNumber: String, roomID: String, proctor: String,
                         identityConfirmed: Bool, failed: [ScreeningCheck], at: Date)

    /// Staff announced "start, read the question" (考试开始，请阅题): the
    /// total countdown runs from `at` to `endsAt` (R14).
    case interviewStarted(sitting: Sitting, examNumber: String, roomID: String, proctor: String,
                          readingEndsAt: Date, endsAt: Date, at: Date)
    case questionRevealed(sitting: Sitting, examNumber: String, roomID: String, at: Date)
    /// Staff mode only: the reading time is over, staff should announce
    /// answering now (the countdown goes on regardless, R15).
    case readingTimeUp(sitting: Sitting, examNumber: String, roomID: String, due: Date, at: Date)
    /// "stop reading, start answering" (阅题结束，开始作答): automatic at the
    /// reading end (`announcedBy` nil), or announced by staff (at or after
    /// `due`, the reading end).
    case answeringStarted(sitting: Sitting, examNumber: String, roomID: String, turn: AnsweringTurn,
                          announcedBy: String?, endsAt: Date, due: Date, at: Date)
    /// Time up (`due` = the countdown's end, R16) or ended early by the
    /// candidate (`due` nil, `remaining` > 0, R17).
    case interviewEnded(sitting: Sitting, examNumber: String, roomID: String, reason: InterviewEndReason,
                        remaining: TimeInterval, due: Date?, at: Date)
    /// The answer video is marked saved and uploaded (R16).
    case answerRecordingSaved(sitting: Sitting, examNumber: String, roomID: String, answeringFrom: Date?,
                              until: Date, due: Date?, at: Date)
    /// Staff closed the room; everyone not interviewed, with why.
    case roomEnded(sitting: Sitting, roomID: String, proctor: String, interviewed: [String],
                   notInterviewed: [NotInterviewed], at: Date)
}

extension TimingEvent {
    /// The bus topic (hierarchical, prefix-subscribable).
    public var topic: String {
        switch self {
        case .eligibilityChanged: return "timing.candidate.eligibility"
        case .entryOpened: return "timing.entry.opened"
        case .entryClosed: return "timing.entry.closed"
        case .candidateEntered(_, _, _, _, _, let reentry, _, _, _):
            return reentry ? "timing.candidate.reentered" : "timing.candidate.entered"
        case .candidateLeft: return "timing.candidate.left"
        case .candidateAbsent: return "timing.candidate.absent"
        case .orderDrawn: return "timing.room.drawn"
        case .screeningPassed: return "timing.screening.passed"
        case .screeningFailed: return "timing.screening.failed"
        case .interviewStarted: return "timing.interview.started"
        case .questionRevealed: return "timing.interview.question_revealed"
        case .readingTimeUp: return "timing.interview.reading_time_up"
        case .answeringStarted: return "timing.interview.answering"
        case .interviewEnded: return "timing.interview.ended"
        case .answerRecordingSaved: return "timing.interview.recording_saved"
        case .roomEnded: return "timing.room.ended"
        }
    }

    /// Server time the event happened (R21).
    public var at: Date {
        switch self {
        case .eligibilityChanged(_, _, _, _, let at), .entryOpened(_, _, _, _, let at),
             .entryClosed(_, _, _, _, _, let at), .candidateEntered(_, _, _, _, _, _, _, _, let at),
             .candidateLeft(_, _, _, _, _, _, _, let at), .candidateAbsent(_, _, _, _, _, let at),
             .orderDrawn(_, _, _, _, _, _, _, let at), .screeningPassed(_, _, _, _, let at),
             .screeningFailed(_, _, _, _, _, _, let at), .interviewStarted(_, _, _, _, _, _, let at),
             .questionRevealed(_, _, _, let at), .readingTimeUp(_, _, _, _, let at),
             .answeringStarted(_, _, _, _, _, _, _, let at), .interviewEnded(_, _, _, _, _, _, let at),
             .answerRecordingSaved(_, _, _, _, _, _, let at), .roomEnded(_, _, _, _, _, let at):
            return at
        }
    }

    /// The time the rule set for a timed transition; nil for requests.
    public var due: Date? {
        switch self {
        case .entryOpened(_, _, _, let due, _), .entryClosed(_, _, _, _, let due, _),
             .candidateAbsent(_, _, _, _, let due, _), .readingTimeUp(_, _, _, let due, _):
            return due
        case .answeringStarted(_, _, _, let turn, _, _, let due, _):
            return turn == .automatic ? due : nil
        case .interviewEnded(_, _, _, _, _, let due, _), .answerRecordingSaved(_, _, _, _, _, let due, _):
            return due
        case .orderDrawn(_, _, _, _, _, _, let due, _):
            return due
        default:
            return nil
        }
    }

    public var sitting: Sitting? {
        switch self {
        case .eligibilityChanged: return nil
        case .entryOpened(let s, _, _, _, _), .entryClosed(let s, _, _, _, _, _),
             .candidateEntered(let s, _, _, _, _, _, _, _, _), .candidateLeft(let s, _, _, _, _, _, _, _),
             .candidateAbsent(let s, _, _, _, _, _), .orderDrawn(let s, _, _, _, _, _, _, _),
             .screeningPassed(let s, _, _, _, _), .screeningFailed(let s, _, _, _, _, _, _),
             .interviewStarted(let s, _, _, _, _, _, _), .questionRevealed(let s, _, _, _),
             .readingTimeUp(let s, _, _, _, _), .answeringStarted(let s, _, _, _, _, _, _, _),
             .interviewEnded(let s, _, _, _, _, _, _), .answerRecordingSaved(let s, _, _, _, _, _, _),
             .roomEnded(let s, _, _, _, _, _):
            return s
        }
    }

    public var examNumber: String? {
        switch self {
        case .eligibilityChanged(let n, _, _, _, _), .candidateEntered(_, let n, _, _, _, _, _, _, _),
             .candidateLeft(_, let n, _, _, _, _, _, _), .candidateAbsent(_, let n, _, _, _, _),
             .screeningPassed(_, let n, _, _, _), .screeningFailed(_, let n, _, _, _, _, _),
             .interviewStarted(_, let n, _, _, _, _, _), .questionRevealed(_, let n, _, _),
             .readingTimeUp(_, let n, _, _, _), .answeringStarted(_, let n, _, _, _, _, _, _),
             .interviewEnded(_, let n, _, _, _, _, _), .answerRecordingSaved(_, let n, _, _, _, _, _):
            return n
        case .entryOpened, .entryClosed, .orderDrawn, .roomEnded:
            return nil
        }
    }

    public var roomID: String? {
        switch self {
        case .eligibilityChanged(_, let r, _, _, _), .candidateEntered(_, _, let r, _, _, _, _, _, _),
             .candidateLeft(_, _, let r, _, _, _, _, _), .candidateAbsent(_, _, let r, _, _, _),
             .orderDrawn(_, let r, _, _, _, _, _, _), .screeningPassed(_, _, let r, _, _),
             .screeningFailed(_, _, let r, _, _, _, _), .interviewStarted(_, _, let r, _, _, _, _),
             .questionRevealed(_, _, let r, _), .readingTimeUp(_, _, let r, _, _),
             .answeringStarted(_, _, let r, _, _, _, _, _), .interviewEnded(_, _, let r, _, _, _, _),
             .answerRecordingSaved(_, _, let r, _, _, _, _), .roomEnded(_, let r, _, _, _, _):
            return r
        case .entryOpened, .entryClosed:
            return nil
        }
    }
}
