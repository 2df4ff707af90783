import Bus
import ExamContracts
import ExamPlan
import ServiceKit
import Foundation
import GatewayApp
import GatewayCore
import Hummingbird
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import Logging
import Synchronization
import Testing

/// The phone's WebSocket in live mode (a real socket on loopback): hello,
/// heartbeats into devices in batches, events pushed, resume after a drop.
@Suite struct PushTests {
    static let status = #"{"cameraOn":true,"camera":"front","microphoneOn":true,"speakerVolume":50,"batteryPercent":90,"network":"wifi","inForeground":true,"autoLockOff":true,"clientVersion":"web-1","os":"android","osVersion":"14"}"#

    func edge(_ mesh: FakeMesh) -> Edge {
        var s = GatewaySettings()
        s.helloTimeout = .seconds(2)
        var logger = Logger(label: "gateway-test")
        logger.logLevel = .warning
        let e = Edge(mesh: mesh, settings: s, logger: logger)
        e.beats.start()
        return e
    }

    func interviewEvent(seq: UInt64, _ topic: String, phase: InterviewPhaseKind) throws -> DeliveredEvent {
        let m = InterviewEvent(examNumber: "2022110001", roomId: "R01", sitting: .formal, phase: phase, atMs: 1_000 + Int64(seq))
        return DeliveredEvent(header: EventHeaderFields(topic: topic, publisher: "timing", stream: "s1", seq: seq, serverTimeMs: 1_000,
                                                        payloadType: InterviewEvent.protoName), payload: try ProtoCodec.encode(m))
    }

    /// The phone's side: text frames as JSON objects, read until a
    /// condition holds (an inbound stream is iterated once).
    struct Frames {
        var it: WebSocketInboundMessageStream.AsyncIterator
        init(_ inbound: WebSocketInboundStream) { it = inbound.messages(maxSize: 1 << 16).makeAsyncIterator() }

        mutating func read(until: ([[String: Any]]) -> Bool) async throws -> [[String: Any]] {
            var got: [[String: Any]] = []
            while let m = try await it.next() {
                guard case .text(let s) = m, let o = try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any] else { continue }
                got.append(o)
                if until(got) { break }
            }
            return got
        }

