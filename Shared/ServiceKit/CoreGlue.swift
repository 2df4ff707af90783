import Bus
import ExamContracts
import Foundation

extension RPCCode {
    /// The code whose gRPC name is `name` ("INVALID_ARGUMENT"), or nil.
    public init?(grpcName name: String) {
        guard let c = RPCCode.allCases.first(where: { $0.name == name }) else { return nil }
        self = c
    }
}

extension RPCError {
    /// A core's refusal as the bus's error: its code by gRPC name, its message.
    public init(grpcName: String, message: String) {
        self.init(RPCCode(grpcName: grpcName) ?? .internal, message)
    }
}

extension ActorRole {
    /// The role as the cores spell it ("chief_examiner").
    public var coreName: String {
        switch self {
        case .unspecified: "unspecified"
        case .candidate: "candidate"
        case .proctor: "proctor"
        case .examiner: "examiner"
        case .chiefExaminer: "chief_examiner"
        case .ops: "ops"
        case .service: "service"
        }
    }
}

extension CallInfo {
    /// Refuses the call unless its principal has one of `roles`.
    public func require(_ roles: Set<ActorRole>, to what: String) throws {
        guard roles.contains(principal.role) else {
            let who = principal.id.isEmpty ? "an anonymous caller" : "\(principal.id) (\(principal.role.coreName))"
            throw RPCError.permissionDenied("\(what) is for \(roles.map(\.coreName).sorted().joined(separator: " or ")); \(who) may not")
        }
    }
}

extension Date {
    public var unixMs: Int64 { unixMillis(self) }
}

/// 0 on the wire means "not set" for times.
public func optionalDate(_ ms: Int64) -> Date? { ms == 0 ? nil : Date(unixMs: ms) }
