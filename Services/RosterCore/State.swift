import Foundation
import ExamPlan

/// A phone no candidate has, as its failed logins left it.
struct PhantomAccount: Sendable, Equatable {
    var consecutiveFailures = 0
    var lockedUntil: Date?
}

/// All durable state of the roster: candidates by exam number, posts by post
/// code, and one meta document. The look-ups by phone, ID number, session
/// and photo digest are derived: rebuilt on load, never persisted, never
/// compared.
public struct RosterState: Sendable {
    public private(set) var config: RosterConfig
    public internal(set) var candidates: [String: Candidate] = [:]
    public internal(set) var posts: [String: Post] = [:]
    public internal(set) var meta = RosterMeta()

    var byPhone: [String: String] = [:]
    var byIDNumber: [String: String] = [:]
    var bySession: [String: String] = [:]
    var byPhoto: [String: String] = [:]
    /// Failures on phones no candidate has (issue 22: they lock alike);
    /// never persisted.
    var phantoms: [String: PhantomAccount] = [:]

    public init(config: RosterConfig = RosterConfig()) {
        self.config = config
    }

    /// Rebuilds the state from the shell's documents.
    public init(config: RosterConfig = RosterConfig(), candidates: some Sequence<Candidate>,
                posts: some Sequence<Post>, meta: RosterMeta) {
        self.config = config
        for c in candidates { self.candidates[c.examNumber] = c }
        for p in posts { self.posts[p.code] = p }
        self.meta = meta
        rebuildIndices()
    }

    /// The configuration is not state: the shell may change it between runs.
    public mutating func setConfig(_ config: RosterConfig) { self.config = config }

    mutating func rebuildIndices() {
        byPhone = [:]; byIDNumber = [:]; bySession = [:]; byPhoto = [:]
        for c in candidates.values.sorted(by: { $0.examNumber < $1.examNumber }) { index(c) }
    }

    /// The one place a candidate is written, so the look-ups never drift.
    mutating func store(_ new: Candidate?, at examNumber: String) {
        if let old = candidates[examNumber] { unindex(old) }
        candidates[examNumber] = new
        if let new { index(new) }
    }

    private mutating func index(_ c: Candidate) {
        byPhone[c.phone] = c.examNumber
        byIDNumber[c.idNumber] = c.examNumber
        for digest in c.account.sessions.keys { bySession[digest] = c.examNumber }
        // A rejected photo no longer counts as the candidate's (R4): another
        // candidate may hold those bytes legitimately.
        if let id = c.identity, !id.isRejected { byPhoto[id.photo.sha256] = c.examNumber }
    }

    private mutating func unindex(_ c: Candidate) {
        if byPhone[c.phone] == c.examNumber { byPhone[c.phone] = nil }
        if byIDNumber[c.idNumber] == c.examNumber { byIDNumber[c.idNumber] = nil }
        for digest in c.account.sessions.keys where bySession[digest] == c.examNumber { bySession[digest] = nil }
        if let id = c.identity, byPhoto[id.photo.sha256] == c.examNumber { byPhoto[id.photo.sha256] = nil }
    }

    func candidate(_ examNumber: String) throws(RosterError) -> Candidate {
        guard let c = candidates[examNumber] else { throw .notFound("no candidate with exam number '\(examNumber)'") }
        return c
    }

    func facts(_ c: Candidate) -> CandidateFacts {
        CandidateFacts(examNumber: c.examNumber, name: c.name, maskedIDNumber: c.maskedIDNumber,
                       postCode: c.postCode, postName: posts[c.postCode]?.name ?? "",
                       writtenScore: c.writtenScore, status: c.status)
    }
}

extension RosterState: Equatable {
    public static func == (a: RosterState, b: RosterState) -> Bool {
        a.config == b.config && a.candidates == b.candidates && a.posts == b.posts && a.meta == b.meta
    }
}

extension RosterState: Codable {
    enum CodingKeys: String, CodingKey { case config, candidates, posts, meta }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        config = try c.decodeIfPresent(RosterConfig.self, forKey: .config) ?? RosterConfig()
        candidates = try c.decode([String: Candidate].self, forKey: .candidates)
        posts = try c.decode([String: Post].self, forKey: .posts)
        meta = try c.decode(RosterMeta.self, forKey: .meta)
        rebuildIndices()
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(config, forKey: .config)
        try c.encode(candidates, forKey: .candidates)
        try c.encode(posts, forKey: .posts)
        try c.encode(meta, forKey: .meta)
    }
}

/// Small shared checks.
enum Check {
    /// Exam numbers and post codes: 1 to 32 ASCII letters, digits, '-' or '_'.
    static func isIdentifier(_ s: String) -> Bool {
        let u = s.utf8
        return !u.isEmpty && u.count <= 32 && u.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F
        }
    }

    /// A free text (name, reason, reviewer): trimmed, no control characters.
    static func text(_ raw: String, _ what: String, max: Int, required: Bool) throws(RosterError) -> String? {
        let t = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.isEmpty {
            if required { throw .invalid("\(what) is empty") }
            return nil
        }
        if t.count > max { throw .invalid("\(what) has \(t.count) characters, at most \(max)") }
        if t.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw .invalid("\(what) contains control characters")
        }
        return t
    }

    /// Lower-case hex of `length` characters (SHA-256: 64).
    static func isHex(_ s: String, length: Int) -> Bool {
        s.utf8.count == length && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// Byte comparison whose time depends only on the lengths, not on where
    /// the first difference is (R2: no timing oracle on passwords).
    static func constantTimeEqual(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        var diff: UInt8 = a.count == b.count ? 0 : 1
        let n = Swift.max(a.count, b.count)
        var ia = a.makeIterator(), ib = b.makeIterator()
        for _ in 0..<n {
            let x = ia.next() ?? 0, y = ib.next() ?? 0
            diff |= x ^ y
        }
        return diff == 0
    }

    static func beijing(_ d: Date) -> String { BeijingTime.short(d) + " (Beijing time)" }
}
