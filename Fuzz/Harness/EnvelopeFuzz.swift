import Bus
import Foundation

/// The bus envelope (Shared/Bus/Envelope.swift). The first byte picks the
/// decoder, the rest is the frame:
///   0  call header (protobuf-c, plus the raw method name read by hand)
///   1  reply header
///   2  event header, two-frame form: protobuf-c, and the hand-written
///      decoder on the same bytes (they must agree)
///   3  one-frame event: topic NUL header, by hand; decoded twice by one
///      decoder (the second time through its cache of the last header)
///   4  two one-frame events: byte n, then n bytes of the first, then the
///      second; the second decoded after the first (cache primed) must read
///      as it does by a fresh decoder
///   5  firstLengthDelimited's scan of raw protobuf
enum EnvelopeFuzz {
    static func run(_ data: UnsafeRawBufferPointer) {
        guard let mode = data.first else { return }
        let body = data.tail
        switch mode % 6 {
        case 0: call(body)
        case 1: reply(body)
        case 2: eventHeader(body)
        case 3: oneFrame(body)
        case 4: primed(body)
        default: scan(body)
        }
    }

    static func call(_ b: UnsafeRawBufferPointer) {
        guard let h = Envelope.decodeCall(b) else { return }
        // A method name holding a NUL is kept whole so it matches no method
        // (UNIMPLEMENTED); the encoder never writes one: no round trip.
        guard !h.method.utf8.contains(0) else { return }
        let again = Envelope.decodeCall(Envelope.encodeCall(h))
        check(again == h, "call header round trip: \(h) -> \(String(describing: again))")
    }

    static func reply(_ b: UnsafeRawBufferPointer) {
        guard let r = Envelope.decodeReply(b) else { return }
        let again = Envelope.decodeReply(Envelope.encodeReply(requestID: r.requestID, code: r.code, message: r.message,
                                                              retryAfterMs: r.retryAfterMs))
        check(again == r, "reply header round trip: \(r) -> \(String(describing: again))")
    }

    static func eventHeader(_ b: UnsafeRawBufferPointer) {
        let viaC = Envelope.decodeEvent(Array(b))
        var decoder = EventHeaderDecoder()
        let byHand = decoder.decode(b)
        if let h = viaC {
            let again = Envelope.decodeEvent(Envelope.encodeEvent(h))
            check(again == h, "event header round trip: \(h) -> \(String(describing: again))")
        }
        // Both read the same wire format; protobuf-c keeps C strings (cut at
        // a NUL), the hand decoder the bytes whole, so NULs are left out.
        if let c = viaC, let hand = byHand?.header, !hasNul(hand) {
            check(c == hand, "event header: protobuf-c read \(c), the hand decoder \(hand)")
        }
    }

    static func oneFrame(_ b: UnsafeRawBufferPointer) {
        guard let (topic, header) = EventFrame.split(b) else { return }
        var decoder = EventHeaderDecoder()
        let first = decoder.decode(header, topic: topic)
        let second = decoder.decode(header, topic: topic)
        check(same(first, second), "one-frame event read twice: \(String(describing: first)) then \(String(describing: second))")
        guard let (h, payload) = first else { return }
        // What the decoder read, written again by the publisher's encoder, reads the same.
        let frame = EventFrame.encode(h, payload: payload)
        frame.withUnsafeBytes { f in
            guard let (t2, h2) = EventFrame.split(f) else {
                check(false, "re-encoded event frame has no NUL: \(h)")
                return
            }
            var fresh = EventHeaderDecoder()
            let back = fresh.decode(h2, topic: t2)
            check(same(back, first), "one-frame event round trip: \(h) -> \(String(describing: back))")
        }
    }

    static func primed(_ b: UnsafeRawBufferPointer) {
        guard let n = b.first else { return }
        let rest = b.tail
        let cut = min(Int(n), rest.count)
        let a = UnsafeRawBufferPointer(rebasing: rest[0..<cut]), second = UnsafeRawBufferPointer(rebasing: rest[cut...])
        var decoder = EventHeaderDecoder()
        if let (t, h) = EventFrame.split(a) { _ = decoder.decode(h, topic: t) }
        guard let (t, h) = EventFrame.split(second) else { return }
        let afterFirst = decoder.decode(h, topic: t)
        var fresh = EventHeaderDecoder()
        let alone = fresh.decode(h, topic: t)
        check(same(afterFirst, alone), "event after another: \(String(describing: afterFirst)), alone: \(String(describing: alone))")
    }

