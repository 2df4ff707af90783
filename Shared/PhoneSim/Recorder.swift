import Bus
import Crypto
import ExamContracts
import Foundation

// Recordings (R36-R38): each phone records its candidate's interview and
// uploads it as RECORDINGS-CONTRACT.md says: CreateUpload when the
// interview starts, one AppendChunk per timeslice at the expected index and
// offset, media times on the server clock, the final chunk at the
// interview's end, and after an error GetUpload to learn where the
// server's copy ends (a chunk is kept until it is answered OK).
//
// Without signal (a drop, a call, both phones lost) the client's camera
// stops with its connection: nothing is recorded for that span, so the
// recording's gap lines up with the outage devices reports (ground 9). An
// upload fault (`upload_faults`) breaks the upload alone.

/// One chunk as the recorder cut it: kept until recordings stored it.
struct Blob: Sendable {
    let index: UInt32
    let offset: UInt64
    let startMs: Int64
    let endMs: Int64
    let data: Data
    let sha256: String
    let final: Bool
}

/// Synthetic video: a WebM (EBML) magic at the start of the recording,
/// then bytes that differ per recording and chunk (so every chunk is a blob
/// of its own), cheap to make.
enum SyntheticVideo {
    static func bytes(_ recording: String, index: UInt32, count: Int) -> Data {
        var seed = recording.utf8.reduce(UInt64(14695981039346656037)) { ($0 ^ UInt64($1)) &* 1099511628211 } ^ (UInt64(index) &* 0x9E3779B97F4A7C15)
        var words = [UInt64](repeating: 0, count: (count + 7) / 8)
        for i in words.indices {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            words[i] = seed
        }
        var data = words.withUnsafeBytes { Data($0.prefix(count)) }
        if index == 0 && count >= 4 { data.replaceSubrange(0..<4, with: [0x1A, 0x45, 0xDF, 0xA3]) }
        return data
    }

    static func sha256Hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}

extension PhoneSimulator {
    /// How often the recorder looks at the clock, the signal and the
    /// interview's end (the final chunk goes out within this of the end).
    static let recorderTickMs: Int64 = 100

    /// Records and uploads one phone's recording of one interview until the
    /// final chunk is stored (or the upload cannot go on).
    func record(_ c: CandidateScript, _ sitting: SittingChoice, _ role: PhoneRole, startedAtMs: Int64, settings: UploadSettings) async {
        let exam = c.examNumber
        let id = c.deviceID(role)
        let scripted = sitting == .formal ? c.uploadFaults.filter { $0.role == role } : []
        let unfinished = scripted.contains { $0.kind == .unfinished }
        let stalls = scripted.filter { $0.kind == .stall }.map { f in
            (startedAtMs + Int64((f.at * 1000).rounded()), startedAtMs + Int64(((f.at + (f.seconds ?? 0)) * 1000).rounded()))
        }
        await fleet.updateRecording(exam, sitting, role) { $0.scripted = scripted.map(\.kind.rawValue) }

        var recordingID: String?
        var queue: [Blob] = []
        var madeIndex: UInt32 = 0
        var madeBytes: UInt64 = 0
        var lastMediaEnd = startedAtMs
        var darkSince: Int64?
        var cutFinal = false
        var done = false

        func cut(_ from: Int64, _ to: Int64, final: Bool) {
            let end = max(to, from + 1)
            let count = max(64, min(RecordingsLimits.chunkBytes, Int(Int64(settings.chunkBytes) * (end - from) / 1000)))
            let name = recordingID ?? "\(exam)-\(sitting.rawValue)-\(role.rawValue)"
            let data = SyntheticVideo.bytes(name, index: madeIndex, count: final ? min(count, 4096) : count)
            queue.append(Blob(index: madeIndex, offset: madeBytes, startMs: from, endMs: end, data: data,
                              sha256: SyntheticVideo.sha256Hex(data), final: final))
            madeIndex += 1
            madeBytes += UInt64(data.count)
            lastMediaEnd = end
        }

        while !isStopping && !done {
            let now = nowMs()
            let ended = await fleet.interviewEndedAtMs(exam, sitting)
            let noSignal = await fleet.isSilenced(id)
            let stalled = stalls.contains { now >= $0.0 && now < $0.1 }
            if !cutFinal {
                if noSignal || stalled {
                    if darkSince == nil {
                        // What was recorded up to the loss is kept and sent later.
                        if now > lastMediaEnd && ended == nil { cut(lastMediaEnd, now, final: false) }
                        darkSince = now
                    }
                    lastMediaEnd = max(lastMediaEnd, now)
                } else {
                    if let from = darkSince {
                        let to = lastMediaEnd
                        await fleet.updateRecording(exam, sitting, role) { $0.gaps.append(MediaSpan(fromMs: from, toMs: to)) }
                        darkSince = nil
                    }
                    if let end = ended {
                        cutFinal = true
                        if unfinished {
                            // The page closed before recorder.stop(): what was
                            // recorded is sent, the final chunk never is.
                            if end > lastMediaEnd { cut(lastMediaEnd, end, final: false) }
                        } else {
                            cut(lastMediaEnd, max(end, lastMediaEnd + 1), final: true)
                        }
                    } else if now - lastMediaEnd >= Int64(settings.chunkMs) {
                        cut(lastMediaEnd, now, final: false)
                    }
                }
            }
            if !noSignal && !queue.isEmpty {
                done = await upload(exam, sitting, role, recordingID: &recordingID, queue: &queue)
            }
            if cutFinal && queue.isEmpty { done = true }
            if !done { try? await Task.sleep(for: .milliseconds(Self.recorderTickMs)) }
        }
    }

