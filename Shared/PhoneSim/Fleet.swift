import ExamContracts
import Foundation

/// Unix milliseconds of this machine's clock.
func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

/// The simulated phones and candidates: what each phone reports, whether it
/// has signal, and everything the report will say. One actor, so the
/// heartbeat loop, the fault players and the event follower never race.
actor Fleet {
    struct Phone {
        let role: PhoneRole
        let deviceID: String
        let account: String
        let examNumber: String
        var os: PhoneOS
        var clientVersion: String
        var status: DeviceStatus
        /// The key RegisterDevice returned; nil until registered.
        var key: String?
        /// Faults cutting its signal right now (R33): it sends nothing.
        var silenced = 0
        var lastSentMs: Int64?
        var report: PhoneReport
    }

    struct Candidate {
        let script: CandidateScript
        var token: String?
        var report: CandidateReport
        var entering: Set<SittingChoice> = []
        var entered: Set<SittingChoice> = []
        var interviewsSeen: Set<SittingChoice> = []
        var formalEnded = false
        var absent = false
    }

    private(set) var phones: [String: Phone] = [:]
    /// Registered phones in registration order: the order of a beat.
    private var beating: [String] = []
    private(set) var candidates: [String: Candidate] = [:]
    private let order: [String]
    var heartbeatsSent = 0
    var heartbeatsRefused = 0
    var batchesSent = 0
    var batchesFailed = 0
    var readyAtMs: Int64?
    private var lingerStarted = false

    init(_ scenario: PhoneScenario) {
        order = scenario.candidates.map(\.examNumber)
        for c in scenario.candidates {
            candidates[c.examNumber] = Candidate(script: c, report: CandidateReport(examNumber: c.examNumber))
            let banned = c.faults.contains { $0.kind == .bannedVersion }
            for role in PhoneRole.allCases {
                let os: PhoneOS = role == .main ? (banned ? .ios : c.mainOS) : .android
                // R32: iOS with WeChat 8.0.20 is what devices refuses.
                let version = role == .main && banned ? "8.0.20" : "8.0.30"
                let id = c.deviceID(role)
                phones[id] = Phone(role: role, deviceID: id, account: c.account(role), examNumber: c.examNumber, os: os,
                                   clientVersion: version,
                                   status: PhoneProfile.status(role: role, os: os, clientVersion: version,
                                                               battery: PhoneProfile.battery(c.examNumber, role)),
                                   report: PhoneReport(role: role, deviceId: id, account: c.account(role), os: os, clientVersion: version))
            }
        }
    }

    // MARK: Look-ups

    func script(_ exam: String) -> CandidateScript? { candidates[exam]?.script }
    func token(_ exam: String) -> String? { candidates[exam]?.token }
    func isOurs(_ exam: String) -> Bool { candidates[exam] != nil }
    func phone(_ id: String) -> Phone? { phones[id] }
    func isRegistered(_ id: String) -> Bool { phones[id]?.key != nil }
    func isSilenced(_ id: String) -> Bool { (phones[id]?.silenced ?? 0) > 0 }
    func hasEntered(_ exam: String, _ sitting: SittingChoice) -> Bool { candidates[exam]?.entered.contains(sitting) ?? false }
    func formalEnded(_ exam: String) -> Bool { candidates[exam]?.formalEnded ?? true }
    var registeredCount: Int { beating.count }

    // MARK: Heartbeats (R31)

    /// The heartbeats to send now: every registered phone with signal (or
    /// only `ids`), each stamped as sent now.
    func beat(only ids: [String]? = nil) -> (requests: [HeartbeatRequest], sentAt: [String: Int64]) {
        let t = nowMs()
        var out: [HeartbeatRequest] = []
        var times: [String: Int64] = [:]
        out.reserveCapacity(ids?.count ?? beating.count)
        for id in ids ?? beating {
            guard var p = phones[id], let key = p.key, p.silenced == 0 else { continue }
            out.append(HeartbeatRequest(deviceId: id, deviceKey: key, status: p.status))
            p.lastSentMs = t
            p.report.heartbeatsSent += 1
            phones[id] = p
            times[id] = t
        }
        heartbeatsSent += out.count
        return (out, times)
    }

    func batchDone(refused: [HeartbeatOutcome]) {
        batchesSent += 1
        heartbeatsRefused += refused.count
        for r in refused {
            phones[r.deviceId]?.report.heartbeatsRefused += 1
            phones[r.deviceId]?.report.lastRefusal = "\(r.code.name): \(r.message)"
        }
    }

    func batchFailed() {
        batchesSent += 1
        batchesFailed += 1
    }

    /// Cuts the phones' signal; returns each one's last heartbeat before.
    func silence(_ ids: [String]) -> [RoleTime] {
        var out: [RoleTime] = []
        for id in ids {
            guard var p = phones[id] else { continue }
            p.silenced += 1
            phones[id] = p
            if let t = p.lastSentMs { out.append(RoleTime(role: p.role, atMs: t)) }
        }
        return out
    }

    func unsilence(_ ids: [String]) {
        for id in ids where (phones[id]?.silenced ?? 0) > 0 { phones[id]!.silenced -= 1 }
    }

    func changeStatus(_ id: String, _ change: (inout DeviceStatus) -> Void) {
        guard var p = phones[id] else { return }
        change(&p.status)
        phones[id] = p
    }

    // MARK: Login and registration

    func loggedIn(_ exam: String, token: String) {
        candidates[exam]?.token = token
        candidates[exam]?.report.loggedInAtMs = nowMs()
    }

    func loginFailed(_ exam: String, _ f: CallFailure) { candidates[exam]?.report.loginFailures.append(f) }

    func registered(_ id: String, key: String) {
        guard var p = phones[id] else { return }
        let first = p.key == nil
        p.key = key
        p.report.registeredAtMs = nowMs()
        // Registration counts as the first heartbeat (devices takes its status).
        p.lastSentMs = p.report.registeredAtMs
        phones[id] = p
        if first { beating.append(id) }
    }

    func registrationFailed(_ id: String, _ f: CallFailure) { phones[id]?.report.registrationFailures.append(f) }

    /// WeChat updated: the new version reports from now on.
    func updateClient(_ id: String, to version: String) {
        guard var p = phones[id] else { return }
        p.clientVersion = version
        p.status.clientVersion = version
        p.report.clientVersion = version
        phones[id] = p
    }

    // MARK: Entry (R11, R18)

    /// Marks the sitting as being entered; false when it already is.
    func beginEntering(_ exam: String, _ sitting: SittingChoice) -> Bool {
        guard var c = candidates[exam], c.script.sittings.contains(sitting), !c.entering.contains(sitting) else { return false }
        c.entering.insert(sitting)
        candidates[exam] = c
        return true
    }

    func entryDone(_ exam: String, _ r: EntryReport) {
        candidates[exam]?.report.entries.append(r)
        if r.atMs != nil && r.channel == .main { candidates[exam]?.entered.insert(r.sitting) }
    }

    // MARK: Interviews (R14-R17)

    /// timing said the interview started; false when already seen (replay).
    func interviewStarted(_ exam: String, _ sitting: SittingChoice, room: String, startedAtMs: Int64, endsAtMs: Int64) -> Bool {
        guard var c = candidates[exam], !c.interviewsSeen.contains(sitting) else { return false }
        c.interviewsSeen.insert(sitting)
        c.report.interviews.append(InterviewReport(sitting: sitting, roomId: room, startedAtMs: startedAtMs, endsAtMs: endsAtMs))
        candidates[exam] = c
        return true
    }

    func updateInterview(_ exam: String, _ sitting: SittingChoice, _ change: (inout InterviewReport) -> Void) {
        guard let i = candidates[exam]?.report.interviews.firstIndex(where: { $0.sitting == sitting }) else { return }
        change(&candidates[exam]!.report.interviews[i])
    }

    func interviewEnded(_ exam: String, _ sitting: SittingChoice, atMs: Int64, reason: String) {
        updateInterview(exam, sitting) { i in
            if i.endedAtMs == nil {
                i.endedAtMs = atMs
                i.endReason = reason
            }
        }
        if sitting == .formal { candidates[exam]?.formalEnded = true }
    }

    func markAbsent(_ exam: String) {
        guard candidates[exam]?.script.sittings.contains(.formal) == true else { return }
        candidates[exam]?.absent = true
        candidates[exam]?.report.errors.append("absent from the formal sitting: no main-room entry by the close (R12)")
    }

    /// Every formal interview this simulator plays has ended (or its
    /// candidate was absent), the first time this is true.
    func startLingerIfDone() -> Bool {
        guard !lingerStarted else { return false }
        let done = candidates.values.allSatisfy { c in !c.script.sittings.contains(.formal) || c.formalEnded || c.absent }
        if done { lingerStarted = true }
        return done
    }

    // MARK: Faults

    func addFault(_ exam: String, _ f: FaultReport) -> Int {
        candidates[exam]?.report.faults.append(f)
        return (candidates[exam]?.report.faults.count ?? 1) - 1
    }

    func updateFault(_ exam: String, _ index: Int, _ change: (inout FaultReport) -> Void) {
        guard let n = candidates[exam]?.report.faults.count, index < n else { return }
        change(&candidates[exam]!.report.faults[index])
    }

    func note(_ exam: String, _ error: String) { candidates[exam]?.report.errors.append(error) }

    // MARK: Recordings (R37)

    /// What a phone proves itself with: the session token and its device key.
    func credentials(_ exam: String, _ role: PhoneRole) -> PhoneCredentials? {
        guard let c = candidates[exam], let token = c.token, let key = phones[c.script.deviceID(role)]?.key else { return nil }
        return PhoneCredentials(token: token, deviceId: c.script.deviceID(role), deviceKey: key)
    }

    /// When timing said the interview ended; nil while it runs.
    func interviewEndedAtMs(_ exam: String, _ sitting: SittingChoice) -> Int64? {
        candidates[exam]?.report.interview(sitting)?.endedAtMs
    }

    func updateRecording(_ exam: String, _ sitting: SittingChoice, _ role: PhoneRole, _ change: (inout RecordingReport) -> Void) {
        guard var c = candidates[exam] else { return }
        let i = c.report.recordings.firstIndex { $0.sitting == sitting && $0.role == role } ?? {
            c.report.recordings.append(RecordingReport(sitting: sitting, role: role))
            return c.report.recordings.count - 1
        }()
        change(&c.report.recordings[i])
        candidates[exam] = c
    }

    // MARK: Report

    func report(startedAtMs: Int64, stoppedAtMs: Int64, reason: String, heartbeatMs: Int) -> PhoneSimReport {
        PhoneSimReport(startedAtMs: startedAtMs, readyAtMs: readyAtMs, stoppedAtMs: stoppedAtMs, stopReason: reason,
                       heartbeatMs: heartbeatMs, heartbeatsSent: heartbeatsSent, heartbeatsRefused: heartbeatsRefused,
                       batchesSent: batchesSent, batchesFailed: batchesFailed,
                       candidates: order.compactMap { exam in
                           guard var c = candidates[exam]?.report, let s = candidates[exam]?.script else { return nil }
                           c.phones = PhoneRole.allCases.compactMap { phones[s.deviceID($0)]?.report }
                           for i in c.faults.indices where c.faults[i].startedAtMs != nil && c.faults[i].endedAtMs == nil && c.faults[i].failure == nil {
                               c.faults[i].failure = "stopped before the fault ended"
                           }
                           return c
                       })
    }
}

