import Testing
import TernConfig

let swanctlFile = "test.conf"

func swanctlTree(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> SwanctlSection? {
    do {
        return try SwanctlParser.parse(text: text, file: swanctlFile)
    } catch {
        Issue.record("unexpected error: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

func swanctlSyntaxError(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        let root = try SwanctlParser.parse(text: text, file: swanctlFile)
        Issue.record("expected an error, parsed \(root)", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

func at(_ line: Int, _ column: Int, _ file: String = swanctlFile) -> TernConfig.SourceLocation {
    TernConfig.SourceLocation(file: file, line: line, column: column)
}

/// The settings syntax: nesting, merging, values, quotes, escapes, comments, references, errors.
@Suite struct SwanctlSyntaxTests {
    @Test func nestedSectionsAndValues() throws {
        let root = try #require(swanctlTree("""
            connections {
              gw {
                remote_addrs = 192.0.2.1
                children {
                  net { local_ts = 10.0.0.0/8 }
                }
              }
            }
            """))
        #expect(root.name == "")
        let gw = try #require(root.subsection("connections")?.subsection("gw"))
        #expect(gw.location == at(2, 3))
        let remote = try #require(gw.value("remote_addrs"))
        #expect(remote.value == "192.0.2.1")
        #expect(remote.location == at(3, 5))
        #expect(remote.valueLocation == at(3, 20))
        // A value ends at `}` on the same line.
        #expect(gw.subsection("children")?.subsection("net")?.value("local_ts")?.value == "10.0.0.0/8")
    }

    @Test func sameNamedSectionsMergeAndLaterKeysWin() throws {
        let root = try #require(swanctlTree("""
            a {
              x = 1
              y = 2
              s { k = old }
            }
            a {
              x = 3
              s { k = new
                  j = 4 }
              t { }
            }
            """))
        #expect(root.subsections.count == 1)
        let a = try #require(root.subsection("a"))
        #expect(a.location == at(1, 1))
        #expect(a.keyValues.map(\.key) == ["x", "y"], "the first definition keeps its place")
        #expect(a.value("x")?.value == "3")
        #expect(a.value("x")?.location == at(7, 3), "the location is the winning definition's")
        #expect(a.subsections.map(\.name) == ["s", "t"])
        #expect(a.subsection("s")?.value("k")?.value == "new")
        #expect(a.subsection("s")?.value("j")?.value == "4")
    }

    @Test func valuesRunToTheEndOfTheLineWithBlanksCollapsed() throws {
        let root = try #require(swanctlTree("k = a   b\tc  # comment\nl =\nm = x#y\nn = \"a  b\"  c\n"))
        #expect(root.value("k")?.value == "a b c")
        #expect(root.value("l")?.value == "", "an empty value means unset")
        #expect(root.value("m")?.value == "x", "`#` ends a value even without a blank")
        #expect(root.value("n")?.value == "a  b c", "quoted blanks are kept")
    }

    @Test func quotedStringsAndEscapes() throws {
        let root = try #require(swanctlTree(#"""
            a = "x\"y\\z\n\tq"
            b = "line one
            line two"
            c = "joined \
            here"
            d = "hash # and } inside"
            """#))
        #expect(root.value("a")?.value == "x\"y\\z\n\tq")
        #expect(root.value("b")?.value == "line one\nline two")
        #expect(root.value("c")?.value == "joined here")
        #expect(root.value("d")?.value == "hash # and } inside")
    }

    @Test func commentsAndNewlinesBetweenTokens() throws {
        let root = try #require(swanctlTree("""
            # leading comment
            a   # comment after the name
            {
              b = 1 # trailing
              # c = 2
            }
            """))
        #expect(root.subsection("a")?.keyValues.map(\.key) == ["b"])
    }

    @Test func includeIsAKeyWhenFollowedByEquals() throws {
        let root = try #require(swanctlTree("include = yes\n"))
        #expect(root.value("include")?.value == "yes")
    }

    @Test func includesAreParsedInPlace() throws {
        var asked: [(String, TernConfig.SourceLocation)] = []
        let root = try SwanctlParser.parse(text: "a {\n  include sub/*.conf\n  y = 2\n}\n", file: "main.conf") { pattern, at throws(ConfigError) in
            asked.append((pattern, at))
            return [(text: "x = 1\nb { }\n", file: "sub/1.conf"), (text: "x = 3\n", file: "sub/2.conf")]
        }
        #expect(asked.count == 1)
        #expect(asked.first?.0 == "sub/*.conf")
        #expect(asked.first?.1 == at(2, 11, "main.conf"))
        let a = try #require(root.subsection("a"))
        #expect(a.value("x")?.value == "3")
        #expect(a.value("x")?.location == at(1, 1, "sub/2.conf"))
        #expect(a.value("y")?.value == "2")
        #expect(a.subsection("b") != nil)
    }

    @Test func includeIsRefusedWithoutAResolver() throws {
        let e = try #require(swanctlSyntaxError("x = 1\ninclude foo.conf\n"))
        #expect(e.location == at(2, 9))
        #expect(e.message.contains("include not allowed here"))
    }

    @Test func includeCyclesAreDetected() throws {
        do {
            _ = try SwanctlParser.parse(text: "include b.conf\n", file: "a.conf") { pattern, _ throws(ConfigError) in
                pattern == "b.conf" ? [(text: "\n  include a.conf\n", file: "b.conf")] : [(text: "include b.conf\n", file: "a.conf")]
            }
            Issue.record("a cycle was accepted")
        } catch {
            #expect(error.location == at(2, 11, "b.conf"))
            #expect(error.message == "include cycle: a.conf → b.conf → a.conf")
        }
    }

    @Test func includedTextMustBeBalanced() throws {
        do {
            _ = try SwanctlParser.parse(text: "a {\n include x.conf\n}\n", file: "m.conf") { _, _ throws(ConfigError) in
                [(text: "k = v\n}\n", file: "x.conf")]
            }
            Issue.record("a stray } in an included file was accepted")
        } catch {
            #expect(error.location == at(2, 1, "x.conf"))
        }
    }

    @Test func unterminatedSection() throws {
        let e = try #require(swanctlSyntaxError("a {\n  b {\n    k = v\n  }\n"))
        #expect(e.location == at(1, 1))
        #expect(e.message == "section `a` is never closed")
    }

    @Test func strayClosingBrace() throws {
        let e = try #require(swanctlSyntaxError("a { }\n  }\n"))
        #expect(e.location == at(2, 3))
        #expect(e.message.contains("`}` without a section"))
    }

    @Test func unterminatedString() throws {
        let e = try #require(swanctlSyntaxError("a = 1\nb = \"abc\n\n"))
        #expect(e.location == at(2, 5))
        #expect(e.message.contains("unterminated"))
    }

    @Test func missingEquals() throws {
        let e = try #require(swanctlSyntaxError("conn {\n  local addrs = 1\n}\n"))
        #expect(e.location == at(2, 9))
        #expect(e.message.contains("expected `=` or `{` after `local`"))
    }

    @Test func quotedNameIsRefused() throws {
        let e = try #require(swanctlSyntaxError("\"a\" = 1\n"))
        #expect(e.location == at(1, 1))
    }

    @Test func dotInNameIsRefused() throws {
        let e = try #require(swanctlSyntaxError("a.b = 1\n"))
        #expect(e.location == at(1, 2))
    }

    @Test func referencesInheritWhatIsNotDefined() throws {
        let root = try #require(swanctlTree("""
            defaults {
              version = 2
              rekey_time = 1h
              children { c { mode = tunnel
                             esp_proposals = aes256gcm16 } }
            }
            connections {
              gw : defaults {
                rekey_time = 2h
                children { c { mode = transport } }
              }
            }
            """))
        let gw = try #require(root.subsection("connections")?.subsection("gw"))
        #expect(gw.references == ["defaults"])
        #expect(gw.value("version")?.value == "2")
        #expect(gw.value("rekey_time")?.value == "2h")
        let c = try #require(gw.subsection("children")?.subsection("c"))
        #expect(c.value("mode")?.value == "transport")
        #expect(c.value("esp_proposals")?.value == "aes256gcm16")
    }

    @Test func referenceToNothingIsAnError() throws {
        let e = try #require(swanctlSyntaxError("connections {\n  gw : connections.missing { }\n}\n"))
        #expect(e.location == at(2, 3))
        #expect(e.message.contains("connections.missing"))
    }

    @Test func referenceCycleIsAnError() throws {
        let e = try #require(swanctlSyntaxError("a : b { }\nb : a { }\n"))
        #expect(e.message.contains("cycle"))
    }

    @Test func deepNestingIsRefusedNotACrash() throws {
        let text = String(repeating: "a {", count: 5000)
        let e = try #require(swanctlSyntaxError(text))
        #expect(e.message.contains("nested"))
    }
}
