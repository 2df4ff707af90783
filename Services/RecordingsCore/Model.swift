import Crypto
import ExamPlan
import Foundation

/// Which phone records what (R36): the main phone the interview video
/// (面试录像), the secondary phone the environment video (环境录像).
public enum PhoneRole: String, Codable, Sendable, CaseIterable, Hashable, Comparable {
    case main, secondary

    public var chinese: String { self == .main ? "面试录像（主机位）" : "环境录像（副机位）" }

    public static func < (a: PhoneRole, b: PhoneRole) -> Bool { a == .main && b == .secondary }
}

public struct RecordingsError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The bus's codes, by their case names (see RPCCode(coreName:)).
    public enum Code: String, Sendable {
        case invalidArgument, notFound, failedPrecondition, outOfRange, alreadyExists, permissionDenied, dataLoss
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code.rawValue): \(message)" }
}

/// What the service is configured with.
public struct RecordingsConfig: Codable, Sendable, Equatable {
    /// How long after an interview's end its last chunks may still arrive
    /// before the completeness check closes its recordings (R38).
    public var graceSeconds: Double = 30
    /// A gap in a recording longer than this is reported (R38).
    public var maxGapSeconds: Double = 10
    /// The most bytes of one chunk (the bus refuses requests over 8 MiB).
    public var maxChunkBytes: Int = RecordingsConfig.chunkLimit
    /// How long recordings are kept after their interview ended (R39); nil: forever.
    public var retentionDays: Double?

    // A chunk's media times (R37: the server's clock, Unix ms) are checked
    // against its interview and its bytes (issue 22: a chunk ending in the
    // year 2100 was stored, and one small chunk claiming the whole interview
    // made its recording complete, R38). The bounds are the phone page's
    // own figures with room to spare, so a real page never trips them: it
    // records from the moment it hears the interview started to the moment
    // it hears it ended, in 2 s MediaRecorder slices at 800 + 48 kbit/s
    // (about 212 KB a slice), each slice starting where the last ended.

    /// How far a phone's media times may stray, either way: the page's
    /// estimate of the server clock (half its best round trip) may be off
    /// by this much. A chunk may start this long before its interview
    /// started, end this long after the server's now, and overlap the
    /// previous chunk by this much (a reloaded page's clock estimated
    /// anew). 2 s: below the 3 s early chunk issue 22 reported.
    public var mediaSlackSeconds: Double = 2
    /// The fewest bytes a second of media a chunk may claim. A still,
    /// silent WebM (VP8 and Opus, the page's types) is still hundreds of
    /// bytes a second; fewer claims media the bytes cannot hold. 0: no bound.
    public var minMediaBytesPerSecond: Int = 32
    /// The most bytes a second of media a chunk may carry, beyond
    /// `mediaBurstBytes`: about twenty times the page's 106 KB/s (a browser
    /// that ignores the bitrate asked for, a keyframe-heavy slice).
    public var maxMediaBytesPerSecond: Int = 2 << 20
    /// What a chunk may carry beyond `maxMediaBytesPerSecond` times its
    /// media: a whole slice of the page (about 212 KB) handed over right
    /// after the previous one, with a media span of a few milliseconds.
    public var mediaBurstBytes: Int = 256 << 10

    public static let chunkLimit = 1 << 20

    public init(graceSeconds: Double = 30, maxGapSeconds: Double = 10, maxChunkBytes: Int = RecordingsConfig.chunkLimit,
                retentionDays: Double? = nil, mediaSlackSeconds: Double = 2, minMediaBytesPerSecond: Int = 32,
                maxMediaBytesPerSecond: Int = 2 << 20, mediaBurstBytes: Int = 256 << 10) {
        self.graceSeconds = graceSeconds
        self.maxGapSeconds = maxGapSeconds
        self.maxChunkBytes = maxChunkBytes
        self.retentionDays = retentionDays
        self.mediaSlackSeconds = mediaSlackSeconds
        self.minMediaBytesPerSecond = minMediaBytesPerSecond
        self.maxMediaBytesPerSecond = maxMediaBytesPerSecond
        self.mediaBurstBytes = mediaBurstBytes
    }

    /// The media a chunk of `bytes` is credited at most (ms): what its bytes
    /// can hold at the least plausible rate (completeness, R38).
    func creditableMediaMs(bytes: Int) -> Int64 {
        guard minMediaBytesPerSecond > 0 else { return .max }
        return Int64(bytes) * 1000 / Int64(minMediaBytesPerSecond)
    }
}

/// One interview as timing announced it: its span is what recordings cover.
public struct InterviewSpan: Codable, Sendable, Equatable {
    public var examNumber: String
    public var roomID: String
    public var sitting: Sitting
    public var startedAt: Date
    public var endedAt: Date?
    /// Set by the completeness check; the recordings are closed from then on.
    public var checked: Completeness?

    public var key: String { InterviewSpan.key(examNumber, sitting) }
    public static func key(_ examNumber: String, _ sitting: Sitting) -> String { "\(examNumber)-\(sitting.rawValue)" }
}

/// One stored chunk: a row of the ledger (its bytes are a blob named by its hash).
public struct Chunk: Codable, Sendable, Equatable {
    public var recordingID: String
    public var index: Int
    public var offset: Int64
    public var byteCount: Int
    public var sha256: String
    public var mediaStartMs: Int64
    public var mediaEndMs: Int64
    public var storedAt: Date

