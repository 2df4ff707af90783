// The recordings' edge (issue 14, R36-R39): a phone's resumable upload,
// tus-like (create or resume, append at an index and offset, ask where the
// server's copy ends), and staff playback with HTTP range requests for the
// chief examiner of the candidate's room and ops. The gateway checks what
// it can before the mesh (sizes, headers, the chunk's hash, whose
// recording it is); recordings decides the rest and checks it all again.
import Bus
import ExamContracts
import Foundation
import GatewayCore
import Hummingbird
import NIOCore
import Passwords

/// The phone's proof sent with every upload call (as the WebSocket's hello
/// carries it): the device id and the key devices gave it.
public struct PhoneProof: Sendable {
    public var deviceId: String
    public var deviceKey: String

    static func from(_ req: Request) throws(EdgeError) -> PhoneProof {
        let id = req.headers[.init("X-Device-Id")!] ?? ""
        let key = req.headers[.init("X-Device-Key")!] ?? ""
        if id.isEmpty { throw .invalid("X-Device-Id: missing; the phone's device id (as registered, R30) is required") }
        try Checks.deviceID(id, field: "X-Device-Id")
        guard !key.isEmpty else { throw .unauthenticated("X-Device-Key: missing; the key POST /api/v1/devices gave this phone is required") }
        guard key.utf8.count <= 128, key.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw .unauthenticated("X-Device-Key: not a key the gateway gave (printable ASCII, at most 128)")
        }
        return PhoneProof(deviceId: id, deviceKey: key)
    }
}

extension Edge {
    func uploadView(_ u: UploadState) -> UploadView {
        UploadView(recordingId: u.recordingId, examNumber: u.examNumber, sitting: Self.sittingName(u.sitting) ?? "",
                   role: Self.roleName(u.role) ?? "", nextIndex: Int(u.nextIndex), nextOffset: Int64(u.nextOffset), finished: u.finished,
                   closed: u.closed, duplicate: u.duplicate, maxChunkBytes: Int(u.maxChunkBytes), serverTimeMs: u.serverTimeMs,
                   mimeType: u.mimeType)
    }

    func credentials(_ s: CandidateSession, _ p: PhoneProof) -> PhoneCredentials {
        PhoneCredentials(token: s.token, deviceId: p.deviceId, deviceKey: p.deviceKey)
    }

    /// A recording id of the session's candidate (another's is refused
    /// before the mesh).
    func ownRecording(_ s: CandidateSession, _ id: String) throws(EdgeError) -> RecordingRef {
        let ref = try RecordingRef.parse(id)
        guard ref.examNumber == s.examNumber else {
            throw .denied("recording \(id) is candidate \(ref.examNumber)'s; candidate \(s.examNumber) may write only their own (R39)")
        }
        return ref
    }

    /// tus POST (and, called again, resume): the phone's recording of the
    /// sitting's running interview.
    public func createRecording(_ s: CandidateSession, _ sitting: SittingName, _ proof: PhoneProof,
                                _ body: CreateRecordingBody) async throws(EdgeError) -> UploadView {
        try body.check()
        let role: DeviceRole = switch body.role { case .main: .main; case .secondary: .secondary; case nil: .unspecified }
        let u = try await mesh("recordings", RecordingsAPI.createUpload,
                               CreateUploadRequest(phone: credentials(s, proof), sitting: Self.kind(sitting), role: role,
                                                   mimeType: body.mimeType), as: s.principal)
        logger.info("recording opened", metadata: ["exam_number": "\(s.examNumber)", "recording": "\(u.recordingId)",
                                                   "next_index": "\(u.nextIndex)", "device": "\(proof.deviceId)"])
        return uploadView(u)
    }

    /// tus HEAD: where the server's copy ends.
    public func uploadState(_ s: CandidateSession, recording id: String, _ proof: PhoneProof) async throws(EdgeError) -> UploadView {
        _ = try ownRecording(s, id)
        return uploadView(try await mesh("recordings", RecordingsAPI.getUpload,
                                         UploadRequest(phone: credentials(s, proof), recordingId: id), as: s.principal))
    }

