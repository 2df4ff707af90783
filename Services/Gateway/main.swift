// gateway: the mesh's only door from outside (R60-R63). An HTTP/JSON API
// (protos/http/openapi.json) and a WebSocket per phone for candidates'
// phones, the candidates' web client as files, all translated into calls
// on roster, timing and devices and into their events. It is a member of
// the mesh like the services: it answers exam.v1.Node (examctl ping
// gateway), says READY once both the bus and HTTP serve, and drains on
// SIGTERM (HTTP first, then the bus).
import ArgumentParser
import Bus
import ExamContracts
import Foundation
import GatewayApp
import GatewayCore
import Hummingbird
import ServiceKit
import ServiceLifecycle
import Synchronization

@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gateway",
                                                    abstract: "The gateway: HTTP + WebSocket for candidates' phones (R60-R63).")

    @OptionGroup var host: HostOptions

    @Option(help: "HTTP address host:port (default: the mesh file's services.gateway.http, else 127.0.0.1:8080; port 0 picks a free one).")
    var http: String?

    @Option(help: "Folder of the candidates' pages (default: Services/Gateway/web of the repository).")
    var web: String?

    @Option(help: "The OpenAPI document served at /api/v1/openapi.json (default: protos/http/openapi.json).")
    var openapi: String?

    @Option(help: "Login attempts per phone number per window (R63).")
    var loginPerPhone: Int = 10

    @Option(help: "Login attempts per client address per window (R63).")
    var loginPerAddress: Int = 60

    @Option(help: "The login rate limits' window in seconds.")
    var loginWindow: Int = 60

    @Flag(help: "Take the client's address from X-Forwarded-For (only behind a proxy ops run).")
    var trustForwardedFor = false

    @Option(help: "JSON file {\"mock\": \"question text\", \"formal\": \"...\"}: what the main phone shows once the question is revealed (R14).")
    var questions: String?

    @Option(help: "Bearer token that lets a scraper from another host read GET /metrics (env EXAM_METRICS_TOKEN; loopback always may).")
    var metricsToken: String?

    func validate() throws {
        for (name, v) in [("--login-per-phone", loginPerPhone), ("--login-per-address", loginPerAddress), ("--login-window", loginWindow)] where v < 1 {
            throw ValidationError("\(name): \(v) must be at least 1")
        }
    }

    func run() async throws {
        ExamLogHandler.bootstrap(level: host.level, format: host.format)
        var settings = GatewaySettings()
        settings.login = LoginThrottle.Limits(perPhone: loginPerPhone, perAddress: loginPerAddress, windowSeconds: loginWindow)
        settings.trustForwardedFor = trustForwardedFor
        settings.metricsToken = (metricsToken ?? ProcessInfo.processInfo.environment["EXAM_METRICS_TOKEN"]).flatMap { $0.isEmpty ? nil : $0 }
        if let questions {
            guard let data = FileManager.default.contents(atPath: questions),
                  let q = try? JSONDecoder().decode([String: String].self, from: data) else {
                throw ValidationError("--questions: \(questions) is not a readable JSON object of sitting -> text")
            }
            settings.questions = q
        }
        let service = try ServiceHost<Int>(name: MeshConfig.gatewayName, options: host) { _ in 0 }
        settings.metricsMembers = service.mesh.services.keys.sorted()
        let address = http ?? service.endpoints.http ?? "127.0.0.1:8080"
        guard let (bindHost, bindPort) = MeshConfig.hostPort(address) else { throw ValidationError("--http: '\(address)' is not host:port") }
        let edge = Edge(mesh: BusMeshCalls { try service.client(for: $0) }, settings: settings, logger: service.logger,
                        counters: service.counters)
        let files = EdgeFiles.locate(web: web, openAPI: openapi)
        let logger = service.logger
        for (name, path) in [("web", files.web), ("openapi", files.openAPI)] where !FileManager.default.fileExists(atPath: path) {
            logger.warning("\(name) files not found", metadata: ["path": "\(path)"])
        }

        // The services' events, for the phones (from the start of each
        // stream: the feed then holds what a reconnecting phone missed).
        for f in Edge.followed {
            guard let peer = service.mesh.services[f.service] else { continue }
            let sub = EventSubscriber(reactor: service.reactor, publisher: f.service, eventsEndpoint: peer.events, rpcEndpoint: peer.rpc,
                                      prefixes: f.prefixes, from: .start, caller: MeshConfig.gatewayName,
                                      security: try service.mesh.clientSecurity(to: f.service, as: MeshConfig.gatewayName),
                                      counters: service.counters, logger: logger) { edge.deliver($0) }
            sub.start()
        }

        let bound = Mutex<String?>(nil)
        let ready = AsyncStream<String>.makeStream()
        let app = buildApplication(edge: edge, files: files,
                                   configuration: .init(address: .hostname(bindHost, port: bindPort))) { channel in
            let a = channel.localAddress.map { "\($0.ipAddress ?? bindHost):\($0.port ?? bindPort)" } ?? address
            bound.withLock { $0 = a }
            ready.continuation.yield(a)
        }
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], gracefulShutdownSignals: [], logger: logger))
        let clock = Mutex<Task<Void, Never>?>(nil)
        service.alongside(.init(start: {
            let failure = Mutex<String?>(nil)
            Task {
                do { try await group.run() } catch {
                    // Cannot listen (the port is taken, say): no READY, the reason in the log.
                    failure.withLock { $0 = "\(error)" }
                    ready.continuation.finish()
                }
            }
            var it = ready.stream.makeAsyncIterator()
            guard let a = await it.next() else {
                throw ConfigError("http: cannot serve on \(address): \(failure.withLock { $0 } ?? "the server stopped")")
            }
            edge.beats.start()
            edge.refreshPlan()  // before the first phone asks
            clock.withLock { $0 = Task { while !Task.isCancelled { try? await Task.sleep(for: .seconds(5)); edge.tickTime() } } }
            logger.info("http serving", metadata: ["http": "\(a)", "web": "\(files.web)"])
            return "http=\(a)"
        }, stop: {
            clock.withLock { $0?.cancel() }
            await group.triggerGracefulShutdown()
            await edge.beats.stop()
            logger.info("http stopped", metadata: ["http": "\(bound.withLock { $0 } ?? address)"])
        }))
        try await service.run()
    }
}
