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

/// Named counters for `stats`. Hot paths hold a `Counter` (one atomic add,
/// no lock); the registry lock is taken only to create one or to list them.
public final class Counters: Sendable {
    private let registry = Mutex<[String: Counter]>([:])
    public init() {}

    public func counter(_ name: String) -> Counter {
        registry.withLock { r in
            if let c = r[name] { return c }
            let c = Counter()
            r[name] = c
            return c
        }
    }

    public func add(_ name: String, _ n: Int64 = 1) { counter(name).add(n) }

    public func set(_ name: String, _ v: Int64) { counter(name).set(v) }

    public subscript(_ name: String) -> Int64 { registry.withLock { $0[name]?.value ?? 0 } }

    public func snapshot() -> [String: Int64] { registry.withLock { $0.mapValues(\.value) } }
}

public final class Counter: Sendable {
    private let atomic = Atomic<Int64>(0)
    public func add(_ n: Int64 = 1) { atomic.wrappingAdd(n, ordering: .relaxed) }
    public func set(_ v: Int64) { atomic.store(v, ordering: .relaxed) }
    public var value: Int64 { atomic.load(ordering: .relaxed) }
}

/// Unix milliseconds of the wall clock: the server's clock is the authority
/// for deadlines and event times.
@inline(__always) public func unixMillis(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
}

/// Unix milliseconds now, straight from the kernel's realtime clock.
@inline(__always) public func unixMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
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
