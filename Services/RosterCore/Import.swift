import Foundation
import ExamPlan

/// What an import did (R1).
public struct ImportOutcome: Sendable, Equatable {
    public var fileName: String
    /// Candidate rows in the file (the header and blank lines not counted).
    public var rows: Int
    public var added: Int
    public var updated: Int
    public var unchanged: Int
    public var postsAdded: Int
    public var postsUpdated: Int
    public var events: [RosterEvent]
}

/// The columns of attachment 1 (R1), by their English and Chinese headers.
enum ImportColumn: Int, CaseIterable {
    case examNumber, name, idNumber, phone, postCode, postName, writtenScore, places

    var english: String {
        ["exam_number", "name", "id_number", "phone", "post_code", "post_name", "written_score", "places"][rawValue]
    }
    var chinese: String { ["准考证号", "姓名", "身份证号", "手机号", "岗位代码", "岗位名称", "笔试成绩", "招聘人数"][rawValue] }

    static func named(_ header: String) -> ImportColumn? {
        let h = header.trimmingCharacters(in: .whitespaces)
        return allCases.first { $0.english == h.lowercased() || $0.chinese == h }
    }

    static var expected: String {
        allCases.map(\.english).joined(separator: ", ") + " (or " + allCases.map(\.chinese).joined(separator: ", ") + ")"
    }
}

/// One record of the CSV file: the file line it starts on, its fields, and
/// syntax problems by field index.
struct CSVRecord {
    var line: Int
    var fields: [String]
    var problems: [(field: Int, message: String)] = []
}

/// RFC 4180 over UTF-8 bytes (a multi-byte UTF-8 sequence never contains an
/// ASCII byte, so commas, quotes and line ends can be found byte-wise).
/// Quoted fields may hold commas, doubled quotes and line breaks; records end
/// with CRLF, LF or CR. Linear in the size of the file.
enum CSV {
    struct Unclosed: Error { var record: CSVRecord; var field: Int }

    static func records(_ b: [UInt8], from start: Int) -> (records: [CSVRecord], unclosed: Unclosed?) {
        let quote: UInt8 = 0x22, comma: UInt8 = 0x2C, cr: UInt8 = 0x0D, lf: UInt8 = 0x0A
        let n = b.count
        var out: [CSVRecord] = []
        var i = start
        var line = 1
        func text(_ s: ArraySlice<UInt8>) -> String { String(decoding: s, as: UTF8.self) }
        while i < n {
            var rec = CSVRecord(line: line, fields: [])
            fields: while true {
                let fieldIndex = rec.fields.count
                if i < n && b[i] == quote {
                    i += 1
                    var buf: [UInt8] = []
                    var closed = false
                    while i < n {
                        let c = b[i]
                        if c == quote {
                            if i + 1 < n && b[i + 1] == quote { buf.append(quote); i += 2; continue }
                            i += 1; closed = true; break
                        }
                        if c == lf || (c == cr && !(i + 1 < n && b[i + 1] == lf)) { line += 1 }
                        buf.append(c); i += 1
                    }
                    if !closed {
                        rec.fields.append(text(buf[...]))
                        return (out, Unclosed(record: rec, field: fieldIndex))
                    }
                    rec.fields.append(text(buf[...]))
                    if i < n && b[i] != comma && b[i] != cr && b[i] != lf {
                        rec.problems.append((fieldIndex, "text after the closing quote (quote the whole field and double any quote inside)"))
                        while i < n && b[i] != comma && b[i] != cr && b[i] != lf { i += 1 }
                    }
                } else {
                    let s = i
                    var stray = false
                    while i < n && b[i] != comma && b[i] != cr && b[i] != lf {
                        if b[i] == quote { stray = true }
                        i += 1
                    }
                    if stray { rec.problems.append((fieldIndex, "a quote inside an unquoted field (quote the whole field and double the quote)")) }
                    rec.fields.append(text(b[s..<i]))
                }
                if i < n && b[i] == comma { i += 1; continue fields }
                break fields
            }
            if i < n && b[i] == cr { i += 1; if i < n && b[i] == lf { i += 1 }; line += 1 }
            else if i < n && b[i] == lf { i += 1; line += 1 }
            // A blank line (or one of spaces) is not a record.
            let blank = rec.fields.count == 1 && rec.fields[0].allSatisfy { $0 == " " || $0 == "\t" } && rec.problems.isEmpty
            if !blank { out.append(rec) }
        }
        return (out, nil)
    }

