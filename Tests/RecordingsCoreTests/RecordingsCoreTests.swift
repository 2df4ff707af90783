import ExamPlan
import Foundation
import Testing
@testable import RecordingsCore

let t0 = Date(timeIntervalSince1970: 1_668_827_520)   // 2022-11-19 11:12:00 Beijing
func ms(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1000).rounded()) }
let main = Phone(examNumber: "2022110001", role: .main, deviceID: "phone-main")
let secondary = Phone(examNumber: "2022110001", role: .secondary, deviceID: "phone-sec")
let stranger = Phone(examNumber: "2022110002", role: .main, deviceID: "phone-other")

func chunk(_ id: String, _ index: Int, offset: Int64, from: Date, seconds: Double = 2, bytes: [UInt8]? = nil, final: Bool = false,
           sha: String? = nil) -> ChunkSubmission {
    let data = bytes ?? Array(repeating: UInt8(index & 0xFF), count: 1000 + index)
    return ChunkSubmission(recordingID: id, index: index, offset: offset, mediaStartMs: ms(from),
                           mediaEndMs: ms(from.addingTimeInterval(seconds)), byteCount: data.count,
                           sha256: sha ?? Hashing.sha256Hex(data), data: data, final: final)
}

/// Appends a checked chunk (as the shell does: alone, then against the state).
@discardableResult
func append(_ s: inout RecordingsState, _ phone: Phone, _ c: ChunkSubmission, now: Date) throws -> (UploadStatus, [RecordingsEvent]) {
    let sha = try c.checkAlone(maxBytes: s.config.maxChunkBytes)
    return try s.appendChunk(phone: phone, chunk: c, sha256: sha, now: now)
}

func running() throws -> RecordingsState {
    var s = try RecordingsState(config: RecordingsConfig(graceSeconds: 30, maxGapSeconds: 10))
    s.interviewStarted(examNumber: "2022110001", roomID: "R01", sitting: .formal, at: t0)
    _ = s.takeChanges()
    return s
}

/// Uploads `seconds` of recording in 2 s chunks from `from`, skipping `skip`.
@discardableResult
func record(_ s: inout RecordingsState, _ phone: Phone, from: Date, seconds: Int, skip: Range<Int>? = nil, final: Bool = true) throws -> String {
    let (st, _) = try s.createUpload(phone: phone, sitting: .formal, role: phone.role, mimeType: "video/webm", now: from)
    let id = st.recording.id
    var offset: Int64 = 0
    var index = 0
    for k in stride(from: 0, to: seconds, by: 2) {
        if let skip, skip.contains(k) { continue }
        let c = chunk(id, index, offset: offset, from: from.addingTimeInterval(Double(k)), final: final && k + 2 >= seconds)
        try append(&s, phone, c, now: from.addingTimeInterval(Double(k + 2)))
        offset += Int64(c.byteCount)
        index += 1
    }
    return id
}

@Suite("Uploads: create, append, resume (R36, R37)")
struct UploadTests {
    @Test func createIsIdempotentAndResumes() throws {
        var s = try running()
        let (first, events) = try s.createUpload(phone: main, sitting: nil, role: .main, mimeType: "video/webm;codecs=vp8,opus", now: t0)
        #expect(first.recording.id == "2022110001-formal-main" && first.nextIndex == 0 && first.nextOffset == 0)
        #expect(events.map(\.topic) == ["recordings.recording.started"])
        let c = chunk(first.recording.id, 0, offset: 0, from: t0)
        try append(&s, main, c, now: t0.addingTimeInterval(2))
        let (again, none) = try s.createUpload(phone: main, sitting: .formal, role: nil, mimeType: "", now: t0.addingTimeInterval(3))
        #expect(none.isEmpty)
        #expect(again.nextIndex == 1 && again.nextOffset == Int64(c.byteCount) && again.recording.mimeType == "video/webm;codecs=vp8,opus")
        #expect(try s.uploadStatus(phone: main, recordingID: first.recording.id).nextIndex == 1)
    }

    @Test func aRepeatIsStoredOnceAndFinalFinishes() throws {
        var s = try running()
        let id = try s.createUpload(phone: main, sitting: .formal, role: .main, mimeType: "", now: t0).0.recording.id
        let c0 = chunk(id, 0, offset: 0, from: t0)
        try append(&s, main, c0, now: t0)
        let changes = s.takeChanges()
        #expect(changes.chunks.count == 1)
        let (dup, events) = try append(&s, main, c0, now: t0.addingTimeInterval(1))
        #expect(dup.duplicate && dup.nextIndex == 1 && events.isEmpty)
        #expect(s.takeChanges().chunks.isEmpty)
        let c1 = chunk(id, 1, offset: Int64(c0.byteCount), from: t0.addingTimeInterval(2), final: true)
        let (done, fin) = try append(&s, main, c1, now: t0.addingTimeInterval(4))
        #expect(done.recording.finished && fin.map(\.topic) == ["recordings.recording.finished"])
        let after = chunk(id, 2, offset: done.nextOffset, from: t0.addingTimeInterval(4))
        #expect(throws: RecordingsError.self) { try append(&s, main, after, now: t0.addingTimeInterval(5)) }
        // A repeat of a stored chunk is still answered after the end (a lost answer).
        #expect(try append(&s, main, c1, now: t0.addingTimeInterval(6)).0.duplicate)
    }

