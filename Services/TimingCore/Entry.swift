import ExamPlan
import Foundation

// Entry (R11, R12, R18): the main phone joins the candidate's main room
// (主房间), the secondary phone the secondary room (副房间), inside the
// sitting's entry window (opens inclusive, closes exclusive), only for
// confirmed, not disqualified candidates whose phone is not known unfit.
//
// After the close, only candidates with a main-room entry may come back
// (a dropped phone re-enters, R18), and only until their own countdown has
// ended. The secondary phone of such a candidate may still join late, since
// it only films the room (better late than no second camera; the event's
// time shows it). Absence is decided by the main room alone (R12).

extension TimingState {
    public mutating func enter(examNumber: String, sitting: Sitting, channel: EntryChannel, deviceID: String,
                               now: Date) throws -> [TimingEvent] {
        try transact { try $0.enterValidated(examNumber, sitting, channel, deviceID, now) }
    }

    /// The phone left its room or dropped. Leaving when already out is a
    /// harmless repeat (no event). `deviceID`, when given, must be the
    /// device holding the channel.
    public mutating func leave(examNumber: String, sitting: Sitting, channel: EntryChannel, deviceID: String? = nil,
                               now: Date) throws -> [TimingEvent] {
        try transact { s in
            let cs = try s.sittingRecord(sitting, examNumber)
            try s.requireCaughtUp(now)
            guard let p = cs.channel(channel) else {
                throw TimingError.precondition("candidate \(examNumber) has not entered the \(sitting.title) \(channel.roomName)")
            }
            if let d = deviceID, d != p.deviceID {
                throw TimingError.denied("device \(d) is not in the \(channel.roomName) of \(examNumber) (device \(p.deviceID) is)")
            }
            guard p.present else { return [] }
            var updated = cs
            var np = p
            np.present = false
            np.leftAt = now
            np.lastLeaveReason = .left
            updated.setChannel(channel, np)
            s.candidateSittings[Self.key(sitting, examNumber)] = updated
            return [.candidateLeft(sitting: sitting, examNumber: examNumber, roomID: cs.roomID, channel: channel,
                                   deviceID: p.deviceID, reason: .left,
                                   duringInterview: cs.interview?.isRunning == true, at: now)]
        }
    }

    private mutating func enterValidated(_ examNumber: String, _ sitting: Sitting, _ channel: EntryChannel,
                                         _ deviceID: String, _ now: Date) throws -> [TimingEvent] {
        let c = try candidate(examNumber)
        let device = deviceID.trimmingCharacters(in: .whitespaces)
        guard !device.isEmpty else { throw TimingError.invalid("deviceID: empty") }
        let cs = try sittingRecord(sitting, examNumber)
        let room = try roomSitting(sitting, cs.roomID)
        try requireCaughtUp(now)
        let what = "candidate \(examNumber) cannot enter the \(sitting.title) \(channel.roomName)"

        // Who may enter at all (R6, R11, R42).
        let blockers = entryBlockers(c)
        guard blockers.isEmpty else {
            throw TimingError.precondition("\(what): \(blockers.joined(separator: "; "))")
        }
        // When (R11, R12, R18).
        let window = plan.entry(sitting)
        if now < window.opens {
            throw TimingError.range("\(what): the entry window \(window.text) has not opened yet")
        }
        if let ended = room.endedAt {
            throw TimingError.precondition("\(what): room \(cs.roomID) was ended at \(BeijingTime.short(ended))")
        }
        if let iv = cs.interview, let ended = iv.endedAt {
            throw TimingError.range("\(what): the interview ended at \(BeijingTime.short(ended)); re-entry is refused once the countdown is over (R18)")
        }
        if window.hasClosed(at: now) && cs.main == nil {
            let consequence = sitting == .formal ? "is absent and forfeits the interview (R12)" : "is recorded absent (R19)"
            throw TimingError.range("\(what): entry closed at \(BeijingTime.short(window.closes)) and the candidate had no main-room entry; \(consequence)")
        }
        // With which phone (R11, R30, R32).
        let unfit = deviceBlockers(c, channel)
        guard unfit.isEmpty else {
            throw TimingError.precondition("\(what): the \(channel.rawValue) phone fails device rules (R32): \(unfit.joined(separator: "; "))")
        }
        if let other = cs.channel(channel.other), other.deviceID == device {
            throw TimingError.invalid("\(what): device \(device) is the \(channel.other.rawValue) phone; the main and secondary phones must be two devices (R11, R30)")
        }
        let existing = cs.channel(channel)
        if let p = existing, p.present, p.deviceID != device {
            throw TimingError.exists("\(what) from device \(device): device \(p.deviceID) is in it since \(BeijingTime.short(p.lastEnteredAt)); one device per room")
        }

        // Apply.
        var updated = cs
        let presence: ChannelPresence
        var replaced: String?
        if var p = existing {
            if p.deviceID != device {
                replaced = p.deviceID
                p.previousDevices.append(p.deviceID)
                p.deviceID = device
            }
            p.present = true
            p.lastEnteredAt = now
            p.entries += 1
            presence = p
        } else {
            presence = ChannelPresence(deviceID: device, firstEnteredAt: now, lastEnteredAt: now, present: true,
                                       leftAt: nil, lastLeaveReason: nil, entries: 1, previousDevices: [])
        }
        updated.setChannel(channel, presence)
        candidateSittings[Self.key(sitting, examNumber)] = updated
        let remaining = cs.interview.map { $0.remaining(at: now) }
        return [.candidateEntered(sitting: sitting, examNumber: examNumber, roomID: cs.roomID, channel: channel,
                                  deviceID: device, reentry: existing != nil, replacedDeviceID: replaced,
                                  remaining: remaining, at: now)]
    }
}
