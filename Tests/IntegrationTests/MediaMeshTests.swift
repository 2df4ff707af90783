import Bus
import DemoKit
import ExamContracts
import ExamDay
import ExamPlan
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ServiceKit
import Synchronization
import TestSupport
import Testing

// Issue 21's refusals and faults (R64, R65), through real processes: roster,
// timing, devices, discipline, media and a real Janus (Debian's, VideoRoom).
// What Janus admits is asked of Janus itself, as a browser would join: a
// grant's token in another candidate's room, a grant past its join window, a
// made-up room, a secondary phone in the main room are refused by Janus; a
// grant after disqualification, a third phone, another candidate's device,
// the panel before the interview by media. Janus SIGKILLed: media sees it,
// re-makes the rooms once Janus is back. Media SIGKILLed: no grant lost, and
// Janus is brought back in line when it returns.

/// A participant as a page would be one: Janus's plain HTTP API.
final class JanusPeer: Sendable {
    let api: URL
    private let ids = Mutex<(session: UInt64, handle: UInt64)?>(nil)
    private let http: URLSession

    init(_ api: String) {
        self.api = URL(string: api)!
        let c = URLSessionConfiguration.ephemeral
        c.timeoutIntervalForRequest = 5
        http = URLSession(configuration: c)
    }

    /// The plugin's answer: its data, or (code, error) when it refused.
    struct Answer: Sendable {
        var ok: Bool
        var code: Int
        var error: String
        var participants: [(id: UInt64, display: String)]
    }

    func request(_ body: [String: any Sendable]) async throws -> Answer {
        let (s, h) = try await attached()
        let reply = try await post(api.appendingPathComponent("\(s)/\(h)"), ["janus": "message", "body": body])
        var data = (reply["plugindata"] as? [String: Any])?["data"] as? [String: Any]
        if reply["janus"] as? String == "ack" {
            // An asynchronous request (join): its answer comes on the long poll.
            data = try await nextEvent(h)
        }
        guard let data else { throw JanusTestError("no plugin data: \(reply)") }
        let parts = (data["participants"] as? [[String: Any]] ?? []).compactMap { p -> (UInt64, String)? in
            guard let n = p["id"] as? NSNumber else { return nil }
            return (n.uint64Value, p["display"] as? String ?? "")
        }
        return Answer(ok: data["error_code"] == nil, code: (data["error_code"] as? NSNumber)?.intValue ?? 0,
                      error: data["error"] as? String ?? "", participants: parts)
    }

    func join(room: UInt64, feed: UInt64, display: String, token: String) async throws -> Answer {
        try await request(["request": "join", "ptype": "publisher", "room": room, "id": feed, "display": display, "token": token])
    }

    /// Who Janus holds in `room`; nil when it has no such room (426).
    func participants(_ room: UInt64) async throws -> [(id: UInt64, display: String)]? {
        let a = try await request(["request": "listparticipants", "room": room])
        if a.code == 426 { return nil }
        guard a.ok else { throw JanusTestError("listparticipants \(room): \(a.code) \(a.error)") }
        return a.participants
    }

    func keepalive() async {
        guard let (s, _) = ids.withLock({ $0 }) else { return }
        _ = try? await post(api.appendingPathComponent("\(s)"), ["janus": "keepalive"])
    }

    private func attached() async throws -> (UInt64, UInt64) {
        if let got = ids.withLock({ $0 }) { return got }
        let s = try await idOf(post(api, ["janus": "create"]))
        let h = try await idOf(post(api.appendingPathComponent("\(s)"), ["janus": "attach", "plugin": "janus.plugin.videoroom"]))
        ids.withLock { $0 = (s, h) }
        return (s, h)
    }

