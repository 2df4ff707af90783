import Foundation
import ExamPlan

/// A phone as staff and the candidate see it.
public struct DeviceView: Codable, Sendable, Equatable {
    public var registration: DeviceRegistration
    public var signal: SignalState
    /// Last heartbeat (in memory: unknown right after a restart until the
    /// phone reports again, then the restart time stands in).
    public var lastSeen: Date?
    /// The latest status reported.
    public var status: DeviceStatus?
    /// Broken rules, by rule id.
    public var brokenRules: [RuleBreach]
    public var openOutage: SignalOutage?
}

/// A candidate's two phones and their fitness.
public struct CandidateDevices: Codable, Sendable, Equatable {
    public var examNumber: String
    public var eligible: Bool
    public var main: DeviceView?
    public var secondary: DeviceView?
    public var fitness: Fitness
    public var inFormalInterview: Bool
}

/// The fleet at a glance, for ops and proctors.
public struct FleetCounts: Codable, Sendable, Equatable {
    public var candidates = 0
    public var eligibleCandidates = 0
    /// Candidates with both roles registered.
    public var candidatesWithBothDevices = 0
    public var fitCandidates = 0
    /// Active (not replaced) phones.
    public var registeredDevices = 0
    public var awaiting = 0
    public var connected = 0
    public var lost = 0
    /// Phones with a blocking rule broken.
    public var blockedDevices = 0
    /// Phones with a warning rule broken (and none blocking).
    public var warnedDevices = 0
    public var formalInterviewsRunning = 0

    public init() {}
}

extension DevicesState {
    /// Whether the candidate's phones are fit to enter (R11, R30-R33): both
    /// roles registered, both connected, no blocking rule broken on either.
    /// Warnings are listed but never block. Eligibility is roster's and
    /// timing's to check, not part of this.
    public func fitness(_ examNumber: String) -> Fitness {
        guard let c = candidates[examNumber] else {
            return Fitness(examNumber: examNumber, fit: false, reasons: ["candidate \(examNumber) is not on the roster"], warnings: [])
        }
        var reasons: [String] = []
        var warnings: [String] = []
        for role in DeviceRole.allCases {
            guard let id = c.device(role), let d = devices[id] else {
                reasons.append("no \(role.rawValue) device registered (R30)")
                continue
            }
            let at = "\(role.rawValue) device \(id)"
            switch signal(of: id) {
            case .awaiting: reasons.append("\(at): no heartbeat yet")
            case .lost: reasons.append("\(at): signal lost since \(d.openOutage.map { Clock.hms($0.lastSeen) } ?? "?") (R33)")
            case .connected: break
            }
            for ruleID in d.broken.keys.sorted() {
                let b = d.broken[ruleID]!
                let line = "\(at): \(b.title) (\(b.ruleID): \(b.evidence); \(b.basis))"
                if b.severity == .blocksEntry { reasons.append(line) } else { warnings.append(line) }
            }
        }
        return Fitness(examNumber: examNumber, fit: reasons.isEmpty, reasons: reasons, warnings: warnings)
    }

    /// One phone, active or replaced.
    public func device(_ deviceID: String) throws -> DeviceView {
        guard let d = devices[deviceID] else { throw DevicesError.notFound("device \(deviceID) is not registered") }
        return view(d)
    }

    func view(_ d: DeviceRecord) -> DeviceView {
        let id = d.registration.deviceID
        var lastSeen: Date?
        var status = d.status
        var signal = d.signal
        if d.active, let i = slotIndex[id] {
            if slots[i].lastSeen.isFinite { lastSeen = Date(timeIntervalSinceReferenceDate: slots[i].lastSeen) }
            status = slots[i].status ?? status
            signal = slots[i].signal
        }
        return DeviceView(registration: d.registration, signal: signal, lastSeen: lastSeen, status: status,
                          brokenRules: d.broken.keys.sorted().map { d.broken[$0]! }, openOutage: d.openOutage)
    }

    /// A candidate's phones with status and rule state, and their fitness.
    public func candidateDevices(_ examNumber: String) throws -> CandidateDevices {
        try Check.examNumber(examNumber)
        guard let c = candidates[examNumber] else { throw DevicesError.notFound("candidate \(examNumber) is not on the roster") }
        func v(_ r: DeviceRole) -> DeviceView? { c.device(r).flatMap { devices[$0] }.map(view) }
        let formal = runningFormal.contains(examNumber)
        return CandidateDevices(examNumber: examNumber, eligible: c.eligible, main: v(.main), secondary: v(.secondary),
                                fitness: fitness(examNumber), inFormalInterview: formal)
    }

    /// A candidate's outages, oldest first: the kept history and any going
    /// on now (`restoredAt` nil).
    public func outages(of examNumber: String) throws -> [SignalOutage] {
        try Check.examNumber(examNumber)
        guard let c = candidates[examNumber] else { throw DevicesError.notFound("candidate \(examNumber) is not on the roster") }
        return (c.outages + openOutages(examNumber)).sorted { ($0.lastSeen, $0.role.rawValue) < ($1.lastSeen, $1.role.rawValue) }
    }

    /// The interviews timing announced for a candidate, with ground 9 reported.
    public func interview(_ examNumber: String, _ sitting: Sitting) -> InterviewWatch? {
        interviews[InterviewWatch.key(examNumber, sitting)]
    }

    /// Counts over the whole fleet (O(devices); a query, not a hot path).
    public func fleetCounts() -> FleetCounts {
        var f = FleetCounts()
        for c in candidates.values {
            f.candidates += 1
            if c.eligible { f.eligibleCandidates += 1 }
            if c.main != nil && c.secondary != nil { f.candidatesWithBothDevices += 1 }
            if c.fit { f.fitCandidates += 1 }
        }
        for (id, i) in slotIndex {
            f.registeredDevices += 1
            switch slots[i].signal {
            case .awaiting: f.awaiting += 1
            case .connected: f.connected += 1
            case .lost: f.lost += 1
            }
            if let d = devices[id], !d.broken.isEmpty {
                if d.broken.values.contains(where: { $0.severity == .blocksEntry }) { f.blockedDevices += 1 } else { f.warnedDevices += 1 }
            }
        }
        f.formalInterviewsRunning = runningFormal.count
        return f
    }
}
