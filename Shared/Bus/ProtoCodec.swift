import CProtobufC
import ExamProtoC
import Foundation

/// What went wrong packing or unpacking a message, with the field's path.
public struct ProtoCodecError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Packs Swift mirrors to protobuf bytes and back, with protobuf-c doing the
/// wire encoding: a mirror is copied into the C struct protoc-c generated
/// (found through its descriptor), then `protobuf_c_message_pack` writes it;
/// `protobuf_c_message_unpack` reads bytes into that C struct, then the mirror
/// is read out of it. Fields are matched by their proto names (the mirrors'
/// CodingKeys), so a mirror that disagrees with protos/ fails loudly.
public enum ProtoCodec {
    public static func encode<M: ProtoMessage>(_ message: M) throws -> [UInt8] {
        let d = M.protoDescriptor
        let arena = CArena()
        let raw = arena.newMessage(d.raw)
        var writer = ProtoWriter(msg: raw, desc: d.raw, arena: arena)
        try message.protoWrite(to: &writer)
        let cmsg = raw.assumingMemoryBound(to: ProtobufCMessage.self)
        let size = protobuf_c_message_get_packed_size(cmsg)
        return [UInt8](unsafeUninitializedCapacity: size) { buf, n in
            n = size == 0 ? 0 : protobuf_c_message_pack(cmsg, buf.baseAddress!)
        }
    }

    public static func decode<M: ProtoMessage>(_ type: M.Type, from bytes: [UInt8]) throws -> M {
        try bytes.withUnsafeBufferPointer { try decode(type, from: UnsafeRawBufferPointer($0)) }
    }

    public static func decode<M: ProtoMessage>(_ type: M.Type, from data: Data) throws -> M {
        try data.withUnsafeBytes { try decode(type, from: $0) }
    }

    public static func decode<M: ProtoMessage>(_ type: M.Type, from bytes: UnsafeRawBufferPointer) throws -> M {
        let d = M.protoDescriptor
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        // protobuf-c returns NULL on anything malformed; it never trusts the input.
        guard let cmsg = protobuf_c_message_unpack(d.raw, nil, bytes.count, base ?? emptyByte) else {
            throw ProtoCodecError("not a valid \(d.name) (\(bytes.count) bytes)")
        }
        defer { protobuf_c_message_free_unpacked(cmsg, nil) }
        do {
            return try M(protoReader: ProtoReader(msg: UnsafeRawPointer(cmsg), desc: d.raw))
        } catch let e as ProtoCodecError {
            throw ProtoCodecError("\(d.name): \(e.description)")
        }
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ p: [CodingKey]) -> String { p.isEmpty ? "message" : "field '" + p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") + "'" }
        switch e {
        case .dataCorrupted(let c): return "\(path(c.codingPath)): \(c.debugDescription)"
        case .keyNotFound(let k, let c): return "\(path(c.codingPath + [k])): \(c.debugDescription)"
        case .typeMismatch(_, let c): return "\(path(c.codingPath)): \(c.debugDescription)"
        case .valueNotFound(_, let c): return "\(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "\(e)"
        }
    }
}

nonisolated(unsafe) private let emptyByte = UnsafePointer(UnsafeMutablePointer<UInt8>.allocate(capacity: 1))

// MARK: - Memory for one pack

/// Every C allocation made while building one message, freed together after
/// `protobuf_c_message_pack` returns.
@usableFromInline final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    @usableFromInline func alloc(_ size: Int) -> UnsafeMutableRawPointer {
        let p = calloc(1, max(size, 1))!
        blocks.append(p)
        return p
    }

    @usableFromInline func newMessage(_ d: UnsafePointer<ProtobufCMessageDescriptor>) -> UnsafeMutableRawPointer {
        let p = alloc(d.pointee.sizeof_message)
        d.pointee.message_init(p.assumingMemoryBound(to: ProtobufCMessage.self))
        return p
    }

    @usableFromInline func cString(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }

    @usableFromInline func copy(_ d: Data) -> UnsafeMutablePointer<UInt8>? {
        guard !d.isEmpty else { return nil }
        let p = alloc(d.count)
        d.copyBytes(to: p.assumingMemoryBound(to: UInt8.self), count: d.count)
        return p.assumingMemoryBound(to: UInt8.self)
    }

    deinit { for b in blocks { free(b) } }
}

// MARK: - Values

