import Foundation
import Synchronization

/// The pipe's write end for `HostLab.tearDownOnInterrupt`'s signal handler
/// (a global: a C handler captures nothing; set once, before it is installed).
nonisolated(unsafe) private var interruptWriteEnd: Int32 = -1

/// Hosts of their own for the mesh's members (issue 16): a Linux network
/// namespace each, joined by veth pairs to one bridge in the root namespace
/// (which has the bridge's address, so the driver and phone-sim reach every
/// host from there), with faults put on and taken off the links:
///
/// - a partition between two hosts: each drops the other's packets (nft,
///   netdev ingress and egress on its veth);
/// - loss: every host drops `lossPercent` % of the packets leaving it and of
///   those arriving from the root namespace (nft `numgen random`), so every
///   direction of every link loses that share once;
/// - delay: `tc qdisc netem` on each host's veth where the kernel has it;
///   where it does not (Firecracker's kernel has no sch_netem), a relay in
///   each host: nft redirects the mesh ports' incoming connections to it and
///   it passes the bytes on to the original destination, holding them
///   `delayMs` each way while the delay is on. The relay is in the path from
///   the start: ZeroMQ's connections live all day, and a redirect rule added
///   later would catch only new ones (and `ss -K` is not in that kernel either).
///
/// Names carry this process's id (`exh<pid>-<member>`, bridge `exh<pid>br`),
/// so runs side by side do not meet, and a later run removes what a killed
/// one left (`sweepStale`). `tearDown` removes everything; `tearDownAll`
/// does it for every lab of the process (a Ctrl-C handler calls it).
public final class HostLab: Sendable {
    public struct Host: Sendable {
        public let member: String
        public let namespace: String
        public let address: String
        /// The veth end in the root namespace, on the bridge.
        public let link: String
    }

    public enum DelayMethod: String, Sendable {
        case netem = "tc netem"
        case relay = "a user-space relay (no netem in this kernel)"
    }

    public let tag: String
    public let bridge: String
    public let bridgeAddress: String
    public let members: [String]
    public let hosts: [String: Host]
    /// The ports the members listen on (the same in every host).
    public let ports: [Int]
    public let relayPort: Int
    public let delayMs: Int
    public let logDir: String
    private let state = Mutex(LabState())

    struct LabState {
        var delay: DelayMethod = .relay
        var relays: [String: Process] = [:]
        var cuts: Set<String> = []
        var degraded = false
        var built = false
        var tornDown = false
    }

    private static let live = Mutex<[String: HostLab]>([:])
    static let prefix = "exh"
    /// Inside each host the veth is eth0.
    static let device = "eth0"

    /// Why a lab cannot be built here (not root, no `ip` or `nft`), or nil.
    public static func unavailable() -> String? {
        if getuid() != 0 { return "network namespaces need root (CI runs as root; run with sudo)" }
        for tool in ["ip", "nft"] where Command.find(tool) == nil {
            return "\(tool) is not installed: scripts/setup installs Debian's iproute2 and nftables"
        }
        return nil
    }

    private init(members: [String], ports: [Int], relayPort: Int, delayMs: Int, logDir: String) throws {
        let pid = getpid()
        tag = "\(Self.prefix)\(pid)"
        bridge = "\(tag)br"
        self.members = members
        self.ports = ports
        self.relayPort = relayPort
        self.delayMs = delayMs
        self.logDir = logDir
        let net = try Self.freeSubnet(seed: Int(pid))
        bridgeAddress = "\(net).1"
        var hosts: [String: Host] = [:]
        for (i, m) in members.enumerated() {
            hosts[m] = Host(member: m, namespace: "\(tag)-\(m)", address: "\(net).\(10 + i)", link: "\(tag)v\(i)")
        }
        self.hosts = hosts
    }

    /// Builds the hosts: the bridge, a namespace and veth per member, and
    /// (without netem) the relays, started with `relay` + its port and delay
    /// arguments inside each host. Undoes what it did if a step fails.
    public static func create(members: [String], ports: [Int], relayPort: Int = 7099, delayMs: Int = 100,
                              relay: [String], logDir: String, say: @Sendable (String) -> Void = { _ in }) throws -> HostLab {
        if let why = unavailable() { throw NetCommandError(description: why) }
        sweepStale(say: say)
        try FileManager.default.createDirectory(atPath: logDir, withIntermediateDirectories: true)
        let lab = try HostLab(members: members, ports: ports, relayPort: relayPort, delayMs: delayMs, logDir: logDir)
        live.withLock { $0[lab.tag] = lab }
        do {
            try lab.build(relay: relay)
        } catch {
            lab.tearDown()
            throw error
        }
        return lab
    }

