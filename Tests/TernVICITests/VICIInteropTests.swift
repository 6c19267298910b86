import Glibc
import Testing
@testable import TernVICI

/// Runs a program (PATH lookup), returning its exit status and its stdout and stderr merged.
func runProgram(_ argv: [String]) -> (status: Int32, output: String) {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { return (-1, "pipe failed") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    var args: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { for arg in args { free(arg) } }
    var pid = pid_t()
    let rc = posix_spawnp(&pid, argv[0], &actions, nil, &args, environ)
    posix_spawn_file_actions_destroy(&actions)
    close(fds[1])
    defer { close(fds[0]) }
    guard rc == 0 else { return (-1, "cannot run \(argv[0]): \(Posix.message(rc))") }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
        if n > 0 { output += buffer[..<n]; continue }
        if n < 0 && errno == EINTR { continue }
        break
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exit = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    return (exit, String(decoding: output, as: UTF8.self))
}

/// The repository root, from this file's path (Tests/TernVICITests/<file>).
let repositoryRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

/// A server offering what tests/vici/test_vici_python.py and the swanctl checks expect.
func withInteropServer(_ body: (String) throws -> Void) throws {
    try withTempDirectory { dir in
        let path = dir + "/s.vici"
        let server = VICIServer(path: path) { _ in }
        server.register(event: "list-sa")
        server.register(event: "ike-updown")
        server.register(command: "version") { _, _ in
            ["daemon": "ternd-test", "version": "0.0", "sysname": "Linux", "release": "", "machine": "x86_64"]
        }
        server.register(command: "echo") { request, _ in request }
        server.register(command: "fail") { _, _ in ["success": "no", "errmsg": "deliberate failure"] }
        server.register(command: "list-sas") { _, stream in
            for i in 0..<3 {
                let child: VICIMessage = ["name": .string("net-\(i)"), "state": "INSTALLED", "local-ts": ["10.0.\(i).0/24"]]
                let sa: VICIMessage = ["uniqueid": .string("\(i + 1)"), "version": "2", "state": "ESTABLISHED",
                                       "child-sas": .section(["net-\(i)": .section(child)])]
                stream.send(event: "list-sa", ["sa-\(i)": .section(sa)])
            }
            return VICIMessage()
        }
        server.register(command: "publish-updown") { [unowned server] _, _ in
            server.publish(event: "ike-updown", ["up": "yes"])
            return VICIMessage()
        }
        try server.start()
        defer { server.stop() }
        try body(path)
    }
}

@Suite(.timeLimit(.minutes(1))) struct VICIInteropTests {
    /// strongSwan's own clients: swanctl 5.9 and the PyPI `vici` package. Skipped where they
    /// are not installed.
    @Test func strongSwanClients() throws {
        try withInteropServer { path in
            if access("/usr/sbin/swanctl", X_OK) == 0 {
                let version = runProgram(["/usr/sbin/swanctl", "--version", "--daemon", "--uri", "unix://" + path])
                #expect(version.status == 0, "\(version.output)")
                #expect(version.output.contains("ternd-test"), "\(version.output)")
                let sas = runProgram(["/usr/sbin/swanctl", "--list-sas", "--raw", "--uri", "unix://" + path])
                #expect(sas.status == 0, "\(sas.output)")
                #expect(sas.output.contains("sa-2"), "\(sas.output)")
                #expect(sas.output.contains("net-1"), "\(sas.output)")
            }
            guard runProgram(["python3", "-c", "import vici"]).status == 0 else { return }
            let python = runProgram(["python3", repositoryRoot + "/tests/vici/test_vici_python.py", path])
            #expect(python.status == 0, "\(python.output)")
            #expect(python.output.contains("ok test_listen"), "\(python.output)")
        }
    }
}
