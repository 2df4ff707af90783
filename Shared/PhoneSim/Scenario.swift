import DemoKit
import ExamPlan
import Foundation

// The phone simulator's script (JSON, snake_case keys): which candidates it
// plays, how often their phones beat, and what goes wrong with them. The
// integration tests and the demo build one in code (`PhoneScenario.demo`)
// and write it to a file for `phone-sim --scenario FILE`.
//
// ```json
// { "heartbeat_ms": 1000, "linger_seconds": 20, "report": "data/phone-sim-report.json",
//   "candidates": [
//     { "exam_number": "2022110001", "phone": "13912345678", "password": "12345X",
//       "sittings": ["mock", "formal"], "end_early": true,
//       "faults": [ { "kind": "drop", "role": "secondary", "at": 5, "seconds": 12 },
//                   { "kind": "call", "at": 20, "seconds": 4 },
//                   { "kind": "bannedVersion", "seconds": 3 },
//                   { "kind": "speakerOn", "anchor": "start", "at": 2, "seconds": 4 } ] } ] }
// ```
//
// Fault times: `at` seconds after the anchor, `interview` (default: the
// candidate's formal interview start, as timing's `timing.interview.started`
// says) or `start` (the moment the simulator is ready: every phone
// registered and beating). `bannedVersion` acts at registration (its
// anchor and `at` are ignored); its `seconds` is when the candidate updates
// WeChat and registers again (left out: never).
//
// Recordings (R36-R38, off unless `"uploads": { ... }` is given): every
// phone records each of its candidate's interviews from timing's
// `timing.interview.started` to `timing.interview.ended` and uploads it to
// recordings in chunks, one every `chunk_ms` of media (`chunk_bytes` of
// synthetic video a second), the final chunk at the interview's end; while
// a fault silences a phone (drop, call, bothDrop) its recorder stops with
// the signal, so the recording has a gap where devices saw the outage.
// `upload_faults` (formal interview only, `at` seconds after its start)
// break the upload alone, heartbeats going on: `stall` (nothing recorded
// nor sent for `seconds`) and `unfinished` (the final chunk never goes out).
//
// ```json
// { "uploads": { "chunk_ms": 1000, "chunk_bytes": 16384 },
//   "candidates": [ { "exam_number": "2022110002", ...,
//                     "upload_faults": [ { "kind": "unfinished", "role": "secondary" } ] } ] }
// ```

/// The whole script.
public struct PhoneScenario: Codable, Sendable, Equatable {
    /// Every phone beats this often (R31: about once a second).
    public var heartbeatMs: Int
    /// After every formal interview this simulator plays has ended (or its
    /// candidate was absent), keep beating this long, then stop. nil: run
    /// until SIGTERM/SIGINT.
    public var lingerSeconds: Double?
    /// Where the JSON report goes (a `--report` flag overrides it).
    public var report: String?
    /// Calls in flight while logging in, registering and entering.
    public var concurrency: Int
    /// Heartbeats per HeartbeatBatch call.
    public var batchSize: Int
    /// The phones record and upload their interviews (R37); nil: they do not
    /// (a big day's heartbeat load alone).
    public var uploads: UploadSettings?
    public var candidates: [CandidateScript]

    public init(heartbeatMs: Int = 1000, lingerSeconds: Double? = nil, report: String? = nil, concurrency: Int = 16,
                batchSize: Int = 1000, uploads: UploadSettings? = nil, candidates: [CandidateScript]) {
        self.heartbeatMs = heartbeatMs
        self.lingerSeconds = lingerSeconds
        self.report = report
        self.concurrency = concurrency
        self.batchSize = batchSize
        self.uploads = uploads
        self.candidates = candidates
    }

