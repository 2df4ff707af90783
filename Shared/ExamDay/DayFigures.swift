import Bus
import ExamContracts
import ExamPlan
import Foundation
import ServiceKit

/// Every event of the followed services, from the start of their streams,
/// as one subscriber got them (issue 15): how many per stream and topic,
/// which sequence numbers never arrived (lost after replay) or arrived
/// twice, and timing's phase events against their due times.
public actor StreamCensus {
    public struct Lateness: Sendable {
        /// Due time to publish (the event's server time), ms, of every
        /// automatic transition (reading time up, time up).
        public var publishMs: [Int64] = []
        /// The worst gap between an interview's deadlines and the plan's
        /// durations, and between a transition's recorded time and its due
        /// time: what a candidate's countdown would be off by (R14, R15).
        public var worstCountdownErrorMs: Int64 = 0
        public var interviews = 0
    }

    private var seqs: [String: Set<UInt64>] = [:]
    private var duplicates: [String: Int] = [:]
    private var topics: [String: Int] = [:]
    private var lateness = Lateness()
    private let interview: InterviewDurations
    private var tasks: [Task<Void, Never>] = []

    init(interview: InterviewDurations) { self.interview = interview }

    /// Starts following `services` from the start of their streams.
    public static func follow(_ mesh: MeshClient, _ services: [String], interview: InterviewDurations) throws -> StreamCensus {
        let census = StreamCensus(interview: interview)
        for s in services {
            let stream = try mesh.events(s).1
            let t = Task { for await e in stream { await census.take(s, e) } }
            Task { await census.keep(t) }
        }
        return census
    }

    private func keep(_ t: Task<Void, Never>) { tasks.append(t) }

    public func stop() { for t in tasks { t.cancel() } }

    private func take(_ service: String, _ e: DeliveredEvent) {
        if !seqs[service, default: []].insert(e.seq).inserted { duplicates[service, default: 0] += 1; return }
        topics[e.topic, default: 0] += 1
        guard e.topic.hasPrefix("timing.interview."), let i = try? e.decode(InterviewEvent.self) else { return }
        let reading = Int64(interview.readingSeconds) * 1000, total = Int64(interview.totalSeconds) * 1000
        func worst(_ ms: Int64) { lateness.worstCountdownErrorMs = max(lateness.worstCountdownErrorMs, abs(ms)) }
        switch e.topic {
        case "timing.interview.started":
            lateness.interviews += 1
            worst(i.readingEndsAtMs - i.startedAtMs - reading)
            // With "staff" turns the answering time starts when staff say so (R15).
            if interview.answeringTurn == .automatic { worst(i.endsAtMs - i.startedAtMs - total) }
        case "timing.interview.reading_time_up", "timing.interview.ended":
            guard i.dueMs != 0, i.reason != "ended_early" else { return }
            worst(i.atMs - i.dueMs)
            lateness.publishMs.append(e.header.serverTimeMs - i.dueMs)
        default: break
        }
    }

    /// Events per stream.
    public var counts: [String: Int] { seqs.mapValues(\.count) }
    public var topicCounts: [String: Int] { topics }
    public var timing: Lateness { lateness }
    public var duplicateCount: Int { duplicates.values.reduce(0, +) }

    /// Sequence numbers in 1...head that never arrived, per stream.
    public func missing(_ heads: [String: UInt64]) -> [String: [UInt64]] {
        var out: [String: [UInt64]] = [:]
        for (s, head) in heads where head > 0 {
            let got = seqs[s] ?? []
            let gone = (1...head).filter { !got.contains($0) }
            if !gone.isEmpty { out[s] = gone }
        }
        return out
    }

    /// Waits (bounded) until every stream has reached its head.
    public func caughtUp(_ heads: [String: UInt64], within timeout: Duration) async -> Bool {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if heads.allSatisfy({ (seqs[$0.key]?.count ?? 0) >= Int($0.value) }) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Each service's head sequence number, now.
    public static func heads(_ mesh: MeshClient, _ services: [String]) async throws -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for s in services { out[s] = try await mesh.call(s, NodeAPI.info, InfoRequest(), timeout: .seconds(10)).headSeq }
        return out
    }
}

/// What a process used, from /proc: CPU seconds (user + system) and its
/// peak resident memory.
public struct ProcessUsage: Sendable {
    public var cpuSeconds: Double
    public var peakRSSBytes: Int64

    public static func of(pid: Int32) -> ProcessUsage? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command's closing parenthesis: state is field 3; utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let hwm = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            .flatMap { Int64($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
        return ProcessUsage(cpuSeconds: (user + system) / ticks, peakRSSBytes: hwm * 1024)
    }
}

/// p50 / p99 / max of a list of milliseconds, for people.
public func percentiles(_ xs: [Int64]) -> String {
    guard !xs.isEmpty else { return "none" }
    let s = xs.sorted()
    func at(_ q: Double) -> Int64 { s[min(s.count - 1, Int((Double(s.count) * q).rounded(.up)) - 1)] }
    return "p50 \(at(0.5)) ms, p99 \(at(0.99)) ms, max \(s.last!) ms (\(s.count))"
}

/// A size for people.
public func bytesText(_ n: Int64) -> String {
    n >= 1 << 30 ? String(format: "%.2f GiB", Double(n) / 1_073_741_824)
        : n >= 1 << 20 ? String(format: "%.1f MiB", Double(n) / 1_048_576) : String(format: "%.1f KiB", Double(n) / 1024)
}
