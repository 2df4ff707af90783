import ExamPlan
import Foundation
import GatewayCore
import SchemaSamples
import Testing

@Suite struct EdgeErrorTests {
    // R60: grpc-gateway's table, the codes the issue names and the rest.
    @Test func grpcCodesMapToHTTPStatuses() {
        let table: [String: Int] = [
            "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400, "UNAUTHENTICATED": 401,
            "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "ABORTED": 409, "RESOURCE_EXHAUSTED": 429,
            "CANCELLED": 499, "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504, "DATA_LOSS": 500,
        ]
        for (code, status) in table { #expect(EdgeError.httpStatus(code) == status, "\(code)") }
        #expect(EdgeError.httpStatus("SOMETHING_NEW") == 500)
    }
}

@Suite struct LoginThrottleTests {
    let t0 = Date(timeIntervalSince1970: 1_700_000_000)

    // R63: per phone number, within the window; counted only when admitted.
    @Test func perPhoneLimitRefusesWithRetryAfter() {
        var th = LoginThrottle(.init(perPhone: 3, perAddress: 100, windowSeconds: 60))
        for i in 0..<3 { #expect(th.admit(phone: "13800000001", address: "a\(i)", now: t0.addingTimeInterval(Double(i))) == nil) }
        let refused = th.admit(phone: "13800000001", address: "other", now: t0.addingTimeInterval(10))
        #expect(refused?.code == "RESOURCE_EXHAUSTED")
        #expect(refused?.retryAfterSeconds == 50)
        #expect(refused?.message.contains("138****0001") == true)
        #expect(refused?.message.contains("13800000001") == false)
        // Another phone from the same place is not affected.
        #expect(th.admit(phone: "13800000002", address: "other", now: t0.addingTimeInterval(10)) == nil)
        // After the window the first attempt has aged out.
        #expect(th.admit(phone: "13800000001", address: "x", now: t0.addingTimeInterval(60.5)) == nil)
    }

    @Test func perAddressLimitCoversManyPhones() {
        var th = LoginThrottle(.init(perPhone: 100, perAddress: 5, windowSeconds: 30))
        for i in 0..<5 { #expect(th.admit(phone: "1380000000\(i)", address: "10.0.0.9", now: t0) == nil) }
        let refused = th.admit(phone: "13800000009", address: "10.0.0.9", now: t0.addingTimeInterval(1))
        #expect(refused?.retryAfterSeconds == 29)
        #expect(refused?.message.contains("address") == true)
        #expect(th.admit(phone: "13800000009", address: "10.0.0.10", now: t0.addingTimeInterval(1)) == nil)
    }

    @Test func memoryIsBoundedByTheWindow() {
        var th = LoginThrottle(.init(perPhone: 5, perAddress: 5, windowSeconds: 10))
        for i in 0..<1000 { _ = th.admit(phone: "13\(String(format: "%09d", i))", address: "a\(i)", now: t0) }
        #expect(th.trackedKeys == 2000)
        _ = th.admit(phone: "13900000000", address: "z", now: t0.addingTimeInterval(11))
        #expect(th.trackedKeys == 2)
    }
}

@Suite struct BodyTests {
    @Test func malformedJSONSaysSo() {
        #expect(throws: EdgeError.invalid("login: not valid JSON")) {
            try EdgeJSON.decode(LoginBody.self, from: Data("{\"phone\":".utf8), what: "login")
        }
        #expect(throws: EdgeError.invalid("login: the body is empty; a JSON object is expected")) {
            try EdgeJSON.decode(LoginBody.self, from: Data(), what: "login")
        }
    }

