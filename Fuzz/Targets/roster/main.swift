import FuzzDriver
import FuzzHarness
import Glibc

// The roster fuzz target (issue 16); what it feeds and checks: FuzzHarness.
// Built with -sanitize=fuzzer by scripts/fuzz. SwiftPM gives the executable
// its own main on Linux (it runs libFuzzer's driver); libFuzzer's main may
// be linked too, so both of its hooks are exported as well.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.roster.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutableRawPointer?) -> Int32 {
    FuzzTarget.roster.initialize()
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
