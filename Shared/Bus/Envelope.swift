import CProtobufC
import ExamProtoC
import Foundation

/// The first frame of a call (exam.v1.CallHeader).
public struct CallHeaderFields: Sendable, Equatable {
    public var method: String
    public var requestID: UInt64
    public var deadlineUnixMs: Int64
    public var caller: String
    public var principal: CallPrincipal

    public init(method: String, requestID: UInt64, deadlineUnixMs: Int64, caller: String, principal: CallPrincipal) {
        self.method = method
        self.requestID = requestID
        self.deadlineUnixMs = deadlineUnixMs
        self.caller = caller
        self.principal = principal
    }
}

/// The first frame of a reply (exam.v1.ReplyHeader).
public struct ReplyHeaderFields: Sendable, Equatable {
    public var requestID: UInt64
    public var code: RPCCode
    public var message: String
    /// RESOURCE_EXHAUSTED: come back after this many milliseconds (0: not said).
    public var retryAfterMs: UInt32 = 0
}

/// The header frame of an event (exam.v1.EventHeader).
public struct EventHeaderFields: Sendable, Equatable {
    public var topic: String
    public var publisher: String
    public var stream: String
    public var seq: UInt64
    public var serverTimeMs: Int64
    public var payloadType: String

    public init(topic: String, publisher: String, stream: String, seq: UInt64, serverTimeMs: Int64, payloadType: String) {
        self.topic = topic
        self.publisher = publisher
        self.stream = stream
        self.seq = seq
        self.serverTimeMs = serverTimeMs
        self.payloadType = payloadType
    }
}

