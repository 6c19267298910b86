#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
private let systemRead = Glibc.read
#elseif canImport(Darwin)
private let systemRead = Darwin.read
#endif

/// Reads configuration files for the loaders (setkey, swanctl.conf, the credential folders
/// beside swanctl.conf), so that the permission checks and the contents come from the same open file.
public enum ConfigFileReader {
    /// Files larger than this are refused before they are read into memory.
    public static let maximumSize = 16 << 20

    /// Reads a regular file through one descriptor (so the checks and the contents agree) and
    /// returns its bytes, permission bits and owner.
    public static func read(_ path: String, kind: String) throws(ConfigError) -> ([UInt8], UInt32, UInt32) {
        let at = SourceLocation(file: path, line: 1, column: 1)
        // O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; the type check
        // below refuses anything but a regular file, for which the flag changes nothing.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let e = errno
            throw ConfigError(location: at, message: "cannot open \(path): \(String(cString: strerror(e)))",
                              hint: e == ENOENT ? "check the path" : (e == EACCES ? "run ternd as root, or as the file's owner" : nil))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ConfigError(location: at, message: "cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        let mode = UInt32(st.st_mode)
        guard mode & 0o170000 == 0o100000 else {
            throw ConfigError(location: at, message: "\(path) is not a regular file", hint: "pass the path of a \(kind)")
        }
        guard Int(st.st_size) <= maximumSize else {
            throw ConfigError(location: at, message: "\(path) is larger than \(maximumSize >> 20) MiB",
                              hint: "is this really a \(kind)?")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(st.st_size))
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ConfigError(location: at, message: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            guard bytes.count <= maximumSize else {
                throw ConfigError(location: at, message: "\(path) is larger than \(maximumSize >> 20) MiB",
                                  hint: "is this really a \(kind)?")
            }
        }
        return (bytes, mode & 0o7777, UInt32(st.st_uid))
    }

    /// The refusal of a file holding `what` ("a secret", "a private key") that group or others
    /// may access: whoever can read it can impersonate us, so ternd does not start with it.
    public static func exposureError(file: String, mode: UInt32, holding what: String, at location: SourceLocation) -> ConfigError {
        ConfigError(location: location,
                    message: "\(file) holds \(what) but group or others may access it (mode \(octal(mode)))",
                    hint: "run `chmod 600 \(file)`; ternd refuses secrets others can read, as racoon refuses psk.txt")
    }

    /// `0644`-style text for messages.
    public static func octal(_ mode: UInt32) -> String {
        let s = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }
}
