// recordings: the two videos of every interview, uploaded in chunks,
// durable, checked complete (R36-R39). The thin shell around
// RecordingsCore: it proves who a phone is (roster's token, devices' device
// key), writes chunk bytes to the blob store before the ledger commits
// them, follows timing (interviews) and devices (signal outages), runs the
// completeness check on the engine's timer, and serves the chief and ops.
import ArgumentParser
import Bus
import ExamContracts
import ExamPlan
import Foundation
import Logging
import RecordingsCore
import ServiceKit
import Store
import Synchronization

@main
struct RecordingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recordings",
        abstract: "The recordings service (R36-R39), and its ops commands.",
        subcommands: [Serve.self, ExportCommand.self, VerifyCommand.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the recordings service.")

    @OptionGroup var host: HostOptions

    @Option(help: "Seconds after an interview's end its last chunks may still arrive before the completeness check (R38).")
    var grace: Double = 30

    @Option(help: "A gap longer than this many seconds makes a recording incomplete (R38).")
    var maxGap: Double = 10

    @Option(help: "Seconds a chunk's media times may stray (issue 22): before the interview's start, past the server's now, over the previous chunk's end.")
    var mediaSlack: Double = 2

    @Option(help: "The fewest bytes a second of media a chunk may claim (issue 22; 0: no bound).")
    var minMediaRate: Int = 32

    @Option(help: "The most bytes a second of media a chunk may carry, beyond a burst of 256 KiB (issue 22).")
    var maxMediaRate: Int = 2 << 20

    @Option(help: "Days recordings are kept after their interview (R39); unset: kept until deleted by ops.")
    var retentionDays: Double?

    @Option(help: "Seconds between retention sweeps.")
    var retentionEvery: Double = 3600

    @Option(help: "Folder of the chunk blobs (default: <data>/recordings-blobs).")
    var blobs: String?

    func validate() throws {
        guard grace >= 0 else { throw ValidationError("--grace must be 0 or more seconds") }
        guard maxGap > 0 else { throw ValidationError("--max-gap must be more than 0 seconds") }
        if let r = retentionDays, r <= 0 { throw ValidationError("--retention-days must be more than 0") }
        guard mediaSlack >= 0 else { throw ValidationError("--media-slack must be 0 or more seconds") }
        guard minMediaRate >= 0 else { throw ValidationError("--min-media-rate must be 0 or more bytes a second") }
        guard maxMediaRate > minMediaRate else { throw ValidationError("--max-media-rate must be more than --min-media-rate") }
    }

    func run() async throws {
        ExamLogHandler.bootstrap(level: host.level, format: host.format)
        let config = RecordingsConfig(graceSeconds: grace, maxGapSeconds: maxGap, retentionDays: retentionDays, mediaSlackSeconds: mediaSlack,
                                      minMediaBytesPerSecond: minMediaRate, maxMediaBytesPerSecond: maxMediaRate)
        let folder = blobs ?? (host.data as NSString).appendingPathComponent("recordings-blobs")
        let blobStore = try LocalBlobStore(root: folder)
        let service = try ServiceHost<RecordingsState>(name: "recordings", options: host) { store in
            try RecordingsDocuments.load(store, config: config)
        }
        RecordingsShell.wire(service, blobs: blobStore)
        if retentionDays != nil { RecordingsShell.retention(service, blobs: blobStore, every: retentionEvery) }
        try await service.run()
    }
}

/// The ledger as documents: one per interview, per recording, per chunk,
/// and the outages per phone.
enum RecordingsDocuments {
    static func load(_ store: ServiceStore, config: RecordingsConfig) throws -> RecordingsState {
        do {
            return try RecordingsState(
                config: config,
                interviews: try store.documents(InterviewSpan.self, kind: "interview").map(\.value),
                recordings: try store.documents(Recording.self, kind: "recording").map(\.value),
                chunks: try store.documents(Chunk.self, kind: "chunk").map(\.value),
                outages: Dictionary(uniqueKeysWithValues: try store.documents([OutageSpan].self, kind: "outage").map { ($0.key, $0.value) }))
        } catch let e as RecordingsError {
            throw ConfigError("the recordings store \(store.path) does not hold together: \(e.message)")
        }
    }

