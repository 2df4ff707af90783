import DevicesCore
import ExamPlan
import Foundation
import Testing

@Suite("registration (R30)")
struct RegistrationTests {
    @Test func twoPhonesRegisterAndAreFitOnceBothBeat() throws {
        var s = try DevicesState()
        _ = try s.applyCandidate(examNumber: exam1, eligible: true)
        let e1 = try s.reg(exam1, .main, "m1")
        #expect(topics(e1) == ["devices.device.registered"])
        guard case .deviceRegistered(let r) = e1[0] else { Issue.record(); return }
        #expect(r == DeviceRegistration(deviceID: "m1", examNumber: exam1, role: .main, account: "wx-m1", camera: .front,
                                        microphoneOn: true, speakerVolume: 60, os: .android, osVersion: "13",
                                        clientVersion: "8.0.30", registeredAt: t0))
        try s.reg(exam1, .secondary, "s1")
        #expect(s.fitness(exam1) == Fitness(examNumber: exam1, fit: false,
                                             reasons: ["main device m1: no heartbeat yet", "secondary device s1: no heartbeat yet"],
                                             warnings: []))
        #expect(topics(try s.beat("m1", .main, 1)) == ["devices.signal.connected"])
        let e2 = try s.beat("s1", .secondary, 1)
        #expect(topics(e2) == ["devices.signal.connected", "devices.fitness.changed"])
        #expect(fitnessFlips(e2) == [true])
        #expect(s.fitness(exam1).fit)
        #expect(s.candidates[exam1]?.fit == true)
    }

    @Test func aMissingRoleIsAReason() throws {
        var s = try DevicesState()
        _ = try s.applyCandidate(examNumber: exam1, eligible: true)
        try s.reg(exam1, .main, "m1")
        try s.beat("m1", .main, 0)
        #expect(s.fitness(exam1).reasons == ["no secondary device registered (R30)"])
        #expect(s.fitness("2022119999").reasons == ["candidate 2022119999 is not on the roster"])
    }

    @Test func unknownAndIneligibleCandidatesAreRefused() throws {
        var s = try fixture()
        try expectRefused(&s, .notFound,
                          "candidate 2022119999 is not on the roster; devices can be registered only for a listed candidate") {
            try $0.reg("2022119999", .main, "x1")
        }
        _ = try s.applyCandidate(examNumber: exam2, eligible: false)
        try expectRefused(&s, .permissionDenied,
                          "candidate 2022110002 is not confirmed for the interview (R3, R6): no device can be registered") {
            try $0.reg(exam2, .main, "m2")
        }
        // Roster's reason reaches the candidate: a never-confirmed candidate
        // is not told it is "no longer" eligible.
        _ = try s.applyCandidate(examNumber: exam2, eligible: false, because: "has not confirmed attendance yet (R3)")
        try expectRefused(&s, .permissionDenied, "candidate 2022110002 has not confirmed attendance yet (R3): no device can be registered") {
            try $0.reg(exam2, .main, "m2")
        }
        _ = try s.applyCandidate(examNumber: exam2, eligible: false, because: "declined the interview, giving up the post (R6)")
        try expectRefused(&s, .permissionDenied, "candidate 2022110002 declined the interview, giving up the post (R6): no device can be registered") {
            try $0.reg(exam2, .main, "m2")
        }
    }

    @Test func aThirdDeviceIsRefusedNamingTheTwo() throws {
        var s = try fixture()
        try expectRefused(&s, .alreadyExists,
                          "candidate 2022110001 already has two devices, main m1 (connected) and secondary s1 (connected); a third device (x3) is refused (R30). A phone can take a role only while its phone there has no live signal") {
            try $0.reg(exam1, .main, "x3")
        }
        try expectRefused(&s, .alreadyExists,
                          "candidate 2022110001 already has two devices, main m1 (connected) and secondary s1 (connected); a third device (x3) is refused (R30). A phone can take a role only while its phone there has no live signal") {
            try $0.reg(exam1, .secondary, "x3")
        }
    }

    @Test func aConnectedRoleCannotBeTakenOver() throws {
        var s = try DevicesState()
        _ = try s.applyCandidate(examNumber: exam1, eligible: true)
        try s.reg(exam1, .main, "m1")
        try s.beat("m1", .main, 0)
        try expectRefused(&s, .alreadyExists,
                          "candidate 2022110001's main role is held by main m1 (connected); device x3 is refused (R30): a phone can take a role only while its phone there has no live signal (the secondary role is free)") {
            try $0.reg(exam1, .main, "x3")
        }
    }

    @Test func bothRolesOnOneAccountAreRefused() throws {
        var s = try DevicesState()
        _ = try s.applyCandidate(examNumber: exam1, eligible: true)
        try s.reg(exam1, .main, "m1", account: "wx-zhang")
        try expectRefused(&s, .failedPrecondition,
                          "account wx-zhang: candidate 2022110001's main device m1 already uses it; the secondary device must log in with a different WeChat account (R30)") {
            try $0.reg(exam1, .secondary, "s1", account: "wx-zhang")
        }
    }

    @Test func onePhoneCannotHoldBothRolesNorServeTwoCandidates() throws {
        var s = try fixture()
        try expectRefused(&s, .alreadyExists,
                          "device m1 is already candidate 2022110001's main device; the secondary device must be another phone (R30)") {
            try $0.reg(exam1, .secondary, "m1")
        }
        try expectRefused(&s, .alreadyExists,
                          "设备 m1 已由另一名考生登记：一部手机只能供一名考生使用（R30），请换一部手机") {
            try $0.reg(exam2, .main, "m1")
        }
        try expectRefused(&s, .alreadyExists,
                          "微信账号 wx-m1 已由另一名考生的手机使用：一个账号只能供一名考生的一部手机使用（R30），请换一个微信账号登录") {
            try $0.reg(exam2, .main, "m2", account: "wx-m1")
        }
    }

    /// Issue 22: the refusal of a taken phone or account named its owner's
    /// exam number (and device): a stranger could learn whose phone it is.
    @Test func aTakenPhoneOrAccountDoesNotSayWhoseItIs() throws {
        var s = try fixture()
        let before = try snapshot(s)
        // exam1 holds phone m1 with account wx-m1; exam2 tries the phone, then the account on its own phone m2.
        for (what, attempt) in [("the phone", { (s: inout DevicesState) in try s.reg(exam2, .main, "m1") }),
                                ("the account", { (s: inout DevicesState) in try s.reg(exam2, .main, "m2", account: "wx-m1") })] {
            do {
                _ = try attempt(&s)
                Issue.record("\(what) of another candidate was taken")
            } catch let e as DevicesError {
                #expect(e.code == .alreadyExists)
                #expect(!e.message.contains(exam1), "\(what): the owner's exam number in '\(e.message)'")
                if what == "the account" {
                    #expect(!e.message.contains("device m1") && !e.message.contains("设备 m1"), "the owner's phone in '\(e.message)'")
                }
                #expect(e.message.contains("另一名考生") && e.message.contains("R30"), "\(what): '\(e.message)' does not say why")
            }
        }
        #expect(try snapshot(s) == before)
    }

    @Test func theSettingsOfR30AreRequired() throws {
        var s = try DevicesState()
        _ = try s.applyCandidate(examNumber: exam1, eligible: true)
        try expectRefused(&s, .failedPrecondition,
                          "main device m1 of 2022110001: rule main-front-camera (The main phone films with the front camera; R30; notice 4(2)2) is broken: camera=rear") {
            try $0.reg(exam1, .main, "m1", camera: .rear)
        }
        try expectRefused(&s, .failedPrecondition,
                          "secondary device s1 of 2022110001: rule secondary-speaker-muted (The secondary phone's speaker must be muted; R30, R32; notice 5(1)) is broken: speakerVolume=35") {
            try $0.reg(exam1, .secondary, "s1", volume: 35)
        }
        try expectRefused(&s, .failedPrecondition,
                          "secondary device s1 of 2022110001: rule secondary-rear-camera (The secondary phone films with the rear camera; R30; notice 4(2)2, 5(1)) is broken: camera=front") {
            try $0.reg(exam1, .secondary, "s1", camera: .front)
        }
        try expectRefused(&s, .failedPrecondition,
                          "secondary device s1 of 2022110001: rule microphone-on (The microphone must be on; R30; notice 4(2)2, 5(1)) is broken: microphoneOn=false") {
            try $0.reg(exam1, .secondary, "s1", mic: false)
        }
        // The main phone's speaker may be on: the candidate hears the staff.
        #expect(topics(try s.reg(exam1, .main, "m1", volume: 80)) == ["devices.device.registered"])
    }

    @Test func iosWeChat8020IsRefusedButAndroid8020IsNot() throws {
        var s = try DevicesState()
        _ = try s.applyCandidate(examNumber: exam1, eligible: true)
        try expectRefused(&s, .failedPrecondition,
                          "main device m1 of 2022110001: rule ios-wechat-8.0.20 (Apple phones must not use WeChat 8.0.20; R32; notice 5(2)2) is broken: os=ios clientVersion=8.0.20") {
            try $0.reg(exam1, .main, "m1", os: .ios, client: "8.0.20")
        }
        #expect(topics(try s.reg(exam1, .main, "m1", os: .android, client: "8.0.20")) == ["devices.device.registered"])
        #expect(topics(try s.reg(exam1, .secondary, "s1", os: .ios, client: "8.0.21")) == ["devices.device.registered"])
    }

    @Test func badArgumentsNameTheField() throws {
        var s = try fixture()
        try expectRefused(&s, .invalidArgument, "exam_number: empty; an exam number is required") { try $0.reg("", .main, "m9") }
        try expectRefused(&s, .invalidArgument, "device_id: 'bad id' is not a device id (ASCII letters, digits, '.', ':', '-' or '_', at most 64)") {
            try $0.reg(exam2, .main, "bad id")
        }
        try expectRefused(&s, .invalidArgument, "speaker_volume: -1 is impossible; a speaker volume is 0 to 100") {
            try $0.reg(exam2, .main, "m2", volume: -1)
        }
        try expectRefused(&s, .invalidArgument, "client_version: empty; a version is required") {
            try $0.reg(exam2, .main, "m2", client: "")
        }
        try expectRefused(&s, .invalidArgument, "account: empty; the WeChat account is required (R30)") {
            try $0.reg(exam2, .main, "m2", account: "")
        }
    }

    @Test func reRegisteringTheSamePhoneIsIdempotent() throws {
        var s = try fixture()
        let before = try snapshot(s)
        #expect(try s.reg(exam1, .main, "m1", now: at(50)).isEmpty)
        #expect(try snapshot(s) == before)
        #expect(s.takeChanges().isEmpty)
        // A WeChat update changes the details: refreshed, first registration time kept.
        let e = try s.reg(exam1, .main, "m1", client: "8.0.31", now: at(60))
        guard case .registrationRefreshed(let r) = try #require(e.first), e.count == 1 else { Issue.record("\(e)"); return }
        #expect(r.clientVersion == "8.0.31")
        #expect(r.registeredAt == t0)
        #expect(s.takeChanges().devices == ["m1"])
    }

    @Test func aPhoneWithoutLiveSignalCanBeReplacedAndTheOutageCarriesOver() throws {
        var s = try fixture()
        try s.beat("s1", .secondary, 10)
        _ = s.tick(now: at(10.5))  // m1 lost
        #expect(s.devices["m1"]?.signal == .lost)
        let e = try s.reg(exam1, .main, "m2", now: at(20))
        #expect(topics(e) == ["devices.device.replaced"])
        guard case .deviceReplaced(let r, let old) = e[0] else { Issue.record(); return }
        #expect(r.deviceID == "m2" && old == "m1")
        #expect(s.candidates[exam1]?.main == "m2")
        #expect(s.devices["m1"]?.replacedBy == "m2")
        #expect(s.devices["m2"]?.signal == .lost)
        // The old phone no longer reports.
        try expectRefused(&s, .failedPrecondition,
                          "device m1 was replaced by m2 as candidate 2022110001's main device at 2022-11-19T11:00:20.000+08:00; it no longer reports") {
            try $0.beat("m1", .main, 21)
        }
        // The new phone's first heartbeat ends the main position's outage.
        let r2 = try s.beat("m2", .main, 22)
        #expect(topics(r2) == ["devices.signal.restored", "devices.fitness.changed"])
        let o = try #require(outagesRestored(r2).first)
        #expect(o.deviceID == "m1" && o.restoredBy == "m2" && o.lastSeen == at(0) && o.seconds == 22)
        #expect(s.fitness(exam1).fit)
    }

    @Test func aPhoneNeverHeardFromCanBeReplaced() throws {
        var s = try fixture(connected: false)
        let e = try s.reg(exam1, .secondary, "s2", account: "wx-s1")  // the same account on a new phone
        #expect(topics(e) == ["devices.device.replaced"])
        #expect(s.devices["s2"]?.signal == .awaiting)
        #expect(s.fleetCounts().registeredDevices == 2)
    }
}