    /// nil if `b[from...]` is valid UTF-8, else the offset of the first bad byte.
    static func firstInvalidUTF8(_ b: [UInt8], from start: Int) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var it = b[start...].makeIterator()
        var offset = start
        while true {
            switch parser.parseScalar(from: &it) {
            case .valid(let s): offset += s.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }
}

/// A row that passed every check of its own.
struct ImportRow {
    var line: Int
    var examNumber: String
    var name: String
    var idNumber: String
    var phone: String
    var postCode: String
    var postName: String
    var writtenScore: Points
    var places: Int
}

extension RosterState {
    /// The longest name accepted (Chinese names are short; this only stops junk).
    static let maxNameLength = 50
    static let maxPostNameLength = 100
    static let maxPlaces = 10_000

    /// Imports the qualified-candidate list (R1, attachment 1 of the notice).
    ///
    /// All or nothing: a file with any bad row is refused whole
    /// (invalidArgument), `details` listing every problem as
    /// "line N, column <header>: <problem>" (file lines, the header is line 1).
    ///
    /// An import merges: it adds new exam numbers and updates changed ones
    /// (rows equal to the store change nothing, so the same file twice is a
    /// no-op without events). Candidates absent from a later file are KEPT,
    /// untouched: a file may cover only some posts, and silently dropping a
    /// qualified candidate would take away their interview (notice §1);
    /// removing one is the explicit `removeCandidate`. A post's name and
    /// places are set by the latest file mentioning the post.
    ///
    /// Once the confirmation window opened (R3) the list is frozen: a file
    /// that would add or change anything is refused (failedPrecondition),
    /// since candidates are confirming against it; the same file is still
    /// accepted as a no-op.
    public mutating func importCSV(_ data: Data, fileName: String, now: Date) throws(RosterError) -> ImportOutcome {
        let file = fileName.isEmpty ? "the file" : fileName
        guard data.count <= config.maxImportBytes else {
            throw RosterError(.resourceExhausted, "\(file): \(data.count) bytes, above the limit of \(config.maxImportBytes) bytes")
        }
        let bytes = [UInt8](data)
        var start = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            throw .invalid("\(file) is UTF-16 text (byte-order mark \(bytes[0] == 0xFF ? "FF FE" : "FE FF")); save it as UTF-8 (\"CSV UTF-8\")",
                           details: ["line 1: UTF-16 byte-order mark"])
        }
        if let bad = CSV.firstInvalidUTF8(bytes, from: start) {
            let line = 1 + bytes[..<bad].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            let detail = "line \(line): byte 0x\(String(format: "%02X", bytes[bad])) at offset \(bad) is not UTF-8"
            throw .invalid("\(file) is not UTF-8 text (\(detail)); a GBK/GB18030 export? save it as \"CSV UTF-8\"", details: [detail])
        }

        let (records, unclosed) = CSV.records(bytes, from: start)
        guard let header = records.first ?? unclosed?.record else {
            throw .invalid("\(file) is empty: expected a header row with \(ImportColumn.expected)", details: ["line 1: no header row"])
        }

