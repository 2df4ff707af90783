import Foundation

/// Synthetic ID-card photos for demos and tests: real PNG files (colour,
/// RGB) whose pixels come from a seed, so every candidate's photo is
/// different bytes (R4 refuses byte-identical photos). The image data is
/// zlib-wrapped in stored (uncompressed) deflate blocks: valid PNG without
/// a compressor.
public enum SyntheticPhoto {
    public static func png(width: Int = 320, height: Int = 240, seed: UInt64) -> Data {
        var rng = seed &+ 0x9E37_79B9_7F4A_7C15
        func next() -> UInt8 {
            rng ^= rng << 13
            rng ^= rng >> 7
            rng ^= rng << 17
            return UInt8(truncatingIfNeeded: rng)
        }
        var raw = [UInt8]()
        raw.reserveCapacity((width * 3 + 1) * height)
        for _ in 0..<height {
            raw.append(0)  // filter: none
            for _ in 0..<width { raw.append(next()); raw.append(next()); raw.append(next()) }
        }
        return file(width: width, height: height, idat: zlibStored(raw))
    }

    /// A smaller colour photo (400x300 by default, about 38 KB): random
    /// colours in `block` x `block` squares, deflated with the fixed Huffman
    /// codes (a repeated row is one long match, a square one short match).
    /// For tests that upload hundreds of photos.
    public static func blockyPNG(seed: UInt64, width: Int = 400, height: Int = 300, block: Int = 4) -> Data {
        // Mixed first: neighbouring seeds (exam numbers) must not share a state (R4 refuses twins).
        var state = (seed &* 0x9E37_79B9_7F4A_7C15) | 1
        func next() -> UInt8 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state >> 24)
        }
        let stride = 1 + width * 3
        var raw = [UInt8](repeating: 0, count: stride * height)
        var d = Deflater()
        for y in 0..<height {
            let row = y * stride
            if y % block != 0 {
                raw.replaceSubrange(row..<(row + stride), with: raw[(row - stride)..<row])
                d.copy(distance: stride, length: stride)
                continue
            }
            d.literal(0)  // filter: none
            var x = 0
            while x < width {
                let rgb = [next(), next(), next()]
                let n = min(block, width - x)
                for k in 0..<n { raw.replaceSubrange((row + 1 + (x + k) * 3)..<(row + 4 + (x + k) * 3), with: rgb) }
                for b in rgb { d.literal(b) }
                if n > 1 { d.copy(distance: 3, length: 3 * (n - 1)) }
                x += n
            }
        }
        let idat: [UInt8] = [0x78, 0x01] + d.finish() + be32(adler32(raw))
        return file(width: width, height: height, idat: idat)
    }

    /// The PNG signature and its three chunks around zlib-wrapped image data.
    static func file(width: Int, height: Int, idat: [UInt8]) -> Data {
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += chunk("IHDR", be32(UInt32(width)) + be32(UInt32(height)) + [8, 2, 0, 0, 0])  // 8-bit RGB
        png += chunk("IDAT", idat)
        png += chunk("IEND", [])
        return Data(png)
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let t = Array(type.utf8)
        return be32(UInt32(data.count)) + t + data + be32(crc32(t + data))
    }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var i = 0
        repeat {
            let n = min(65_535, data.count - i)
            let last: UInt8 = i + n >= data.count ? 1 : 0
            out.append(last)
            out += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[i..<(i + n)]
            i += n
        } while i < data.count
        return out + be32(adler32(data))
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for x in bytes {
            a = (a + UInt32(x)) % 65_521
            b = (b + a) % 65_521
        }
        return b << 16 | a
    }

    /// One deflate block with the fixed Huffman codes (RFC 1951, 3.2.6).
    struct Deflater {
        var out: [UInt8] = []
        var bits: UInt32 = 0
        var count = 0

        init() {
            put(1, 1)  // BFINAL
            put(1, 2)  // BTYPE 01: fixed codes
        }

        mutating func put(_ value: UInt32, _ n: Int) {
            bits |= value << UInt32(count)
            count += n
            while count >= 8 {
                out.append(UInt8(bits & 0xFF))
                bits >>= 8
                count -= 8
            }
        }

        /// Huffman codes go most significant bit first.
        mutating func code(_ value: UInt32, _ n: Int) {
            var r: UInt32 = 0
            for i in 0..<n { r |= ((value >> UInt32(i)) & 1) << UInt32(n - 1 - i) }
            put(r, n)
        }

        mutating func symbol(_ s: Int) {
            switch s {
            case 0...143: code(UInt32(0x30 + s), 8)
            case 144...255: code(UInt32(0x190 + s - 144), 9)
            case 256...279: code(UInt32(s - 256), 7)
            default: code(UInt32(0xC0 + s - 280), 8)
            }
        }

        mutating func literal(_ b: UInt8) { symbol(Int(b)) }

        static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
        static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
        static let distBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
                               4097, 6145, 8193, 12289, 16385, 24577]
        static let distExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

        /// Repeats `length` bytes from `distance` back, in matches of 3...258.
        mutating func copy(distance: Int, length: Int) {
            var left = length
            while left > 0 {
                var n = min(258, left)
                if (1...2).contains(left - n) { n = left - 3 }  // never leave a tail shorter than a match
                let li = Self.lengthBase.lastIndex { $0 <= n }!
                symbol(257 + li)
                put(UInt32(n - Self.lengthBase[li]), Self.lengthExtra[li])
                let di = Self.distBase.lastIndex { $0 <= distance }!
                code(UInt32(di), 5)
                put(UInt32(distance - Self.distBase[di]), Self.distExtra[di])
                left -= n
            }
        }

        mutating func finish() -> [UInt8] {
            symbol(256)  // end of block
            if count > 0 { put(0, 8 - count) }
            return out
        }
    }
}
