import Bus
import Foundation
import ServiceKit
import TestSupport
import Testing

@Suite("contracts")
struct ContractTests {
    /// The committed protoc-c code and Swift mirrors match protos/: this
    /// fails when someone edits a .proto and forgets scripts/gen-protos.
    @Test func generatedCodeIsCurrent() async throws {
        let root = repositoryRoot()
        var env = ProcessInfo.processInfo.environment
        env["PROTOGEN"] = executablesFolder + "/exam-protogen"
        let (status, text) = try await runCommand(root + "/scripts/gen-protos", ["--check"], in: root, environment: env)
        #expect(status == 0, "\(text)")
        #expect(text.contains("generated code is current"))
    }

    /// Every proto file opens with who sends what (the zproto habit).
    @Test func everyProtoOpensWithItsConversation() throws {
        let dir = repositoryRoot() + "/protos/exam/v1"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".proto") }
        #expect(!files.isEmpty)
        for f in files {
            let text = try String(contentsOfFile: dir + "/" + f, encoding: .utf8)
            #expect(text.hasPrefix("// "), "\(f) does not open with a comment")
            #expect(text.contains("Who sends what") || text.contains("who sends what"), "\(f) does not say who sends what")
        }
    }

    /// A core's refusal keeps its code on the wire, whichever way the core
    /// spells it (discipline: "NOT_FOUND"; the others: "notFound").
    @Test func coreErrorCodesMapOntoTheBusStatusCodes() {
        #expect(RPCCode(coreName: "invalidArgument") == .invalidArgument)
        #expect(RPCCode(coreName: "INVALID_ARGUMENT") == .invalidArgument)
        #expect(RPCCode(coreName: "outOfRange") == .outOfRange)
        #expect(RPCCode(coreName: "failedPrecondition") == .failedPrecondition)
        #expect(RPCCode(coreName: "PERMISSION_DENIED") == .permissionDenied)
        #expect(RPCCode(coreName: "noSuchCode") == nil)
        let e = RPCError(coreCode: "noSuchCode", message: "x")
        #expect(e.code == .internal && e.message == "x")
    }
}
