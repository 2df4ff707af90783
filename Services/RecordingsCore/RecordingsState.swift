import ExamPlan
import Foundation

/// What the core decided happened; the shell publishes each as an event.
public enum RecordingsEvent: Sendable, Equatable {
    case recordingStarted(Recording, at: Date)
    case recordingFinished(Recording, at: Date)
    case completenessChecked(InterviewSpan, Completeness)
    case read(recordingID: String, examNumber: String, sitting: Sitting, reader: String, what: String, offset: Int64, length: Int64, at: Date)

    public var topic: String {
        switch self {
        case .recordingStarted: "recordings.recording.started"
        case .recordingFinished: "recordings.recording.finished"
        case .completenessChecked(_, let c): c.status == .complete ? "recordings.completeness.complete" : "recordings.completeness.incomplete"
        case .read: "recordings.recording.read"
        }
    }
}

/// What a call changed, for the shell to store: documents by key.
public struct RecordingsChanges: Sendable, Equatable {
    public var recordings: Set<String> = []
    public var interviews: Set<String> = []
    public var outages: Set<String> = []
    public var chunks: [Chunk] = []
    public var removedRecordings: [String] = []
    public var removedInterviews: [String] = []
    public var removedChunks: [String] = []
    public init() {}
}

/// The recordings ledger as a state machine (R36-R39): interviews followed
/// from timing, outages from devices, uploads from the phones. Pure: no
/// disk, no sockets, no clock (every time is passed in).
public struct RecordingsState: Sendable {
    public let config: RecordingsConfig
    public private(set) var interviews: [String: InterviewSpan]
    public private(set) var recordings: [String: Recording]
    /// Per recording, its chunks in index order.
    public private(set) var chunks: [String: [Chunk]]
    /// Per "<exam number>-<role>", the outages devices reported.
    public private(set) var outages: [String: [OutageSpan]]
    private var changes = RecordingsChanges()

