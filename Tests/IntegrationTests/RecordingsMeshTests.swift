import Bus
import Crypto
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

// Issue 14's "must show" for recordings (R36-R39), through real processes
// (roster, timing, devices, recordings): chunks stored durably and once,
// every bad chunk refused with nothing kept, a SIGKILL mid-chunk losing no
// acknowledged chunk and serving no half-written blob, a resume after a
// drop without duplicates, completeness checked after the end, reads only
// for the chief and ops (each an event), export and verify.

func sha256Hex(_ bytes: [UInt8]) -> String { SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }

/// A phone uploading its recording: the credentials and where it stands.
struct Uploader: Sendable {
    let h: MeshHarness
    let phone: PhoneCredentials

    func create(_ role: DeviceRole) async throws -> UploadState {
        try await h.call("recordings", RecordingsAPI.createUpload,
                         CreateUploadRequest(phone: phone, sitting: .formal, role: role, mimeType: "video/webm;codecs=vp8,opus"))
    }

    func append(_ id: String, _ index: Int, offset: UInt64, _ data: [UInt8], media: (Int64, Int64), final: Bool = false,
                sha: String? = nil, byteCount: UInt32? = nil) async throws -> UploadState {
        try await h.call("recordings", RecordingsAPI.appendChunk,
                         AppendChunkRequest(phone: phone, recordingId: id, index: UInt32(index), offset: offset, mediaStartMs: media.0,
                                            mediaEndMs: media.1, byteCount: byteCount ?? UInt32(data.count), sha256: sha ?? sha256Hex(data),
                                            data: Data(data), final: final))
    }

    func status(_ id: String) async throws -> UploadState {
        try await h.call("recordings", RecordingsAPI.getUpload, UploadRequest(phone: phone, recordingId: id))
    }
}

/// Synthetic video bytes: chunk `i` of a recording (deterministic).
func videoChunk(_ seed: Int, _ i: Int, size: Int) -> [UInt8] {
    var x = UInt64(seed &* 7919 &+ i &* 104_729 &+ 1)
    return (0..<size).map { _ in
        x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: x >> 33)
    }
}

func expectCode(_ code: RPCCode, _ what: String, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("\(what): accepted, expected \(code.name)")
    } catch let e as RPCError {
        #expect(e.code == code, "\(what): \(e.code.name) \(e.message)")
        #expect(!e.message.isEmpty)
    } catch {
        Issue.record("\(what): \(error)")
    }
}

