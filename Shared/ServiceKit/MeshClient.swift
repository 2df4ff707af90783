import Bus
import ExamContracts
import Foundation
import Synchronization

/// A tool's view of the mesh (examctl, the proctor view, the demo, tests):
/// one reactor, a client per service, subscriptions to any service's events.
public final class MeshClient: Sendable {
    public let mesh: MeshConfig
    public let reactor: Reactor
    public let caller: String
    public let principal: CallPrincipal
    private let clients = Mutex<[String: RpcClient]>([:])

    public init(mesh: MeshConfig, caller: String, principal: CallPrincipal? = nil) {
        self.mesh = mesh
        self.caller = caller
        self.principal = principal ?? CallPrincipal(id: caller, role: .ops)
        reactor = Reactor(name: caller)
    }

    public convenience init(meshPath: String, caller: String, principal: CallPrincipal? = nil) throws {
        self.init(mesh: try MeshConfig.load(path: meshPath), caller: caller, principal: principal)
    }

    public func client(_ service: String) throws -> RpcClient {
        try clients.withLock { c in
            if let existing = c[service] { return existing }
            let e = try mesh.endpoints(of: service)
            let client = RpcClient(reactor: reactor, endpoint: e.rpc, caller: caller, principal: principal,
                                   security: try mesh.clientSecurity(to: service, as: caller))
            c[service] = client
            return client
        }
    }

    public func call<Req, Resp>(_ service: String, _ method: RPCMethod<Req, Resp>, _ request: Req,
                                timeout: Duration = .seconds(5), as who: CallPrincipal? = nil) async throws -> Resp {
        try await client(service).call(method, request, timeout: timeout, as: who)
    }

    /// Follows `service`'s events whose topics start with `prefixes` (all
    /// when empty), from `position`.
    public func events(_ service: String, prefixes: [String] = [], from position: StreamPosition = .start) throws
        -> (EventSubscriber, AsyncStream<DeliveredEvent>) {
        let e = try mesh.endpoints(of: service)
        return EventSubscriber.stream(reactor: reactor, publisher: service, eventsEndpoint: e.events, rpcEndpoint: e.rpc,
                                      prefixes: prefixes, from: position, caller: caller,
                                      security: try mesh.clientSecurity(to: service, as: caller))
    }

    public func close() { reactor.shutdown() }
}

/// Turns any event or message of protos/ into JSON for people and pipes.
public enum ProtoJSON {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    public static func json<M: ProtoMessage>(_ message: M) -> String {
        (try? encoder.encode(message)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The payload of `event` as JSON, decoded by its declared type.
    public static func payload(_ event: DeliveredEvent) -> String {
        guard let type = allMessageTypes[event.header.payloadType] else { return "{}" }
        return decodeAndRender(type, event.payload)
    }

    static func decodeAndRender<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8]) -> String {
        guard let m = try? ProtoCodec.decode(type, from: bytes) else { return "{\"undecodable\":true}" }
        return json(m)
    }

    /// Encodes `json` as the request type `typeName` (full protobuf name).
    public static func encodeRequest(typeName: String, json: String) throws -> [UInt8] {
        guard let type = allMessageTypes[typeName] else { throw ConfigError("\(typeName) is not a message of protos/") }
        return try encode(type, json)
    }

    static func encode<M: ProtoMessage>(_ type: M.Type, _ json: String) throws -> [UInt8] {
        let m: M
        do { m = try JSONDecoder().decode(type, from: Data(json.utf8)) } catch {
            throw ConfigError("request is not a valid \(M.protoName) in JSON: \(describeJSONError(error))")
        }
        return try ProtoCodec.encode(m)
    }

    public static func render(typeName: String, bytes: [UInt8]) -> String {
        guard let type = allMessageTypes[typeName] else { return "{}" }
        return decodeAndRender(type, bytes)
    }
}
