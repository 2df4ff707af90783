import Foundation
import Synchronization

/// A value that lives on a reactor's thread. Reading it needs the
/// `ReactorLoop`, which exists only on that thread and is not Sendable: the
/// compiler, not a comment, keeps the value on its one owning thread. That is
/// what makes the `@unchecked Sendable` honest.
public final class ReactorBound<T>: @unchecked Sendable {
    private var value: T?
    public init() {}

    func get(_ loop: ReactorLoop) -> T? { value }
    func set(_ loop: ReactorLoop, _ v: T?) { value = v }
}

/// Named counters for `stats`, cheap to bump from any thread.
public final class Counters: Sendable {
    private let values = Mutex<[String: Int64]>([:])
    public init() {}

    public func add(_ name: String, _ n: Int64 = 1) {
        values.withLock { $0[name, default: 0] += n }
    }

    public func set(_ name: String, _ v: Int64) {
        values.withLock { $0[name] = v }
    }

    public subscript(_ name: String) -> Int64 { values.withLock { $0[name] ?? 0 } }

    public func snapshot() -> [String: Int64] { values.withLock { $0 } }
}

/// Unix milliseconds of the wall clock: the server's clock is the authority
/// for deadlines and event times.
@inline(__always) public func unixMillis(_ date: Date = Date()) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

/// A NUL-terminated C buffer as a String.
func string(fromCBuffer buf: [CChar]) -> String {
    String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