    public init(config: RecordingsConfig, interviews: [InterviewSpan] = [], recordings: [Recording] = [], chunks: [Chunk] = [],
                outages: [String: [OutageSpan]] = [:]) throws {
        self.config = config
        self.interviews = Dictionary(interviews.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        self.recordings = Dictionary(recordings.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var byRecording: [String: [Chunk]] = [:]
        for c in chunks { byRecording[c.recordingID, default: []].append(c) }
        for (id, list) in byRecording {
            let sorted = list.sorted { $0.index < $1.index }
            guard let r = self.recordings[id] else {
                throw RecordingsError(.failedPrecondition, "chunks of recording \(id), which the ledger does not have")
            }
            for (i, c) in sorted.enumerated() where c.index != i {
                throw RecordingsError(.failedPrecondition, "recording \(id) lacks chunk \(i) (has \(c.index))")
            }
            guard sorted.count == r.chunkCount else {
                throw RecordingsError(.failedPrecondition, "recording \(id) says \(r.chunkCount) chunks, the ledger has \(sorted.count)")
            }
            byRecording[id] = sorted
        }
        self.chunks = byRecording
        self.outages = outages
    }

    /// What changed since the last call (the shell stores exactly that).
    public mutating func takeChanges() -> RecordingsChanges {
        defer { changes = RecordingsChanges() }
        return changes
    }

    public static func outageKey(_ examNumber: String, _ role: PhoneRole) -> String { "\(examNumber)-\(role.rawValue)" }

    // MARK: Followed events

    /// timing.interview.started: the span begins (a repeat changes nothing).
    public mutating func interviewStarted(examNumber: String, roomID: String, sitting: Sitting, at: Date) {
        let key = InterviewSpan.key(examNumber, sitting)
        if interviews[key] != nil { return }
        interviews[key] = InterviewSpan(examNumber: examNumber, roomID: roomID, sitting: sitting, startedAt: at)
        changes.interviews.insert(key)
    }

    /// timing.interview.ended: the span ends; the check comes after the grace period.
    public mutating func interviewEnded(examNumber: String, roomID: String, sitting: Sitting, startedAt: Date?, at: Date) {
        let key = InterviewSpan.key(examNumber, sitting)
        var span = interviews[key] ?? InterviewSpan(examNumber: examNumber, roomID: roomID, sitting: sitting, startedAt: startedAt ?? at)
        guard span.endedAt == nil else { return }
        span.endedAt = at
        interviews[key] = span
        changes.interviews.insert(key)
    }

    /// devices.signal.lost for one phone.
    public mutating func signalLost(examNumber: String, role: PhoneRole, lastSeenMs: Int64) {
        let key = Self.outageKey(examNumber, role)
        var list = outages[key] ?? []
        if list.contains(where: { $0.lostAtMs == lastSeenMs }) { return }
        list.append(OutageSpan(lostAtMs: lastSeenMs, restoredAtMs: nil))
        outages[key] = list
        changes.outages.insert(key)
    }

    /// devices.signal.restored for one phone: closes the open outage.
    public mutating func signalRestored(examNumber: String, role: PhoneRole, lastSeenMs: Int64, restoredAtMs: Int64) {
        let key = Self.outageKey(examNumber, role)
        var list = outages[key] ?? []
        if let i = list.lastIndex(where: { $0.restoredAtMs == nil }) {
            list[i].restoredAtMs = restoredAtMs
        } else if !list.contains(where: { $0.lostAtMs == lastSeenMs }) {
            list.append(OutageSpan(lostAtMs: lastSeenMs, restoredAtMs: restoredAtMs))
        } else { return }
        outages[key] = list
        changes.outages.insert(key)
    }

    // MARK: Phones (R37)

    /// The interview a phone may upload for now: started, and not past the
    /// grace period after its end (then the check closed it).
    func uploadableInterview(_ examNumber: String, _ sitting: Sitting?, now: Date) throws -> InterviewSpan {
        let candidates = sitting.map { [$0] } ?? [.formal, .mock]
        var seen: InterviewSpan?
        for s in candidates {
            guard let span = interviews[InterviewSpan.key(examNumber, s)] else { continue }
            seen = seen ?? span
            if span.checked == nil { return span }
        }
        if let seen {
            throw RecordingsError(.failedPrecondition, "the \(seen.sitting.rawValue) interview of \(examNumber) ended and its recordings were checked at \(BeijingTime.short(seen.checked?.checkedAt ?? now)); no more uploads")
        }
        let which = sitting.map { "\($0.rawValue) " } ?? ""
        throw RecordingsError(.failedPrecondition, "no \(which)interview of \(examNumber) is running: a recording starts with the interview")
    }

    /// CreateUpload: the phone's recording of its running interview, made on
    /// the first call, returned as it stands on the next ones (resume).
    public mutating func createUpload(phone: Phone, sitting: Sitting?, role: PhoneRole?, mimeType: String, now: Date) throws -> (UploadStatus, [RecordingsEvent]) {
        if let role, role != phone.role {
            throw RecordingsError(.permissionDenied, "device \(phone.deviceID) is \(phone.examNumber)'s \(phone.role.rawValue) phone; it may not record the \(role.rawValue) phone's video")
        }
        guard mimeType.count <= 200 else { throw RecordingsError(.invalidArgument, "mime_type: longer than 200 characters") }
        let span = try uploadableInterview(phone.examNumber, sitting, now: now)
        let id = Recording.id(phone.examNumber, span.sitting, phone.role)
        if var existing = recordings[id] {
            if existing.deviceID != phone.deviceID {
                // The phone was replaced (R18 re-entry on another device): it continues the same recording.
                existing.deviceID = phone.deviceID
                recordings[id] = existing
                changes.recordings.insert(id)
            }
            return (UploadStatus(recording: existing), [])
        }
        let r = Recording(id: id, examNumber: phone.examNumber, sitting: span.sitting, role: phone.role, deviceID: phone.deviceID,
                          mimeType: mimeType.isEmpty ? "video/webm" : mimeType, createdAt: now)
        recordings[id] = r
        chunks[id] = []
        changes.recordings.insert(id)
        return (UploadStatus(recording: r), [.recordingStarted(r, at: now)])
    }

    /// The recording a phone may write: its own, still open.
    func ownRecording(_ phone: Phone, _ recordingID: String) throws -> Recording {
        guard let r = recordings[recordingID] else {
            throw RecordingsError(.notFound, "recording \(recordingID) does not exist: create it with CreateUpload")
        }
        guard r.examNumber == phone.examNumber else {
            throw RecordingsError(.permissionDenied, "recording \(recordingID) is another candidate's")
        }
        guard r.role == phone.role else {
            throw RecordingsError(.permissionDenied, "recording \(recordingID) is the \(r.role.rawValue) phone's; device \(phone.deviceID) is the \(phone.role.rawValue) phone")
        }
        return r
    }

    /// GetUpload: where the server's copy ends (tus HEAD).
    public func uploadStatus(phone: Phone, recordingID: String) throws -> UploadStatus {
        UploadStatus(recording: try ownRecording(phone, recordingID))
    }

    /// What appending `chunk` would do, without doing it: nil when it is to
    /// be stored, or the status to answer when it is a repeat already
    /// stored. Throws when it is refused. The shell asks this before writing
    /// the blob, then `appendChunk` decides again on the state of then.
    public func planAppend(phone: Phone, chunk c: ChunkSubmission, sha256: String, now: Date) throws -> UploadStatus? {
        let r = try ownRecording(phone, c.recordingID)
        let stored = chunks[r.id] ?? []
        if c.index < stored.count {
            let existing = stored[c.index]
            guard existing.sha256 == sha256 else {
                throw RecordingsError(.alreadyExists, "chunk \(c.index) of \(r.id) is already stored with hash \(existing.sha256), not \(sha256)")
            }
            guard existing.offset == c.offset else {
                throw RecordingsError(.outOfRange, "chunk \(c.index) of \(r.id) is stored at offset \(existing.offset), not \(c.offset)")
            }
            var s = UploadStatus(recording: r)
            s.duplicate = true
            return s
        }
        if r.closed {
            throw RecordingsError(.failedPrecondition, "recording \(r.id) was closed by the completeness check; no more chunks")
        }
        if r.finished {
            throw RecordingsError(.failedPrecondition, "recording \(r.id) is finished (its final chunk \(r.chunkCount - 1) is stored); no more chunks")
        }
        guard c.index == stored.count else {
            throw RecordingsError(.outOfRange, "chunk \(c.index) of \(r.id) is out of order: the server's copy ends at index \(stored.count), offset \(r.bytes); send index \(stored.count)")
        }
        guard c.offset == r.bytes else {
            throw RecordingsError(.outOfRange, "offset \(c.offset) of chunk \(c.index) of \(r.id) is not where the server's copy ends (offset \(r.bytes))")
        }
        try checkMediaTimes(c, of: r, after: stored.last, now: now)
        return nil
    }

    /// A chunk's media times (issue 22; R37: the server's clock, Unix ms)
    /// against its interview, the previous chunk and its own bytes, so that
    /// what completeness measures (R38) is what the phone could have
    /// recorded. The tolerances are the config's (`mediaSlackSeconds` and
    /// the rates), sized so that the phone page never trips them.
    func checkMediaTimes(_ c: ChunkSubmission, of r: Recording, after last: Chunk?, now: Date) throws {
        let what = "录像 \(r.id) 第 \(c.index) 段"
        func refuse(_ field: String, _ text: String) -> RecordingsError {
            RecordingsError(.invalidArgument, "\(field): \(what)\(text)；该段未保存（R37）")
        }
        guard let span = interviews[InterviewSpan.key(r.examNumber, r.sitting)] else {
            throw RecordingsError(.failedPrecondition, "\(what)：所属面试（\(r.examNumber) \(r.sitting.rawValue)）不在记录中，无法核对媒体时间")
        }
        let slack = Int64((config.mediaSlackSeconds * 1000).rounded())
        let slackText = Self.seconds(slack)
        // Within the interview: from its start (the page starts recording
        // when it hears of the start)...
        let startedMs = span.startedAt.unixMs
        if c.mediaStartMs < startedMs - slack {
            throw refuse("media_start_ms", "始于 \(Self.when(c.mediaStartMs))，早于面试开始（\(Self.when(startedMs))）\(Self.seconds(startedMs - c.mediaStartMs)) 秒，超过允许的 \(slackText) 秒；媒体时间须在面试期间（服务器时钟）")
        }
        // ...to the server's now (nothing is recorded ahead of time) and,
        // once it ended, to its end plus the grace period: a phone offline
        // at the end records until it hears of it, and may send until the
        // completeness check closes the recording (R38).
        let nowMs = now.unixMs
        var latest = nowMs + slack
        var bound = "服务器当前时间（\(Self.when(nowMs))）"
        if let ended = span.endedAt {
            let graceMs = Int64((config.graceSeconds * 1000).rounded())
            if ended.unixMs + graceMs + slack < latest {
                latest = ended.unixMs + graceMs + slack
                bound = "面试结束（\(Self.when(ended.unixMs))）后的宽限期（\(Self.seconds(graceMs)) 秒）"
            }
        }
        if c.mediaEndMs > latest {
            throw refuse("media_end_ms", "止于 \(Self.when(c.mediaEndMs))，晚于\(bound)超过 \(slackText) 秒；媒体时间须在面试期间（服务器时钟）")
        }
        // After the previous chunk: media time never runs backwards, and a
        // chunk starts where the previous one ended (a reloaded page's new
        // recorder later, after a gap: taken).
        if let last {
            if c.mediaStartMs < last.mediaStartMs {
                throw refuse("media_start_ms", "始于 \(Self.when(c.mediaStartMs))，早于第 \(last.index) 段的开始（\(Self.when(last.mediaStartMs))）；媒体时间不能倒退")
            }
            if c.mediaEndMs < last.mediaEndMs {
                throw refuse("media_end_ms", "止于 \(Self.when(c.mediaEndMs))，早于第 \(last.index) 段的结束（\(Self.when(last.mediaEndMs))）；媒体时间不能倒退")
            }
            if c.mediaStartMs < last.mediaEndMs - slack {
                throw refuse("media_start_ms", "始于 \(Self.when(c.mediaStartMs))，与第 \(last.index) 段（止于 \(Self.when(last.mediaEndMs))）重叠 \(Self.seconds(last.mediaEndMs - c.mediaStartMs)) 秒，超过允许的 \(slackText) 秒")
            }
        }
        // Bytes plausible for the media claimed: not a few bytes for minutes
        // (one small chunk claiming the whole interview), not a mebibyte
        // for a blink.
        let spanMs = c.mediaEndMs - c.mediaStartMs
        let bytes = Double(c.byteCount)
        if config.minMediaBytesPerSecond > 0, bytes * 1000 < Double(config.minMediaBytesPerSecond) * Double(spanMs) {
            throw refuse("media_start_ms/media_end_ms", "以 \(c.byteCount) 字节声称 \(Self.seconds(spanMs)) 秒的录像，每秒不足 \(config.minMediaBytesPerSecond) 字节，不可能是真实的录像")
        }
        if bytes > Double(config.mediaBurstBytes) + Double(config.maxMediaBytesPerSecond) * Double(spanMs) / 1000 {
            throw refuse("media_start_ms/media_end_ms", "以 \(c.byteCount) 字节只声称 \(spanMs) 毫秒的录像，超过每秒 \(config.maxMediaBytesPerSecond) 字节（另加 \(config.mediaBurstBytes) 字节），不可能是真实的录像")
        }
    }

    /// "2022-11-19 11:12:00.000（1668827520000）": Beijing time and the value
    /// sent; a value past year 9999 only as sent.
    static func when(_ ms: Int64) -> String {
        guard (0..<253_402_300_800_000).contains(ms) else { return "\(ms)" }
        let iso = BeijingTime.iso(Date(unixMs: ms))
        return "\(iso.prefix(10)) \(iso.dropFirst(11).prefix(12))（\(ms)）"
    }

    /// Milliseconds as seconds with one decimal ("3.0").
    static func seconds(_ ms: Int64) -> String { String(format: "%.1f", Double(ms) / 1000) }

    /// AppendChunk, once its blob is durable: the ledger row.
    public mutating func appendChunk(phone: Phone, chunk c: ChunkSubmission, sha256: String, now: Date) throws -> (UploadStatus, [RecordingsEvent]) {
        if let repeatStatus = try planAppend(phone: phone, chunk: c, sha256: sha256, now: now) { return (repeatStatus, []) }
        var r = recordings[c.recordingID]!
        let row = Chunk(recordingID: r.id, index: c.index, offset: c.offset, byteCount: c.byteCount, sha256: sha256,
                        mediaStartMs: c.mediaStartMs, mediaEndMs: c.mediaEndMs, storedAt: now)
        chunks[r.id, default: []].append(row)
        r.chunkCount += 1
        r.bytes += Int64(c.byteCount)
        r.firstMediaMs = r.firstMediaMs ?? c.mediaStartMs
        r.lastMediaMs = max(r.lastMediaMs ?? c.mediaEndMs, c.mediaEndMs)
        r.deviceID = phone.deviceID
        var events: [RecordingsEvent] = []
        if c.final {
            r.finished = true
            r.finishedAt = now
            events.append(.recordingFinished(r, at: now))
        }
        recordings[r.id] = r
        changes.recordings.insert(r.id)
        changes.chunks.append(row)
        return (UploadStatus(recording: r), events)
    }

    // MARK: Completeness (R38)

    /// When the next completeness check is due.
    public func nextDeadline() -> Date? {
        interviews.values.lazy.filter { $0.checked == nil }.compactMap { $0.endedAt?.addingTimeInterval(self.config.graceSeconds) }.min()
    }

    /// Checks every interview whose grace period is over.
    public mutating func tick(now: Date) -> [RecordingsEvent] {
        var events: [RecordingsEvent] = []
        let due = interviews.values.filter { s in
            s.checked == nil && s.endedAt.map { $0.addingTimeInterval(config.graceSeconds) <= now } == true
        }.sorted { ($0.endedAt!, $0.key) < ($1.endedAt!, $1.key) }
        for var span in due {
            var result = completeness(of: span, now: now)
            result.checkedAt = now
            span.checked = result
            interviews[span.key] = span
            changes.interviews.insert(span.key)
            for role in PhoneRole.allCases {
                let id = Recording.id(span.examNumber, span.sitting, role)
                if var r = recordings[id], !r.closed {
                    r.closed = true
                    recordings[id] = r
                    changes.recordings.insert(id)
                }
            }
            events.append(.completenessChecked(span, result))
        }
        return events
    }

    /// The completeness of an interview: the stored outcome once checked,
    /// else pending (with what a check now would find).
    public func completeness(examNumber: String, sitting: Sitting, now: Date) throws -> (InterviewSpan, Completeness) {
        guard let span = interviews[InterviewSpan.key(examNumber, sitting)] else {
            throw RecordingsError(.notFound, "no \(sitting.rawValue) interview of \(examNumber) has started")
        }
        if let c = span.checked { return (span, c) }
        var c = completeness(of: span, now: now)
        c.status = .pending
        return (span, c)
    }

    /// Checks both recordings against the interview's span.
    func completeness(of span: InterviewSpan, now: Date) -> Completeness {
        let startMs = Int64((span.startedAt.timeIntervalSince1970 * 1000).rounded())
        let endMs = Int64(((span.endedAt ?? now).timeIntervalSince1970 * 1000).rounded())
        let bound = Int64(config.maxGapSeconds * 1000)
        var problems: [Problem] = []
        for role in PhoneRole.allCases {
            let id = Recording.id(span.examNumber, span.sitting, role)
            guard let r = recordings[id], let list = chunks[id], !list.isEmpty else {
                problems.append(Problem(role: role, recordingID: id, kind: .missing,
                                        text: "\(role.chinese)缺失 / the \(role.rawValue) phone's recording is missing", gap: nil))
                continue
            }
            var gaps: [Gap] = []
            var covered = startMs
            for (i, c) in list.enumerated() {
                if c.mediaStartMs - covered > bound {
                    gaps.append(Gap(kind: i == 0 ? .start : .middle, fromMs: covered, toMs: c.mediaStartMs))
                }
                // A chunk covers at most what its bytes can hold (issue 22):
                // a ledger row from before the media checks, claiming the
                // whole interview in a few bytes, leaves the rest a gap.
                let credible = c.mediaStartMs.addingReportingOverflow(config.creditableMediaMs(bytes: c.byteCount))
                covered = max(covered, credible.overflow ? c.mediaEndMs : min(c.mediaEndMs, credible.partialValue))
            }
            if endMs - covered > bound { gaps.append(Gap(kind: .end, fromMs: covered, toMs: endMs)) }
            let outs = outages[Self.outageKey(span.examNumber, role)] ?? []
            for var g in gaps {
                g.outage = outs.first { o in o.lostAtMs < g.toMs && (o.restoredAtMs ?? Int64.max) > g.fromMs }
                let seconds = String(format: "%.1f", Double(g.lengthMs) / 1000)
                var text = "\(role.chinese)中断 \(seconds) 秒 (\(BeijingTime.short(Date(unixMs: g.fromMs)))–\(BeijingTime.short(Date(unixMs: g.toMs)))) / a \(seconds) s gap in the \(role.rawValue) phone's recording"
                if g.outage != nil { text += "; the phone's signal was lost then (ground 9) / 期间信号中断" }
                problems.append(Problem(role: role, recordingID: id, kind: .gap, text: text, gap: g))
            }
            if !r.finished {
                problems.append(Problem(role: role, recordingID: id, kind: .unfinished,
                                        text: "\(role.chinese)未上传完毕 / the \(role.rawValue) phone's upload never finished (\(r.chunkCount) chunks, \(r.bytes) bytes arrived)",
                                        gap: nil))
            }
        }
        let evidence = problems.isEmpty
            ? "\(span.examNumber) \(span.sitting.rawValue): both recordings cover the interview"
            : "\(span.examNumber) \(span.sitting.rawValue) interview \(BeijingTime.short(span.startedAt))–\(BeijingTime.short(span.endedAt ?? now)): " + problems.map(\.text).joined(separator: "; ")
        return Completeness(status: problems.isEmpty ? .complete : .incomplete, problems: problems, checkedAt: nil, evidence: evidence)
    }

    // MARK: Staff (R39)

    /// An interview's recordings (main first).
    public func recordings(examNumber: String, sitting: Sitting) -> [Recording] {
        PhoneRole.allCases.compactMap { recordings[Recording.id(examNumber, sitting, $0)] }
    }

    /// The chunks holding bytes `offset ..< offset + length` of a recording,
    /// each with the part of it wanted (from, to within the chunk).
    public func segments(recordingID: String, offset: Int64, length: Int) throws -> (Recording, [(chunk: Chunk, from: Int, to: Int)]) {
        guard let r = recordings[recordingID] else { throw RecordingsError(.notFound, "recording \(recordingID) does not exist") }
        guard length > 0, length <= config.maxChunkBytes else {
            throw RecordingsError(.invalidArgument, "length: \(length) is not 1..\(config.maxChunkBytes); read in ranges of at most \(config.maxChunkBytes) bytes")
        }
        guard offset >= 0, offset < r.bytes || (offset == 0 && r.bytes == 0) else {
            throw RecordingsError(.outOfRange, "offset \(offset) is past the end of \(recordingID) (\(r.bytes) bytes)")
        }
        let end = min(r.bytes, offset + Int64(length))
        var out: [(chunk: Chunk, from: Int, to: Int)] = []
        let list = chunks[recordingID] ?? []
        // Binary search for the chunk holding `offset`.
        var lo = 0, hi = list.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if list[mid].offset + Int64(list[mid].byteCount) <= offset { lo = mid + 1 } else { hi = mid }
        }
        var i = lo
        while i < list.count, list[i].offset < end {
            let c = list[i]
            let from = Int(max(offset, c.offset) - c.offset)
            let to = Int(min(end, c.offset + Int64(c.byteCount)) - c.offset)
            out.append((c, from, to))
            i += 1
        }
        return (r, out)
    }

    /// Every read is an event naming the reader (R39).
    public func read(recording r: Recording, reader: String, what: String, offset: Int64, length: Int64, now: Date) -> RecordingsEvent {
        .read(recordingID: r.id, examNumber: r.examNumber, sitting: r.sitting, reader: reader, what: what, offset: offset, length: length, at: now)
    }

    /// Every hash the ledger refers to, with the recordings that use it.
    public func blobReferences() -> [String: [String]] {
        var refs: [String: Set<String>] = [:]
        for (id, list) in chunks { for c in list { refs[c.sha256, default: []].insert(id) } }
        return refs.mapValues { $0.sorted() }
    }

    // MARK: Retention (R39)

    /// Forgets the recordings of interviews that ended more than the
    /// retention period before `now`; returns the hashes no recording uses
    /// any more (the shell deletes those blobs after the commit).
    public mutating func expire(now: Date) -> [String] {
        guard let days = config.retentionDays else { return [] }
        let cutoff = now.addingTimeInterval(-days * 86_400)
        var dropped: Set<String> = []
        for span in interviews.values where span.checked != nil && (span.endedAt ?? now) < cutoff {
            for role in PhoneRole.allCases {
                let id = Recording.id(span.examNumber, span.sitting, role)
                guard recordings.removeValue(forKey: id) != nil else { continue }
                for c in chunks.removeValue(forKey: id) ?? [] {
                    dropped.insert(c.sha256)
                    changes.removedChunks.append(c.key)
                }
                changes.removedRecordings.append(id)
                changes.recordings.remove(id)
            }
        }
        guard !dropped.isEmpty else { return [] }
        let still = Set(blobReferences().keys)
        return dropped.subtracting(still).sorted()
    }
}

extension Date {
    init(unixMs: Int64) { self.init(timeIntervalSince1970: Double(unixMs) / 1000) }
    /// As completeness rounds an interview's span.
    var unixMs: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }
}
