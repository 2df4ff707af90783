import Foundation
import ExamPlan

/// A proctor's or examiner's report, on any ground (R41).
public struct StaffReport: Sendable, Equatable {
    public var examNumber: String
    /// The ground's number as the request carries it (1-10); anything else
    /// is invalidArgument (R40).
    public var ground: Int
    public var evidence: String
    /// Pointers into the recordings, e.g. "main@00:03:12", "secondary@00:07:40".
    public var references: [String]
    /// When it happened; nil means now.
    public var occurredAt: Date?
    public var sitting: Sitting?
    /// The client's request id: a retried request with the same id (from the
    /// same reporter) is recorded once.
    public var requestID: String?

    public init(examNumber: String, ground: Int, evidence: String, references: [String] = [],
                occurredAt: Date? = nil, sitting: Sitting? = nil, requestID: String? = nil) {
        self.examNumber = examNumber
        self.ground = ground
        self.evidence = evidence
        self.references = references
        self.occurredAt = occurredAt
        self.sitting = sitting
        self.requestID = requestID
    }
}

/// Devices' ground-9 report (R34).
public struct SignalLossReport: Sendable, Equatable {
    public var examNumber: String
    /// The redelivery key, e.g. "devices#123" (publisher and event seq).
    public var sourceKey: String
    public var pattern: SignalLossPattern
    public var positions: [DevicePosition]
    public var lostAt: Date
    public var durationSeconds: Double?
    public var interruptions: Int?
    public var sitting: Sitting
    /// Anything else devices wants on the record (the thresholds in force).
    public var note: String
    public var reportedBy: String

    public init(examNumber: String, sourceKey: String, pattern: SignalLossPattern, positions: [DevicePosition],
                lostAt: Date, durationSeconds: Double? = nil, interruptions: Int? = nil,
                sitting: Sitting = .formal, note: String = "", reportedBy: String = "devices") {
        self.examNumber = examNumber
        self.sourceKey = sourceKey
        self.pattern = pattern
        self.positions = positions
        self.lostAt = lostAt
        self.durationSeconds = durationSeconds
        self.interruptions = interruptions
        self.sitting = sitting
        self.note = note
        self.reportedBy = reportedBy
    }
}

/// Timing's report of a failed identity/room screening on entry (R13).
///
/// Ground: 10 (有其他违纪、舞弊行为的) unless timing names another. The
/// notice gives the consequence of failing screening in section 4(三)2(1)
/// (不符合要求的取消面试资格), not in section 7's list; section 7 item 10 is
/// the list's catch-all for breaches of the exam's rules, and a failed
/// screening shows a breach of the identity or environment requirements
/// (section 6) without proving a more specific ground: a failed ID check
/// is not by itself proof of a stand-in (ground 2). When a failed item does
/// show a specific ground (another person in the room: 1), timing may name it.
public struct ScreeningReport: Sendable, Equatable {
    public var examNumber: String
    public var sourceKey: String
    public var sitting: Sitting
    /// The checklist items that failed, as timing names them (at least one).
    public var failedItems: [String]
    /// The staff member who screened, if timing knows.
    public var screenedBy: String?
    public var screenedAt: Date
    /// A ground other than 10 that the failure shows; 9 is refused (signal
    /// loss comes from devices).
    public var ground: Int?
    public var note: String
    public var reportedBy: String

    public init(examNumber: String, sourceKey: String, sitting: Sitting, failedItems: [String], screenedBy: String? = nil,
                screenedAt: Date, ground: Int? = nil, note: String = "", reportedBy: String = "timing") {
        self.examNumber = examNumber
        self.sourceKey = sourceKey
        self.sitting = sitting
        self.failedItems = failedItems
        self.screenedBy = screenedBy
        self.screenedAt = screenedAt
        self.ground = ground
        self.note = note
        self.reportedBy = reportedBy
    }
}

/// Devices' report of a broken device rule (R32).
///
/// Ground: 10 unless devices names another (7, say, if it ever detects a
/// third device). The device rules come from section 5(二) of the notice,
/// which section 7 does not list item by item; item 10 is its catch-all.
/// The chief examiner judges whether the breach is misconduct or a mishap
/// (section 8(一): a candidate's own technical trouble is their own risk,
/// not a disqualification), so devices should report only the breaks
/// meant for discipline, not warnings such as low battery.
public struct DeviceRuleReport: Sendable, Equatable {
    public var examNumber: String
    public var sourceKey: String
    public var position: DevicePosition
    public var rule: String
    public var detail: String
    public var observedAt: Date
    public var sitting: Sitting?
    public var ground: Int?
    public var reportedBy: String

    public init(examNumber: String, sourceKey: String, position: DevicePosition, rule: String, detail: String,
                observedAt: Date, sitting: Sitting? = nil, ground: Int? = nil, reportedBy: String = "devices") {
        self.examNumber = examNumber
        self.sourceKey = sourceKey
        self.position = position
        self.rule = rule
        self.detail = detail
        self.observedAt = observedAt
        self.sitting = sitting
        self.ground = ground
        self.reportedBy = reportedBy
    }
}
