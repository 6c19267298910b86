import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
/// libFuzzer entry: one input per call; must never crash, hang or leak.
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = UnsafeBufferPointer(start: data, count: size)
    return 0
}

runFuzzer(fuzzOne)
