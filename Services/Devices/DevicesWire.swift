import Bus
import DevicesCore
import ExamContracts
import ExamPlan
import Foundation
import ServiceKit

/// The core's values as protos/exam/v1/devices.proto has them.
enum DevicesWire {
    static func ms(_ d: Date?) -> Int64 { d?.unixMs ?? 0 }

    static func role(_ r: ExamContracts.DeviceRole) throws -> DevicesCore.DeviceRole {
        switch r {
        case .main: .main
        case .secondary: .secondary
        case .unspecified: throw RPCError.invalidArgument("role: say DEVICE_ROLE_MAIN or DEVICE_ROLE_SECONDARY")
        }
    }

    static func role(_ r: DevicesCore.DeviceRole) -> ExamContracts.DeviceRole { r == .main ? .main : .secondary }

    /// The phone's report as the core takes it; unset enums are refused here
    /// so the core sees only values it knows.
    static func status(_ s: ExamContracts.DeviceStatus) throws -> DevicesCore.DeviceStatus {
        let camera: CameraFacing
        switch s.camera {
        case .front: camera = .front
        case .rear: camera = .rear
        case .unspecified: throw RPCError.invalidArgument("status.camera: say CAMERA_FRONT or CAMERA_REAR")
        }
        let network: NetworkType
        switch s.network {
        case .none: network = .none
        case .wifi: network = .wifi
        case .cellular4g: network = .cellular4g
        case .cellular5g: network = .cellular5g
        case .other, .unspecified: network = .unknown
        }
        let os: DeviceOS
        switch s.os {
        case .ios: os = .ios
        case .android: os = .android
        case .other: os = .other
        case .unspecified: throw RPCError.invalidArgument("status.os: say OPERATING_SYSTEM_IOS, _ANDROID or _OTHER")
        }
        return DevicesCore.DeviceStatus(cameraOn: s.cameraOn, camera: camera, microphoneOn: s.microphoneOn,
                                        speakerVolume: Int(s.speakerVolume), battery: Int(s.batteryPercent), network: network,
                                        foreground: s.inForeground, screenAutoLockOff: s.autoLockOff,
                                        clientVersion: s.clientVersion, os: os, osVersion: s.osVersion)
    }

    static func status(_ s: DevicesCore.DeviceStatus) -> ExamContracts.DeviceStatus {
        let network: NetworkKind
        switch s.network {
        case .none: network = .none
        case .wifi: network = .wifi
        case .cellular4g: network = .cellular4g
        case .cellular5g: network = .cellular5g
        default: network = .other
        }
        let os: OperatingSystem
        switch s.os {
        case .ios: os = .ios
        case .android: os = .android
        default: os = .other
        }
        return ExamContracts.DeviceStatus(cameraOn: s.cameraOn, camera: s.camera == .front ? .front : .rear, microphoneOn: s.microphoneOn,
                                          speakerVolume: Int32(s.speakerVolume), batteryPercent: Int32(s.battery), network: network,
                                          inForeground: s.foreground, autoLockOff: s.screenAutoLockOff, clientVersion: s.clientVersion,
                                          os: os, osVersion: s.osVersion)
    }

    static func rule(_ b: RuleBreach) -> RuleState {
        RuleState(rule: b.ruleID, text: b.title, blocksEntry: b.severity == .blocksEntry)
    }

    static func outage(_ o: SignalOutage) -> Outage {
        Outage(deviceId: o.deviceID, role: role(o.role), lostAtMs: ms(o.lastSeen), detectedAtMs: ms(o.detectedAt),
               restoredAtMs: ms(o.restoredAt), lengthMs: o.seconds.map { Int64(($0 * 1000).rounded()) } ?? 0)
    }

    static func device(_ v: DevicesCore.DeviceView, interruptions: Int) -> ExamContracts.DeviceView {
        ExamContracts.DeviceView(deviceId: v.registration.deviceID, role: role(v.registration.role), account: v.registration.account,
                                 status: v.status.map(status), connected: v.signal == .connected, lastSeenMs: ms(v.lastSeen),
                                 broken: v.brokenRules.map(rule), interruptions: UInt32(interruptions))
    }

    static func candidate(_ c: CandidateDevices) -> CandidateDevicesView {
        CandidateDevicesView(examNumber: c.examNumber,
                             devices: [c.main, c.secondary].compactMap { $0 }.map { device($0, interruptions: 0) },
                             fit: c.fitness.fit, reasons: c.fitness.reasons + c.fitness.warnings.map { "warning: \($0)" })
    }

    static func kind(_ k: DevicesCore.Ground9Kind) -> ExamContracts.Ground9Kind {
        switch k {
        case .bothLost: .bothAtOnce
        case .longOutage: .oneLong
        case .tooManyInterruptions: .repeated
        }
    }

    static func payload(_ e: DevicesEvent) -> any ProtoMessage {
        switch e {
        case .deviceRegistered(let r), .registrationRefreshed(let r):
            return DeviceEvent(examNumber: r.examNumber, deviceId: r.deviceID, role: role(r.role), account: r.account, atMs: ms(r.registeredAt))
        case .deviceReplaced(let r, _):
            return DeviceEvent(examNumber: r.examNumber, deviceId: r.deviceID, role: role(r.role), account: r.account, atMs: ms(r.registeredAt))
        case .deviceConnected(let d, let at):
            return SignalEvent(examNumber: d.examNumber, deviceId: d.deviceID, role: role(d.role), lastSeenMs: ms(at), atMs: ms(at))
        case .ruleBroken(let d, let b, _):
            return RuleEvent(examNumber: d.examNumber, deviceId: d.deviceID, role: role(d.role), rule: rule(b), detail: b.evidence, atMs: ms(b.since))
        case .ruleCleared(let d, let b, let at, _):
            return RuleEvent(examNumber: d.examNumber, deviceId: d.deviceID, role: role(d.role), rule: rule(b), detail: b.evidence, atMs: ms(at))
        case .signalLost(let d, let lastSeen, let detected, _):
            return SignalEvent(examNumber: d.examNumber, deviceId: d.deviceID, role: role(d.role), lastSeenMs: ms(lastSeen), atMs: ms(detected))
        case .signalRestored(let d, let o, _):
            return SignalEvent(examNumber: d.examNumber, deviceId: d.deviceID, role: role(d.role), lastSeenMs: ms(o.lastSeen),
                               atMs: ms(o.restoredAt), outageMs: o.seconds.map { Int64(($0 * 1000).rounded()) } ?? 0)
        case .fitnessChanged(let f, let at):
            return FitnessEvent(examNumber: f.examNumber, fit: f.fit, reasons: f.reasons, atMs: ms(at))
        case .ground9(let i):
            return Ground9Event(examNumber: i.examNumber, kind: kind(i.kind), roles: i.roles.map(role), lostAtMs: ms(i.lostAt),
                                lengthMs: i.lengthSeconds.map { Int64(($0 * 1000).rounded()) } ?? 0,
                                interruptions: UInt32(i.interruptions ?? 0), sitting: .formal, evidence: i.summary, key: i.key,
                                atMs: ms(i.detectedAt))
        }
    }
}