/// A leaf value on its way into or out of a C struct.
@usableFromInline enum ProtoScalar {
    case bool(Bool), int32(Int32), int64(Int64), uint32(UInt32), uint64(UInt64)
    case float(Float), double(Double), string(String), bytes(Data)

    var typeName: String {
        switch self {
        case .bool: "Bool"
        case .int32: "Int32"
        case .int64: "Int64"
        case .uint32: "UInt32"
        case .uint64: "UInt64"
        case .float: "Float"
        case .double: "Double"
        case .string: "String"
        case .bytes: "Data"
        }
    }
}

@usableFromInline typealias FieldPtr = UnsafePointer<ProtobufCFieldDescriptor>

extension UnsafePointer where Pointee == ProtobufCFieldDescriptor {
    @usableFromInline var protoName: String { String(cString: pointee.name) }
    @usableFromInline var isRepeated: Bool { pointee.label == PROTOBUF_C_LABEL_REPEATED }
    @usableFromInline var isOneof: Bool { pointee.flags & UInt32(PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue) != 0 }
    @usableFromInline var type: ProtobufCType { pointee.type }
    @usableFromInline var messageDescriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        pointee.descriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
    }
    var typeName: String {
        switch pointee.type {
        case PROTOBUF_C_TYPE_INT32, PROTOBUF_C_TYPE_SINT32, PROTOBUF_C_TYPE_SFIXED32: "int32"
        case PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_SINT64, PROTOBUF_C_TYPE_SFIXED64: "int64"
        case PROTOBUF_C_TYPE_UINT32, PROTOBUF_C_TYPE_FIXED32: "uint32"
        case PROTOBUF_C_TYPE_UINT64, PROTOBUF_C_TYPE_FIXED64: "uint64"
        case PROTOBUF_C_TYPE_BOOL: "bool"
        case PROTOBUF_C_TYPE_FLOAT: "float"
        case PROTOBUF_C_TYPE_DOUBLE: "double"
        case PROTOBUF_C_TYPE_STRING: "string"
        case PROTOBUF_C_TYPE_BYTES: "bytes"
        case PROTOBUF_C_TYPE_ENUM: "enum"
        default: "message"
        }
    }
    /// Bytes one element takes in the C struct (or in a repeated array).
    @usableFromInline var slotSize: Int {
        switch pointee.type {
        case PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_SINT64, PROTOBUF_C_TYPE_SFIXED64,
             PROTOBUF_C_TYPE_UINT64, PROTOBUF_C_TYPE_FIXED64, PROTOBUF_C_TYPE_DOUBLE: 8
        case PROTOBUF_C_TYPE_STRING, PROTOBUF_C_TYPE_MESSAGE: MemoryLayout<UnsafeRawPointer>.size
        case PROTOBUF_C_TYPE_BYTES: MemoryLayout<ProtobufCBinaryData>.size
        default: 4
        }
    }
}

func lookupField(_ desc: UnsafePointer<ProtobufCMessageDescriptor>, _ name: String) -> FieldPtr? {
    protobuf_c_message_descriptor_get_field_by_name(desc, name)
}

/// Writes a leaf into its slot, checking that the Swift type fits the proto type.
@usableFromInline func storeScalar(_ v: ProtoScalar, _ f: FieldPtr, at p: UnsafeMutableRawPointer, arena: CArena) throws {
    switch (f.type, v) {
    case (PROTOBUF_C_TYPE_INT32, .int32(let x)), (PROTOBUF_C_TYPE_SINT32, .int32(let x)),
         (PROTOBUF_C_TYPE_SFIXED32, .int32(let x)), (PROTOBUF_C_TYPE_ENUM, .int32(let x)):
        p.storeBytes(of: x, as: Int32.self)
    case (PROTOBUF_C_TYPE_INT64, .int64(let x)), (PROTOBUF_C_TYPE_SINT64, .int64(let x)),
         (PROTOBUF_C_TYPE_SFIXED64, .int64(let x)):
        p.storeBytes(of: x, as: Int64.self)
    case (PROTOBUF_C_TYPE_UINT32, .uint32(let x)), (PROTOBUF_C_TYPE_FIXED32, .uint32(let x)):
        p.storeBytes(of: x, as: UInt32.self)
    case (PROTOBUF_C_TYPE_UINT64, .uint64(let x)), (PROTOBUF_C_TYPE_FIXED64, .uint64(let x)):
        p.storeBytes(of: x, as: UInt64.self)
    case (PROTOBUF_C_TYPE_BOOL, .bool(let b)):
        p.storeBytes(of: protobuf_c_boolean(b ? 1 : 0), as: protobuf_c_boolean.self)
    case (PROTOBUF_C_TYPE_FLOAT, .float(let x)):
        p.storeBytes(of: x, as: Float.self)
    case (PROTOBUF_C_TYPE_DOUBLE, .double(let x)):
        p.storeBytes(of: x, as: Double.self)
    case (PROTOBUF_C_TYPE_STRING, .string(let s)):
        // C strings end at NUL: a NUL inside would be cut off silently.
        if s.utf8.contains(0) { throw ProtoCodecError("field '\(f.protoName)' contains a NUL character") }
        p.storeBytes(of: arena.cString(s), as: UnsafeMutablePointer<CChar>?.self)
    case (PROTOBUF_C_TYPE_BYTES, .bytes(let d)):
        p.storeBytes(of: ProtobufCBinaryData(len: d.count, data: arena.copy(d)), as: ProtobufCBinaryData.self)
    default:
        throw ProtoCodecError("field '\(f.protoName)' is \(f.typeName) in protos/, the Swift value is \(v.typeName)")
    }
}

