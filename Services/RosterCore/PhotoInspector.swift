import Foundation

/// The automatic photo checks of R4, pure and judged from the bytes only:
/// the file name never decides the format (a PNG named .jpg is a PNG). Every
/// read is bounds-checked and every step moves forward, so malformed,
/// truncated or hostile bytes are refused, never crash or loop.
public struct PhotoInspector: Sendable {
    public var limits: PhotoLimits

    public init(limits: PhotoLimits = PhotoLimits()) { self.limits = limits }

    /// A photo that passed every automatic check.
    public struct Inspected: Sendable, Equatable {
        public var format: PhotoFormat
        public var width: Int
        public var height: Int
        /// Colour components: 3 (JPEG YCbCr/RGB), 3 or 4 (PNG RGB / RGBA).
        public var components: Int
        public var fileNameAgrees: Bool
        public var checksPassed: [IdentityCheck]
    }

    /// The format by the magic bytes: JPEG FF D8 FF, PNG 89 50 4E 47 0D 0A 1A 0A.
    public static func format(of data: Data) -> PhotoFormat? {
        if data.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        return nil
    }

    /// The size check alone, for the shell to run on a declared length
    /// before it reads or stores anything: above the maximum is
    /// resourceExhausted, below the minimum invalidArgument.
    public func checkSize(byteCount: Int) throws(RosterError) {
        if byteCount > limits.maxBytes {
            throw RosterError(.resourceExhausted, "the photo has \(byteCount) bytes, more than the \(limits.maxBytes) allowed (R4)")
        }
        if byteCount < limits.minBytes {
            throw RosterError(.invalidArgument, "the photo has \(byteCount) bytes, fewer than the \(limits.minBytes) needed for a legible ID card (R4)")
        }
    }

    /// Runs every check; refuses with every failed check listed in `details`.
    public func inspect(_ data: Data, fileName: String) throws(RosterError) -> Inspected {
        if data.count > limits.maxBytes { try checkSize(byteCount: data.count) }
        var problems: [String] = []
        if data.count < limits.minBytes {
            problems.append("file_size: \(data.count) bytes, fewer than the \(limits.minBytes) needed for a legible ID card")
        }
        guard let format = Self.format(of: data) else {
            let head = data.prefix(8).map { String(format: "%02X", $0) }.joined(separator: " ")
            problems.append("real_image: not a JPEG or PNG (the file starts with \(head.isEmpty ? "nothing" : head))")
            throw refusal(problems)
        }
        let bytes = [UInt8](data)
        let parsed = format == .png ? Self.png(bytes) : Self.jpeg(bytes)
        switch parsed {
        case .failure(let why):
            problems.append("real_image: not a valid \(format == .png ? "PNG" : "JPEG"): \(why)")
            throw refusal(problems)
        case .success(let frame):
            if let colour = frame.colourProblem { problems.append("colour: \(colour)") }
            let long = max(frame.width, frame.height), short = min(frame.width, frame.height)
            if long > limits.maxSide {
                problems.append("pixel_size: \(frame.width)x\(frame.height) pixels, more than \(limits.maxSide) on a side")
            } else if long < limits.minLongSide || short < limits.minShortSide {
                problems.append("pixel_size: \(frame.width)x\(frame.height) pixels, fewer than \(limits.minLongSide)x\(limits.minShortSide)")
            }
            guard problems.isEmpty else { throw refusal(problems) }
            let ext = fileName.split(separator: ".").count > 1 ? fileName.split(separator: ".").last!.lowercased() : ""
            let agrees: Bool
            switch ext {
            case "jpg", "jpeg", "jpe", "jfif": agrees = format == .jpeg
            case "png": agrees = format == .png
            default: agrees = ext.isEmpty
            }
            return Inspected(format: format, width: frame.width, height: frame.height, components: frame.components,
                             fileNameAgrees: agrees, checksPassed: [.realImage, .fileSize, .pixelSize, .colour])
        }
    }

    private func refusal(_ problems: [String]) -> RosterError {
        RosterError(.invalidArgument, "the ID card photo is refused (R4): " + problems.joined(separator: "; "), details: problems)
    }

    struct Frame: Equatable {
        var width: Int
        var height: Int
        var components: Int
        var colourProblem: String?
    }

    struct Malformed: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    // MARK: - PNG

