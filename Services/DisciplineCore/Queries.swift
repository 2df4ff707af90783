import Foundation
import ExamPlan

/// Filters for listing incidents; nil means any. Combined with AND.
public struct IncidentQuery: Sendable, Equatable {
    public var examNumber: String?
    /// The ground's number as the request carries it (1-10).
    public var ground: Int?
    public var status: StatusFilter?

    public init(examNumber: String? = nil, ground: Int? = nil, status: StatusFilter? = nil) {
        self.examNumber = examNumber
        self.ground = ground
        self.status = status
    }
}

extension DisciplineState {
    /// Incidents matching `query`, oldest first, each with its decisions.
    /// An unknown ground is invalidArgument; an unknown candidate notFound.
    public func incidents(matching query: IncidentQuery = IncidentQuery()) throws(DisciplineError) -> [IncidentRecord] {
        let ground = try query.ground.map { (n: Int) throws(DisciplineError) in try Ground.numbered(n) }
        let exam = try query.examNumber.map { (e: String) throws(DisciplineError) in try Check.examNumber(e) }
        if let e = exam, candidates[e] == nil {
            throw DisciplineError(.notFound, "candidate \(e) is not on the roster")
        }
        let byIncident = Dictionary(grouping: decisions.values, by: \.incidentID)
        return incidents.values
            .filter { i in (exam == nil || i.examNumber == exam) && (ground == nil || i.ground == ground) }
            .sorted { $0.seq < $1.seq }
            .map { IncidentRecord(incident: $0, decisions: (byIncident[$0.id] ?? []).sorted { $0.seq < $1.seq }, recordings: recordingEvidence(for: $0)) }
            .filter { query.status == nil || $0.matches(query.status!) }
    }

    /// The incidents still waiting for a decision, oldest first.
    public func openIncidents() -> [IncidentRecord] {
        incidents.values
            .filter { currentDecisionByIncident[$0.id] == nil }
            .sorted { $0.seq < $1.seq }
            .map { IncidentRecord(incident: $0, decisions: [], recordings: recordingEvidence(for: $0)) }
    }

    /// One incident with its decisions.
    public func incidentRecord(_ id: String) throws(DisciplineError) -> IncidentRecord {
        guard let i = incidents[id] else { throw DisciplineError(.notFound, "incident \(id) does not exist") }
        return IncidentRecord(incident: i, decisions: decisions.values.filter { $0.incidentID == id }.sorted { $0.seq < $1.seq },
                              recordings: recordingEvidence(for: i))
    }

    /// A candidate's standing after every decision so far (R42).
    public func standing(of examNumber: String) throws(DisciplineError) -> CandidateStanding {
        let exam = try Check.examNumber(examNumber)
        guard candidates[exam] != nil else { throw DisciplineError(.notFound, "candidate \(exam) is not on the roster") }
        return computeStanding(exam)
    }

    /// The whole log in seq order (R43).
    public var log: [LogEntry] {
        (incidents.values.map(LogEntry.incident) + decisions.values.map(LogEntry.decision)).sorted { $0.seq < $1.seq }
    }
}
