import Bus
import ExamContracts
import Foundation

/// One recording's outcome as recordings' completeness check found it
/// (R38): an interview has two, main and secondary.
public struct RecordingOutcome: Sendable, Equatable, Codable, CustomStringConvertible {
    public var examNumber: String
    /// "mock" or "formal".
    public var sitting: String
    /// "main" or "secondary".
    public var role: String
    /// The problems' kinds, sorted: "gap", "missing", "unfinished"; empty: complete.
    public var problems: [String]
    /// A gap of it overlaps a signal outage devices reported (ground 9).
    public var duringSignalLoss: Bool
    /// The longest gap, seconds (0 without one).
    public var longestGapSeconds: Double

    public init(examNumber: String, sitting: String, role: String, problems: [String] = [], duringSignalLoss: Bool = false,
                longestGapSeconds: Double = 0) {
        self.examNumber = examNumber
        self.sitting = sitting
        self.role = role
        self.problems = problems
        self.duringSignalLoss = duringSignalLoss
        self.longestGapSeconds = longestGapSeconds
    }

    public var complete: Bool { problems.isEmpty }

    /// "2022110003 formal secondary (gap 7.2 s, signal lost)".
    public var description: String {
        var why: [String] = []
        for p in problems {
            switch p {
            case "gap": why.append(String(format: "gap %.1f s, %@", longestGapSeconds, duringSignalLoss ? "signal lost" : "no signal-loss"))
            default: why.append(p)
            }
        }
        return "\(examNumber) \(sitting) \(role)" + (why.isEmpty ? "" : " (\(why.joined(separator: "; ")))")
    }
}

public enum RecordingsSummary {
    /// The key of a completeness event for `EventWatcher`: candidate and sitting.
    @Sendable public static func key(_ e: DeliveredEvent) -> String? {
        guard e.topic.hasPrefix("recordings.completeness."), let c = try? e.decode(CompletenessEvent.self) else { return nil }
        return key(c.examNumber, c.sitting)
    }

    public static func key(_ examNumber: String, _ sitting: SittingKind) -> String { "\(examNumber)|\(sitting)" }

    /// Every recording of the checked interviews in `report`, main before
    /// secondary, in the report's order (pending interviews left out).
    public static func outcomes(_ report: CompletenessReport) -> [RecordingOutcome] {
        var out: [RecordingOutcome] = []
        for i in report.interviews where i.status == .complete || i.status == .incomplete {
            let sitting = i.sitting == .mock ? "mock" : "formal"
            for role in [DeviceRole.main, .secondary] {
                let mine = i.problems.filter { $0.role == role }
                let gaps = mine.compactMap(\.gap)
                out.append(RecordingOutcome(examNumber: i.examNumber, sitting: sitting, role: role == .main ? "main" : "secondary",
                                            problems: Array(Set(mine.map(\.kind))).sorted(),
                                            duringSignalLoss: gaps.contains { $0.duringSignalLoss },
                                            longestGapSeconds: Double(gaps.map(\.lengthMs).max() ?? 0) / 1000))
            }
        }
        return out
    }

    /// "recordings: 60 of 64 complete; incomplete: 2022110001 formal main (gap 5.1 s, signal lost), ..."
    public static func line(_ outcomes: [RecordingOutcome], pending: Int = 0) -> String {
        let incomplete = outcomes.filter { !$0.complete }
        var text = "recordings: \(outcomes.count - incomplete.count) of \(outcomes.count) complete"
        if !incomplete.isEmpty { text += "; incomplete: " + incomplete.map(\.description).joined(separator: ", ") }
        if pending > 0 { text += "; \(pending) interviews not yet checked" }
        return text
    }
}