    @Test func wrongTypesNameTheField() {
        #expect(throws: EdgeError.invalid("login: field 'phone': expected a string")) {
            try EdgeJSON.decode(LoginBody.self, from: Data("{\"phone\":13800000001,\"password\":\"x\"}".utf8), what: "login")
        }
        #expect(throws: EdgeError.invalid("device registration: field 'status.speakerVolume': expected a whole number")) {
            try EdgeJSON.decode(RegisterDeviceBody.self, from: Data("""
                {"role":"main","deviceId":"d1","account":"a","status":{"cameraOn":true,"camera":"front","microphoneOn":true,
                 "speakerVolume":"loud","batteryPercent":50,"network":"wifi","inForeground":true,"autoLockOff":true,
                 "clientVersion":"web-1","os":"android","osVersion":"14"}}
                """.utf8), what: "device registration")
        }
        #expect(throws: EdgeError.self) {
            try EdgeJSON.decode(RoomMoveBody.self, from: Data("{\"role\":\"third\",\"deviceId\":\"d\"}".utf8), what: "enter")
        }
    }

    @Test func checksSayWhatAndWhere() {
        #expect(throws: EdgeError.invalid("phone: '12345' is not a mobile number (11 digits starting with 1)")) {
            try LoginBody(phone: "12345", password: "x").check()
        }
        #expect(throws: EdgeError.self) { try Checks.deviceID("has space") }
        #expect(throws: EdgeError.self) { try Checks.deviceID(String(repeating: "a", count: 65)) }
        #expect(throws: EdgeError.self) { try DeclineBody(giveUpPost: false).check() }
        let ok = DeviceStatusBody(cameraOn: true, camera: .rear, microphoneOn: true, speakerVolume: 0, batteryPercent: 80, network: .wifi,
                                  inForeground: true, autoLockOff: true, clientVersion: "web-1", os: .android, osVersion: "14")
        #expect(throws: Never.self) { try ok.check() }
        var bad = ok
        bad.batteryPercent = 140
        #expect(throws: EdgeError.invalid("status.batteryPercent: 140 is impossible; 0 to 100")) { try bad.check() }
        bad = ok
        bad.osVersion = "14 beta"
        #expect(throws: EdgeError.self) { try bad.check() }
        #expect(throws: EdgeError.notFound("sitting 'lunch': there is no such sitting (mock or formal)")) { try SittingName.parse("lunch") }
    }
}

@Suite struct FeedTests {
    func item(_ seq: UInt64, _ topic: String, sitting: String? = "formal", publisher: String = "timing") -> FeedItem {
        FeedItem(publisher: publisher, seq: seq, topic: topic, atMs: Int64(seq), sitting: sitting, role: nil, text: Texts.event(topic))
    }

    // A phone that reconnects hears what it missed, in order (R18, R21).
    @Test func missedEventsComeInStreamOrderAfterSince() {
        var f = CandidateFeed()
        f.add(item(10, "timing.entry.opened"), for: [])
        f.add(item(11, "timing.candidate.entered"), for: ["A"])
        f.add(item(12, "timing.candidate.entered"), for: ["B"])
        f.add(item(14, "timing.interview.started"), for: ["A"])
        f.add(item(13, "timing.room.drawn"), for: ["A", "B"])
        f.add(item(15, "timing.interview.answering", sitting: "mock"), for: ["A"])
        f.add(item(3, "devices.signal.lost", sitting: nil, publisher: "devices"), for: ["A"])
        #expect(f.missed(examNumber: "A", since: 0, sitting: "formal").map(\.seq) == [10, 11, 13, 14])
        #expect(f.missed(examNumber: "A", since: 11, sitting: "formal").map(\.seq) == [13, 14])
        #expect(f.missed(examNumber: "B", since: 0, sitting: "formal").map(\.seq) == [10, 12, 13])
        #expect(f.missed(examNumber: "A", since: 0, sitting: "mock").map(\.seq) == [15])
        #expect(f.missed(examNumber: "A", publisher: "devices", since: 0, sitting: nil).map(\.seq) == [3])
    }

    @Test func feedIsBoundedPerCandidate() {
        var f = CandidateFeed(perCandidate: 4, broadcastLimit: 2)
        for s in 1...10 { f.add(item(UInt64(s), "timing.candidate.left"), for: ["A"]) }
        for s in 11...15 { f.add(item(UInt64(s), "timing.entry.opened"), for: []) }
        #expect(f.missed(examNumber: "A", since: 0, sitting: nil).map(\.seq) == [7, 8, 9, 10, 14, 15])
    }