/// Reads a leaf from its slot.
@usableFromInline func loadScalar(_ f: FieldPtr, at p: UnsafeRawPointer) throws -> ProtoScalar {
    switch f.type {
    case PROTOBUF_C_TYPE_INT32, PROTOBUF_C_TYPE_SINT32, PROTOBUF_C_TYPE_SFIXED32, PROTOBUF_C_TYPE_ENUM:
        return .int32(p.load(as: Int32.self))
    case PROTOBUF_C_TYPE_INT64, PROTOBUF_C_TYPE_SINT64, PROTOBUF_C_TYPE_SFIXED64:
        return .int64(p.load(as: Int64.self))
    case PROTOBUF_C_TYPE_UINT32, PROTOBUF_C_TYPE_FIXED32:
        return .uint32(p.load(as: UInt32.self))
    case PROTOBUF_C_TYPE_UINT64, PROTOBUF_C_TYPE_FIXED64:
        return .uint64(p.load(as: UInt64.self))
    case PROTOBUF_C_TYPE_BOOL:
        return .bool(p.load(as: protobuf_c_boolean.self) != 0)
    case PROTOBUF_C_TYPE_FLOAT:
        return .float(p.load(as: Float.self))
    case PROTOBUF_C_TYPE_DOUBLE:
        return .double(p.load(as: Double.self))
    case PROTOBUF_C_TYPE_STRING:
        guard let cs = p.load(as: UnsafePointer<CChar>?.self) else { return .string("") }
        // protobuf-c does not check UTF-8; a peer's bytes are not trusted.
        guard let s = String(validatingCString: cs) else {
            throw ProtoCodecError("field '\(f.protoName)' is not valid UTF-8")
        }
        return .string(s)
    case PROTOBUF_C_TYPE_BYTES:
        let b = p.load(as: ProtobufCBinaryData.self)
        guard b.len > 0, let data = b.data else { return .bytes(Data()) }
        return .bytes(Data(bytes: data, count: b.len))
    default:
        throw ProtoCodecError("field '\(f.protoName)' is a message, not a value")
    }
}

// MARK: - Encoding

final class MessageEncoder: Encoder {
    let msg: UnsafeMutableRawPointer
    let desc: UnsafePointer<ProtobufCMessageDescriptor>
    let arena: CArena
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    /// Set when the value used the Encoder in a way a message cannot take
    /// (the container calls cannot throw).
    var failure: Error?

    init(msg: UnsafeMutableRawPointer, desc: UnsafePointer<ProtobufCMessageDescriptor>, arena: CArena, codingPath: [CodingKey]) {
        self.msg = msg
        self.desc = desc
        self.arena = arena
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(MessageKeyedEncoding<Key>(encoder: self))
    }
    func unkeyedContainer() -> UnkeyedEncodingContainer {
        failure = failure ?? ProtoCodecError("a message encodes with keys, not as a list")
        return ListCollector(field: nil, arena: arena, codingPath: codingPath)
    }
    func singleValueContainer() -> SingleValueEncodingContainer {
        failure = failure ?? ProtoCodecError("a message encodes with keys, not as a single value")
        return ScalarCapture(codingPath: codingPath)
    }