/// Packs and unpacks the three envelope headers directly through protoc-c's
/// structs: they are on every call and event, so they skip the generic codec.
package enum Envelope {
    private static func text(_ p: UnsafeMutablePointer<CChar>?) -> String? {
        guard let p else { return "" }
        return String(validatingCString: p)
    }

    private static func pack(_ m: UnsafeMutableRawPointer) -> [UInt8] {
        let cmsg = m.assumingMemoryBound(to: ProtobufCMessage.self)
        let size = protobuf_c_message_get_packed_size(cmsg)
        return [UInt8](unsafeUninitializedCapacity: size) { buf, n in
            n = size == 0 ? 0 : protobuf_c_message_pack(cmsg, buf.baseAddress!)
        }
    }

    package static func encodeCall(_ h: CallHeaderFields) -> [UInt8] {
        var msg = Exam__V1__CallHeader()
        exam__v1__call_header__init(&msg)
        var who = Exam__V1__Principal()
        exam__v1__principal__init(&who)
        msg.request_id = h.requestID
        msg.deadline_unix_ms = h.deadlineUnixMs
        who.role = Exam__V1__Role(rawValue: UInt32(bitPattern: h.principal.role.rawValue))
        return h.method.withCString { method in
            h.caller.withCString { caller in
                h.principal.id.withCString { id in
                    msg.method = UnsafeMutablePointer(mutating: method)
                    msg.caller = UnsafeMutablePointer(mutating: caller)
                    who.id = UnsafeMutablePointer(mutating: id)
                    return withUnsafeMutablePointer(to: &who) { whoPtr in
                        if h.principal != .anonymous { msg.actor = whoPtr }
                        return withUnsafeMutablePointer(to: &msg) { pack(UnsafeMutableRawPointer($0)) }
                    }
                }
            }
        }
    }

    package static func decodeCall(_ bytes: [UInt8]) -> CallHeaderFields? {
        bytes.withUnsafeBytes { decodeCall($0) }
    }

    package static func decodeCall(_ bytes: UnsafeRawBufferPointer) -> CallHeaderFields? {
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyFrame
        guard let m = exam__v1__call_header__unpack(nil, bytes.count, base) else { return nil }
        defer { exam__v1__call_header__free_unpacked(m, nil) }
        guard var method = text(m.pointee.method), let caller = text(m.pointee.caller) else { return nil }
        // protobuf-c keeps strings as C strings: a method name with a NUL
        // byte would be read as the name before it ("exam.v1.Node/Ping\0junk"
        // served as Ping). The name is taken from the wire whole instead, so
        // such a name is no known method: UNIMPLEMENTED, as bus.proto says.
        if method.utf8.count + 1 < bytes.count, let raw = firstLengthDelimited(field: 1, in: bytes), raw.count != method.utf8.count {
            method = String(decoding: raw, as: UTF8.self)
        }
        var principal = CallPrincipal.anonymous
        if let a = m.pointee.actor {
            guard let id = text(a.pointee.id) else { return nil }
            principal = CallPrincipal(id: id, role: ActorRole(rawValue: Int32(bitPattern: a.pointee.role.rawValue)) ?? .unspecified)
        }
        return CallHeaderFields(method: method, requestID: m.pointee.request_id,
                                deadlineUnixMs: m.pointee.deadline_unix_ms, caller: caller, principal: principal)
    }

    /// The bytes of the first top-level length-delimited `field` of a
    /// protobuf message, or nil (absent, or the bytes are not well formed:
    /// then protobuf-c refused them already).
    package static func firstLengthDelimited(field: UInt64, in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var i = 0
        func varint() -> UInt64? {
            var v: UInt64 = 0, shift: UInt64 = 0
            while i < bytes.count, shift < 64 {
                let b = bytes[i]
                i += 1
                v |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
            }
            return nil
        }
        while i < bytes.count {
            guard let key = varint() else { return nil }
            switch key & 7 {
            case 0: guard varint() != nil else { return nil }
            case 1: i += 8
            case 5: i += 4
            case 2:
                guard let n = varint(), n <= UInt64(bytes.count - i) else { return nil }
                if key >> 3 == field { return UnsafeRawBufferPointer(rebasing: bytes[i..<(i + Int(n))]) }
                i += Int(n)
            default: return nil
            }
        }
        return nil
    }

    package static func encodeReply(requestID: UInt64, code: RPCCode, message: String, retryAfterMs: UInt32 = 0) -> [UInt8] {
        var msg = Exam__V1__ReplyHeader()
        exam__v1__reply_header__init(&msg)
        msg.request_id = requestID
        msg.retry_after_ms = retryAfterMs
        msg.code = Exam__V1__StatusCode(rawValue: UInt32(bitPattern: code.rawValue))
        return message.withCString { text in
            msg.message = UnsafeMutablePointer(mutating: text)
            return withUnsafeMutablePointer(to: &msg) { pack(UnsafeMutableRawPointer($0)) }
        }
    }

    package static func decodeReply(_ bytes: [UInt8]) -> ReplyHeaderFields? {
        bytes.withUnsafeBytes { decodeReply($0) }
    }

    package static func decodeReply(_ bytes: UnsafeRawBufferPointer) -> ReplyHeaderFields? {
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyFrame
        guard let m = exam__v1__reply_header__unpack(nil, bytes.count, base) else { return nil }
        defer { exam__v1__reply_header__free_unpacked(m, nil) }
        guard var message = text(m.pointee.message) else { return nil }
        let raw = Int32(bitPattern: m.pointee.code.rawValue)
        let code = RPCCode(rawValue: raw) ?? .unknown
        if RPCCode(rawValue: raw) == nil { message = "status \(raw) (not a gRPC code): " + message }
        return ReplyHeaderFields(requestID: m.pointee.request_id, code: code, message: message, retryAfterMs: m.pointee.retry_after_ms)
    }

    package static func encodeEvent(_ h: EventHeaderFields, payload: [UInt8] = []) -> [UInt8] {
        withEncodedEvent(h, payload: payload) { Array($0) }
    }

    /// Packs an event header, with the event's payload inside it (bus.proto:
    /// EVENT is [topic][EventHeader]), into a buffer on the stack and lends
    /// it to `body`: the publisher sends it from there, with no allocation
    /// per event (a large payload's buffer goes to the heap).
    static func withEncodedEvent<R>(_ h: EventHeaderFields, payload: [UInt8] = [],
                                    _ body: (UnsafeRawBufferPointer) -> R) -> R {
        var msg = Exam__V1__EventHeader()
        exam__v1__event_header__init(&msg)
        msg.seq = h.seq
        msg.server_time_ms = h.serverTimeMs
        return payload.withUnsafeBufferPointer { bytes in
            // protobuf-c only reads the payload while packing.
            msg.payload = ProtobufCBinaryData(len: bytes.count, data: UnsafeMutablePointer(mutating: bytes.baseAddress))
            return packEvent(&msg, h, body)
        }
    }

    private static func packEvent<R>(_ msg: inout Exam__V1__EventHeader, _ h: EventHeaderFields,
                                     _ body: (UnsafeRawBufferPointer) -> R) -> R {
        h.topic.withCString { topic in
            h.publisher.withCString { publisher in
                h.stream.withCString { stream in
                    h.payloadType.withCString { type in
                        msg.topic = UnsafeMutablePointer(mutating: topic)
                        msg.publisher = UnsafeMutablePointer(mutating: publisher)
                        msg.stream = UnsafeMutablePointer(mutating: stream)
                        msg.payload_type = UnsafeMutablePointer(mutating: type)
                        return withUnsafeMutablePointer(to: &msg) { m in
                            let cmsg = UnsafeMutableRawPointer(m).assumingMemoryBound(to: ProtobufCMessage.self)
                            let size = protobuf_c_message_get_packed_size(cmsg)
                            return withUnsafeTemporaryAllocation(byteCount: max(size, 1), alignment: 1) { buf in
                                let n = size == 0 ? 0 : protobuf_c_message_pack(cmsg, buf.baseAddress!.assumingMemoryBound(to: UInt8.self))
                                return body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buf)[0..<n]))
                            }
                        }
                    }
                }
            }
        }
    }

    package static func decodeEvent(_ bytes: [UInt8]) -> EventHeaderFields? {
        guard let m = bytes.withUnsafeBufferPointer({ exam__v1__event_header__unpack(nil, $0.count, $0.baseAddress ?? emptyFrame) }) else { return nil }
        defer { exam__v1__event_header__free_unpacked(m, nil) }
        guard let topic = text(m.pointee.topic), let publisher = text(m.pointee.publisher),
              let stream = text(m.pointee.stream), let type = text(m.pointee.payload_type) else { return nil }
        return EventHeaderFields(topic: topic, publisher: publisher, stream: stream, seq: m.pointee.seq,
                                 serverTimeMs: m.pointee.server_time_ms, payloadType: type)
    }
}

