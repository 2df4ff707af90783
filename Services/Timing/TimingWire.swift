import Bus
import ExamContracts
import ExamPlan
import Foundation
import ServiceKit
import TimingCore

/// The core's values as protos/exam/v1/timing.proto has them.
enum TimingWire {
    static func ms(_ d: Date?) -> Int64 { d?.unixMs ?? 0 }

    static func channel(_ c: EntryChannel) -> Channel { c == .main ? .main : .secondary }

    static func phase(_ p: TimingCore.InterviewPhase) -> InterviewPhaseKind {
        switch p {
        case .reading: .reading
        case .answering: .answering
        case .ended: .ended
        }
    }

    static let items: [(ChecklistItemKind, ChecklistItem)] = [
        (.aloneInClosedRoomWithOneDoor, .aloneInClosedRoomWithOneDoor),
        (.deskOnlyBlankA4AndBlackPen, .deskOnlyBlankA4AndBlackPen),
        (.noEarphonesOrHeadset, .noEarphonesOrHeadset),
        (.noMask, .noMask),
        (.noSmartWatchOrBand, .noSmartWatchOrBand),
        (.noOtherElectronicDevices, .noOtherElectronicDevices),
        (.noBeautyFilterVirtualBackgroundOrBacklight, .noBeautyFilterVirtualBackgroundOrBacklight),
        (.faceAndEarsVisible, .faceAndEarsVisible),
    ]

    static func item(_ k: ChecklistItemKind) throws -> ChecklistItem {
        guard let i = items.first(where: { $0.0 == k })?.1 else {
            throw RPCError.invalidArgument("checklist: item \(k.rawValue) is not one of the notice's section 6 items (1-8)")
        }
        return i
    }

    static func item(_ i: ChecklistItem) -> ChecklistItemKind { items.first { $0.1 == i }?.0 ?? .unspecified }

    static func check(_ c: ScreeningCheck) -> ChecklistResult {
        ChecklistResult(item: item(c.item), passed: c.passed, note: c.note ?? "")
    }

    static func interview(_ c: InterviewClock?, now: Date) -> InterviewInfo? {
        guard let c else { return nil }
        return InterviewInfo(examNumber: c.examNumber, roomId: c.roomID, sitting: c.sitting.wire, phase: phase(c.phase),
                             startedAtMs: ms(c.startedAt), readingEndsAtMs: ms(c.readingEndsAt), endsAtMs: ms(c.endsAt),
                             remainingMs: Int64((c.remaining * 1000).rounded(.down)), serverTimeMs: now.unixMs,
                             questionRevealed: c.questionRevealedAt != nil,
                             endReason: c.endReason.map { $0 == .timeUp ? "time_up" : "ended_early" } ?? "",
                             recordingSaved: c.phase == .ended)
    }

    static func interview(_ core: TimingState, _ examNumber: String, _ sitting: Sitting, _ now: Date) throws -> InterviewInfo {
        let clock = try TimingShell.op { try core.interviewClock(examNumber: examNumber, sitting: sitting, now: now) }
        return interview(clock, now: now)!
    }

    static func status(_ s: SittingStatus) -> String {
        switch s {
        case .notEligible: "not_eligible"
        case .awaitingEntry: "awaiting_entry"
        case .absent: "absent"
        case .waiting: "waiting"
        case .interviewing: "interviewing"
        case .interviewed: "interviewed"
        case .notInterviewed: "not_interviewed"
        }
    }

    static func candidate(_ core: TimingState, _ examNumber: String, _ sitting: Sitting, _ now: Date) throws -> CandidateTimingView {
        let v = try TimingShell.op { try core.candidateView(examNumber: examNumber, sitting: sitting, now: now) }
        return CandidateTimingView(
            examNumber: v.examNumber, roomId: v.roomID, sitting: v.sitting.wire, status: status(v.status),
            inMainRoom: v.main?.present ?? false, inSecondaryRoom: v.secondary?.present ?? false,
            mainDevice: v.main?.deviceID ?? "", secondaryDevice: v.secondary?.deviceID ?? "",
            screened: v.lastScreening != nil, screeningPassed: v.lastScreening?.passed ?? false,
            interview: interview(v.interview, now: now), position: UInt32(v.position ?? 0),
            blockers: v.blockers, forfeited: v.forfeited,
            ready: v.status == .waiting && (v.main?.present ?? false) && (v.lastScreening?.passed ?? false) && v.blockers.isEmpty,
            disqualified: v.disqualified)
    }

    static func room(_ core: TimingState, _ roomID: String, _ sitting: Sitting, _ now: Date) throws -> RoomInfo {
        let r = try TimingShell.op { try core.roomView(roomID: roomID, sitting: sitting, now: now) }
        return RoomInfo(
            roomId: r.roomID, name: r.name, sitting: r.sitting.wire, entryOpen: r.entryOpen, drawn: r.draw != nil,
            drawSeed: r.draw?.seed ?? 0,
            queue: r.queue.map { q in
                CandidateTimingView(examNumber: q.examNumber, roomId: r.roomID, sitting: r.sitting.wire, status: status(q.status),
                                    inMainRoom: q.inMainRoom, inSecondaryRoom: q.inSecondaryRoom,
                                    screened: q.screeningPassed != nil, screeningPassed: q.screeningPassed ?? false,
                                    position: UInt32(q.position ?? 0), ready: q.ready)
            },
            current: interview(r.current, now: now), ended: r.endedAt != nil, serverTimeMs: now.unixMs,
            next: r.next ?? "", entry: PlanWindow(opensMs: ms(r.entry.opens), closesMs: ms(r.entry.closes)))
    }

