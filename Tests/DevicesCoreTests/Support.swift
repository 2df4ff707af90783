import DevicesCore
import ExamPlan
import Foundation
import Testing

/// Fixed times: the formal entry of the notice, 2022-11-19 11:00 Beijing.
let t0 = BeijingTime.parse("2022-11-19 11:00:00")!
func at(_ s: Double) -> Date { t0.addingTimeInterval(s) }

let exam1 = "2022110001"
let exam2 = "2022110002"

func status(_ role: DeviceRole, battery: Int = 80, volume: Int? = nil, os: DeviceOS = .android,
            client: String = "8.0.30", autoLockOff: Bool = true, foreground: Bool = true) -> DeviceStatus {
    DeviceStatus(cameraOn: true, camera: role == .main ? .front : .rear, microphoneOn: true,
                 speakerVolume: volume ?? (role == .main ? 60 : 0), battery: battery, network: .wifi,
                 foreground: foreground, screenAutoLockOff: autoLockOff, clientVersion: client, os: os, osVersion: "13")
}

extension DevicesState {
    /// Registers a phone with the settings R30 asks for, unless told otherwise.
    @discardableResult
    mutating func reg(_ exam: String, _ role: DeviceRole, _ id: String, account: String? = nil,
                      camera: CameraFacing? = nil, mic: Bool = true, volume: Int? = nil, os: DeviceOS = .android,
                      client: String = "8.0.30", now: Date = t0) throws -> [DevicesEvent] {
        try register(examNumber: exam, role: role, deviceID: id, account: account ?? "wx-\(id)",
                     camera: camera ?? (role == .main ? .front : .rear), microphoneOn: mic,
                     speakerVolume: volume ?? (role == .main ? 60 : 0), os: os, osVersion: "13",
                     clientVersion: client, now: now)
    }

    @discardableResult
    mutating func beat(_ id: String, _ role: DeviceRole, _ s: Double, _ st: DeviceStatus? = nil) throws -> [DevicesEvent] {
        try heartbeat(deviceID: id, status: st ?? status(role), now: at(s))
    }

    /// Both phones beat every second from `from` to `to` inclusive.
    @discardableResult
    mutating func beatBoth(_ exam: String = exam1, main: String = "m1", secondary: String = "s1",
                           from: Int, to: Int) throws -> [DevicesEvent] {
        var out: [DevicesEvent] = []
        for s in from...to {
            out += try beat(main, .main, Double(s))
            out += try beat(secondary, .secondary, Double(s))
        }
        return out
    }
}

/// A candidate with both phones registered (m1 main, s1 secondary) and,
/// when `connected`, both heard from at t0.
func fixture(_ config: DevicesConfig = DevicesConfig(), connected: Bool = true) throws -> DevicesState {
    var s = try DevicesState(config: config)
    _ = try s.applyCandidate(examNumber: exam1, eligible: true)
    _ = try s.applyCandidate(examNumber: exam2, eligible: true)
    try s.reg(exam1, .main, "m1")
    try s.reg(exam1, .secondary, "s1")
    if connected {
        try s.beat("m1", .main, 0)
        try s.beat("s1", .secondary, 0)
    }
    _ = s.takeChanges()
    return s
}

/// Everything that is persisted plus what queries see: equal before and
/// after a refused call.
func snapshot(_ s: DevicesState) throws -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    let counts = try enc.encode(s.fleetCounts())
    var views: [DeviceView] = []
    for id in s.devices.keys.sorted() { views.append(try s.device(id)) }
    return String(decoding: try enc.encode(s), as: UTF8.self) + String(decoding: counts, as: UTF8.self)
        + String(decoding: try enc.encode(views), as: UTF8.self) + "\(String(describing: s.nextDeadline()))"
}

/// Runs `body`, expects it to throw exactly `code` with `message`, and the
/// state to be unchanged.
func expectRefused(_ s: inout DevicesState, _ code: DevicesError.Code, _ message: String,
                   sourceLocation: SourceLocation = #_sourceLocation,
                   _ body: (inout DevicesState) throws -> [DevicesEvent]) throws {
    let before = try snapshot(s)
    do {
        let events = try body(&s)
        Issue.record("expected \(code) '\(message)', got events \(events)", sourceLocation: sourceLocation)
    } catch let e as DevicesError {
        #expect(e.code == code, sourceLocation: sourceLocation)
        #expect(e.message == message, sourceLocation: sourceLocation)
    }
    #expect(try snapshot(s) == before, "a refused call changed the state", sourceLocation: sourceLocation)
}

func topics(_ events: [DevicesEvent]) -> [String] { events.map(\.topic) }

func incidents(_ events: [DevicesEvent]) -> [Ground9Incident] {
    events.compactMap { if case .ground9(let i) = $0 { return i } else { return nil } }
}

func outagesRestored(_ events: [DevicesEvent]) -> [SignalOutage] {
    events.compactMap { if case .signalRestored(_, let o, _) = $0 { return o } else { return nil } }
}

func fitnessFlips(_ events: [DevicesEvent]) -> [Bool] {
    events.compactMap { if case .fitnessChanged(let f, _) = $0 { return f.fit } else { return nil } }
}

func rulesBroken(_ events: [DevicesEvent]) -> [String] {
    events.compactMap { if case .ruleBroken(_, let b, _) = $0 { return b.ruleID } else { return nil } }
}

func rulesCleared(_ events: [DevicesEvent]) -> [String] {
    events.compactMap { if case .ruleCleared(_, let b, _, _) = $0 { return b.ruleID } else { return nil } }
}

extension DevicesState {
    /// Drives candidate 1's phones second by second: each beats at every
    /// whole second from `from` to `to` unless silent then; the shell ticks
    /// at every half second (so a phone last seen at n is lost at n + 10.5).
    mutating func drive(from: Int, to: Int, mainOff: [ClosedRange<Int>] = [], secondaryOff: [ClosedRange<Int>] = [],
                        main: String = "m1", secondary: String = "s1") throws -> [DevicesEvent] {
        var out: [DevicesEvent] = []
        for n in from...to {
            if !mainOff.contains(where: { $0.contains(n) }) { out += try beat(main, .main, Double(n)) }
            if !secondaryOff.contains(where: { $0.contains(n) }) { out += try beat(secondary, .secondary, Double(n)) }
            out += tick(now: at(Double(n) + 0.5))
        }
        return out
    }

    /// Starts candidate 1's formal interview at `start` (seconds after t0).
    mutating func startFormal(_ start: Double, _ exam: String = exam1) throws -> [DevicesEvent] {
        try applyInterview(examNumber: exam, sitting: .formal, started: at(start))
    }
}