    @Test func badChunksAreRefusedWithWhatAndWhere() throws {
        var s = try running()
        let id = try s.createUpload(phone: main, sitting: .formal, role: .main, mimeType: "", now: t0).0.recording.id
        func code(_ c: ChunkSubmission, _ phone: Phone = main) -> RecordingsError? {
            do { try append(&s, phone, c, now: t0); return nil } catch let e as RecordingsError { return e } catch { return nil }
        }
        let wrongHash = chunk(id, 0, offset: 0, from: t0, sha: String(repeating: "a", count: 64))
        #expect(code(wrongHash)?.code == .invalidArgument && code(wrongHash)!.message.contains("hashes to"))
        let big = chunk(id, 0, offset: 0, from: t0, bytes: Array(repeating: 1, count: RecordingsConfig.chunkLimit + 1))
        #expect(code(big)?.code == .invalidArgument && code(big)!.message.contains("over the chunk limit"))
        var miscounted = chunk(id, 0, offset: 0, from: t0)
        miscounted.byteCount += 1
        #expect(code(miscounted)?.message.contains("byte_count") == true)
        let outOfOrder = chunk(id, 3, offset: 0, from: t0)
        #expect(code(outOfOrder)?.code == .outOfRange && code(outOfOrder)!.message.contains("send index 0"))
        let wrongOffset = chunk(id, 0, offset: 5, from: t0)
        #expect(code(wrongOffset)?.code == .outOfRange)
        let backwards = ChunkSubmission(recordingID: id, index: 0, offset: 0, mediaStartMs: ms(t0), mediaEndMs: ms(t0) - 1, byteCount: 3,
                                        sha256: Hashing.sha256Hex([1, 2, 3] as [UInt8]), data: [1, 2, 3], final: false)
        #expect(code(backwards)?.code == .invalidArgument)
        // The other phone, another candidate: refused.
        #expect(code(chunk(id, 0, offset: 0, from: t0), secondary)?.code == .permissionDenied)
        #expect(code(chunk(id, 0, offset: 0, from: t0), stranger)?.code == .permissionDenied)
        #expect(code(chunk("nope", 0, offset: 0, from: t0))?.code == .notFound)
        // Nothing was kept.
        #expect(s.recordings[id]?.chunkCount == 0 && s.takeChanges().chunks.isEmpty)
        // Same index, another hash, once stored: ALREADY_EXISTS.
        try append(&s, main, chunk(id, 0, offset: 0, from: t0), now: t0)
        #expect(code(chunk(id, 0, offset: 0, from: t0, bytes: [9, 9, 9]))?.code == .alreadyExists)
    }

    @Test func onlyARunningInterviewAndTheRightRole() throws {
        var s = try RecordingsState(config: RecordingsConfig())
        #expect(throws: RecordingsError(.failedPrecondition, "no interview of 2022110001 is running: a recording starts with the interview")) {
            try s.createUpload(phone: main, sitting: nil, role: .main, mimeType: "", now: t0)
        }
        s.interviewStarted(examNumber: "2022110001", roomID: "R01", sitting: .mock, at: t0)
        #expect(throws: RecordingsError.self) { try s.createUpload(phone: main, sitting: .formal, role: .main, mimeType: "", now: t0) }
        let e = #expect(throws: RecordingsError.self) { try s.createUpload(phone: secondary, sitting: nil, role: .main, mimeType: "", now: t0) }
        #expect(e?.code == .permissionDenied)
        #expect(try s.createUpload(phone: secondary, sitting: nil, role: nil, mimeType: "", now: t0).0.recording.id == "2022110001-mock-secondary")
    }
}

@Suite("Completeness (R38)")
struct CompletenessTests {
    @Test func bothWholeIsComplete() throws {
        var s = try running()
        try record(&s, main, from: t0, seconds: 60)
        try record(&s, secondary, from: t0, seconds: 60)
        s.interviewEnded(examNumber: "2022110001", roomID: "R01", sitting: .formal, startedAt: nil, at: t0.addingTimeInterval(60))
        #expect(s.nextDeadline() == t0.addingTimeInterval(90))
        #expect(s.tick(now: t0.addingTimeInterval(89)).isEmpty)
        let events = s.tick(now: t0.addingTimeInterval(90))
        #expect(events.map(\.topic) == ["recordings.completeness.complete"])
        #expect(s.nextDeadline() == nil)
        #expect(s.recordings["2022110001-formal-main"]?.closed == true)
        let late = chunk("2022110001-formal-main", 99, offset: 0, from: t0)
        #expect(throws: RecordingsError.self) { try append(&s, main, late, now: t0.addingTimeInterval(91)) }
    }