        // Header (line 1): every column known, none twice, none missing.
        var columnAt: [ImportColumn: Int] = [:]
        var headerErrors = header.problems.map { "line \(header.line), column \($0.field + 1): \($0.message)" }
        for (i, h) in header.fields.enumerated() {
            let shown = h.trimmingCharacters(in: .whitespaces)
            guard let col = ImportColumn.named(h) else {
                headerErrors.append("line \(header.line), column '\(shown)': unknown column (expected \(ImportColumn.expected))")
                continue
            }
            if let first = columnAt[col] {
                headerErrors.append("line \(header.line), column \(shown): appears twice (columns \(first + 1) and \(i + 1))")
            } else {
                columnAt[col] = i
            }
        }
        for col in ImportColumn.allCases where columnAt[col] == nil {
            headerErrors.append("line \(header.line): missing column \(col.english) (\(col.chinese))")
        }
        if records.first == nil, let u = unclosed { headerErrors.append("line \(u.record.line): the quoted header field is never closed") }
        guard headerErrors.isEmpty else {
            throw .invalid("\(file): the header row is wrong, nothing imported (R1):\n" + headerErrors.joined(separator: "\n"), details: headerErrors)
        }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        var body = Array(records.dropFirst())
        if let u = unclosed, records.first != nil {
            var r = u.record
            r.problems.append((u.field, "the quoted field is never closed (the rest of the file is inside it)"))
            body.append(r)
        }
        guard !body.isEmpty else {
            throw .invalid("\(file) has a header but no candidate rows", details: ["line 2: no candidate rows after the header"])
        }

        // Rows: each checked on its own, then against the others and the store.
        var errors: [(line: Int, field: Int, text: String)] = []
        func fail(_ line: Int, _ col: ImportColumn?, _ fieldIndex: Int? = nil, _ problem: String) {
            if let col {
                let f = fieldIndex ?? columnAt[col]!
                errors.append((line, f, "line \(line), column \(names[f]): \(problem)"))
            } else {
                errors.append((line, -1, "line \(line): \(problem)"))
            }
        }
        var rows: [ImportRow] = []
        rows.reserveCapacity(body.count)
        var fileExamNumbers = Set<String>()
        for rec in body {
            if let e = columnAt[.examNumber], e < rec.fields.count {
                fileExamNumbers.insert(rec.fields[e].trimmingCharacters(in: .whitespaces))
            }
        }
        var lineOfExam: [String: Int] = [:], lineOfID: [String: Int] = [:], lineOfPhone: [String: Int] = [:]
        var postSeen: [String: (name: String, places: Int, line: Int)] = [:]