    /// Sends the queued chunks in order; true when the upload cannot go on
    /// (refused for good). A chunk leaves the queue only once stored.
    func upload(_ exam: String, _ sitting: SittingChoice, _ role: PhoneRole, recordingID: inout String?, queue: inout [Blob]) async -> Bool {
        guard let phone = await fleet.credentials(exam, role) else { return false }  // not registered yet
        do {
            if recordingID == nil {
                let state = try await mesh.call("recordings", RecordingsAPI.createUpload,
                                                CreateUploadRequest(phone: phone, sitting: sitting.wire, role: role == .main ? .main : .secondary,
                                                                    mimeType: "video/webm;codecs=vp8,opus"), timeout: .seconds(5))
                recordingID = state.recordingId
                let rid = state.recordingId
                await fleet.updateRecording(exam, sitting, role) { $0.recordingId = rid }
                queue.removeAll { $0.index < state.nextIndex }
            }
            guard let rid = recordingID else { return false }
            while let b = queue.first {
                let reply = try await mesh.call("recordings", RecordingsAPI.appendChunk,
                                                AppendChunkRequest(phone: phone, recordingId: rid, index: b.index, offset: b.offset,
                                                                   mediaStartMs: b.startMs, mediaEndMs: b.endMs, byteCount: UInt32(b.data.count),
                                                                   sha256: b.sha256, data: b.data, final: b.final), timeout: .seconds(5))
                queue.removeFirst()
                await fleet.updateRecording(exam, sitting, role) { r in
                    r.chunksStored += 1
                    r.bytesStored += Int64(b.data.count)
                    if reply.finished { r.finished = true }
                }
            }
            return false
        } catch let e as RPCError {
            let f = failure(e)
            await fleet.updateRecording(exam, sitting, role) { $0.failures.append(f) }
            switch e.code {
            case .unavailable, .deadlineExceeded, .outOfRange, .alreadyExists:
                // Where does the server's copy end? Drop what it has, send the rest.
                await resume(exam, sitting, role, phone: phone, recordingID: recordingID, queue: &queue)
                return false
            case .failedPrecondition where recordingID == nil:
                // recordings has not heard of the interview yet: ask again on the next tick.
                return false
            default:
                logger.warning("recording upload refused", metadata: ["exam_number": "\(exam)", "role": "\(role.rawValue)",
                                                                      "sitting": "\(sitting.rawValue)", "error": "\(f.code): \(f.message)"])
                queue.removeAll()
                return true
            }
        } catch {
            let f = failure(error)
            await fleet.updateRecording(exam, sitting, role) { $0.failures.append(f) }
            return false
        }
    }

    /// GetUpload after an error (tus HEAD): the chunks below its next index
    /// are stored already (their OK was lost) and leave the queue.
    func resume(_ exam: String, _ sitting: SittingChoice, _ role: PhoneRole, phone: PhoneCredentials, recordingID: String?,
                queue: inout [Blob]) async {
        guard let rid = recordingID,
              let state = try? await mesh.call("recordings", RecordingsAPI.getUpload, UploadRequest(phone: phone, recordingId: rid),
                                               timeout: .seconds(5))
        else { return }
        let before = queue.count
        queue.removeAll { $0.index < state.nextIndex }
        let stored = before - queue.count, resending = queue.isEmpty ? 0 : 1
        await fleet.updateRecording(exam, sitting, role) { r in
            r.chunksStored += stored
            r.resends += resending
            if state.finished { r.finished = true }
        }
    }
}

enum RecordingsLimits {
    /// recordings' chunk limit (1 MiB).
    static let chunkBytes = 1_048_576
}
