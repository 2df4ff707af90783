import Foundation

/// A Swift mirror of a protobuf message of protos/. The mirrors are generated
/// (Shared/ExamContracts/ExamV1.generated.swift); the bytes on the wire are
/// always packed and unpacked by protobuf-c through `ProtoCodec`.
public protocol ProtoMessage: Codable, Sendable, Equatable {
    /// Full protobuf name, "exam.v1.CandidateConfirmed".
    static var protoName: String { get }
    /// protoc-c's descriptor of the message.
    static var protoDescriptor: MessageDescriptor { get }
    /// Writes the fields into protoc-c's struct (generated; by field index).
    func protoWrite(to writer: inout ProtoWriter) throws
    /// Reads the fields out of protoc-c's struct (generated; by field index).
    init(protoReader reader: ProtoReader) throws
}

/// Hand-written mirrors (the bus's own) go through Codable, matched by name.
extension ProtoMessage {
    public static var protoDescriptor: MessageDescriptor {
        guard let d = ProtoRegistry.messages[protoName] else {
            preconditionFailure("\(protoName) is not a message of protos/")
        }
        return d
    }

    public func protoWrite(to writer: inout ProtoWriter) throws {
        let e = MessageEncoder(msg: writer.msg, desc: writer.desc, arena: writer.arena, codingPath: [])
        try encode(to: e)
        if let failure = e.failure { throw failure }
    }

    public init(protoReader reader: ProtoReader) throws {
        do {
            self = try Self(from: MessageDecoder(msg: reader.msg, desc: reader.desc, codingPath: []))
        } catch let e as DecodingError {
            throw ProtoCodecError(ProtoCodec.describe(e))
        }
    }
}

/// A Swift mirror of a protobuf enum (raw value = the enum's number).
public protocol ProtoEnum: RawRepresentable, Codable, Sendable, Hashable, CaseIterable where RawValue == Int32 {
    static var protoName: String { get }
}

/// A method of a `service` block of protos/, by its full name
/// ("exam.v1.Roster/Confirm"). Generated; never spelled by hand.
public struct RPCMethod<Request: ProtoMessage, Response: ProtoMessage>: Sendable, CustomStringConvertible {
    public let name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }
}

/// gRPC's status codes (exam.v1.StatusCode in bus.proto; BusTests checks
/// that both agree).
public enum RPCCode: Int32, ProtoEnum {
    case ok = 0
    case cancelled = 1
    case unknown = 2
    case invalidArgument = 3
    case deadlineExceeded = 4
    case notFound = 5
    case alreadyExists = 6
    case permissionDenied = 7
    case resourceExhausted = 8
    case failedPrecondition = 9
    case aborted = 10
    case outOfRange = 11
    case unimplemented = 12
    case `internal` = 13
    case unavailable = 14
    case dataLoss = 15
    case unauthenticated = 16
    public static let protoName = "exam.v1.StatusCode"

    /// gRPC's spelling, for logs and command lines: "INVALID_ARGUMENT".
    public var name: String {
        switch self {
        case .ok: "OK"
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internal: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        }
    }
}

/// Who a call acts for (exam.v1.Role in bus.proto).
public enum ActorRole: Int32, ProtoEnum {
    case unspecified = 0
    case candidate = 1
    case proctor = 2
    case examiner = 3
    case chiefExaminer = 4
    case ops = 5
    case service = 6
    public static let protoName = "exam.v1.Role"
}

/// The identity a call carries in its header.
public struct CallPrincipal: Sendable, Equatable, CustomStringConvertible {
    public var id: String
    public var role: ActorRole
    public init(id: String, role: ActorRole) {
        self.id = id
        self.role = role
    }
    public static let anonymous = CallPrincipal(id: "", role: .unspecified)
    public var description: String { id.isEmpty ? "anonymous" : "\(id) (\(role))" }
}

/// The error every call can end with: a status code and a message that says
/// what was wrong and where. Handlers throw it; callers catch it.
public struct RPCError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: RPCCode
    public var message: String
    /// RESOURCE_EXHAUSTED: when to try again, in milliseconds (0: not said).
    /// It travels in ReplyHeader.retry_after_ms; the gateway turns it into
    /// Retry-After (issue 22: "wait" before a deadline says "failed").
    public var retryAfterMs: UInt32
    public init(_ code: RPCCode, _ message: String, retryAfterMs: UInt32 = 0) {
        self.code = code
        self.message = message
        self.retryAfterMs = retryAfterMs
    }
    public var description: String { "\(code.name): \(message)" }

    public static func invalidArgument(_ m: String) -> RPCError { RPCError(.invalidArgument, m) }
    public static func notFound(_ m: String) -> RPCError { RPCError(.notFound, m) }
    public static func failedPrecondition(_ m: String) -> RPCError { RPCError(.failedPrecondition, m) }
    public static func alreadyExists(_ m: String) -> RPCError { RPCError(.alreadyExists, m) }
    public static func permissionDenied(_ m: String) -> RPCError { RPCError(.permissionDenied, m) }
    public static func unauthenticated(_ m: String) -> RPCError { RPCError(.unauthenticated, m) }
    public static func outOfRange(_ m: String) -> RPCError { RPCError(.outOfRange, m) }
    public static func resourceExhausted(_ m: String, retryAfterMs: UInt32 = 0) -> RPCError {
        RPCError(.resourceExhausted, m, retryAfterMs: retryAfterMs)
    }
    public static func unavailable(_ m: String) -> RPCError { RPCError(.unavailable, m) }
    public static func `internal`(_ m: String) -> RPCError { RPCError(.internal, m) }
}
