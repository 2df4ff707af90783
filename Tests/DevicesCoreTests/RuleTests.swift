import DevicesCore
import ExamPlan
import Foundation
import Testing

@Suite("device rules (R32)")
struct RuleTests {
    @Test func brokenAndClearedOnlyOnChange() throws {
        var s = try fixture()
        let e1 = try s.beat("s1", .secondary, 1, status(.secondary, volume: 30))
        #expect(rulesBroken(e1) == ["secondary-speaker-muted"])
        guard case .ruleBroken(let d, let b, let formal) = e1[0] else { Issue.record(); return }
        #expect(d == DeviceRef(deviceID: "s1", examNumber: exam1, role: .secondary) && !formal)
        #expect(b == RuleBreach(ruleID: "secondary-speaker-muted", title: "The secondary phone's speaker must be muted",
                                severity: .blocksEntry, evidence: "speakerVolume=30", basis: "R30, R32; notice 5(1)", since: at(1)))
        #expect(fitnessFlips(e1) == [false])
        #expect(s.fitness(exam1).reasons == ["secondary device s1: The secondary phone's speaker must be muted (secondary-speaker-muted: speakerVolume=30; R30, R32; notice 5(1))"])
        #expect(try s.beat("s1", .secondary, 2, status(.secondary, volume: 40)).isEmpty)
        #expect(try s.beat("s1", .secondary, 3, status(.secondary, volume: 40)).isEmpty)
        let e2 = try s.beat("s1", .secondary, 4, status(.secondary, volume: 0))
        #expect(rulesCleared(e2) == ["secondary-speaker-muted"])
        #expect(fitnessFlips(e2) == [true])
        guard case .ruleCleared(_, let b2, let clearedAt, _) = e2[0] else { Issue.record(); return }
        #expect(b2.since == at(1) && clearedAt == at(4))
        // The main phone's speaker is its own business.
        #expect(try s.beat("m1", .main, 5, status(.main, volume: 0)).isEmpty)
    }

    @Test func lowBatteryWarnsBelowTwentyAndNeverBlocks() throws {
        var s = try fixture()
        #expect(try s.beat("m1", .main, 1, status(.main, battery: 20)).isEmpty)
        let e = try s.beat("m1", .main, 2, status(.main, battery: 19))
        #expect(topics(e) == ["devices.rule.broken"])
        #expect(rulesBroken(e) == ["battery-low"])
        #expect(try s.beat("m1", .main, 3, status(.main, battery: 18)).isEmpty)
        #expect(s.fitness(exam1).fit)
        #expect(rulesCleared(try s.beat("m1", .main, 4, status(.main, battery: 20))) == ["battery-low"])
    }

    @Test func iosWeChat8020BlocksButAndroid8020DoesNot() throws {
        var s = try DevicesState()
        _ = try s.applyCandidate(examNumber: exam1, eligible: true)
        try s.reg(exam1, .main, "m1", os: .ios, client: "8.0.30")
        try s.reg(exam1, .secondary, "s1")
        try s.beat("s1", .secondary, 0, status(.secondary, os: .android, client: "8.0.20"))
        let e = try s.beat("m1", .main, 0, status(.main, os: .ios, client: "8.0.20"))
        #expect(rulesBroken(e) == ["ios-wechat-8.0.20"])
        #expect(!s.fitness(exam1).fit)
        #expect(s.fitness(exam1).reasons == ["main device m1: Apple phones must not use WeChat 8.0.20 (ios-wechat-8.0.20: os=ios clientVersion=8.0.20; R32; notice 5(2)2)"])
        #expect(try s.device("s1").brokenRules.isEmpty)
        // Versions compare as numbers: 8.0.20.0 is 8.0.20; 8.0.2 and 8.0.200 are not.
        #expect(try s.beat("m1", .main, 1, status(.main, os: .ios, client: "8.0.20.0")).isEmpty)
        let e2 = try s.beat("m1", .main, 2, status(.main, os: .ios, client: "8.0.2"))
        #expect(rulesCleared(e2) == ["ios-wechat-8.0.20"] && fitnessFlips(e2) == [true])
        #expect(rulesBroken(try s.beat("m1", .main, 3, status(.main, os: .ios, client: "8.0.200"))).isEmpty)
    }

    @Test func autoLockOnAndBackgroundBlockEntry() throws {
        var s = try fixture()
        let e = try s.beat("m1", .main, 1, status(.main, autoLockOff: false, foreground: false))
        #expect(rulesBroken(e) == ["screen-auto-lock-off", "client-foreground"])
        #expect(fitnessFlips(e) == [false])
        let e2 = try s.beat("m1", .main, 2, status(.main, autoLockOff: true, foreground: false))
        #expect(rulesCleared(e2) == ["screen-auto-lock-off"] && fitnessFlips(e2).isEmpty)
        let e3 = try s.beat("m1", .main, 3)
        #expect(rulesCleared(e3) == ["client-foreground"] && fitnessFlips(e3) == [true])
    }

    @Test func rulesInsideTheFormalInterviewSaySo() throws {
        var s = try fixture()
        _ = try s.applyInterview(examNumber: exam1, sitting: .formal, started: at(1))
        let e = try s.beat("m1", .main, 2, status(.main, foreground: false))
        guard case .ruleBroken(_, _, let formal) = try #require(e.first) else { Issue.record(); return }
        #expect(formal)
    }

    @Test func rulesComeFromAFile() throws {
        let json = """
        { "loss_timeout_seconds": 5,
          "rules": [ { "id": "battery-30", "title": "Battery below 30 %", "roles": ["main"], "severity": "blocksEntry",
                       "when": [ { "field": "battery", "op": "below", "value": 30 } ], "basis": "ops" },
                     { "id": "no-3g", "title": "No 3G", "roles": ["main", "secondary"], "severity": "warning",
                       "when": [ { "field": "network", "op": "equals", "value": "cellular3g" } ], "basis": "ops" } ] }
        """
        let cfg = try JSONDecoder().decode(DevicesConfig.self, from: Data(json.utf8))
        #expect(cfg.lossTimeoutSeconds == 5 && cfg.longOutageSeconds == 30 && cfg.maxInterruptions == 3)
        #expect(cfg.problems().isEmpty)
        var s = try fixture(cfg)
        #expect(rulesBroken(try s.beat("m1", .main, 1, status(.main, battery: 29))) == ["battery-30"])
        #expect(!s.fitness(exam1).fit)
        #expect(try s.beat("s1", .secondary, 1, status(.secondary, volume: 50)).isEmpty)  // no such rule here
        // The defaults round-trip through JSON.
        let again = try JSONDecoder().decode(DevicesConfig.self, from: JSONEncoder().encode(DevicesConfig()))
        #expect(again == DevicesConfig())
    }

    @Test func versionBelowAndBooleanValuesInAFile() throws {
        let json = """
        { "rules": [ { "id": "wechat-outdated", "title": "Update WeChat", "roles": ["main", "secondary"], "severity": "warning",
                       "when": [ { "field": "clientVersion", "op": "versionBelow", "value": "8.0.25" } ], "basis": "notice 5(2)2" },
                     { "id": "bg", "title": "Foreground", "roles": ["main"], "severity": "blocksEntry",
                       "when": [ { "field": "foreground", "op": "equals", "value": false } ], "basis": "notice 5(2)4" } ] }
        """
        let cfg = try JSONDecoder().decode(DevicesConfig.self, from: Data(json.utf8))
        #expect(cfg.rules[1].when[0].value == "false")
        var s = try fixture(cfg)
        #expect(rulesBroken(try s.beat("m1", .main, 1, status(.main, client: "8.0.9"))) == ["wechat-outdated"])
        #expect(rulesCleared(try s.beat("m1", .main, 2, status(.main, client: "8.0.25"))) == ["wechat-outdated"])
        #expect(rulesBroken(try s.beat("m1", .main, 3, status(.main, client: "8.0.25", foreground: false))) == ["bg"])
    }

    @Test func badConfigurationIsListedWhole() throws {
        var cfg = DevicesConfig(lossTimeoutSeconds: 0, maxInterruptions: 3, outageHistoryLimit: 3)
        cfg.rules = [
            DeviceRule(id: "a", title: "", roles: [], severity: .warning, when: [RuleCondition(.battery, .below, "lots")], basis: ""),
            DeviceRule(id: "a", title: "", severity: .warning, when: [RuleCondition(.foreground, .below, "1")], basis: ""),
            DeviceRule(id: "bad id", title: "", severity: .warning, when: [RuleCondition(.os, .equals, "windows")], basis: ""),
        ]
        #expect(cfg.problems() == [
            "loss_timeout_seconds: 0.0 is not between 0 (exclusive) and 3600",
            "outage_history_limit: 3 must exceed max_interruptions (3) and be at most 10000",
            "rules[0].roles: a rule applies to main, secondary or both",
            "rules[0].when[0]: battery below 'lots': battery is a whole number 0 to 100",
            "rules[1].when[0]: foreground below '1': below does not apply to foreground",
            "rules[1].id: 'a' is used twice",
            "rules[2].id: 'bad id' is not a rule id (letters, digits, '.', '-' or '_', at most 64)",
            "rules[2].when[0]: os equals 'windows': os is one of ios, android, harmonyos, other",
        ])
        #expect(throws: DevicesError.self) { try DevicesState(config: cfg) }
    }

    @Test func reconfiguringRejudgesOnlyWhatChanged() throws {
        var s = try fixture()
        try s.beat("m1", .main, 1, status(.main, battery: 10))
        var cfg = DevicesConfig()
        cfg.rules.removeAll { $0.id == "battery-low" }
        let e = try s.reconfigure(cfg, now: at(2))
        #expect(rulesCleared(e) == ["battery-low"] && e.count == 1)
        #expect(try s.reconfigure(cfg, now: at(3)).isEmpty)
        var bad = cfg
        bad.maxInterruptions = -1
        let before = try snapshot(s)
        #expect(throws: DevicesError.self) { try s.reconfigure(bad, now: at(4)) }
        #expect(try snapshot(s) == before)
    }
}
