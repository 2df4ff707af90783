import Foundation

/// A score with two decimals, kept as an integer count of hundredths: exact
/// decimal arithmetic (R51), never binary floating point.
public struct Points: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let hundredths: Int64

    public init(hundredths: Int64) { self.hundredths = hundredths }

    public static let zero = Points(hundredths: 0)

    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case notANumber(String)
        case tooManyDecimals(String)
        case outOfRange(String, Points, Points)

        public var description: String {
            switch self {
            case .notANumber(let t): return "'\(t)' is not a number"
            case .tooManyDecimals(let t): return "'\(t)' has more than two decimals"
            case .outOfRange(let t, let lo, let hi): return "\(t) is not between \(lo) and \(hi)"
            }
        }
    }

    /// Parses "87", "87.5", "87.50", "-1.25"; refuses "87.505" and anything
    /// that is not a plain decimal ("1e2", "８７", "87,5", "").
    public init(_ text: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces)
        var chars = Substring(t)
        var negative = false
        if chars.first == "-" { negative = true; chars = chars.dropFirst() } else if chars.first == "+" { chars = chars.dropFirst() }
        let parts = chars.split(separator: ".", omittingEmptySubsequences: false)
        guard !chars.isEmpty, parts.count <= 2, let whole = parts.first, !whole.isEmpty,
              whole.allSatisfy({ $0.isASCII && $0.isNumber }), whole.count <= 12 else { throw Problem.notANumber(text) }
        var frac = parts.count == 2 ? parts[1] : ""
        guard frac.allSatisfy({ $0.isASCII && $0.isNumber }), !(parts.count == 2 && frac.isEmpty) else { throw Problem.notANumber(text) }
        guard frac.count <= 2 else { throw Problem.tooManyDecimals(text) }
        while frac.count < 2 { frac += "0" }
        let v = Int64(whole)! * 100 + Int64(frac)!
        hundredths = negative ? -v : v
    }

    /// Parses and checks the range, both ends included.
    public init(_ text: String, in range: ClosedRange<Points>) throws {
        try self.init(text)
        guard range.contains(self) else { throw Problem.outOfRange(text, range.lowerBound, range.upperBound) }
    }

    public static func < (a: Points, b: Points) -> Bool { a.hundredths < b.hundredths }
    public static func + (a: Points, b: Points) -> Points { Points(hundredths: a.hundredths + b.hundredths) }
    public static func - (a: Points, b: Points) -> Points { Points(hundredths: a.hundredths - b.hundredths) }

    /// "87.50"
    public var description: String {
        let sign = hundredths < 0 ? "-" : ""
        let v = abs(hundredths)
        return "\(sign)\(v / 100).\(String(format: "%02lld", v % 100))"
    }

    /// `numerator / denominator` in hundredths, rounded half up (away from
    /// zero at .5), exactly: the rule for interview and total scores (R50, R51).
    public static func divide(_ numerator: Int64, by denominator: Int64) -> Int64 {
        precondition(denominator > 0)
        let q = numerator / denominator, r = numerator % denominator
        if r == 0 { return q }
        return 2 * abs(r) >= denominator ? q + (numerator < 0 ? -1 : 1) : q
    }

    /// The mean of `scores`, to two decimals, half up.
    public static func mean(_ scores: [Points]) -> Points {
        precondition(!scores.isEmpty)
        return Points(hundredths: divide(scores.reduce(0) { $0 + $1.hundredths }, by: Int64(scores.count)))
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        try self.init(try c.decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