    /// The payload published for `e` on `e.topic`.
    static func payload(_ e: TimingEvent) -> any ProtoMessage {
        switch e {
        case .eligibilityChanged(let exam, let room, let canEnter, let blockers, let at):
            return EligibilityEvent(examNumber: exam, roomId: room, canEnter: canEnter, blockers: blockers, atMs: ms(at))
        case .entryOpened(let sitting, let opens, let closes, let due, let at):
            return EntryWindowEvent(sitting: sitting.wire, window: PlanWindow(opensMs: ms(opens), closesMs: ms(closes)),
                                    atMs: ms(at), dueMs: ms(due))
        case .entryClosed(let sitting, let entered, let absent, let notEligible, let due, let at):
            return EntryWindowEvent(sitting: sitting.wire, atMs: ms(at), dueMs: ms(due), entered: entered, absent: absent, notEligible: notEligible)
        case .candidateEntered(let sitting, let exam, let room, let ch, let device, let reentry, let replaced, let remaining, let at):
            return CandidateMoment(examNumber: exam, roomId: room, sitting: sitting.wire, channel: channel(ch), deviceId: device,
                                   atMs: ms(at), reentry: reentry, replacedDeviceId: replaced ?? "",
                                   remainingMs: remaining.map { Int64(($0 * 1000).rounded(.down)) } ?? 0)
        case .candidateLeft(let sitting, let exam, let room, let ch, let device, let reason, let during, let at):
            return CandidateMoment(examNumber: exam, roomId: room, sitting: sitting.wire, channel: channel(ch), deviceId: device,
                                   atMs: ms(at), detail: reason.rawValue + (during ? " (during the interview)" : ""))
        case .candidateAbsent(let sitting, let exam, let room, let forfeits, let due, let at):
            return CandidateMoment(examNumber: exam, roomId: room, sitting: sitting.wire, atMs: ms(at), dueMs: ms(due),
                                   detail: forfeits ? "no main-room entry by the close: forfeits the interview" : "no main-room entry by the close: recorded",
                                   forfeitsInterview: forfeits)
        case .orderDrawn(let sitting, let room, let seed, let order, let by, let replaces, let due, let at):
            return DrawEvent(roomId: room, sitting: sitting.wire, seed: seed, order: order, drawnBy: by ?? "", atMs: ms(at),
                             replacesSeed: replaces ?? 0, dueMs: ms(due))
        case .screeningPassed(let sitting, let exam, let room, let proctor, let at):
            return ScreeningEvent(examNumber: exam, roomId: room, sitting: sitting.wire, identityConfirmed: true, proctor: proctor, atMs: ms(at))
        case .screeningFailed(let sitting, let exam, let room, let proctor, let identity, let failed, let at):
            var names = failed.map { f in f.item.rawValue + (f.note.map { ": \($0)" } ?? "") }
            if !identity { names.insert("identity not confirmed", at: 0) }
            return ScreeningEvent(examNumber: exam, roomId: room, sitting: sitting.wire, identityConfirmed: identity,
                                  checklist: failed.map(check), failedItems: names, proctor: proctor, atMs: ms(at))
        case .interviewStarted(let sitting, let exam, let room, let proctor, let readingEnds, let ends, let at):
            return InterviewEvent(examNumber: exam, roomId: room, sitting: sitting.wire, phase: .reading, startedAtMs: ms(at),
                                  readingEndsAtMs: ms(readingEnds), endsAtMs: ms(ends), atMs: ms(at), announcedBy: proctor)
        case .questionRevealed(let sitting, let exam, let room, let at):
            return InterviewEvent(examNumber: exam, roomId: room, sitting: sitting.wire, phase: .reading, atMs: ms(at), announcedBy: exam)
        case .readingTimeUp(let sitting, let exam, let room, let due, let at):
            return InterviewEvent(examNumber: exam, roomId: room, sitting: sitting.wire, phase: .reading, readingEndsAtMs: ms(due),
                                  atMs: ms(at), dueMs: ms(due))
        case .answeringStarted(let sitting, let exam, let room, let turn, let by, let ends, let due, let at):
            return InterviewEvent(examNumber: exam, roomId: room, sitting: sitting.wire, phase: .answering, readingEndsAtMs: ms(due),
                                  endsAtMs: ms(ends), atMs: ms(at), dueMs: turn == .automatic ? ms(due) : 0,
                                  announcedBy: by ?? "automatic")
        case .interviewEnded(let sitting, let exam, let room, let reason, let remaining, let due, let at):
            return InterviewEvent(examNumber: exam, roomId: room, sitting: sitting.wire, phase: .ended, endsAtMs: ms(due ?? at),
                                  atMs: ms(at), dueMs: ms(due), announcedBy: reason == .timeUp ? "automatic" : exam,
                                  reason: reason == .timeUp ? "time_up" : "ended_early",
                                  remainingMs: Int64((remaining * 1000).rounded(.down)))
        case .answerRecordingSaved(let sitting, let exam, let room, let from, let until, let due, let at):
            return InterviewEvent(examNumber: exam, roomId: room, sitting: sitting.wire, phase: .ended,
                                  readingEndsAtMs: ms(from), endsAtMs: ms(until), atMs: ms(at), dueMs: ms(due), reason: "saved")
        case .roomEnded(let sitting, let room, let proctor, let interviewed, let notInterviewed, let at):
            return RoomEvent(roomId: room, sitting: sitting.wire,
                             notInterviewed: notInterviewed.map { "\($0.examNumber): \($0.reason.rawValue)" },
                             proctor: proctor, atMs: ms(at), interviewed: interviewed)
        }
    }
}
