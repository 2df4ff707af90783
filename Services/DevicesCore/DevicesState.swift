import Foundation
import ExamPlan

/// The devices service's pure core (R30-R35): registrations, each phone's
/// rule state and signal, ground-9 bookkeeping. No I/O, no clock: every
/// input carries `now`. Operations validate first and throw `DevicesError`
/// without changing anything, then apply and return events.
///
/// Persistence: `candidates`, `devices` and `interviews` are dictionaries of
/// documents keyed by id; `takeChanges()` names the ones to write after a
/// batch. Heartbeats that change nothing touch no document: last-seen times
/// and unchanged statuses live in memory only (R31, issue 5: 20,000/s).
///
/// Restart: decode (or `init(config:candidates:devices:interviews:)`), then
/// call `resumed(at:)` before feeding anything else, so the service's own
/// downtime is never taken for outages.
///
/// Time is expected not to go backwards between calls; if it does a little,
/// losses are detected that much later, never wrongly.
public struct DevicesState: Codable, Sendable {
    public internal(set) var config: DevicesConfig
    public internal(set) var candidates: [String: CandidateRecord] = [:]
    public internal(set) var devices: [String: DeviceRecord] = [:]
    public internal(set) var interviews: [String: InterviewWatch] = [:]

    // MARK: In memory only, rebuilt from the documents.

    var rules: [CompiledRule] = []
    var ruleIDs: Set<String> = []
    /// Active device id -> its slot. The heartbeat path is one lookup here.
    var slotIndex: [String: Int] = [:]
    var slots: [Slot] = []
    /// Heartbeats in arrival order: the oldest live one gives the next loss.
    var queue = SeenQueue()
    /// WeChat account -> the active device using it (R30: one candidate, one role).
    var accountOwner: [String: String] = [:]
    /// Candidates whose formal interview runs (ground 9 is watched for them).
    var runningFormal: Set<String> = []
    /// Decoded but not yet resumed: the first call resumes by itself.
    var needsResume = false
    var changes = DevicesChanges()

    /// A device's volatile side: what each heartbeat updates.
    struct Slot: Sendable {
        let deviceID: String
        /// Seconds since the reference date of the last heartbeat (or resume).
        var lastSeen: Double
        /// Mirrors the record's signal, read on every heartbeat.
        var signal: SignalState
        /// The latest status; equal to the new one means nothing to do.
        var status: DeviceStatus?
        /// `lastSeen` is the service's restart, not a heartbeat.
        var seenIsResume: Bool
    }

    public init(config: DevicesConfig = DevicesConfig()) throws {
        self.config = try config.validated()
        rebuild()
    }

    /// Rebuilds the core from its stored documents (as `takeChanges()` named
    /// them). Call `resumed(at:)` next.
    public init(config: DevicesConfig, candidates: [String: CandidateRecord], devices: [String: DeviceRecord],
                interviews: [String: InterviewWatch]) throws {
        self.config = try config.validated()
        self.candidates = candidates
        self.devices = devices
        self.interviews = interviews
        rebuild()
        needsResume = true
    }