    /// Stages what the core changed and publishes its events.
    static func record(_ events: [RecordingsEvent], _ state: inout RecordingsState, _ tx: inout Transaction) throws {
        let c = state.takeChanges()
        for k in c.interviews { if let v = state.interviews[k] { tx.put(v, kind: "interview", key: k) } }
        for k in c.recordings { if let v = state.recordings[k] { tx.put(v, kind: "recording", key: k) } }
        for k in c.outages { if let v = state.outages[k] { tx.put(v, kind: "outage", key: k) } }
        for chunk in c.chunks { tx.put(chunk, kind: "chunk", key: chunk.key) }
        for k in c.removedRecordings { tx.delete(kind: "recording", key: k) }
        for k in c.removedChunks { tx.delete(kind: "chunk", key: k) }
        for k in c.removedInterviews { tx.delete(kind: "interview", key: k) }
        for e in events { try tx.publish(e.topic, RecordingsWire.payload(e)) }
    }
}

enum RecordingsShell {
    static let readers: Set<ActorRole> = [.chiefExaminer, .ops]
    /// Blob writes and reads block on the disk: their own threads, not the cooperative pool.
    static let diskQueue = DispatchQueue(label: "recordings.blobs", qos: .userInitiated, attributes: .concurrent)

    static func onDisk<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            diskQueue.async { c.resume(with: Result { try body() }) }
        }
    }

    static func wire(_ service: ServiceHost<RecordingsState>, blobs: any BlobStore) {
        let cache = PhoneVerifier(client: { try service.client(for: $0) })
        let logger = service.logger
        let chunksStored = service.counters.counter("recordings.chunks_stored")
        let bytesStored = service.counters.counter("recordings.bytes_stored")
        let duplicates = service.counters.counter("recordings.chunks_duplicate")
        let refusedChunks = service.counters.counter("recordings.chunks_refused")

        service.engine.wake(at: { $0.nextDeadline() }) { state, tx in
            let events = state.tick(now: tx.now)
            try RecordingsDocuments.record(events, &state, &tx)
        }

        // Phones (R37): who they are first (off the engine), then the core.
        phoneCall(service, RecordingsAPI.createUpload, cache: cache, credentials: \.phone) { req, phone in
            let sitting: Sitting? = req.sitting == .unspecified ? nil : try Sitting(wire: req.sitting)
            let role: PhoneRole? = req.role == .unspecified ? nil : try RecordingsWire.role(req.role)
            let create: @Sendable ([InterviewInfo]) async throws -> UploadState = { learned in
                try await service.engine.write { state, tx in
                    // What timing just told (its event may still be on its way).
                    for i in learned { try RecordingsShell.applyInterview(i, &state) }
                    let (status, events) = try core { try state.createUpload(phone: phone, sitting: sitting, role: role, mimeType: req.mimeType, now: tx.now) }
                    try RecordingsDocuments.record(events, &state, &tx)
                    return RecordingsWire.upload(status, now: tx.now)
                }
            }
            do {
                return try await create([])
            } catch let e as RPCError where e.code == .failedPrecondition && e.message.hasPrefix("no ") {
                // The phone heard timing's "interview started" before this
                // service did: ask timing, then decide on what it says.
                var learned: [InterviewInfo] = []
                for s in sitting.map({ [$0] }) ?? [.formal, .mock] {
                    if let i = try? await service.client(for: "timing").call(TimingAPI.getInterview,
                                                                             InterviewRequest(examNumber: phone.examNumber, sitting: s.wire),
                                                                             timeout: .seconds(3)),
                       i.startedAtMs > 0, i.phase != .unspecified {
                        learned.append(i)
                    }
                }
                guard !learned.isEmpty else { throw e }
                return try await create(learned)
            }
        }

        phoneCall(service, RecordingsAPI.getUpload, cache: cache, credentials: \.phone) { req, phone in
            try await service.engine.read { state in
                RecordingsWire.upload(try core { try state.uploadStatus(phone: phone, recordingID: req.recordingId) }, now: Date())
            }
        }

        phoneCall(service, RecordingsAPI.appendChunk, cache: cache, credentials: \.phone) { req, phone in
            let chunk = ChunkSubmission(recordingID: req.recordingId, index: Int(req.index), offset: Int64(req.offset),
                                        mediaStartMs: req.mediaStartMs, mediaEndMs: req.mediaEndMs, byteCount: Int(req.byteCount),
                                        sha256: req.sha256, data: [UInt8](req.data), final: req.final)
            do {
                // 1. The chunk alone: size, hash, times (no state needed).
                let sha = try core { try chunk.checkAlone(maxBytes: RecordingsConfig.chunkLimit) }
                // 2. Against the ledger: whose, where, a repeat?
                let repeatStatus = try await service.engine.read { state in
                    try core { try state.planAppend(phone: phone, chunk: chunk, sha256: sha, now: Date()) }.map { RecordingsWire.upload($0, now: Date()) }
                }
                if let repeatStatus {
                    duplicates.add()
                    return repeatStatus
                }
                // 3. The bytes, durable, before the ledger names them.
                try await onDisk { try blobs.put(sha256: sha, bytes: chunk.data) }
                // 4. The ledger row (decided again on the state of now), committed before the answer.
                let reply = try await service.engine.write { state, tx in
                    let (status, events) = try core { try state.appendChunk(phone: phone, chunk: chunk, sha256: sha, now: tx.now) }
                    try RecordingsDocuments.record(events, &state, &tx)
                    return RecordingsWire.upload(status, now: tx.now)
                }
                if reply.duplicate { duplicates.add() } else {
                    chunksStored.add()
                    bytesStored.add(Int64(chunk.byteCount))
                }
                logger.debug("chunk stored", metadata: ["recording": "\(chunk.recordingID)", "index": "\(chunk.index)",
                                                        "bytes": "\(chunk.byteCount)", "device": "\(phone.deviceID)"])
                return reply
            } catch {
                refusedChunks.add()
                throw error
            }
        }

        // The chief examiner and ops (R39).
        service.serve(RecordingsAPI.listRecordings) { req, info, state, tx in
            try info.require(readers, to: "listing recordings")
            let sitting = try Sitting(wire: req.sitting)
            let (span, completeness) = try core { try state.completeness(examNumber: req.examNumber, sitting: sitting, now: tx.now) }
            return InterviewRecordings(examNumber: req.examNumber, sitting: req.sitting,
                                       recordings: state.recordings(examNumber: req.examNumber, sitting: sitting).map {
                                           RecordingsWire.view($0, chunks: state.chunks[$0.id] ?? [], withChunks: true)
                                       },
                                       completeness: RecordingsWire.completeness(span, completeness))
        }

        service.server.serveDeferred(RecordingsAPI.readRange) { req, info, responder in
            Task {
                do {
                    try info.require(readers, to: "reading recordings")
                    let reader = info.principal.logName
                    let (recording, segments) = try await service.engine.write { state, tx in
                        let (r, segs) = try core { try state.segments(recordingID: req.recordingId, offset: Int64(req.offset), length: Int(req.length)) }
                        let read = state.read(recording: r, reader: reader, what: "range", offset: Int64(req.offset),
                                              length: Int64(segs.reduce(0) { $0 + $1.to - $1.from }), now: tx.now)
                        try RecordingsDocuments.record([read], &state, &tx)
                        return (r, segs.map { Segment(chunk: $0.chunk, from: $0.from, to: $0.to) })
                    }
                    let data = try await onDisk { try readVerified(blobs, segments) }
                    responder.succeed(ReadRangeReply(recordingId: recording.id, offset: req.offset, data: Data(data),
                                                     totalBytes: UInt64(recording.bytes), mimeType: recording.mimeType,
                                                     finished: recording.finished))
                } catch {
                    responder.fail(error)
                }
            }
        }

        service.server.serveDeferred(RecordingsAPI.export) { req, info, responder in
            Task {
                do {
                    try info.require([.ops], to: "exporting recordings")
                    guard req.folder.hasPrefix("/") else { throw RPCError.invalidArgument("folder: '\(req.folder)' is not an absolute path") }
                    let sitting = try Sitting(wire: req.sitting)
                    let reader = info.principal.logName
                    let plan = try await service.engine.write { state, tx in
                        let (span, completeness) = try core { try state.completeness(examNumber: req.examNumber, sitting: sitting, now: tx.now) }
                        let recs = state.recordings(examNumber: req.examNumber, sitting: sitting)
                        let reads = recs.map { state.read(recording: $0, reader: reader, what: "export", offset: 0, length: $0.bytes, now: tx.now) }
                        try RecordingsDocuments.record(reads, &state, &tx)
                        return ExportPlan(examNumber: req.examNumber, sitting: sitting, recordings: recs.map { ($0, state.chunks[$0.id] ?? []) },
                                          completeness: RecordingsWire.completeness(span, completeness))
                    }
                    let reply = try await onDisk { try Exporter.write(plan, to: req.folder, blobs: blobs) }
                    logger.info("recordings exported", metadata: ["exam_number": "\(req.examNumber)", "sitting": "\(sitting.rawValue)",
                                                                  "by": "\(reader)", "files": "\(reply.files.count)"])
                    responder.succeed(reply)
                } catch {
                    responder.fail(error)
                }
            }
        }

        // Ops and services: the report the publication warns from (R38).
        service.serve(RecordingsAPI.completeness) { req, info, state, tx in
            try info.require([.ops, .chiefExaminer, .service], to: "the completeness report")
            let sittings: [Sitting] = req.sitting == .unspecified ? [.mock, .formal] : [try Sitting(wire: req.sitting)]
            var report = CompletenessReport()
            for span in state.interviews.values.sorted(by: { ($0.startedAt, $0.key) < ($1.startedAt, $1.key) }) where sittings.contains(span.sitting) {
                let (_, c) = try core { try state.completeness(examNumber: span.examNumber, sitting: span.sitting, now: tx.now) }
                switch c.status {
                case .complete: report.complete += 1
                case .incomplete: report.incomplete += 1
                case .pending: report.pending += 1
                }
                if req.onlyIncomplete && c.status != .incomplete { continue }
                report.interviews.append(RecordingsWire.completeness(span, c))
            }
            return report
        }

        service.server.serveDeferred(RecordingsAPI.verify) { _, info, responder in
            Task {
                do {
                    try info.require([.ops], to: "verifying the recordings' blobs")
                    let refs = try await service.engine.read { $0.blobReferences() }
                    let reply = try await onDisk { verifyBlobs(blobs, refs) }
                    logger.info("blobs verified", metadata: ["by": "\(info.principal.logName)", "checked": "\(reply.blobsChecked)",
                                                             "problems": "\(reply.problems.count)"])
                    responder.succeed(reply)
                } catch {
                    responder.fail(error)
                }
            }
        }

        follow(service)
    }

    /// An interview as timing answers it (GetInterview): its start, and its
    /// end once over.
    static func applyInterview(_ i: InterviewInfo, _ state: inout RecordingsState) throws {
        let sitting = try Sitting(wire: i.sitting)
        state.interviewStarted(examNumber: i.examNumber, roomID: i.roomId, sitting: sitting, at: Date(unixMs: i.startedAtMs))
    }

    /// Interviews from timing, outages from devices.
    static func follow(_ service: ServiceHost<RecordingsState>) {
        service.follow("timing", prefixes: ["timing.interview.started", "timing.interview.ended"]) { event, state, tx in
            let i = try event.decode(InterviewEvent.self)
            let sitting = try Sitting(wire: i.sitting)
            let at = Date(unixMs: i.dueMs > 0 ? i.dueMs : i.atMs)
            if event.topic == "timing.interview.started" {
                state.interviewStarted(examNumber: i.examNumber, roomID: i.roomId, sitting: sitting,
                                       at: i.startedAtMs > 0 ? Date(unixMs: i.startedAtMs) : at)
            } else {
                state.interviewEnded(examNumber: i.examNumber, roomID: i.roomId, sitting: sitting,
                                     startedAt: i.startedAtMs > 0 ? Date(unixMs: i.startedAtMs) : nil, at: at)
            }
            try RecordingsDocuments.record([], &state, &tx)
        }
        service.follow("devices", prefixes: ["devices.signal.lost", "devices.signal.restored"]) { event, state, tx in
            let s = try event.decode(SignalEvent.self)
            guard let role = try? RecordingsWire.role(s.role) else { return }
            if event.topic == "devices.signal.lost" {
                state.signalLost(examNumber: s.examNumber, role: role, lastSeenMs: s.lastSeenMs)
            } else {
                state.signalRestored(examNumber: s.examNumber, role: role, lastSeenMs: s.lastSeenMs, restoredAtMs: s.atMs)
            }
            try RecordingsDocuments.record([], &state, &tx)
        }
    }

    /// Retention (R39): recordings of interviews older than the period are
    /// forgotten (committed first), then their blobs deleted.
    static func retention(_ service: ServiceHost<RecordingsState>, blobs: any BlobStore, every seconds: Double) {
        let logger = service.logger
        Task.detached {
            try? await Task.sleep(for: .seconds(2))
            while true {
                do {
                    let doomed = try await service.engine.write { state, tx in
                        let hashes = state.expire(now: tx.now)
                        try RecordingsDocuments.record([], &state, &tx)
                        return hashes
                    }
                    if !doomed.isEmpty {
                        try await onDisk { for h in doomed { try blobs.delete(sha256: h) } }
                        logger.info("recordings past retention deleted", metadata: ["blobs": "\(doomed.count)", "by": "retention"])
                    }
                } catch {
                    logger.error("retention sweep failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(max(1, seconds)))
            }
        }
    }

    struct Segment: Sendable {
        var chunk: Chunk
        var from: Int
        var to: Int
    }

    /// Reads the wanted parts of each chunk, each blob re-hashed first: a
    /// missing or changed blob is never served (DATA_LOSS).
    static func readVerified(_ blobs: any BlobStore, _ segments: [Segment]) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(segments.reduce(0) { $0 + $1.to - $1.from })
        for s in segments {
            out += try verifiedChunk(blobs, s.chunk)[s.from..<s.to]
        }
        return out
    }

    static func verifiedChunk(_ blobs: any BlobStore, _ c: Chunk) throws -> [UInt8] {
        guard let bytes = try blobs.read(sha256: c.sha256) else {
            throw RPCError(.dataLoss, "chunk \(c.index) of \(c.recordingID): its blob \(c.sha256) is missing (run recordings verify)")
        }
        guard bytes.count == c.byteCount, Hashing.sha256Hex(bytes) == c.sha256 else {
            throw RPCError(.dataLoss, "chunk \(c.index) of \(c.recordingID): its blob \(c.sha256) no longer matches its hash (run recordings verify)")
        }
        return bytes
    }

    static func verifyBlobs(_ blobs: any BlobStore, _ refs: [String: [String]]) -> VerifyBlobsReply {
        var reply = VerifyBlobsReply()
        for (hash, ids) in refs.sorted(by: { $0.key < $1.key }) {
            let bytes: [UInt8]?
            do { bytes = try blobs.read(sha256: hash) } catch { bytes = nil }
            guard let bytes else {
                reply.problems.append(BlobProblem(sha256: hash, problem: "missing", recordingIds: ids))
                continue
            }
            reply.blobsChecked += 1
            reply.bytesChecked += UInt64(bytes.count)
            if Hashing.sha256Hex(bytes) != hash {
                reply.problems.append(BlobProblem(sha256: hash, problem: "corrupt", recordingIds: ids))
            }
        }
        return reply
    }

    // MARK: Plumbing

    /// A phone's call: its credentials proven (roster's token, devices'
    /// key, the same candidate), then `body` with the phone.
    static func phoneCall<Req: ProtoMessage, Resp: ProtoMessage>(
        _ service: ServiceHost<RecordingsState>, _ method: RPCMethod<Req, Resp>, cache: PhoneVerifier,
        credentials: KeyPath<Req, PhoneCredentials?> & Sendable,
        _ body: @escaping @Sendable (Req, Phone) async throws -> Resp) {
        service.server.serveDeferred(method) { req, info, responder in
            Task {
                do {
                    let phone = try await prove(service, req[keyPath: credentials], cache: cache)
                    guard !info.isExpired else {
                        throw RPCError(.deadlineExceeded, "deadline of \(method.name) passed while recordings checked the phone")
                    }
                    responder.succeed(try await body(req, phone))
                } catch {
                    responder.fail(error)
                }
            }
        }
    }

    static func prove(_ service: ServiceHost<RecordingsState>, _ credentials: PhoneCredentials?, cache: PhoneVerifier) async throws -> Phone {
        let p = try await cache.verify(credentials)
        return Phone(examNumber: p.examNumber, role: try RecordingsWire.role(p.role), deviceID: p.deviceID)
    }

    /// Runs a core operation, turning its refusal into the bus's error.
    static func core<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as RecordingsError {
            throw RPCError(coreCode: e.code.rawValue, message: e.message)
        }
    }
}