    func field(_ key: CodingKey) throws -> FieldPtr {
        guard let f = lookupField(desc, key.stringValue) else {
            throw ProtoCodecError("\(String(cString: desc.pointee.name)) has no field '\(key.stringValue)' in protos/")
        }
        return f
    }

    func slot(_ f: FieldPtr) -> UnsafeMutableRawPointer { msg.advanced(by: Int(f.pointee.offset)) }

    func markOneof(_ f: FieldPtr) throws {
        guard f.isOneof else { return }
        let casePtr = msg.advanced(by: Int(f.pointee.quantifier_offset))
        let current = casePtr.load(as: UInt32.self)
        if current != 0 && current != f.pointee.id {
            throw ProtoCodecError("field '\(f.protoName)' and field #\(current) belong to the same oneof: set only one")
        }
        casePtr.storeBytes(of: f.pointee.id, as: UInt32.self)
    }

    func encodeScalar(_ v: ProtoScalar, key: CodingKey) throws {
        let f = try field(key)
        if f.isRepeated { throw ProtoCodecError("field '\(f.protoName)' is repeated: give a list") }
        try storeScalar(v, f, at: slot(f), arena: arena)
        try markOneof(f)
    }

    func encodeValue<T: Encodable>(_ value: T, key: CodingKey) throws {
        let f = try field(key)
        let path = codingPath + [key]
        if f.isRepeated {
            let list = ListCollector(field: f, arena: arena, codingPath: path)
            try value.encode(to: ListEncoder(list))
            try list.finish(into: msg)
        } else if f.type == PROTOBUF_C_TYPE_MESSAGE {
            let sub = arena.newMessage(f.messageDescriptor)
            let e = MessageEncoder(msg: sub, desc: f.messageDescriptor, arena: arena, codingPath: path)
            try value.encode(to: e)
            if let err = e.failure { throw err }
            slot(f).storeBytes(of: sub, as: UnsafeMutableRawPointer?.self)
            try markOneof(f)
        } else if let d = value as? Data {
            try storeScalar(.bytes(d), f, at: slot(f), arena: arena)
            try markOneof(f)
        } else {
            let capture = ScalarCapture(codingPath: path)
            try value.encode(to: capture)
            guard let v = capture.value else { throw ProtoCodecError("field '\(f.protoName)': value did not encode to a single value") }
            try storeScalar(v, f, at: slot(f), arena: arena)
            try markOneof(f)
        }
    }
}

