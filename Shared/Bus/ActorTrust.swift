/// Who may say they act for whom (issue 16). A call's header names an actor
/// (`CallHeader.actor`); on a CurveZMQ mesh the server also knows which mesh
/// member sent it (the ZAP handler names the member behind the key). A
/// member may assert only the roles its policy lists: services assert
/// ROLE_SERVICE under their own name; the gateway and the staff tools assert
/// staff roles and candidates (after checking a session or a password);
/// nobody else asserts anything. A call without an actor claims nothing and
/// passes; the method's own role check then treats it as anonymous.
///
/// Pure: no sockets, no clock. `RpcServer` asks it before a handler runs and
/// answers PERMISSION_DENIED with its reason.
public struct ActorTrust: Sendable, Equatable {
    /// Member name -> the roles it may assert.
    public var roles: [String: Set<ActorRole>]

    public init(roles: [String: Set<ActorRole>]) {
        self.roles = roles
    }

    /// Why `member` may not send a call acting as `actor`; nil when it may.
    /// `member` is nil when the connection named no member (a plain socket).
    public func refusal(member: String?, actor: CallPrincipal) -> String? {
        if actor.role == .unspecified { return nil }
        guard let member else {
            return "the call names \(actor.role.coreName) \(actor.id.isEmpty ? "" : "'\(actor.id)' ")but came from no verified mesh member"
        }
        let allowed = roles[member] ?? []
        guard allowed.contains(actor.role) else {
            let may = allowed.isEmpty ? "nothing" : allowed.map(\.coreName).sorted().joined(separator: ", ")
            return "mesh member '\(member)' may not act as \(actor.role.coreName)\(actor.id.isEmpty ? "" : " '\(actor.id)'") (it may assert: \(may))"
        }
        if actor.role == .service && actor.id != member {
            return "mesh member '\(member)' acts as a service only under its own name, not as '\(actor.id)'"
        }
        return nil
    }

    /// The staff roles (proctor, examiner, chief examiner, ops).
    public static let staff: Set<ActorRole> = [.proctor, .examiner, .chiefExaminer, .ops]

    /// A role from its policy name ("chief_examiner"); "staff" is the four staff roles.
    public static func roles(named name: String) -> Set<ActorRole>? {
        if name == "staff" { return staff }
        return ActorRole.allCases.first { $0.coreName == name && $0 != .unspecified }.map { [$0] }
    }
}