nonisolated(unsafe) private let emptyFrame = UnsafePointer(UnsafeMutablePointer<UInt8>.allocate(capacity: 1))

// MARK: - EVENT as one frame, by hand

/// EVENT as bus.proto writes it down: one frame, the topic's UTF-8 bytes, a
/// NUL byte, then an EventHeader with the payload inside and the topic field
/// left out (the frame starts with it: ZeroMQ's prefix filter still works).
/// Written and read by hand, not through protobuf-c: an event is the bus's
/// hottest path, and the header has six fixed fields of two wire types.
package enum EventFrame {
    /// Field keys of EventHeader (tag << 3 | wire type).
    static let publisherKey: UInt8 = 2 << 3 | 2, streamKey: UInt8 = 3 << 3 | 2, seqKey: UInt8 = 4 << 3 | 0,
                timeKey: UInt8 = 5 << 3 | 0, typeKey: UInt8 = 6 << 3 | 2, payloadKey: UInt8 = 7 << 3 | 2

    @inline(__always) static func varintSize(_ v: UInt64) -> Int {
        // 1 byte per 7 bits, at least one.
        (64 - (v | 1).leadingZeroBitCount + 6) / 7
    }

    @inline(__always) static func lengthDelimitedSize(_ n: Int) -> Int { n == 0 ? 0 : 1 + varintSize(UInt64(n)) + n }

    /// The frame's size for `h` and a payload of `payloadCount` bytes.
    static func size(_ h: EventHeaderFields, payloadCount: Int) -> Int {
        h.topic.utf8.count + 1
            + lengthDelimitedSize(h.publisher.utf8.count) + lengthDelimitedSize(h.stream.utf8.count)
            + (h.seq == 0 ? 0 : 1 + varintSize(h.seq))
            + (h.serverTimeMs == 0 ? 0 : 1 + varintSize(UInt64(bitPattern: h.serverTimeMs)))
            + lengthDelimitedSize(h.payloadType.utf8.count) + lengthDelimitedSize(payloadCount)
    }

    /// Writes protobuf's wire format into a buffer sized beforehand.
    struct Writer {
        let out: UnsafeMutableRawBufferPointer
        var i = 0
        init(_ out: UnsafeMutableRawBufferPointer) { self.out = out }

        @inline(__always) mutating func byte(_ b: UInt8) {
            out[i] = b
            i += 1
        }

        @inline(__always) mutating func varint(_ v: UInt64) {
            var v = v
            while v >= 0x80 {
                byte(UInt8(truncatingIfNeeded: v) | 0x80)
                v >>= 7
            }
            byte(UInt8(v))
        }

        @inline(__always) mutating func raw(_ b: UnsafeRawBufferPointer) {
            if b.count > 0 { UnsafeMutableRawBufferPointer(rebasing: out[i..<(i + b.count)]).copyMemory(from: b) }
            i += b.count
        }

        mutating func text(_ key: UInt8, _ s: String) {
            var s = s
            s.withUTF8 { b in
                guard b.count > 0 else { return }
                byte(key)
                varint(UInt64(b.count))
                raw(UnsafeRawBufferPointer(b))
            }
        }
    }

    /// Writes the frame into `out`, exactly `size(h, payload.count)` bytes.
    static func write(_ h: EventHeaderFields, payload: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        var w = Writer(out)
        var topic = h.topic
        topic.withUTF8 { w.raw(UnsafeRawBufferPointer($0)) }
        w.byte(0)
        w.text(publisherKey, h.publisher)
        w.text(streamKey, h.stream)
        if h.seq != 0 {
            w.byte(seqKey)
            w.varint(h.seq)
        }
        if h.serverTimeMs != 0 {
            w.byte(timeKey)
            w.varint(UInt64(bitPattern: h.serverTimeMs))
        }
        w.text(typeKey, h.payloadType)
        if payload.count > 0 {
            w.byte(payloadKey)
            w.varint(UInt64(payload.count))
            w.raw(payload)
        }
        precondition(w.i == out.count, "event frame: wrote \(w.i) bytes of \(out.count)")
    }

    /// The frame as bytes (tests, tools).
    package static func encode(_ h: EventHeaderFields, payload: [UInt8]) -> [UInt8] {
        let n = size(h, payloadCount: payload.count)
        return [UInt8](unsafeUninitializedCapacity: n) { buf, count in
            payload.withUnsafeBytes { write(h, payload: $0, into: UnsafeMutableRawBufferPointer(buf)) }
            count = n
        }
    }

    /// Splits a one-frame event at its first NUL: topic and header bytes.
    package static func split(_ frame: UnsafeRawBufferPointer) -> (topic: UnsafeRawBufferPointer, header: UnsafeRawBufferPointer)? {
        guard let base = frame.baseAddress, let nul = memchr(base, 0, frame.count) else { return nil }
        let t = base.distance(to: UnsafeRawPointer(nul))
        return (UnsafeRawBufferPointer(rebasing: frame[0..<t]), UnsafeRawBufferPointer(rebasing: frame[(t + 1)...]))
    }
}