struct MessageKeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: MessageEncoder
    var codingPath: [CodingKey] { encoder.codingPath }

    mutating func encodeNil(forKey key: Key) throws {}
    mutating func encode(_ value: Bool, forKey key: Key) throws { try encoder.encodeScalar(.bool(value), key: key) }
    mutating func encode(_ value: String, forKey key: Key) throws { try encoder.encodeScalar(.string(value), key: key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try encoder.encodeScalar(.double(value), key: key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try encoder.encodeScalar(.float(value), key: key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try encoder.encodeScalar(.int32(value), key: key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try encoder.encodeScalar(.int64(value), key: key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try encoder.encodeScalar(.uint32(value), key: key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try encoder.encodeScalar(.uint64(value), key: key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try encoder.encodeScalar(.int64(Int64(value)), key: key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try encoder.encodeScalar(.int32(Int32(value)), key: key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try encoder.encodeScalar(.int32(Int32(value)), key: key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encoder.encodeScalar(.uint64(UInt64(value)), key: key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try encoder.encodeScalar(.uint32(UInt32(value)), key: key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try encoder.encodeScalar(.uint32(UInt32(value)), key: key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try encoder.encodeValue(value, key: key) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        encoder.failure = encoder.failure ?? ProtoCodecError("nested containers are not protobuf fields ('\(key.stringValue)')")
        return KeyedEncodingContainer(MessageKeyedEncoding<NestedKey>(encoder: encoder))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        encoder.failure = encoder.failure ?? ProtoCodecError("nested containers are not protobuf fields ('\(key.stringValue)')")
        return ListCollector(field: nil, arena: encoder.arena, codingPath: codingPath)
    }
    mutating func superEncoder() -> Encoder { encoder }
    mutating func superEncoder(forKey key: Key) -> Encoder { encoder }
}

/// Captures the single value a leaf type (an enum, a wrapper) encodes to.
final class ScalarCapture: Encoder, SingleValueEncodingContainer {
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var value: ProtoScalar?
    init(codingPath: [CodingKey]) { self.codingPath = codingPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(RejectingKeyed<Key>(codingPath: codingPath))
    }
    func unkeyedContainer() -> UnkeyedEncodingContainer { ListCollector(field: nil, arena: CArena(), codingPath: codingPath) }
    func singleValueContainer() -> SingleValueEncodingContainer { self }

    func encodeNil() throws { throw ProtoCodecError("nil is not a protobuf value") }
    func encode(_ v: Bool) throws { value = .bool(v) }
    func encode(_ v: String) throws { value = .string(v) }
    func encode(_ v: Double) throws { value = .double(v) }
    func encode(_ v: Float) throws { value = .float(v) }
    func encode(_ v: Int32) throws { value = .int32(v) }
    func encode(_ v: Int64) throws { value = .int64(v) }
    func encode(_ v: UInt32) throws { value = .uint32(v) }
    func encode(_ v: UInt64) throws { value = .uint64(v) }
    func encode(_ v: Int) throws { value = .int64(Int64(v)) }
    func encode(_ v: Int8) throws { value = .int32(Int32(v)) }
    func encode(_ v: Int16) throws { value = .int32(Int32(v)) }
    func encode(_ v: UInt) throws { value = .uint64(UInt64(v)) }
    func encode(_ v: UInt8) throws { value = .uint32(UInt32(v)) }
    func encode(_ v: UInt16) throws { value = .uint32(UInt32(v)) }
    func encode<T: Encodable>(_ v: T) throws {
        if let d = v as? Data { value = .bytes(d); return }
        try v.encode(to: self)
    }
}

struct RejectingKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let codingPath: [CodingKey]
    mutating func encodeNil(forKey key: Key) throws { throw err() }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { throw err() }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(RejectingKeyed<NestedKey>(codingPath: codingPath))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer { ListCollector(field: nil, arena: CArena(), codingPath: codingPath) }
    mutating func superEncoder() -> Encoder { ScalarCapture(codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> Encoder { ScalarCapture(codingPath: codingPath) }
    func err() -> ProtoCodecError { ProtoCodecError("a keyed value where protos/ has a single value") }
}

/// The Encoder a repeated field's array encodes into.
struct ListEncoder: Encoder {
    let list: ListCollector
    init(_ list: ListCollector) { self.list = list }
    var codingPath: [CodingKey] { list.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        list.failure = list.failure ?? ProtoCodecError("a repeated field takes a list")
        return KeyedEncodingContainer(RejectingKeyed<Key>(codingPath: codingPath))
    }
    func unkeyedContainer() -> UnkeyedEncodingContainer { list }
    func singleValueContainer() -> SingleValueEncodingContainer {
        list.failure = list.failure ?? ProtoCodecError("a repeated field takes a list")
        return ScalarCapture(codingPath: codingPath)
    }
}

/// Collects a repeated field's elements, then writes the C array and count.
final class ListCollector: UnkeyedEncodingContainer {
    let field: FieldPtr?
    let arena: CArena
    let codingPath: [CodingKey]
    var failure: Error?
    private var scalars: [ProtoScalar] = []
    private var messages: [UnsafeMutableRawPointer] = []
    var count: Int { scalars.count + messages.count }

    init(field: FieldPtr?, arena: CArena, codingPath: [CodingKey]) {
        self.field = field
        self.arena = arena
        self.codingPath = codingPath
    }

    private func add(_ v: ProtoScalar) throws {
        guard field != nil else { throw ProtoCodecError("a list where protos/ has no repeated field") }
        scalars.append(v)
    }

    func encodeNil() throws { throw ProtoCodecError("nil is not a protobuf list element") }
    func encode(_ v: Bool) throws { try add(.bool(v)) }
    func encode(_ v: String) throws { try add(.string(v)) }
    func encode(_ v: Double) throws { try add(.double(v)) }
    func encode(_ v: Float) throws { try add(.float(v)) }
    func encode(_ v: Int32) throws { try add(.int32(v)) }
    func encode(_ v: Int64) throws { try add(.int64(v)) }
    func encode(_ v: UInt32) throws { try add(.uint32(v)) }
    func encode(_ v: UInt64) throws { try add(.uint64(v)) }
    func encode(_ v: Int) throws { try add(.int64(Int64(v))) }
    func encode(_ v: Int8) throws { try add(.int32(Int32(v))) }
    func encode(_ v: Int16) throws { try add(.int32(Int32(v))) }
    func encode(_ v: UInt) throws { try add(.uint64(UInt64(v))) }
    func encode(_ v: UInt8) throws { try add(.uint32(UInt32(v))) }
    func encode(_ v: UInt16) throws { try add(.uint32(UInt32(v))) }
    func encode<T: Encodable>(_ value: T) throws {
        guard let f = field else { throw ProtoCodecError("a list where protos/ has no repeated field") }
        if f.type == PROTOBUF_C_TYPE_MESSAGE {
            let sub = arena.newMessage(f.messageDescriptor)
            let e = MessageEncoder(msg: sub, desc: f.messageDescriptor, arena: arena, codingPath: codingPath)
            try value.encode(to: e)
            if let err = e.failure { throw err }
            messages.append(sub)
        } else if let d = value as? Data {
            try add(.bytes(d))
        } else {
            let capture = ScalarCapture(codingPath: codingPath)
            try value.encode(to: capture)
            guard let v = capture.value else { throw ProtoCodecError("field '\(f.protoName)': element did not encode to a single value") }
            try add(v)
        }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        failure = failure ?? ProtoCodecError("lists of lists are not protobuf")
        return KeyedEncodingContainer(RejectingKeyed<NestedKey>(codingPath: codingPath))
    }
    func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        failure = failure ?? ProtoCodecError("lists of lists are not protobuf")
        return ListCollector(field: nil, arena: arena, codingPath: codingPath)
    }
    func superEncoder() -> Encoder { ScalarCapture(codingPath: codingPath) }

    func finish(into msg: UnsafeMutableRawPointer) throws {
        if let failure { throw failure }
        guard let f = field else { return }
        let n = count
        guard n > 0 else { return }
        let size = f.slotSize
        let array = arena.alloc(n * size)
        if f.type == PROTOBUF_C_TYPE_MESSAGE {
            for (i, m) in messages.enumerated() {
                array.advanced(by: i * size).storeBytes(of: m, as: UnsafeMutableRawPointer.self)
            }
        } else {
            for (i, v) in scalars.enumerated() {
                try storeScalar(v, f, at: array.advanced(by: i * size), arena: arena)
            }
        }
        msg.advanced(by: Int(f.pointee.quantifier_offset)).storeBytes(of: n, as: Int.self)
        msg.advanced(by: Int(f.pointee.offset)).storeBytes(of: array, as: UnsafeMutableRawPointer?.self)
    }
}

// MARK: - Decoding

struct ProtoKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue; intValue = nil }
    init(intValue: Int) { self.stringValue = "\(intValue)"; self.intValue = intValue }
}

final class MessageDecoder: Decoder {
    let msg: UnsafeRawPointer
    let desc: UnsafePointer<ProtobufCMessageDescriptor>
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(msg: UnsafeRawPointer, desc: UnsafePointer<ProtobufCMessageDescriptor>, codingPath: [CodingKey]) {
        self.msg = msg
        self.desc = desc
        self.codingPath = codingPath
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(MessageKeyedDecoding<Key>(decoder: self))
    }
    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "a message is not a list"))
    }
    func singleValueContainer() throws -> SingleValueDecodingContainer {
        throw DecodingError.typeMismatch(Any.self, .init(codingPath: codingPath, debugDescription: "a message is not a single value"))
    }

    func field(_ key: CodingKey) throws -> FieldPtr {
        guard let f = lookupField(desc, key.stringValue) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath,
                debugDescription: "\(String(cString: desc.pointee.name)) has no such field in protos/"))
        }
        return f
    }

    func slot(_ f: FieldPtr) -> UnsafeRawPointer { msg.advanced(by: Int(f.pointee.offset)) }

    func isPresent(_ f: FieldPtr) -> Bool {
        if f.isOneof {
            return msg.advanced(by: Int(f.pointee.quantifier_offset)).load(as: UInt32.self) == f.pointee.id
        }
        if f.type == PROTOBUF_C_TYPE_MESSAGE && !f.isRepeated {
            return slot(f).load(as: UnsafeRawPointer?.self) != nil
        }
        return true
    }

    func scalar(_ key: CodingKey) throws -> ProtoScalar {
        let f = try field(key)
        if f.isRepeated || f.type == PROTOBUF_C_TYPE_MESSAGE {
            throw DecodingError.typeMismatch(Any.self, .init(codingPath: codingPath + [key], debugDescription: "is \(f.isRepeated ? "repeated" : "a message") in protos/"))
        }
        do { return try loadScalar(f, at: slot(f)) } catch let e as ProtoCodecError {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath + [key], debugDescription: e.description))
        }
    }

    func value<T: Decodable>(_ type: T.Type, key: CodingKey) throws -> T {
        let f = try field(key)
        let path = codingPath + [key]
        if f.isRepeated {
            let n = msg.advanced(by: Int(f.pointee.quantifier_offset)).load(as: Int.self)
            let array = slot(f).load(as: UnsafeRawPointer?.self)
            return try T(from: ListDecoder(field: f, array: array, count: array == nil ? 0 : n, codingPath: path))
        }
        if f.type == PROTOBUF_C_TYPE_MESSAGE {
            guard let sub = slot(f).load(as: UnsafeRawPointer?.self) else {
                throw DecodingError.valueNotFound(T.self, .init(codingPath: path, debugDescription: "is not set"))
            }
            return try T(from: MessageDecoder(msg: sub, desc: f.messageDescriptor, codingPath: path))
        }
        let v: ProtoScalar
        do { v = try loadScalar(f, at: slot(f)) } catch let e as ProtoCodecError {
            throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: e.description))
        }
        if T.self == Data.self, case .bytes(let d) = v { return d as! T }
        return try T(from: ScalarDecoder(value: v, codingPath: path))
    }
}

