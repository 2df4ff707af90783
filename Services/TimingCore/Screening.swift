import ExamPlan
import Foundation

/// The room checklist staff go through on entry (R13), from the notice's
/// section 6 (面试环境要求).
public enum ChecklistItem: String, Codable, Sendable, CaseIterable, Hashable {
    /// 6(1), 6(2): alone, in a closed room with only one door, the door shut.
    case aloneInClosedRoomWithOneDoor
    /// 6(1): on the desk only one blank A4 sheet and a black pen.
    case deskOnlyBlankA4AndBlackPen
    /// 6(1): no earphones or headset.
    case noEarphonesOrHeadset
    /// 6(1): no mask.
    case noMask
    /// 5(2)5: no smart watch or smart band.
    case noSmartWatchOrBand
    /// 6(1): no electronic device other than the two phones.
    case noOtherElectronicDevices
    /// 6(3), 6(5): no beauty filter, virtual background, back light.
    case noBeautyFilterVirtualBackgroundOrBacklight
    /// 6(5): face and ears not covered.
    case faceAndEarsVisible

    /// The section-7 ground a failure most likely falls under, as a hint for
    /// discipline, which decides (R40-R42): 1 another person, 6 earphones /
    /// reading material, 7 other electronic devices, 10 other.
    public var suggestedGround: Int {
        switch self {
        case .aloneInClosedRoomWithOneDoor: return 1
        case .deskOnlyBlankA4AndBlackPen, .noEarphonesOrHeadset: return 6
        case .noSmartWatchOrBand, .noOtherElectronicDevices: return 7
        case .noMask, .noBeautyFilterVirtualBackgroundOrBacklight, .faceAndEarsVisible: return 10
        }
    }
}

/// One item as staff found it, with an optional note (the evidence).
public struct ScreeningCheck: Codable, Sendable, Equatable, Hashable {
    public var item: ChecklistItem
    public var passed: Bool
    public var note: String?

    public init(_ item: ChecklistItem, passed: Bool, note: String? = nil) {
        self.item = item
        self.passed = passed
        self.note = note
    }

    /// Every item passed: the usual case.
    public static var allPassed: [ScreeningCheck] { ChecklistItem.allCases.map { ScreeningCheck($0, passed: true) } }
}

// Screening (R13): staff check identity and room after the main phone has
// entered, and record the result here. A failure is published with the
// failed items as evidence; the shell forwards it to discipline, which
// decides (timing itself never disqualifies). Staff may screen again until
// the interview starts (e.g. after the earphones are put away): the last
// screening is the one that counts, all are kept.

extension TimingState {
    public mutating func recordScreening(examNumber: String, sitting: Sitting, identityConfirmed: Bool,
                                         checks: [ScreeningCheck], proctor: String,
                                         now: Date) throws -> [TimingEvent] {
        try transact { s in
            let cs = try s.sittingRecord(sitting, examNumber)
            try s.requireStaff(proctor, of: s.planRoom(cs.roomID))
            var seen = Set<ChecklistItem>(), twice = Set<ChecklistItem>()
            for c in checks where !seen.insert(c.item).inserted { twice.insert(c.item) }
            let missing = ChecklistItem.allCases.filter { !seen.contains($0) }
            if !missing.isEmpty || !twice.isEmpty {
                var parts: [String] = []
                if !missing.isEmpty { parts.append("missing \(missing.map(\.rawValue).joined(separator: ", "))") }
                if !twice.isEmpty {
                    parts.append("listed twice \(ChecklistItem.allCases.filter { twice.contains($0) }.map(\.rawValue).joined(separator: ", "))")
                }
                throw TimingError.invalid("checks: every checklist item exactly once (notice section 6): \(parts.joined(separator: "; "))")
            }
            try s.requireCaughtUp(now)
            let room = try s.roomSitting(sitting, cs.roomID)
            if let ended = room.endedAt {
                throw TimingError.precondition("room \(cs.roomID) (\(sitting.title)) was ended at \(BeijingTime.short(ended))")
            }
            guard let main = cs.main else {
                throw TimingError.precondition("candidate \(examNumber) has not entered the \(sitting.title) main room (主房间); screening follows entry (R13)")
            }
            guard main.present else {
                throw TimingError.precondition("candidate \(examNumber) is not in the main room (主房间) now (left at \(main.leftAt.map(BeijingTime.short) ?? "?"))")
            }
            if let iv = cs.interview {
                throw TimingError.precondition("candidate \(examNumber)'s interview started at \(BeijingTime.short(iv.startedAt)); screening is done before it")
            }
            let ordered = ChecklistItem.allCases.compactMap { item in checks.first { $0.item == item } }
            let record = ScreeningRecord(identityConfirmed: identityConfirmed, checks: ordered, proctor: proctor, at: now)
            var updated = cs
            updated.screenings.append(record)
            s.candidateSittings[Self.key(sitting, examNumber)] = updated
            if record.passed {
                return [.screeningPassed(sitting: sitting, examNumber: examNumber, roomID: cs.roomID, proctor: proctor, at: now)]
            }
            return [.screeningFailed(sitting: sitting, examNumber: examNumber, roomID: cs.roomID, proctor: proctor,
                                     identityConfirmed: identityConfirmed, failed: record.failedChecks, at: now)]
        }
    }
}
