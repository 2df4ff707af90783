import Foundation

/// The plan as ops write it (JSON). Times are Beijing time, written
/// "2022-11-19 11:00" (or ISO 8601 with an offset); a demo plan may write
/// them relative to when timing first loads it, "+90s", "+5m", "+1h".
///
/// ```json
/// { "exam": "2022 市南区社区专职工作者招聘面试",
///   "confirmation": { "opens": "2022-11-17 09:00", "closes": "2022-11-17 16:00" },
///   "mock":   { "entry_opens": "2022-11-18 08:50", "entry_closes": "2022-11-18 09:00" },
///   "formal": { "entry_opens": "2022-11-19 11:00", "entry_closes": "2022-11-19 11:10" },
///   "publication": "2022-11-21 09:00",
///   "interview": { "reading_seconds": 300, "answering_seconds": 300, "answering_turn": "staff" },
///   "rooms": [ { "id": "R01", "name": "第一考场",
///                "panel": [ { "id": "E01", "name": "王考官", "chief": true }, … ],
///                "candidates": [ "2022110001", … ], "proctors": [ "P01" ] } ] }
/// ```
public struct PlanFile: Codable, Sendable {
    public struct Window: Codable, Sendable {
        public var opens: String
        public var closes: String
    }
    public struct Entry: Codable, Sendable {
        public var entryOpens: String
        public var entryCloses: String
        enum CodingKeys: String, CodingKey { case entryOpens = "entry_opens", entryCloses = "entry_closes" }
    }
    public struct Interview: Codable, Sendable {
        public var readingSeconds: Int?
        public var answeringSeconds: Int?
        public var answeringTurn: String?
        enum CodingKeys: String, CodingKey {
            case readingSeconds = "reading_seconds", answeringSeconds = "answering_seconds", answeringTurn = "answering_turn"
        }
    }
    public struct Room: Codable, Sendable {
        public var id: String
        public var name: String?
        public var panel: [Examiner]?
        public var candidates: [String]?
        public var proctors: [String]?
    }

    public var exam: String
    public var confirmation: Window
    public var mock: Entry
    public var formal: Entry
    public var publication: String
    public var interview: Interview?
    public var rooms: [Room]

    /// Turns the file into a plan: relative times are counted from `anchor`;
    /// every problem (unreadable times, invalid plan) is listed with where.
    public func resolve(anchor: Date) throws -> ExamPlan {
        var errors: [String] = []
        func time(_ text: String, _ at: String) -> Date {
            if let d = PlanFile.parseTime(text, anchor: anchor) { return d }
            errors.append("\(at): '\(text)' is not a time (write 2022-11-19 11:00, an ISO 8601 time with offset, or +90s / +5m / +1h)")
            return anchor
        }
        var turn = AnsweringTurn.automatic
        if let t = interview?.answeringTurn {
            if let v = AnsweringTurn(rawValue: t) { turn = v } else { errors.append("interview.answering_turn: '\(t)' is not staff or automatic") }
        }
        let plan = ExamPlan(
            exam: exam,
            confirmation: TimeWindow(opens: time(confirmation.opens, "confirmation.opens"), closes: time(confirmation.closes, "confirmation.closes")),
            mockEntry: TimeWindow(opens: time(mock.entryOpens, "mock.entry_opens"), closes: time(mock.entryCloses, "mock.entry_closes")),
            formalEntry: TimeWindow(opens: time(formal.entryOpens, "formal.entry_opens"), closes: time(formal.entryCloses, "formal.entry_closes")),
            publication: time(publication, "publication"),
            interview: InterviewDurations(readingSeconds: interview?.readingSeconds ?? 300,
                                          answeringSeconds: interview?.answeringSeconds ?? 300, answeringTurn: turn),
            rooms: rooms.map { r in
                ExamRoom(id: r.id, name: r.name ?? r.id, panel: r.panel ?? [], candidates: r.candidates ?? [], proctors: r.proctors ?? [])
            })
        if errors.isEmpty { errors = plan.problems() }
        guard errors.isEmpty else { throw PlanError(problems: errors) }
        return plan
    }

    /// Reads a plan file; relative times are anchored at `anchor`.
    public static func load(path: String, anchor: Date) throws -> ExamPlan {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PlanError(problems: ["\(path): cannot be read"])
        }
        return try parse(data, anchor: anchor, source: path)
    }

    public static func parse(_ data: Data, anchor: Date, source: String = "plan") throws -> ExamPlan {
        let file: PlanFile
        do {
            file = try JSONDecoder().decode(PlanFile.self, from: data)
        } catch let e as DecodingError {
            throw PlanError(problems: ["\(source): \(Self.describe(e))"])
        } catch {
            throw PlanError(problems: ["\(source): \(error)"])
        }
        return try file.resolve(anchor: anchor)
    }

    /// True when any time in the file is relative (a demo plan).
    public var isRelative: Bool {
        [confirmation.opens, confirmation.closes, mock.entryOpens, mock.entryCloses,
         formal.entryOpens, formal.entryCloses, publication].contains { $0.hasPrefix("+") }
    }

    /// The times a plan may name: 1970-01-01 up to the end of year 9999
    /// (what BeijingTime.iso can write).
    static let timeRange = Date(timeIntervalSince1970: 0)...Date(timeIntervalSince1970: 253_402_300_799)

    static func parseTime(_ text: String, anchor: Date) -> Date? {
        // Issue 16 (fuzzing): "+31e308m" (infinite) or "+1e300h" was taken
        // as a time, then trapped converting to Int64 wherever the plan's
        // times were shown (BeijingTime.iso). Out of range: not a time.
        guard let d = parseAnyTime(text, anchor: anchor), timeRange.contains(d) else { return nil }
        return d
    }

    private static func parseAnyTime(_ text: String, anchor: Date) -> Date? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("+") {
            let body = t.dropFirst()
            guard let unit = body.last, let n = Double(body.dropLast()), n >= 0 else { return nil }
            switch unit {
            case "s": return anchor.addingTimeInterval(n)
            case "m": return anchor.addingTimeInterval(n * 60)
            case "h": return anchor.addingTimeInterval(n * 3600)
            default: return nil
            }
        }
        return BeijingTime.parse(t)
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ p: [CodingKey]) -> String {
            p.isEmpty ? "top level" : p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch e {
        case .keyNotFound(let k, let c): return "\(path(c.codingPath + [k])) is missing"
        case .typeMismatch(let t, let c): return "\(path(c.codingPath)) should be \(t)"
        case .valueNotFound(let t, let c): return "\(path(c.codingPath)) should be \(t)"
        case .dataCorrupted(let c): return "\(path(c.codingPath)): not valid JSON (\(c.debugDescription))"
        @unknown default: return "\(e)"
        }
    }
}

/// A refused plan, with every problem.
public struct PlanError: Error, CustomStringConvertible, Sendable, Equatable {
    public let problems: [String]
    public var description: String {
        "the plan has \(problems.count) problem(s):\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}