    private func nextEvent(_ handle: UInt64) async throws -> [String: Any]? {
        guard let (s, _) = ids.withLock({ $0 }) else { return nil }
        for _ in 0..<5 {
            var req = URLRequest(url: api.appendingPathComponent("\(s)"))
            req.timeoutInterval = 10
            let (d, _) = try await http.data(for: req)
            let json = try JSONSerialization.jsonObject(with: d)
            for e in (json as? [[String: Any]]) ?? [json as? [String: Any] ?? [:]] where e["janus"] as? String == "event" {
                if let data = (e["plugindata"] as? [String: Any])?["data"] as? [String: Any] { return data }
            }
        }
        return nil
    }

    private func idOf(_ reply: [String: Any]) throws -> UInt64 {
        guard let n = (reply["data"] as? [String: Any])?["id"] as? NSNumber else { throw JanusTestError("no id in \(reply)") }
        return n.uint64Value
    }

    private func post(_ url: URL, _ body: [String: any Sendable]) async throws -> [String: Any] {
        var b = body
        b["transaction"] = UUID().uuidString
        var req = URLRequest(url: url)
        req.httpMethod = "POST"
        req.httpBody = try JSONSerialization.data(withJSONObject: b)
        let (d, _) = try await http.data(for: req)
        guard let json = try JSONSerialization.jsonObject(with: d) as? [String: Any] else { throw JanusTestError("not JSON") }
        return json
    }
}

struct JanusTestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Polls `condition` until it holds (bounded); answers how long it took.
func pollUntil(_ what: String, within limit: Duration, every: Duration = .milliseconds(50),
               _ condition: @escaping @Sendable () async throws -> Bool) async throws -> Duration {
    let clock = ContinuousClock()
    let start = clock.now
    while clock.now - start < limit {
        if try await condition() { return clock.now - start }
        try await Task.sleep(for: every)  // the poll's pace, bounded by `limit`
    }
    throw JanusTestError("timed out waiting for \(what)")
}