    /// Runs `argv` inside `member`'s host (the launcher's command prefix):
    /// `ip netns exec` execs it, so the process id is the program's.
    public func prefix(for member: String) -> [String] {
        guard let h = hosts[member], let ip = Command.find("ip") else { return [] }
        return [ip, "netns", "exec", h.namespace]
    }

    public var delayMethod: DelayMethod { state.withLock { $0.delay } }

    private func host(_ m: String) -> Host { hosts[m]! }

    private func build(relay: [String]) throws {
        state.withLock { $0.built = true }
        try Command.run("ip", ["link", "add", bridge, "type", "bridge"])
        try Command.run("ip", ["addr", "add", "\(bridgeAddress)/24", "dev", bridge])
        try Command.run("ip", ["link", "set", bridge, "up"])
        for m in members {
            let h = host(m)
            try Command.run("ip", ["netns", "add", h.namespace])
            try Command.run("ip", ["link", "add", h.link, "type", "veth", "peer", "name", Self.device, "netns", h.namespace])
            try Command.run("ip", ["link", "set", h.link, "master", bridge, "up"])
            try Command.run("ip", ["-n", h.namespace, "link", "set", "lo", "up"])
            try Command.run("ip", ["-n", h.namespace, "addr", "add", "\(h.address)/24", "dev", Self.device])
            try Command.run("ip", ["-n", h.namespace, "link", "set", Self.device, "up"])
        }
        // netem first: where the kernel has it, no relay is needed.
        let probe = host(members[0]).namespace
        if (try? inside(probe, "tc", ["qdisc", "add", "dev", Self.device, "root", "netem", "delay", "\(delayMs)ms"])) != nil {
            try inside(probe, "tc", ["qdisc", "del", "dev", Self.device, "root"])
            state.withLock { $0.delay = .netem }
            return
        }
        state.withLock { $0.delay = .relay }
        let portList = ports.map(String.init).joined(separator: ", ")
        for m in members {
            let h = host(m)
            try nft(h, """
                table inet examlab-relay {
                  chain pre { type nat hook prerouting priority dstnat; policy accept; tcp dport { \(portList) } redirect to :\(relayPort); }
                }
                """)
            try startRelay(h, relay + ["--port", String(relayPort), "--delay-ms", String(delayMs)])
        }
    }

