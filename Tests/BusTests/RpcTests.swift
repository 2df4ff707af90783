import Bus
import ExamContracts
import Foundation
import Testing

@Suite("request/reply on loopback")
struct RpcTests {
    @Test func roundTrip() async throws {
        let service = try await ProbeServer()
        let reactor = Reactor(name: "client")
        defer { reactor.shutdown() }
        let client = RpcClient(reactor: reactor, endpoint: service.endpoint, caller: "test")
        let reply = try await client.call(BusProbeAPI.echo, ProbeMessage(n: 7, text: "考场 A", tags: ["x"]))
        #expect(reply.n == 7)
        #expect(reply.text == "考场 A")
        #expect(reply.tags == ["x"])
    }

    @Test func sixteenCallsInFlightFromOneClient() async throws {
        // Each Hold waits at a barrier for all 16: it only opens if the one
        // client really has all 16 calls in the service at the same time.
        let barrier = Barrier(count: 16)
        let service = try await ProbeServer(barrier: barrier)
        let reactor = Reactor(name: "client")
        defer { reactor.shutdown() }
        let client = RpcClient(reactor: reactor, endpoint: service.endpoint, caller: "test")
        let replies = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for i in 1...16 {
                group.addTask { try await client.call(BusProbeAPI.hold, ProbeMessage(n: UInt64(i)), timeout: .seconds(10)).n }
            }
            var all: [UInt64] = []
            for try await n in group { all.append(n) }
            return all
        }
        #expect(replies.sorted() == Array(1...16))
        #expect(await barrier.maxSeen == 16)
    }

    @Test func statusAndMessageTravelBack() async throws {
        let service = try await ProbeServer()
        let reactor = Reactor(name: "client")
        defer { reactor.shutdown() }
        let client = RpcClient(reactor: reactor, endpoint: service.endpoint, caller: "test")
        do {
            _ = try await client.call(BusProbeAPI.fail, ProbeFailure(code: .failedPrecondition, message: "window closed at 16:00"))
            Issue.record("no error")
        } catch let e as RPCError {
            #expect(e.code == .failedPrecondition)
            #expect(e.message == "window closed at 16:00")
        }
    }

    @Test func unknownAndUnservedMethodsAreUnimplemented() async throws {
        let service = try await ProbeServer()
        let reactor = Reactor(name: "client")
        defer { reactor.shutdown() }
        let client = RpcClient(reactor: reactor, endpoint: service.endpoint, caller: "test")
        await #expect(throws: RPCError(.unimplemented, "unknown method 'exam.v1.Nope/Nothing' (expected <package>.<Service>/<Method>, as in protos/)")) {
            _ = try await client.callRaw(method: "exam.v1.Nope/Nothing", body: [])
        }
        await #expect(throws: RPCError(.unimplemented, "exam.v1.BusProbe/NotServed is not served by this service")) {
            _ = try await client.call(BusProbeAPI.notServed, ProbeMessage())
        }
    }

    /// A method name with a NUL byte is not the name before the NUL
    /// (protobuf-c's C strings would make it so): it is no known method.
    @Test func aMethodNameWithANulByteIsUnimplemented() async throws {
        let service = try await ProbeServer()
        let raw = rawDealer(endpoint: service.endpoint)
        for name in ["exam.v1.Node/Ping\u{0}junk", "exam.v1.BusProbe/Echo\u{0}", "\u{0}exam.v1.Node/Ping"] {
            // The header by hand: field 1 (method) whole, field 2 (request id), field 4 (caller).
            let method = Array(name.utf8)
            raw.send([[0x0A, UInt8(method.count)] + method + [0x10, 7, 0x22, 3] + Array("raw".utf8), []])
            let h = try #require(try replyHeader(raw.receive()))
            #expect(h.code == .unimplemented, "\(name.debugDescription) was answered \(h.code)")
            #expect(h.requestId == 7)
        }
        // The same bytes without the NUL are served as usual.
        let ping = Array(BusProbeAPI.echo.name.utf8)
        raw.send([[0x0A, UInt8(ping.count)] + ping + [0x10, 8, 0x22, 3] + Array("raw".utf8), []])
        let ok = try #require(try replyHeader(raw.receive()))
        #expect(ok.code == .ok && ok.requestId == 8)
    }

    @Test func callerGivesUpAtItsDeadline() async throws {
        let service = try await ProbeServer()
        let reactor = Reactor(name: "client")
        defer { reactor.shutdown() }
        let client = RpcClient(reactor: reactor, endpoint: service.endpoint, caller: "test")
        let error = try await within(.seconds(5), "the deadline") {
            do {
                _ = try await client.call(BusProbeAPI.hold, ProbeMessage(holdMs: 3000), timeout: .milliseconds(200))
                return RPCError(.ok, "")
            } catch let e as RPCError { return e }
        }
        #expect(error.code == .deadlineExceeded)
        // The late reply is dropped and the client keeps working.
        #expect(try await client.call(BusProbeAPI.echo, ProbeMessage(n: 1)).n == 1)
    }

    @Test func serviceRefusesACallWhoseDeadlinePassed() async throws {
        let service = try await ProbeServer()
        let raw = rawDealer(endpoint: service.endpoint)
        raw.send([try callHeader(BusProbeAPI.echo.name, id: 9, deadline: unixMillis() - 1000), []])
        let h = try #require(try replyHeader(raw.receive()))
        #expect(h.requestId == 9)
        #expect(h.code == .deadlineExceeded)
    }

    @Test func cancellingTheCallingTaskEndsTheCall() async throws {
        let service = try await ProbeServer()
        let reactor = Reactor(name: "client")
        defer { reactor.shutdown() }
        let client = RpcClient(reactor: reactor, endpoint: service.endpoint, caller: "test")
        let task = Task { try await client.call(BusProbeAPI.hold, ProbeMessage(holdMs: 5000), timeout: .seconds(30)) }
        task.cancel()
        let result = try await within(.seconds(5), "cancellation") { await task.result }
        #expect(throws: CancellationError.self) { try result.get() }
    }

    @Test func badFramesGetAnErrorOrAreDroppedAndTheServiceKeepsServing() async throws {
        var limits = SocketLimits()
        limits.maxRequestBytes = 512 << 10
        limits.transportMaxBytes = 1 << 20
        let service = try await ProbeServer(limits: limits)
        let raw = rawDealer(endpoint: service.endpoint)

        // Random bytes where the CallHeader should be.
        raw.send([[0xFF, 0xFF, 0xFF, 0x01, 0x02], [1, 2, 3]])
        var h = try #require(try replyHeader(raw.receive()))
        #expect(h.code == .invalidArgument)
        #expect(h.requestId == 0)
        #expect(h.message.contains("CallHeader"))

        // A truncated request body.
        let full = try ProtoCodec.encode(ProbeMessage(text: "truncate me please"))
        raw.send([try callHeader(BusProbeAPI.echo.name, id: 2), Array(full.dropLast(4))])
        h = try #require(try replyHeader(raw.receive()))
        #expect(h.code == .invalidArgument)
        #expect(h.requestId == 2)
        #expect(h.message.contains("exam.v1.ProbeMessage"))

        // Too many frames.
        raw.send([try callHeader(BusProbeAPI.echo.name, id: 3), [], [], []])
        h = try #require(try replyHeader(raw.receive()))
        #expect(h.code == .invalidArgument)
        #expect(h.requestId == 3)

        // Larger than the service accepts, smaller than the transport limit.
        raw.send([try callHeader(BusProbeAPI.echo.name, id: 4), [UInt8](repeating: 0, count: 600 << 10)])
        h = try #require(try replyHeader(raw.receive()))
        #expect(h.code == .invalidArgument)
        #expect(h.message.contains("at most"))

        // Larger than the transport limit: libzmq drops the connection.
        let rude = rawDealer(endpoint: service.endpoint)
        rude.send([try callHeader(BusProbeAPI.echo.name, id: 5), [UInt8](repeating: 7, count: 2 << 20)])

        // Random frames, many of them.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let n = Int.random(in: 1...4, using: &rng)
            raw.send((0..<n).map { _ in (0..<Int.random(in: 0..<40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } })
        }

        // Still serving.
        let reactor = Reactor(name: "client")
        defer { reactor.shutdown() }
        let client = RpcClient(reactor: reactor, endpoint: service.endpoint, caller: "test")
        #expect(try await client.call(BusProbeAPI.echo, ProbeMessage(n: 42)).n == 42)
        #expect(service.server.counters["rpc.invalid"] >= 4)
    }

    @Test func aREQClientWorksToo() async throws {
        // REQ puts an empty delimiter first; the service echoes it.
        let service = try await ProbeServer()
        let raw = rawDealer(endpoint: service.endpoint)
        raw.send([[], try callHeader(BusProbeAPI.echo.name, id: 11), try ProtoCodec.encode(ProbeMessage(n: 5))])
        let frames = try #require(raw.receive())
        #expect(frames.count == 3)
        #expect(frames[0].isEmpty)
        let h = try ProtoCodec.decode(ReplyHeader.self, from: frames[1])
        #expect(h.code == .ok)
        #expect(try ProtoCodec.decode(ProbeMessage.self, from: frames[2]).n == 5)
    }

    @Test func drainingRefusesNewCallsWithUnavailable() async throws {
        let service = try await ProbeServer()
        let reactor = Reactor(name: "client")
        defer { reactor.shutdown() }
        let client = RpcClient(reactor: reactor, endpoint: service.endpoint, caller: "test")
        let slow = Task { try await client.call(BusProbeAPI.hold, ProbeMessage(n: 1, holdMs: 300)) }
        // Wait until the slow call is in the service, then drain.
        let entered = try await within(.seconds(5), "the call to arrive") {
            var it = service.held.makeAsyncIterator()
            return await it.next()
        }
        #expect(entered == 1)
        service.server.beginDraining()
        await #expect(throws: RPCError.self) { _ = try await client.call(BusProbeAPI.echo, ProbeMessage()) }
        #expect(try await slow.value.n == 1)
        #expect(await service.server.waitIdle(timeout: .seconds(5)))
    }

    /// Issue 16: the ZAP handler names the member behind each key; the
    /// server believes only the actors that member may assert.
    @Test func curveNamesTheMemberAndTrustRefusesWhatItMayNotAssert() async throws {
        let serverKeys = try CurveKeyPair.generate()
        let phone = try CurveKeyPair.generate()
        let service = try await ProbeServer(security: .curveServer(keys: serverKeys, members: [phone.publicKey: "phone-sim"]),
                                            trust: ActorTrust(roles: ["phone-sim": [.candidate]]))
        let reactor = Reactor(name: "client")
        defer { reactor.shutdown() }
        let client = RpcClient(reactor: reactor, endpoint: service.endpoint, caller: "phones",
                               security: .curveClient(keys: phone, serverPublicKey: serverKeys.publicKey))
        #expect(try await client.call(BusProbeAPI.echo, ProbeMessage(n: 1), as: CallPrincipal(id: "2022110001", role: .candidate)).n == 1)
        #expect(service.peers.all == ["phone-sim"])
        await #expect(throws: RPCError(.permissionDenied, "exam.v1.BusProbe/Echo refused: mesh member 'phone-sim' may not act as ops 'ops-1' (it may assert: candidate)")) {
            _ = try await client.call(BusProbeAPI.echo, ProbeMessage(n: 2), as: CallPrincipal(id: "ops-1", role: .ops))
        }
        #expect(service.peers.all.count == 1, "the handler never ran for the refused call")
        #expect(service.server.counters["rpc.actor_refused"] == 1)
        #expect(service.server.counters["zap.accepted"] >= 1)
    }

    @Test func curveAllowsListedClientsOnly() async throws {
        let serverKeys = try CurveKeyPair.generate()
        let good = try CurveKeyPair.generate()
        let bad = try CurveKeyPair.generate()
        let service = try await ProbeServer(security: .curveServer(keys: serverKeys, members: [good.publicKey: "good"]))
        let reactor = Reactor(name: "client")
        defer { reactor.shutdown() }
        let allowed = RpcClient(reactor: reactor, endpoint: service.endpoint, caller: "good",
                                security: .curveClient(keys: good, serverPublicKey: serverKeys.publicKey))
        #expect(try await allowed.call(BusProbeAPI.echo, ProbeMessage(n: 3)).n == 3)
        let refused = RpcClient(reactor: reactor, endpoint: service.endpoint, caller: "bad",
                                security: .curveClient(keys: bad, serverPublicKey: serverKeys.publicKey))
        await #expect(throws: RPCError.self) {
            _ = try await refused.call(BusProbeAPI.echo, ProbeMessage(n: 4), timeout: .milliseconds(500))
        }
        let plain = RpcClient(reactor: reactor, endpoint: service.endpoint, caller: "plain")
        await #expect(throws: RPCError.self) {
            _ = try await plain.call(BusProbeAPI.echo, ProbeMessage(n: 5), timeout: .milliseconds(500))
        }
        #expect(service.server.counters["zap.refused"] >= 1, "the stranger's key was refused by ZAP and counted")
    }
}