    /// tus PATCH: one chunk at the index and offset where the server's copy
    /// ends. Its size and hash are checked here first: a bad chunk never
    /// crosses the mesh, and nothing is kept (R37).
    public func appendChunk(_ s: CandidateSession, recording id: String, _ proof: PhoneProof, _ h: ChunkHeaders,
                            _ bytes: ByteBuffer) async throws(EdgeError) -> UploadView {
        _ = try ownRecording(s, id)
        guard bytes.readableBytes > 0 else { throw .invalid("body: empty; a chunk of 1 to \(RecordingLimits.maxChunkBytes) bytes is expected") }
        let data = Data(buffer: bytes, byteTransferStrategy: .noCopy)
        let actual = Secrets.sha256Hex(data)
        guard actual == h.sha256 else {
            throw .invalid("Upload-Checksum: chunk \(h.index) of \(id) hashes to \(actual), not \(h.sha256); nothing kept, send it again (R37)")
        }
        let u = try await mesh("recordings", RecordingsAPI.appendChunk,
                               AppendChunkRequest(phone: credentials(s, proof), recordingId: id, index: h.index, offset: h.offset,
                                                  mediaStartMs: h.mediaStartMs, mediaEndMs: h.mediaEndMs, byteCount: UInt32(data.count),
                                                  sha256: h.sha256, data: data, final: h.final), as: s.principal)
        if h.final || u.duplicate {
            logger.info("\(h.final ? "recording finished" : "chunk already stored (kept once)")",
                        metadata: ["exam_number": "\(s.examNumber)", "recording": "\(id)", "index": "\(h.index)"])
        }
        return uploadView(u)
    }
}

