import Testing
import TernConfig

/// Lexical rules and error reporting: every error names file:line:column of the offending token.
@Suite struct SetkeyErrorTests {
    @Test func commentsBlankLinesAndMultiLineStatements() throws {
        let text = """
            #!/usr/sbin/setkey -f
            # a comment

            flush;   # trailing comment
            spdflush
            ;
            spdadd 192.0.2.0/24   198.51.100.0/24
            \tany -P out # comment inside a statement
              ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;;
            """
        let s = try parse(text)
        #expect(s.map(\.command.kind) == ["flush", "spdflush", "spdadd"])
        #expect(s.map(\.location.line) == [4, 5, 7])
        #expect(s[2].location == SourceLocation(file: testFile, line: 7, column: 1))
    }

    @Test func harnessSyntaxErrorLocation() throws {
        // tests/integration/test_config_errors.py expects path:3:N.
        let text = "# a comment on line 1\nflush;\nspdadd 203.0.113.0/24 198.51.100.0/24 any -P sideways ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;\n"
        let e = try #require(parseError(text))
        #expect(e.location == SourceLocation(file: testFile, line: 3, column: 46))
        #expect(e.message == "expected direction in, out or fwd after -P, found 'sideways'")
        #expect(e.description == "test.setkey:3:46: error: expected direction in, out or fwd after -P, found 'sideways'; write -P in, -P out or -P fwd")
    }

    @Test func locationsOnLaterLines() throws {
        let text = "flush;\n\nadd 192.0.2.1 192.0.2.2 esp 0x1001\n    -m tunnel\n    -E aes-gcm-16 0x0011;\n"
        let e = try #require(parseError(text))
        #expect(e.location.line == 5)
        #expect(e.location.column == 19)
        #expect(e.message.hasSuffix("got 2 bytes"))
    }

    @Test func columnsCountCharactersNotBytes() throws {
        let e = try #require(parseError("# é\n\u{00e9}add;"))
        #expect(e.location == SourceLocation(file: testFile, line: 2, column: 1))
        let tab = try #require(parseError("\tflush bogus;"))
        #expect(tab.location.column == 8)
        let after = try #require(parseError("flush; spdadd 1.2.3.4 5.6.7.8 any -P öut none;"))
        #expect(after.location.column == 38)
        let accented = try #require(parseError("spdadd 1.2.3.4 5.6.7.8 any -P out none é;"))
        #expect(accented.location.column == 40)
    }

    @Test func missingSemicolonAtEnd() throws {
        let e = try #require(parseError("flush;\nspdadd 192.0.2.1 192.0.2.2 any -P out none\n"))
        #expect(e.location == SourceLocation(file: testFile, line: 2, column: 43))
        #expect(e.message.contains("expected `;`"))
        #expect(e.message.contains("line 2"))
    }

    @Test func unterminatedStatementReportsItsFirstProblem() throws {
        // Seed 004's text as printed: its addresses and rule lines were lost, and no `;` is left.
        let seed = "spdadd any -P out ipsec \nspdadd any -P in ipsec \n"
        let e = try #require(parseError(seed))
        #expect(e.location == SourceLocation(file: testFile, line: 1, column: 12))
        #expect(e.message == "expected destination address, found '-P'")
        // An incomplete statement whose only problem is the end of the file: the missing `;`.
        let cut = try #require(parseError("flush;\nspdadd 1.2.3.4 5.6.7.8 any -P out"))
        #expect(cut.location == SourceLocation(file: testFile, line: 2, column: 34))
        #expect(cut.message.contains("expected `;`"))
    }

    @Test func unterminatedString() throws {
        let e = try #require(parseError("flush;\nadd 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-cbc \"abc\n;"))
        #expect(e.location == SourceLocation(file: testFile, line: 2, column: 47))
        #expect(e.message == "unterminated quoted string")
    }

    @Test func unknownCommands() throws {
        #expect(parseError("ADD 1.2.3.4 5.6.7.8 esp 0x1001 -E aes-gcm-16 \(hexKey(20));")?.hint?.contains("lowercase") == true)
        #expect(parseError("frobnicate;")?.message == "expected a command, found 'frobnicate'")
        #expect(parseError("\"add\";")?.message.contains("quoted") == true)
        #expect(parseError("exit;")?.hint == "remove it from the file")
        #expect(parseError("spdadd tagged \"x\" -P out none;") != nil)
    }

    @Test func emptyStatementsAndEmptyInput() throws {
        #expect(try parse("").isEmpty)
        #expect(try parse(";;;\n# only comments\n").isEmpty)
    }

    @Test func errorDescriptionWithoutHint() {
        let e = ConfigError(location: SourceLocation(file: "f", line: 1, column: 2), message: "m")
        #expect(e.description == "f:1:2: error: m")
        #expect(SourceLocation(file: "a.setkey", line: 3, column: 9).description == "a.setkey:3:9")
    }

    @Test func longAndControlTokensAreQuotedSafely() throws {
        let long = String(repeating: "x", count: 500)
        let e = try #require(parseError("\(long);"))
        #expect(e.message.count < 120)
        let ctl = try #require(parseError("fl\u{7}ush;"))
        #expect(ctl.message.contains("\\u{7}"))
    }
}

extension SetkeyCommand {
    /// The command word, for compact assertions.
    var kind: String {
        switch self {
        case .add: "add"
        case .get: "get"
        case .delete: "delete"
        case .deleteAll: "deleteall"
        case .flush: "flush"
        case .dump: "dump"
        case .spdAdd: "spdadd"
        case .spdDelete: "spddelete"
        case .spdFlush: "spdflush"
        case .spdDump: "spddump"
        }
    }
}