struct MessageKeyedDecoding<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: MessageDecoder
    var codingPath: [CodingKey] { decoder.codingPath }
    var allKeys: [Key] {
        let d = decoder.desc.pointee
        return (0..<Int(d.n_fields)).compactMap { i -> Key? in
            let f = d.fields.advanced(by: i)
            return decoder.isPresent(f) ? Key(stringValue: f.protoName) : nil
        }
    }

    func contains(_ key: Key) -> Bool {
        guard let f = lookupField(decoder.desc, key.stringValue) else { return false }
        return decoder.isPresent(f)
    }
    func decodeNil(forKey key: Key) throws -> Bool { !contains(key) }

    private func mismatch<T>(_ t: T.Type, _ v: ProtoScalar, _ key: Key) -> DecodingError {
        DecodingError.typeMismatch(T.self, .init(codingPath: codingPath + [key], debugDescription: "holds \(v.typeName), not \(T.self)"))
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        let v = try decoder.scalar(key); if case .bool(let x) = v { return x }; throw mismatch(type, v, key)
    }
    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        let v = try decoder.scalar(key); if case .string(let x) = v { return x }; throw mismatch(type, v, key)
    }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        let v = try decoder.scalar(key); if case .double(let x) = v { return x }; throw mismatch(type, v, key)
    }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        let v = try decoder.scalar(key); if case .float(let x) = v { return x }; throw mismatch(type, v, key)
    }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 {
        let v = try decoder.scalar(key); if case .int32(let x) = v { return x }; throw mismatch(type, v, key)
    }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 {
        let v = try decoder.scalar(key); if case .int64(let x) = v { return x }; throw mismatch(type, v, key)
    }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 {
        let v = try decoder.scalar(key); if case .uint32(let x) = v { return x }; throw mismatch(type, v, key)
    }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 {
        let v = try decoder.scalar(key); if case .uint64(let x) = v { return x }; throw mismatch(type, v, key)
    }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int {
        let v = try decoder.scalar(key)
        switch v {
        case .int64(let x): return Int(x)
        case .int32(let x): return Int(x)
        default: throw mismatch(type, v, key)
        }
    }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decoder.value(type, key: key) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        throw DecodingError.typeMismatch(type, .init(codingPath: codingPath, debugDescription: "nested containers are not protobuf fields"))
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "nested containers are not protobuf fields"))
    }
    func superDecoder() throws -> Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> Decoder { decoder }
}