    private func startRelay(_ h: Host, _ command: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Command.find("ip")!)
        p.arguments = ["netns", "exec", h.namespace] + command
        var env = ProcessInfo.processInfo.environment
        env["EXAM_PARENT_PID"] = String(getpid())
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        let logPath = (logDir as NSString).appendingPathComponent("relay-\(h.member).log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: logPath)
        let ready = DispatchSemaphore(value: 0)
        let seen = Mutex("")
        out.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            if chunk.isEmpty { handle.readabilityHandler = nil; ready.signal(); return }
            if seen.withLock({ $0 += String(decoding: chunk, as: UTF8.self); return $0.contains("READY relay") }) {
                handle.readabilityHandler = nil
                ready.signal()
            }
        }
        try p.run()
        state.withLock { $0.relays[h.member] = p }
        _ = ready.wait(timeout: .now() + 20)
        guard seen.withLock({ $0.contains("READY relay") }) else {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw NetCommandError(description: "the relay in \(h.namespace) did not start: \(log.suffix(500))")
        }
    }

    // MARK: Faults

    /// Cuts `a` and `b` apart: each drops the other's packets both ways.
    public func partition(_ a: String, _ b: String) throws {
        for (x, y) in [(a, b), (b, a)] {
            try nft(host(x), """
                table netdev examlab-cut-\(y) {
                  chain in { type filter hook ingress device "\(Self.device)" priority filter; policy accept; ip saddr \(host(y).address) counter drop; }
                  chain out { type filter hook egress device "\(Self.device)" priority filter; policy accept; ip daddr \(host(y).address) counter drop; }
                }
                """)
        }
        state.withLock { _ = $0.cuts.insert(Self.cutKey(a, b)) }
    }

    /// Joins them again; returns the packets the cut dropped.
    @discardableResult
    public func heal(_ a: String, _ b: String) throws -> Int {
        var dropped = 0
        var failure: Error?
        for (x, y) in [(a, b), (b, a)] {
            dropped += counters(host(x), "examlab-cut-\(y)").reduce(0, +)
            do { try nftDelete(host(x), "examlab-cut-\(y)") } catch { failure = failure ?? error }
        }
        state.withLock { _ = $0.cuts.remove(Self.cutKey(a, b)) }
        if let failure { throw failure }
        return dropped
    }

    static func cutKey(_ a: String, _ b: String) -> String { [a, b].sorted().joined(separator: "|") }

    /// Heals every cut and restores every link (what a run left on when it stopped early).
    public func clearFaults() {
        let (cuts, degraded) = state.withLock { ($0.cuts, $0.degraded) }
        for key in cuts {
            let pair = key.split(separator: "|").map(String.init)
            _ = try? heal(pair[0], pair[1])
        }
        if degraded { _ = try? restore() }
    }

    /// Every link delayed `delayMs` and losing `lossPercent` % of its packets.
    public func degrade(lossPercent: Int) throws {
        state.withLock { $0.degraded = true }
        for m in members {
            let h = host(m)
            // The first rule counts every packet, the second drops the share.
            try nft(h, """
                table netdev examlab-loss {
                  chain in { type filter hook ingress device "\(Self.device)" priority filter; policy accept;
                    ip saddr \(bridgeAddress) counter; ip saddr \(bridgeAddress) numgen random mod 100 < \(lossPercent) counter drop; }
                  chain out { type filter hook egress device "\(Self.device)" priority filter; policy accept;
                    counter; numgen random mod 100 < \(lossPercent) counter drop; }
                }
                """)
        }
        switch delayMethod {
        case .netem:
            for m in members { try inside(host(m).namespace, "tc", ["qdisc", "add", "dev", Self.device, "root", "netem", "delay", "\(delayMs)ms"]) }
        case .relay:
            for p in state.withLock({ Array($0.relays.values) }) where p.isRunning { kill(p.processIdentifier, SIGUSR1) }
        }
    }

    /// Clean links again; returns the packets seen and dropped meanwhile.
    @discardableResult
    public func restore() throws -> (packets: Int, dropped: Int) {
        var packets = 0, dropped = 0
        var failure: Error?
        for m in members {
            let c = counters(host(m), "examlab-loss")
            // in: all, dropped; out: all, dropped
            if c.count == 4 {
                packets += c[0] + c[2]
                dropped += c[1] + c[3]
            }
            do { try nftDelete(host(m), "examlab-loss") } catch { failure = failure ?? error }
        }
        switch delayMethod {
        case .netem:
            for m in members {
                do { try inside(host(m).namespace, "tc", ["qdisc", "del", "dev", Self.device, "root"]) } catch { failure = failure ?? error }
            }
        case .relay:
            for p in state.withLock({ Array($0.relays.values) }) where p.isRunning { kill(p.processIdentifier, SIGUSR2) }
        }
        state.withLock { $0.degraded = false }
        if let failure { throw failure }
        return (packets, dropped)
    }

    // MARK: Tearing down

    /// Stops the relays, ends whatever still runs in the hosts (the
    /// launcher should have stopped the services already), deletes the
    /// namespaces and the bridge. Safe to call again, and from a signal handler's queue.
    public func tearDown() {
        let (relays, first, built) = state.withLock { s -> ([Process], Bool, Bool) in
            defer { s.tornDown = true }
            return (Array(s.relays.values), !s.tornDown, s.built)
        }
        guard first else { return }
        Self.live.withLock { _ = $0.removeValue(forKey: tag) }
        guard built else { return }
        for p in relays where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        for m in members {
            let ns = host(m).namespace
            // Processes this run started inside its own namespaces: by id.
            let pids = ((try? Command.run("ip", ["netns", "pids", ns])) ?? "").split(whereSeparator: \.isNewline).compactMap { Int32($0) }
            for pid in pids { kill(pid, SIGKILL) }
            Command.quietly("ip", ["netns", "del", ns])
        }
        for m in members { Command.quietly("ip", ["link", "del", host(m).link]) }
        Command.quietly("ip", ["link", "del", bridge])
    }

    /// Every lab of this process (Ctrl-C).
    public static func tearDownAll() {
        for lab in live.withLock({ Array($0.values) }) { lab.tearDown() }
    }

    /// On SIGINT or SIGTERM: `say` it, tear every lab down, exit 130. A
    /// handler of its own (it writes a byte to a pipe; a thread does the
    /// rest), not a DispatchSource: on Linux those read a signalfd with the
    /// signal set to SIG_IGN and blocked only in some threads, so a signal
    /// the kernel hands to another thread is dropped (a SIGTERM in the
    /// middle of a run was), and children would inherit SIG_IGN.
    public static func tearDownOnInterrupt(say: @escaping @Sendable (String) -> Void) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return }
        interruptWriteEnd = fds[1]
        let readEnd = fds[0]
        Thread.detachNewThread {
            var byte: UInt8 = 0
            while read(readEnd, &byte, 1) < 0 && errno == EINTR {}
            say("hosts: interrupted; removing the namespaces")
            tearDownAll()
            exit(130)
        }
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { _ in
                var byte: UInt8 = 1
                _ = write(interruptWriteEnd, &byte, 1)
            }
        }
    }

    /// Removes namespaces and bridges left by runs whose process is gone
    /// (killed before it could clean up). Their processes exited by
    /// themselves: every one watches the process that started it.
    public static func sweepStale(say: @Sendable (String) -> Void = { _ in }) {
        func deadRun(_ name: String) -> Bool {
            guard name.hasPrefix(prefix) else { return false }
            let digits = name.dropFirst(prefix.count).prefix(while: \.isNumber)
            guard let pid = Int32(digits), !digits.isEmpty, pid != getpid() else { return false }
            return kill(pid, 0) != 0 && errno == ESRCH
        }
        let namespaces = ((try? Command.run("ip", ["netns", "list"])) ?? "").split(whereSeparator: \.isNewline)
            .compactMap { $0.split(separator: " ").first.map(String.init) }
        for ns in namespaces where deadRun(ns) {
            say("hosts: removing namespace \(ns), left by a run that is gone")
            Command.quietly("ip", ["netns", "del", ns])
        }
        let links = ((try? Command.run("ip", ["-o", "link", "show"])) ?? "").split(whereSeparator: \.isNewline)
            .compactMap { line -> String? in
                let f = line.split(separator: " ")
                guard f.count > 1 else { return nil }
                return String(f[1].split(separator: "@").first ?? "").trimmingCharacters(in: CharacterSet(charactersIn: ":"))
            }
        for l in links where deadRun(l) {
            say("hosts: removing link \(l), left by a run that is gone")
            Command.quietly("ip", ["link", "del", l])
        }
    }

    // MARK: Plumbing

    /// A /24 in 10.77.0.0/16 that no address or route of this machine uses.
    static func freeSubnet(seed: Int) throws -> String {
        let used = ((try? Command.run("ip", ["-4", "-o", "addr"])) ?? "") + ((try? Command.run("ip", ["-4", "route"])) ?? "")
        for k in 0..<250 {
            let net = "10.77.\((seed + k) % 250 + 1)"
            if !used.contains(net + ".") && !used.contains(net + "/") { return net }
        }
        throw NetCommandError(description: "no free /24 in 10.77.0.0/16")
    }

    @discardableResult
    private func inside(_ namespace: String, _ tool: String, _ arguments: [String]) throws -> String {
        guard let exe = Command.find(tool) else { throw NetCommandError(description: "\(tool) is not installed") }
        return try Command.run("ip", ["netns", "exec", namespace, exe] + arguments)
    }

    private func nft(_ h: Host, _ ruleset: String) throws {
        try Command.run("ip", ["netns", "exec", h.namespace, Command.find("nft") ?? "nft", "-f", "-"], input: ruleset)
    }

    private func nftDelete(_ h: Host, _ table: String) throws {
        try Command.run("ip", ["netns", "exec", h.namespace, Command.find("nft") ?? "nft", "delete", "table", "netdev", table])
    }

    /// The packet counts of a netdev table's counters, in rule order.
    private func counters(_ h: Host, _ table: String) -> [Int] {
        let text = (try? Command.run("ip", ["netns", "exec", h.namespace, Command.find("nft") ?? "nft", "list", "table", "netdev", table])) ?? ""
        var out: [Int] = []
        var rest = Substring(text)
        while let r = rest.range(of: "counter packets ") {
            rest = rest[r.upperBound...]
            out.append(Int(rest.prefix(while: \.isNumber)) ?? 0)
        }
        return out
    }
}
