import DevicesCore
import ExamPlan
import Foundation
import Testing

@Suite("heartbeats and signal (R31, R33, R35)")
struct SignalTests {
    @Test func badHeartbeatsAreRefusedExactly() throws {
        var s = try fixture()
        try expectRefused(&s, .notFound, "device ghost is not registered; register it (main or secondary) first") {
            try $0.beat("ghost", .main, 1)
        }
        try expectRefused(&s, .invalidArgument, "heartbeat from device m1: status.battery: 140 is impossible; a battery charge in percent is 0 to 100") {
            try $0.beat("m1", .main, 1, status(.main, battery: 140))
        }
        try expectRefused(&s, .invalidArgument, "heartbeat from device s1: status.speaker_volume: -1 is impossible; a speaker volume is 0 to 100") {
            try $0.beat("s1", .secondary, 1, status(.secondary, volume: -1))
        }
        try expectRefused(&s, .invalidArgument, "heartbeat from device m1: status.client_version: empty; a version is required") {
            try $0.beat("m1", .main, 1, status(.main, client: ""))
        }
        // A refused heartbeat is no heartbeat: m1 is lost on time.
        #expect(topics(s.tick(now: at(10.001))).contains("devices.signal.lost"))
    }

    @Test func lossAtExactlyTheTimeoutIsNoLossJustAfterItIs() throws {
        var s = try fixture()
        try s.beat("s1", .secondary, 5)
        #expect(s.nextDeadline() == Date(timeIntervalSinceReferenceDate: (at(0).timeIntervalSinceReferenceDate + 10).nextUp))
        #expect(s.tick(now: at(10)).isEmpty)
        let e = s.tick(now: at(10.001))
        #expect(topics(e) == ["devices.signal.lost", "devices.fitness.changed"])
        guard case .signalLost(let d, let seen, let detected, let formal) = e[0] else { Issue.record(); return }
        #expect(d == DeviceRef(deviceID: "m1", examNumber: exam1, role: .main))
        #expect(seen == at(0) && detected == at(10.001) && !formal)
        #expect(fitnessFlips(e) == [false])
        #expect(s.fitness(exam1).reasons == ["main device m1: signal lost since 11:00:00 (R33)"])
        // Once only.
        #expect(s.tick(now: at(11)).isEmpty)
        #expect(s.tick(now: at(14)).isEmpty)
        // s1 (seen at 5) is next.
        #expect(s.nextDeadline()! > at(15) && s.nextDeadline()! < at(15.001))
    }

    @Test func aHeartbeatExactlyTheTimeoutLaterIsOnTime() throws {
        var s = try fixture()
        #expect(try s.beat("m1", .main, 10).isEmpty)
        // Just over, with no tick in between: lost and restored by the same heartbeat.
        let e = try s.beat("m1", .main, 20.5)
        #expect(topics(e) == ["devices.signal.lost", "devices.signal.restored"])
        #expect(outagesRestored(e).first?.seconds == 10.5)
    }