@Suite("live rooms through real processes and a real Janus (R64, R65)", .serialized)
struct MediaMeshTests {
    @Test func grantsRefusalsAndFaults() async throws {
        let h = try MeshHarness(tag: "media", services: ["roster", "timing", "devices", "discipline", "media"], janus: true)
        let people = DemoRoster(count: 3, seed: 64)
        let planJSON = people.planJSON(roomSize: 3, confirmation: ("+17s", "+32s"), mockEntry: ("+33s", "+35s"),
                                       formalEntry: ("+36s", "+42s"), publication: "+1h", readingSeconds: 20, answeringSeconds: 20,
                                       panelSize: 3)
        let janusSpec = try MeshLauncher.janusSpecs(h.mesh, binDir: executablesFolder)[0]
        try await h.launcher.start(janusSpec)
        let day = try await OpenedDay(h, people, planJSON: planJSON,
                                      more: [("devices", []), ("discipline", []), ("media", ["--join-seconds", "4"])])
        defer { Task { await h.shutdown() } }
        let (staff, plan, room, clients) = (day.staff, day.plan, day.room, day.clients)
        let janusAPI = h.mesh.janus![0].api
        for c in clients { _ = try await c.confirmWithPhoto() }
        let phones = TestPhones(mesh: h.tools)
        for c in clients { try await phones.register(c) }
        let beating = phones.run()
        defer { beating.cancel() }
        func creds(_ c: CandidateClient, _ ch: Channel, device: CandidateClient? = nil) -> PhoneCredentials {
            let d = device ?? c
            return PhoneCredentials(token: c.token, deviceId: d.deviceID(ch), deviceKey: phones.key(d.deviceID(ch)))
        }
        func phoneGrant(_ c: CandidateClient, _ ch: Channel, device: CandidateClient? = nil) async throws -> MediaGrant {
            try await h.call("media", MediaAPI.grantPhone, PhoneGrantRequest(phone: creds(c, ch, device: device), sitting: .formal),
                             as: CallPrincipal(id: c.examNumber, role: .candidate))
        }
        func staffGrant(_ who: CallPrincipal, _ exam: String) async throws -> MediaGrant {
            try await h.call("media", MediaAPI.grantStaff, StaffGrantRequest(examNumber: exam, sitting: .formal), as: who)
        }
        let (a, b, c) = (clients[0], clients[1], clients[2])
        let proctor = Staff.proctor(room)
        let examiner = Staff.examiner(plan.rooms[0].panel.first { !$0.chief }!.id)

        // Before entry: no grant (R64: from entry on).
        await expectCode(.failedPrecondition, "a phone before entering") { _ = try await phoneGrant(a, .main) }
        try await waitForClock(plan.formalEntry.opens)
        for x in clients {
            _ = try await x.enter(.formal, .main)
            _ = try await x.enter(.formal, .secondary)
        }

        // Grants, and what Janus admits with them.
        let aMain = try await phoneGrant(a, .main)
        let aSec = try await phoneGrant(a, .secondary)
        let bMain = try await phoneGrant(b, .main)
        #expect(aMain.rooms.count == 1 && aMain.rooms[0].send == .camera && aMain.rooms[0].receive == .staffVoice)
        #expect(aSec.rooms[0].receive == MediaReceive.none, "the secondary phone plays nothing (R30)")
        #expect(aMain.janusUrl == janusAPI && aMain.joinByMs > aMain.issuedAtMs)
        let peerA = JanusPeer(janusAPI)
        let joined = try await peerA.join(room: aMain.rooms[0].room, feed: aMain.rooms[0].feedId, display: aMain.rooms[0].display,
                                          token: aMain.rooms[0].token)
        #expect(joined.ok, "A's main phone joins its own room: \(joined.code) \(joined.error)")

        // Refusals by Janus: A's grant for B's room, the secondary's token in
        // the main room, a made-up room.
        let intruder = JanusPeer(janusAPI)
        let intoB = try await intruder.join(room: bMain.rooms[0].room, feed: 4242, display: "phone:main", token: aMain.rooms[0].token)
        #expect(!intoB.ok && intoB.code == 433, "A's token in B's room: \(intoB.code) \(intoB.error)")
        let secAsMain = try await JanusPeer(janusAPI).join(room: aMain.rooms[0].room, feed: 4343, display: "phone:main", token: aSec.rooms[0].token)
        #expect(!secAsMain.ok && secAsMain.code == 433, "the secondary's token in the main room: \(secAsMain.code) \(secAsMain.error)")
        let madeUp = try await JanusPeer(janusAPI).join(room: 123_456_789, feed: 1, display: "phone:main", token: aMain.rooms[0].token)
        #expect(!madeUp.ok && madeUp.code == 426, "a made-up room: \(madeUp.code) \(madeUp.error)")
        // Nothing changed: A's room holds A's main phone only.
        #expect(try await peerA.participants(aMain.rooms[0].room)?.map(\.id) == [aMain.rooms[0].feedId])

        // Refusals by media: another candidate's device, a third phone, the
        // secondary asking with the main's device, the panel before the
        // interview, a proctor of another room, a candidate as staff.
        await expectCode(.permissionDenied, "A's token with B's device") { _ = try await phoneGrant(a, .main, device: b) }
        // A third phone: devices refuses to register it (R30), and media
        // refuses what is not a registered phone.
        await expectCode(.alreadyExists, "a third phone registering") {
            _ = try await h.call("devices", DevicesAPI.registerDevice,
                                 RegisterRequest(token: a.token, role: .main, deviceId: "\(a.examNumber)-third", account: "wx-third",
                                                 status: TestPhones.status(.main)))
        }
        await expectCode(.unauthenticated, "a third phone asking media") {
            _ = try await h.call("media", MediaAPI.grantPhone,
                                 PhoneGrantRequest(phone: PhoneCredentials(token: a.token, deviceId: "\(a.examNumber)-third", deviceKey: "k"), sitting: .formal),
                                 as: CallPrincipal(id: a.examNumber, role: .candidate))
        }
        await expectCode(.failedPrecondition, "the panel before the interview") { _ = try await staffGrant(examiner, a.examNumber) }
        await expectCode(.permissionDenied, "a proctor of another room") { _ = try await staffGrant(CallPrincipal(id: "R99-P1", role: .proctor), a.examNumber) }
        await expectCode(.permissionDenied, "a candidate asking for staff pictures") {
            _ = try await staffGrant(CallPrincipal(id: a.examNumber, role: .candidate), b.examNumber)
        }
        let proctorA = try await staffGrant(proctor, a.examNumber)
        #expect(proctorA.rooms.map(\.room) == [aMain.rooms[0].room, aSec.rooms[0].room])
        #expect(proctorA.rooms.map(\.send) == [.voice, MediaSend.none])

        // A grant past its join window: its token no longer admits (R65).
        let late = try await phoneGrant(c, .main)
        try await waitForClock(Date(unixMs: late.joinByMs))
        let lateWait = try await pollUntil("C's late token refused", within: .seconds(3)) {
            let r = try await JanusPeer(janusAPI).join(room: late.rooms[0].room, feed: late.rooms[0].feedId, display: late.rooms[0].display,
                                                       token: late.rooms[0].token)
            return !r.ok && r.code == 433
        }
        print("media test: an expired token refused \(lateWait) after its join window")

        // Disqualification (R42): B's rooms go, a new grant is refused.
        let incident = try await staff.report(b.examNumber, ground: 7, evidence: "画面中出现第二部手机", room: room)
        _ = try await staff.decide(incident.incidentId, disqualify: true, reason: "违纪", room: room)
        _ = try await pollUntil("B's room gone from Janus", within: .seconds(5)) { try await peerA.participants(bMain.rooms[0].room) == nil }
        await expectCode(.failedPrecondition, "a grant after disqualification") { _ = try await phoneGrant(b, .main) }

        // A's interview: the panel may watch A, not C (waiting).
        try await waitForClock(plan.formalEntry.closes)
        for x in [a, c] { _ = try await staff.screen(x.examNumber, room: room, .formal) }
        let interview = try await staff.startNext(room: room, .formal)
        let (now, waiting) = interview.examNumber == a.examNumber ? (a, c) : (c, a)
        let panel = try await staffGrant(examiner, now.examNumber)
        #expect(panel.basis == "interviewing" && panel.rooms.allSatisfy { $0.send == MediaSend.none && $0.receive == .phone })
        await expectCode(.failedPrecondition, "the panel watching someone waiting") { _ = try await staffGrant(examiner, waiting.examNumber) }
        let nowMain = try await phoneGrant(now, .main)
        let peerNow = JanusPeer(janusAPI)
        #expect(try await peerNow.join(room: nowMain.rooms[0].room, feed: nowMain.rooms[0].feedId, display: nowMain.rooms[0].display,
                                       token: nowMain.rooms[0].token).ok)

        // Faults: Janus SIGKILLed mid-sitting. The launcher starts it again
        // (as compose's restart policy would); media sees the restart (a new
        // Janus session: media.server.restored with a new epoch, after
        // media.server.lost if it noticed the gap) and re-makes the rooms.
        let serverEvents = try h.events("media", ["media.server."])
        let janusPID = h.launcher.readyLine("janus")?.split(separator: " ").first { $0.hasPrefix("pid=") }.flatMap { Int32($0.dropFirst(4)) }
        #expect(janusPID != nil, "janus-run's READY line names Janus's pid")
        let killedAt = ContinuousClock.now
        kill(janusPID ?? 0, SIGKILL)
        let restored = try await within(.seconds(30), "media.server.restored after the SIGKILL") {
            for await e in serverEvents where e.topic == "media.server.restored" {
                return try e.decode(MediaServerEvent.self)
            }
            throw JanusTestError("no media.server.restored")
        }
        let restoredAt = ContinuousClock.now
        #expect(restored.epoch > nowMain.serverEpoch, "a new Janus session after the restart")
        // The launcher's new READY line may come a moment after media
        // reached the new Janus (janus-run checks its own Janus too).
        let oldPID = janusPID ?? 0
        _ = try await pollUntil("the launcher's READY line of the new Janus", within: .seconds(10)) {
            h.launcher.readyLine("janus").map { !$0.contains("pid=\(oldPID)") } ?? false
        }
        let remade = try await pollUntil("the interviewed candidate's room re-made", within: .seconds(10)) {
            try await JanusPeer(janusAPI).participants(nowMain.rooms[0].room) != nil
        }
        print("media test: Janus SIGKILLed; media restored \(restoredAt - killedAt) later (launcher back-off 1 s + Janus's start); rooms re-made \(remade) after that")
        let again = try await phoneGrant(now, .main)
        #expect(again.serverEpoch > nowMain.serverEpoch, "the grant tells the page Janus restarted")
        let peerAgain = JanusPeer(janusAPI)
        let rejoined = try await peerAgain.join(room: again.rooms[0].room, feed: again.rooms[0].feedId, display: again.rooms[0].display,
                                                token: again.rooms[0].token)
        #expect(rejoined.ok, "a fresh grant joins the re-made room: \(rejoined.code) \(rejoined.error)")

        // Media SIGKILLed: no grant lost; a participant no grant explains
        // (joined with a valid token but another id while media was down) is
        // kicked once media is back.
        let sneaky = try await phoneGrant(now, .secondary)
        let before = try await h.call("media", MediaAPI.listRooms, ListMediaRoomsRequest(), as: Staff.ops)
        h.launcher.signal("media", SIGKILL)
        _ = await h.launcher.waitExit("media", timeout: .seconds(10))
        let rogue = JanusPeer(janusAPI)
        let rogueJoin = try await rogue.join(room: sneaky.rooms[0].room, feed: 777_777, display: "phone:secondary", token: sneaky.rooms[0].token)
        #expect(rogueJoin.ok, "\(rogueJoin.code) \(rogueJoin.error)")
        try await h.start("media", ["--join-seconds", "4"])
        let after = try await h.call("media", MediaAPI.listRooms, ListMediaRoomsRequest(), as: Staff.ops)
        let liveBefore = Set(before.rooms.filter(\.live).flatMap(\.grantIds))
        #expect(liveBefore.isSubset(of: Set(after.rooms.flatMap(\.grantIds))), "no grant lost in a SIGKILL")
        _ = try await pollUntil("the unexplained participant kicked", within: .seconds(5)) {
            try await rogue.participants(sneaky.rooms[0].room)?.contains { $0.id == 777_777 } == false
        }

        // The interview ends (R16): within a second, its rooms are gone from
        // Janus, participants and all.
        let ended = try h.events("timing", ["timing.interview.ended"])
        try await waitForClock(Date(unixMs: interview.readingEndsAtMs))   // R17: ending early is for the answer
        _ = try await now.endInterview(.formal)
        let endEvent = try await within(.seconds(10), "timing.interview.ended") {
            for await e in ended { return e }
            throw JanusTestError("no end event")
        }
        let gone = try await pollUntil("the rooms gone from Janus", within: .seconds(3), every: .milliseconds(20)) {
            try await JanusPeer(janusAPI).participants(again.rooms[0].room) == nil
        }
        let sinceEnd = Date().timeIntervalSince(Date(unixMs: endEvent.header.serverTimeMs))
        print("media test: rooms gone \(gone) after the test saw the end, \(String(format: "%.2f", sinceEnd)) s after timing's end")
        #expect(sinceEnd < 1.5, "rooms gone within a second of the interview's end (plus the poll's step)")
        await expectCode(.failedPrecondition, "a phone after its interview ended (R18)") { _ = try await phoneGrant(now, .main) }
        await expectCode(.failedPrecondition, "the panel after the interview") { _ = try await staffGrant(examiner, now.examNumber) }
        await peerA.keepalive()
    }
}
