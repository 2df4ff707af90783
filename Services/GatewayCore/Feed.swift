// What each candidate's phones hear, kept so a phone that reconnects (a
// dropped signal, a reload, R18, R35) is told what it missed, in order,
// before the fresh state: a phase change is never lost to a reconnect.
import Foundation

/// One event as a phone receives it (WebSocket message type "event").
public struct FeedItem: Codable, Sendable, Equatable {
    public var type = "event"
    public var publisher: String
    public var seq: UInt64
    public var topic: String
    public var atMs: Int64
    /// "mock" / "formal" when the event belongs to one sitting.
    public var sitting: String?
    /// "main" / "secondary" when it concerns one phone.
    public var role: String?
    public var text: String

    public init(publisher: String, seq: UInt64, topic: String, atMs: Int64, sitting: String?, role: String?, text: String) {
        self.publisher = publisher
        self.seq = seq
        self.topic = topic
        self.atMs = atMs
        self.sitting = sitting
        self.role = role
        self.text = text
    }
}

/// Recent events per candidate and for everyone (entry windows), bounded.
/// Pure: the gateway's event followers add, the WebSocket sessions read.
public struct CandidateFeed: Sendable {
    public let perCandidate: Int
    public let broadcastLimit: Int
    private(set) var byCandidate: [String: [FeedItem]] = [:]
    private(set) var broadcast: [FeedItem] = []

    public init(perCandidate: Int = 64, broadcastLimit: Int = 64) {
        self.perCandidate = perCandidate
        self.broadcastLimit = broadcastLimit
    }

    /// Keeps `item` for `examNumbers` (empty: for everyone).
    public mutating func add(_ item: FeedItem, for examNumbers: [String]) {
        if examNumbers.isEmpty {
            broadcast.append(item)
            if broadcast.count > broadcastLimit { broadcast.removeFirst(broadcast.count - broadcastLimit) }
            return
        }
        for n in examNumbers {
            var list = byCandidate[n, default: []]
            list.append(item)
            if list.count > perCandidate { list.removeFirst(list.count - perCandidate) }
            byCandidate[n] = list
        }
    }

    /// What `examNumber`'s phone missed of `publisher` after `since` (its
    /// highest seq seen), for `sitting`, in stream order.
    public func missed(examNumber: String, publisher: String = "timing", since: UInt64, sitting: String?) -> [FeedItem] {
        (byCandidate[examNumber, default: []] + broadcast)
            .filter { $0.publisher == publisher && $0.seq > since && (sitting == nil || $0.sitting == nil || $0.sitting == sitting) }
            .sorted { $0.seq < $1.seq }
    }
}