    @Test func missingGapUnfinishedAndTheOutage() throws {
        var s = try running()
        // Main: a 20 s hole at 20..40 s, during a signal loss devices reported.
        s.signalLost(examNumber: "2022110001", role: .main, lastSeenMs: ms(t0.addingTimeInterval(19)))
        s.signalRestored(examNumber: "2022110001", role: .main, lastSeenMs: ms(t0.addingTimeInterval(19)), restoredAtMs: ms(t0.addingTimeInterval(41)))
        try record(&s, main, from: t0, seconds: 60, skip: 20..<40, final: false)
        s.interviewEnded(examNumber: "2022110001", roomID: "R01", sitting: .formal, startedAt: nil, at: t0.addingTimeInterval(60))
        let (_, pending) = try s.completeness(examNumber: "2022110001", sitting: .formal, now: t0.addingTimeInterval(61))
        #expect(pending.status == .pending)
        let events = s.tick(now: t0.addingTimeInterval(200))
        #expect(events.map(\.topic) == ["recordings.completeness.incomplete"])
        guard case .completenessChecked(_, let c) = events[0] else { Issue.record("not a check"); return }
        #expect(c.problems.map(\.kind) == [.gap, .unfinished, .missing])
        let gap = try #require(c.problems[0].gap)
        #expect(gap.kind == .middle && gap.lengthMs == 20_000 && gap.outage?.lostAtMs == ms(t0.addingTimeInterval(19)))
        #expect(c.problems[2].role == .secondary && c.evidence.contains("ground 9"))
        // Stored: asked again, the same outcome.
        #expect(try s.completeness(examNumber: "2022110001", sitting: .formal, now: t0.addingTimeInterval(300)).1 == c)
    }

    @Test func lateStartAndEarlyStopAreGaps() throws {
        var s = try running()
        try record(&s, main, from: t0.addingTimeInterval(12), seconds: 30)
        try record(&s, secondary, from: t0, seconds: 60)
        s.interviewEnded(examNumber: "2022110001", roomID: "R01", sitting: .formal, startedAt: nil, at: t0.addingTimeInterval(60))
        let events = s.tick(now: t0.addingTimeInterval(100))
        guard case .completenessChecked(_, let c) = events.first else { Issue.record("no check"); return }
        #expect(c.problems.compactMap(\.gap).map(\.kind) == [.start, .end])
        #expect(c.problems.allSatisfy { $0.role == .main && $0.gap?.outage == nil })
    }
}

@Suite("Reads and retention (R39)")
struct ReadTests {
    @Test func rangesMapToChunks() throws {
        var s = try running()
        let id = try record(&s, main, from: t0, seconds: 6)   // chunks of 1000, 1001, 1002 bytes
        let (_, segs) = try s.segments(recordingID: id, offset: 900, length: 1200)
        #expect(segs.map(\.chunk.index) == [0, 1, 2] && segs[0].from == 900 && segs[0].to == 1000 && segs[1].to == 1001 && segs[2].to == 99)
        let (_, tail) = try s.segments(recordingID: id, offset: 2500, length: 4000)
        #expect(tail.map(\.chunk.index) == [2] && tail[0].from == 499 && tail[0].to == 1002)
        #expect(throws: RecordingsError.self) { try s.segments(recordingID: id, offset: 3003, length: 10) }
        #expect(throws: RecordingsError.self) { try s.segments(recordingID: id, offset: 0, length: RecordingsConfig.chunkLimit + 1) }
        #expect(throws: RecordingsError.self) { try s.segments(recordingID: "nope", offset: 0, length: 1) }
    }

    @Test func retentionForgetsOldRecordingsAndNamesUnusedBlobs() throws {
        var s = try RecordingsState(config: RecordingsConfig(graceSeconds: 0, maxGapSeconds: 10, retentionDays: 1))
        s.interviewStarted(examNumber: "2022110001", roomID: "R01", sitting: .formal, at: t0)
        try record(&s, main, from: t0, seconds: 4)
        s.interviewEnded(examNumber: "2022110001", roomID: "R01", sitting: .formal, startedAt: nil, at: t0.addingTimeInterval(4))
        _ = s.tick(now: t0.addingTimeInterval(5))
        _ = s.takeChanges()
        #expect(s.expire(now: t0.addingTimeInterval(3600)).isEmpty)
        let gone = s.expire(now: t0.addingTimeInterval(2 * 86_400))
        #expect(gone.count == 2 && s.recordings.isEmpty)
        let c = s.takeChanges()
        #expect(c.removedRecordings == ["2022110001-formal-main"] && c.removedChunks.count == 2)
    }

    @Test func aLedgerThatDoesNotHoldTogetherIsRefused() throws {
        var s = try running()
        let id = try record(&s, main, from: t0, seconds: 4)
        let chunks = s.chunks[id]!
        #expect(throws: RecordingsError.self) {
            _ = try RecordingsState(config: RecordingsConfig(), recordings: Array(s.recordings.values), chunks: [chunks[1]])
        }
        let reloaded = try RecordingsState(config: RecordingsConfig(), interviews: Array(s.interviews.values),
                                           recordings: Array(s.recordings.values), chunks: chunks.reversed())
        #expect(reloaded.chunks[id] == chunks)
    }
}
