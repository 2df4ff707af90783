// A public list cut down to some candidates' rows (R55, R62; issue 22): a
// chief examiner downloads the ranking of their own room only, so the
// gateway keeps the rows of that room's candidates and nothing else. The
// files are scoring's (ScoringExport: CSV, UTF-8 with BOM, CRLF, RFC 4180
// quoting; JSON with snake_case keys); a file whose shape is not known is
// refused rather than passed on whole (fail closed).
import Foundation

public enum ListFilter {
    /// The CSV column of the exam number (ScoringExport's headers).
    public static let examNumberColumn = "准考证号"

    public struct Unreadable: Error, Sendable, Equatable {
        public var message: String
    }

    /// The header and the records whose exam number is in `keep`, byte for
    /// byte as scoring wrote them (the BOM too).
    public static func csv(_ data: Data, keep: Set<String>) throws(Unreadable) -> Data {
        let bytes = [UInt8](data)
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let start = bytes.starts(with: bom) ? 3 : 0
        let records = try self.records(bytes, from: start)
        guard let header = records.first else { throw Unreadable(message: "名单文件为空，无法按考场筛选") }
        guard let column = header.fields.firstIndex(of: examNumberColumn) else {
            throw Unreadable(message: "名单文件没有“\(examNumberColumn)”列，无法按考场筛选")
        }
        var out = Array(bytes[0..<start]) + bytes[header.range]
        for r in records.dropFirst() where r.fields.count > column && keep.contains(r.fields[column]) {
            out += bytes[r.range]
        }
        return Data(out)
    }

    struct Record {
        var range: Range<Int>
        var fields: [String]
    }

    /// RFC 4180 records: a quoted field may hold commas, quotes (doubled)
    /// and line breaks; a record ends at a line break outside quotes.
    static func records(_ b: [UInt8], from start: Int) throws(Unreadable) -> [Record] {
        var out: [Record] = []
        var i = start
        while i < b.count {
            let recordStart = i
            var fields: [String] = []
            var field: [UInt8] = []
            var quoted = false
            var ended = false
            while i < b.count, !ended {
                let c = b[i]
                if quoted {
                    if c == 0x22 {
                        if i + 1 < b.count, b[i + 1] == 0x22 { field.append(0x22); i += 1 } else { quoted = false }
                    } else {
                        field.append(c)
                    }
                } else {
                    switch c {
                    case 0x22: quoted = true
                    case 0x2C:
                        fields.append(String(decoding: field, as: UTF8.self))
                        field = []
                    case 0x0A:
                        if field.last == 0x0D { field.removeLast() }
                        ended = true
                    default: field.append(c)
                    }
                }
                i += 1
            }
            if quoted { throw Unreadable(message: "名单文件第 \(out.count + 1) 行的引号没有闭合，无法按考场筛选") }
            fields.append(String(decoding: field, as: UTF8.self))
            if !(fields.count == 1 && fields[0].isEmpty) || ended { out.append(Record(range: recordStart..<i, fields: fields)) }
        }
        return out
    }

    /// The JSON document with only `keep`'s rows: `total_scores` and
    /// `physical_exam` filtered by `exam_number`; each tie-break draw keeps
    /// only the kept candidates (a draw without any is left out).
    public static func json(_ data: Data, keep: Set<String>) throws(Unreadable) -> Data {
        guard var doc = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw Unreadable(message: "名单文件不是 JSON 对象，无法按考场筛选")
        }
        for key in ["total_scores", "physical_exam"] {
            guard let rows = doc[key] as? [[String: Any]] else {
                throw Unreadable(message: "名单文件没有“\(key)”数组，无法按考场筛选")
            }
            doc[key] = rows.filter { ($0["exam_number"] as? String).map(keep.contains) ?? false }
        }
        if let draws = doc["draws"] as? [[String: Any]] {
            doc["draws"] = draws.compactMap { d -> [String: Any]? in
                var d = d
                let tied = (d["tied"] as? [String] ?? []).filter(keep.contains)
                guard !tied.isEmpty else { return nil }
                d["tied"] = tied
                d["order"] = (d["order"] as? [String] ?? []).filter(keep.contains)
                return d
            }
        } else if doc["draws"] != nil {
            throw Unreadable(message: "名单文件的“draws”不是数组，无法按考场筛选")
        }
        guard let out = try? JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) else {
            throw Unreadable(message: "筛选后的名单无法写成 JSON")
        }
        return out
    }
}
