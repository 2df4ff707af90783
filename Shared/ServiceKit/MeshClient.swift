import Bus
import ExamContracts
import ExamPlan
import Foundation
import Synchronization

/// A tool's view of the mesh (examctl, the proctor view, the demo, tests):
/// one reactor, a client per service, subscriptions to any service's events.
public final class MeshClient: Sendable {
    public let mesh: MeshConfig
    public let reactor: Reactor
    public let caller: String
    /// The mesh member whose CurveZMQ key the tool connects with (issue 16).
    public let member: String
    public let principal: CallPrincipal
    private let clients = Mutex<[String: RpcClient]>([:])

    /// `member`: whose key to use (default: `caller`), one of the mesh's members.
    public init(mesh: MeshConfig, caller: String, member: String? = nil, principal: CallPrincipal? = nil) {
        self.mesh = mesh
        self.caller = caller
        self.member = member ?? caller
        self.principal = principal ?? CallPrincipal(id: caller, role: .ops)
        reactor = Reactor(name: caller)
    }

    public convenience init(meshPath: String, caller: String, member: String? = nil, principal: CallPrincipal? = nil) throws {
        self.init(mesh: try MeshConfig.load(path: meshPath), caller: caller, member: member, principal: principal)
    }

    public func client(_ service: String) throws -> RpcClient {
        try clients.withLock { c in
            if let existing = c[service] { return existing }
            let e = try mesh.endpoints(of: service)
            let client = RpcClient(reactor: reactor, endpoint: e.rpc, caller: caller, principal: principal,
                                   security: try mesh.clientSecurity(to: service, as: member))
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
                                      security: try mesh.clientSecurity(to: service, as: member))
    }

    /// Follows several services at once, merged into one stream (each
    /// service's events stay in order; between services, arrival order).
    /// `prefixes` are dealt to the services whose topics they can start;
    /// `fromHead` skips what the services already kept. The subscriptions
    /// live as long as the stream is read.
    public func follow(_ services: [String], prefixes: [String] = [], fromHead: Bool = false) async throws
        -> AsyncStream<DeliveredEvent> {
        let (merged, continuation) = AsyncStream<DeliveredEvent>.makeStream()
        var tasks: [Task<Void, Never>] = []
        for s in services {
            let fitting = prefixes.filter { Self.prefix($0, fits: s) }
            if !prefixes.isEmpty && fitting.isEmpty { continue }
            var from = StreamPosition.start
            if fromHead {
                let info = try await call(s, NodeAPI.info, InfoRequest())
                from = StreamPosition(stream: info.stream, seq: info.headSeq)
            }
            let (sub, stream) = try events(s, prefixes: fitting, from: from)
            tasks.append(Task {
                for await e in stream { continuation.yield(e) }
                _ = sub
            })
        }
        let all = tasks
        continuation.onTermination = { _ in all.forEach { $0.cancel() } }
        return merged
    }

    /// A prefix only matters to the service whose topics it can start.
    public static func prefix(_ prefix: String, fits service: String) -> Bool {
        prefix.hasPrefix(service + ".") || (service + ".").hasPrefix(prefix) || prefix.hasPrefix("node.")
    }

    public func close() { reactor.shutdown() }
}

/// One event as a line, for people (`text`) or pipes (`json`): Beijing time,
/// publisher#seq, topic, payload.
public enum EventLine {
    public static func text(_ e: DeliveredEvent) -> String {
        "\(time(e)) \(e.header.publisher)#\(e.seq) \(e.topic) \(ProtoJSON.payload(e))"
    }

    public static func json(_ e: DeliveredEvent) -> String {
        "{\"time\":\"\(time(e))\",\"publisher\":\"\(e.header.publisher)\",\"seq\":\(e.seq),\"topic\":\"\(e.topic)\",\"type\":\"\(e.header.payloadType)\",\"payload\":\(ProtoJSON.payload(e))}"
    }

    static func time(_ e: DeliveredEvent) -> String {
        BeijingTime.iso(Date(timeIntervalSince1970: Double(e.header.serverTimeMs) / 1000))
    }
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
