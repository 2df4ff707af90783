import Bus
import ExamContracts
import Foundation
import ServiceKit
import Synchronization

/// The candidates' two phones, heartbeating in this process (one batch per
/// beat for all of them) until told to fall silent: for tests and the
/// demo's fault scripts (R31, R33). The phone-sim executable does the same
/// as a process of its own, from a scenario file.
public final class HeartbeatPhones: Sendable {
    let mesh: MeshClient
    private let keys = Mutex<[String: String]>([:])
    private let silentUntil = Mutex<[String: Date]>([:])
    private let statusOverride = Mutex<[String: DeviceStatus]>([:])

    public init(mesh: MeshClient) { self.mesh = mesh }

    public static func status(_ role: DeviceRole, clientVersion: String = "8.0.44", os: OperatingSystem = .android) -> DeviceStatus {
        DeviceStatus(cameraOn: true, camera: role == .main ? .front : .rear, microphoneOn: true, speakerVolume: 0,
                     batteryPercent: 88, network: .wifi, inForeground: true, autoLockOff: true, clientVersion: clientVersion,
                     os: os, osVersion: os == .ios ? "16.1" : "13")
    }

    /// Registers both phones of `c` (R30), each from its own WeChat account.
    public func register(_ c: CandidateClient, mainStatus: DeviceStatus? = nil) async throws {
        for role in [DeviceRole.main, .secondary] {
            let id = c.deviceID(role == .main ? .main : .secondary)
            let status = role == .main ? (mainStatus ?? Self.status(.main)) : Self.status(.secondary)
            let r = try await mesh.call("devices", DevicesAPI.registerDevice,
                                        RegisterRequest(token: c.token, role: role, deviceId: id, account: "wx-\(id)", status: status),
                                        as: CallPrincipal(id: c.examNumber, role: .candidate))
            keys.withLock { $0[id] = r.deviceKey }
            statusOverride.withLock { $0[id] = status }
        }
    }

    /// The phones fall silent for `seconds` (a dropped network, a call).
    public func silence(_ deviceIDs: [String], for seconds: Double) {
        let until = Date().addingTimeInterval(seconds)
        silentUntil.withLock { for d in deviceIDs { $0[d] = until } }
    }

    public func setStatus(_ deviceID: String, _ status: DeviceStatus) {
        statusOverride.withLock { $0[deviceID] = status }
    }

    /// Beats every `every` (the phones' own pace) until cancelled.
    public func run(every: Duration = .milliseconds(500)) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                let now = Date()
                let quiet = silentUntil.withLock { $0.filter { $0.value > now } }
                let statuses = statusOverride.withLock { $0 }
                let beats = keys.withLock { $0 }.filter { quiet[$0.key] == nil }.map { id, key in
                    HeartbeatRequest(deviceId: id, deviceKey: key,
                                     status: statuses[id] ?? Self.status(id.hasSuffix("main") ? .main : .secondary))
                }
                if !beats.isEmpty {
                    _ = try? await mesh.call("devices", DevicesAPI.heartbeatBatch, HeartbeatBatchRequest(heartbeats: beats))
                }
                try? await Task.sleep(for: every)
            }
        }
    }
}
