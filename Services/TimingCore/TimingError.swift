import Foundation

/// A refused operation: what was refused, where, and why. The shell maps
/// `code` one to one onto the gRPC status of the reply; the message goes to
/// the caller as is. A throwing operation has changed nothing.
public struct TimingError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Codable, Sendable, Equatable {
        /// The request itself is malformed (empty ids, a bad checklist, ...).
        case invalidArgument
        /// An exam number or room that the plan does not know.
        case notFound
        /// The thing to create exists already (a second main-room device, an
        /// interview started twice, answering announced twice).
        case alreadyExists
        /// The state does not allow it now (not confirmed, not screened,
        /// another interview running, reading still on, ...).
        case failedPrecondition
        /// The caller is not staff of the room, or not the candidate's main phone.
        case permissionDenied
        /// Outside the time the rule allows (before or after an entry window,
        /// after a countdown's end, before the reading time is over).
        case outOfRange
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    static func invalid(_ m: String) -> TimingError { TimingError(.invalidArgument, m) }
    static func notFound(_ m: String) -> TimingError { TimingError(.notFound, m) }
    static func exists(_ m: String) -> TimingError { TimingError(.alreadyExists, m) }
    static func precondition(_ m: String) -> TimingError { TimingError(.failedPrecondition, m) }
    static func denied(_ m: String) -> TimingError { TimingError(.permissionDenied, m) }
    static func range(_ m: String) -> TimingError { TimingError(.outOfRange, m) }
}
