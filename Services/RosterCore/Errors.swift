import Foundation

/// A refused request: what is wrong and where, with a gRPC-style code the
/// shell maps onto the bus status. `details` lists every problem when there
/// are several (an import lists every bad row, R1).
public struct RosterError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Codable, Sendable, CaseIterable {
        case invalidArgument, notFound, alreadyExists, failedPrecondition
        case permissionDenied, unauthenticated, resourceExhausted

        /// The gRPC status number (bus.proto uses gRPC's codes).
        public var grpcStatus: Int32 {
            switch self {
            case .invalidArgument: return 3
            case .notFound: return 5
            case .alreadyExists: return 6
            case .permissionDenied: return 7
            case .resourceExhausted: return 8
            case .failedPrecondition: return 9
            case .unauthenticated: return 16
            }
        }
    }

    public var code: Code
    public var message: String
    public var details: [String]

    public init(_ code: Code, _ message: String, details: [String] = []) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String { "\(code.rawValue): \(message)" }

    static func invalid(_ m: String, details: [String] = []) -> RosterError { RosterError(.invalidArgument, m, details: details) }
    static func precondition(_ m: String) -> RosterError { RosterError(.failedPrecondition, m) }
    static func notFound(_ m: String) -> RosterError { RosterError(.notFound, m) }
}