    enum CodingKeys: String, CodingKey { case config, candidates, devices, interviews }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let cfg = try c.decode(DevicesConfig.self, forKey: .config)
        guard cfg.problems().isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .config, in: c, debugDescription: cfg.problems().joined(separator: "; "))
        }
        config = cfg
        candidates = try c.decode([String: CandidateRecord].self, forKey: .candidates)
        devices = try c.decode([String: DeviceRecord].self, forKey: .devices)
        interviews = try c.decode([String: InterviewWatch].self, forKey: .interviews)
        rebuild()
        needsResume = true
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(config, forKey: .config)
        try c.encode(candidates, forKey: .candidates)
        try c.encode(devices, forKey: .devices)
        try c.encode(interviews, forKey: .interviews)
    }

    /// The in-memory indexes from the documents. Last-seen times are unknown
    /// until `resumed(at:)`.
    mutating func rebuild() {
        rules = config.rules.map(CompiledRule.init)
        ruleIDs = Set(config.rules.map(\.id))
        slotIndex = [:]
        slots = []
        queue = SeenQueue()
        accountOwner = [:]
        for id in devices.keys.sorted() {
            let d = devices[id]!
            guard d.active else { continue }
            slotIndex[id] = slots.count
            slots.append(Slot(deviceID: id, lastSeen: -.infinity, signal: d.signal, status: d.status, seenIsResume: false))
            accountOwner[d.registration.account] = id
        }
        runningFormal = Set(interviews.values.filter { $0.sitting == .formal && $0.ended == nil }.map(\.examNumber))
    }

    /// The documents changed since the last call; the shell persists them
    /// with the events of the same batch.
    public mutating func takeChanges() -> DevicesChanges {
        defer { changes = DevicesChanges() }
        return changes
    }

    /// Replaces the configuration (rules and thresholds) and re-judges every
    /// device's rules on its latest status: broken/cleared events only where
    /// the outcome changed. Thresholds apply from the next judgement on.
    public mutating func reconfigure(_ new: DevicesConfig, now: Date) throws -> [DevicesEvent] {
        config = try new.validated()
        rules = config.rules.map(CompiledRule.init)
        ruleIDs = Set(config.rules.map(\.id))
        var events: [DevicesEvent] = []
        var touched = Set<String>()
        for id in slotIndex.keys.sorted() {
            let i = slotIndex[id]!
            guard let s = slots[i].status ?? devices[id]?.status else { continue }
            if judgeRules(id, s, now: now, into: &events) { touched.insert(devices[id]!.registration.examNumber) }
        }
        for exam in touched.sorted() { refreshFitness(exam, now: now, into: &events) }
        return events
    }

    // MARK: Roster and timing (followed events)

    /// roster's word on a candidate (R1, R3, R5, R6): eligible once
    /// confirmed; not eligible before (not yet confirmed) or after (declined,
    /// forfeited), with `because` saying which. Unknown candidates cannot
    /// register.
    public mutating func applyCandidate(examNumber: String, eligible: Bool, because: String? = nil) throws -> [DevicesEvent] {
        try Check.examNumber(examNumber)
        let reason = eligible ? nil : because
        if var c = candidates[examNumber] {
            guard c.eligible != eligible || c.ineligibleBecause != reason else { return [] }
            c.eligible = eligible
            c.ineligibleBecause = reason
            candidates[examNumber] = c
        } else {
            var c = CandidateRecord(examNumber: examNumber, eligible: eligible)
            c.ineligibleBecause = reason
            candidates[examNumber] = c
        }
        changes.candidates.insert(examNumber)
        return []
    }

    /// timing's `interview.started` (R14): ground 9 is watched from
    /// `started` while the sitting is the formal one (R34). A replay with
    /// the same time changes nothing.
    public mutating func applyInterview(examNumber: String, sitting: Sitting, started: Date) throws -> [DevicesEvent] {
        try Check.examNumber(examNumber)
        let key = InterviewWatch.key(examNumber, sitting)
        if let w = interviews[key] {
            if w.started == started { return [] }
            throw DevicesError.precondition("interview of \(examNumber) (\(sitting.rawValue)): already started at \(BeijingTime.iso(w.started)), not again at \(BeijingTime.iso(started))")
        }
        interviews[key] = InterviewWatch(examNumber: examNumber, sitting: sitting, started: started)
        changes.interviews.insert(key)
        guard sitting == .formal else { return [] }
        runningFormal.insert(examNumber)
        // Both phones may already be lost, or too many outages may already
        // overlap the start (a replayed start): judge at once.
        return evaluateGround9(examNumber, now: started)
    }

    /// timing's `interview.ended` (R16, R17): the watch closes. Outages
    /// detected after the end do not count: the candidate leaves the rooms
    /// at the end, and both phones falling silent then is no ground 9.
    public mutating func applyInterview(examNumber: String, sitting: Sitting, ended: Date) throws -> [DevicesEvent] {
        try Check.examNumber(examNumber)
        let key = InterviewWatch.key(examNumber, sitting)
        guard var w = interviews[key] else {
            throw DevicesError.precondition("interview of \(examNumber) (\(sitting.rawValue)): cannot end, it has not started")
        }
        if let e = w.ended {
            if e == ended { return [] }
            throw DevicesError.precondition("interview of \(examNumber) (\(sitting.rawValue)): already ended at \(BeijingTime.iso(e))")
        }
        guard ended >= w.started else {
            throw DevicesError.invalid("ended: \(BeijingTime.iso(ended)) is before the interview of \(examNumber) started at \(BeijingTime.iso(w.started))")
        }
        w.ended = ended
        interviews[key] = w
        changes.interviews.insert(key)
        guard sitting == .formal else { return [] }
        runningFormal.remove(examNumber)
        // A long outage still going on at the end is judged up to the end,
        // whether or not the shell ticked at its deadline.
        return evaluateGround9(examNumber, now: ended)
    }

    // MARK: Registration (R30)

    /// Registers a phone in a role (R30). Refused: an unknown candidate
    /// (notFound), one no longer eligible (permissionDenied), a phone already
    /// another candidate's or in the other role, a third phone while both
    /// roles have live ones (alreadyExists), both roles on one account or a
    /// broken blocking rule the registration can be judged on: the main
    /// phone's front camera, the secondary's rear camera, microphone on and
    /// muted speaker, iOS WeChat 8.0.20 (failedPrecondition).
    ///
    /// The same phone in the same role again is idempotent (other details,
    /// e.g. after a WeChat update, refresh the registration). Replacing a
    /// broken phone: a new phone may take a role whose phone has no live
    /// signal (lost, or never heard from); the old phone is retired and an
    /// open outage carries over to the new one, which restores it with its
    /// first heartbeat, since the outage belongs to the camera position
    /// (ground 9 counts it in full). A role whose phone is connected cannot
    /// be taken over: that is the "third device".
    public mutating func register(examNumber: String, role: DeviceRole, deviceID: String, account: String,
                                  camera: CameraFacing, microphoneOn: Bool, speakerVolume: Int, os: DeviceOS,
                                  osVersion: String, clientVersion: String, now: Date) throws -> [DevicesEvent] {
        try Check.examNumber(examNumber)
        try Check.deviceID(deviceID)
        try Check.account(account)
        try Check.percent(speakerVolume, "speaker_volume", "a speaker volume")
        try Check.version(osVersion, "os_version")
        try Check.version(clientVersion, "client_version")
        guard var cand = candidates[examNumber] else {
            throw DevicesError.notFound("candidate \(examNumber) is not on the roster; devices can be registered only for a listed candidate")
        }
        guard cand.eligible else {
            throw DevicesError.denied("candidate \(examNumber) \(cand.ineligibleBecause ?? "is not confirmed for the interview (R3, R6)"): no device can be registered")
        }
        let reg = DeviceRegistration(deviceID: deviceID, examNumber: examNumber, role: role, account: account, camera: camera,
                                     microphoneOn: microphoneOn, speakerVolume: speakerVolume, os: os, osVersion: osVersion,
                                     clientVersion: clientVersion, registeredAt: now)
        let existing = devices[deviceID]
        if let ex = existing {
            if ex.registration.examNumber != examNumber {
                // Whose phone it is stays unsaid (issue 22): the caller may be
                // anyone with a session, and the owner's exam number is theirs.
                throw DevicesError.exists("设备 \(deviceID) 已由另一名考生登记：一部手机只能供一名考生使用（R30），请换一部手机")
            }
            if ex.active && ex.registration.role != role {
                throw DevicesError.exists("device \(deviceID) is already candidate \(examNumber)'s \(ex.registration.role.rawValue) device; the \(role.rawValue) device must be another phone (R30)")
            }
        }
        let holder = cand.device(role)
        if let h = holder, h != deviceID, signal(of: h) == .connected {
            throw DevicesError.exists(thirdDeviceMessage(cand, newDevice: deviceID, role: role))
        }
        if let other = cand.device(role.other), let o = devices[other], o.registration.account == account {
            throw DevicesError.precondition("account \(account): candidate \(examNumber)'s \(role.other.rawValue) device \(other) already uses it; the \(role.rawValue) device must log in with a different WeChat account (R30)")
        }
        if let owner = accountOwner[account], owner != deviceID, owner != holder, devices[owner] != nil {
            // Neither the other phone nor its candidate is named (issue 22).
            throw DevicesError.exists("微信账号 \(account) 已由另一名考生的手机使用：一个账号只能供一名考生的一部手机使用（R30），请换一个微信账号登录")
        }
        let source = FieldSource(registration: reg)
        for r in rules where r.rule.severity == .blocksEntry && r.applies(to: role) && r.broken(source) == true {
            throw DevicesError.precondition("\(role.rawValue) device \(deviceID) of \(examNumber): rule \(r.rule.id) (\(r.rule.title); \(r.rule.basis)) is broken: \(r.evidence(source))")
        }

        // Apply.
        if needsResume { resumed(at: now) }
        var events: [DevicesEvent] = []
        if let ex = existing, ex.active {
            // Same phone, same role: idempotent, or a refresh of its details.
            if ex.registration.sameDetails(as: reg) { return [] }
            var refreshed = reg
            refreshed.registeredAt = ex.registration.registeredAt
            if accountOwner[ex.registration.account] == deviceID { accountOwner[ex.registration.account] = nil }
            accountOwner[account] = deviceID
            devices[deviceID]!.registration = refreshed
            changes.devices.insert(deviceID)
            return [.registrationRefreshed(registration: refreshed)]
        }
        var carried: SignalOutage?
        if let h = holder {
            // Replacement of a phone without live signal.
            var old = devices[h]!
            carried = old.openOutage
            old.openOutage = nil
            old.replacedBy = deviceID
            old.replacedAt = now
            devices[h] = old
            changes.devices.insert(h)
            if let i = slotIndex.removeValue(forKey: h) { slots[i].signal = .awaiting }
            if accountOwner[old.registration.account] == h { accountOwner[old.registration.account] = nil }
        }
        var record = DeviceRecord(registration: reg, signal: carried == nil ? .awaiting : .lost, openOutage: carried)
        record.status = nil
        devices[deviceID] = record
        changes.devices.insert(deviceID)
        slotIndex[deviceID] = slots.count
        slots.append(Slot(deviceID: deviceID, lastSeen: -.infinity, signal: record.signal, status: nil, seenIsResume: false))
        accountOwner[account] = deviceID
        cand.setDevice(role, deviceID)
        candidates[examNumber] = cand
        changes.candidates.insert(examNumber)
        if let h = holder {
            events.append(.deviceReplaced(registration: reg, replacedDeviceID: h))
        } else {
            events.append(.deviceRegistered(registration: reg))
        }
        refreshFitness(examNumber, now: now, into: &events)
        return events
    }

    /// Registration as the client sends it: the settings come from the
    /// phone's current status, which then counts as its first heartbeat
    /// (the phone is evidently alive). The status is validated first, so a
    /// refusal changes nothing; the events are the registration's followed
    /// by the heartbeat's.
    public mutating func register(examNumber: String, role: DeviceRole, deviceID: String, account: String,
                                  status: DeviceStatus, now: Date) throws -> [DevicesEvent] {
        try Check.deviceID(deviceID)
        try Check.status(status, device: deviceID, context: "registration of")
        var events = try register(examNumber: examNumber, role: role, deviceID: deviceID, account: account,
                                  camera: status.camera, microphoneOn: status.microphoneOn,
                                  speakerVolume: status.speakerVolume, os: status.os, osVersion: status.osVersion,
                                  clientVersion: status.clientVersion, now: now)
        events += try heartbeat(deviceID: deviceID, status: status, now: now)
        return events
    }

    func signal(of deviceID: String) -> SignalState {
        if let i = slotIndex[deviceID] { return slots[i].signal }
        return devices[deviceID]?.signal ?? .awaiting
    }

    func thirdDeviceMessage(_ c: CandidateRecord, newDevice: String, role: DeviceRole) -> String {
        func held(_ r: DeviceRole) -> String {
            guard let id = c.device(r) else { return "no \(r.rawValue) device" }
            return "\(r.rawValue) \(id) (\(signal(of: id).rawValue))"
        }
        if c.main != nil && c.secondary != nil {
            return "candidate \(c.examNumber) already has two devices, \(held(.main)) and \(held(.secondary)); a third device (\(newDevice)) is refused (R30). A phone can take a role only while its phone there has no live signal"
        }
        return "candidate \(c.examNumber)'s \(role.rawValue) role is held by \(held(role)); device \(newDevice) is refused (R30): a phone can take a role only while its phone there has no live signal (the \(role.other.rawValue) role is free)"
    }

    // MARK: Heartbeats (R31, R33, R35)

    /// One heartbeat (R31). The common case (same status, signal on time)
    /// is a lookup, a comparison and an append: no events, no document
    /// changed. A changed status is validated (impossible values are
    /// invalidArgument naming the field) and judged against the rules (R32);
    /// a heartbeat after a loss restores the signal (R33, R35: a call that
    /// interrupted the video is just this). A heartbeat that arrives more
    /// than the loss timeout after the previous one, before any tick noticed,
    /// reports the loss and its restore together, so the outcome never
    /// depends on when the shell ticks. Phones of a candidate no longer
    /// eligible still report (staff may still watch them).
    public mutating func heartbeat(deviceID: String, status: DeviceStatus, now: Date) throws -> [DevicesEvent] {
        guard let i = slotIndex[deviceID] else { throw unknownDevice(deviceID) }
        let t = now.timeIntervalSinceReferenceDate
        if slots[i].status == status {
            // Already validated when it was first seen.
            if slots[i].signal == .connected && !(t > slots[i].lastSeen + config.lossTimeoutSeconds) && !needsResume {
                if t > slots[i].lastSeen {
                    slots[i].lastSeen = t
                    slots[i].seenIsResume = false
                    queue.push(i, t)
                    dropStale(2)
                }
                return []
            }
        } else {
            try Check.status(status, device: deviceID)
        }
        if needsResume { resumed(at: now) }
        return changedHeartbeat(i, deviceID, status, now: now, t: t)
    }

    func unknownDevice(_ id: String) -> DevicesError {
        if let d = devices[id], let by = d.replacedBy {
            return DevicesError.precondition("device \(id) was replaced by \(by) as candidate \(d.registration.examNumber)'s \(d.registration.role.rawValue) device at \(BeijingTime.iso(d.replacedAt ?? d.registration.registeredAt)); it no longer reports")
        }
        return DevicesError.notFound("device \(id) is not registered; register it (main or secondary) first")
    }

    /// The rare heartbeat: the signal or the status changes.
    mutating func changedHeartbeat(_ i: Int, _ id: String, _ status: DeviceStatus, now: Date, t: Double) -> [DevicesEvent] {
        var events: [DevicesEvent] = []
        let exam = devices[id]!.registration.examNumber
        var fitnessMayChange = false
        if slots[i].signal == .connected && t > slots[i].lastSeen + config.lossTimeoutSeconds {
            // Late beyond the timeout and no tick noticed: it was lost.
            declareLost(i, now: now, into: &events)
        }
        switch slots[i].signal {
        case .awaiting:
            slots[i].signal = .connected
            devices[id]!.signal = .connected
            changes.devices.insert(id)
            events.append(.deviceConnected(device: devices[id]!.ref, at: now))
            fitnessMayChange = true
        case .lost:
            restore(i, id, now: now, into: &events)
            fitnessMayChange = true
        case .connected:
            break
        }
        if t > slots[i].lastSeen || slots[i].seenIsResume {
            slots[i].lastSeen = max(t, slots[i].lastSeen)
            slots[i].seenIsResume = false
            queue.push(i, slots[i].lastSeen)
            dropStale(2)
        }
        if slots[i].status != status {
            slots[i].status = status
            devices[id]!.status = status
            if judgeRules(id, status, now: now, into: &events) { fitnessMayChange = true }
        }
        if fitnessMayChange { refreshFitness(exam, now: now, into: &events) }
        return events
    }

    /// Ends the open outage of slot `i`'s role with this heartbeat (R33).
    mutating func restore(_ i: Int, _ id: String, now: Date, into events: inout [DevicesEvent]) {
        var rec = devices[id]!
        let exam = rec.registration.examNumber
        var outage = rec.openOutage ?? SignalOutage(examNumber: exam, role: rec.registration.role, deviceID: id,
                                                   lastSeen: now, detectedAt: now)
        outage.restoredAt = now
        outage.restoredBy = id
        rec.openOutage = nil
        rec.signal = .connected
        devices[id] = rec
        slots[i].signal = .connected
        changes.devices.insert(id)
        appendHistory(outage)
        events.append(.signalRestored(device: rec.ref, outage: outage, inFormalInterview: inFormalInterview(exam, at: now)))
        // A restore can close a long outage no tick saw grow past the limit.
        events += evaluateGround9(exam, now: now)
    }

    /// Closed outages kept per candidate, at most `outageHistoryLimit` per role.
    mutating func appendHistory(_ o: SignalOutage) {
        guard var c = candidates[o.examNumber] else { return }
        c.outages.append(o)
        if c.outages.lazy.filter({ $0.role == o.role }).count > config.outageHistoryLimit,
           let first = c.outages.firstIndex(where: { $0.role == o.role }) {
            c.outages.remove(at: first)
        }
        candidates[o.examNumber] = c
        changes.candidates.insert(o.examNumber)
    }

    /// Slot `i` has been silent past the timeout: lost from its last
    /// heartbeat, detected now (R33).
    mutating func declareLost(_ i: Int, now: Date, into events: inout [DevicesEvent]) {
        let id = slots[i].deviceID
        let seen = Date(timeIntervalSinceReferenceDate: slots[i].lastSeen)
        var rec = devices[id]!
        let exam = rec.registration.examNumber
        rec.signal = .lost
        rec.openOutage = SignalOutage(examNumber: exam, role: rec.registration.role, deviceID: id, lastSeen: seen,
                                      detectedAt: now, serviceResumedAt: slots[i].seenIsResume ? seen : nil)
        devices[id] = rec
        slots[i].signal = .lost
        changes.devices.insert(id)
        events.append(.signalLost(device: rec.ref, lastSeen: seen, detectedAt: now, inFormalInterview: inFormalInterview(exam, at: now)))
        events += evaluateGround9(exam, now: now)
    }

    /// Pops heartbeats superseded by a later one of the same phone (or of a
    /// phone no longer connected) from the queue's front: at most `n`, so a
    /// heartbeat stays O(1) and the queue stays about one entry per phone.
    mutating func dropStale(_ n: Int) {
        var k = 0
        while k < n, let e = queue.front {
            let j = Int(e.slot)
            guard slots[j].signal != .connected || slots[j].lastSeen != e.seen else { return }
            queue.pop()
            k += 1
        }
    }

    // MARK: Rules (R32)

    /// Judges every rule of the device's role on `status`; an event for each
    /// rule that starts or stops being broken, none for the others. Returns
    /// whether a blocking rule changed (fitness may change).
    mutating func judgeRules(_ id: String, _ status: DeviceStatus, now: Date, into events: inout [DevicesEvent]) -> Bool {
        let rec = devices[id]!
        let role = rec.registration.role
        let source = FieldSource(status: status)
        var broken = rec.broken
        var blockingChanged = false
        let formal = inFormalInterview(rec.registration.examNumber, at: now)
        for r in rules where r.applies(to: role) {
            let isBroken = r.broken(source) ?? false
            if isBroken, broken[r.rule.id] == nil {
                let b = RuleBreach(ruleID: r.rule.id, title: r.rule.title, severity: r.rule.severity,
                                   evidence: r.evidence(source), basis: r.rule.basis, since: now)
                broken[r.rule.id] = b
                events.append(.ruleBroken(device: rec.ref, breach: b, inFormalInterview: formal))
                if b.severity == .blocksEntry { blockingChanged = true }
            } else if !isBroken, let b = broken.removeValue(forKey: r.rule.id) {
                events.append(.ruleCleared(device: rec.ref, breach: b, clearedAt: now, inFormalInterview: formal))
                if b.severity == .blocksEntry { blockingChanged = true }
            }
        }
        // Rules dropped from the configuration (or no longer for this role) clear.
        for ruleID in broken.keys.sorted() where !ruleIDs.contains(ruleID) || !rules.contains(where: { $0.rule.id == ruleID && $0.applies(to: role) }) {
            let b = broken.removeValue(forKey: ruleID)!
            events.append(.ruleCleared(device: rec.ref, breach: b, clearedAt: now, inFormalInterview: formal))
            if b.severity == .blocksEntry { blockingChanged = true }
        }
        if broken != rec.broken {
            devices[id]!.broken = broken
            changes.devices.insert(id)
        }
        return blockingChanged
    }

    /// Recomputes the candidate's fitness; an event when `fit` flips.
    mutating func refreshFitness(_ exam: String, now: Date, into events: inout [DevicesEvent]) {
        guard let c = candidates[exam] else { return }
        let f = fitness(exam)
        guard f.fit != c.fit else { return }
        candidates[exam]!.fit = f.fit
        changes.candidates.insert(exam)
        events.append(.fitnessChanged(fitness: f, at: now))
    }

    // MARK: Timers (R33, R34)

    /// When `tick` next has something to do: the oldest heartbeat's timeout,
    /// or a running formal interview's outage growing long. Strictly after
    /// the threshold ("more than"), so ticking exactly then fires. Ticking
    /// earlier is harmless (it may only tidy up); nil: nothing pending.
    public func nextDeadline() -> Date? {
        var best = Double.infinity
        if let e = queue.front { best = e.seen + config.lossTimeoutSeconds }
        for exam in runningFormal {
            if let d = longDeadline(exam) { best = min(best, d) }
        }
        return best.isFinite ? Date(timeIntervalSinceReferenceDate: best.nextUp) : nil
    }

    /// Fires what is due at `now`, each thing once: phones silent for more
    /// than the loss timeout are lost (R33); outages in a running formal
    /// interview that grew past the long-outage threshold are ground 9 (R34).
    public mutating func tick(now: Date) -> [DevicesEvent] {
        if needsResume { resumed(at: now) }
        let t = now.timeIntervalSinceReferenceDate
        let timeout = config.lossTimeoutSeconds
        var events: [DevicesEvent] = []
        var lostCandidates: [String] = []
        while let e = queue.front {
            let i = Int(e.slot)
            if slots[i].signal != .connected || slots[i].lastSeen != e.seen {
                queue.pop()  // superseded
                continue
            }
            guard t > e.seen + timeout else { break }
            queue.pop()
            declareLost(i, now: now, into: &events)
            lostCandidates.append(devices[slots[i].deviceID]!.registration.examNumber)
        }
        for exam in lostCandidates { refreshFitness(exam, now: now, into: &events) }
        for exam in runningFormal.sorted() {
            if let d = longDeadline(exam), t > d { events += evaluateGround9(exam, now: now) }
        }
        return events
    }

    /// A restarted service must not invent outages from its own downtime:
    /// every connected phone gets a fresh grace period (its last-seen
    /// becomes `now`), so it is lost only if it stays silent for the timeout
    /// after the restart. Phones already lost stay lost (the loss was real
    /// and reported); their outage remembers the restart, and ground 9 (b)
    /// counts its length only from `now`. Phones never heard from stay so.
    /// The shell calls this once after restoring the state and before
    /// anything else (the first call does it by itself if it was forgotten).
    public mutating func resumed(at now: Date) {
        let t = now.timeIntervalSinceReferenceDate
        queue = SeenQueue()
        for id in slotIndex.keys.sorted() {
            let i = slotIndex[id]!
            switch slots[i].signal {
            case .connected:
                slots[i].lastSeen = t
                slots[i].seenIsResume = true
                queue.push(i, t)
            case .lost:
                if devices[id]?.openOutage != nil {
                    devices[id]!.openOutage!.serviceResumedAt = now
                    changes.devices.insert(id)
                }
            case .awaiting:
                break
            }
        }
        needsResume = false
    }
}

/// Heartbeat times in arrival order, consumed from the front. Entries of
/// phones that sent a newer heartbeat are skipped lazily.
struct SeenQueue: Sendable {
    struct Entry: Sendable {
        var slot: Int32
        var seen: Double
    }

    var entries: [Entry] = []
    var head = 0

    var front: Entry? { head < entries.count ? entries[head] : nil }
    var count: Int { entries.count - head }

    mutating func push(_ slot: Int, _ seen: Double) {
        entries.append(Entry(slot: Int32(truncatingIfNeeded: slot), seen: seen))
    }

    mutating func pop() {
        head += 1
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4096 && head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}
