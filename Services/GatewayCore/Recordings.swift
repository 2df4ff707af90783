// The recordings' HTTP shape (issue 14, R36-R39), modelled on tus 1.0: a
// phone creates (or resumes) its recording of the running interview, appends
// chunks at an index and offset with a SHA-256 (tus's checksum extension),
// asks where the server's copy ends after a drop; staff read a recording
// with HTTP range requests. What is parsed and checked here happens before
// anything crosses the mesh; recordings checks everything again.
import Foundation

public enum RecordingLimits {
    /// One chunk's bytes at most (recordings' own bound, R37).
    public static let maxChunkBytes = 1_048_576
    /// What one read of the mesh gives (ReadRange's bound).
    public static let maxReadBytes = 1_048_576
}

/// `<exam number>-<mock|formal>-<main|secondary>`, recordings' ids.
public struct RecordingRef: Sendable, Equatable {
    public var examNumber: String
    public var sitting: SittingName
    public var role: PhoneRole
    public var id: String { "\(examNumber)-\(sitting.rawValue)-\(role.rawValue)" }

    public init(examNumber: String, sitting: SittingName, role: PhoneRole) {
        self.examNumber = examNumber
        self.sitting = sitting
        self.role = role
    }

    public static func parse(_ s: String, field: String = "path recordingId") throws(EdgeError) -> RecordingRef {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard s.utf8.count <= 64, parts.count == 3, !parts[0].isEmpty, parts[0].count <= 32,
              parts[0].allSatisfy({ $0.isASCII && ($0.isNumber || $0.isLetter) }),
              let sitting = SittingName(rawValue: String(parts[1])), let role = PhoneRole(rawValue: String(parts[2])) else {
            throw .notFound("\(field): '\(s.prefix(70))' is not a recording id (<exam number>-<mock|formal>-<main|secondary>)")
        }
        return RecordingRef(examNumber: String(parts[0]), sitting: sitting, role: role)
    }
}

/// POST /api/v1/sittings/{sitting}/recording.
public struct CreateRecordingBody: Codable, Sendable {
    /// The phone's role; absent: the device's registered role.
    public var role: PhoneRole?
    /// What MediaRecorder produces, e.g. "video/webm;codecs=vp8,opus".
    public var mimeType: String

    public init(role: PhoneRole? = nil, mimeType: String) {
        self.role = role
        self.mimeType = mimeType
    }

    public func check() throws(EdgeError) {
        guard !mimeType.isEmpty else { throw .invalid("mimeType: empty; the recorder's MIME type is required (e.g. video/webm)") }
        guard mimeType.utf8.count <= 100, mimeType.hasPrefix("video/"),
              mimeType.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw .invalid("mimeType: '\(mimeType.prefix(60))' is not a video MIME type (video/..., printable ASCII, at most 100)")
        }
    }
}

/// Where an upload stands (tus's offset, and the next chunk's index).
public struct UploadView: Codable, Sendable, Equatable {
    public var recordingId: String
    public var examNumber: String
    public var sitting: String
    public var role: String
    public var nextIndex: Int
    public var nextOffset: Int64
    public var finished: Bool
    public var closed: Bool
    public var duplicate: Bool
    public var maxChunkBytes: Int
    public var serverTimeMs: Int64
    public var mimeType: String

    public init(recordingId: String, examNumber: String, sitting: String, role: String, nextIndex: Int, nextOffset: Int64,
                finished: Bool, closed: Bool, duplicate: Bool, maxChunkBytes: Int, serverTimeMs: Int64, mimeType: String) {
        self.recordingId = recordingId
        self.examNumber = examNumber
        self.sitting = sitting
        self.role = role
        self.nextIndex = nextIndex
        self.nextOffset = nextOffset
        self.finished = finished
        self.closed = closed
        self.duplicate = duplicate
        self.maxChunkBytes = maxChunkBytes
        self.serverTimeMs = serverTimeMs
        self.mimeType = mimeType
    }
}

