import Bus
import DemoKit
import ExamContracts
import ExamDay
import Foundation
import ServiceKit
import TestSupport
import Testing

/// Trusted actors on a CurveZMQ mesh (issue 16), against a real roster
/// process: a call's actor is believed only when the member whose key sent
/// it may assert it, and a key that is no member's never connects.
@Suite("trusted actors through real processes (issue 16)", .serialized)
struct TrustedActorsMeshTests {
    static func code(_ body: () async throws -> Void) async -> RPCError? {
        do { try await body() } catch let e as RPCError { return e } catch { return RPCError(.unknown, "\(error)") }
        return nil
    }

    @Test func aMemberAssertsOnlyWhatItsKeyMayAndAStrangersKeyNeverConnects() async throws {
        let h = try MeshHarness(tag: "trust", services: ["roster", "timing"])  // timing: only its key is used
        try await h.start("roster", ["--scrypt-n", "1024"])
        let people = DemoRoster(count: 3, seed: 16)
        _ = try await Staff(mesh: h.tools).importRoster(people.csv())
        let candidate = try await CandidateClient.login(h.tools, people.candidates[0])
        let chief = CallPrincipal(id: "chief-01", role: .chiefExaminer)
        let list = ListCandidatesRequest(status: .unspecified, postCode: "", offset: 0, limit: 10)

        // A staff tool's key may act for the chief examiner.
        #expect(try await h.call("roster", RosterAPI.listCandidates, list, as: chief).candidates.count == 3)

        // phone-sim's key is valid (it connects) but may assert candidates only:
        // claiming the chief's role is refused before the handler, three times
        // over, and logged once.
        let phones = MeshClient(mesh: h.mesh, caller: "phone-sim", member: "phone-sim")
        defer { phones.close() }
        for _ in 0..<3 {
            let refused = await Self.code { _ = try await phones.call("roster", RosterAPI.listCandidates, list, as: chief) }
            #expect(refused?.code == .permissionDenied, "\(String(describing: refused))")
            #expect(refused?.message.contains("mesh member 'phone-sim' may not act as chief_examiner 'chief-01' (it may assert: candidate)") == true,
                    "\(String(describing: refused))")
        }
        // ...while a call with no actor still reaches the service.
        _ = try await phones.call("roster", NodeAPI.ping, PingRequest(), as: .anonymous)

        // A tool calling a service-only method: as a service, the bus refuses
        // (a tool never asserts ROLE_SERVICE); as ops, roster does.
        let examctl = MeshClient(mesh: h.mesh, caller: "examctl")
        defer { examctl.close() }
        let asService = await Self.code {
            _ = try await examctl.call("roster", RosterAPI.authenticate, TokenRequest(token: candidate.token), as: CallPrincipal(id: "timing", role: .service))
        }
        #expect(asService?.code == .permissionDenied && asService?.message.contains("may not act as service") == true, "\(String(describing: asService))")
        let asOps = await Self.code {
            _ = try await examctl.call("roster", RosterAPI.authenticate, TokenRequest(token: candidate.token), as: CallPrincipal(id: "ops-1", role: .ops))
        }
        #expect(asOps?.code == .permissionDenied && asOps?.message.contains("Authenticate") == true, "\(String(describing: asOps))")
        // A service's key acts as a service only under its own name...
        let timingKey = MeshClient(mesh: h.mesh, caller: "timing", member: "timing")
        defer { timingKey.close() }
        let otherName = await Self.code {
            _ = try await timingKey.call("roster", RosterAPI.authenticate, TokenRequest(token: candidate.token), as: CallPrincipal(id: "devices", role: .service))
        }
        #expect(otherName?.code == .permissionDenied && otherName?.message.contains("only under its own name") == true, "\(String(describing: otherName))")
        // ...and under it, the service-only method answers.
        let who = try await timingKey.call("roster", RosterAPI.authenticate, TokenRequest(token: candidate.token), as: CallPrincipal(id: "timing", role: .service))
        #expect(who.examNumber == people.candidates[0].examNumber)

        // A key that is no member's: the public folder the services read does
        // not list it, so no connection is made at all (no call is answered)...
        let strangerKeys = h.dir + "/stranger-keys"
        try FileManager.default.createDirectory(atPath: strangerKeys + "/public", withIntermediateDirectories: true)
        let real = h.mesh.curve!.keysDir
        try FileManager.default.copyItem(atPath: real + "/public/roster.pub", toPath: strangerKeys + "/public/roster.pub")
        try MeshKeys.ensure(dir: strangerKeys, members: ["examctl"])  // a fresh pair under a member's name
        var strangerMesh = h.mesh
        strangerMesh.curve?.keysDir = strangerKeys
        let stranger = MeshClient(mesh: strangerMesh, caller: "examctl")
        defer { stranger.close() }
        for _ in 0..<3 {
            let none = await Self.code { _ = try await stranger.call("roster", NodeAPI.ping, PingRequest(), timeout: .milliseconds(700)) }
            // The first attempt waits out its deadline; once libzmq has seen
            // the handshake refused, the client says so at once.
            #expect(none?.code == .deadlineExceeded || none?.code == .unavailable, "\(String(describing: none))")
        }
        // ...counted on every attempt, logged once.
        let stats = try await h.call("roster", NodeAPI.stats, StatsRequest())
        let counter = { (name: String) in stats.counters.first { $0.name == name }?.value ?? 0 }
        #expect(counter("zap.refused") >= 1, "\(stats.counters.filter { $0.name.hasPrefix("zap") })")
        // 3 as the chief, a tool as a service, a service under another's name.
        #expect(counter("rpc.actor_refused") == 5, "\(counter("rpc.actor_refused"))")
        let log = try String(contentsOfFile: h.launcher.logPath("roster"), encoding: .utf8)
        let connectionLines = log.split(separator: "\n").filter { $0.contains("refused a connection") }
        #expect(connectionLines.count == 1, "\(connectionLines)")
        let callLines = log.split(separator: "\n").filter { $0.contains("refused a call") }
        #expect(callLines.contains { $0.contains("phone-sim") && $0.contains("chief_examiner") })
        #expect(callLines.filter { $0.contains("phone-sim") }.count == 1, "logged once per member, role and method: \(callLines)")
        #expect(!log.contains(try MeshKeys.load(dir: strangerKeys, member: "examctl").secretKey))
        await h.shutdown()
    }
}