/// The publisher's side of `EventFrame`, on its reactor: the frame's parts
/// that rarely change (topic NUL publisher stream, and the payload type)
/// are kept encoded from the last event, so an event costs two compares of
/// strings, two varints and two copies of bytes into libzmq's buffer.
final class EventFrameWriter {
    private var topic = "", publisher = "", stream = "", payloadType = ""
    /// topic NUL, then the publisher and stream fields.
    private var head: [UInt8] = [0]
    private var typeField: [UInt8] = []
    private var topicHasNul = false

    /// Sends `e` as one frame (the two-frame form when its topic holds a
    /// NUL, which could not lead a one-frame event). Returns errno on failure.
    func send(_ e: OutgoingEvent, on s: ZSocket) -> Int32 {
        let h = e.header
        if h.topic != topic || h.publisher != publisher || h.stream != stream {
            topic = h.topic
            publisher = h.publisher
            stream = h.stream
            topicHasNul = topic.utf8.contains(0)
            head = EventFrame.encode(EventHeaderFields(topic: topic, publisher: publisher, stream: stream, seq: 0,
                                                       serverTimeMs: 0, payloadType: ""), payload: [])
        }
        if h.payloadType != payloadType {
            payloadType = h.payloadType
            typeField = Array(EventFrame.encode(EventHeaderFields(topic: "", publisher: "", stream: "", seq: 0,
                                                                  serverTimeMs: 0, payloadType: payloadType), payload: []).dropFirst())
        }
        if topicHasNul {
            var topic = h.topic
            let rc = topic.withUTF8 { s.sendFrame(UnsafeRawBufferPointer($0), more: true) }
            if rc != 0 { return rc }
            return Envelope.withEncodedEvent(h, payload: e.payload) { s.sendFrame($0, more: false) }
        }
        let time = UInt64(bitPattern: h.serverTimeMs)
        return e.payload.withUnsafeBytes { payload in
            head.withUnsafeBytes { head in
                typeField.withUnsafeBytes { type in
                    let size = head.count + (h.seq == 0 ? 0 : 1 + EventFrame.varintSize(h.seq))
                        + (time == 0 ? 0 : 1 + EventFrame.varintSize(time))
                        + type.count + EventFrame.lengthDelimitedSize(payload.count)
                    return s.sendFrame(size: size) { out in
                        var w = EventFrame.Writer(out)
                        w.raw(head)
                        if h.seq != 0 { w.byte(EventFrame.seqKey); w.varint(h.seq) }
                        if time != 0 { w.byte(EventFrame.timeKey); w.varint(time) }
                        w.raw(type)
                        if payload.count > 0 { w.byte(EventFrame.payloadKey); w.varint(UInt64(payload.count)); w.raw(payload) }
                        precondition(w.i == out.count, "event frame: wrote \(w.i) bytes of \(out.count)")
                    }
                }
            }
        }
    }
}

