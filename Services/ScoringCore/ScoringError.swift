import ExamPlan
import Foundation

/// A refused operation (SPEC, "bad input"): a precise code and a message that
/// says what was wrong and where. Every operation of `ScoringState` validates
/// first and throws before it changes anything, so a thrown call leaves the
/// state exactly as it was. The codes map one to one onto the gRPC status
/// codes the shell answers with.
public struct ScoringError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Codable, Sendable, Equatable {
        /// Malformed input: a score that is not 0-100 with two decimals, a
        /// bad CSV sheet, a missing reason, an invalid configuration.
        case invalidArgument
        /// An unknown candidate, room, post, or discipline decision.
        case notFound
        /// Already done in a way that cannot be repeated: a second seal, a
        /// second first publication, a decision id reused for another decision.
        case alreadyExists
        /// The request is well formed but the exam is not in a state that
        /// allows it: the candidate was absent, scores are sealed or published,
        /// scores are missing before publication.
        case failedPrecondition
        /// The actor may not do this: an examiner not on the room's panel,
        /// a non-chief sealing, a non-ops publishing.
        case permissionDenied
    }

    public let code: Code

    public let message: String
    /// One line per item when the error lists several (every bad row of a
    /// score sheet, every candidate still missing a score).
    public let details: [String]

    public init(_ code: Code, _ message: String, details: [String] = []) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String {
        details.isEmpty ? "\(code.rawValue): \(message)"
            : "\(code.rawValue): \(message)\n" + details.map { "  - \($0)" }.joined(separator: "\n")
    }

    static func invalid(_ m: String, _ d: [String] = []) -> ScoringError { ScoringError(.invalidArgument, m, details: d) }
    static func notFound(_ m: String) -> ScoringError { ScoringError(.notFound, m) }
    static func exists(_ m: String) -> ScoringError { ScoringError(.alreadyExists, m) }
    static func precondition(_ m: String, _ d: [String] = []) -> ScoringError { ScoringError(.failedPrecondition, m, details: d) }
    static func denied(_ m: String) -> ScoringError { ScoringError(.permissionDenied, m) }
}

/// Who asks for a command. The shell fills it from the call's authenticated
/// principal (bus.proto `Principal`). Whether an examiner is the chief of a
/// room is read from the exam plan, not trusted from the role.
public struct ScoringActor: Codable, Sendable, Equatable, Hashable {
    public enum Role: String, Codable, Sendable, Hashable {
        case examiner, chiefExaminer, ops, service
    }

    public var id: String
    public var role: Role

    public init(id: String, role: Role) {
        self.id = id
        self.role = role
    }

    public static func ops(_ id: String) -> ScoringActor { ScoringActor(id: id, role: .ops) }
    public static func examiner(_ id: String) -> ScoringActor { ScoringActor(id: id, role: .examiner) }
    public static func chiefExaminer(_ id: String) -> ScoringActor { ScoringActor(id: id, role: .chiefExaminer) }

    var isExaminer: Bool { role == .examiner || role == .chiefExaminer }
}

/// Input checks shared by every operation.
enum Check {
    /// Exam numbers, examiner ids, post codes, room ids, decision ids: 1-32
    /// ASCII letters, digits, '-' or '_' (the plan's rule for ids).
    static func isIdentifier(_ s: String, max: Int = 32) -> Bool {
        !s.isEmpty && s.utf8.count <= max && s.unicodeScalars.allSatisfy {
            ($0.isASCII && CharacterSet.alphanumerics.contains($0)) || $0 == "-" || $0 == "_"
        }
    }

    /// Names and reasons: not blank, at most `max` characters, no control
    /// characters (they would break CSV rows and log lines).
    static func isText(_ s: String, max: Int) -> Bool {
        !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty && s.count <= max
            && !s.unicodeScalars.contains { CharacterSet.controlCharacters.contains($0) }
    }

    static func identifier(_ s: String, _ what: String, max: Int = 32) throws {
        guard isIdentifier(s, max: max) else {
            throw ScoringError.invalid("\(what): '\(s.prefix(80))' is not 1-\(max) letters, digits, '-' or '_'")
        }
    }

    /// The 100-point scale of the notice, section 4(4): 0 to 100, two decimals.
    static let scale = Points.zero...Points(hundredths: 100_00)

    static func points(_ text: String, _ what: String) throws -> Points {
        let rule = "a score is 0 to 100 with at most two decimals (R50, notice 4(4))"
        // Written as the OpenAPI document's Score pattern says (issue 22: " 80"
        // was taken as 80.00): no spaces around it (Points would trim them),
        // no sign, no leading zeros beyond two digits ("080").
        func refuse(_ why: String) -> ScoringError {
            ScoringError.invalid("\(what): '\(text)' \(why)：分数写作 0 至 100 的数字，至多两位小数，不带空格、正负号或多余的前导零，如 80、85.5、100（R50，公告 4(4)）")
        }
        if let first = text.unicodeScalars.first, let last = text.unicodeScalars.last,
           CharacterSet.whitespacesAndNewlines.contains(first) || CharacterSet.whitespacesAndNewlines.contains(last) {
            throw refuse("前后有空格或换行")
        }
        let p: Points
        do {
            p = try Points(text, in: scale)
        } catch let problem as Points.Problem {
            throw ScoringError.invalid("\(what): \(problem); \(rule)")
        }
        if text.hasPrefix("+") || text.hasPrefix("-") { throw refuse("带有正负号") }
        let whole = text.prefix { $0 != "." }
        if whole.count > 2 && whole != "100" { throw refuse("整数部分有多余的前导零") }
        return p
    }
}
