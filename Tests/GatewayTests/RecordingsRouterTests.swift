import Bus
import ExamContracts
import Foundation
import GatewayApp
import GatewayCore
import Hummingbird
import HummingbirdTesting
import NIOCore
import Passwords
import Synchronization
import Testing

/// A stand-in for recordings with the contract's rules (RECORDINGS-CONTRACT.md):
/// token and device key prove the phone, a phone writes its own role's
/// recording, chunks at the expected index and offset, a repeat kept once.
/// Candidate A's formal interview is running; the mock one is not.
final class FakeRecordings: Sendable {
    struct Rec: Sendable {
        var chunks: [(sha: String, data: Data)] = []
        var finished = false
        var mime = ""
    }
    let recs = Mutex<[String: Rec]>([:])
    let reads = Mutex<[(String, String)]>([])

    func bytes(_ id: String) -> Data { recs.withLock { $0[id].map { $0.chunks.reduce(into: Data()) { $0 += $1.data } } ?? Data() } }
    func chunkCount(_ id: String) -> Int { recs.withLock { $0[id]?.chunks.count ?? 0 } }

    static let keys = ["A-main": ("key-A-main", DeviceRole.main), "A-sec": ("key-A-sec", DeviceRole.secondary)]

    func role(_ p: PhoneCredentials?) throws -> DeviceRole {
        guard let p, p.token == "tok-A" else { throw RPCError(.unauthenticated, "token is not valid (expired or unknown)") }
        guard let entry = Self.keys[p.deviceId], entry.0 == p.deviceKey else {
            throw RPCError(.unauthenticated, "device \(p.deviceId): wrong device key")
        }
        return entry.1
    }

    func state(_ id: String, _ r: Rec, duplicate: Bool = false) -> UploadState {
        UploadState(recordingId: id, examNumber: "2022110001", sitting: .formal, role: id.hasSuffix("main") ? .main : .secondary,
                    nextIndex: UInt32(r.chunks.count), nextOffset: UInt64(r.chunks.reduce(0) { $0 + $1.data.count }), finished: r.finished,
                    duplicate: duplicate, maxChunkBytes: 1_048_576, serverTimeMs: 1, mimeType: r.mime)
    }

