import ExamPlan
import Foundation

extension ScoringState {
    /// Largest sheet accepted (a whole exam's scores fit easily).
    static let sheetMaxBytes = 4 * 1024 * 1024
    static let sheetMaxRows = 20_000

    /// A CSV score sheet (R50): a header naming the columns `exam_number`,
    /// `examiner_id`, `score` (any order, any case; other columns ignored;
    /// UTF-8 BOM and CRLF or LF accepted; RFC 4180 quoting), then one row per
    /// score. Every row is checked like `submit`; every bad row is listed with
    /// its line and column, and then nothing is recorded (all or nothing).
    /// By ops, or by a chief examiner for their own room's candidates.
    public mutating func submitSheet(_ csv: String, by: ScoringActor, now: Date) throws -> [ScoringEvent] {
        guard by.role == .ops || by.isExaminer else {
            throw ScoringError.denied("only ops or a chief examiner may submit a score sheet; \(by.id) (\(by.role.rawValue)) may not")
        }
        var chiefRoom: ExamRoom?
        if by.role != .ops {
            guard let room = plan?.rooms.first(where: { $0.panel.contains { $0.chief && $0.id == by.id } }) else {
                throw ScoringError.denied("only ops or a chief examiner may submit a score sheet; \(by.id) is no room's chief examiner")
            }
            chiefRoom = room
        }
        if isPublished { throw frozen("score sheets are closed; a change needs a correction with a reason") }
        guard csv.utf8.count <= Self.sheetMaxBytes else {
            throw ScoringError.invalid("score sheet: \(csv.utf8.count) bytes, more than the \(Self.sheetMaxBytes) accepted")
        }
        let records: [CSVReader.Record]
        do {
            records = try CSVReader.parse(csv)
        } catch let p as CSVReader.Problem {
            throw ScoringError.invalid("score sheet is not valid CSV: \(p)")
        }
        guard let header = records.first else { throw ScoringError.invalid("score sheet is empty: it needs a header exam_number,examiner_id,score") }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        var column: [String: Int] = [:]
        var headerProblems: [String] = []
        for name in ["exam_number", "examiner_id", "score"] {
            let at = names.indices.filter { names[$0] == name }
            if at.isEmpty { headerProblems.append("line \(header.line): column \(name) is missing") }
            if at.count > 1 { headerProblems.append("line \(header.line): column \(name) appears \(at.count) times") }
            column[name] = at.first
        }
        guard headerProblems.isEmpty else {
            throw ScoringError.invalid("score sheet rejected: the header needs exam_number, examiner_id and score; nothing was recorded", headerProblems)
        }
        let rows = records.dropFirst()
        guard !rows.isEmpty else { throw ScoringError.invalid("score sheet has a header and no rows") }
        guard rows.count <= Self.sheetMaxRows else {
            throw ScoringError.invalid("score sheet has \(rows.count) rows, more than the \(Self.sheetMaxRows) accepted")
        }

        var errors: [String] = []
        var accepted: [(n: String, room: ExamRoom, examiner: String, points: Points)] = []
        var seen: [String: Int] = [:]
        for row in rows {
            guard row.fields.count == names.count else {
                errors.append("line \(row.line): \(row.fields.count) field(s), the header has \(names.count)")
                continue
            }
            func cell(_ name: String) -> String { row.fields[column[name]!].trimmingCharacters(in: .whitespaces) }
            func at(_ name: String) -> String { "line \(row.line), column \(column[name]! + 1) (\(name))" }
            let n = cell("exam_number"), e = cell("examiner_id"), s = cell("score")
            var ok = true
            var points = Points.zero
            do { points = try Check.points(s, "score") } catch let err as ScoringError { errors.append("\(at("score")): \(err.message)"); ok = false }
            guard let c = candidates[n] else {
                errors.append("\(at("exam_number")): '\(n.prefix(40))' is not a candidate on the roster")
                continue
            }
            guard Check.isIdentifier(e) else {
                errors.append("\(at("examiner_id")): '\(e.prefix(40))' is not an examiner id")
                continue
            }
            let room: ExamRoom
            do { room = try panelRoom(c, examinerID: e) } catch let err as ScoringError {
                errors.append("\(at(err.code == .permissionDenied ? "examiner_id" : "exam_number")): \(err.message)")
                continue
            }
            if let chiefRoom, chiefRoom.id != room.id {
                errors.append("\(at("exam_number")): candidate \(n) is in room \(room.id); chief examiner \(by.id) enters scores for room \(chiefRoom.id) only")
                continue
            }
            if let s = c.seal, !(ok && c.panelScores[e]?.score == points) {
                errors.append("\(at("exam_number")): the interview score of candidate \(n) is sealed (\(s.score)); a change needs a correction with a reason")
                continue
            }
            do { try requireScorable(c) } catch let err as ScoringError {
                errors.append("\(at("exam_number")): \(err.message)")
                continue
            }
            if let first = seen["\(n)\u{1F}\(e)"] {
                errors.append("\(at("examiner_id")): candidate \(n), examiner \(e) is already on line \(first)")
                continue
            }
            seen["\(n)\u{1F}\(e)"] = row.line
            if ok { accepted.append((n, room, e, points)) }
        }
        guard errors.isEmpty else {
            throw ScoringError.invalid("score sheet rejected: \(errors.count) error(s); nothing was recorded", errors)
        }
        return accepted.flatMap { applySubmission($0.n, $0.room, $0.examiner, $0.points, now) }
    }
}

