import CProtobufC
import ExamProtoC
import Foundation

// The fast path of the codec: the generated mirrors read and write their
// fields by index into protoc-c's descriptor (fields sorted by tag, as
// protoc-c lays them out), so packing a message is a walk over its fields
// with direct stores into the C struct, no name lookups and no Codable
// containers. exam-protogen derives both the index and the Swift type from
// the same descriptor, so they cannot disagree.

/// Writes a mirror's fields into the C struct protoc-c generated for it.
public struct ProtoWriter {
    @usableFromInline let msg: UnsafeMutableRawPointer
    @usableFromInline let desc: UnsafePointer<ProtobufCMessageDescriptor>
    @usableFromInline let arena: CArena

    @usableFromInline init(msg: UnsafeMutableRawPointer, desc: UnsafePointer<ProtobufCMessageDescriptor>, arena: CArena) {
        self.msg = msg
        self.desc = desc
        self.arena = arena
    }

    @usableFromInline @inline(__always) func field(_ i: Int) -> FieldPtr { desc.pointee.fields.advanced(by: i) }
    @usableFromInline @inline(__always) func slot(_ f: FieldPtr) -> UnsafeMutableRawPointer { msg.advanced(by: Int(f.pointee.offset)) }

    @usableFromInline func markOneof(_ f: FieldPtr) throws {
        let casePtr = msg.advanced(by: Int(f.pointee.quantifier_offset))
        let current = casePtr.load(as: UInt32.self)
        if current != 0 && current != f.pointee.id {
            throw ProtoCodecError("field '\(f.protoName)' and field #\(current) belong to the same oneof: set only one")
        }
        casePtr.storeBytes(of: f.pointee.id, as: UInt32.self)
    }

    @inlinable public func int32(_ i: Int, _ v: Int32) { if v != 0 { slot(field(i)).storeBytes(of: v, as: Int32.self) } }
    @inlinable public func int64(_ i: Int, _ v: Int64) { if v != 0 { slot(field(i)).storeBytes(of: v, as: Int64.self) } }
    @inlinable public func uint32(_ i: Int, _ v: UInt32) { if v != 0 { slot(field(i)).storeBytes(of: v, as: UInt32.self) } }
    @inlinable public func uint64(_ i: Int, _ v: UInt64) { if v != 0 { slot(field(i)).storeBytes(of: v, as: UInt64.self) } }
    @inlinable public func bool(_ i: Int, _ v: Bool) { if v { slot(field(i)).storeBytes(of: protobuf_c_boolean(1), as: protobuf_c_boolean.self) } }
    @inlinable public func float(_ i: Int, _ v: Float) { slot(field(i)).storeBytes(of: v, as: Float.self) }
    @inlinable public func double(_ i: Int, _ v: Double) { slot(field(i)).storeBytes(of: v, as: Double.self) }
    @inlinable public func enumeration<E: ProtoEnum>(_ i: Int, _ v: E) { int32(i, v.rawValue) }
    @inlinable public func string(_ i: Int, _ v: String) throws {
        guard !v.isEmpty else { return }
        try storeScalar(.string(v), field(i), at: slot(field(i)), arena: arena)
    }
    @inlinable public func bytes(_ i: Int, _ v: Data) {
        guard !v.isEmpty else { return }
        slot(field(i)).storeBytes(of: ProtobufCBinaryData(len: v.count, data: arena.copy(v)), as: ProtobufCBinaryData.self)
    }

    @inlinable public func message<M: ProtoMessage>(_ i: Int, _ v: M?) throws {
        guard let v else { return }
        let f = field(i)
        let sub = arena.newMessage(f.messageDescriptor)
        var w = ProtoWriter(msg: sub, desc: f.messageDescriptor, arena: arena)
        try v.protoWrite(to: &w)
        slot(f).storeBytes(of: sub, as: UnsafeMutableRawPointer?.self)
        if f.isOneof { try markOneof(f) }
    }

    /// A member of a oneof: set when non-nil.
    @inlinable public func oneof<T>(_ i: Int, _ v: T?, _ write: (Int, T) throws -> Void) throws {
        guard let v else { return }
        try write(i, v)
        let f = field(i)
        // Issue 16 (fuzzing): `string` leaves an empty string's slot NULL,
        // and protobuf-c packs a oneof string whose pointer is NULL as
        // absent: a member set to "" came back nil. Set, it points at "".
        if f.type == PROTOBUF_C_TYPE_STRING, slot(f).load(as: UnsafeMutableRawPointer?.self) == nil {
            slot(f).storeBytes(of: arena.cString(""), as: UnsafeMutablePointer<CChar>?.self)
        }
        try markOneof(f)
    }