        for rec in body {
            let line = rec.line
            for p in rec.problems {
                let col = p.field < names.count ? ImportColumn.named(names[p.field]) : nil
                fail(line, col, col == nil ? nil : p.field, p.message)
            }
            guard rec.problems.isEmpty else { continue }
            guard rec.fields.count == names.count else {
                fail(line, nil, nil, "\(rec.fields.count) fields, the header has \(names.count)")
                continue
            }
            func field(_ c: ImportColumn) -> String { rec.fields[columnAt[c]!].trimmingCharacters(in: .whitespaces) }
            var ok = true
            func bad(_ c: ImportColumn, _ problem: String) { fail(line, c, nil, problem); ok = false }

            let exam = field(.examNumber)
            if exam.isEmpty { bad(.examNumber, "is empty") }
            else if !Check.isIdentifier(exam) { bad(.examNumber, "'\(exam)' is not an exam number (1 to 32 letters, digits, '-' or '_')") }
            else if let first = lineOfExam[exam] { bad(.examNumber, "\(exam) is also on line \(first)") }
            else { lineOfExam[exam] = line }

            let name = rec.fields[columnAt[.name]!].trimmingCharacters(in: .whitespacesAndNewlines)
            if name.isEmpty { bad(.name, "is empty") }
            else if name.count > Self.maxNameLength { bad(.name, "has \(name.count) characters, at most \(Self.maxNameLength)") }
            else if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { bad(.name, "contains control characters or a line break") }

            var idNumber = ""
            let idText = field(.idNumber)
            if idText.isEmpty { bad(.idNumber, "is empty") }
            else {
                do {
                    idNumber = try ResidentID(idText, today: now).value
                    if let first = lineOfID[idNumber] { bad(.idNumber, "the same ID number is on line \(first)") }
                    else {
                        lineOfID[idNumber] = line
                        if let owner = byIDNumber[idNumber], owner != exam, !fileExamNumbers.contains(owner) {
                            bad(.idNumber, "the ID number already belongs to candidate \(owner)")
                        }
                    }
                } catch let p as ResidentID.Problem {
                    bad(.idNumber, "\(p)")
                } catch {
                    bad(.idNumber, "\(error)")
                }
            }

            let phone = field(.phone)
            if let problem = Self.phoneProblem(phone) { bad(.phone, problem) }
            else if let first = lineOfPhone[phone] { bad(.phone, "\(phone) is also on line \(first)") }
            else {
                lineOfPhone[phone] = line
                if let owner = byPhone[phone], owner != exam, !fileExamNumbers.contains(owner) {
                    bad(.phone, "\(phone) already belongs to candidate \(owner)")
                }
            }

            let postCode = field(.postCode)
            let postName = field(.postName)
            if postCode.isEmpty { bad(.postCode, "is empty") }
            else if !Check.isIdentifier(postCode) { bad(.postCode, "'\(postCode)' is not a post code (1 to 32 letters, digits, '-' or '_')") }
            var postNameOK = false
            if postName.isEmpty { bad(.postName, "is empty") }
            else if postName.count > Self.maxPostNameLength { bad(.postName, "has \(postName.count) characters, at most \(Self.maxPostNameLength)") }
            else if postName.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { bad(.postName, "contains control characters or a line break") }
            else { postNameOK = true }

            var score = Points.zero
            let scoreText = field(.writtenScore)
            if scoreText.isEmpty { bad(.writtenScore, "is empty") }
            else {
                do { score = try Points(scoreText, in: Points(hundredths: 0)...Points(hundredths: 10_000)) }
                catch let p as Points.Problem { bad(.writtenScore, "\(p)") }
                catch { bad(.writtenScore, "\(error)") }
            }

            var places = 0
            let placesText = field(.places)
            if let v = Int(placesText), v > 0, v <= Self.maxPlaces, placesText.allSatisfy(\.isASCII) {
                places = v
            } else {
                bad(.places, placesText.isEmpty ? "is empty" : "'\(placesText)' is not a whole number from 1 to \(Self.maxPlaces)")
            }

            // One post, one name and one number of places in the whole file.
            if Check.isIdentifier(postCode), postNameOK {
                if let seen = postSeen[postCode] {
                    if seen.name != postName { bad(.postName, "'\(postName)' differs from '\(seen.name)' given for post \(postCode) on line \(seen.line)") }
                    if places > 0, seen.places != places { bad(.places, "\(places) differs from \(seen.places) given for post \(postCode) on line \(seen.line)") }
                } else if places > 0 {
                    postSeen[postCode] = (postName, places, line)
                }
            }

            if ok {
                rows.append(ImportRow(line: line, examNumber: exam, name: name, idNumber: idNumber, phone: phone,
                                      postCode: postCode, postName: postName, writtenScore: score, places: places))
            }
        }
        guard errors.isEmpty else {
            let sorted = errors.enumerated().sorted { a, b in
                (a.element.line, a.element.field, a.offset) < (b.element.line, b.element.field, b.offset)
            }.map(\.element.text)
            let badRows = Set(errors.map(\.line)).count
            throw .invalid("\(file): \(badRows) bad row(s), nothing imported (R1):\n" + sorted.joined(separator: "\n"), details: sorted)
        }

        // What would change.
        var newPosts: [PostFacts] = [], changedPosts: [(PostFacts, PostFacts)] = []
        for code in postSeen.keys.sorted() {
            let s = postSeen[code]!
            let facts = PostFacts(code: code, name: s.name, places: s.places)
            if let old = posts[code] {
                let before = PostFacts(code: old.code, name: old.name, places: old.places)
                if before != facts { changedPosts.append((facts, before)) }
            } else {
                newPosts.append(facts)
            }
        }
        var added: [ImportRow] = [], updated: [(ImportRow, [String])] = []
        for r in rows {
            guard let old = candidates[r.examNumber] else { added.append(r); continue }
            var changed: [String] = []
            if old.name != r.name { changed.append("name") }
            if old.idNumber != r.idNumber { changed.append("id_number") }
            if old.phone != r.phone { changed.append("phone") }
            if old.postCode != r.postCode { changed.append("post_code") }
            if old.writtenScore != r.writtenScore { changed.append("written_score") }
            if !changed.isEmpty { updated.append((r, changed)) }
        }
        let changes = added.count + updated.count + newPosts.count + changedPosts.count
        if changes > 0, let opened = listFrozenSince(now) {
            let sample = (added.map(\.examNumber) + updated.map(\.0.examNumber)).prefix(5).joined(separator: ", ")
            throw .precondition("\(file) would add \(added.count) and change \(updated.count) candidate(s)"
                + (sample.isEmpty ? "" : " (\(sample))")
                + " and \(newPosts.count + changedPosts.count) post(s), but the confirmation window opened at \(Check.beijing(opened)): "
                + "the list is frozen while candidates confirm against it (R1, R3)")
        }

