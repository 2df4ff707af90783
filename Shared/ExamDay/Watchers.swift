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

    public init() {}

    /// Starts following `service`'s topics under `prefixes`.
    public static func follow(_ mesh: MeshClient, _ service: String, _ prefixes: [String]) throws -> EventWatcher {
        let w = EventWatcher()
        let stream = try mesh.events(service, prefixes: prefixes).1
        Task { await w.consume(stream) }
        return w
    }

    private func consume(_ stream: AsyncStream<DeliveredEvent>) async {
        for await e in stream { deliver(e) }
    }

    private func deliver(_ e: DeliveredEvent) {
        seen.append(e)
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

    private func expire(_ id: UInt64, _ what: String) {
        guard let i = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: i).continuation.resume(throwing: ExamDayError("timed out waiting for \(what)"))
    }

    public func all(where match: (DeliveredEvent) -> Bool) -> [DeliveredEvent] { seen.filter(match) }
}

public struct ExamDayError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

extension EventWatcher {
    /// A timing interview event of `examNumber` on `topic` in `sitting`.
    public func interview(_ topic: String, _ examNumber: String, _ sitting: SittingKind,
                          within timeout: Duration = .seconds(120)) async throws -> InterviewEvent {
        let e = try await first(within: timeout, "\(topic) of \(examNumber)") { e in
            guard e.topic == topic, let i = try? e.decode(InterviewEvent.self) else { return false }
            return i.examNumber == examNumber && i.sitting == sitting
        }
        return try e.decode(InterviewEvent.self)
    }
}
