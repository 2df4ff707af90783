import ExamPlan
import Foundation

// Timing keeps its cost per call flat in the size of the roster (issue 15):
// each document dictionary of the state is a `DocumentMap`, which records
// the keys written since the shell last took them (so the shell stores
// exactly those documents, never diffing the whole state), keeps an undo
// journal while an operation runs (so a refused operation is rolled back
// without copying the state first), and keeps the timed transitions its
// documents wait for in an index ordered by due time (so the next deadline
// is read, not searched for).

/// A document of the timing state. Documents that wait for the clock (a
/// running interview's reading end and countdown end) name their timers;
/// the others have none.
public protocol TimingDocument: Codable, Sendable, Equatable {
    /// The timed transitions this document waits for, now.
    var pendingTimers: [PendingTimer] { get }
}

extension TimingDocument {
    public var pendingTimers: [PendingTimer] { [] }
}

extension CandidateRecord: TimingDocument {}
extension RoomSitting: TimingDocument {}
extension EntryWindowState: TimingDocument {}

extension CandidateSitting: TimingDocument {
    /// A running interview waits for its reading end (automatic turn, or
    /// the staff's "reading time is up" notice) and for its countdown end.
    public var pendingTimers: [PendingTimer] {
        guard let iv = interview, iv.isRunning else { return [] }
        var out: [PendingTimer] = []
        if iv.answeringStartedAt == nil && (iv.answeringTurn == .automatic || iv.readingTimeUpFiredAt == nil) {
            out.append(PendingTimer(due: iv.readingEndsAt, .readingEnds(sitting, examNumber: examNumber)))
        }
        out.append(PendingTimer(due: iv.endsAt, .countdownEnds(sitting, examNumber: examNumber)))
        return out
    }
}

/// One pending transition with its due time, in firing order: due time,
/// then rank (entry before interviews, reading end before end), then the
/// sort key byte by byte.
public struct PendingTimer: Sendable, Equatable {
    public let due: Date
    let transition: PendingTransition
    let rank: Int
    let sortKey: String

    init(due: Date, _ transition: PendingTransition) {
        self.due = due
        self.transition = transition
        rank = transition.rank
        sortKey = transition.sortKey
    }

    /// Fires before `other`.
    func precedes(_ other: PendingTimer) -> Bool {
        if due != other.due { return due < other.due }
        if rank != other.rank { return rank < other.rank }
        return sortKey.utf8.lexicographicallyPrecedes(other.sortKey.utf8)
    }

    public static func == (a: PendingTimer, b: PendingTimer) -> Bool { a.due == b.due && a.transition == b.transition }
}

/// Pending timers in a binary min-heap in firing order, with each timer's
/// place kept so one can be removed: insert, remove and first in O(log n),
/// n being the timers pending (two per running interview at most).
struct TimerHeap: Sendable {
    private(set) var items: [PendingTimer] = []
    private var place: [PendingTransition: Int] = [:]

    var first: PendingTimer? { items.first }
    var count: Int { items.count }
    /// All, in firing order (for tests).
    var sorted: [PendingTimer] { items.sorted { $0.precedes($1) } }

    mutating func insert(_ t: PendingTimer) {
        remove(t.transition)
        items.append(t)
        place[t.transition] = items.count - 1
        up(items.count - 1)
    }

    mutating func remove(_ transition: PendingTransition) {
        guard let i = place.removeValue(forKey: transition) else { return }
        let last = items.removeLast()
        guard i < items.count else { return }
        items[i] = last
        place[last.transition] = i
        down(up(i))
    }

    @discardableResult
    private mutating func up(_ start: Int) -> Int {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].precedes(items[parent]) else { break }
            swap(i, parent)
            i = parent
        }
        return i
    }

    private mutating func down(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l].precedes(items[m]) { m = l }
            if r < items.count && items[r].precedes(items[m]) { m = r }
            if m == i { return }
            swap(i, m)
            i = m
        }
    }

    private mutating func swap(_ a: Int, _ b: Int) {
        items.swapAt(a, b)
        place[items[a].transition] = a
        place[items[b].transition] = b
    }
}

