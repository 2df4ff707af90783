import Bus
import ExamContracts
import ExamPlan
import Foundation
import MediaCore
import ServiceKit

/// The core's values as protos/exam/v1/media.proto has them.
enum MediaWire {
    static func role(_ s: PhoneSide) -> DeviceRole { s == .main ? .main : .secondary }

    static func holderRole(_ h: Holder) -> ActorRole {
        switch h {
        case .candidate: .candidate
        case .proctor: .proctor
        case .examiner: .examiner
        case .chief: .chiefExaminer
        }
    }

    static func send(_ s: Send) -> MediaSend {
        switch s {
        case .none: .none
        case .camera: .camera
        case .voice: .voice
        }
    }

    static func receive(_ r: Receive) -> MediaReceive {
        switch r {
        case .none: .none
        case .phone: .phone
        case .staffVoice: .staffVoice
        }
    }

    static func grant(_ g: Grant, janusURL: String, epoch: UInt32, iceServers: [MeshConfig.IceServerEntry]) -> MediaGrant {
        MediaGrant(grantId: g.id, holder: g.holder, holderRole: holderRole(g.role), examNumber: g.examNumber, roomId: g.roomID,
                   sitting: g.sitting.wire, phone: g.side.map(role) ?? .unspecified, janusUrl: janusURL, issuedAtMs: g.issuedAt.unixMs,
                   joinByMs: g.joinBy.unixMs, serverTimeMs: Date().unixMs,
                   rooms: g.accesses.map { a in
                       MediaRoomAccess(room: a.janusRoom, token: a.token, feedId: a.feedID, display: a.display, phone: role(a.side),
                                       send: send(a.send), receive: receive(a.receive))
                   },
                   iceServers: iceServers.map { IceServer(urls: $0.urls, username: $0.username ?? "", credential: $0.credential ?? "") },
                   basis: g.basis, serverEpoch: epoch)
    }

    static func event(_ g: Grant) -> GrantEvent {
        GrantEvent(grantId: g.id, holder: g.holder, holderRole: holderRole(g.role), examNumber: g.examNumber, roomId: g.roomID,
                   sitting: g.sitting.wire, phone: g.side.map(role) ?? .unspecified, reason: g.endReason ?? "",
                   atMs: (g.endedAt ?? g.issuedAt).unixMs)
    }

    /// Runs a core decision, turning its refusal into the bus's error.
    static func core<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as MediaError {
            throw RPCError(coreCode: e.code.rawValue, message: e.message)
        }
    }
}

enum Checks {
    static func examNumber(_ s: String) throws {
        guard !s.isEmpty, s.count <= 32, s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw RPCError.invalidArgument("exam_number：'\(s.prefix(40))' 不是准考证号（字母和数字，最多 32 位）")
        }
    }
}
