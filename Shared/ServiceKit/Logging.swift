import ExamPlan
import Foundation
import Logging

/// How log records are written: `text` for people, `json` (one object per
/// line) for log shippers.
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json

    /// Parses `--log-format` / EXAM_LOG_FORMAT, saying what is allowed.
    public static func parse(_ value: String) throws -> LogFormat {
        guard let f = LogFormat(rawValue: value.lowercased()) else {
            throw ConfigError("log format '\(value)' is neither 'text' nor 'json' (--log-format or EXAM_LOG_FORMAT)")
        }
        return f
    }
}

/// One line per record on standard error: Beijing time, level, service,
/// message, then key=value metadata (`text`), or the same as one JSON object
/// per line (`json`): {"time", "level", "service", "message", then each
/// metadata key as a string field}. Standard output is kept for the
/// readiness line.
public struct ExamLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String
    let format: LogFormat

    public init(label: String, level: Logger.Level, format: LogFormat = .text) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        let line = Self.line(time: Date(), level: event.level, label: label, message: "\(event.message)",
                             metadata: all, format: format)
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// The line written for one record, newline included.
    public static func line(time: Date, level: Logger.Level, label: String, message: String,
                            metadata: Logger.Metadata, format: LogFormat) -> String {
        let sorted = metadata.sorted(by: { $0.key < $1.key })
        switch format {
        case .text:
            // Every value escaped (issue 22): a newline or a NUL from a
            // client's field never starts a forged line.
            var line = "\(BeijingTime.iso(time)) \(level) \(textEscaped(label)): \(textEscaped(message))"
            for (k, v) in sorted { line += " \(textEscaped(k))=\(textEscaped("\(v)"))" }
            return line + "\n"
        case .json:
            var line = "{\"time\":\(jsonString(BeijingTime.iso(time))),\"level\":\(jsonString(level.rawValue))"
            line += ",\"service\":\(jsonString(label)),\"message\":\(jsonString(message))"
            for (k, v) in sorted {
                // A metadata key never shadows the record's own fields.
                let key = reserved.contains(k) ? "meta." + k : k
                line += ",\(jsonString(key)):\(jsonString("\(v)"))"
            }
            return line + "}\n"
        }
    }

    static let reserved: Set<String> = ["time", "level", "service", "message"]

    /// `s` as a JSON string literal (RFC 8259): quotes, backslashes and
    /// control characters escaped; everything else as UTF-8.
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                // C0, DEL and C1 as the text format's isControl (issue 22:
                // text and JSON alike).
                if isControl(u) {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// `s` for a text line: control characters (C0, DEL, C1, the Unicode
    /// line and paragraph separators) as \n, \r, \t or \u{XX}, and a
    /// backslash doubled, so that the escapes cannot be faked either;
    /// everything else (Chinese included) as it is.
    public static func textEscaped(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0 == "\\" || isControl($0) }) else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 8)
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if isControl(u) { out += "\\u{" + String(u.value, radix: 16) + "}" } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }

    static func isControl(_ u: Unicode.Scalar) -> Bool {
        u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029
    }

    /// Sets up swift-log for the process (once).
    public static func bootstrap(level: Logger.Level, format: LogFormat) {
        LoggingSystem.bootstrap { label in ExamLogHandler(label: label, level: level, format: format) }
    }
}