    enum CodingKeys: String, CodingKey { case heartbeatMs, lingerSeconds, report, concurrency, batchSize, uploads, candidates }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        heartbeatMs = try c.decodeIfPresent(Int.self, forKey: .heartbeatMs) ?? 1000
        lingerSeconds = try c.decodeIfPresent(Double.self, forKey: .lingerSeconds)
        report = try c.decodeIfPresent(String.self, forKey: .report)
        concurrency = try c.decodeIfPresent(Int.self, forKey: .concurrency) ?? 16
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? 1000
        uploads = try c.decodeIfPresent(UploadSettings.self, forKey: .uploads)
        candidates = try c.decode([CandidateScript].self, forKey: .candidates)
    }

    /// Every problem, each saying where; empty means playable.
    public func problems() -> [String] {
        var out: [String] = []
        if !(100...60_000).contains(heartbeatMs) { out.append("heartbeat_ms: \(heartbeatMs) is not between 100 and 60000") }
        if let l = lingerSeconds, !(l >= 0 && l <= 86_400) { out.append("linger_seconds: \(l) is not between 0 and 86400") }
        if !(1...256).contains(concurrency) { out.append("concurrency: \(concurrency) is not between 1 and 256") }
        if !(1...10_000).contains(batchSize) { out.append("batch_size: \(batchSize) is not between 1 and 10000") }
        if candidates.isEmpty { out.append("candidates: the scenario plays nobody") }
        if let u = uploads { out += u.problems() }
        var seen: [String: Int] = [:]
        var phones: [String: Int] = [:]
        for (i, c) in candidates.enumerated() {
            let at = "candidates[\(i)]"
            out += c.problems(at: at)
            if let j = seen[c.examNumber] { out.append("\(at).exam_number: \(c.examNumber) is also candidates[\(j)]'s") }
            seen[c.examNumber] = seen[c.examNumber] ?? i
            if let j = phones[c.phone] { out.append("\(at).phone: also candidates[\(j)]'s login phone") }
            phones[c.phone] = phones[c.phone] ?? i
        }
        return out
    }

    /// Reads and checks a scenario file.
    public static func load(path: String) throws -> PhoneScenario {
        guard let data = FileManager.default.contents(atPath: path) else { throw ScenarioError("scenario \(path) cannot be read") }
        let s: PhoneScenario
        do { s = try decoder.decode(PhoneScenario.self, from: data) } catch {
            throw ScenarioError("scenario \(path) is not valid: \(error)")
        }
        let p = s.problems()
        guard p.isEmpty else { throw ScenarioError("scenario \(path): " + p.joined(separator: "; ")) }
        return s
    }

    public func write(to path: String) throws {
        try Self.encoder.encode(self).write(to: URL(fileURLWithPath: path))
    }

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }()

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }()
}

public struct ScenarioError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The two sittings a candidate may join (R19: the mock is optional).
public enum SittingChoice: String, Codable, Sendable, CaseIterable {
    case mock, formal
}

/// The camera positions (R30).
public enum PhoneRole: String, Codable, Sendable, CaseIterable {
    case main, secondary
}

/// One candidate and their two phones.
public struct CandidateScript: Codable, Sendable, Equatable {
    public var examNumber: String
    /// The login name (R2: the phone number used at registration).
    public var phone: String
    /// R2: by default the ID number's last six characters.
    public var password: String
    public var sittings: [SittingChoice]
    /// End the formal interview early (R17) as soon as answering starts.
    public var endEarly: Bool
    /// The main phone's system (the secondary is an Android phone).
    public var mainOS: PhoneOS
    public var faults: [FaultScript]
    /// What goes wrong with the recordings' upload alone (formal interview).
    public var uploadFaults: [UploadFaultScript]

    public init(examNumber: String, phone: String, password: String, sittings: [SittingChoice] = [.formal],
                endEarly: Bool = false, mainOS: PhoneOS = .android, faults: [FaultScript] = [],
                uploadFaults: [UploadFaultScript] = []) {
        self.examNumber = examNumber
        self.phone = phone
        self.password = password
        self.sittings = sittings
        self.endEarly = endEarly
        self.mainOS = mainOS
        self.faults = faults
        self.uploadFaults = uploadFaults
    }

