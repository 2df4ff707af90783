import Foundation
import Testing
@testable import RosterCore

/// R4: the automatic photo checks, judged from the bytes.
@Suite struct PhotoTests {
    let inspector = PhotoInspector()

    @Test func crcKnownValue() {
        #expect(CRC32.checksum(Array("IEND".utf8)) == 0xAE42_6082)
    }

    @Test func aColourJPEGPasses() throws {
        let out = try inspector.inspect(jpeg(width: 1200, height: 800), fileName: "card.jpg")
        #expect(out.format == .jpeg && out.width == 1200 && out.height == 800 && out.components == 3 && out.fileNameAgrees)
        #expect(out.checksPassed == [.realImage, .fileSize, .pixelSize, .colour])
        // Other frame types (progressive SOF2) are frames too.
        #expect(try inspector.inspect(jpeg(sof: 0xC2), fileName: "card.jpeg").width == 1200)
    }

    @Test func aPNGRenamedJPGIsJudgedAsPNG() throws {
        let data = png(width: 1000, height: 640, colourType: 6)
        let out = try inspector.inspect(data, fileName: "IMG_0001.JPG")
        #expect(out.format == .png && out.width == 1000 && out.height == 640 && out.components == 4)
        #expect(out.fileNameAgrees == false)
        #expect(PhotoInspector.format(of: data) == .png)
        #expect(try inspector.inspect(jpeg(), fileName: "photo.png").format == .jpeg)
    }

    @Test func greyscaleIsRefused() throws {
        for (data, what) in [(png(colourType: 0), "greyscale PNG (colour type 0)"), (png(colourType: 4), "greyscale PNG (colour type 4)"),
                             (jpeg(components: 1), "greyscale JPEG (1 component)"), (png(colourType: 3), "palette PNG"),
                             (jpeg(components: 4), "4 components")] {
            let e = #expect(throws: RosterError.self) { try inspector.inspect(data, fileName: "card.jpg") }
            #expect(e?.code == .invalidArgument)
            #expect(e?.details.count == 1 && e?.details.first?.hasPrefix("colour: ") == true && e?.message.contains(what) == true, "\(String(describing: e))")
        }
    }

    @Test func sizeBounds() throws {
        // 20 MB: resourceExhausted before anything is parsed.
        var huge = png()
        huge.append(Data(count: 20 * 1024 * 1024))
        let e = #expect(throws: RosterError.self) { try inspector.inspect(huge, fileName: "card.png") }
        #expect(e?.code == .resourceExhausted)
        #expect(e?.message == "the photo has \(huge.count) bytes, more than the 5242880 allowed (R4)")
        #expect(throws: RosterError.self) { try inspector.checkSize(byteCount: 20 * 1024 * 1024) }
        #expect(throws: Never.self) { try inspector.checkSize(byteCount: 5 * 1024 * 1024) }
        // Too small a file.
        let small = #expect(throws: RosterError.self) { try inspector.inspect(png(padding: 0), fileName: "card.png") }
        #expect(small?.code == .invalidArgument && small?.details.first?.hasPrefix("file_size: ") == true)
    }

    @Test func pixelBounds() throws {
        #expect(throws: Never.self) { try inspector.inspect(png(width: 300, height: 200), fileName: "a.png") }
        #expect(throws: Never.self) { try inspector.inspect(png(width: 200, height: 300), fileName: "a.png") }  // portrait
        #expect(throws: Never.self) { try inspector.inspect(jpeg(width: 8000, height: 8000), fileName: "a.jpg") }
        for (w, h) in [(299, 200), (300, 199), (8001, 600), (600, 8001)] {
            let e = #expect(throws: RosterError.self) { try inspector.inspect(png(width: w, height: h), fileName: "a.png") }
            #expect(e?.details.first?.hasPrefix("pixel_size: \(w)x\(h) pixels") == true, "\(String(describing: e))")
        }
        // Several failures are all listed.
        let e = #expect(throws: RosterError.self) { try inspector.inspect(png(width: 10, height: 10, colourType: 0, padding: 10), fileName: "a.png") }
        #expect(e?.details.map { String($0.prefix(while: { $0 != ":" })) } == ["file_size", "colour", "pixel_size"])
    }

    @Test func notAnImage() throws {
        var gif = Data("GIF89a".utf8); gif.append(Data(count: 30_000))
        let e = #expect(throws: RosterError.self) { try inspector.inspect(gif, fileName: "card.jpg") }
        #expect(e?.details == ["real_image: not a JPEG or PNG (the file starts with 47 49 46 38 39 61 00 00)"])
        #expect(throws: RosterError.self) { try inspector.inspect(Data(), fileName: "card.jpg") }
    }

    /// Every prefix of a valid image is refused, never crashes or hangs.
    @Test(arguments: ["png", "jpeg"])
    func truncatedImagesAreRefused(kind: String) throws {
        let full = [UInt8](kind == "png" ? png(padding: 300) : jpeg(padding: 300))
        let lenient = PhotoInspector(limits: { var l = PhotoLimits(); l.minBytes = 0; return l }())
        #expect(throws: Never.self) { try lenient.inspect(Data(full), fileName: "x") }
        for cut in 0..<full.count {
            let e = #expect(throws: RosterError.self) { try lenient.inspect(Data(full[0..<cut]), fileName: "x") }
            #expect(e?.code == .invalidArgument)
        }
    }

    @Test func damagedAndHostileBytesNeverCrash() throws {
        let lenient = PhotoInspector(limits: { var l = PhotoLimits(); l.minBytes = 0; return l }())
        // A PNG with one flipped byte fails its CRC.
        var b = [UInt8](png(padding: 100))
        b[20] ^= 0x01
        let e = #expect(throws: RosterError.self) { try lenient.inspect(Data(b), fileName: "x.png") }
        #expect(e?.message.contains("wrong CRC") == true)
        // A huge declared chunk length, a zero JPEG segment length.
        var big = [UInt8](png(padding: 0)).prefix(8) + [0xFF, 0xFF, 0xFF, 0xF0] + Array("IHDR".utf8)
        big += [UInt8](repeating: 0, count: 20)
        #expect(throws: RosterError.self) { try lenient.inspect(Data(big), fileName: "x.png") }
        #expect(throws: RosterError.self) { try lenient.inspect(Data([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x00, 0xFF, 0xD9]), fileName: "x.jpg") }
        #expect(throws: RosterError.self) { try lenient.inspect(Data([0xFF, 0xD8, 0xFF, 0xFF, 0xFF]), fileName: "x.jpg") }
        #expect(throws: RosterError.self) { try lenient.inspect(Data([0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9]), fileName: "x.jpg") }
        // Random garbage after the magic bytes (a fixed-seed generator).
        var rng = SplitMix(seed: 42)
        for round in 0..<400 {
            let magic: [UInt8] = round % 2 == 0 ? [0xFF, 0xD8, 0xFF] : [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            let body = (0..<(round * 7 % 3000)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? lenient.inspect(Data(magic + body), fileName: "x")
        }
        // Mutations of a valid JPEG: any outcome but a crash or a hang.
        let valid = [UInt8](jpeg(padding: 200))
        for _ in 0..<400 {
            var m = valid
            for _ in 0..<3 { m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? lenient.inspect(Data(m), fileName: "x")
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
