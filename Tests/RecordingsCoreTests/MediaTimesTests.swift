import ExamPlan
import Foundation
import Testing
@testable import RecordingsCore

// Issue 22: a chunk's media times (the server's clock, Unix ms, R37) were
// taken as the phone said: a chunk ending in the year 2100 was stored, so
// was one starting 3 s before the interview, and one small chunk claiming
// the whole interview made its recording "complete" (R38). These tests pin
// the rules: within the interview's span (with the stated slack), never
// backwards, never overlapping the previous chunk by more than the slack,
// and bytes plausible for the media they claim; a refusal changes nothing.

/// A chunk with explicit media times and `size` bytes.
func timed(_ id: String, _ index: Int, offset: Int64, startMs: Int64, endMs: Int64, size: Int = 4000, final: Bool = false) -> ChunkSubmission {
    let data = Array(repeating: UInt8(truncatingIfNeeded: index &+ 7), count: size)
    return ChunkSubmission(recordingID: id, index: index, offset: offset, mediaStartMs: startMs, mediaEndMs: endMs, byteCount: data.count,
                           sha256: Hashing.sha256Hex(data), data: data, final: final)
}

/// The refusal of `c`, checked to have changed nothing: the recording, its
/// chunks and the changes to store are as before.
func refusal(_ s: inout RecordingsState, _ phone: Phone, _ c: ChunkSubmission, now: Date) -> RecordingsError? {
    let before = (s.recordings[c.recordingID], s.chunks[c.recordingID])
    _ = s.takeChanges()
    defer {
        #expect(s.recordings[c.recordingID] == before.0, "a refused chunk changed the recording")
        #expect(s.chunks[c.recordingID] == before.1, "a refused chunk was stored")
        #expect(s.takeChanges() == RecordingsChanges(), "a refused chunk left changes to store")
    }
    do {
        try append(&s, phone, c, now: now)
        Issue.record("chunk \(c.index) (\(c.mediaStartMs)..\(c.mediaEndMs), \(c.byteCount) bytes) was stored")
        return nil
    } catch let e as RecordingsError {
        #expect(e.code == .invalidArgument, "\(e)")
        // What and where: the recording and the chunk's index.
        #expect(e.message.contains(c.recordingID) && e.message.contains("第 \(c.index) 段"), "\(e.message)")
        return e
    } catch {
        Issue.record("\(error)")
        return nil
    }
}

@Suite("Media times (issue 22, R37, R38)")
struct MediaTimesTests {
    let config = RecordingsConfig()

    @Test func theDefaultsAreStated() {
        // The tolerances the README and the service's --help state.
        #expect(config.mediaSlackSeconds == 2)
        #expect(config.minMediaBytesPerSecond == 32)
        #expect(config.maxMediaBytesPerSecond == 2 << 20 && config.mediaBurstBytes == 256 << 10)
    }

    @Test func outsideTheInterviewIsRefused() throws {
        var s = try running()
        let id = try s.createUpload(phone: main, sitting: .formal, role: .main, mimeType: "", now: t0).0.recording.id
        let now = t0.addingTimeInterval(10)
        // As reported: a chunk ending in the year 2100, one starting 3 s before the interview.
        let e2100 = refusal(&s, main, timed(id, 0, offset: 0, startMs: ms(t0), endMs: 4_102_444_800_000), now: now)
        #expect(e2100?.message.contains("晚于") == true)
        let early = refusal(&s, main, timed(id, 0, offset: 0, startMs: ms(t0) - 3000, endMs: ms(t0) + 2000), now: now)
        #expect(early?.message.contains("早于面试开始") == true)
        // Ahead of the server's clock by more than the slack: not recorded yet.
        _ = refusal(&s, main, timed(id, 0, offset: 0, startMs: ms(t0) + 9000, endMs: ms(now) + 2500), now: now)
        // Within the slack either side: taken (a phone's estimate of the server clock).
        try append(&s, main, timed(id, 0, offset: 0, startMs: ms(t0) - 1500, endMs: ms(now) + 1500), now: now)
        #expect(s.recordings[id]?.chunkCount == 1)
    }

    @Test func afterTheEndOnlyWhatAPhoneLateToHearOfItRecorded() throws {
        var s = try running()
        let id = try s.createUpload(phone: main, sitting: .formal, role: .main, mimeType: "", now: t0).0.recording.id
        _ = try record(&s, main, from: t0, seconds: 60, final: false)   // createUpload again: resumes
        let end = t0.addingTimeInterval(60)
        s.interviewEnded(examNumber: "2022110001", roomID: "R01", sitting: .formal, startedAt: nil, at: end)
        let stored = try #require(s.recordings[id])
        // A phone offline at the end records until it hears of it, and sends
        // until the grace period is over (30 s): taken.
        try append(&s, main, timed(id, 30, offset: stored.bytes, startMs: ms(end), endMs: ms(end) + 20_000), now: end.addingTimeInterval(25))
        // Past the grace period and the slack: no phone recorded that for
        // this interview (the check that closes it is a tick away).
        let next = try #require(s.recordings[id])
        let late = refusal(&s, main, timed(id, 31, offset: next.bytes, startMs: ms(end) + 20_000, endMs: ms(end) + 33_000, final: true),
                           now: end.addingTimeInterval(40))
        #expect(late?.message.contains("面试结束") == true)
    }