    enum CodingKeys: String, CodingKey { case examNumber, phone, password, sittings, endEarly, mainOS = "mainOs", faults, uploadFaults }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        examNumber = try c.decode(String.self, forKey: .examNumber)
        phone = try c.decode(String.self, forKey: .phone)
        password = try c.decode(String.self, forKey: .password)
        sittings = try c.decodeIfPresent([SittingChoice].self, forKey: .sittings) ?? [.formal]
        endEarly = try c.decodeIfPresent(Bool.self, forKey: .endEarly) ?? false
        mainOS = try c.decodeIfPresent(PhoneOS.self, forKey: .mainOS) ?? .android
        faults = try c.decodeIfPresent([FaultScript].self, forKey: .faults) ?? []
        uploadFaults = try c.decodeIfPresent([UploadFaultScript].self, forKey: .uploadFaults) ?? []
    }

    /// The phone's device ids and WeChat accounts: two phones, two accounts (R30).
    public func deviceID(_ role: PhoneRole) -> String { "sim-\(examNumber)-\(role == .main ? "m" : "s")" }
    public func account(_ role: PhoneRole) -> String { "wx-\(examNumber)-\(role.rawValue)" }

    func problems(at: String) -> [String] {
        var out: [String] = []
        if examNumber.isEmpty || examNumber.utf8.count > 32 { out.append("\(at).exam_number: '\(examNumber)' is not an exam number") }
        if phone.isEmpty { out.append("\(at).phone: empty; the login phone is required") }
        if password.isEmpty { out.append("\(at).password: empty") }
        if Set(sittings).count != sittings.count { out.append("\(at).sittings: a sitting is listed twice") }
        if faults.filter({ $0.kind == .bannedVersion }).count > 1 { out.append("\(at).faults: bannedVersion at most once") }
        for (j, f) in faults.enumerated() { out += f.problems(at: "\(at).faults[\(j)]") }
        for (j, f) in uploadFaults.enumerated() { out += f.problems(at: "\(at).upload_faults[\(j)]") }
        return out
    }
}

public enum PhoneOS: String, Codable, Sendable, CaseIterable {
    case android, ios
}

