import ArgumentParser
import Bus
import ExamContracts
import ExamPlan
import Foundation
import ServiceKit

/// Options of the ops commands: the mesh file and who acts.
struct ClientOptions: ParsableArguments {
    @Option(help: "Mesh file (env EXAM_MESH).")
    var mesh: String = ProcessInfo.processInfo.environment["EXAM_MESH"] ?? "compose/mesh.json"

    @Option(help: "Who acts (the ops account).")
    var actor: String = ProcessInfo.processInfo.environment["EXAM_ACTOR"] ?? "ops"

    func connect() throws -> MeshClient {
        try MeshClient(meshPath: mesh, caller: "recordings-cli", member: "examctl", principal: CallPrincipal(id: actor, role: .ops))
    }
}

/// `recordings export`: one interview's two videos and a manifest of hashes,
/// written by the service into an empty folder on its host (R39).
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export",
                                                    abstract: "Export one interview's videos plus a manifest of hashes (on the service's host).")
    @OptionGroup var client: ClientOptions

    @Argument(help: "The candidate's exam number.")
    var examNumber: String

    @Option(help: "mock or formal.")
    var sitting: String = "formal"

    @Option(help: "Absolute folder to write into (created; must be empty).")
    var folder: String

    func run() async throws {
        guard let s = Sitting(rawValue: sitting) else { throw ValidationError("--sitting: '\(sitting)' is not mock or formal") }
        let mesh = try client.connect()
        do {
            let reply = try await mesh.call("recordings", RecordingsAPI.export,
                                            ExportRecordingsRequest(examNumber: examNumber, sitting: s.wire, folder: folder),
                                            timeout: .seconds(120))
            for f in reply.files { print("\(f.path)\t\(f.bytes) bytes\tsha256 \(f.sha256)") }
            print("manifest: \(reply.manifestPath)")
        } catch { throw commandFailure(error) }
    }
}

/// `recordings verify`: re-hashes every stored blob the ledger names and
/// lists the missing and corrupt ones (exit 1 if any).
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify",
                                                    abstract: "Re-hash every stored blob; list missing or corrupt ones.")
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let mesh = try client.connect()
        let reply: VerifyBlobsReply
        do {
            reply = try await mesh.call("recordings", RecordingsAPI.verify, VerifyBlobsRequest(), timeout: .seconds(600))
        } catch { throw commandFailure(error) }
        print("checked \(reply.blobsChecked) blobs, \(reply.bytesChecked) bytes; \(reply.problems.count) problems")
        for p in reply.problems { print("\(p.problem)\t\(p.sha256)\t\(p.recordingIds.joined(separator: ","))") }
        if !reply.problems.isEmpty { throw ExitCode(1) }
    }
}
