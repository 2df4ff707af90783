// The live rooms' edge (issue 21, R64, R65): a phone or a staff member asks
// media for a grant (who acts is the verified session's, never the body's),
// and hands it to the page, which joins Janus with it. No picture or sound
// passes through the gateway: only the grant.
import Bus
import ExamContracts
import Foundation
import GatewayCore

/// A grant as the pages read it (protos/http/openapi.json: MediaGrant).
public struct MediaGrantView: Codable, Sendable {
    public struct Room: Codable, Sendable {
        public var room: UInt64
        public var token: String
        public var feedId: UInt64
        public var display: String
        public var phone: String
        public var send: String
        public var receive: String
    }
    public struct Ice: Codable, Sendable {
        public var urls: [String]
        public var username: String
        public var credential: String
    }
    public var grantId: String
    public var holder: String
    public var holderRole: String
    public var examNumber: String
    public var roomId: String
    public var sitting: String
    public var phone: String
    public var janusUrl: String
    public var issuedAtMs: Int64
    public var joinByMs: Int64
    public var serverTimeMs: Int64
    public var serverEpoch: UInt32
    public var basis: String
    public var iceServers: [Ice]
    public var rooms: [Room]

    init(_ g: MediaGrant) {
        func side(_ r: DeviceRole) -> String { r == .main ? "main" : r == .secondary ? "secondary" : "" }
        grantId = g.grantId
        holder = g.holder
        holderRole = switch g.holderRole {
        case .candidate: "candidate"
        case .proctor: "proctor"
        case .examiner: "examiner"
        case .chiefExaminer: "chief_examiner"
        default: "other"
        }
        examNumber = g.examNumber
        roomId = g.roomId
        sitting = Edge.sittingName(g.sitting) ?? "formal"
        phone = side(g.phone)
        janusUrl = g.janusUrl
        issuedAtMs = g.issuedAtMs
        joinByMs = g.joinByMs
        serverTimeMs = g.serverTimeMs
        serverEpoch = g.serverEpoch
        basis = g.basis
        iceServers = g.iceServers.map { Ice(urls: $0.urls, username: $0.username, credential: $0.credential) }
        rooms = g.rooms.map { r in
            let send = switch r.send { case .camera: "camera"; case .voice: "voice"; case .none: "none" }
            let receive = switch r.receive { case .phone: "phone"; case .staffVoice: "staff_voice"; case .none: "none" }
            return Room(room: r.room, token: r.token, feedId: r.feedId, display: r.display, phone: side(r.phone), send: send, receive: receive)
        }
    }
}

public struct MediaGrantBody: Codable, Sendable {
    public var sitting: String?
    public var examNumber: String?

    func sittingKind() throws(EdgeError) -> SittingKind {
        guard let s = sitting, !s.isEmpty else { return .unspecified }
        return Edge.kind(try StaffChecks.sitting(s))
    }
}

public struct EndedReply: Codable, Sendable {
    public var ended: Int
}

enum MediaChecks {
    static func grantID(_ id: String) throws(EdgeError) {
        guard id.hasPrefix("g-"), id.count <= 40, id.dropFirst(2).allSatisfy({ $0.isHexDigit }) else {
            throw .invalid("path grantId: '\(id.prefix(40))' is not a grant id (g- and hex digits)")
        }
    }
}

extension Edge {
    /// A phone's grant: its own room, from entry until its interview ends (R64).
    public func mediaGrant(_ s: CandidateSession, _ proof: PhoneProof, _ body: MediaGrantBody) async throws(EdgeError) -> MediaGrantView {
        try requireMedia()
        let g = try await mesh("media", MediaAPI.grantPhone,
                               PhoneGrantRequest(phone: credentials(s, proof), sitting: try body.sittingKind()), as: s.principal)
        logger.info("media grant issued", metadata: ["exam_number": "\(s.examNumber)", "grant": "\(g.grantId)", "device": "\(proof.deviceId)",
                                                     "phone": "\(g.phone == .main ? "main" : "secondary")"])
        return MediaGrantView(g)
    }