        // Apply.
        var events: [RosterEvent] = []
        for p in newPosts {
            posts[p.code] = Post(code: p.code, name: p.name, places: p.places, updatedAt: now)
            events.append(.postDefined(post: p, at: now))
        }
        for (p, before) in changedPosts {
            posts[p.code] = Post(code: p.code, name: p.name, places: p.places, updatedAt: now)
            events.append(.postUpdated(post: p, previous: before, at: now))
        }
        // Updates first, added after: an update may free a phone or ID that
        // an added row takes over; `store` keeps the look-ups exact either way
        // because the whole file was checked to be consistent above.
        for (r, changed) in updated {
            var c = candidates[r.examNumber]!
            c.name = r.name; c.idNumber = r.idNumber; c.phone = r.phone
            c.postCode = r.postCode; c.writtenScore = r.writtenScore
            c.source = "\(file) line \(r.line)"; c.updatedAt = now
            store(c, at: r.examNumber)
            events.append(.candidateUpdated(candidate: facts(c), changed: changed, source: c.source, at: now))
        }
        for r in added {
            let c = Candidate(examNumber: r.examNumber, name: r.name, idNumber: r.idNumber, phone: r.phone,
                              postCode: r.postCode, writtenScore: r.writtenScore, source: "\(file) line \(r.line)",
                              importedAt: now, updatedAt: now, statusChangedAt: now)
            store(c, at: r.examNumber)
            events.append(.candidateImported(candidate: facts(c), source: c.source, at: now))
        }
        return ImportOutcome(fileName: file, rows: rows.count, added: added.count, updated: updated.count,
                             unchanged: rows.count - added.count - updated.count,
                             postsAdded: newPosts.count, postsUpdated: changedPosts.count, events: events)
    }

    /// Removes a candidate imported by mistake (R1), only before the list is
    /// frozen by the confirmation window. The shell deletes the document.
    public mutating func removeCandidate(examNumber: String, reason: String, by actor: String, now: Date) throws(RosterError) -> [RosterEvent] {
        let c = try candidate(examNumber)
        guard let why = try Check.text(reason, "the reason", max: 500, required: true) else { return [] }
        guard let who = try Check.text(actor, "the actor", max: 64, required: true) else { return [] }
        if let opened = listFrozenSince(now) {
            throw .precondition("candidate \(examNumber) cannot be removed: the confirmation window opened at \(Check.beijing(opened)) (R1, R3)")
        }
        store(nil, at: examNumber)
        return [.candidateRemoved(examNumber: examNumber, postCode: c.postCode, reason: why, by: who, at: now)]
    }

    /// When the list froze: the confirmation window of the plan opened (or
    /// its end was already processed). nil: changes are still allowed.
    func listFrozenSince(_ now: Date) -> Date? {
        if let closure = meta.closure { return closure.window.opens }
        if let plan = meta.plan, plan.confirmation.hasOpened(at: now) { return plan.confirmation.opens }
        return nil
    }

    /// A mainland mobile number: exactly 11 digits, 1 then 3-9 (R1).
    static func phoneProblem(_ phone: String) -> String? {
        if phone.isEmpty { return "is empty" }
        let digits = phone.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
        if !digits { return "'\(phone)' is not 11 digits (a mainland mobile number, no spaces or +86)" }
        if phone.utf8.count != 11 { return "'\(phone)' has \(phone.utf8.count) digits, not 11" }
        let u = Array(phone.utf8)
        if u[0] != 0x31 || u[1] < 0x33 { return "'\(phone)' is not a mainland mobile number (1, then 3-9, then 9 digits)" }
        return nil
    }
}