/// Something that goes wrong with a candidate's phones.
public struct FaultScript: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// One phone stops beating for `seconds`, then resumes (R33).
        case drop
        /// An incoming call cuts the main phone's signal for `seconds`; the
        /// client then reconnects by itself and rejoins the main room (R35, R18).
        case call
        /// Both phones silent for `seconds` (R34 (a)).
        case bothDrop
        /// The main phone is an iPhone with WeChat 8.0.20: registration is
        /// refused (R32); after `seconds` (if given) WeChat is updated and
        /// the phone registers again.
        case bannedVersion
        /// The secondary's speaker goes up to `volume` for `seconds` (R32).
        case speakerOn
        /// The client goes to the background for `seconds` (notice 5(2)4).
        case background
    }

    public enum Anchor: String, Codable, Sendable {
        /// The candidate's formal interview start.
        case interview
        /// The simulator's readiness (all phones registered).
        case start
    }

    public var kind: Kind
    /// drop, background: which phone (main by default).
    public var role: PhoneRole?
    public var anchor: Anchor
    public var at: Double
    public var seconds: Double?
    /// speakerOn: the volume the speaker goes to (1...100).
    public var volume: Int?

    public init(_ kind: Kind, role: PhoneRole? = nil, anchor: Anchor = .interview, at: Double = 0, seconds: Double?,
                volume: Int? = nil) {
        self.kind = kind
        self.role = role
        self.anchor = anchor
        self.at = at
        self.seconds = seconds
        self.volume = volume
    }

    enum CodingKeys: String, CodingKey { case kind, role, anchor, at, seconds, volume }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(Kind.self, forKey: .kind)
        role = try c.decodeIfPresent(PhoneRole.self, forKey: .role)
        anchor = try c.decodeIfPresent(Anchor.self, forKey: .anchor) ?? .interview
        at = try c.decodeIfPresent(Double.self, forKey: .at) ?? 0
        seconds = try c.decodeIfPresent(Double.self, forKey: .seconds)
        volume = try c.decodeIfPresent(Int.self, forKey: .volume)
    }

    /// The phones it silences or changes.
    public var roles: [PhoneRole] {
        switch kind {
        case .drop, .background: return [role ?? .main]
        case .call, .bannedVersion: return [.main]
        case .bothDrop: return [.main, .secondary]
        case .speakerOn: return [.secondary]
        }
    }

    /// Whether it cuts the signal (heartbeats stop) rather than changing the status.
    public var silences: Bool { kind == .drop || kind == .call || kind == .bothDrop }

    func problems(at path: String) -> [String] {
        var out: [String] = []
        if !(at >= 0 && at <= 86_400) { out.append("\(path).at: \(at) is not between 0 and 86400 seconds") }
        if kind != .bannedVersion {
            if let s = seconds {
                if !(s > 0 && s <= 3600) { out.append("\(path).seconds: \(s) is not between 0 (exclusive) and 3600") }
            } else {
                out.append("\(path).seconds: how long the \(kind.rawValue) lasts is required")
            }
        } else if let s = seconds, !(s > 0 && s <= 3600) {
            out.append("\(path).seconds: the update after \(s) s is not between 0 (exclusive) and 3600")
        }
        switch kind {
        case .call, .bothDrop, .bannedVersion:
            if role != nil && role != .main || (kind == .bothDrop && role != nil) {
                out.append("\(path).role: \(kind.rawValue) concerns \(roles.map(\.rawValue).joined(separator: " and ")); leave role out")
            }
        case .speakerOn:
            if role != nil && role != .secondary { out.append("\(path).role: speakerOn concerns the secondary phone (R30: its speaker is muted)") }
            if let v = volume, !(1...100).contains(v) { out.append("\(path).volume: \(v) is not between 1 and 100") }
        case .drop, .background:
            break
        }
        return out
    }
}

// MARK: - Scenarios built in code

extension PhoneScenario {
    /// Every candidate of `roster` with their default password (R2), both
    /// phones well set up, joining `sittings`, no faults. Script some with
    /// `script(_:faults:endEarly:)` or take `showcase` for one of each fault.
    public static func demo(roster: DemoRoster, count: Int? = nil, heartbeatMs: Int = 1000,
                            sittings: [SittingChoice] = [.mock, .formal], lingerSeconds: Double? = 20,
                            report: String? = nil) -> PhoneScenario {
        let list = roster.candidates.prefix(count ?? roster.candidates.count)
        return PhoneScenario(heartbeatMs: heartbeatMs, lingerSeconds: lingerSeconds, report: report,
                             candidates: list.enumerated().map { i, c in
                                 CandidateScript(examNumber: c.examNumber, phone: c.phone, password: c.defaultPassword,
                                                 sittings: sittings, mainOS: i % 3 == 0 ? .ios : .android)
                             })
    }

    /// Gives the candidate `examNumber` these faults (and early end); false
    /// when the scenario does not play them.
    @discardableResult
    public mutating func script(_ examNumber: String, faults: [FaultScript], endEarly: Bool? = nil,
                                sittings: [SittingChoice]? = nil) -> Bool {
        guard let i = candidates.firstIndex(where: { $0.examNumber == examNumber }) else { return false }
        candidates[i].faults = faults
        if let endEarly { candidates[i].endEarly = endEarly }
        if let sittings { candidates[i].sittings = sittings }
        return true
    }