    @Test func neverBackwardsNorOverlapping() throws {
        var s = try running()
        let id = try s.createUpload(phone: main, sitting: .formal, role: .main, mimeType: "", now: t0).0.recording.id
        let now = t0.addingTimeInterval(60)
        let c0 = timed(id, 0, offset: 0, startMs: ms(t0), endMs: ms(t0) + 10_000)
        try append(&s, main, c0, now: now)
        let at = Int64(c0.byteCount)
        // Overlapping the previous chunk by 5 s (more than the 2 s slack).
        let overlap = refusal(&s, main, timed(id, 1, offset: at, startMs: ms(t0) + 5000, endMs: ms(t0) + 20_000), now: now)
        #expect(overlap?.message.contains("重叠") == true)
        // Ending before the previous chunk ends: media time ran backwards.
        _ = refusal(&s, main, timed(id, 1, offset: at, startMs: ms(t0) + 9000, endMs: ms(t0) + 9500, size: 100), now: now)
        // Starting before the previous chunk (the old rule, still there).
        _ = refusal(&s, main, timed(id, 1, offset: at, startMs: ms(t0) - 1000, endMs: ms(t0) + 12_000), now: now)
        // Within the slack of the previous end (a phone's clock re-estimated): taken.
        try append(&s, main, timed(id, 1, offset: at, startMs: ms(t0) + 8500, endMs: ms(t0) + 12_000), now: now)
        // A reloaded page (issue 23 will make it a segment): a new recorder on
        // the same recording, later on the wall clock after a gap: taken.
        let r = try #require(s.recordings[id])
        try append(&s, main, timed(id, 2, offset: r.bytes, startMs: ms(t0) + 30_000, endMs: ms(t0) + 32_000), now: now)
        #expect(s.recordings[id]?.chunkCount == 3)
    }

    @Test func bytesMustBePlausibleForTheMediaClaimed() throws {
        var s = try RecordingsState(config: config)
        s.interviewStarted(examNumber: "2022110001", roomID: "R01", sitting: .formal, at: t0)
        let id = try s.createUpload(phone: main, sitting: .formal, role: .main, mimeType: "", now: t0).0.recording.id
        let now = t0.addingTimeInterval(4000)
        // 60 minutes of media in 2 KB.
        let thin = refusal(&s, main, timed(id, 0, offset: 0, startMs: ms(t0), endMs: ms(t0) + 3_600_000, size: 2048), now: now)
        #expect(thin?.message.contains("字节") == true)
        // 1 MiB in 100 ms (the most a chunk holds; "1 s in 50 MB" is over the chunk limit already).
        _ = refusal(&s, main, timed(id, 0, offset: 0, startMs: ms(t0), endMs: ms(t0) + 100, size: 1 << 20), now: now)
        // What the phone page sends: MediaRecorder at 800 + 48 kbit/s in 2 s
        // slices (about 212 KB), a nearly still and silent slice (2 KB), and
        // a slice handed over right after the previous one (a few ms for 200 KB).
        var offset: Int64 = 0
        var at = ms(t0)
        for (i, (size, span)) in [(212_000, 2000), (2000, 2000), (200_000, 3), (1 << 20, 1000)].enumerated() {
            try append(&s, main, timed(id, i, offset: offset, startMs: at, endMs: at + Int64(span), size: size), now: now)
            offset += Int64(size)
            at += Int64(span)
        }
        #expect(s.recordings[id]?.chunkCount == 4)
    }

    @Test func oneSmallChunkClaimingTheWholeInterviewIsNotComplete() throws {
        var s = try running()
        let end = t0.addingTimeInterval(600)
        for phone in [main, secondary] {
            let id = try s.createUpload(phone: phone, sitting: .formal, role: phone.role, mimeType: "", now: t0).0.recording.id
            // 10 minutes "recorded" in 1 KB, final: refused, nothing kept.
            _ = refusal(&s, phone, timed(id, 0, offset: 0, startMs: ms(t0), endMs: ms(end), size: 1000, final: true), now: end)
        }
        s.interviewEnded(examNumber: "2022110001", roomID: "R01", sitting: .formal, startedAt: nil, at: end)
        let events = s.tick(now: end.addingTimeInterval(30))
        guard case .completenessChecked(_, let c) = events.first else { Issue.record("no check"); return }
        #expect(c.status == .incomplete && c.problems.map(\.kind) == [.missing, .missing])
    }

    @Test func aLedgerChunkClaimingTooMuchIsCreditedOnlyItsBytesWorth() throws {
        // A ledger written before these rules (or by hand) may hold such a
        // chunk: completeness credits a chunk at most the media its bytes
        // can hold at the least plausible rate, so it is still a gap (R38).
        let end = t0.addingTimeInterval(600)
        let span = InterviewSpan(examNumber: "2022110001", roomID: "R01", sitting: .formal, startedAt: t0, endedAt: end)
        var recs: [Recording] = [], rows: [Chunk] = []
        for role in PhoneRole.allCases {
            let id = Recording.id("2022110001", .formal, role)
            var r = Recording(id: id, examNumber: "2022110001", sitting: .formal, role: role, deviceID: "d-\(role)", mimeType: "video/webm", createdAt: t0)
            r.chunkCount = 1
            r.bytes = 1000
            r.finished = true
            recs.append(r)
            rows.append(Chunk(recordingID: id, index: 0, offset: 0, byteCount: 1000, sha256: String(repeating: "a", count: 64),
                              mediaStartMs: ms(t0), mediaEndMs: ms(end), storedAt: end))
        }
        var s = try RecordingsState(config: config, interviews: [span], recordings: recs, chunks: rows)
        let events = s.tick(now: end.addingTimeInterval(30))
        guard case .completenessChecked(_, let c) = events.first else { Issue.record("no check"); return }
        #expect(c.status == .incomplete)
        let gaps = c.problems.compactMap(\.gap)
        #expect(gaps.count == 2 && gaps.allSatisfy { $0.kind == .end && $0.fromMs <= ms(t0) + 1000 * 1000 / 32 })
    }
}