    func requireMedia() throws(EdgeError) {
        guard settings.media else {
            throw EdgeError("UNAVAILABLE", "直播（media 服务）未在本网格中部署：mesh 文件没有 media 服务")
        }
    }

    public func endMediaGrant(_ s: CandidateSession, grant id: String) async throws(EdgeError) -> EndedReply {
        try requireMedia()
        try MediaChecks.grantID(id)
        let r = try await mesh("media", MediaAPI.endGrant, EndGrantRequest(grantId: id), as: s.principal)
        return EndedReply(ended: Int(r.ended))
    }

    /// Tells media a person signed out: their grants end (R65). Best effort:
    /// the sign-out itself never fails on it (media may not run).
    func endMediaGrants(person: String, role: ActorRole) async {
        guard settings.media else { return }
        do {
            _ = try await mesh("media", MediaAPI.endPerson, EndPersonRequest(person: person, role: role),
                               as: CallPrincipal(id: "gateway", role: .service))
        } catch {
            logger.warning("media not told of a sign-out", metadata: ["person": "\(person)", "error": "\(error.message)"])
        }
    }
}

extension StaffDesk {
    /// A staff member's grant for one candidate's two rooms (R65): the
    /// room's proctors from entry, its panel during the interview.
    public func mediaGrant(_ p: StaffPrincipal, _ body: MediaGrantBody) async throws(EdgeError) -> MediaGrantView {
        try edge.requireMedia()
        var exam = body.examNumber ?? ""
        var sitting = try body.sittingKind()
        if exam.isEmpty {
            // The panel asks for "whoever is being interviewed in my room" (R65).
            (exam, sitting) = try await interviewed(for: p, sitting: sitting)
        }
        try StaffChecks.examNumber(exam)
        _ = try await roomOf(exam, for: p, [.proctor, .examiner, .chief], doing: "watch the live pictures of")
        let g = try await call("media", MediaAPI.grantStaff, StaffGrantRequest(examNumber: exam, sitting: sitting), as: p)
        logger.info("media grant issued", metadata: ["account": "\(p.account.id)", "exam_number": "\(exam)", "grant": "\(g.grantId)"])
        return MediaGrantView(g)
    }

    /// The candidate being interviewed now in one of the panel member's rooms.
    func interviewed(for p: StaffPrincipal, sitting wanted: SittingKind) async throws(EdgeError) -> (String, SittingKind) {
        guard p.account.role == .examiner || p.account.role == .chief else {
            throw .invalid("examNumber: required (whose live pictures); only the panel may ask for whoever is being interviewed")
        }
        let plan = try await edge.currentPlan()
        let sitting: SittingKind = wanted != .unspecified ? wanted : (Date() >= plan.formalEntry.opens ? .formal : .mock)
        for room in p.account.rooms.sorted() {
            let r = try await call("timing", TimingAPI.getRoom, RoomRequest(roomId: room, sitting: sitting), as: p)
            if let c = r.current, !c.examNumber.isEmpty, c.phase != .ended, c.phase != .unspecified { return (c.examNumber, sitting) }
        }
        throw EdgeError("FAILED_PRECONDITION", "考场 \(p.account.rooms.joined(separator: "、")) 现在没有正在面试的考生（\(sitting == .mock ? "模拟测试" : "正式面试")）：考官只在面试开始至结束期间观看（R65）")
    }

    public func endMediaGrant(_ p: StaffPrincipal, grant id: String) async throws(EdgeError) -> EndedReply {
        try edge.requireMedia()
        try MediaChecks.grantID(id)
        let r = try await call("media", MediaAPI.endGrant, EndGrantRequest(grantId: id), as: p)
        return EndedReply(ended: Int(r.ended))
    }
}