/// An RFC 4180 reader: fields separated by commas, records by CRLF (or LF,
/// or CR), fields with commas, quotes or line breaks quoted with quotes
/// doubled. A leading UTF-8 BOM (Excel's) is skipped; blank lines too.
enum CSVReader {
    struct Record: Equatable {
        /// The physical line the record starts on (1-based, header = 1).
        var line: Int
        var fields: [String]
    }

    struct Problem: Error, CustomStringConvertible {
        var line: Int
        var text: String
        var description: String { "line \(line): \(text)" }
    }

    static func parse(_ text: String) throws -> [Record] {
        var s = Array(text.unicodeScalars)
        if s.first == "\u{FEFF}" { s.removeFirst() }
        var records: [Record] = []
        var fields: [String] = []
        var field = String.UnicodeScalarView()
        var line = 1, recordLine = 1, quoteLine = 1
        var inQuotes = false, quoted = false
        var i = 0
        func endField() {
            fields.append(String(field))
            field = String.UnicodeScalarView()
            quoted = false
        }
        func endRecord() {
            endField()
            if !(fields.count == 1 && fields[0].isEmpty) { records.append(Record(line: recordLine, fields: fields)) }
            fields = []
        }
        while i < s.count {
            let ch = s[i]
            if inQuotes {
                if ch == "\"" {
                    if i + 1 < s.count && s[i + 1] == "\"" {
                        field.append("\"")
                        i += 2
                        continue
                    }
                    inQuotes = false
                    i += 1
                    if i < s.count && !(s[i] == "," || s[i] == "\r" || s[i] == "\n") {
                        throw Problem(line: line, text: "text after the closing quote of a field")
                    }
                    continue
                }
                if ch == "\n" || (ch == "\r" && !(i + 1 < s.count && s[i + 1] == "\n")) { line += 1 }
                field.append(ch)
                i += 1
                continue
            }
            switch ch {
            case "\"":
                guard field.isEmpty && !quoted else {
                    throw Problem(line: line, text: "a quote inside an unquoted field (quote the whole field and double the quote)")
                }
                inQuotes = true
                quoted = true
                quoteLine = line
            case ",":
                endField()
            case "\r", "\n":
                if ch == "\r" && i + 1 < s.count && s[i + 1] == "\n" { i += 1 }
                endRecord()
                line += 1
                recordLine = line
            default:
                field.append(ch)
            }
            i += 1
        }
        if inQuotes { throw Problem(line: quoteLine, text: "a quoted field is never closed") }
        if !field.isEmpty || !fields.isEmpty || quoted { endRecord() }
        return records
    }
}