@Suite("registration from a status")
struct RegisterWithStatusTests {
    @Test func theStatusIsTheFirstHeartbeat() throws {
        var s = try DevicesState()
        _ = try s.applyCandidate(examNumber: exam1, eligible: true)
        let e1 = try s.register(examNumber: exam1, role: .main, deviceID: "m1", account: "wx-a", status: status(.main, battery: 10), now: t0)
        #expect(topics(e1) == ["devices.device.registered", "devices.signal.connected", "devices.rule.broken"])
        let e2 = try s.register(examNumber: exam1, role: .secondary, deviceID: "s1", account: "wx-b", status: status(.secondary), now: at(1))
        #expect(topics(e2) == ["devices.device.registered", "devices.signal.connected", "devices.fitness.changed"])
        // Again: idempotent registration, a plain heartbeat.
        #expect(try s.register(examNumber: exam1, role: .secondary, deviceID: "s1", account: "wx-b", status: status(.secondary), now: at(2)).isEmpty)
        try expectRefused(&s, .invalidArgument, "registration of device s1: status.battery: 140 is impossible; a battery charge in percent is 0 to 100") {
            try $0.register(examNumber: exam1, role: .secondary, deviceID: "s1", account: "wx-b", status: status(.secondary, battery: 140), now: at(3))
        }
        _ = s.tick(now: at(100))  // both lost: s1's role may be taken over
        try expectRefused(&s, .failedPrecondition,
                          "secondary device s9 of 2022110001: rule secondary-speaker-muted (The secondary phone's speaker must be muted; R30, R32; notice 5(1)) is broken: speakerVolume=5") {
            try $0.register(examNumber: exam1, role: .secondary, deviceID: "s9", account: "wx-c", status: status(.secondary, volume: 5), now: at(100))
        }
    }

    @Test func incidentsCarryAStableKeyAndTheirMeasurements() throws {
        var s = try fixture()
        _ = try s.drive(from: 1, to: 99)
        _ = try s.startFormal(100)
        let i = incidents(try s.drive(from: 100, to: 170, mainOff: [121...140], secondaryOff: [141...160]))
        let inc = try #require(i.first)
        #expect(inc.key == "2022110001/formal/bothLost")
        #expect(inc.roles == [.main, .secondary] && inc.lostAt == at(140) && inc.lengthSeconds == 1)
    }
}