    @Test func textsAreChinese() {
        #expect(Texts.event("timing.interview.started") == "开始面试：请查看题目，阅题开始")
        #expect(Texts.event("timing.interview.ended", detail: "ended_early") == "已结束面试")
        #expect(Texts.event("devices.signal.lost", role: "secondary") == "副机位信号中断")
    }
}

@Suite struct ViewTests {
    // Beijing time for people, the server's ms for machines (R10).
    @Test func windowStatesFollowTheServersClock() {
        let opens = Date(timeIntervalSince1970: 1_668_646_800) // 2022-11-17 09:00 Beijing
        let w = TimeWindow(opens: opens, closes: opens.addingTimeInterval(7 * 3600))
        #expect(WindowView(w, now: opens.addingTimeInterval(-1)).state == .before)
        #expect(WindowView(w, now: opens).state == .open)
        #expect(WindowView(w, now: opens.addingTimeInterval(7 * 3600)).state == .closed)
        #expect(WindowView(w, now: opens).opensMs == 1_668_646_800_000)
        #expect(WindowView(w, now: opens).text.contains("09:00"))
    }

    @Test func confirmationIsOfferedOnlyInsideTheWindowToTheUndecided() throws {
        let opens = Date(timeIntervalSince1970: 1_668_646_800)
        let plan = ExamPlan(exam: "t", confirmation: TimeWindow(opens: opens, closes: opens.addingTimeInterval(3600)),
                            mockEntry: TimeWindow(opens: opens.addingTimeInterval(7200), closes: opens.addingTimeInterval(7800)),
                            formalEntry: TimeWindow(opens: opens.addingTimeInterval(9000), closes: opens.addingTimeInterval(9600)),
                            publication: opens.addingTimeInterval(90000), interview: InterviewDurations(),
                            rooms: [ExamRoom(id: "R01", name: "第1考场", panel: [], candidates: ["2022110001"])])
        func reg(_ status: String, _ now: Date) -> Registration {
            Registration(examNumber: "2022110001", name: "张三", idNumberMasked: "370211********3880", phoneMasked: "138****0001",
                         post: PostRef(code: "P", name: "岗位"), writtenScore: "80.00", status: status, statusReason: "",
                         identity: IdentityStateView(status: "none", checks: [], reason: ""), plan: plan, now: now)
        }
        #expect(reg("imported", opens).canConfirm)
        #expect(!reg("imported", opens.addingTimeInterval(-1)).canConfirm)
        #expect(!reg("imported", opens.addingTimeInterval(3600)).canDecline)
        #expect(!reg("confirmed", opens).canConfirm)
        #expect(reg("imported", opens).room == RoomRef(id: "R01", name: "第1考场"))
        #expect(reg("declined", opens).statusText == "已放弃面试资格")
    }
}

/// Issue 22: the edge trimmed " 80" to 80 though the OpenAPI document's
/// Score pattern forbids spaces; it takes exactly what the pattern allows
/// (its `\d` is ECMA-262's: ASCII digits only).
@Suite struct ScoreBodyTests {
    @Test func theEdgeTakesExactlyTheScoresTheOpenAPIPatternAllows() throws {
        let rx = try ScorePattern.regex()
        for text in ScorePattern.samples {
            let matches = ScorePattern.allows(text, rx)
            var refusal: EdgeError?
            do { try ScoreBody(score: text).check() } catch { refusal = error }
            #expect(matches == (refusal == nil), "'\(text)': the schema \(matches ? "allows" : "forbids") it, the edge \(refusal == nil ? "takes" : "refuses") it")
            if let refusal {
                #expect(refusal.code == "INVALID_ARGUMENT" && refusal.message.hasPrefix("score"), "\(refusal)")
            }
        }
    }
}
