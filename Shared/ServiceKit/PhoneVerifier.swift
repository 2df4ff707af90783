import Bus
import ExamContracts
import Foundation
import Synchronization

/// A phone proven: its candidate (roster's session token) and which phone it
/// is (devices' device id + key), the same candidate for both (R30).
public struct VerifiedPhone: Sendable, Equatable {
    public var examNumber: String
    public var role: DeviceRole
    public var deviceID: String
}

/// Proves a phone's credentials with roster and devices, for the services a
/// phone calls through the gateway (recordings, media). Proven phones are
/// believed for a few seconds (a chunk a second then costs no round trip).
public final class PhoneVerifier: Sendable {
    private let entries = Mutex<[String: (phone: VerifiedPhone, until: Date)]>([:])
    private let client: @Sendable (String) throws -> RpcClient
    public let seconds: Double

    public init(seconds: Double = 5, client: @escaping @Sendable (String) throws -> RpcClient) {
        self.seconds = seconds
        self.client = client
    }

    static func key(_ c: PhoneCredentials) -> String { c.token + "\n" + c.deviceId + "\n" + c.deviceKey }

    public func verify(_ credentials: PhoneCredentials?, now: Date = Date()) async throws -> VerifiedPhone {
        guard let c = credentials else { throw RPCError.unauthenticated("phone is required: the session token, device id and device key") }
        guard !c.token.isEmpty else { throw RPCError.unauthenticated("phone.token is required: log in with roster first") }
        guard !c.deviceId.isEmpty, !c.deviceKey.isEmpty else {
            throw RPCError.unauthenticated("phone.device_id and phone.device_key are required: register the phone with devices first")
        }
        if let hit = entries.withLock({ e -> VerifiedPhone? in
            guard let hit = e[Self.key(c)], hit.until > now else { return nil }
            return hit.phone
        }) { return hit }
        let examNumber: String
        do {
            examNumber = try await client("roster").call(RosterAPI.authenticate, TokenRequest(token: c.token), timeout: .seconds(3)).examNumber
        } catch let e as RPCError where e.code == .unauthenticated || e.code == .invalidArgument || e.code == .notFound {
            throw RPCError.unauthenticated(e.message)
        } catch {
            throw RPCError.unavailable("cannot check the token with roster: \(error)")
        }
        let device: VerifiedDevice
        do {
            device = try await client("devices").call(DevicesAPI.verifyDevice,
                                                       VerifyDeviceRequest(deviceId: c.deviceId, deviceKey: c.deviceKey), timeout: .seconds(3))
        } catch let e as RPCError where e.code == .unauthenticated || e.code == .invalidArgument {
            throw RPCError.unauthenticated(e.message)
        } catch let e as RPCError where e.code == .notFound {
            throw RPCError.failedPrecondition("device \(c.deviceId) is not registered: register the phone with devices first (\(e.message))")
        } catch let e as RPCError where e.code == .permissionDenied {
            throw RPCError.permissionDenied(e.message)
        } catch {
            throw RPCError.unavailable("cannot check the device with devices: \(error)")
        }
        guard device.examNumber == examNumber else {
            throw RPCError.permissionDenied("device \(c.deviceId) is not a phone of the candidate this token belongs to")
        }
        let phone = VerifiedPhone(examNumber: examNumber, role: device.role, deviceID: c.deviceId)
        entries.withLock { e in
            if e.count > 10_000 { e = e.filter { $0.value.until > now } }
            e[Self.key(c)] = (phone, now.addingTimeInterval(seconds))
        }
        return phone
    }
}