/// How a well set-up phone reports itself (R30, R31).
enum PhoneProfile {
    /// Main: front camera; secondary: rear camera, microphone on, speaker
    /// muted. Both foreground, auto-lock off, on Wi-Fi.
    static func status(role: PhoneRole, os: PhoneOS, clientVersion: String, battery: Int) -> DeviceStatus {
        DeviceStatus(cameraOn: true, camera: role == .main ? .front : .rear, microphoneOn: true,
                     speakerVolume: role == .main ? 60 : 0, batteryPercent: Int32(battery), network: .wifi,
                     inForeground: true, autoLockOff: true, clientVersion: clientVersion,
                     os: os == .ios ? .ios : .android, osVersion: os == .ios ? "16.1" : "13")
    }

    /// A charge that stays well above the low-battery warning (R32: below
    /// 20 % warns), stable per phone so reruns report the same.
    static func battery(_ exam: String, _ role: PhoneRole) -> Int {
        let h = exam.utf8.reduce(UInt32(2166136261)) { ($0 ^ UInt32($1)) &* 16777619 }
        return 55 + Int((h >> (role == .main ? 0 : 8)) % 45)
    }
}

/// At most `limit` calls in flight (logins, registrations, entries).
actor Limiter {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ limit: Int) { free = limit }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }

    /// Runs one call under the limit. Only calls, never waits or retries:
    /// a candidate that cannot go on must not hold up the others.
    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await acquire()
        do {
            let r = try await body()
            release()
            return r
        } catch {
            release()
            throw error
        }
    }
}
