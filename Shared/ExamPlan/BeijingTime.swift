import Foundation

/// Beijing time (UTC+8, no daylight saving): every time the notice gives and
/// every time shown to people. The server's clock is the authority; this only
/// formats and parses.
public enum BeijingTime {
    public static let zone = TimeZone(secondsFromGMT: 8 * 3600)!

    public static var calendar: Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = zone
        return c
    }

    /// "2022-11-19T11:10:00.000+08:00"
    public static func iso(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let shifted = Date(timeIntervalSince1970: Double(ms - ms % 1000) / 1000 + 8 * 3600)
        let c = Calendar(identifier: .gregorian)
        var utc = c
        utc.timeZone = TimeZone(secondsFromGMT: 0)!
        let p = utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: shifted)
        let frac = ((ms % 1000) + 1000) % 1000
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03lld+08:00",
                      p.year!, p.month!, p.day!, p.hour!, p.minute!, p.second!, frac)
    }

    /// "2022-11-19 11:10:00" (for lists and screens).
    public static func short(_ date: Date) -> String {
        let s = iso(date)
        return String(s.prefix(10)) + " " + String(s.dropFirst(11).prefix(8))
    }

    /// "11:10:00"
    public static func clock(_ date: Date) -> String {
        String(iso(date).dropFirst(11).prefix(8))
    }

    /// Parses an ISO 8601 time with an explicit offset ("+08:00" or "Z"), or a
    /// local "YYYY-MM-DD HH:MM[:SS]" taken as Beijing time.
    public static func parse(_ text: String) -> Date? {
        let t = text.trimmingCharacters(in: .whitespaces)
        // Issue 16 (fuzzing): ICU's date parser behind ISO8601DateFormatter
        // dies of SIGFPE on long runs of digits ("…01:00:00.0555…5Z" with
        // 35 fraction digits took the process down). No time this accepts
        // has more than 9 digits in a row (nanoseconds) or 64 characters.
        guard t.utf8.count <= 64, !Self.hasLongDigitRun(t) else { return nil }
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = iso.date(from: t) { return d }
        iso.formatOptions = [.withInternetDateTime]
        if let d = iso.date(from: t) { return d }
        // Local Beijing form.
        let parts = t.replacingOccurrences(of: "T", with: " ").split(separator: " ")
        guard parts.count == 2 else { return nil }
        let ymd = parts[0].split(separator: "-").compactMap { Int($0) }
        let hms = parts[1].split(separator: ":").compactMap { Int($0) }
        guard ymd.count == 3, (2...3).contains(hms.count) else { return nil }
        var c = DateComponents()
        c.year = ymd[0]; c.month = ymd[1]; c.day = ymd[2]
        c.hour = hms[0]; c.minute = hms[1]; c.second = hms.count == 3 ? hms[2] : 0
        let cal = calendar
        guard let d = cal.date(from: c), cal.dateComponents([.year, .month, .day, .hour, .minute, .second], from: d) == c.filtered else { return nil }
        return d
    }

    /// True when `t` has more than 9 ASCII digits in a row.
    static func hasLongDigitRun(_ t: String) -> Bool {
        var run = 0
        for b in t.utf8 {
            run = (0x30...0x39).contains(b) ? run + 1 : 0
            if run > 9 { return true }
        }
        return false
    }
}

private extension DateComponents {
    var filtered: DateComponents {
        var c = DateComponents()
        c.year = year; c.month = month; c.day = day; c.hour = hour; c.minute = minute; c.second = second
        return c
    }
}
