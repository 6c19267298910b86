#if canImport(Glibc)
import Glibc
#endif

// SwiftPM renames an executable's `main`, so libFuzzer's own main never runs; we drive
// libFuzzer explicitly through its documented LLVMFuzzerRunDriver entry point instead.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

public func runFuzzer(_ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv = Optional(CommandLine.unsafeArgv)
    let status = LLVMFuzzerRunDriver(&argc, &argv, callback)
    exit(status)
}
