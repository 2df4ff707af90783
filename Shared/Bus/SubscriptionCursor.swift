/// One event as a subscriber receives it: header and encoded payload.
public struct DeliveredEvent: Sendable, Equatable {
    public var header: EventHeaderFields
    public var payload: [UInt8]

    public init(header: EventHeaderFields, payload: [UInt8]) {
        self.header = header
        self.payload = payload
    }

    public var topic: String { header.topic }
    public var seq: UInt64 { header.seq }

    /// The payload as `M`, after checking it is what the header says.
    public func decode<M: ProtoMessage>(_ type: M.Type) throws -> M {
        guard header.payloadType == M.protoName else {
            throw RPCError(.invalidArgument, "event \(header.publisher)#\(header.seq) on \(header.topic) carries \(header.payloadType), not \(M.protoName)")
        }
        return try ProtoCodec.decode(type, from: payload)
    }
}

/// A subscriber's position in one publisher's stream.
public struct StreamPosition: Sendable, Equatable, Codable {
    public var stream: String
    public var seq: UInt64
    public init(stream: String, seq: UInt64) {
        self.stream = stream
        self.seq = seq
    }
    public static let start = StreamPosition(stream: "", seq: 0)
}

/// The subscriber's bookkeeping (zguide "Clone"), with no sockets and no
/// clock: live events, HEAD announcements and replay replies go in; events to
/// deliver, exactly once and in seq order, and replay requests come out.
///
/// With topic prefixes, the publisher's seq runs over all its topics, so a
/// jump in seq may only mean events this subscriber does not want: it asks
/// the publisher (replay filtered by the same prefixes), which answers with
/// the matching events and how far it scanned.
public struct SubscriptionCursor: Sendable {
    public enum Action: Sendable, Equatable {
        case deliver(DeliveredEvent)
        case replay(afterSeq: UInt64)
        /// The publisher's stream changed or went back: logged by the shell.
        case warn(String)
    }

    public private(set) var position: StreamPosition
    /// Catching up: live events wait in `buffered` until the replay is done.
    public private(set) var replaying = false
    /// A replay call is out (at most one at a time).
    private var requestOut = false
    /// Something asked for a replay while one was out.
    private var again = false
    private var buffered: [UInt64: DeliveredEvent] = [:]
    /// Live events kept while a replay is out; more are dropped (the replay
    /// fetches them anyway).
    public let bufferLimit: Int

    public init(from position: StreamPosition, bufferLimit: Int = 10_000) {
        self.position = position
        self.bufferLimit = bufferLimit
    }

    /// On start: catch up from the stored position.
    public mutating func start() -> [Action] {
        replaying = true
        return requestReplay()
    }

    /// Takes `e` when it is simply the next event of the known stream (the
    /// common case); false means: give it to `live`.
    public mutating func takeInOrder(_ e: DeliveredEvent) -> Bool {
        guard !replaying, e.seq == position.seq + 1, e.header.stream == position.stream else { return false }
        position.seq = e.seq
        return true
    }

    public mutating func live(_ e: DeliveredEvent) -> [Action] {
        var actions = adopt(stream: e.header.stream)
        if replaying {
            if e.seq > position.seq && buffered.count < bufferLimit { buffered[e.seq] = e }
            return actions
        }
        if e.seq <= position.seq { return actions }  // already delivered
        if e.seq == position.seq + 1 {
            position.seq = e.seq
            actions.append(.deliver(e))
            return actions
        }
        // A gap: lost events, or events of topics this subscriber filters out.
        buffered[e.seq] = e
        replaying = true
        return actions + requestReplay()
    }

    public mutating func head(stream: String, seq: UInt64) -> [Action] {
        var actions = adopt(stream: stream)
        if replaying { return actions }
        if seq > position.seq {
            replaying = true
            actions += requestReplay()
        } else if seq < position.seq {
            actions.append(.warn("publisher stream \(stream) is at seq \(seq), behind this subscriber's \(position.seq) (store restored from a backup?): following it from \(seq)"))
            position.seq = seq
        }
        return actions
    }

    /// The reply to the replay asked with `afterSeq`: events in seq order, how
    /// far the publisher scanned, its head.
    public mutating func replayed(afterSeq: UInt64, stream: String, events: [DeliveredEvent],
                                  through: UInt64, head: UInt64) -> [Action] {
        requestOut = false
        var actions = adopt(stream: stream)
        if !actions.isEmpty { return actions }  // a new stream: adopt asked again from 0
        if afterSeq != position.seq {
            // The position moved under the request: ask again from where it is.
            again = false
            return requestReplay()
        }
        for e in events where e.seq > position.seq {
            position.seq = e.seq
            actions.append(.deliver(e))
        }
        position.seq = max(position.seq, min(through, head))
        if through < head || again {
            again = false
            return actions + requestReplay()
        }
        replaying = false
        let waiting = buffered
        buffered.removeAll()
        for seq in waiting.keys.sorted() where seq > position.seq {
            actions += live(waiting[seq]!)
        }
        return actions
    }

    /// The replay call failed (publisher down): the shell retries after a pause.
    public mutating func replayFailed() -> [Action] {
        requestOut = false
        again = false
        return requestReplay()
    }

    private mutating func requestReplay() -> [Action] {
        if requestOut {
            again = true
            return []
        }
        requestOut = true
        return [.replay(afterSeq: position.seq)]
    }

    /// A new stream id means the publisher's store was replaced: its seq
    /// numbers start again, so this subscriber starts again from 0.
    private mutating func adopt(stream: String) -> [Action] {
        guard !stream.isEmpty, stream != position.stream else { return [] }
        if position.stream.isEmpty {
            position.stream = stream
            return []
        }
        let old = position
        position = StreamPosition(stream: stream, seq: 0)
        buffered = buffered.filter { $0.value.header.stream == stream }
        replaying = true
        return [.warn("publisher stream changed from \(old.stream) (at seq \(old.seq)) to \(stream): following the new stream from seq 0")]
            + requestReplay()
    }
}
