// What the edge answers when something is wrong (R60): an HTTP status from
// the gRPC code, grpc-gateway's mapping, and a JSON body {code, message}
// whose message says what and where.
import Foundation

/// An error as the edge reports it: the gRPC code's name and a message.
public struct EdgeError: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public var code: String
    public var message: String
    /// Seconds a client should wait before trying again (RESOURCE_EXHAUSTED from a limit).
    public var retryAfterSeconds: Int?

    public init(_ code: String, _ message: String, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(code): \(message)" }

    /// grpc-gateway's mapping of gRPC codes to HTTP statuses
    /// (runtime/errors.go HTTPStatusFromCode).
    public var httpStatus: Int { Self.httpStatus(code) }

    public static func httpStatus(_ code: String) -> Int {
        switch code {
        case "OK": return 200
        case "CANCELLED": return 499
        case "UNKNOWN": return 500
        case "INVALID_ARGUMENT": return 400
        case "DEADLINE_EXCEEDED": return 504
        case "NOT_FOUND": return 404
        case "ALREADY_EXISTS": return 409
        case "PERMISSION_DENIED": return 403
        case "UNAUTHENTICATED": return 401
        case "RESOURCE_EXHAUSTED": return 429
        case "FAILED_PRECONDITION": return 400
        case "ABORTED": return 409
        case "OUT_OF_RANGE": return 400
        case "UNIMPLEMENTED": return 501
        case "INTERNAL": return 500
        case "UNAVAILABLE": return 503
        case "DATA_LOSS": return 500
        default: return 500
        }
    }

    public static func invalid(_ m: String) -> EdgeError { EdgeError("INVALID_ARGUMENT", m) }
    public static func unauthenticated(_ m: String) -> EdgeError { EdgeError("UNAUTHENTICATED", m) }
    public static func denied(_ m: String) -> EdgeError { EdgeError("PERMISSION_DENIED", m) }
    public static func notFound(_ m: String) -> EdgeError { EdgeError("NOT_FOUND", m) }
    public static func unavailable(_ m: String) -> EdgeError { EdgeError("UNAVAILABLE", m) }
    public static func tooMany(_ m: String, retryAfter: Int) -> EdgeError {
        EdgeError("RESOURCE_EXHAUSTED", m, retryAfterSeconds: retryAfter)
    }
}