    /// Walks the chunks from the signature to IEND, checking each length and
    /// CRC; IHDR must come first (13 bytes) and an IDAT must exist.
    static func png(_ b: [UInt8]) -> Result<Frame, Malformed> {
        let n = b.count
        func be32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
        var i = 8
        var frame: Frame?
        var sawIDAT = false
        while true {
            guard i + 8 <= n else { return .failure(Malformed("cut off at byte \(n): no IEND chunk")) }
            let length = be32(i)
            let type = b[(i + 4)..<(i + 8)]
            guard type.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) }) else {
                return .failure(Malformed("corrupt chunk type at byte \(i + 4)"))
            }
            let name = String(decoding: type, as: UTF8.self)
            guard length <= 0x7FFF_FFFF else { return .failure(Malformed("chunk \(name) at byte \(i) has an impossible length")) }
            guard i + 12 + length <= n else {
                return .failure(Malformed("cut off: chunk \(name) at byte \(i) needs \(length + 12) bytes, \(n - i) left"))
            }
            let crc = UInt32(truncatingIfNeeded: be32(i + 8 + length))
            guard CRC32.checksum(b[(i + 4)..<(i + 8 + length)]) == crc else {
                return .failure(Malformed("chunk \(name) at byte \(i) has a wrong CRC (damaged file)"))
            }
            let d = i + 8
            if frame == nil {
                guard name == "IHDR", length == 13 else { return .failure(Malformed("the first chunk is \(name), not a 13-byte IHDR")) }
                let w = be32(d), h = be32(d + 4), depth = Int(b[d + 8]), colourType = Int(b[d + 9])
                guard w > 0, h > 0, w <= 0x7FFF_FFFF, h <= 0x7FFF_FFFF else { return .failure(Malformed("IHDR gives \(w)x\(h) pixels")) }
                let depths: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
                guard let allowed = depths[colourType], allowed.contains(depth) else {
                    return .failure(Malformed("IHDR colour type \(colourType) with bit depth \(depth) does not exist"))
                }
                guard b[d + 10] == 0, b[d + 11] == 0, b[d + 12] <= 1 else { return .failure(Malformed("IHDR has unknown compression, filter or interlace")) }
                var problem: String?
                switch colourType {
                case 0, 4: problem = "greyscale PNG (colour type \(colourType)); the ID card photo must be in colour"
                case 3: problem = "palette PNG (colour type 3); send the camera's colour photo as JPEG or true-colour PNG"
                default: break
                }
                frame = Frame(width: w, height: h, components: colourType == 6 ? 4 : colourType == 2 ? 3 : 1, colourProblem: problem)
            } else if name == "IHDR" {
                return .failure(Malformed("a second IHDR at byte \(i)"))
            }
            if name == "IDAT" { sawIDAT = true }
            if name == "IEND" {
                guard sawIDAT else { return .failure(Malformed("no IDAT chunk: there is no image data")) }
                return .success(frame!)
            }
            i += 12 + length
        }
    }

    // MARK: - JPEG

    /// Walks the marker segments from SOI to EOI. The frame header is the
    /// first SOF0..SOF15 (C0..CF without DHT C4, JPG C8, DAC CC); entropy-coded
    /// data after SOS is skipped to the next marker (FF00 stuffing and RSTn
    /// belong to the data).
    static func jpeg(_ b: [UInt8]) -> Result<Frame, Malformed> {
        let n = b.count
        var i = 2
        var frame: Frame?
        while true {
            guard i < n else { return .failure(Malformed("cut off at byte \(n): no end-of-image marker")) }
            guard b[i] == 0xFF else { return .failure(Malformed("expected a marker at byte \(i), found 0x\(String(format: "%02X", b[i]))")) }
            while i < n && b[i] == 0xFF { i += 1 }  // fill bytes
            guard i < n else { return .failure(Malformed("cut off at byte \(n): no end-of-image marker")) }
            let marker = b[i]
            let at = i - 1
            i += 1
            switch marker {
            case 0xD9:
                guard let frame else { return .failure(Malformed("no frame header (SOF): no image")) }
                return .success(frame)
            case 0xD8: return .failure(Malformed("a second start-of-image at byte \(at)"))
            case 0x01, 0xD0...0xD7: continue  // no length
            case 0x00: return .failure(Malformed("stuffed byte outside the image data at byte \(at)"))
            default: break
            }
            guard i + 2 <= n else { return .failure(Malformed("cut off in the segment at byte \(at)")) }
            let length = Int(b[i]) << 8 | Int(b[i + 1])
            guard length >= 2 else { return .failure(Malformed("segment 0xFF\(String(format: "%02X", marker)) at byte \(at) has length \(length)")) }
            guard i + length <= n else { return .failure(Malformed("cut off: segment 0xFF\(String(format: "%02X", marker)) at byte \(at) needs \(length) bytes, \(n - i) left")) }
            let isFrame = (0xC0...0xCF).contains(marker) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC
            if isFrame && frame == nil {
                guard length >= 8 else { return .failure(Malformed("frame header at byte \(at) is too short")) }
                let h = Int(b[i + 3]) << 8 | Int(b[i + 4])
                let w = Int(b[i + 5]) << 8 | Int(b[i + 6])
                let comps = Int(b[i + 7])
                guard length >= 8 + 3 * comps, comps > 0 else { return .failure(Malformed("frame header at byte \(at) lists \(comps) components it does not hold")) }
                guard w > 0 else { return .failure(Malformed("frame header gives width 0")) }
                guard h > 0 else { return .failure(Malformed("frame header gives height 0 (defined later by DNL: not supported)")) }
                var problem: String?
                switch comps {
                case 3: break
                case 1: problem = "greyscale JPEG (1 component); the ID card photo must be in colour"
                default: problem = "JPEG with \(comps) components (CMYK?); send the camera's colour photo (3 components)"
                }
                frame = Frame(width: w, height: h, components: comps, colourProblem: problem)
            }
            i += length
            if marker == 0xDA {
                guard frame != nil else { return .failure(Malformed("image data (SOS) before the frame header at byte \(at)")) }
                // Entropy-coded data up to the next real marker.
                while i < n {
                    if b[i] != 0xFF { i += 1; continue }
                    guard i + 1 < n else { i = n; break }
                    let next = b[i + 1]
                    if next == 0x00 || (0xD0...0xD7).contains(next) { i += 2; continue }
                    if next == 0xFF { i += 1; continue }
                    break
                }
            }
        }
    }
}

/// CRC-32 as PNG uses it (ISO 3309, polynomial 0xEDB88320).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
