import Foundation
import TestSupport
import Testing

/// Contract and code cannot drift apart (issue 16): every status code a
/// service can answer is named in its proto's opening comment (who sends
/// what and the allowed replies), or is one the bus itself answers
/// (bus.proto); and every code a proto names is one its service can
/// answer. What a service can answer is read from its code: the cases of
/// its core's error `Code` and every `RPCError` its shell throws.
@Suite("contracts name every code their services answer (issue 16)")
struct ContractCodesTests {
    static let root = repositoryRoot()

    /// gRPC's names, as the protos spell them.
    static let names = ["CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                        "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"]

    /// "failedPrecondition" -> "FAILED_PRECONDITION".
    static func grpcName(_ camel: String) -> String {
        var out = ""
        for ch in camel {
            if ch.isUppercase { out += "_" }
            out += String(ch).uppercased()
        }
        return out
    }

    static func read(_ rel: String) -> String {
        (try? String(contentsOfFile: root + "/" + rel, encoding: .utf8)) ?? ""
    }

    /// A folder's Swift files, or one file (a path ending in .swift).
    static func swiftFiles(_ folder: String) -> [String] {
        if folder.hasSuffix(".swift") { return [read(folder)] }
        let path = root + "/" + folder
        let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return files.filter { $0.hasSuffix(".swift") }.sorted().map { read(folder + "/" + $0) }
    }

    /// The codes named in a proto's opening comment (every line before `syntax`).
    static func named(inProto rel: String) -> Set<String> {
        let header = read(rel).components(separatedBy: "\nsyntax")[0]
        return Set(names.filter { header.range(of: "\\b\($0)\\b", options: .regularExpression) != nil })
    }

    /// The codes the bus answers for any service (bus.proto's list).
    static var busLevel: Set<String> {
        let text = read("protos/exam/v1/bus.proto")
        guard let start = text.range(of: "The bus itself answers:"), let end = text.range(of: "Everything else is", range: start.upperBound..<text.endIndex) else {
            return []
        }
        let block = String(text[start.upperBound..<end.lowerBound])
        return Set(names.filter { block.range(of: "\\b\($0)\\b", options: .regularExpression) != nil })
    }

    /// The codes `sources` can answer: a core error's `enum Code` cases and
    /// every `RPCError.x(` / `RPCError(.x,` thrown.
    static func answered(_ sources: [String]) -> Set<String> {
        var out = Set<String>()
        for text in sources {
            if let r = text.range(of: #"enum Code: String[^{]*\{([^}]*)\}"#, options: .regularExpression) {
                let body = String(text[r])
                for line in body.split(separator: "\n") {
                    let t = line.trimmingCharacters(in: .whitespaces)
                    guard t.hasPrefix("case ") else { continue }
                    for c in t.dropFirst(5).split(separator: ",") {
                        let name = c.split(separator: "=")[0].trimmingCharacters(in: .whitespaces)
                        if !name.isEmpty { out.insert(grpcName(name)) }
                    }
                }
            }
            for pattern in [#"RPCError\.([a-z][A-Za-z]*)\("#, #"RPCError\(\.([a-z][A-Za-z]*),"#] {
                let regex = try! NSRegularExpression(pattern: pattern)
                for m in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    out.insert(grpcName(String(text[Range(m.range(at: 1), in: text)!])))
                }
            }
        }
        return out.intersection(names)
    }

    struct Member: CustomTestStringConvertible, Sendable {
        var name: String
        var proto: String
        var folders: [String]
        /// Files of those folders that belong to other members (shared shell code).
        var except: [String] = []
        var testDescription: String { name }
    }

    static let members = [
        Member(name: "roster", proto: "protos/exam/v1/roster.proto", folders: ["Services/RosterCore", "Services/Roster"]),
        Member(name: "timing", proto: "protos/exam/v1/timing.proto", folders: ["Services/TimingCore", "Services/Timing"]),
        Member(name: "devices", proto: "protos/exam/v1/devices.proto", folders: ["Services/DevicesCore", "Services/Devices"]),
        Member(name: "discipline", proto: "protos/exam/v1/discipline.proto", folders: ["Services/DisciplineCore", "Services/Discipline"]),
        Member(name: "scoring", proto: "protos/exam/v1/scoring.proto", folders: ["Services/ScoringCore", "Services/Scoring"]),
        // A phone proven with roster and devices: shell code recordings and media share.
        Member(name: "recordings", proto: "protos/exam/v1/recordings.proto",
               folders: ["Services/RecordingsCore", "Services/Recordings", "Shared/ServiceKit/PhoneVerifier.swift"]),
        Member(name: "media", proto: "protos/exam/v1/media.proto",
               folders: ["Services/MediaCore", "Services/Media", "Shared/ServiceKit/PhoneVerifier.swift"]),
        // The gateway's bus side: exam.v1.Gateway is served from the staff
        // desk (its HTTP errors are the OpenAPI document's business).
        Member(name: "gateway", proto: "protos/exam/v1/gateway.proto", folders: ["Services/Gateway", "Services/GatewayApp"]),
        // What every member answers through ServiceKit: exam.v1.Node.
        Member(name: "node", proto: "protos/exam/v1/node.proto", folders: ["Shared/ServiceKit"], except: ["Shared/ServiceKit/PhoneVerifier.swift"]),
    ]

    @Test(arguments: members)
    func everyCodeAServiceAnswersIsNamedAndEveryNamedCodeIsAnswered(_ m: Member) {
        let except = Set(m.except.map(Self.read))
        let answered = Self.answered(m.folders.flatMap(Self.swiftFiles).filter { !except.contains($0) })
        let named = Self.named(inProto: m.proto)
        let bus = Self.busLevel
        #expect(bus.isSuperset(of: ["UNIMPLEMENTED", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "UNAVAILABLE"]), "bus.proto's list: \(bus)")
        #expect(!answered.isEmpty, "\(m.name): no code found in \(m.folders); the scan is broken")
        let unnamed = answered.subtracting(named).subtracting(bus)
        #expect(unnamed.isEmpty, "\(m.name) can answer \(unnamed.sorted()) but \(m.proto) does not name them")
        let unanswered = named.subtracting(answered).subtracting(bus)
        #expect(unanswered.isEmpty, "\(m.proto) names \(unanswered.sorted()) but \(m.name)'s code never answers them")
    }

    /// The scan itself, on a known text (a test that cannot fail would not count).
    @Test func theScanReadsEnumsAndThrows() {
        let text = """
        public enum Code: String, Codable {
            case invalidArgument = "INVALID_ARGUMENT"
            case notFound, outOfRange
        }
        throw RPCError.permissionDenied("x")
        responder.fail(RPCError(.deadlineExceeded, "y"))
        """
        #expect(Self.answered([text]) == ["INVALID_ARGUMENT", "NOT_FOUND", "OUT_OF_RANGE", "PERMISSION_DENIED", "DEADLINE_EXCEEDED"])
        #expect(Self.grpcName("failedPrecondition") == "FAILED_PRECONDITION")
    }
}
