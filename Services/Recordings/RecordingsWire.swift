import Bus
import ExamContracts
import ExamPlan
import Foundation
import RecordingsCore
import ServiceKit

/// The core's values as protos/exam/v1/recordings.proto has them.
enum RecordingsWire {
    static func role(_ r: DeviceRole) throws -> PhoneRole {
        switch r {
        case .main: .main
        case .secondary: .secondary
        case .unspecified: throw RPCError.invalidArgument("role: say DEVICE_ROLE_MAIN (主机位) or DEVICE_ROLE_SECONDARY (副机位)")
        }
    }

    static func role(_ r: PhoneRole) -> DeviceRole { r == .main ? .main : .secondary }

    static func upload(_ s: UploadStatus, now: Date) -> UploadState {
        let r = s.recording
        return UploadState(recordingId: r.id, examNumber: r.examNumber, sitting: r.sitting.wire, role: role(r.role),
                           nextIndex: UInt32(s.nextIndex), nextOffset: UInt64(s.nextOffset), finished: r.finished, closed: r.closed,
                           duplicate: s.duplicate, maxChunkBytes: UInt32(RecordingsConfig.chunkLimit), serverTimeMs: now.unixMs,
                           mimeType: r.mimeType)
    }

    static func chunk(_ c: Chunk) -> ChunkInfo {
        ChunkInfo(index: UInt32(c.index), offset: UInt64(c.offset), byteCount: UInt32(c.byteCount), sha256: c.sha256,
                  mediaStartMs: c.mediaStartMs, mediaEndMs: c.mediaEndMs, storedAtMs: c.storedAt.unixMs)
    }

    static func view(_ r: Recording, chunks: [Chunk], withChunks: Bool) -> RecordingView {
        RecordingView(recordingId: r.id, examNumber: r.examNumber, sitting: r.sitting.wire, role: role(r.role), deviceId: r.deviceID,
                      mimeType: r.mimeType, chunks: UInt32(r.chunkCount), bytes: UInt64(r.bytes), mediaStartMs: r.firstMediaMs ?? 0,
                      mediaEndMs: r.lastMediaMs ?? 0, finished: r.finished, closed: r.closed, createdAtMs: r.createdAt.unixMs,
                      chunkList: withChunks ? chunks.map(chunk) : [], sha256: "")
    }

    static func gap(_ g: Gap) -> RecordingGap {
        let kind: GapKind = switch g.kind {
        case .start: .start
        case .middle: .middle
        case .end: .end
        }
        return RecordingGap(kind: kind, fromMs: g.fromMs, toMs: g.toMs, lengthMs: g.lengthMs, duringSignalLoss: g.outage != nil,
                            outageLostAtMs: g.outage?.lostAtMs ?? 0, outageRestoredAtMs: g.outage?.restoredAtMs ?? 0)
    }

    static func completeness(_ span: InterviewSpan, _ c: Completeness) -> InterviewCompleteness {
        let status: CompletenessStatus = switch c.status {
        case .pending: .pending
        case .complete: .complete
        case .incomplete: .incomplete
        }
        return InterviewCompleteness(
            examNumber: span.examNumber, roomId: span.roomID, sitting: span.sitting.wire, interviewStartedAtMs: span.startedAt.unixMs,
            interviewEndedAtMs: span.endedAt?.unixMs ?? 0, status: status,
            problems: c.problems.map { p in
                RecordingProblem(role: role(p.role), recordingId: p.recordingID, kind: p.kind.rawValue, text: p.text, gap: p.gap.map(gap))
            },
            checkedAtMs: c.checkedAt?.unixMs ?? 0, evidence: c.evidence)
    }

    static func recordingEvent(_ r: Recording, at: Date) -> RecordingEvent {
        RecordingEvent(recordingId: r.id, examNumber: r.examNumber, sitting: r.sitting.wire, role: role(r.role), deviceId: r.deviceID,
                       chunks: UInt32(r.chunkCount), bytes: UInt64(r.bytes), atMs: at.unixMs)
    }

