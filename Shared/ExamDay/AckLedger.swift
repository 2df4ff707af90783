import Bus
import ExamContracts
import Foundation
import ServiceKit
import Synchronization

/// Every write a client of the day was answered OK, as the client saw it
/// (issue 15: "the clients log every OK they got"). After the day, and
/// after any number of crashes, each must still be what the services say:
/// an acknowledged write is never lost.
public final class AckLedger: Sendable {
    public enum Ack: Sendable, Hashable {
        case confirmed(String), declined(String), photo(String, uploadedAtMs: Int64), reviewed(String)
        case screened(String, SittingKind, passed: Bool)
        case started(String, SittingKind, startedAtMs: Int64)
        case reported(incident: String, examNumber: String)
        case decided(incident: String, status: String)
        case scored(String, examiner: String, score: String)
        case sealed(String)
        /// A phone the simulator registered (its report).
        case registered(String, deviceID: String)

        /// The service that acknowledged it.
        public var service: String {
            switch self {
            case .confirmed, .declined, .photo, .reviewed: "roster"
            case .screened, .started: "timing"
            case .reported, .decided: "discipline"
            case .scored, .sealed: "scoring"
            case .registered: "devices"
            }
        }
    }

    private let acks = Mutex<[Ack]>([])
    public init() {}

    public func record(_ a: Ack) { acks.withLock { $0.append(a) } }
    public var all: [Ack] { acks.withLock { $0 } }

    /// Acknowledgements by service.
    public var counts: [String: Int] { Dictionary(all.map { ($0.service, 1) }, uniquingKeysWith: +) }

    /// The acknowledged writes the services no longer hold, each with what
    /// they hold instead. Asks every one (16 at a time) through `mesh`.
    public func lost(_ mesh: MeshClient) async throws -> [String] {
        let found = Mutex<[String]>([])
        let staff = Staff(mesh: mesh)
        let unique = Array(Set(all))
        try await inParallel(unique, width: 16) { ack in
            if let why = try await Self.check(ack, mesh: mesh, staff: staff) { found.withLock { $0.append("\(ack): \(why)") } }
        }
        return found.withLock { $0 }.sorted()
    }

    /// nil when the service holds the acknowledged write, else what it holds.
    static func check(_ ack: Ack, mesh: MeshClient, staff: Staff) async throws -> String? {
        func candidate(_ e: String) async throws -> CandidateView {
            try await mesh.call("roster", RosterAPI.getCandidate, CandidateRef(examNumber: e), as: Staff.ops)
        }
        switch ack {
        case .confirmed(let e):
            let s = try await candidate(e).status
            return s == .confirmed ? nil : "status \(s)"
        case .declined(let e):
            let s = try await candidate(e).status
            return s == .declined ? nil : "status \(s)"
        case .photo(let e, let at):
            let got = try await candidate(e).identity?.uploadedAtMs ?? 0
            return got == at ? nil : "photo uploaded at \(got), acknowledged at \(at)"
        case .reviewed(let e):
            let s = try await candidate(e).identity?.status ?? .none
            return s == .approved ? nil : "identity \(s)"
        case .screened(let e, let sitting, let passed):
            let v = try await mesh.call("timing", TimingAPI.getCandidateState, CandidateStateRequest(examNumber: e, sitting: sitting))
            return v.screened && v.screeningPassed == passed ? nil : "screened \(v.screened), passed \(v.screeningPassed)"
        case .started(let e, let sitting, let at):
            let i = try await mesh.call("timing", TimingAPI.getInterview, InterviewRequest(examNumber: e, sitting: sitting))
            return i.startedAtMs == at ? nil : "started at \(i.startedAtMs), acknowledged at \(at)"
        case .reported(let id, let e):
            let i = try await mesh.call("discipline", DisciplineAPI.getIncident, IncidentRef(incidentId: id), as: Staff.ops)
            return i.examNumber == e ? nil : "incident of \(i.examNumber)"
        case .decided(let id, let status):
            let i = try await mesh.call("discipline", DisciplineAPI.getIncident, IncidentRef(incidentId: id), as: Staff.ops)
            return i.status == status ? nil : "status \(i.status)"
        case .scored(let e, let examiner, let score):
            let got = try await staff.scores(e).panel.first { $0.examinerId == examiner }?.score
            return got == score ? nil : "score \(got ?? "none")"
        case .sealed(let e):
            return try await staff.scores(e).sealed ? nil : "not sealed"
        case .registered(let e, let device):
            let v = try await mesh.call("devices", DevicesAPI.getCandidateDevices, DevicesCandidateRef(examNumber: e), as: Staff.ops)
            return v.devices.contains { $0.deviceId == device } ? nil : "devices holds \(v.devices.map(\.deviceId))"
        }
    }
}
