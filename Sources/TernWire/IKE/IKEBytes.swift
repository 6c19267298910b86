// Big-endian helpers over slices; callers have checked bounds. Indices are slice indices.
@inline(__always) func readUInt16(_ b: ArraySlice<UInt8>, _ i: Int) -> UInt16 {
    UInt16(b[i]) << 8 | UInt16(b[i + 1])
}
@inline(__always) func readUInt32(_ b: ArraySlice<UInt8>, _ i: Int) -> UInt32 {
    UInt32(readUInt16(b, i)) << 16 | UInt32(readUInt16(b, i + 2))
}
@inline(__always) func readUInt64(_ b: ArraySlice<UInt8>, _ i: Int) -> UInt64 {
    UInt64(readUInt32(b, i)) << 32 | UInt64(readUInt32(b, i + 4))
}
@inline(__always) func appendUInt16(_ v: UInt16, to out: inout [UInt8]) {
    out.append(UInt8(truncatingIfNeeded: v >> 8)); out.append(UInt8(truncatingIfNeeded: v))
}
@inline(__always) func appendUInt32(_ v: UInt32, to out: inout [UInt8]) {
    appendUInt16(UInt16(truncatingIfNeeded: v >> 16), to: &out); appendUInt16(UInt16(truncatingIfNeeded: v), to: &out)
}
@inline(__always) func appendUInt64(_ v: UInt64, to out: inout [UInt8]) {
    appendUInt32(UInt32(truncatingIfNeeded: v >> 32), to: &out); appendUInt32(UInt32(truncatingIfNeeded: v), to: &out)
}
/// Overwrites two bytes at `i` (a length field reserved earlier).
@inline(__always) func patchUInt16(_ v: UInt16, in out: inout [UInt8], at i: Int) {
    out[i] = UInt8(truncatingIfNeeded: v >> 8); out[i + 1] = UInt8(truncatingIfNeeded: v)
}
