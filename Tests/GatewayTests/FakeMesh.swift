import Bus
import ExamContracts
import Foundation
import GatewayApp
import Synchronization

/// A stand-in for the mesh: answers by method name, records every call
/// with who it acted for, so a test can say "nothing reached the mesh".
final class FakeMesh: MeshCalls {
    struct Call: Sendable {
        var method: String
        var actor: CallPrincipal
        var request: any ProtoMessage
    }
    typealias Handler = @Sendable (any ProtoMessage, CallPrincipal) throws -> any ProtoMessage
    private let handlers = Mutex<[String: Handler]>([:])
    private let log = Mutex<[Call]>([])

    func on<Req, Resp>(_ method: RPCMethod<Req, Resp>, _ body: @escaping @Sendable (Req, CallPrincipal) throws -> Resp) {
        handlers.withLock { $0[method.name] = { req, who in try body(req as! Req, who) } }
    }

    var calls: [Call] { log.withLock { $0 } }
    func calls(_ method: String) -> [Call] { calls.filter { $0.method.hasSuffix(method) } }

    func call<Req, Resp>(_ service: String, _ method: RPCMethod<Req, Resp>, _ request: Req, as who: CallPrincipal) async throws -> Resp {
        log.withLock { $0.append(Call(method: method.name, actor: who, request: request)) }
        guard let h = handlers.withLock({ $0[method.name] }) else {
            throw RPCError(.unimplemented, "\(method.name) is not faked")
        }
        return try h(request, who) as! Resp
    }

    /// A candidate with a token, two phones, a plan, a room.
    static func day(now: Date = Date()) -> FakeMesh {
        let m = FakeMesh()
        let tokens = ["tok-A": "2022110001", "tok-B": "2022110002"]
        @Sendable func exam(_ token: String) throws -> String {
            guard let e = tokens[token] else { throw RPCError(.unauthenticated, "token is not valid (expired or unknown)") }
            return e
        }
        m.on(RosterAPI.login) { req, _ in
            guard req.phone == "13800000001", req.password == "123456" else { throw RPCError(.unauthenticated, "wrong phone number or password") }
            return LoginReply(token: "tok-A", expiresAtMs: unixMillis(now) + 3_600_000, examNumber: "2022110001", defaultPassword: true)
        }
        m.on(RosterAPI.authenticate) { req, _ in SessionView(examNumber: try exam(req.token), status: .confirmed, expiresAtMs: unixMillis(now) + 3_600_000) }
        m.on(RosterAPI.me) { req, _ in CandidateView(examNumber: try exam(req.token), name: "张三", status: .imported) }
        m.on(RosterAPI.decline) { req, _ in CandidateView(examNumber: try exam(req.token), name: "张三", status: .declined) }
        m.on(RosterAPI.uploadIdPhoto) { req, _ in CandidateView(examNumber: try exam(req.token), name: "张三", status: .imported) }
        m.on(TimingAPI.getPlan) { _, _ in throw RPCError(.unavailable, "no plan in this test") }
        m.on(DevicesAPI.getCandidateDevices) { req, _ in
            let devices = req.examNumber == "2022110001"
                ? [DeviceView(deviceId: "A-main", role: .main), DeviceView(deviceId: "A-sec", role: .secondary)]
                : [DeviceView(deviceId: "B-main", role: .main)]
            return CandidateDevicesView(examNumber: req.examNumber, devices: devices, fit: true)
        }
        m.on(DevicesAPI.registerDevice) { req, _ in
            if req.role == .main && req.deviceId != "A-main" {
                throw RPCError(.alreadyExists, "candidate 2022110001 already has two devices; a third device (\(req.deviceId)) is refused (R30)")
            }
            return RegisterReply(deviceKey: "key-\(req.deviceId)", devices: CandidateDevicesView(examNumber: "2022110001", fit: true))
        }
        m.on(TimingAPI.getCandidateState) { req, _ in
            CandidateTimingView(examNumber: req.examNumber, roomId: "R01", sitting: req.sitting, status: "waiting", inMainRoom: true)
        }
        m.on(TimingAPI.getRoom) { req, _ in RoomInfo(roomId: req.roomId, name: "第1考场", sitting: req.sitting) }
        m.on(TimingAPI.enter) { _, _ in throw RPCError(.failedPrecondition, "formal entry is open 11:00-11:10 Beijing; it is 10:59 (R11)") }
        m.on(TimingAPI.revealQuestion) { req, _ in InterviewInfo(examNumber: "2022110001", sitting: req.sitting, questionRevealed: true) }
        m.on(TimingAPI.endInterview) { req, _ in InterviewInfo(examNumber: "2022110001", sitting: req.sitting, phase: .ended) }
        return m
    }
}