    static func payload(_ e: RecordingsEvent) -> any ProtoMessage {
        switch e {
        case .recordingStarted(let r, let at), .recordingFinished(let r, let at):
            return recordingEvent(r, at: at)
        case .completenessChecked(let span, let c):
            return CompletenessEvent(completeness: completeness(span, c), examNumber: span.examNumber, sitting: span.sitting.wire)
        case .read(let id, let exam, let sitting, let reader, let what, let offset, let length, let at):
            return ReadEvent(recordingId: id, examNumber: exam, sitting: sitting.wire, reader: reader, what: what,
                             offset: UInt64(offset), length: UInt64(length), atMs: at.unixMs)
        }
    }
}

/// What an export writes (taken from the state, written off the engine).
struct ExportPlan: Sendable {
    var examNumber: String
    var sitting: Sitting
    var recordings: [(Recording, [Chunk])]
    var completeness: InterviewCompleteness
}

/// `Export`: one interview's videos and a manifest of hashes (R39).
enum Exporter {
    struct Manifest: Codable {
        struct File: Codable {
            var file: String
            var recordingId: String
            var role: String
            var bytes: Int64
            var sha256: String
            var finished: Bool
            var chunks: [ChunkLine]
        }
        struct ChunkLine: Codable {
            var index: Int
            var offset: Int64
            var bytes: Int
            var sha256: String
            var mediaStartMs: Int64
            var mediaEndMs: Int64
        }
        var examNumber: String
        var sitting: String
        var exportedAtMs: Int64
        var completeness: String
        var evidence: String
        var files: [File]
    }

    static func fileExtension(_ mime: String) -> String {
        let m = mime.lowercased()
        if m.contains("mp4") { return "mp4" }
        if m.contains("webm") { return "webm" }
        return "bin"
    }

    static func write(_ plan: ExportPlan, to folder: String, blobs: any BlobStore) throws -> ExportRecordingsReply {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: folder, isDirectory: &isDir) {
            guard isDir.boolValue else { throw RPCError.invalidArgument("folder: \(folder) is a file") }
            guard ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).isEmpty else {
                throw RPCError.invalidArgument("folder: \(folder) is not empty")
            }
        } else {
            do { try fm.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw RPCError.invalidArgument("folder: cannot create \(folder): \(error.localizedDescription)")
            }
        }
        var reply = ExportRecordingsReply()
        var files: [Manifest.File] = []
        for (r, chunks) in plan.recordings {
            let name = "\(r.role.rawValue).\(fileExtension(r.mimeType))"
            let path = folder + "/" + name
            guard fm.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                throw RPCError.invalidArgument("folder: cannot write \(path)")
            }
            var hasher = StreamingSHA256()
            for c in chunks {
                let bytes = try RecordingsShell.verifiedChunk(blobs, c)
                handle.write(Data(bytes))
                hasher.update(bytes)
            }
            try handle.synchronize()
            try handle.close()
            let sha = hasher.finish()
            reply.files.append(ExportedFile(path: path, role: RecordingsWire.role(r.role), bytes: UInt64(r.bytes), sha256: sha))
            files.append(Manifest.File(file: name, recordingId: r.id, role: r.role.rawValue, bytes: r.bytes, sha256: sha, finished: r.finished,
                                       chunks: chunks.map { Manifest.ChunkLine(index: $0.index, offset: $0.offset, bytes: $0.byteCount, sha256: $0.sha256,
                                                                               mediaStartMs: $0.mediaStartMs, mediaEndMs: $0.mediaEndMs) }))
        }
        let statusName = switch plan.completeness.status {
        case .complete: "complete"
        case .incomplete: "incomplete"
        default: "pending"
        }
        let manifest = Manifest(examNumber: plan.examNumber, sitting: plan.sitting.rawValue, exportedAtMs: Date().unixMs,
                                completeness: statusName, evidence: plan.completeness.evidence, files: files)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let manifestPath = folder + "/manifest.json"
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: manifestPath), options: .atomic)
        reply.manifestPath = manifestPath
        return reply
    }
}