    func install(on m: FakeMesh) {
        m.on(RecordingsAPI.createUpload) { [self] req, _ in
            let role = try role(req.phone)
            guard req.sitting == .formal || req.sitting == .unspecified else {
                throw RPCError(.failedPrecondition, "candidate 2022110001 has no interview running in the mock sitting")
            }
            if req.role != .unspecified && req.role != role {
                throw RPCError(.permissionDenied, "device \(req.phone?.deviceId ?? "") is the \(role == .main ? "main" : "secondary") phone")
            }
            let id = "2022110001-formal-\(role == .main ? "main" : "secondary")"
            return recs.withLock { all in
                if all[id] == nil { all[id] = Rec(mime: req.mimeType) }
                return state(id, all[id]!)
            }
        }
        m.on(RecordingsAPI.getUpload) { [self] req, _ in
            _ = try role(req.phone)
            guard let r = recs.withLock({ $0[req.recordingId] }) else { throw RPCError(.notFound, "no recording \(req.recordingId)") }
            return state(req.recordingId, r)
        }
        m.on(RecordingsAPI.appendChunk) { [self] req, _ in
            let role = try role(req.phone)
            guard req.recordingId.hasSuffix(role == .main ? "-main" : "-secondary") else {
                throw RPCError(.permissionDenied, "device \(req.phone?.deviceId ?? "") may not write recording \(req.recordingId) (the other phone's)")
            }
            guard Secrets.sha256Hex(req.data) == req.sha256, req.byteCount == req.data.count else {
                throw RPCError(.invalidArgument, "sha256: chunk \(req.index) does not match; nothing kept")
            }
            return try recs.withLock { all in
                guard var r = all[req.recordingId] else { throw RPCError(.notFound, "no recording \(req.recordingId)") }
                if Int(req.index) < r.chunks.count {
                    guard r.chunks[Int(req.index)].sha == req.sha256 else {
                        throw RPCError(.alreadyExists, "chunk \(req.index) is stored with another hash")
                    }
                    return state(req.recordingId, r, duplicate: true)
                }
                let next = state(req.recordingId, r)
                guard req.index == next.nextIndex, req.offset == next.nextOffset else {
                    throw RPCError(.outOfRange, "chunk \(req.index) at offset \(req.offset): expected index \(next.nextIndex) at offset \(next.nextOffset)")
                }
                if r.finished { throw RPCError(.failedPrecondition, "recording \(req.recordingId) is finished") }
                r.chunks.append((req.sha256, req.data))
                r.finished = req.final
                all[req.recordingId] = r
                return state(req.recordingId, r)
            }
        }
        m.on(RecordingsAPI.readRange) { [self] req, who in
            guard who.role == .chiefExaminer || who.role == .ops else { throw RPCError(.permissionDenied, "only the chief and ops read recordings") }
            reads.withLock { $0.append((who.id, req.recordingId)) }
            let all = bytes(req.recordingId)
            guard !all.isEmpty else { throw RPCError(.notFound, "no recording \(req.recordingId)") }
            guard req.offset < all.count else { throw RPCError(.outOfRange, "offset \(req.offset) is past the end (\(all.count))") }
            let end = min(all.count, Int(req.offset) + Int(req.length))
            return ReadRangeReply(recordingId: req.recordingId, offset: req.offset, data: all.subdata(in: Int(req.offset)..<end),
                                  totalBytes: UInt64(all.count), mimeType: "video/webm", finished: true)
        }
        m.on(RecordingsAPI.listRecordings) { [self] req, who in
            guard who.role == .chiefExaminer || who.role == .ops else { throw RPCError(.permissionDenied, "only the chief and ops read recordings") }
            let views = recs.withLock { all in
                all.keys.sorted().map { id in
                    RecordingView(recordingId: id, examNumber: req.examNumber, sitting: .formal, role: id.hasSuffix("main") ? .main : .secondary,
                                  chunks: UInt32(all[id]!.chunks.count), finished: all[id]!.finished)
                }
            }
            return InterviewRecordings(examNumber: req.examNumber, sitting: req.sitting, recordings: views,
                                       completeness: InterviewCompleteness(status: .pending))
        }
    }
}

func chunkHeaders(index: Int, offset: Int, data: [UInt8], device: String = "A-main", key: String? = nil, token: String = "tok-A",
                  final: Bool = false, sha: String? = nil) -> HTTPFields {
    var h: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/offset+octet-stream"]
    h[.init("X-Device-Id")!] = device
    h[.init("X-Device-Key")!] = key ?? "key-\(device)"
    h[.init("Upload-Index")!] = String(index)
    h[.init("Upload-Offset")!] = String(offset)
    h[.init("Upload-Checksum")!] = "sha256 " + (sha ?? Secrets.sha256Hex(Data(data)))
    h[.init("Media-Start")!] = String(1_700_000_000_000 + index * 2000)
    h[.init("Media-End")!] = String(1_700_000_002_000 + index * 2000)
    if final { h[.init("Upload-Final")!] = "true" }
    return h
}

func phoneHeaders(_ device: String = "A-main", token: String = "tok-A") -> HTTPFields {
    var h = bearer(token)
    h[.init("X-Device-Id")!] = device
    h[.init("X-Device-Key")!] = "key-\(device)"
    return h
}