    @Test func theNextHeartbeatRestoresWithTheOutagesLength() throws {
        var s = try fixture()
        try s.beatBoth(from: 1, to: 3)
        _ = try s.beatBoth(from: 4, to: 4)
        try s.beat("s1", .secondary, 12)
        _ = s.tick(now: at(14.5))  // m1 last seen at 4
        let e = try s.beat("m1", .main, 29.25)
        #expect(topics(e) == ["devices.signal.restored", "devices.fitness.changed"])
        let o = try #require(outagesRestored(e).first)
        #expect(o == SignalOutage(examNumber: exam1, role: .main, deviceID: "m1", lastSeen: at(4), detectedAt: at(14.5),
                                  restoredAt: at(29.25), restoredBy: "m1"))
        #expect(o.seconds == 25.25)
        #expect(fitnessFlips(e) == [true])
        #expect(try s.outages(of: exam1) == [o])
    }

    @Test func aCallIsAnInterruptionLikeAnyOther() throws {
        // R35: the call stops the video; the client reconnects by itself.
        var s = try fixture()
        try s.beat("s1", .secondary, 9)
        _ = s.tick(now: at(10.5))
        let e = try s.beat("m1", .main, 16)
        #expect(topics(e).first == "devices.signal.restored")
        #expect(s.devices["m1"]?.signal == .connected)
    }

    @Test func unchangedHeartbeatsProduceNothingAndTouchNoDocument() throws {
        // 100 candidates x 2 phones x 1000 s = 200,000 heartbeats, status unchanged.
        var s = try DevicesState()
        for c in 0..<100 {
            let exam = "2022\(String(format: "%06d", c))"
            _ = try s.applyCandidate(examNumber: exam, eligible: true)
            try s.reg(exam, .main, "m\(c)")
            try s.reg(exam, .secondary, "s\(c)")
        }
        let main = status(.main), secondary = status(.secondary)
        for c in 0..<100 {
            _ = try s.heartbeat(deviceID: "m\(c)", status: main, now: t0)
            _ = try s.heartbeat(deviceID: "s\(c)", status: secondary, now: t0)
        }
        #expect(s.fleetCounts().fitCandidates == 100)
        _ = s.takeChanges()
        let ids = (0..<100).map { ("m\($0)", "s\($0)") }
        var events = 0
        for sec in 1...1000 {
            let now = at(Double(sec))
            for (m, sc) in ids {
                events += try s.heartbeat(deviceID: m, status: main, now: now).count
                events += try s.heartbeat(deviceID: sc, status: secondary, now: now).count
            }
            if sec % 7 == 0 { events += s.tick(now: now).count }
        }
        #expect(events == 0)
        #expect(s.takeChanges().isEmpty)
        #expect(s.fleetCounts().connected == 200)
    }

    @Test func theQueueStaysAboutOneEntryPerPhone() throws {
        var s = try fixture()
        for sec in 1...10_000 { _ = try s.beatBoth(from: sec, to: sec) }
        #expect(s.nextDeadline()! > at(10_009))
        #expect(s.tick(now: at(10_009.5)).isEmpty)
        #expect(topics(s.tick(now: at(10_010.5))) == ["devices.signal.lost", "devices.signal.lost", "devices.fitness.changed"])
    }

    @Test func timeGoingBackwardsDoesNotMoveLastSeenBack() throws {
        var s = try fixture()
        try s.beat("m1", .main, 8)
        #expect(try s.beat("m1", .main, 3).isEmpty)
        #expect(try s.beat("s1", .secondary, 8).isEmpty)
        #expect(s.tick(now: at(18)).isEmpty)
        #expect(topics(s.tick(now: at(18.01))) == ["devices.signal.lost", "devices.signal.lost", "devices.fitness.changed"])
    }

    @Test func stateChangesNameTheirDocuments() throws {
        var s = try fixture()
        try s.beat("s1", .secondary, 9)
        _ = s.tick(now: at(10.5))
        let c = s.takeChanges()
        #expect(c.devices == ["m1"] && c.candidates == [exam1] && c.interviews.isEmpty)
        _ = try s.beat("m1", .main, 12)
        #expect(s.takeChanges().devices == ["m1"])
        _ = try s.beat("m1", .main, 13, status(.main, battery: 79))  // status changed, no rule changed
        #expect(s.takeChanges().isEmpty)
    }

    @Test func fleetCounts() throws {
        var s = try fixture()
        try s.reg(exam2, .main, "m2")
        try s.beat("s1", .secondary, 9, status(.secondary, battery: 10))
        _ = s.tick(now: at(10.5))
        var f = FleetCounts()
        f.candidates = 2; f.eligibleCandidates = 2; f.candidatesWithBothDevices = 1; f.fitCandidates = 0
        f.registeredDevices = 3; f.awaiting = 1; f.connected = 1; f.lost = 1; f.blockedDevices = 0; f.warnedDevices = 1
        #expect(s.fleetCounts() == f)
        let v = try s.candidateDevices(exam1)
        #expect(v.main?.signal == .lost && v.secondary?.lastSeen == at(9) && v.secondary?.status?.battery == 10)
        #expect(v.secondary?.brokenRules.map(\.ruleID) == ["battery-low"])
        #expect(v.fitness.warnings == ["secondary device s1: Battery below 20 %: charge the phone (battery-low: battery=10; R32; notice 5(2)4)"])
        #expect(throws: DevicesError(.notFound, "candidate 2022119999 is not on the roster")) { try s.candidateDevices("2022119999") }
        #expect(throws: DevicesError(.notFound, "device zz is not registered")) { try s.device("zz") }
    }
}
