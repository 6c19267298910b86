import Foundation
import Testing
import TernConfig

@Suite struct ConfigFileReaderTests {
    /// A FIFO no one writes (in crl_uris, or as any configuration file) is refused at once: the
    /// open does not wait for a writer, so neither ternd's start nor a CRL fetch can hang on it.
    @Test func aFIFOIsRefusedWithoutWaitingForAWriter() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tern-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("never.crl").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let started = Date()
        #expect(throws: ConfigError.self) { _ = try ConfigFileReader.read(fifo, kind: "CRL") }
        do { _ = try ConfigFileReader.read(fifo, kind: "CRL") } catch {
            #expect(error.message.contains("is not a regular file"), "\(error.message)")
        }
        #expect(Date().timeIntervalSince(started) < 1)
        #expect(FileCRLFetcher().fetch("file://\(fifo)") == nil)
    }
}