        mutating func drain() async throws { while try await it.next() != nil {} }
    }

    @Test(.timeLimit(.minutes(1))) func helloThenHeartbeatsThenEvents() async throws {
        let mesh = FakeMesh.day()
        let beats = Mutex(0)
        mesh.on(DevicesAPI.heartbeatBatch) { req, who in
            #expect(who.role == .service)
            beats.withLock { $0 += req.heartbeats.count }
            let refused = req.heartbeats.filter { $0.deviceKey != "key-A-main" }
                .map { HeartbeatOutcome(deviceId: $0.deviceId, code: .unauthenticated, message: "device key does not match") }
            return HeartbeatBatchReply(accepted: UInt32(req.heartbeats.count - refused.count), refused: refused, serverTimeMs: 42)
        }
        let e = edge(mesh)
        let app = buildApplication(edge: e, files: files, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            try await client.ws("/api/v1/ws") { inbound, outbound, _ in
                var frames = Frames(inbound)
                try await outbound.write(.text(#"{"type":"hello","token":"tok-A","sitting":"formal","deviceId":"A-main","deviceKey":"key-A-main","role":"main","since":0}"#))
                let first = try await frames.read { $0.contains { $0["type"] as? String == "state" } }
                #expect(first.first?["type"] as? String == "welcome")
                #expect(first.first?["examNumber"] as? String == "2022110001")
                let state = try #require(first.last?["state"] as? [String: Any])
                #expect(state["status"] as? String == "waiting" && state["statusText"] as? String == "已进入考场，候考中")

                // A heartbeat reaches devices in a batch; the beat comes back.
                try await outbound.write(.text(#"{"type":"status","status":\#(Self.status)}"#))
                let beat = try await frames.read { $0.last?["type"] as? String == "beat" }
                #expect(beat.last?["ok"] as? Bool == true && beat.last?["serverTimeMs"] as? Int == 42)
                #expect(beats.withLock { $0 } == 1)

                // A bad status is refused on the socket; nothing goes to devices.
                try await outbound.write(.text(#"{"type":"status","status":{"cameraOn":true}}"#))
                let err = try await frames.read { $0.last?["type"] as? String == "error" }
                #expect((err.last?["message"] as? String)?.contains("status.camera") == true || (err.last?["message"] as? String)?.contains("missing") == true)

                // An event about the candidate is pushed, then the fresh state.
                e.deliver(try interviewEvent(seq: 7, "timing.interview.started", phase: .reading))
                let pushed = try await frames.read { $0.contains { $0["type"] as? String == "state" } }
                let ev = try #require(pushed.first { $0["type"] as? String == "event" })
                #expect(ev["topic"] as? String == "timing.interview.started" && ev["seq"] as? Int == 7)
                #expect(ev["text"] as? String == "开始面试：请查看题目，阅题开始")

                try await outbound.write(.text(#"{"type":"ping","t":123}"#))
                let pong = try await frames.read { $0.last?["type"] as? String == "pong" }
                #expect(pong.last?["t"] as? Int == 123)
            }
            // The phone dropped; meanwhile the phase changed. On reconnect
            // with since=7 it hears exactly what it missed, then its state.
            e.deliver(try interviewEvent(seq: 9, "timing.interview.answering", phase: .answering))
            try await client.ws("/api/v1/ws") { inbound, outbound, _ in
                var frames = Frames(inbound)
                try await outbound.write(.text(#"{"type":"hello","token":"tok-A","sitting":"formal","deviceId":"A-main","deviceKey":"key-A-main","since":7}"#))
                let got = try await frames.read { $0.contains { $0["type"] as? String == "state" } }
                let events = got.filter { $0["type"] as? String == "event" }
                #expect(events.map { $0["seq"] as? Int } == [9])
                #expect(events.first?["text"] as? String == "停止阅题，开始作答")
            }
        }
        await e.beats.stop()
    }

    // When an interview in the room starts or ends, the others waiting
    // there are sent their state again (their place, whose turn is next).
    @Test(.timeLimit(.minutes(1))) func theQueueMovingReachesTheOthersInTheRoom() async throws {
        let mesh = FakeMesh.day()
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        let plan = ExamPlan(exam: "t", confirmation: TimeWindow(opens: t0, closes: t0.addingTimeInterval(60)),
                            mockEntry: TimeWindow(opens: t0.addingTimeInterval(120), closes: t0.addingTimeInterval(180)),
                            formalEntry: TimeWindow(opens: t0.addingTimeInterval(240), closes: t0.addingTimeInterval(300)),
                            publication: t0.addingTimeInterval(9000), interview: InterviewDurations(),
                            rooms: [ExamRoom(id: "R01", name: "第1考场", panel: [Examiner(id: "E1", name: "考官一", chief: true), Examiner(id: "E2", name: "考官二"), Examiner(id: "E3", name: "考官三")], candidates: ["2022110001", "2022110002"], proctors: ["P1"])])
        mesh.on(TimingAPI.getPlan) { _, _ in plan.info(loadedAt: t0) }
        let stateCalls = Mutex(0)
        mesh.on(TimingAPI.getCandidateState) { req, _ in
            stateCalls.withLock { $0 += 1 }
            return CandidateTimingView(examNumber: req.examNumber, roomId: "R01", sitting: req.sitting, status: "waiting", position: 2)
        }
        mesh.on(TimingAPI.getRoom) { req, _ in RoomInfo(roomId: req.roomId, name: "第1考场", sitting: req.sitting, next: "2022110002") }
        let e = edge(mesh)
        _ = try await e.refreshPlan().value
        let app = buildApplication(edge: e, files: files, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            try await client.ws("/api/v1/ws") { inbound, outbound, _ in
                var frames = Frames(inbound)
                try await outbound.write(.text(#"{"type":"hello","token":"tok-B","sitting":"formal","deviceId":"B-main","deviceKey":"k"}"#))
                _ = try await frames.read { $0.contains { $0["type"] as? String == "state" } }
                let before = stateCalls.withLock { $0 }
                // Candidate A's interview ends: B is not its subject, yet hears its new place.
                e.deliver(try interviewEvent(seq: 20, "timing.interview.ended", phase: .ended))
                let got = try await frames.read { $0.contains { $0["type"] as? String == "state" } }
                let state = try #require(got.last?["state"] as? [String: Any])
                #expect(state["yourTurnNext"] as? Bool == true)
                #expect(!got.contains { $0["type"] as? String == "event" }, "A's event is A's, not B's")
                #expect(stateCalls.withLock { $0 } == before + 1)
            }
        }
        await e.beats.stop()
    }

    // A bad hello is answered with an error and the socket closes; another
    // candidate's phone is refused.
    @Test(.timeLimit(.minutes(1))) func badHellosAreRefused() async throws {
        let e = edge(FakeMesh.day())
        let app = buildApplication(edge: e, files: files, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            for (hello, expected) in [
                (#"{"type":"hello","token":"nope","sitting":"formal","deviceId":"A-main"}"#, "UNAUTHENTICATED"),
                (#"{"type":"hello","token":"tok-B","sitting":"formal","deviceId":"A-main"}"#, "PERMISSION_DENIED"),
                (#"{"type":"hello","token":"tok-A","sitting":"lunch","deviceId":"A-main"}"#, "NOT_FOUND"),
                (#"{"type":"status"}"#, "INVALID_ARGUMENT"),
                (#"not json"#, "INVALID_ARGUMENT"),
            ] {
                try await client.ws("/api/v1/ws") { inbound, outbound, _ in
                    var frames = Frames(inbound)
                    try await outbound.write(.text(hello))
                    let got = try await frames.read { $0.last?["type"] as? String == "error" }
                    #expect(got.last?["code"] as? String == expected, "\(hello)")
                }
            }
            // No hello at all: an error after the hello timeout, then the close.
            let close = try await client.ws("/api/v1/ws") { inbound, _, _ in
                var frames = Frames(inbound)
                let got = try await frames.read { $0.last?["type"] as? String == "error" }
                #expect((got.last?["message"] as? String)?.contains("no hello") == true)
                try await frames.drain()
            }
            #expect(close?.closeCode == .policyViolation)
        }
        #expect(e.connectedPhones == 0)
        await e.beats.stop()
    }
}
