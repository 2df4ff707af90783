// bus-probe: a minimal service on the real service shell (store, engine,
// outbox, replay, lifecycle), for the bus's process-level tests and the
// launcher's proof before the exam services exist. It serves
// exam.v1.BusProbe: Emit commits events, Tally reports what it applied from
// the probes it follows.
import ArgumentParser
import Bus
import ExamContracts
import Foundation
import ServiceKit

struct ProbeState: Codable, Sendable {
    var emitted: UInt64 = 0
    var applied: UInt64 = 0
    var lastSeq: [String: UInt64] = [:]
}

@main
struct BusProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bus-probe", abstract: "A test service on the real service shell.")

    @OptionGroup var host: HostOptions
    @Option(help: "This probe's name in the mesh file.") var name = "probe"
    @Option(help: "Another probe whose probe.* events to apply (repeatable).") var follow: [String] = []

    func run() async throws {
        ExamLogHandler.bootstrap(level: host.level, format: host.format)
        let service = try ServiceHost<ProbeState>(name: name, options: host) { store in
            try store.document(ProbeState.self, kind: "probe", key: "state") ?? ProbeState()
        }
        service.server.serveInline(BusProbeAPI.echo) { req, _ in req }
        service.serve(BusProbeAPI.emit) { req, _, state, tx in
            for i in 0..<max(1, req.n) {
                try tx.publish("probe.emitted", ProbeEvent(n: state.emitted + i + 1, payload: req.payload))
            }
            state.emitted += max(1, req.n)
            tx.put(state, kind: "probe", key: "state")
            return ProbeMessage(n: state.emitted)
        }
        service.serve(BusProbeAPI.tally) { _, _, state, _ in
            ProbeMessage(n: state.applied, items: state.lastSeq.sorted { $0.key < $1.key }.map { ProbeItem(name: $0.key, value: Int64($0.value)) })
        }
        for peer in follow {
            service.follow(peer, prefixes: ["probe."]) { event, state, tx in
                state.applied += 1
                state.lastSeq[event.header.publisher] = event.seq
                tx.put(state, kind: "probe", key: "state")
                // Committed with the cursor: a count that ever skips or repeats
                // shows an event applied twice or never.
                try tx.publish("tally.applied", ProbeEvent(n: state.applied))
            }
        }
        try await service.run()
    }
}
