import DevicesCore
import ExamPlan
import Foundation
import Testing

@Suite("restart: no outage invented from the service's downtime")
struct RestartTests {
    func restarted(_ s: DevicesState) throws -> DevicesState {
        try JSONDecoder().decode(DevicesState.self, from: JSONEncoder().encode(s))
    }

    @Test func connectedPhonesGetAFreshGracePeriod() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 20)
        // The service is down from 20.5 to 100.
        var r = try restarted(s)
        r.resumed(at: at(100))
        #expect(r.nextDeadline() == Date(timeIntervalSinceReferenceDate: (at(100).timeIntervalSinceReferenceDate + 10).nextUp))
        #expect(r.tick(now: at(100)).isEmpty)
        #expect(try r.beat("m1", .main, 105).isEmpty)
        #expect(r.tick(now: at(110)).isEmpty)
        // s1 stays silent after the restart: lost from the restart, flagged.
        let e = r.tick(now: at(110.001))
        #expect(topics(e) == ["devices.signal.lost", "devices.fitness.changed"])
        guard case .signalLost(let d, let seen, _, _) = e[0] else { Issue.record(); return }
        #expect(d.deviceID == "s1" && seen == at(100))
        #expect(r.devices["s1"]?.openOutage?.serviceResumedAt == at(100))
        #expect(r.fitness(exam1).reasons == ["secondary device s1: signal lost since 11:01:40 (R33)"])
    }

    @Test func theFirstCallResumesIfTheShellForgot() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 20)
        var r = try restarted(s)
        #expect(r.tick(now: at(300)).isEmpty)
        #expect(r.tick(now: at(310)).isEmpty)
        #expect(try r.beat("m1", .main, 309).isEmpty)
        #expect(try r.beat("s1", .secondary, 309).isEmpty)
        #expect(r.tick(now: at(319)).isEmpty)
    }

    @Test func aPhoneLostBeforeTheRestartStaysLostButTheDowntimeIsNotLong() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 99)
        _ = try s.startFormal(100)
        _ = try s.drive(from: 100, to: 125, mainOff: [111...125])  // m1 lost at 120.5, last seen 110
        // Down from 125.5 to 130.
        var r = try restarted(s)
        r.resumed(at: at(130))
        #expect(r.takeChanges().devices == ["m1"])
        #expect(r.devices["m1"]?.signal == .lost)
        // Counted from 130 for (b): 155 is 25 s later, not long (45 s of wall time).
        let e = try r.drive(from: 130, to: 170, mainOff: [130...154])
        #expect(incidents(e).isEmpty)
        let o = try #require(outagesRestored(e).first)
        #expect(o.seconds == 45 && o.serviceResumedAt == at(130))
    }

    @Test func aLongOutageAcrossARestartIsJudgedOnWhatWasSeenAfterIt() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 99)
        _ = try s.startFormal(100)
        _ = try s.drive(from: 100, to: 125, mainOff: [111...125])
        var r = try restarted(s)
        r.resumed(at: at(130))
        #expect(r.nextDeadline()! > at(140) && r.nextDeadline()! < at(140.001))
        let e = try r.drive(from: 130, to: 170, mainOff: [130...165])
        let i = try #require(incidents(e).first)
        #expect(i.kind == .longOutage && i.detectedAt == at(160.5) && i.lostSeconds == 30.5)
    }

    @Test func reportedKindsSurviveARestart() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 99)
        _ = try s.startFormal(100)
        let e = try s.drive(from: 100, to: 150, mainOff: [105...115, 120...130, 135...145])
        #expect(outagesRestored(e).count == 3 && incidents(e).isEmpty)
        var r = try restarted(s)
        r.resumed(at: at(160))
        let e2 = try r.drive(from: 160, to: 180, mainOff: [161...170])
        #expect(incidents(e2).map(\.kind) == [.tooManyInterruptions])
        var r2 = try restarted(r)
        r2.resumed(at: at(181))
        #expect(incidents(try r2.drive(from: 181, to: 230, mainOff: [190...210])).isEmpty)
    }

    @Test func rebuildingFromDocumentsEqualsDecoding() throws {
        var s = try fixture()
        try s.beat("s1", .secondary, 5, status(.secondary, volume: 10))
        _ = s.tick(now: at(10.5))
        var r = try DevicesState(config: s.config, candidates: s.candidates, devices: s.devices, interviews: s.interviews)
        r.resumed(at: at(50))
        #expect(r.devices == s.devices.mapValues { d in
            var d = d
            if d.openOutage != nil { d.openOutage!.serviceResumedAt = at(50) }
            return d
        })
        // Rule state survives: the same status again changes nothing; a fixed one clears.
        #expect(try r.beat("s1", .secondary, 51, status(.secondary, volume: 10)).isEmpty)
        #expect(rulesCleared(try r.beat("s1", .secondary, 52)) == ["secondary-speaker-muted"])
    }

    @Test func eventsRoundTripAsJSON() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 99)
        var all = try s.startFormal(100)
        all += try s.drive(from: 100, to: 200, mainOff: [111...150], secondaryOff: [141...160])
        all += try s.beat("s1", .secondary, 201, status(.secondary, battery: 5, volume: 9))
        let back = try JSONDecoder().decode([DevicesEvent].self, from: JSONEncoder().encode(all))
        #expect(back == all)
        #expect(Set(all.map(\.topic)) == ["devices.signal.lost", "devices.signal.restored", "devices.fitness.changed",
                                           "devices.ground9.detected", "devices.rule.broken"])
        #expect(Set(all.map(\.examNumber)) == [exam1])
    }
}
