import BusCore
import NIOCore
import Testing

@testable import SchemaKit

/// The compiled validator (`JSONSchema.isValid(_: JSONTape)`) gives the evaluator's verdict, and the
/// tape reads exactly what `JSONParser` reads.
@Suite struct CompiledJSONSchemaTests {
    /// The compiled verdict on `instance`'s text; nil when the schema is not compiled.
    static func compiledVerdict(_ schema: JSONSchema, _ text: String) -> Bool? {
        Array(text.utf8).withUnsafeBytes { bytes in
            JSONTape.withTape(of: bytes) { tape in tape.flatMap { schema.isValid($0) } }
        }
    }

    static func compiledVerdict(_ schema: JSONSchema, _ instance: JSONValue) -> Bool? {
        var buffer = ByteBuffer()
        buffer.writeJSONValue(instance)
        return compiledVerdict(schema, String(buffer: buffer))
    }

    /// Schemas and instances (as JSON text) covering every keyword the validator compiles.
    static let cases: [(schema: String, instances: [String])] = [
        (
            #"{"type":"object","required":["id"],"properties":{"id":{"type":"integer","minimum":1}},"additionalProperties":false}"#,
            [#"{"id":1}"#, #"{"id":0}"#, #"{"id":1.0}"#, #"{"id":1.5}"#, #"{"id":1,"x":2}"#, #"{}"#, "[]", "1"]
        ),
        (
            #"{"type":["string","null"],"minLength":2,"maxLength":3,"pattern":"^[a-z]+$"}"#,
            [
                #""ab""#, #""abcd""#, #""a""#, "null", #""AB""#, #""\u0061b""#, #""é1""#, #""aé""#,
                #""e\u0301x""#, #""\ud83d\ude00a""#, "1",
            ]
        ),
        (
            #"{"minLength":2,"maxLength":2}"#,
            [#""ab""#, #""éé""#, #""e\u0301""#, #""😀😀""#, #""😀""#, #""\ud83d\ude00""#, #""abc""#]
        ),
        (
            #"{"multipleOf":0.01,"exclusiveMaximum":100,"exclusiveMinimum":-5,"maximum":99.99,"minimum":-4.5}"#,
            [
                "19.99", "19.999", "100", "99.99", "-4.5", "-4.51", "0", "-0", "1e1", "1E-2", "1.000e2", "5e-3",
                "12345678901234567890123", "0.1e-400", "1e999999", "1e1000000",
            ]
        ),
        (
            #"{"type":"integer","multipleOf":3}"#,
            ["9", "9.0", "90e-1", "10", "1e2", "3e300", "-3", "12345678901234567890123", "1e-1000000"]
        ),
        (
            #"{"enum":[1,"a",null,true,[1,{"x":2}],{"a":[1.0]},12345678901234567890123]}"#,
            [
                "1.0", "1", "10e-1", #""a""#, #""\u0061""#, "null", "true", "false", #"[1,{"x":2.00}]"#,
                #"[1,{"x":3}]"#, #"{"a":[1]}"#, #"{"a":[1],"b":1}"#, "12345678901234567890123",
                "12345678901234567890124", "2",
            ]
        ),
        (
            #"{"const":{"a":"x","b":[true]}}"#,
            [#"{"b":[true],"a":"x"}"#, #"{"a":"x"}"#, #"{"a":"x","b":[false]}"#, #"{"a":"\u0078","b":[true]}"#]
        ),
        (
            #"{"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"items":false,"minItems":1,"maxItems":2}"#,
            ["[]", "[1]", #"[1,"a"]"#, #"[1,"a",3]"#, #"["a"]"#, "[1,2]"]
        ),
        (
            #"{"items":[{"type":"integer"}],"additionalItems":{"type":"string"}}"#,
            ["[1]", #"[1,"a","b"]"#, "[1,2]", #"["x"]"#, "{}"]
        ),
        (
            #"{"uniqueItems":true}"#,
            [
                "[1,2]", "[1,1.0]", #"["a","\u0061"]"#, #"[{"a":1,"b":2},{"b":2,"a":1}]"#, #"[[1],[1,2]]"#,
                "[null,false,0]", "[true,true]", #"[{"a":1},{"a":2}]"#,
            ]
        ),
        (
            #"{"contains":{"type":"string"},"minContains":2,"maxContains":3}"#,
            [#"["a"]"#, #"["a","b"]"#, #"["a",1,"b","c"]"#, #"["a","b","c","d"]"#, "[]", "{}"]
        ),
        (
            #"{"contains":{"const":1}}"#,
            ["[1]", "[2]", "[]", "[2,1]"]
        ),
        (
            #"{"minProperties":1,"maxProperties":2,"propertyNames":{"pattern":"^[a-z]+$"},"patternProperties":{"^x":{"type":"integer"},"[0-9]$":{"minimum":5}},"additionalProperties":{"type":"string"}}"#,
            [
                "{}", #"{"a":"s"}"#, #"{"a":1}"#, #"{"xa":1}"#, #"{"xa":"s"}"#, #"{"A":"s"}"#,
                #"{"a":"s","b":"t","c":"u"}"#,
                #"{"\u0078y":1}"#,
            ]
        ),
        (
            #"{"patternProperties":{"^x":{"type":"integer"},"[0-9]$":{"minimum":5}}}"#,
            [#"{"x1":1}"#, #"{"x1":7}"#, #"{"y1":3}"#, #"{"é":1}"#]
        ),
        (
            #"{"dependentRequired":{"a":["b"]},"dependentSchemas":{"c":{"required":["d"]}},"dependencies":{"e":["f"],"g":{"maxProperties":1}}}"#,
            [
                #"{"a":1,"b":2}"#, #"{"a":1}"#, #"{"c":1}"#, #"{"c":1,"d":1}"#, #"{"e":1}"#, #"{"e":1,"f":1}"#,
                #"{"g":1}"#, #"{"g":1,"h":1}"#,
            ]
        ),
        (
            #"{"allOf":[{"type":"number"},{"minimum":2}],"anyOf":[{"maximum":3},{"multipleOf":5}],"oneOf":[{"type":"integer"},{"minimum":4}],"not":{"const":10}}"#,
            ["2", "3", "5", "10", "1", "2.5", "4.5", "20", #""a""#]
        ),
        (
            #"{"if":{"properties":{"kind":{"const":"a"}}},"then":{"required":["a"]},"else":{"required":["b"]}}"#,
            [#"{"kind":"a","a":1}"#, #"{"kind":"a"}"#, #"{"kind":"b","b":1}"#, #"{"kind":"b"}"#, #"{}"#]
        ),
        (
            ##"{"$defs":{"node":{"type":"object","properties":{"next":{"$ref":"#/$defs/node"},"v":{"type":"integer"}}}},"$ref":"#/$defs/node"}"##,
            [#"{"v":1,"next":{"v":2,"next":{}}}"#, #"{"v":1,"next":{"v":"x"}}"#]
        ),
        (
            ##"{"$ref":"#"}"##,
            ["1", "{}"]
        ),
        (
            #"{"$id":"http://example.com/root.json","$defs":{"a":{"$id":"a.json","$anchor":"here","type":"string"}},"properties":{"x":{"$ref":"a.json"},"y":{"$ref":"a.json#here"},"z":{"$ref":"http://example.com/a.json"}}}"#,
            [#"{"x":"s","y":"t","z":"u"}"#, #"{"x":1}"#, #"{"y":1}"#, #"{"z":1}"#]
        ),
        (
            #"{"properties":{"a/b~c":{"type":"string"},"é":{"type":"string"},"K":{"type":"integer"}},"required":["é"]}"#,
            [
                #"{"a/b~c":"x","é":"y"}"#, #"{"é":"y","a/b~c":1}"#, #"{"e\u0301":"y"}"#, #"{"é":1}"#,
                #"{"\u212a":"x","é":"y"}"#,
            ]
        ),
        (
            #"{"type":"object","properties":{"a":{"type":"string"}},"unevaluatedProperties":false}"#,
            [#"{"a":"x"}"#, #"{"a":"x","b":1}"#, #"{}"#]
        ),
        (
            #"{"properties":{"inner":{"prefixItems":[true],"unevaluatedItems":false}},"required":["inner"]}"#,
            [#"{"inner":[1]}"#, #"{"inner":[1,2]}"#, #"{}"#]
        ),
        (#"{"type":5}"#, ["1", "null"]),
        (#"{"maximum":"x","minLength":-1,"required":"a","enum":1}"#, ["1", #""""#, "{}"]),
        (#"{"properties":{"a":false},"additionalProperties":true}"#, [#"{"a":1}"#, #"{"b":1}"#]),
        (#"{"anyOf":[],"x":1}"#, ["1"]),
        (#"{"oneOf":[true,true]}"#, ["1"]),
        (#"{"not":{}}"#, ["1"]),
    ]

    @Test func agreesWithTheEvaluator() throws {
        for (text, instances) in Self.cases {
            let schema = try JSONSchema(parsing: text)
            #expect(schema.compiled != nil, "\(text)")
            for instance in instances {
                let expected = schema.isValid(try json(instance))
                #expect(Self.compiledVerdict(schema, instance) == expected, "\(text) on \(instance)")
            }
        }
    }

    /// The `jsonschema` package's fixtures, through the compiled validator.
    @Test func agreesOnTheFixtures() throws {
        for group in try fixture("jsonschema.json").arrayValue ?? [] {
            let schema = try JSONSchema(json: group["schema"]!)
            for instance in group["instances"]?.arrayValue ?? [] {
                let verdict = Self.compiledVerdict(schema, instance["data"]!) ?? schema.isValid(instance["data"]!)
                #expect(verdict == (instance["valid"] == .bool(true)), "\(text(instance["data"]!))")
            }
        }
    }

    @Test func dynamicReferencesAreLeftToTheEvaluator() throws {
        let schema = try JSONSchema(
            parsing: ##"{"$dynamicAnchor":"node","properties":{"a":{"$dynamicRef":"#node"}}}"##)
        #expect(schema.compiled == nil)
        #expect(Self.compiledVerdict(schema, "{}") == nil)
    }

    @Test func deepReferenceCyclesFailLikeTheEvaluator() throws {
        let schema = try JSONSchema(
            parsing: ##"{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}"##)
        #expect(!schema.isValid(.number("1")))
        #expect(Self.compiledVerdict(schema, "1") == false)
    }

    // MARK: - The tape

    @Test func tapeAcceptsWhatTheParserAccepts() {
        let texts = [
            "{}", "[]", " 1 ", "-0", "0.5e+3", "1E5", #""a\"b\\c\/\b\f\n\r\t\u00e9""#, #""\ud83d\ude00""#, "true",
            "false", "null", #"{"a":[1,{"b":null}],"c":"é"}"#, "01", "1.", ".5", "-", "1e", "+1", "[1,]", "{,}",
            #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, "[1 2]", "tru", "nul", "\"abc", "\"a\u{1}b\"", #""\x""#, #""\u12""#,
            #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, "[1]x", "", "   ", "{\"a\":1}}", "\"\u{7F}\"",
            String(repeating: "[", count: 63) + String(repeating: "]", count: 63),
            String(repeating: "[", count: 64) + String(repeating: "]", count: 64),
            "\"abcdefghijklmnopqrstuvwxyz0123456789\"", "\"abcdefgh\\\"ijklmnop\"",
            // The densest inputs: the tape's capacity (half the bytes, plus two) must hold them.
            "[" + String(repeating: "1,", count: 100) + "1]", "[[],[],[]]", #"{"":1,"":[],"":{}}"#, "[[[[]]]]", "0",
            "[0,[0,[0,[0]]]]",
        ]
        var inputs = texts.map { Array($0.utf8) }
        // Invalid UTF-8 inside strings, long and short.
        inputs += [
            [0x22, 0xC3, 0x28, 0x22], [0x22] + Array("abcdefghijk".utf8) + [0xED, 0xA0, 0x80, 0x22],
            [0x22, 0xFF, 0x22],
        ]
        for input in inputs {
            let parsed = try? input.withUnsafeBytes { try JSONParser.parse($0) }
            let taped = input.withUnsafeBytes { bytes in
                JSONTape.withTape(of: bytes) { tape in tape.map { $0.value(0) } }
            }
            #expect(taped == parsed, "\(String(decoding: input, as: UTF8.self))")
        }
    }

    @Test func tapeDecodesStrings() {
        let input = Array(#"["a\u00e9\ud83d\ude00\n\"", "plain"]"#.utf8)
        input.withUnsafeBytes { bytes in
            JSONTape.withTape(of: bytes) { tape in
                guard let tape else {
                    Issue.record("not parsed")
                    return
                }
                #expect(tape.tokens.count == 3)
                #expect(tape.string(tape.tokens[1]) == "aé😀\n\"")
                #expect(tape.tokens[1].escaped && !tape.tokens[2].escaped)
                #expect(tape.string(tape.tokens[2]) == "plain")
                #expect(tape.tokens[0].next == 3 && tape.tokens[0].count == 2)
            }
        }
    }

    // MARK: - Numbers

    @Test func decimalsReadAsJSONNumberDoes() {
        for text in [
            "0", "-0", "0.0", "1", "10", "100e-2", "0.001", "-1.5e3", "123456789012345678", "1234567890123456789",
            "12345678901234567890", "9007199254740993", "1e22", "1e23", "4.35", "0.1", "1e-7", "5E+2",
        ] {
            let number = JSONNumber(text)!
            let decimal = Array(text.utf8).withUnsafeBytes { JSONDecimal($0) }
            if let decimal {
                #expect(JSONDecimal(number) == decimal, "\(text)")
                #expect(decimal.isInteger == number.isInteger, "\(text)")
                if let double = decimal.double { #expect(double == number.double, "\(text)") }
            } else {
                #expect(number.digits.count > 19, "\(text)")
            }
        }
    }

    // MARK: - Patterns

    @Test func simplePatternsMatchAsRegexDoes() throws {
        let patterns = [
            "^[a-z]+-[0-9]+$", "[0-9]{2,3}", "^a*b?c+$", "^\\d{3}-\\d{4}$", "\\w+@\\w+\\.com", "^$", "", "x",
            "^[^abc]*$", "a.c", "^\\s*$", "^[A-Za-z_][A-Za-z0-9_]*$", "^\\S+$", "^[-+]?[0-9]*\\.?[0-9]+$",
            "^a{2}$", "^a{2,}$", "a+?b", "^[\\w.-]+$", "^[a-]+$", "\\$", "^\\^", "[.]", "^#\\d$", "^a|b$", "(ab)+",
            "\\bword", "[[:alpha:]]", "[a-z&&[^x]]", "\\p{L}", "a{,3}", "a*+", "[:digit:]", "[^:digit:]", "[0-9:]+",
            "[x:digit:]", "[=a=]", "[.a.]", "[a--b]", "[a&&b]", "\\Qa.b\\E", "x{1,2}?",
        ]
        let texts = [
            "", "a", "abc", "dev-123", "DEV-123", "dev-", "-123", "12", "1234", "aabccc", "ac", "bc", "555-1234",
            "5551234", "me@host.com", "me@hostxcom", " ", " \t ", "a c", "abd", "x", "xyz", "+1.5", "-.5", "1.",
            "aa", "aaa", "ab", "a-b", "$", "^", ".", "#1", "é", "dev-123\n", "a\nc", "word", "a\u{0B}c", "ab\r",
            "٣٣٣-٣٣٣٣", ":", "d", "1", "12:30", "=", "-", "q",
        ]
        for source in patterns {
            let pattern = try #require(SchemaPattern(source), "\(source)")
            let regex = try Regex(source).matchingSemantics(.unicodeScalar)
            for text in texts {
                let expected = (try regex.firstMatch(in: text)) != nil
                #expect(pattern.matches(text) == expected, "\(source) on \(text.debugDescription)")
                let viaBytes = Array(text.utf8).withUnsafeBytes { pattern.matches(utf8: $0) }
                #expect(viaBytes == expected, "\(source) on \(text.debugDescription)")
            }
        }
        // The simple shapes take the fast matcher; the rest go to Regex.
        #expect(SchemaPattern("^[a-z]+-[0-9]+$")?.atoms != nil)
        #expect(SchemaPattern("(ab)+")?.atoms == nil)
        #expect(SchemaPattern("[[:alpha:]]")?.atoms == nil)
        #expect(SchemaPattern("a*+")?.atoms == nil)
        #expect(SchemaPattern("[:digit:]")?.atoms == nil)
        #expect(SchemaPattern("[0-9:]+")?.atoms != nil)
    }

    /// Random patterns over the characters regular expressions treat specially (fixed seed): wherever
    /// the byte matcher takes a pattern, it answers as `Regex` does on random ASCII text.
    @Test func randomPatternsMatchAsRegexDoes() throws {
        var state: UInt64 = 0x5EED
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        let pieces = [
            "a", "b", "-", ":", ".", "^", "$", "[", "]", "[^", "\\", "\\d", "\\w", "\\s", "\\D", "\\.", "{", "}",
            "{2}", "{1,}", "{0,2}", ",", "*", "+", "?", "(", ")", "|", "=", "&&", "--", "~", " ", "0-9", "a-z", "1",
        ]
        let alphabet = Array("ab-:. 1=9_zA\t".utf8)
        var taken = 0
        for _ in 0..<3_000 {
            let source = (0..<(1 + next(6))).map { _ in pieces[next(pieces.count)] }.joined()
            guard let pattern = SchemaPattern(source), pattern.atoms != nil else { continue }
            taken += 1
            let regex = try Regex(source).matchingSemantics(.unicodeScalar)
            for _ in 0..<12 {
                let text = String(decoding: (0..<next(7)).map { _ in alphabet[next(alphabet.count)] }, as: UTF8.self)
                let expected = (try regex.firstMatch(in: text)) != nil
                #expect(pattern.matches(text) == expected, "\(source) on \(text.debugDescription)")
            }
        }
        #expect(taken > 300)
    }
}