/// Hands one leaf to a type that decodes from a single value (an enum, a wrapper).
struct ScalarDecoder: Decoder, SingleValueDecodingContainer {
    let value: ProtoScalar
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        throw DecodingError.typeMismatch(type, .init(codingPath: codingPath, debugDescription: "a single value is not a message"))
    }
    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "a single value is not a list"))
    }
    func singleValueContainer() throws -> SingleValueDecodingContainer { self }

    private func mismatch<T>(_ t: T.Type) -> DecodingError {
        DecodingError.typeMismatch(T.self, .init(codingPath: codingPath, debugDescription: "holds \(value.typeName), not \(T.self)"))
    }
    func decodeNil() -> Bool { false }
    func decode(_ type: Bool.Type) throws -> Bool { if case .bool(let x) = value { return x }; throw mismatch(type) }
    func decode(_ type: String.Type) throws -> String { if case .string(let x) = value { return x }; throw mismatch(type) }
    func decode(_ type: Double.Type) throws -> Double { if case .double(let x) = value { return x }; throw mismatch(type) }
    func decode(_ type: Float.Type) throws -> Float { if case .float(let x) = value { return x }; throw mismatch(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { if case .int32(let x) = value { return x }; throw mismatch(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { if case .int64(let x) = value { return x }; throw mismatch(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { if case .uint32(let x) = value { return x }; throw mismatch(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { if case .uint64(let x) = value { return x }; throw mismatch(type) }
    func decode(_ type: Int.Type) throws -> Int {
        switch value {
        case .int64(let x): return Int(x)
        case .int32(let x): return Int(x)
        default: throw mismatch(type)
        }
    }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == Data.self, case .bytes(let d) = value { return d as! T }
        return try T(from: self)
    }
}

/// Reads a repeated field's C array.
struct ListDecoder: Decoder {
    let field: FieldPtr
    let array: UnsafeRawPointer?
    let count: Int
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        throw DecodingError.typeMismatch(type, .init(codingPath: codingPath, debugDescription: "is repeated in protos/"))
    }
    func unkeyedContainer() throws -> UnkeyedDecodingContainer { ListReader(list: self) }
    func singleValueContainer() throws -> SingleValueDecodingContainer {
        throw DecodingError.typeMismatch(Any.self, .init(codingPath: codingPath, debugDescription: "is repeated in protos/"))
    }
}

struct ListReader: UnkeyedDecodingContainer {
    let list: ListDecoder
    var currentIndex = 0
    init(list: ListDecoder) { self.list = list }
    var codingPath: [CodingKey] { list.codingPath }
    var count: Int? { list.count }
    var isAtEnd: Bool { currentIndex >= list.count }

    private mutating func next() throws -> (UnsafeRawPointer, [CodingKey]) {
        guard !isAtEnd, let a = list.array else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "past the end of the list"))
        }
        let p = a.advanced(by: currentIndex * list.field.slotSize)
        let path = codingPath + [ProtoKey(intValue: currentIndex)]
        currentIndex += 1
        return (p, path)
    }

    private mutating func nextScalar() throws -> ProtoScalar {
        let (p, path) = try next()
        do { return try loadScalar(list.field, at: p) } catch let e as ProtoCodecError {
            throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: e.description))
        }
    }

    mutating func decodeNil() throws -> Bool { false }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try ScalarDecoder(value: nextScalar(), codingPath: codingPath).decode(type) }
    mutating func decode(_ type: String.Type) throws -> String { try ScalarDecoder(value: nextScalar(), codingPath: codingPath).decode(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try ScalarDecoder(value: nextScalar(), codingPath: codingPath).decode(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try ScalarDecoder(value: nextScalar(), codingPath: codingPath).decode(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try ScalarDecoder(value: nextScalar(), codingPath: codingPath).decode(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try ScalarDecoder(value: nextScalar(), codingPath: codingPath).decode(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try ScalarDecoder(value: nextScalar(), codingPath: codingPath).decode(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try ScalarDecoder(value: nextScalar(), codingPath: codingPath).decode(type) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if list.field.type == PROTOBUF_C_TYPE_MESSAGE {
            let (p, path) = try next()
            guard let sub = p.load(as: UnsafeRawPointer?.self) else {
                throw DecodingError.valueNotFound(T.self, .init(codingPath: path, debugDescription: "is not set"))
            }
            return try T(from: MessageDecoder(msg: sub, desc: list.field.messageDescriptor, codingPath: path))
        }
        let v = try nextScalar()
        return try ScalarDecoder(value: v, codingPath: codingPath).decode(type)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        throw DecodingError.typeMismatch(type, .init(codingPath: codingPath, debugDescription: "lists of lists are not protobuf"))
    }
    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "lists of lists are not protobuf"))
    }
    mutating func superDecoder() throws -> Decoder { list }
}