    /// One of each fault, on every `spacing`-th candidate from the first
    /// (so, with rooms of `spacing`, in different rooms): what the demo
    /// shows staff. Durations suit the devices defaults (loss after 10 s,
    /// long outage above 30 s, more than 3 interruptions).
    public mutating func showcase(spacing: Int = 5) {
        let scripts: [[FaultScript]] = [
            [FaultScript(.drop, role: .main, at: 20, seconds: 15)],
            [FaultScript(.call, at: 30, seconds: 14)],
            [FaultScript(.bothDrop, at: 40, seconds: 15)],
            [FaultScript(.drop, role: .secondary, at: 20, seconds: 45)],
            [FaultScript(.drop, at: 10, seconds: 12), FaultScript(.drop, at: 40, seconds: 12),
             FaultScript(.drop, role: .secondary, at: 70, seconds: 12), FaultScript(.drop, at: 100, seconds: 12)],
            [FaultScript(.bannedVersion, seconds: 20)],
            [FaultScript(.speakerOn, at: 30, seconds: 10, volume: 40)],
            [FaultScript(.background, at: 60, seconds: 8)],
        ]
        for (k, faults) in scripts.enumerated() where k * spacing < candidates.count {
            candidates[k * spacing].faults = faults
        }
    }
}

// MARK: - Recordings (R36-R38)

/// How the phones upload their recordings.
public struct UploadSettings: Codable, Sendable, Equatable {
    /// Media per chunk (MediaRecorder's timeslice): one chunk this often.
    public var chunkMs: Int
    /// Synthetic video bytes per second of media.
    public var chunkBytes: Int

    public init(chunkMs: Int = 1000, chunkBytes: Int = 16_384) {
        self.chunkMs = chunkMs
        self.chunkBytes = chunkBytes
    }

    enum CodingKeys: String, CodingKey { case chunkMs, chunkBytes }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        chunkMs = try c.decodeIfPresent(Int.self, forKey: .chunkMs) ?? 1000
        chunkBytes = try c.decodeIfPresent(Int.self, forKey: .chunkBytes) ?? 16_384
    }

    func problems() -> [String] {
        var out: [String] = []
        if !(200...5000).contains(chunkMs) { out.append("uploads.chunk_ms: \(chunkMs) is not between 200 and 5000 (MediaRecorder's 1-5 s timeslice)") }
        // A chunk stays far under recordings' 1 MiB limit, and above the 32
        // bytes a second of media recordings believes a video holds (issue
        // 22; a final chunk is cut to 4 KiB, a chunk made at least 64 bytes).
        if !(256...131_072).contains(chunkBytes) { out.append("uploads.chunk_bytes: \(chunkBytes) is not between 256 and 131072") }
        return out
    }
}

/// Something that breaks a phone's upload alone (its heartbeats go on).
public struct UploadFaultScript: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// The recorder stalls: nothing is recorded or sent for `seconds`.
        case stall
        /// The page is closed before `recorder.stop()`: the final chunk never goes out.
        case unfinished
    }

    public var kind: Kind
    public var role: PhoneRole
    /// stall: seconds after the formal interview's start.
    public var at: Double
    public var seconds: Double?

    public init(_ kind: Kind, role: PhoneRole, at: Double = 0, seconds: Double? = nil) {
        self.kind = kind
        self.role = role
        self.at = at
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey { case kind, role, at, seconds }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(Kind.self, forKey: .kind)
        role = try c.decodeIfPresent(PhoneRole.self, forKey: .role) ?? .main
        at = try c.decodeIfPresent(Double.self, forKey: .at) ?? 0
        seconds = try c.decodeIfPresent(Double.self, forKey: .seconds)
    }

    func problems(at path: String) -> [String] {
        var out: [String] = []
        if !(at >= 0 && at <= 86_400) { out.append("\(path).at: \(at) is not between 0 and 86400 seconds") }
        switch kind {
        case .stall:
            if let s = seconds {
                if !(s > 0 && s <= 3600) { out.append("\(path).seconds: \(s) is not between 0 (exclusive) and 3600") }
            } else {
                out.append("\(path).seconds: how long the stall lasts is required")
            }
        case .unfinished:
            if seconds != nil { out.append("\(path).seconds: unfinished has no duration; leave seconds out") }
        }
        return out
    }
}