@Suite("recordings through real processes (R36-R39)", .serialized)
struct RecordingsMeshTests {
    @Test func chunksAreDurableOnceCheckedAndSurviveASIGKILL() async throws {
        let h = try MeshHarness(tag: "rec", services: ["roster", "timing", "devices", "recordings"])
        let people = DemoRoster(count: 2, seed: 31)
        let planJSON = people.planJSON(roomSize: 2, confirmation: ("+17s", "+32s"), mockEntry: ("+33s", "+35s"),
                                       formalEntry: ("+36s", "+42s"), publication: "+1h", readingSeconds: 15, answeringSeconds: 15,
                                       panelSize: 2)
        let devicesConfig = h.dir + "/devices.json"
        try Data(#"{ "loss_timeout_seconds": 3, "long_outage_seconds": 30, "max_interruptions": 9 }"#.utf8)
            .write(to: URL(fileURLWithPath: devicesConfig))
        let recordingsArgs = ["--grace", "3", "--max-gap", "3"]
        let day = try await OpenedDay(h, people, planJSON: planJSON, more: [("devices", ["--config", devicesConfig]),
                                                                           ("recordings", recordingsArgs)])
        let (staff, plan, room, clients) = (day.staff, day.plan, day.room, day.clients)
        for c in clients { _ = try await c.confirmWithPhoto() }
        let phones = TestPhones(mesh: h.tools)
        for c in clients { try await phones.register(c) }
        let beating = phones.run()
        defer { beating.cancel() }
        func uploader(_ c: CandidateClient, _ channel: Channel, token: String? = nil, key: String? = nil) -> Uploader {
            let id = c.deviceID(channel)
            return Uploader(h: h, phone: PhoneCredentials(token: token ?? c.token, deviceId: id, deviceKey: key ?? phones.key(id)))
        }
        let blobsDir = h.dir + "/recordings-blobs"
        func blobFiles() -> [String] {
            (0..<256).flatMap { i -> [String] in
                let shard = blobsDir + "/" + String(format: "%02x", i)
                return ((try? FileManager.default.contentsOfDirectory(atPath: shard)) ?? []).map { shard + "/" + $0 }
            }
        }

        // No interview yet: no recording (R36).
        await expectCode(.failedPrecondition, "a recording before the interview") { _ = try await uploader(clients[0], .main).create(.main) }

        try await waitForClock(plan.formalEntry.opens)
        for c in clients {
            _ = try await c.enter(.formal, .main)
            _ = try await c.enter(.formal, .secondary)
        }
        try await waitForClock(plan.formalEntry.closes)
        for c in clients { _ = try await staff.screen(c.examNumber, room: room, .formal) }
        let interview = try await staff.startNext(room: room, .formal)
        let a = clients.first { $0.examNumber == interview.examNumber }!
        let b = clients.first { $0.examNumber != interview.examNumber }!
        let mainPhone = uploader(a, .main), secondaryPhone = uploader(a, .secondary)
        let completeness = try h.events("recordings", ["recordings.completeness."])
        let reads = try h.events("recordings", ["recordings.recording.read"])

        // Create (as soon as timing says it started: recordings asks timing
        // if its event has not arrived yet), then again: the same, resumed.
        let created = try await mainPhone.create(.main)
        #expect(created.recordingId == "\(a.examNumber)-formal-main" && created.nextIndex == 0 && created.maxChunkBytes == 1 << 20)
        #expect(try await mainPhone.create(.main).recordingId == created.recordingId)
        let id = created.recordingId
        let span = (interview.startedAtMs, interview.endsAtMs)
        let chunkCount = 30, size = 200_000
        let step = (span.1 - span.0) / Int64(chunkCount)
        func media(_ i: Int) -> (Int64, Int64) { (span.0 + Int64(i) * step, i == chunkCount - 1 ? span.1 : span.0 + Int64(i + 1) * step) }
        // A phone sends a chunk once it has recorded it: recordings takes no
        // media ahead of its clock (issue 22).
        func recorded(_ i: Int) async throws { try await waitForClock(Date(timeIntervalSince1970: Double(media(i).1) / 1000)) }
        var sent: [[UInt8]] = []
        var offset: UInt64 = 0
        for i in 0..<5 {
            try await recorded(i)
            let data = videoChunk(1, i, size: size)
            let st = try await mainPhone.append(id, i, offset: offset, data, media: media(i))
            offset += UInt64(data.count)
            sent.append(data)
            #expect(st.nextIndex == UInt32(i + 1) && st.nextOffset == offset && !st.duplicate)
        }

        // Bad input: each a clear error, nothing stored.
        let blobsBefore = blobFiles().count
        let next = videoChunk(1, 5, size: size)
        await expectCode(.invalidArgument, "a wrong hash") {
            _ = try await mainPhone.append(id, 5, offset: offset, next, media: media(5), sha: sha256Hex([1, 2, 3]))
        }
        await expectCode(.invalidArgument, "an oversized chunk") {
            _ = try await mainPhone.append(id, 5, offset: offset, videoChunk(9, 9, size: (1 << 20) + 1), media: media(5))
        }
        await expectCode(.invalidArgument, "a byte count that is not the data's") {
            _ = try await mainPhone.append(id, 5, offset: offset, next, media: media(5), byteCount: 7)
        }
        await expectCode(.outOfRange, "out of order") { _ = try await mainPhone.append(id, 7, offset: offset, next, media: media(7)) }
        await expectCode(.outOfRange, "a wrong offset") { _ = try await mainPhone.append(id, 5, offset: offset + 1, next, media: media(5)) }
        await expectCode(.permissionDenied, "the other phone's credentials") {
            _ = try await secondaryPhone.append(id, 5, offset: offset, next, media: media(5))
        }
        await expectCode(.permissionDenied, "the other phone creating the main recording") { _ = try await secondaryPhone.create(.main) }
        await expectCode(.permissionDenied, "another candidate's token with this phone") {
            _ = try await uploader(a, .main, token: b.token).append(id, 5, offset: offset, next, media: media(5))
        }
        await expectCode(.unauthenticated, "a wrong device key") {
            _ = try await uploader(a, .main, key: String(repeating: "0", count: 32)).append(id, 5, offset: offset, next, media: media(5))
        }
        await expectCode(.unauthenticated, "no token") {
            _ = try await uploader(a, .main, token: "").append(id, 5, offset: offset, next, media: media(5))
        }
        await expectCode(.failedPrecondition, "a chunk for an interview not running") { _ = try await uploader(b, .main).create(.main) }
        #expect(blobFiles().count == blobsBefore)
        #expect(try await mainPhone.status(id).nextIndex == 5)

        // A drop: the answer to chunk 4 was lost, the phone sends it again:
        // answered as a duplicate, stored once.
        let again = try await mainPhone.append(id, 4, offset: offset - UInt64(size), sent[4], media: media(4))
        #expect(again.duplicate && again.nextIndex == 5 && again.nextOffset == offset)
        #expect(blobFiles().count == blobsBefore)

        // The secondary phone records the first half of the interview and never finishes.
        let sec = try await secondaryPhone.create(.secondary)
        var secOffset: UInt64 = 0
        for i in 0..<(chunkCount / 2) {
            try await recorded(i)
            let data = videoChunk(2, i, size: 50_000)
            secOffset = try await secondaryPhone.append(sec.recordingId, i, offset: secOffset, data, media: media(i)).nextOffset
        }

        // SIGKILL mid-chunk: a phone keeps sending; recordings dies under it.
        let acked = Mutex<[Int]>([])
        let sender = Task { () -> Void in
            var off = offset
            for i in 5..<chunkCount {
                let data = videoChunk(1, i, size: size)
                do {
                    try await recorded(i)
                    let st = try await mainPhone.append(id, i, offset: off, data, media: media(i), final: i == chunkCount - 1)
                    off = st.nextOffset
                    acked.withLock { $0.append(i) }
                } catch { return }
            }
        }
        for i in 5..<chunkCount { sent.append(videoChunk(1, i, size: size)) }
        _ = try await within(.seconds(30), "a few chunks to be acknowledged") { () -> Bool in
            while acked.withLock({ $0.count }) < 3 { await Task.yield() }
            return true
        }
        h.launcher.signal("recordings", SIGKILL)
        _ = await h.launcher.waitExit("recordings", timeout: .seconds(10))
        await sender.value
        let ackedBeforeKill = acked.withLock { $0 }
        #expect(!ackedBeforeKill.isEmpty)
        // On disk: every blob whole (it hashes to its name); no temporary left served.
        for path in blobFiles() {
            let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
            #expect(sha256Hex(bytes) == (path as NSString).lastPathComponent, "a half-written blob under its name: \(path)")
        }
        try await h.start("recordings", recordingsArgs)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: blobsDir + "/tmp")) ?? []).isEmpty)
        // Every acknowledged chunk is in the ledger with its hash, and its blob is there.
        let listed = try await h.call("recordings", RecordingsAPI.listRecordings,
                                      InterviewRecordingsRequest(examNumber: a.examNumber, sitting: .formal), as: Staff.chief(room))
        let mainView = try #require(listed.recordings.first { $0.role == .main })
        for i in [0, 1, 2, 3, 4] + ackedBeforeKill {
            let row = mainView.chunkList.first { $0.index == UInt32(i) }
            #expect(row?.sha256 == sha256Hex(sent[i]), "acknowledged chunk \(i) lost by the kill")
            #expect(FileManager.default.fileExists(atPath: blobsDir + "/" + sha256Hex(sent[i]).prefix(2) + "/" + sha256Hex(sent[i])))
        }
        // Resume after the drop: ask where the server's copy ends, send the rest once.
        var st = try await mainPhone.status(id)
        #expect(Int(st.nextIndex) >= 5 + ackedBeforeKill.count)
        while st.nextIndex < UInt32(chunkCount) {
            let i = Int(st.nextIndex)
            try await recorded(i)
            st = try await mainPhone.append(id, i, offset: st.nextOffset, sent[i], media: media(i), final: i == chunkCount - 1)
            #expect(!st.duplicate)
        }
        #expect(st.finished && st.nextOffset == UInt64(chunkCount * size))

        // R38: checked after the end plus the grace period.
        let checked = try await within(.seconds(60), "the completeness check") { () -> CompletenessEvent? in
            for await e in completeness {
                let c = try e.decode(CompletenessEvent.self)
                if c.examNumber == a.examNumber { #expect(e.topic == "recordings.completeness.incomplete"); return c }
            }
            return nil
        }
        let problems = try #require(checked?.completeness?.problems)
        #expect(Set(problems.map(\.kind)) == ["gap", "unfinished"])
        #expect(problems.allSatisfy { $0.role == .secondary })
        await expectCode(.failedPrecondition, "a chunk after the check") {
            _ = try await secondaryPhone.append(sec.recordingId, chunkCount / 2, offset: secOffset, videoChunk(2, 99, size: 10), media: media(chunkCount / 2))
        }

        // R39: reads for the chief and ops only; each an event naming the reader.
        await expectCode(.permissionDenied, "a proctor reading") {
            _ = try await h.call("recordings", RecordingsAPI.readRange, ReadRangeRequest(recordingId: id, offset: 0, length: 1000),
                                 as: Staff.proctor(room))
        }
        var whole: [UInt8] = []
        while whole.count < chunkCount * size {
            let r = try await h.call("recordings", RecordingsAPI.readRange,
                                     ReadRangeRequest(recordingId: id, offset: UInt64(whole.count), length: 1 << 20), as: Staff.ops)
            #expect(r.totalBytes == UInt64(chunkCount * size) && r.finished)
            whole += r.data
        }
        #expect(whole == sent.flatMap { $0 })
        let read = try await within(.seconds(10), "the read event") { () -> ReadEvent? in
            for await e in reads { return try e.decode(ReadEvent.self) }
            return nil
        }
        #expect(read?.reader == "ops:ops" && read?.recordingId == id)

        // Export: both videos and a manifest of hashes.
        let exported = try await h.call("recordings", RecordingsAPI.export,
                                        ExportRecordingsRequest(examNumber: a.examNumber, sitting: .formal, folder: h.dir + "/export"),
                                        as: Staff.ops, timeout: .seconds(60))
        let mainFile = try #require(exported.files.first { $0.role == .main })
        #expect([UInt8](FileManager.default.contents(atPath: mainFile.path) ?? Data()) == whole)
        #expect(mainFile.sha256 == sha256Hex(whole))
        #expect(FileManager.default.fileExists(atPath: exported.manifestPath))

        // Verify: all whole; then one blob corrupted on disk is found, and never served.
        let clean = try await h.call("recordings", RecordingsAPI.verify, VerifyBlobsRequest(), as: Staff.ops, timeout: .seconds(60))
        #expect(clean.problems.isEmpty && clean.blobsChecked == UInt32(chunkCount + chunkCount / 2))
        let victim = sha256Hex(sent[2])
        try Data([0, 1, 2]).write(to: URL(fileURLWithPath: blobsDir + "/" + victim.prefix(2) + "/" + victim))
        let dirty = try await h.call("recordings", RecordingsAPI.verify, VerifyBlobsRequest(), as: Staff.ops, timeout: .seconds(60))
        #expect(dirty.problems.map(\.sha256) == [victim] && dirty.problems.first?.problem == "corrupt")
        await expectCode(.dataLoss, "a corrupt blob read") {
            _ = try await h.call("recordings", RecordingsAPI.readRange,
                                 ReadRangeRequest(recordingId: id, offset: UInt64(2 * size), length: 10), as: Staff.chief(room))
        }
        await h.shutdown()
    }

    /// Issue 22, through the gateway's route as found: `PATCH
    /// /api/v1/recordings/{id}` with `Media-End` in the year 2100, a chunk
    /// starting 3 s before the interview, and one small chunk claiming the
    /// interview so far are each a 400 saying what and where, and the
    /// server's copy stays where it was; a chunk within the interview is taken.
    @Test func mediaTimesAreCheckedAtTheGatewaysRoute() async throws {
        let h = try MeshHarness(tag: "recgw", services: ["roster", "timing", "devices", "recordings", "gateway"])
        let people = DemoRoster(count: 2, seed: 37)
        let planJSON = people.planJSON(roomSize: 2, confirmation: ("+17s", "+32s"), mockEntry: ("+33s", "+35s"),
                                       formalEntry: ("+36s", "+42s"), publication: "+1h", readingSeconds: 30, answeringSeconds: 30,
                                       panelSize: 2)
        let day = try await OpenedDay(h, people, planJSON: planJSON,
                                      more: [("devices", []), ("recordings", []), ("gateway", ["--http", "127.0.0.1:0"])])
        let (staff, plan, room, clients) = (day.staff, day.plan, day.room, day.clients)
        for c in clients { _ = try await c.confirmWithPhoto() }
        let phones = TestPhones(mesh: h.tools)
        for c in clients { try await phones.register(c) }
        let beating = phones.run()
        defer { beating.cancel() }
        try await waitForClock(plan.formalEntry.opens)
        for c in clients {
            _ = try await c.enter(.formal, .main)
            _ = try await c.enter(.formal, .secondary)
        }
        try await waitForClock(plan.formalEntry.closes)
        for c in clients { _ = try await staff.screen(c.examNumber, room: room, .formal) }
        let interview = try await staff.startNext(room: room, .formal)
        let a = try #require(clients.first { $0.examNumber == interview.examNumber })

        let ready = try #require(h.launcher.readyLine("gateway"))
        let address = try #require(ready.split(separator: " ").first { $0.hasPrefix("http=") }?.dropFirst(5))
        let base = "http://\(address)/api/v1"
        let device = a.deviceID(.main)
        let phone = ["Authorization": "Bearer \(a.token)", "X-Device-Id": device, "X-Device-Key": phones.key(device)]
        func send(_ method: String, _ url: String, _ headers: [String: String], _ body: Data? = nil) async throws -> (Int, [String: Any], HTTPURLResponse) {
            var r = URLRequest(url: URL(string: url)!)
            r.httpMethod = method
            for (k, v) in headers { r.setValue(v, forHTTPHeaderField: k) }
            r.httpBody = body
            let (data, response) = try await URLSession.shared.data(for: r)
            let http = try #require(response as? HTTPURLResponse)
            return (http.statusCode, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:], http)
        }
        var (status, body, _) = try await send("POST", base + "/sittings/formal/recording", phone.merging(["Content-Type": "application/json"]) { $1 },
                                               Data(#"{"role":"main","mimeType":"video/webm"}"#.utf8))
        #expect(status == 201, "\(body)")
        let id = try #require(body["recordingId"] as? String)
        func patch(_ index: Int, offset: Int, size: Int, _ media: (Int64, Int64)) async throws -> (Int, [String: Any], HTTPURLResponse) {
            let data = videoChunk(5, index, size: size)
            return try await send("PATCH", base + "/recordings/\(id)", phone.merging([
                "Content-Type": "application/offset+octet-stream", "Upload-Index": "\(index)", "Upload-Offset": "\(offset)",
                "Upload-Checksum": "sha256 " + sha256Hex(data), "Media-Start": "\(media.0)", "Media-End": "\(media.1)", "Upload-Final": "false",
            ]) { $1 }, Data(data))
        }
        func serversCopy() async throws -> (Int, Int) {
            let (s, b, _) = try await send("GET", base + "/recordings/\(id)/upload", phone)
            #expect(s == 200, "\(b)")
            return (b["nextIndex"] as? Int ?? -1, b["nextOffset"] as? Int ?? -1)
        }

        // Six seconds into the interview (long enough for a thin chunk to show).
        let start = interview.startedAtMs
        try await waitForClock(Date(timeIntervalSince1970: Double(start + 6000) / 1000))
        let now = unixMillis()
        for (what, size, media, field, mentions) in [
            ("Media-End in the year 2100", 4000, (start, Int64(4_102_444_800_000)), "media_end_ms", "晚于服务器当前时间"),
            ("a chunk starting 3 s before the interview", 4000, (start - 3000, start + 2000), "media_start_ms", "早于面试开始"),
            ("100 bytes claiming the interview so far", 100, (start, now), "media_start_ms/media_end_ms", "字节"),
        ] {
            (status, body, _) = try await patch(0, offset: 0, size: size, media)
            #expect(status == 400 && body["code"] as? String == "INVALID_ARGUMENT", "\(what): \(status) \(body)")
            let message = body["message"] as? String ?? ""
            #expect(message.hasPrefix(field) && message.contains("录像 \(id) 第 0 段") && message.contains(mentions), "\(what): \(message)")
            #expect(try await serversCopy() == (0, 0), "\(what) moved the server's copy")
        }
        // Within the interview: taken.
        let (ok, _, response) = try await patch(0, offset: 0, size: 4000, (start, start + 2000))
        #expect(ok == 204)
        #expect(response.value(forHTTPHeaderField: "Upload-Offset") == "4000")
        #expect(try await serversCopy() == (1, 4000))
        await h.shutdown()
    }
}
