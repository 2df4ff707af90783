import Bus
import ExamContracts
import Foundation

extension RPCCode {
    /// The code a core names `name`: gRPC's spelling ("INVALID_ARGUMENT") or
    /// the cores' case names ("invalidArgument"); nil for anything else.
    public init?(coreName name: String) {
        func plain(_ s: String) -> String { s.replacingOccurrences(of: "_", with: "").lowercased() }
        let wanted = plain(name)
        guard let c = RPCCode.allCases.first(where: { plain($0.name) == wanted }) else { return nil }
        self = c
    }
}

extension RPCError {
    /// A core's refusal as the bus's error: its code (see
    /// `RPCCode(coreName:)`; INTERNAL when unknown), its message.
    public init(coreCode: String, message: String) {
        self.init(RPCCode(coreName: coreCode) ?? .internal, message)
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