extension StaffDesk {
    /// One interview's two recordings and their completeness (R38), for the
    /// chief of the candidate's room and ops (R39).
    public func recordings(_ p: StaffPrincipal, examNumber: String, sitting name: String?) async throws(EdgeError) -> RecordingsView {
        guard !examNumber.isEmpty, examNumber.count <= 32, examNumber.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw .invalid("path examNumber: '\(examNumber.prefix(40))' is not an exam number")
        }
        let sitting = try StaffChecks.sitting(name ?? "formal")
        _ = try await roomOf(examNumber, for: p, [.chief, .ops], doing: "watch the recordings of")
        let r = try await call("recordings", RecordingsAPI.listRecordings,
                               InterviewRecordingsRequest(examNumber: examNumber, sitting: Edge.kind(sitting)), as: p)
        let c = r.completeness ?? InterviewCompleteness()
        let status = switch c.status {
        case .complete: "complete"
        case .incomplete: "incomplete"
        case .pending, .unspecified: "pending"
        }
        return RecordingsView(
            examNumber: examNumber, sitting: sitting.rawValue,
            recordings: r.recordings.map { v in
                RecordingsView.Recording(recordingId: v.recordingId, role: Edge.roleName(v.role) ?? "", mimeType: v.mimeType, chunks: Int(v.chunks),
                                         bytes: Int64(v.bytes), mediaStartMs: v.mediaStartMs, mediaEndMs: v.mediaEndMs,
                                         finished: v.finished, closed: v.closed, sha256: v.sha256,
                                         url: "/api/v1/staff/recordings/\(v.recordingId)/video")
            },
            completeness: status,
            problems: c.problems.map { RecordingsView.Problem(role: Edge.roleName($0.role) ?? "", kind: $0.kind, text: $0.text) },
            evidence: c.evidence)
    }

    /// At most this much of a recording per range answer: a player asks
    /// again for the rest (each mesh read is an access event, R39).
    static let rangeAnswerMax: UInt64 = 4 * 1_048_576

    /// GET a recording for playback: the whole file (200) or one byte range
    /// (206 with Content-Range; 416 outside it), streamed from recordings in
    /// reads of at most 1 MiB, each re-hashed by recordings before it leaves.
    public func playback(_ p: StaffPrincipal, recording id: String, range header: String?) async throws -> Response {
        let ref = try RecordingRef.parse(id)
        _ = try await roomOf(ref.examNumber, for: p, [.chief, .ops], doing: "watch the recordings of")
        let parsed = ByteRange.parse(header)
        if case .unsatisfiable(let why) = parsed { throw RangeRefused(message: why, total: nil) }
        let who = p.call
        let mesh = edge.mesh
        // The first read tells the length (and, for a suffix, where to start).
        let probeAt: UInt64 = if case .range(let r) = parsed, let f = r.first { f } else { 0 }
        var first: ReadRangeReply
        do {
            first = try await mesh.call("recordings", RecordingsAPI.readRange,
                                        ReadRangeRequest(recordingId: id, offset: probeAt, length: UInt32(RecordingLimits.maxReadBytes)), as: who)
        } catch let e as RPCError where e.code == .outOfRange {
            // Past the end: the length for Content-Range: bytes */total.
            let total = try? await mesh.call("recordings", RecordingsAPI.readRange,
                                             ReadRangeRequest(recordingId: id, offset: 0, length: 1), as: who).totalBytes
            throw RangeRefused(message: "Range: \(header ?? ""): \(e.message)", total: total)
        } catch {
            throw EdgeError(failed: error, calling: "recordings")
        }
        let total = first.totalBytes
        var bounds: ClosedRange<UInt64>
        var status = HTTPResponse.Status.ok
        switch parsed {
        case .whole, .unsatisfiable:
            guard total > 0 else { throw EdgeError.notFound("recording \(id): nothing stored yet") }
            bounds = 0...(total - 1)
        case .range(let r):
            guard let b = r.resolve(total: total) else {
                throw RangeRefused(message: "Range: \(header ?? "") is outside recording \(id)'s \(total) bytes", total: total)
            }
            bounds = b.lowerBound...min(b.upperBound, b.lowerBound + Self.rangeAnswerMax - 1)
            status = .partialContent
            if first.offset != bounds.lowerBound { first = ReadRangeReply() }  // a suffix: read from its start
        }
        var headers: HTTPFields = [.contentType: first.mimeType.isEmpty ? "video/webm" : first.mimeType, .acceptRanges: "bytes"]
        if status == .partialContent { headers[.contentRange] = "bytes \(bounds.lowerBound)-\(bounds.upperBound)/\(total)" }
        logger.info("recording read", metadata: ["by": "\(p.account.id)", "recording": "\(id)",
                                                 "from": "\(bounds.lowerBound)", "to": "\(bounds.upperBound)"])
        let length = Int(bounds.upperBound - bounds.lowerBound + 1)
        let prefetched = first.data
        let span = bounds
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: length) { writer in
            var at = span.lowerBound
            var pending: Data? = prefetched.isEmpty ? nil : prefetched
            while at <= span.upperBound {
                let data: Data
                if let d = pending {
                    data = d
                    pending = nil
                } else {
                    let want = UInt32(min(UInt64(RecordingLimits.maxReadBytes), span.upperBound - at + 1))
                    data = try await mesh.call("recordings", RecordingsAPI.readRange,
                                               ReadRangeRequest(recordingId: id, offset: at, length: want), as: who).data
                    guard !data.isEmpty else { throw EdgeError("DATA_LOSS", "recording \(id) ended at byte \(at) while being read") }
                }
                let take = Int(min(UInt64(data.count), span.upperBound - at + 1))
                try await writer.write(ByteBuffer(bytes: data.prefix(take)))
                at += UInt64(take)
            }
            try await writer.finish(nil)
        })
    }
}

/// A range that is not in the recording: 416 with `Content-Range: bytes */total`.
struct RangeRefused: Error {
    var message: String
    var total: UInt64?
}
