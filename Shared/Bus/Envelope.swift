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
enum Envelope {
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

    static func encodeCall(_ h: CallHeaderFields) -> [UInt8] {
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

    static func decodeCall(_ bytes: [UInt8]) -> CallHeaderFields? {
        bytes.withUnsafeBytes { decodeCall($0) }
    }

    static func decodeCall(_ bytes: UnsafeRawBufferPointer) -> CallHeaderFields? {
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
    static func firstLengthDelimited(field: UInt64, in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
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

    static func encodeReply(requestID: UInt64, code: RPCCode, message: String) -> [UInt8] {
        var msg = Exam__V1__ReplyHeader()
        exam__v1__reply_header__init(&msg)
        msg.request_id = requestID
        msg.code = Exam__V1__StatusCode(rawValue: UInt32(bitPattern: code.rawValue))
        return message.withCString { text in
            msg.message = UnsafeMutablePointer(mutating: text)
            return withUnsafeMutablePointer(to: &msg) { pack(UnsafeMutableRawPointer($0)) }
        }
    }

    static func decodeReply(_ bytes: [UInt8]) -> ReplyHeaderFields? {
        bytes.withUnsafeBytes { decodeReply($0) }
    }

    static func decodeReply(_ bytes: UnsafeRawBufferPointer) -> ReplyHeaderFields? {
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyFrame
        guard let m = exam__v1__reply_header__unpack(nil, bytes.count, base) else { return nil }
        defer { exam__v1__reply_header__free_unpacked(m, nil) }
        guard var message = text(m.pointee.message) else { return nil }
        let raw = Int32(bitPattern: m.pointee.code.rawValue)
        let code = RPCCode(rawValue: raw) ?? .unknown
        if RPCCode(rawValue: raw) == nil { message = "status \(raw) (not a gRPC code): " + message }
        return ReplyHeaderFields(requestID: m.pointee.request_id, code: code, message: message)
    }

    static func encodeEvent(_ h: EventHeaderFields, payload: [UInt8] = []) -> [UInt8] {
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

    static func decodeEvent(_ bytes: [UInt8]) -> EventHeaderFields? {
        guard let m = bytes.withUnsafeBufferPointer({ exam__v1__event_header__unpack(nil, $0.count, $0.baseAddress ?? emptyFrame) }) else { return nil }
        defer { exam__v1__event_header__free_unpacked(m, nil) }
        guard let topic = text(m.pointee.topic), let publisher = text(m.pointee.publisher),
              let stream = text(m.pointee.stream), let type = text(m.pointee.payload_type) else { return nil }
        return EventHeaderFields(topic: topic, publisher: publisher, stream: stream, seq: m.pointee.seq,
                                 serverTimeMs: m.pointee.server_time_ms, payloadType: type)
    }
}

nonisolated(unsafe) private let emptyFrame = UnsafePointer(UnsafeMutablePointer<UInt8>.allocate(capacity: 1))

/// Decodes event headers, reusing the Swift strings of the last header for
/// the fields that rarely change (publisher, stream, payload type, topic):
/// one subscriber sees the same few values again and again.
struct EventHeaderDecoder {
    /// A field's last value, as Swift sees it and as C bytes (with the NUL)
    /// to compare with: `String.withCString` copies small strings.
    struct Cached {
        var text = ""
        var bytes: [CChar] = [0]

        /// Takes `p`'s value, reusing the last one when it is the same.
        mutating func take(_ p: UnsafeMutablePointer<CChar>?) -> Bool {
            guard let p else {
                if text.isEmpty { return true }
                self = Cached()
                return true
            }
            if bytes.withUnsafeBufferPointer({ strcmp($0.baseAddress!, p) == 0 }) { return true }
            guard let s = String(validatingCString: p) else { return false }
            text = s
            bytes = Array(UnsafeBufferPointer(start: p, count: strlen(p) + 1))
            return true
        }
    }

    private var publisher = Cached(), stream = Cached(), payloadType = Cached(), topic = Cached()

    mutating func decode(_ bytes: [UInt8]) -> EventHeaderFields? {
        bytes.withUnsafeBytes { decode($0)?.header }
    }

    /// The header and the payload it carries (empty for HEAD and for the
    /// first version's three-frame events, whose payload is the next frame).
    mutating func decode(_ bytes: UnsafeRawBufferPointer) -> (header: EventHeaderFields, payload: [UInt8])? {
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyFrame
        guard let m = exam__v1__event_header__unpack(nil, bytes.count, base) else { return nil }
        defer { exam__v1__event_header__free_unpacked(m, nil) }
        guard topic.take(m.pointee.topic), publisher.take(m.pointee.publisher), stream.take(m.pointee.stream),
              payloadType.take(m.pointee.payload_type) else { return nil }
        let p = m.pointee.payload
        let payload = p.len > 0 && p.data != nil ? Array(UnsafeBufferPointer(start: p.data, count: p.len)) : []
        return (EventHeaderFields(topic: topic.text, publisher: publisher.text, stream: stream.text, seq: m.pointee.seq,
                                  serverTimeMs: m.pointee.server_time_ms, payloadType: payloadType.text), payload)
    }
}
