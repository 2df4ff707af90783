import Foundation

/// A span of time, open at `opens`, closed at `closes` (R10, R11): an entry
/// at 11:09:59.999 is inside the 11:00-11:10 window, one at 11:10:00 is not.
public struct TimeWindow: Codable, Equatable, Hashable, Sendable {
    public var opens: Date
    public var closes: Date

    public init(opens: Date, closes: Date) {
        self.opens = opens
        self.closes = closes
    }

    public func contains(_ t: Date) -> Bool { t >= opens && t < closes }
    public func hasClosed(at t: Date) -> Bool { t >= closes }
    public func hasOpened(at t: Date) -> Bool { t >= opens }

    /// "2022-11-19 11:00:00 - 11:10:00" (Beijing time, for people).
    public var text: String {
        let a = BeijingTime.short(opens), b = BeijingTime.short(closes)
        return a.prefix(10) == b.prefix(10) ? "\(a) - \(b.dropFirst(11))" : "\(a) - \(b)"
    }
}

/// The two sittings of the notice: the mock test (rehearsal) and the formal
/// interview (R10, R19).
public enum Sitting: String, Codable, Sendable, CaseIterable, Hashable {
    case mock, formal
}

/// Who may say "stop reading, start answering" (R14): staff announce it, or
/// the countdown turns by itself at the end of the reading time.
public enum AnsweringTurn: String, Codable, Sendable, Hashable {
    case staff, automatic
}

/// The durations of one interview (R14): 5 + 5 minutes in the notice.
public struct InterviewDurations: Codable, Equatable, Hashable, Sendable {
    public var readingSeconds: Int
    public var answeringSeconds: Int
    public var answeringTurn: AnsweringTurn

    public init(readingSeconds: Int = 300, answeringSeconds: Int = 300, answeringTurn: AnsweringTurn = .automatic) {
        self.readingSeconds = readingSeconds
        self.answeringSeconds = answeringSeconds
        self.answeringTurn = answeringTurn
    }

    public var totalSeconds: Int { readingSeconds + answeringSeconds }
}

/// A member of a room's examiner panel (考官).
public struct Examiner: Codable, Equatable, Hashable, Sendable {
    public var id: String
    public var name: String
    /// The chief examiner decides incidents (R42).
    public var chief: Bool

    public init(id: String, name: String, chief: Bool = false) {
        self.id = id
        self.name = name
        self.chief = chief
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? id
        chief = try c.decodeIfPresent(Bool.self, forKey: .chief) ?? false
    }
}

/// An exam room (考场): a panel and the candidates interviewed there, one
/// after another (R11).
public struct ExamRoom: Codable, Equatable, Hashable, Sendable {
    public var id: String
    public var name: String
    public var panel: [Examiner]
    /// Exam numbers; the interview order is drawn (R20), not this list's order.
    public var candidates: [String]
    /// Staff who run the room (考务人员).
    public var proctors: [String]

    public init(id: String, name: String, panel: [Examiner], candidates: [String], proctors: [String] = []) {
        self.id = id
        self.name = name
        self.panel = panel
        self.candidates = candidates
        self.proctors = proctors
    }
}

/// The exam plan (R10): every window in Beijing time, the interview
/// durations, and the rooms. Timing owns it and serves it; every other
/// service reads it from timing's `timing.plan.published` event, through
/// this one type.
public struct ExamPlan: Codable, Equatable, Hashable, Sendable {
    public var exam: String
    /// Candidates confirm or decline inside it (R3); unconfirmed at its end
    /// are forfeited (R5).
    public var confirmation: TimeWindow
    /// Entry windows of the mock test and the formal interview (R11, R12);
    /// the interviews follow each entry's close.
    public var mockEntry: TimeWindow
    public var formalEntry: TimeWindow
    /// Scores are published (R55; notice: 21 Nov).
    public var publication: Date
    public var interview: InterviewDurations
    public var rooms: [ExamRoom]

    public init(exam: String, confirmation: TimeWindow, mockEntry: TimeWindow, formalEntry: TimeWindow,
                publication: Date, interview: InterviewDurations, rooms: [ExamRoom]) {
        self.exam = exam
        self.confirmation = confirmation
        self.mockEntry = mockEntry
        self.formalEntry = formalEntry
        self.publication = publication
        self.interview = interview
        self.rooms = rooms
    }