/// A PATCH's headers: which chunk this is, its hash and its media times.
public struct ChunkHeaders: Sendable, Equatable {
    public var index: UInt32
    public var offset: UInt64
    /// 64 lowercase hex digits.
    public var sha256: String
    public var mediaStartMs: Int64
    public var mediaEndMs: Int64
    public var final: Bool

    public static let contentTypes = ["application/offset+octet-stream", "application/octet-stream"]

    /// `header(name)` gives a request header's value.
    public static func parse(_ header: (String) -> String?) throws(EdgeError) -> ChunkHeaders {
        func number<T: FixedWidthInteger>(_ name: String, _ type: T.Type, what: String) throws(EdgeError) -> T {
            guard let raw = header(name)?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else {
                throw .invalid("\(name): missing; \(what)")
            }
            guard raw.count <= 20, raw.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }), let v = T(raw) else {
                throw .invalid("\(name): '\(raw.prefix(30))' is not a whole number in range; \(what)")
            }
            return v
        }
        if let ct = header("Content-Type") {
            let base = ct.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard contentTypes.contains(base) else {
                throw .invalid("Content-Type: '\(ct.prefix(40))' is not application/offset+octet-stream (the chunk's bytes)")
            }
        }
        let index = try number("Upload-Index", UInt32.self, what: "the chunk's index (0, 1, 2, ...) is required")
        let offset = try number("Upload-Offset", UInt64.self, what: "the bytes of the recording before this chunk are required")
        let start = try number("Media-Start", Int64.self, what: "what the chunk's video starts at (server clock, Unix ms) is required")
        let end = try number("Media-End", Int64.self, what: "what the chunk's video ends at (server clock, Unix ms) is required")
        guard start > 0 else { throw .invalid("Media-Start: \(start) is not a time (server clock, Unix ms)") }
        guard end >= start else { throw .invalid("Media-End: \(end) is before Media-Start \(start); media times run forwards") }
        let sha = try checksum(header("Upload-Checksum"))
        var final = false
        if let f = header("Upload-Final")?.trimmingCharacters(in: .whitespaces).lowercased() {
            switch f {
            case "true", "1": final = true
            case "false", "0", "": final = false
            default: throw .invalid("Upload-Final: '\(f.prefix(20))' is not true or false")
            }
        }
        return ChunkHeaders(index: index, offset: offset, sha256: sha, mediaStartMs: start, mediaEndMs: end, final: final)
    }

    /// tus's checksum header, `sha256 <digest>`; the digest in hex (64
    /// digits) or base64 (44 characters, tus's own form). Answers hex.
    public static func checksum(_ value: String?) throws(EdgeError) -> String {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
            throw .invalid("Upload-Checksum: missing; send 'sha256 <the chunk's SHA-256 in hex or base64>' (R37)")
        }
        let parts = value.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "sha256" else {
            throw .invalid("Upload-Checksum: '\(value.prefix(100))' is not 'sha256 <digest>'; only SHA-256 is taken (R37)")
        }
        let d = String(parts[1])
        if d.count == 64, d.allSatisfy({ $0.isHexDigit && $0.isASCII }) { return d.lowercased() }
        if let bytes = Data(base64Encoded: d), bytes.count == 32 {
            return bytes.map { String(format: "%02x", $0) }.joined()
        }
        throw .invalid("Upload-Checksum: the digest '\(d.prefix(70))' is neither 64 hex digits nor 32 bytes in base64")
    }
}

/// One byte range of an HTTP Range header (RFC 9110 §14.1.2): `bytes=a-b`,
/// `bytes=a-`, `bytes=-n`. One range only; more is refused (416).
public struct ByteRange: Sendable, Equatable {
    public var first: UInt64?
    public var last: UInt64?
    /// `bytes=-n`: the last n bytes.
    public var suffix: UInt64?

