import DemoKit
import ExamDay
import ExamPlan
import Foundation
import TestSupport

/// How the service tests open their day: the plan written beside the mesh,
/// timing (with the plan) and roster started, then the services a test
/// adds, the list imported, confirmation open and every candidate logged in.
struct OpenedDay {
    let staff: Staff
    let plan: ExamPlan
    let planPath: String
    let clients: [CandidateClient]
    var room: String { plan.rooms[0].id }

    init(_ h: MeshHarness, _ people: DemoRoster, planJSON: String, more: [(String, [String])] = []) async throws {
        planPath = h.dir + "/plan.json"
        try Data(planJSON.utf8).write(to: URL(fileURLWithPath: planPath))
        try await h.start("timing", ["--plan", planPath])
        try await h.start("roster", ["--scrypt-n", "1024"])
        // The list before the other services: the confirmation window
        // freezes it, and starting them takes long on a loaded machine.
        staff = Staff(mesh: h.tools)
        _ = try await staff.importRoster(people.csv())
        for (name, arguments) in more { try await h.start(name, arguments) }
        plan = try await staff.plan()
        try await waitForClock(plan.confirmation.opens)
        var clients: [CandidateClient] = []
        for c in people.candidates { clients.append(try await CandidateClient.login(h.tools, c)) }
        self.clients = clients
    }
}