@Suite struct RecordingsRouterTests {
    // R36, R37: create, append in order, a repeat kept once, the offset
    // after a drop; the gateway calls as the candidate with the phone's proof.
    @Test func uploadResumesAndARepeatIsKeptOnce() async throws {
        let mesh = FakeMesh.day()
        let rec = FakeRecordings()
        rec.install(on: mesh)
        let id = "2022110001-formal-main"
        let c0 = Array(repeating: UInt8(1), count: 1000), c1 = Array(repeating: UInt8(2), count: 500)
        try await app(mesh).test(.router) { client in
            try await client.execute(uri: "/api/v1/sittings/formal/recording", method: .post, headers: phoneHeaders(),
                                     body: json(#"{"mimeType":"video/webm;codecs=vp8,opus"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .created, "\(String(buffer: r.body))")
                #expect(r.headers[.location] == "/api/v1/recordings/\(id)")
                #expect(r.headers[.init("Upload-Offset")!] == "0")
                let v = try JSONDecoder().decode(UploadView.self, from: Data(buffer: r.body))
                #expect(v.recordingId == id && v.nextIndex == 0 && v.role == "main" && v.mimeType == "video/webm;codecs=vp8,opus")
            }
            let create = try #require(mesh.calls("CreateUpload").first)
            #expect(create.actor == CallPrincipal(id: "2022110001", role: .candidate))
            let cr = try #require(create.request as? CreateUploadRequest)
            #expect(cr.phone == PhoneCredentials(token: "tok-A", deviceId: "A-main", deviceKey: "key-A-main") && cr.sitting == .formal)

            try await client.execute(uri: "/api/v1/recordings/\(id)", method: .patch, headers: chunkHeaders(index: 0, offset: 0, data: c0),
                                     body: ByteBuffer(bytes: c0)) { (r: TestResponse) async throws in
                #expect(r.status == .noContent, "\(String(buffer: r.body))")
                #expect(r.headers[.init("Upload-Offset")!] == "1000" && r.headers[.init("Upload-Index")!] == "1")
            }
            // The phone lost the answer to chunk 0 and sends it again: kept once.
            try await client.execute(uri: "/api/v1/recordings/\(id)", method: .patch, headers: chunkHeaders(index: 0, offset: 0, data: c0),
                                     body: ByteBuffer(bytes: c0)) { (r: TestResponse) async throws in
                #expect(r.status == .noContent)
                #expect(r.headers[.init("Upload-Duplicate")!] == "true" && r.headers[.init("Upload-Offset")!] == "1000")
            }
            // After a drop: where does the server's copy end (HEAD, and as JSON)?
            try await client.execute(uri: "/api/v1/recordings/\(id)", method: .head, headers: phoneHeaders()) { (r: TestResponse) async throws in
                #expect(r.status == .ok)
                #expect(r.headers[.init("Upload-Offset")!] == "1000" && r.headers[.init("Upload-Index")!] == "1")
                #expect(r.headers[.init("Upload-Finished")!] == "false")
            }
            try await client.execute(uri: "/api/v1/recordings/\(id)/upload", method: .get, headers: phoneHeaders()) { (r: TestResponse) async throws in
                let v = try JSONDecoder().decode(UploadView.self, from: Data(buffer: r.body))
                #expect(v.nextIndex == 1 && v.nextOffset == 1000)
            }
            try await client.execute(uri: "/api/v1/recordings/\(id)", method: .patch,
                                     headers: chunkHeaders(index: 1, offset: 1000, data: c1, final: true),
                                     body: ByteBuffer(bytes: c1)) { (r: TestResponse) async throws in
                #expect(r.status == .noContent)
                #expect(r.headers[.init("Upload-Finished")!] == "true" && r.headers[.init("Upload-Offset")!] == "1500")
            }
        }
        #expect(rec.bytes(id) == Data(c0 + c1))
        #expect(rec.chunkCount(id) == 2)
        let append = try #require(mesh.calls("AppendChunk").last?.request as? AppendChunkRequest)
        #expect(append.final && append.byteCount == 500 && append.mediaStartMs == 1_700_000_002_000 && append.mediaEndMs == 1_700_000_004_000)
    }

    // Bad input (R37, R39, R60): each a clear error saying what and where,
    // and nothing stored. Refused before the mesh where the gateway can tell.
    @Test func badChunksAreRefusedWithNothingStored() async throws {
        let mesh = FakeMesh.day()
        let rec = FakeRecordings()
        rec.install(on: mesh)
        let id = "2022110001-formal-main"
        let c0 = Array(repeating: UInt8(7), count: 300)
        try await app(mesh).test(.router) { client in
            func refused(_ what: String, _ headers: HTTPFields, _ body: [UInt8], uri: String? = nil, method: HTTPRequest.Method = .patch,
                         _ status: HTTPResponse.Status, _ code: String, _ mentions: String, reachesMesh: Bool = false) async throws {
                let before = mesh.calls("AppendChunk").count + mesh.calls("CreateUpload").count
                try await client.execute(uri: uri ?? "/api/v1/recordings/\(id)", method: method, headers: headers,
                                         body: ByteBuffer(bytes: body)) { (r: TestResponse) async throws in
                    #expect(r.status == status, "\(what): \(r.status) \(String(buffer: r.body))")
                    let e = try error(r)
                    #expect(e.code == code, "\(what): \(e)")
                    #expect(e.message.contains(mentions), "\(what): '\(e.message)' does not mention '\(mentions)'")
                }
                let after = mesh.calls("AppendChunk").count + mesh.calls("CreateUpload").count
                if !reachesMesh { #expect(after == before, "\(what) reached the mesh") }
            }
            // The interview of the mock sitting is not running.
            try await refused("no interview running", phoneHeaders(), Array(#"{"mimeType":"video/webm"}"#.utf8),
                              uri: "/api/v1/sittings/mock/recording", method: .post, .badRequest, "FAILED_PRECONDITION", "no interview running",
                              reachesMesh: true)
            try await refused("not a video type", phoneHeaders(), Array(#"{"mimeType":"text/html"}"#.utf8),
                              uri: "/api/v1/sittings/formal/recording", method: .post, .badRequest, "INVALID_ARGUMENT", "mimeType")
            var noDevice = bearer("tok-A")
            noDevice[.init("X-Device-Key")!] = "k"
            try await refused("no device id", noDevice, Array(#"{"mimeType":"video/webm"}"#.utf8),
                              uri: "/api/v1/sittings/formal/recording", method: .post, .badRequest, "INVALID_ARGUMENT", "X-Device-Id")
            try await client.execute(uri: "/api/v1/sittings/formal/recording", method: .post, headers: phoneHeaders(),
                                     body: json(#"{"mimeType":"video/webm"}"#)) { (r: TestResponse) async throws in
                #expect(r.status == .created)
            }
            // Over 1 MiB: 413 from the Content-Length, before anything else.
            let big = Array(repeating: UInt8(0), count: 1_048_577)
            try await refused("oversized", chunkHeaders(index: 0, offset: 0, data: big), big, .contentTooLarge, "RESOURCE_EXHAUSTED", "1 MiB")
            try await refused("wrong hash", chunkHeaders(index: 0, offset: 0, data: c0, sha: String(repeating: "ab", count: 32)), c0,
                              .badRequest, "INVALID_ARGUMENT", "nothing kept")
            try await refused("not sha256", chunkHeaders(index: 0, offset: 0, data: c0, sha: "xyz"), c0,
                              .badRequest, "INVALID_ARGUMENT", "Upload-Checksum")
            var noIndex = chunkHeaders(index: 0, offset: 0, data: c0)
            noIndex[.init("Upload-Index")!] = nil
            try await refused("no index", noIndex, c0, .badRequest, "INVALID_ARGUMENT", "Upload-Index: missing")
            var backwards = chunkHeaders(index: 0, offset: 0, data: c0)
            backwards[.init("Media-End")!] = "1600000000000"
            try await refused("media times backwards", backwards, c0, .badRequest, "INVALID_ARGUMENT", "Media-End")
            try await refused("empty chunk", chunkHeaders(index: 0, offset: 0, data: []), [], .badRequest, "INVALID_ARGUMENT", "empty")
            // Out of order: recordings says which index and offset it expects; tus's 409.
            try await refused("out of order", chunkHeaders(index: 1, offset: 300, data: c0), c0, .conflict, "OUT_OF_RANGE",
                              "expected index 0 at offset 0", reachesMesh: true)
            // The other phone (the secondary's key on the main recording): recordings refuses.
            try await refused("the other phone", chunkHeaders(index: 0, offset: 0, data: c0, device: "A-sec"), c0, .forbidden,
                              "PERMISSION_DENIED", "other phone", reachesMesh: true)
            // Another candidate's token on A's recording: refused at the gateway.
            try await refused("another candidate's token", chunkHeaders(index: 0, offset: 0, data: c0, token: "tok-B"), c0, .forbidden,
                              "PERMISSION_DENIED", "2022110001's")
            try await refused("a wrong device key", chunkHeaders(index: 0, offset: 0, data: c0, key: "nope"), c0, .unauthorized,
                              "UNAUTHENTICATED", "device key", reachesMesh: true)
            try await refused("not a recording id", chunkHeaders(index: 0, offset: 0, data: c0), c0,
                              uri: "/api/v1/recordings/../../etc", .notFound, "NOT_FOUND", "no such page")
            try await refused("no such recording id", chunkHeaders(index: 0, offset: 0, data: c0), c0,
                              uri: "/api/v1/recordings/2022110001-formal-nope", .notFound, "NOT_FOUND", "not a recording id")
        }
        #expect(rec.chunkCount(id) == 0, "a refused chunk was stored")
    }

    // R39: the chief of the candidate's room and ops play a recording with
    // range requests; an examiner, a proctor, another room's chief may not.
    @Test func staffPlaybackWithRangesForTheChiefAndOpsOnly() async throws {
        let f = try StaffFixture()
        defer { f.stop() }
        let rec = FakeRecordings()
        rec.install(on: f.mesh)
        let id = "2022110001-formal-main"
        let video = (0..<(2_500_000)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        rec.recs.withLock {
            $0[id] = FakeRecordings.Rec(chunks: stride(from: 0, to: video.count, by: 1_000_000).map { i in
                let d = Data(video[i..<min(video.count, i + 1_000_000)])
                return (Secrets.sha256Hex(d), d)
            }, finished: true, mime: "video/webm")
        }
        let codes = try await f.codes()
        try await f.app().test(.router) { client in
            let chief = try await signIn(client, "R01-E1", code: try #require(codes["R01-E1"]))
            let ops = try await signIn(client, "ops", code: try #require(codes["ops"]))
            let examiner = try await signIn(client, "R01-E2", code: try #require(codes["R01-E2"]))
            let otherChief = try await signIn(client, "R02-E1", code: try #require(codes["R02-E1"]))
            let url = "/api/v1/staff/recordings/\(id)/video"
            func get(_ who: StaffBrowser, range: String? = nil) async throws -> TestResponse {
                var h = who.headers(csrf: false)
                if let range { h[.range] = range }
                return try await client.execute(uri: url, method: .get, headers: h)
            }
            var r = try await get(chief, range: "bytes=1000-1999")
            #expect(r.status == .partialContent)
            #expect(r.headers[.contentRange] == "bytes 1000-1999/2500000")
            #expect(Array(buffer: r.body) == Array(video[1000...1999]))
            // Across chunk boundaries and the 1 MiB read bound.
            r = try await get(ops, range: "bytes=999000-")
            #expect(r.status == .partialContent)
            #expect(r.headers[.contentRange] == "bytes 999000-2499999/2500000")
            #expect(Array(buffer: r.body) == Array(video[999_000...]))
            r = try await get(ops, range: "bytes=-10")
            #expect(r.headers[.contentRange] == "bytes 2499990-2499999/2500000" && Array(buffer: r.body) == Array(video.suffix(10)))
            r = try await get(ops)
            #expect(r.status == .ok && r.headers[.acceptRanges] == "bytes" && Array(buffer: r.body) == video)
            r = try await get(chief, range: "bytes=2500000-")
            #expect(r.status == .rangeNotSatisfiable, "\(String(buffer: r.body))")
            #expect(r.headers[.contentRange] == "bytes */2500000")
            r = try await get(chief, range: "bytes=5-1")
            #expect(r.status == .rangeNotSatisfiable)
            let readsBefore = rec.reads.withLock { $0.count }
            for who in [examiner, otherChief] {
                r = try await get(who, range: "bytes=0-99")
                #expect(r.status == .forbidden)
                #expect(try error(r).message.contains("may not watch the recordings"))
            }
            #expect(rec.reads.withLock { $0.count } == readsBefore, "a refused reader reached recordings")
            // The list for the console.
            try await client.execute(uri: "/api/v1/staff/candidates/2022110001/recordings?sitting=formal", method: .get,
                                     headers: chief.headers(csrf: false)) { (r: TestResponse) async throws in
                #expect(r.status == .ok, "\(String(buffer: r.body))")
                let v = try JSONDecoder().decode(RecordingsView.self, from: Data(buffer: r.body))
                #expect(v.recordings.map(\.recordingId) == [id] && v.recordings[0].url == url && v.completeness == "pending")
            }
            // A candidate's bearer token opens nothing here.
            try await client.execute(uri: url, method: .get, headers: bearer("tok-A")) { (r: TestResponse) async throws in
                #expect(r.status == .unauthorized)
            }
        }
        let readers = Set(rec.reads.withLock { $0.map(\.0) })
        #expect(readers == ["R01-E1", "ops"])
    }
}