/// A dictionary of documents by key that tracks what changed. Reading is a
/// dictionary's; writing through the subscript records the key as changed
/// (when the value differs), keeps the old value once in the undo journal
/// while a transaction is open, and updates the timer index. Two maps are
/// equal when their contents are.
public struct DocumentMap<Value: TimingDocument>: Sendable {
    public private(set) var dictionary: [String: Value]
    /// Keys written since the last `takeChanged()`.
    private(set) var changed: Set<String> = []
    /// While a transaction is open: each written key's value before it, and
    /// whether the key was already changed.
    private var journal: [String: (old: Value?, wasChanged: Bool)]?
    /// The timers of the documents, in firing order.
    private(set) var timers = TimerHeap()

    public init() { dictionary = [:] }

    /// A map of stored documents: nothing changed; the timer index rebuilt.
    public init(_ dictionary: [String: Value]) {
        self.dictionary = dictionary
        for v in dictionary.values {
            for t in v.pendingTimers { timers.insert(t) }
        }
    }

    public subscript(key: String) -> Value? {
        get { dictionary[key] }
        set { write(key, newValue) }
    }

    public var keys: Dictionary<String, Value>.Keys { dictionary.keys }
    public var values: Dictionary<String, Value>.Values { dictionary.values }
    public var count: Int { dictionary.count }
    public var isEmpty: Bool { dictionary.isEmpty }

    private mutating func write(_ key: String, _ value: Value?) {
        let old = dictionary[key]
        guard old != value else { return }
        if journal != nil && journal![key] == nil {
            journal![key] = (old, changed.contains(key))
        }
        changed.insert(key)
        replace(key, old: old, value)
    }

    private mutating func replace(_ key: String, old: Value?, _ value: Value?) {
        if let value { dictionary[key] = value } else { dictionary.removeValue(forKey: key) }
        let before = old?.pendingTimers ?? [], after = value?.pendingTimers ?? []
        guard before != after else { return }
        for t in before { timers.remove(t.transition) }
        for t in after { timers.insert(t) }
    }

    /// The changed keys, sorted, and forgets them.
    mutating func takeChanged() -> [String] {
        defer { changed.removeAll(keepingCapacity: true) }
        return changedKeys
    }

    var changedKeys: [String] { changed.sorted() }

    // MARK: Transactions

    /// Opens a (possibly nested) transaction; returns what `commit` or
    /// `rollback` needs to restore the enclosing one.
    mutating func begin() -> [String: (old: Value?, wasChanged: Bool)]? {
        let outer = journal
        journal = [:]
        return outer
    }

    mutating func commit(_ outer: [String: (old: Value?, wasChanged: Bool)]?) {
        guard var merged = outer else { journal = nil; return }
        for (k, e) in journal ?? [:] where merged[k] == nil { merged[k] = e }
        journal = merged
    }

    /// Puts back every value written since `begin`, and the changed keys.
    mutating func rollback(_ outer: [String: (old: Value?, wasChanged: Bool)]?) {
        let undo = journal ?? [:]
        journal = nil
        for (k, e) in undo {
            replace(k, old: dictionary[k], e.old)
            if !e.wasChanged { changed.remove(k) }
        }
        journal = outer
    }
}

extension DocumentMap: Equatable {
    public static func == (a: DocumentMap, b: DocumentMap) -> Bool { a.dictionary == b.dictionary }
}

extension DocumentMap: Sequence {
    public func makeIterator() -> Dictionary<String, Value>.Iterator { dictionary.makeIterator() }
    public var underestimatedCount: Int { dictionary.count }
}

extension DocumentMap: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, Value)...) {
        self.init(Dictionary(elements, uniquingKeysWith: { _, new in new }))
    }
}

extension DocumentMap: Codable {
    public init(from decoder: Decoder) throws {
        self.init(try decoder.singleValueContainer().decode([String: Value].self))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(dictionary)
    }
}