    static func scan(_ b: UnsafeRawBufferPointer) {
        guard let field = b.first else { return }
        let rest = b.tail
        if let r = Envelope.firstLengthDelimited(field: UInt64(field % 16), in: rest), r.count > 0 {
            let start = rest.baseAddress!.distance(to: r.baseAddress!)
            check(start >= 0 && start + r.count <= rest.count, "firstLengthDelimited: \(start)+\(r.count) outside \(rest.count) bytes")
        }
    }

    static func hasNul(_ h: EventHeaderFields) -> Bool {
        [h.topic, h.publisher, h.stream, h.payloadType].contains { $0.utf8.contains(0) }
    }

    static func same(_ a: (header: EventHeaderFields, payload: [UInt8])?, _ b: (header: EventHeaderFields, payload: [UInt8])?) -> Bool {
        switch (a, b) {
        case (nil, nil): true
        case let (x?, y?): x.header == y.header && x.payload == y.payload
        default: false
        }
    }

    // MARK: seeds

    static let header = EventHeaderFields(topic: "exam.v1.roster.CandidateConfirmed", publisher: "roster-1",
                                          stream: "roster", seq: 1234, serverTimeMs: 1_668_830_400_000,
                                          payloadType: "exam.v1.CandidateConfirmed")

    static func seeds() -> [(name: String, bytes: [UInt8])] {
        var out: [(String, [UInt8])] = []
        let calls = [
            CallHeaderFields(method: "exam.v1.Roster/Import", requestID: 42, deadlineUnixMs: 1_668_830_405_000,
                             caller: "gateway", principal: CallPrincipal(id: "ops01", role: .ops)),
            CallHeaderFields(method: "exam.v1.Node/Ping", requestID: 1, deadlineUnixMs: 0, caller: "", principal: .anonymous),
            CallHeaderFields(method: "exam.v1.Scoring/Submit", requestID: .max, deadlineUnixMs: -1,
                             caller: "考官端", principal: CallPrincipal(id: "E01", role: .chiefExaminer)),
        ]
        for (i, c) in calls.enumerated() { out.append(("call-\(i)", [0] + Envelope.encodeCall(c))) }
        out.append(("reply-0", [1] + Envelope.encodeReply(requestID: 42, code: .ok, message: "")))
        out.append(("reply-1", [1] + Envelope.encodeReply(requestID: 7, code: .invalidArgument, message: "line 2, column phone: 'x' is not 11 digits")))
        out.append(("reply-2", [1] + Envelope.encodeReply(requestID: 9, code: .resourceExhausted, message: "登录人数较多，正在排队",
                                                          retryAfterMs: 2_400)))
        out.append(("event-0", [2] + Envelope.encodeEvent(header, payload: [0x0A, 0x03, 0x31, 0x32, 0x33])))
        out.append(("event-1", [2] + Envelope.encodeEvent(EventHeaderFields(topic: "t", publisher: "", stream: "", seq: 0,
                                                                          serverTimeMs: 0, payloadType: ""))))
        let frame = EventFrame.encode(header, payload: [0x0A, 0x03, 0x31, 0x32, 0x33])
        out.append(("frame-0", [3] + frame))
        var later = header
        later.seq += 1
        later.serverTimeMs += 250
        let next = EventFrame.encode(later, payload: [])
        out.append(("frame-1", [3] + next))
        out.append(("pair-0", [4, UInt8(frame.count)] + frame + next))
        var other = later
        other.stream = "roster-2"
        other.payloadType = "exam.v1.PostDefined"
        out.append(("pair-1", [4, UInt8(next.count)] + next + EventFrame.encode(other, payload: [1, 2])))
        out.append(("scan-0", [5, 1] + Envelope.encodeCall(calls[0])))
        return out
    }
}
