import Bus
import ExamContracts
import Foundation
import ServiceKit

/// Follows one service's events and lets many tasks wait for the one they
/// need ("the interview of 2022110003 ended"), whether it arrives before or
/// after they ask: every event is kept, waiters look back first.
public actor EventWatcher {
    private var seen: [DeliveredEvent] = []
    private var waiters: [(id: UInt64, match: @Sendable (DeliveredEvent) -> Bool, continuation: CheckedContinuation<DeliveredEvent, Error>)] = []
    private var nextID: UInt64 = 0
    private var task: Task<Void, Never>?
    /// Events by a key (the first one per key) and who waits for which key:
    /// a day of ten thousand interviews looks each one up, not through all
    /// (issue 15: the driver's scans grew with the square of the day).
    private let keyOf: @Sendable (DeliveredEvent) -> String?
    private var keyed: [String: DeliveredEvent] = [:]
    private var keyWaiters: [String: [(id: UInt64, continuation: CheckedContinuation<DeliveredEvent, Error>)]] = [:]

    public init(key: @escaping @Sendable (DeliveredEvent) -> String? = { _ in nil }) { keyOf = key }

    /// Starts following `service`'s topics under `prefixes`; `key` names the
    /// events `first(key:)` finds at once.
    public static func follow(_ mesh: MeshClient, _ service: String, _ prefixes: [String],
                              key: @escaping @Sendable (DeliveredEvent) -> String? = { _ in nil }) throws -> EventWatcher {
        let w = EventWatcher(key: key)
        let stream = try mesh.events(service, prefixes: prefixes).1
        Task { await w.consume(stream) }
        return w
    }

    private func consume(_ stream: AsyncStream<DeliveredEvent>) async {
        for await e in stream { deliver(e) }
    }

    private func deliver(_ e: DeliveredEvent) {
        seen.append(e)
        if let k = keyOf(e), keyed[k] == nil {
            keyed[k] = e
            for w in keyWaiters.removeValue(forKey: k) ?? [] { w.continuation.resume(returning: e) }
        }
        if waiters.isEmpty { return }
        var still: [(id: UInt64, match: @Sendable (DeliveredEvent) -> Bool, continuation: CheckedContinuation<DeliveredEvent, Error>)] = []
        for w in waiters {
            if w.match(e) { w.continuation.resume(returning: e) } else { still.append(w) }
        }
        waiters = still
    }

    /// The first event (already seen or still to come) that `match` accepts,
    /// within `timeout`.
    public func first(within timeout: Duration = .seconds(60), _ what: String = "an event",
                      where match: @escaping @Sendable (DeliveredEvent) -> Bool) async throws -> DeliveredEvent {
        if let e = seen.first(where: match) { return e }
        nextID += 1
        let id = nextID
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.expire(id, what)
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { c in
            waiters.append((id, match, c))
        }
    }

    /// The first event with `key` (already seen or still to come), within `timeout`.
    public func first(key: String, within timeout: Duration = .seconds(60), _ what: String = "an event") async throws -> DeliveredEvent {
        if let e = keyed[key] { return e }
        nextID += 1
        let id = nextID
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.expire(id, what, key: key)
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { c in
            keyWaiters[key, default: []].append((id, c))
        }
    }

    private func expire(_ id: UInt64, _ what: String, key: String? = nil) {
        let error = ExamDayError("timed out waiting for \(what)")
        if let key {
            guard let i = keyWaiters[key]?.firstIndex(where: { $0.id == id }) else { return }
            keyWaiters[key]!.remove(at: i).continuation.resume(throwing: error)
            return
        }
        guard let i = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: i).continuation.resume(throwing: error)
    }

    public func all(where match: (DeliveredEvent) -> Bool) -> [DeliveredEvent] { seen.filter(match) }
}

public struct ExamDayError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

extension EventWatcher {
    /// The key of timing's interview events: topic, candidate, sitting.
    @Sendable public static func interviewKey(_ e: DeliveredEvent) -> String? {
        guard e.topic.hasPrefix("timing.interview."), let i = try? e.decode(InterviewEvent.self) else { return nil }
        return interviewKey(e.topic, i.examNumber, i.sitting)
    }

    static func interviewKey(_ topic: String, _ examNumber: String, _ sitting: SittingKind) -> String {
        "\(topic)|\(examNumber)|\(sitting)"
    }

    /// A timing interview event of `examNumber` on `topic` in `sitting`
    /// (a watcher following timing with `key: EventWatcher.interviewKey`).
    public func interview(_ topic: String, _ examNumber: String, _ sitting: SittingKind,
                          within timeout: Duration = .seconds(120)) async throws -> InterviewEvent {
        let e = try await first(key: Self.interviewKey(topic, examNumber, sitting), within: timeout, "\(topic) of \(examNumber)")
        return try e.decode(InterviewEvent.self)
    }
}
