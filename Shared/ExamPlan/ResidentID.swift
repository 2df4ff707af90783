import Foundation

/// An 18-character PRC resident identity number (GB 11643-1999): a 6-digit
/// region, the birth date YYYYMMDD, a 3-digit sequence, and a check
/// character (0-9 or X). R1 checks every one on import; R2 derives the
/// default password from it; public lists and logs show it masked.
public struct ResidentID: Hashable, Sendable, CustomStringConvertible {
    /// Canonical form: upper-case X.
    public let value: String

    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case length(Int)
        case characters
        case checksum(expected: Character, found: Character)
        case birthDate(String)

        public var description: String {
            switch self {
            case .length(let n): return "has \(n) characters, not 18"
            case .characters: return "must be 17 digits and a final digit or X"
            case .checksum(let e, let f): return "check character is \(f), but GB 11643-1999 gives \(e)"
            case .birthDate(let d): return "birth date \(d) is not a real date"
            }
        }
    }

    static let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    static let checkCharacters: [Character] = ["1", "0", "X", "9", "8", "7", "6", "5", "4", "3", "2"]

    /// Validates `text` (surrounding spaces ignored; x or X); `today` bounds
    /// the birth date (nobody is born in the future).
    public init(_ text: String, today: Date = Date()) throws {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let chars = Array(t)
        guard chars.count == 18 else { throw Problem.length(chars.count) }
        guard chars[0..<17].allSatisfy({ $0.isASCII && $0.isNumber }),
              chars[17].isASCII && (chars[17].isNumber || chars[17] == "X") else { throw Problem.characters }
        let digits = chars[0..<17].map { Int(String($0))! }
        let sum = zip(digits, Self.weights).reduce(0) { $0 + $1.0 * $1.1 }
        let expected = Self.checkCharacters[sum % 11]
        guard expected == chars[17] else { throw Problem.checksum(expected: expected, found: chars[17]) }
        let birth = String(chars[6..<14])
        guard Self.birthDate(birth, today: today) != nil else { throw Problem.birthDate(birth) }
        value = t
    }

    /// The birth date, if YYYYMMDD is a real day from 1900 up to `today`.
    static func birthDate(_ yyyymmdd: String, today: Date) -> Date? {
        guard yyyymmdd.count == 8, let y = Int(yyyymmdd.prefix(4)), let m = Int(yyyymmdd.dropFirst(4).prefix(2)),
              let d = Int(yyyymmdd.suffix(2)), y >= 1900 else { return nil }
        let cal = BeijingTime.calendar
        var c = DateComponents()
        c.year = y; c.month = m; c.day = d; c.hour = 12
        guard let date = cal.date(from: c) else { return nil }
        let back = cal.dateComponents([.year, .month, .day], from: date)
        guard back.year == y, back.month == m, back.day == d, date <= today else { return nil }
        return date
    }

    public var birthDateText: String {
        let v = Array(value)
        return "\(String(v[6..<10]))-\(String(v[10..<12]))-\(String(v[12..<14]))"
    }

    /// The default password (R2): the last six characters.
    public var lastSix: String { String(value.suffix(6)) }

    /// First 6 and last 4 shown: "370202********123X" (public lists, logs).
    public var masked: String { Self.mask(value) }

    /// Masks any text that may be an ID number, without validating it.
    public static func mask(_ text: String) -> String {
        let c = Array(text)
        guard c.count > 10 else { return String(repeating: "*", count: c.count) }
        return String(c.prefix(6)) + String(repeating: "*", count: c.count - 10) + String(c.suffix(4))
    }

    public var description: String { masked }
}