    // Repeated fields: a C array and its count.
    @usableFromInline func array(_ f: FieldPtr, count: Int) -> UnsafeMutableRawPointer {
        let a = arena.alloc(count * f.slotSize)
        msg.advanced(by: Int(f.pointee.quantifier_offset)).storeBytes(of: count, as: Int.self)
        slot(f).storeBytes(of: a, as: UnsafeMutableRawPointer?.self)
        return a
    }

    @inlinable func list<T>(_ i: Int, _ vs: [T], as: T.Type) {
        guard !vs.isEmpty else { return }
        let f = field(i)
        let a = array(f, count: vs.count)
        for (k, v) in vs.enumerated() { a.advanced(by: k * f.slotSize).storeBytes(of: v, as: T.self) }
    }

    @inlinable public func int32s(_ i: Int, _ vs: [Int32]) { list(i, vs, as: Int32.self) }
    @inlinable public func int64s(_ i: Int, _ vs: [Int64]) { list(i, vs, as: Int64.self) }
    @inlinable public func uint32s(_ i: Int, _ vs: [UInt32]) { list(i, vs, as: UInt32.self) }
    @inlinable public func uint64s(_ i: Int, _ vs: [UInt64]) { list(i, vs, as: UInt64.self) }
    @inlinable public func floats(_ i: Int, _ vs: [Float]) { list(i, vs, as: Float.self) }
    @inlinable public func doubles(_ i: Int, _ vs: [Double]) { list(i, vs, as: Double.self) }
    @inlinable public func bools(_ i: Int, _ vs: [Bool]) { if !vs.isEmpty { list(i, vs.map { protobuf_c_boolean($0 ? 1 : 0) }, as: protobuf_c_boolean.self) } }
    @inlinable public func enumerations<E: ProtoEnum>(_ i: Int, _ vs: [E]) { if !vs.isEmpty { list(i, vs.map { $0.rawValue }, as: Int32.self) } }

    @inlinable public func strings(_ i: Int, _ vs: [String]) throws {
        guard !vs.isEmpty else { return }
        let f = field(i)
        let a = array(f, count: vs.count)
        for (k, v) in vs.enumerated() { try storeScalar(.string(v), f, at: a.advanced(by: k * f.slotSize), arena: arena) }
    }

    @inlinable public func bytesList(_ i: Int, _ vs: [Data]) {
        guard !vs.isEmpty else { return }
        let f = field(i)
        let a = array(f, count: vs.count)
        for (k, v) in vs.enumerated() {
            a.advanced(by: k * f.slotSize).storeBytes(of: ProtobufCBinaryData(len: v.count, data: arena.copy(v)), as: ProtobufCBinaryData.self)
        }
    }

    @inlinable public func messages<M: ProtoMessage>(_ i: Int, _ vs: [M]) throws {
        guard !vs.isEmpty else { return }
        let f = field(i)
        let a = array(f, count: vs.count)
        for (k, v) in vs.enumerated() {
            let sub = arena.newMessage(f.messageDescriptor)
            var w = ProtoWriter(msg: sub, desc: f.messageDescriptor, arena: arena)
            try v.protoWrite(to: &w)
            a.advanced(by: k * f.slotSize).storeBytes(of: sub, as: UnsafeMutableRawPointer.self)
        }
    }
}

/// Reads a mirror's fields out of an unpacked C struct.
public struct ProtoReader {
    @usableFromInline let msg: UnsafeRawPointer
    @usableFromInline let desc: UnsafePointer<ProtobufCMessageDescriptor>

    @usableFromInline init(msg: UnsafeRawPointer, desc: UnsafePointer<ProtobufCMessageDescriptor>) {
        self.msg = msg
        self.desc = desc
    }

    @usableFromInline @inline(__always) func field(_ i: Int) -> FieldPtr { desc.pointee.fields.advanced(by: i) }
    @usableFromInline @inline(__always) func slot(_ f: FieldPtr) -> UnsafeRawPointer { msg.advanced(by: Int(f.pointee.offset)) }

    @usableFromInline func present(_ f: FieldPtr) -> Bool {
        msg.advanced(by: Int(f.pointee.quantifier_offset)).load(as: UInt32.self) == f.pointee.id
    }