/// Decodes event headers by hand from the frames libzmq lends, reusing the
/// Swift strings of the last header for the fields that rarely change
/// (topic, publisher, stream, payload type): one subscriber sees the same
/// few values again and again, so a field costs a compare of its bytes, and
/// a String is made only when it changes.
package struct EventHeaderDecoder {
    /// A field's last value, as Swift sees it and as the bytes it came from.
    struct Cached {
        var text = ""
        var bytes: [UInt8] = []

        /// Takes `b`'s value, reusing the last one when it is the same;
        /// false when `b` is not UTF-8.
        mutating func take(_ b: UnsafeRawBufferPointer) -> Bool {
            if bytes.withUnsafeBytes({ EventHeaderDecoder.equal($0, b) }) { return true }
            guard let s = String(validating: b, as: UTF8.self) else { return false }
            text = s
            bytes = Array(b)
            return true
        }
    }

    private var publisher = Cached(), stream = Cached(), payloadType = Cached(), topic = Cached()
    /// The last header's publisher and stream fields, when they led it as
    /// the publisher writes them, and its payload type field: a header that
    /// starts with the same bytes is read with two compares (`decodeLikeLast`).
    private var leadingFields: [UInt8] = [], typeField: [UInt8] = []

    package init() {}

    mutating func decode(_ bytes: [UInt8]) -> EventHeaderFields? {
        bytes.withUnsafeBytes { decode($0)?.header }
    }

    /// The header and the payload it carries (empty for HEAD and for the
    /// first version's three-frame events, whose payload is the next frame).
    /// With `topic` (a one-frame event's prefix), the header's own topic
    /// field must be absent or the same.
    package mutating func decode(_ bytes: UnsafeRawBufferPointer, topic prefix: UnsafeRawBufferPointer? = nil)
        -> (header: EventHeaderFields, payload: [UInt8])? {
        var payload: [UInt8] = []
        guard let header = decode(bytes, topic: prefix, payload: &payload) else { return nil }
        return (header, payload)
    }

    /// The same, the payload copied into `payload` (left alone when empty).
    mutating func decode(_ bytes: UnsafeRawBufferPointer, topic prefix: UnsafeRawBufferPointer?,
                         payload: inout [UInt8]) -> EventHeaderFields? {
        if let prefix, let h = decodeLikeLast(bytes, topic: prefix, payload: &payload) { return h }
        return decodeAny(bytes, topic: prefix, payload: &payload)
    }

    /// The common case: a one-frame event from the publisher of the last one,
    /// [publisher][stream][seq][time][payload type][payload] with the same
    /// publisher, stream and payload type bytes. nil: read it the long way.
    private mutating func decodeLikeLast(_ bytes: UnsafeRawBufferPointer, topic prefix: UnsafeRawBufferPointer,
                                         payload: inout [UInt8]) -> EventHeaderFields? {
        guard !leadingFields.isEmpty, bytes.count >= leadingFields.count,
              leadingFields.withUnsafeBytes({ Self.equal($0, UnsafeRawBufferPointer(rebasing: bytes[0..<$0.count])) })
        else { return nil }
        var r = Reader(bytes)
        r.i = leadingFields.count
        var seq: UInt64 = 0, time: UInt64 = 0
        if r.peek == UInt64(EventFrame.seqKey) {
            r.i += 1
            guard let v = r.varint() else { return nil }
            seq = v
        }
        if r.peek == UInt64(EventFrame.timeKey) {
            r.i += 1
            guard let v = r.varint() else { return nil }
            time = v
        }
        if !typeField.isEmpty {
            guard r.end - r.i >= typeField.count, typeField.withUnsafeBytes({
                Self.equal($0, UnsafeRawBufferPointer(rebasing: bytes[r.i..<(r.i + $0.count)]))
            }) else { return nil }
            r.i += typeField.count
        }
        var body = Self.none
        if !r.atEnd {
            guard r.peek == UInt64(EventFrame.payloadKey) else { return nil }
            r.i += 1
            guard let field = r.lengthDelimited() else { return nil }
            body = field
        }
        guard r.atEnd, topic.take(prefix) else { return nil }
        if body.count > 0 { payload = Array(body) }
        return EventHeaderFields(topic: topic.text, publisher: publisher.text, stream: stream.text, seq: seq,
                                 serverTimeMs: Int64(bitPattern: time), payloadType: payloadType.text)
    }

    private mutating func decodeAny(_ bytes: UnsafeRawBufferPointer, topic prefix: UnsafeRawBufferPointer?,
                                    payload: inout [UInt8]) -> EventHeaderFields? {
        var leadingEnd = 0, typeRange = 0..<0
        var topicBytes = Self.none, publisherBytes = Self.none, streamBytes = Self.none, typeBytes = Self.none,
            payloadBytes = Self.none
        var seq: UInt64 = 0, time: UInt64 = 0
        var r = Reader(bytes)
        while !r.atEnd {
            let at = r.i
            guard let key = r.varint() else { return nil }
            let tag = key >> 3
            switch (tag, key & 7) {
            case (4, 0):
                guard let v = r.varint() else { return nil }
                seq = v
            case (5, 0):
                guard let v = r.varint() else { return nil }
                time = v
            case (1...3, 2), (6...7, 2):
                guard let field = r.lengthDelimited() else { return nil }
                switch tag {
                case 1: topicBytes = field
                case 2:
                    publisherBytes = field
                    if at == 0 { leadingEnd = r.i }
                case 3:
                    streamBytes = field
                    if at == leadingEnd && leadingEnd > 0 { leadingEnd = r.i }
                case 6:
                    typeBytes = field
                    typeRange = at..<r.i
                default: payloadBytes = field
                }
            case (1...7, _):
                return nil  // a known field with the wrong wire type (protobuf-c refuses it too)
            default:  // a field this version does not know: skipped
                guard r.skip(wireType: key & 7) else { return nil }
            }
        }
        if let prefix {
            guard topicBytes.count == 0 || Self.equal(topicBytes, prefix) else { return nil }
            topicBytes = prefix
        }
        guard topic.take(topicBytes), publisher.take(publisherBytes), stream.take(streamBytes),
              payloadType.take(typeBytes) else { return nil }
        // Remembered for decodeLikeLast only when both fields lead, as the
        // publisher writes them (then the bytes say exactly these values).
        let leading = publisherBytes.count > 0 && streamBytes.count > 0 && leadingEnd > 0
            && leadingEnd == 2 + publisherBytes.count + EventFrame.varintSize(UInt64(publisherBytes.count))
                + EventFrame.varintSize(UInt64(streamBytes.count)) + streamBytes.count
        leadingFields = leading ? Array(UnsafeRawBufferPointer(rebasing: bytes[0..<leadingEnd])) : []
        typeField = typeBytes.count > 0 ? Array(UnsafeRawBufferPointer(rebasing: bytes[typeRange])) : []
        if payloadBytes.count > 0 { payload = Array(payloadBytes) }
        return EventHeaderFields(topic: topic.text, publisher: publisher.text, stream: stream.text, seq: seq,
                                 serverTimeMs: Int64(bitPattern: time), payloadType: payloadType.text)
    }

    static var none: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }

    @inline(__always) static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }

    /// Reads protobuf's wire format from lent bytes, checking every length.
    struct Reader {
        let base: UnsafePointer<UInt8>?
        let end: Int
        var i = 0

        init(_ bytes: UnsafeRawBufferPointer) {
            base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
            end = bytes.count
        }

        var atEnd: Bool { i >= end }
        /// The next byte, or a value no byte has at the end.
        var peek: UInt64 { i < end && base != nil ? UInt64(base![i]) : .max }

        @inline(__always) mutating func varint() -> UInt64? {
            guard let base else { return nil }
            var v: UInt64 = 0, shift: UInt64 = 0
            while i < end, shift < 64 {
                let b = base[i]
                i += 1
                v |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
            }
            return nil
        }

        @inline(__always) mutating func lengthDelimited() -> UnsafeRawBufferPointer? {
            guard let n = varint(), n <= UInt64(end - i), let base else { return nil }
            defer { i += Int(n) }
            return UnsafeRawBufferPointer(start: base + i, count: Int(n))
        }

        mutating func skip(wireType: UInt64) -> Bool {
            switch wireType {
            case 0: return varint() != nil
            case 1, 5:
                let n = wireType == 1 ? 8 : 4
                guard end - i >= n else { return false }
                i += n
                return true
            case 2: return lengthDelimited() != nil
            default: return false
            }
        }
    }
}