    public func entry(_ sitting: Sitting) -> TimeWindow { sitting == .mock ? mockEntry : formalEntry }

    /// The room of `examNumber`, if the plan places it.
    public func room(of examNumber: String) -> ExamRoom? {
        rooms.first { $0.candidates.contains(examNumber) }
    }

    public func room(id: String) -> ExamRoom? { rooms.first { $0.id == id } }

    public var allCandidates: [String] { rooms.flatMap(\.candidates) }

    /// Every problem with the plan, each saying where (R10): windows that end
    /// before they open or overlap, a room without a panel, a candidate in
    /// two rooms, and the like. Empty means the plan is valid.
    public func problems() -> [String] {
        var out: [String] = []
        if exam.trimmingCharacters(in: .whitespaces).isEmpty { out.append("exam: the exam needs a name") }
        for (name, w) in [("confirmation", confirmation), ("mock.entry", mockEntry), ("formal.entry", formalEntry)] {
            if w.closes <= w.opens {
                out.append("\(name): closes at \(BeijingTime.short(w.closes)), not after it opens at \(BeijingTime.short(w.opens))")
            }
        }
        let ordered: [(String, TimeWindow)] = [("confirmation", confirmation), ("mock.entry", mockEntry), ("formal.entry", formalEntry)]
        for i in 0..<ordered.count {
            for j in (i + 1)..<ordered.count {
                let (a, wa) = ordered[i], (b, wb) = ordered[j]
                if wa.opens < wb.closes && wb.opens < wa.closes {
                    out.append("\(b): \(wb.text) overlaps \(a) \(wa.text)")
                } else if wb.closes <= wa.opens {
                    out.append("\(b): \(wb.text) comes before \(a) \(wa.text); the order is confirmation, mock, formal")
                }
            }
        }
        let lastEntryClose = formalEntry.closes.addingTimeInterval(TimeInterval(interview.totalSeconds))
        if publication < lastEntryClose {
            out.append("publication: \(BeijingTime.short(publication)) is before the formal interviews can have ended (\(BeijingTime.short(lastEntryClose)) at the earliest)")
        }
        for (name, s) in [("interview.reading_seconds", interview.readingSeconds), ("interview.answering_seconds", interview.answeringSeconds)] {
            if s <= 0 || s > 3600 { out.append("\(name): \(s) is not between 1 and 3600 seconds") }
        }
        if rooms.isEmpty { out.append("rooms: the plan has no rooms") }
        var roomIDs: [String: Int] = [:]
        var placed: [String: String] = [:]
        var examiners: [String: String] = [:]
        for (i, room) in rooms.enumerated() {
            let at = "rooms[\(i)] (\(room.id))"
            if !Self.isIdentifier(room.id) { out.append("rooms[\(i)].id: '\(room.id)' is not letters, digits, '-' or '_'") }
            if let first = roomIDs[room.id] { out.append("\(at): the id is also rooms[\(first)]'s") }
            roomIDs[room.id] = roomIDs[room.id] ?? i
            if room.panel.isEmpty { out.append("\(at).panel: a room needs an examiner panel") }
            if room.candidates.isEmpty { out.append("\(at).candidates: the room has no candidates") }
            var inPanel = Set<String>()
            for e in room.panel {
                if !Self.isIdentifier(e.id) { out.append("\(at).panel: examiner id '\(e.id)' is not letters, digits, '-' or '_'") }
                if !inPanel.insert(e.id).inserted { out.append("\(at).panel: examiner \(e.id) is listed twice") }
                if let other = examiners[e.id], other != room.id { out.append("\(at).panel: examiner \(e.id) also sits on room \(other)'s panel") }
                examiners[e.id] = room.id
            }
            if !room.panel.isEmpty && room.panel.filter(\.chief).count != 1 {
                out.append("\(at).panel: exactly one examiner must be the chief (has \(room.panel.filter(\.chief).count))")
            }
            for c in room.candidates {
                if !Self.isIdentifier(c) { out.append("\(at).candidates: '\(c)' is not an exam number") }
                if let other = placed[c] {
                    out.append("\(at).candidates: \(c) is also in room \(other)")
                } else {
                    placed[c] = room.id
                }
            }
        }
        return out
    }

    static func isIdentifier(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 32 && s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "-" || $0 == "_" }
    }
}
