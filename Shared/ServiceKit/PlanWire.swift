import Bus
import ExamContracts
import ExamPlan
import Foundation

/// The exam plan on the wire (plan.proto) and back: the one conversion every
/// service uses for what timing publishes.
extension ExamPlan {
    public func info(loadedAt: Date) -> ExamPlanInfo {
        ExamPlanInfo(
            exam: exam,
            confirmation: confirmation.wire, mockEntry: mockEntry.wire, formalEntry: formalEntry.wire,
            publicationMs: unixMillis(publication),
            readingSeconds: UInt32(interview.readingSeconds), answeringSeconds: UInt32(interview.answeringSeconds),
            answeringTurn: interview.answeringTurn == .staff ? .staff : .automatic,
            rooms: rooms.map { r in
                PlanRoom(id: r.id, name: r.name, panel: r.panel.map { PlanExaminer(id: $0.id, name: $0.name, chief: $0.chief) },
                         candidates: r.candidates, proctors: r.proctors)
            },
            loadedAtMs: unixMillis(loadedAt))
    }

    /// The plan timing published; refused (INVALID_ARGUMENT) if it does not validate.
    public init(info: ExamPlanInfo) throws {
        func window(_ w: PlanWindow?, _ name: String) throws -> TimeWindow {
            guard let w else { throw RPCError.invalidArgument("plan: \(name) is missing") }
            return TimeWindow(opens: Date(unixMs: w.opensMs), closes: Date(unixMs: w.closesMs))
        }
        self.init(exam: info.exam,
                  confirmation: try window(info.confirmation, "confirmation"),
                  mockEntry: try window(info.mockEntry, "mock_entry"),
                  formalEntry: try window(info.formalEntry, "formal_entry"),
                  publication: Date(unixMs: info.publicationMs),
                  interview: InterviewDurations(readingSeconds: Int(info.readingSeconds), answeringSeconds: Int(info.answeringSeconds),
                                                answeringTurn: info.answeringTurn == .staff ? .staff : .automatic),
                  rooms: info.rooms.map { r in
                      ExamRoom(id: r.id, name: r.name, panel: r.panel.map { Examiner(id: $0.id, name: $0.name, chief: $0.chief) },
                               candidates: r.candidates, proctors: r.proctors)
                  })
        let problems = self.problems()
        guard problems.isEmpty else { throw RPCError.invalidArgument("plan: " + problems.joined(separator: "; ")) }
    }
}

extension TimeWindow {
    var wire: PlanWindow { PlanWindow(opensMs: unixMillis(opens), closesMs: unixMillis(closes)) }
}

extension Date {
    /// A Unix-milliseconds time from the wire.
    public init(unixMs: Int64) { self.init(timeIntervalSince1970: Double(unixMs) / 1000) }
}

extension Sitting {
    public var wire: SittingKind { self == .mock ? .mock : .formal }
    public init(wire: SittingKind) throws {
        switch wire {
        case .mock: self = .mock
        case .formal: self = .formal
        case .unspecified: throw RPCError.invalidArgument("sitting: say SITTING_KIND_MOCK or SITTING_KIND_FORMAL")
        }
    }
}