    public var key: String { Chunk.key(recordingID, index) }
    /// Sorts by index within a recording ("<id>#00000012").
    public static func key(_ recordingID: String, _ index: Int) -> String {
        let digits = String(index)
        return recordingID + "#" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}

/// One recording: a phone's video of one interview (R36).
public struct Recording: Codable, Sendable, Equatable {
    public var id: String
    public var examNumber: String
    public var sitting: Sitting
    public var role: PhoneRole
    public var deviceID: String
    public var mimeType: String
    public var createdAt: Date
    public var chunkCount: Int = 0
    public var bytes: Int64 = 0
    public var firstMediaMs: Int64?
    public var lastMediaMs: Int64?
    public var finished: Bool = false
    public var finishedAt: Date?
    public var closed: Bool = false

    public static func id(_ examNumber: String, _ sitting: Sitting, _ role: PhoneRole) -> String {
        "\(examNumber)-\(sitting.rawValue)-\(role.rawValue)"
    }
}

/// A signal outage devices reported for one phone (R33): recording gaps
/// inside it belong with ground 9.
public struct OutageSpan: Codable, Sendable, Equatable {
    public var lostAtMs: Int64
    public var restoredAtMs: Int64?
}

/// The phone a call comes from, as roster and devices proved it.
public struct Phone: Sendable, Equatable {
    public var examNumber: String
    public var role: PhoneRole
    public var deviceID: String
    public init(examNumber: String, role: PhoneRole, deviceID: String) {
        self.examNumber = examNumber
        self.role = role
        self.deviceID = deviceID
    }
}

/// A chunk as a phone sends it (R37).
public struct ChunkSubmission: Sendable {
    public var recordingID: String
    public var index: Int
    public var offset: Int64
    public var mediaStartMs: Int64
    public var mediaEndMs: Int64
    public var byteCount: Int
    public var sha256: String
    public var data: [UInt8]
    public var final: Bool

    public init(recordingID: String, index: Int, offset: Int64, mediaStartMs: Int64, mediaEndMs: Int64, byteCount: Int,
                sha256: String, data: [UInt8], final: Bool) {
        self.recordingID = recordingID
        self.index = index
        self.offset = offset
        self.mediaStartMs = mediaStartMs
        self.mediaEndMs = mediaEndMs
        self.byteCount = byteCount
        self.sha256 = sha256
        self.data = data
        self.final = final
    }

    /// The checks that need only the chunk itself (size, hash, times):
    /// pure, so the shell runs them off the state thread. Returns the
    /// normalised (lowercase) hash.
    public func checkAlone(maxBytes: Int) throws -> String {
        guard !recordingID.isEmpty else { throw RecordingsError(.invalidArgument, "recording_id is required") }
        guard index >= 0 else { throw RecordingsError(.invalidArgument, "index: \(index) is negative") }
        guard data.count <= maxBytes else {
            throw RecordingsError(.invalidArgument, "data: \(data.count) bytes is over the chunk limit of \(maxBytes) bytes; split it")
        }
        guard !data.isEmpty else { throw RecordingsError(.invalidArgument, "data is empty: a chunk has 1..\(maxBytes) bytes") }
        guard byteCount == data.count else {
            throw RecordingsError(.invalidArgument, "byte_count: \(byteCount) but data has \(data.count) bytes")
        }
        let claimed = sha256.lowercased()
        guard claimed.count == 64, claimed.allSatisfy({ $0.isHexDigit }) else {
            throw RecordingsError(.invalidArgument, "sha256: '\(sha256.prefix(80))' is not 64 hex digits")
        }
        guard mediaStartMs > 0, mediaEndMs > mediaStartMs else {
            throw RecordingsError(.invalidArgument, "media_start_ms/media_end_ms: \(mediaStartMs)..\(mediaEndMs) is not a span of server time (end after start)")
        }
        let actual = Hashing.sha256Hex(data)
        guard actual == claimed else {
            throw RecordingsError(.invalidArgument, "sha256: chunk \(index) of \(recordingID) hashes to \(actual), not \(claimed); nothing kept, send it again")
        }
        return actual
    }
}

public enum Hashing {
    public static func sha256Hex<D: DataProtocol>(_ data: D) -> String {
        hex(SHA256.hash(data: data))
    }

    public static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out = ""
        out.reserveCapacity(64)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return out
    }

    static let digits: [Character] = Array("0123456789abcdef")
}

/// Where an upload stands (the reply to every phone call).
public struct UploadStatus: Sendable, Equatable {
    public var recording: Recording
    public var nextIndex: Int { recording.chunkCount }
    public var nextOffset: Int64 { recording.bytes }
    public var duplicate: Bool = false
}

/// A gap in a recording (R38).
public struct Gap: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case start, middle, end }
    public var kind: Kind
    public var fromMs: Int64
    public var toMs: Int64
    public var lengthMs: Int64 { toMs - fromMs }
    /// The signal outage it overlaps, if devices reported one for that phone.
    public var outage: OutageSpan?
}

public struct Problem: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case missing, gap, unfinished }
    public var role: PhoneRole
    public var recordingID: String
    public var kind: Kind
    public var text: String
    public var gap: Gap?
}

/// The completeness check of one interview (R38).
public struct Completeness: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case pending, complete, incomplete }
    public var status: Status
    public var problems: [Problem]
    public var checkedAt: Date?
    public var evidence: String
}

/// A SHA-256 over bytes given in parts (an export's whole file).
public struct StreamingSHA256 {
    var hasher = SHA256()
    public init() {}
    public mutating func update(_ bytes: [UInt8]) { hasher.update(data: bytes) }
    public func finish() -> String { Hashing.hex(hasher.finalize()) }
}