    public enum Parsed: Sendable, Equatable {
        case whole
        case range(ByteRange)
        case unsatisfiable(String)
    }

    /// nil header: the whole file. A header that is not a bytes range is
    /// ignored (the whole file, as RFC 9110 allows).
    public static func parse(_ header: String?) -> Parsed {
        guard let h = header?.trimmingCharacters(in: .whitespaces), !h.isEmpty else { return .whole }
        guard h.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = h.dropFirst(6).trimmingCharacters(in: .whitespaces)
        if spec.contains(",") { return .unsatisfiable("Range: one range at a time ('\(spec.prefix(60))' asks for several)") }
        let ab = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard ab.count == 2 else { return .unsatisfiable("Range: '\(spec.prefix(60))' is not first-last") }
        let a = ab[0].trimmingCharacters(in: .whitespaces), b = ab[1].trimmingCharacters(in: .whitespaces)
        func n(_ s: String) -> UInt64? { s.count <= 19 && s.allSatisfy({ $0.isASCII && $0.isNumber }) ? UInt64(s) : nil }
        if a.isEmpty {
            guard let k = n(b), k > 0 else { return .unsatisfiable("Range: '\(spec.prefix(60))' is not a suffix length") }
            return .range(ByteRange(first: nil, last: nil, suffix: k))
        }
        guard let first = n(a) else { return .unsatisfiable("Range: '\(a.prefix(30))' is not a byte position") }
        if b.isEmpty { return .range(ByteRange(first: first, last: nil, suffix: nil)) }
        guard let last = n(b), last >= first else { return .unsatisfiable("Range: '\(spec.prefix(60))': the last byte is before the first") }
        return .range(ByteRange(first: first, last: last, suffix: nil))
    }

    /// The inclusive bounds within a file of `total` bytes; nil when none
    /// of it is there (416).
    public func resolve(total: UInt64) -> ClosedRange<UInt64>? {
        guard total > 0 else { return nil }
        if let suffix { return (total - min(suffix, total))...(total - 1) }
        guard let first, first < total else { return nil }
        return first...min(last ?? (total - 1), total - 1)
    }
}

/// What the staff console shows of an interview's recordings (R38, R39).
public struct RecordingsView: Codable, Sendable {
    public struct Recording: Codable, Sendable {
        public var recordingId: String
        public var role: String
        public var mimeType: String
        public var chunks: Int
        public var bytes: Int64
        public var mediaStartMs: Int64
        public var mediaEndMs: Int64
        public var finished: Bool
        public var closed: Bool
        public var sha256: String
        /// GET this for playback (Range requests welcome).
        public var url: String
        public init(recordingId: String, role: String, mimeType: String, chunks: Int, bytes: Int64, mediaStartMs: Int64,
                    mediaEndMs: Int64, finished: Bool, closed: Bool, sha256: String, url: String) {
            self.recordingId = recordingId
            self.role = role
            self.mimeType = mimeType
            self.chunks = chunks
            self.bytes = bytes
            self.mediaStartMs = mediaStartMs
            self.mediaEndMs = mediaEndMs
            self.finished = finished
            self.closed = closed
            self.sha256 = sha256
            self.url = url
        }
    }

    public struct Problem: Codable, Sendable {
        public var role: String
        public var kind: String
        public var text: String
        public init(role: String, kind: String, text: String) {
            self.role = role
            self.kind = kind
            self.text = text
        }
    }

    public var examNumber: String
    public var sitting: String
    public var recordings: [Recording]
    /// "pending", "complete", "incomplete" (R38).
    public var completeness: String
    public var problems: [Problem]
    public var evidence: String

    public init(examNumber: String, sitting: String, recordings: [Recording], completeness: String, problems: [Problem], evidence: String) {
        self.examNumber = examNumber
        self.sitting = sitting
        self.recordings = recordings
        self.completeness = completeness
        self.problems = problems
        self.evidence = evidence
    }
}