    @inlinable public func int32(_ i: Int) -> Int32 { slot(field(i)).load(as: Int32.self) }
    @inlinable public func int64(_ i: Int) -> Int64 { slot(field(i)).load(as: Int64.self) }
    @inlinable public func uint32(_ i: Int) -> UInt32 { slot(field(i)).load(as: UInt32.self) }
    @inlinable public func uint64(_ i: Int) -> UInt64 { slot(field(i)).load(as: UInt64.self) }
    @inlinable public func bool(_ i: Int) -> Bool { slot(field(i)).load(as: protobuf_c_boolean.self) != 0 }
    @inlinable public func float(_ i: Int) -> Float { slot(field(i)).load(as: Float.self) }
    @inlinable public func double(_ i: Int) -> Double { slot(field(i)).load(as: Double.self) }

    @inlinable public func enumeration<E: ProtoEnum>(_ i: Int, _ type: E.Type) throws -> E {
        let raw = int32(i)
        guard let v = E(rawValue: raw) else {
            throw ProtoCodecError("field '\(field(i).protoName)': \(raw) is not a value of \(E.protoName)")
        }
        return v
    }

    @inlinable public func string(_ i: Int) throws -> String {
        let f = field(i)
        guard case .string(let s) = try loadScalar(f, at: slot(f)) else { return "" }
        return s
    }

    @inlinable public func bytes(_ i: Int) -> Data {
        let b = slot(field(i)).load(as: ProtobufCBinaryData.self)
        guard b.len > 0, let p = b.data else { return Data() }
        return Data(bytes: p, count: b.len)
    }

    @inlinable public func message<M: ProtoMessage>(_ i: Int, _ type: M.Type) throws -> M? {
        let f = field(i)
        if f.isOneof && !present(f) { return nil }
        guard let sub = slot(f).load(as: UnsafeRawPointer?.self) else { return nil }
        return try M(protoReader: ProtoReader(msg: sub, desc: f.messageDescriptor))
    }

    /// A member of a oneof: nil unless it is the one set.
    @inlinable public func oneof<T>(_ i: Int, _ read: (Int) throws -> T) rethrows -> T? {
        present(field(i)) ? try read(i) : nil
    }

    @inlinable func list<T>(_ i: Int, as: T.Type) -> [T] {
        let f = field(i)
        let n = msg.advanced(by: Int(f.pointee.quantifier_offset)).load(as: Int.self)
        guard n > 0, let a = slot(f).load(as: UnsafeRawPointer?.self) else { return [] }
        return (0..<n).map { a.advanced(by: $0 * f.slotSize).load(as: T.self) }
    }

    @inlinable public func int32s(_ i: Int) -> [Int32] { list(i, as: Int32.self) }
    @inlinable public func int64s(_ i: Int) -> [Int64] { list(i, as: Int64.self) }
    @inlinable public func uint32s(_ i: Int) -> [UInt32] { list(i, as: UInt32.self) }
    @inlinable public func uint64s(_ i: Int) -> [UInt64] { list(i, as: UInt64.self) }
    @inlinable public func floats(_ i: Int) -> [Float] { list(i, as: Float.self) }
    @inlinable public func doubles(_ i: Int) -> [Double] { list(i, as: Double.self) }
    @inlinable public func bools(_ i: Int) -> [Bool] { list(i, as: protobuf_c_boolean.self).map { $0 != 0 } }

    @inlinable public func enumerations<E: ProtoEnum>(_ i: Int, _ type: E.Type) throws -> [E] {
        try list(i, as: Int32.self).map { raw in
            guard let v = E(rawValue: raw) else {
                throw ProtoCodecError("field '\(field(i).protoName)': \(raw) is not a value of \(E.protoName)")
            }
            return v
        }
    }

    @inlinable public func strings(_ i: Int) throws -> [String] {
        let f = field(i)
        let n = msg.advanced(by: Int(f.pointee.quantifier_offset)).load(as: Int.self)
        guard n > 0, let a = slot(f).load(as: UnsafeRawPointer?.self) else { return [] }
        return try (0..<n).map { k in
            guard case .string(let s) = try loadScalar(f, at: a.advanced(by: k * f.slotSize)) else { return "" }
            return s
        }
    }

    @inlinable public func bytesList(_ i: Int) -> [Data] {
        list(i, as: ProtobufCBinaryData.self).map { b in
            guard b.len > 0, let p = b.data else { return Data() }
            return Data(bytes: p, count: b.len)
        }
    }

    @inlinable public func messages<M: ProtoMessage>(_ i: Int, _ type: M.Type) throws -> [M] {
        let f = field(i)
        return try list(i, as: UnsafeRawPointer?.self).map { p in
            guard let p else { throw ProtoCodecError("field '\(f.protoName)': an element is missing") }
            return try M(protoReader: ProtoReader(msg: p, desc: f.messageDescriptor))
        }
    }
}
