import BusCore
import Testing

@testable import SchemaKit

@Suite struct JSONSchemaTests {
    func schema(_ text: String) throws -> JSONSchema { try JSONSchema(parsing: text) }

    /// The `jsonschema` package's verdicts (Fixtures/jsonschema.json) are ours.
    @Test func matchesPythonJsonschema() throws {
        for group in try fixture("jsonschema.json").arrayValue ?? [] {
            let schema = try JSONSchema(json: group["schema"]!)
            for instance in group["instances"]?.arrayValue ?? [] {
                #expect(
                    schema.isValid(instance["data"]!) == (instance["valid"] == .bool(true)),
                    "\(text(instance["data"]!))")
            }
        }
    }

    @Test func draft07Keywords() throws {
        let tuple = try schema(#"{"items":[{"type":"integer"},{"type":"string"}],"additionalItems":false}"#)
        #expect(tuple.isValid(try json(#"[1,"a"]"#)))
        #expect(!tuple.isValid(try json(#"[1,"a",3]"#)))
        #expect(!tuple.isValid(try json(#"["a"]"#)))
        let dependencies = try schema(#"{"dependencies":{"a":["b"],"c":{"required":["d"]}}}"#)
        #expect(dependencies.isValid(try json(#"{"a":1,"b":2}"#)))
        #expect(!dependencies.isValid(try json(#"{"a":1}"#)))
        #expect(!dependencies.isValid(try json(#"{"c":1}"#)))
        let definitions = try schema(
            ##"{"definitions":{"n":{"type":"number"}},"properties":{"x":{"$ref":"#/definitions/n"}}}"##)
        #expect(!definitions.isValid(try json(#"{"x":"1"}"#)))
    }

    @Test func numbersAreExactDecimals() throws {
        #expect(try schema(#"{"multipleOf":0.01}"#).isValid(.number("19.99")))
        #expect(try schema(#"{"multipleOf":0.0001}"#).isValid(.number("0.0075")))
        #expect(try !schema(#"{"multipleOf":0.123456789}"#).isValid(.number("1e308")))
        #expect(try schema(#"{"type":"integer"}"#).isValid(.number("1.0")))
        #expect(try schema(#"{"enum":[1]}"#).isValid(.number("1.00")))
    }

    @Test func violationsSayWhere() throws {
        let s = try schema(#"{"properties":{"a":{"type":"array","items":{"maximum":3}}}}"#)
        let violations = s.violations(of: try json(#"{"a":[1,5]}"#))
        #expect(violations.first?.path == "/a/1")
        // RFC 6901 §3: `~` and `/` in a member name are escaped; the whole instance is the empty pointer.
        let odd = try schema(#"{"properties":{"a/b~c":{"type":"string"}}}"#)
        #expect(odd.violations(of: try json(#"{"a/b~c":1}"#)).first?.path == "/a~1b~0c")
        #expect(try schema(#"{"type":"object"}"#).violations(of: .number("1")).first?.path == "")
        let error = #expect(throws: SchemaError.self) { try s.validate(try json(#"{"a":[9]}"#)) }
        #expect(error?.kind == .invalidRecord)
    }

    @Test func refusesInvalidSchemas() {
        for text in [
            ##"{"$ref":"#/nowhere"}"##, #"{"pattern":"("}"#, "1", #"{"properties":{"a":3}}"#,
            #"{"$ref":"http://elsewhere/x"}"#,
        ] {
            let error = #expect(throws: SchemaError.self, "\(text)") { try JSONSchema(parsing: text) }
            #expect(error?.registryErrorCode == 42201)
        }
    }

    @Test func suppliedReferencesResolveAndNothingIsFetched() throws {
        // A registry subject referencing another subject's schema by URI.
        let address = try json(#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#)
        let user = try JSONSchema(
            parsing: #"{"properties":{"home":{"$ref":"address.json"}}}"#,
            references: ["address.json": address])
        #expect(user.isValid(try json(#"{"home":{"city":"Oslo"}}"#)))
        #expect(!user.isValid(try json(#"{"home":{}}"#)))
        #expect(throws: SchemaError.self) { try JSONSchema(parsing: #"{"$ref":"address.json"}"#) }
    }

    // MARK: - Compatibility

    func problems(reader: String, writer: String) throws -> [String] {
        JSONSchemaCompatibility.incompatibilities(reader: try schema(reader), writer: try schema(writer))
    }

    @Test func contentModels() throws {
        let open = #"{"type":"object","properties":{"a":{"type":"string"}}}"#
        let closed = #"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}"#
        let openPlusB = #"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}"#
        let closedPlusB =
            #"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":false}"#
        let closedEmpty = #"{"type":"object","properties":{},"additionalProperties":false}"#
        // Adding an optional property: fine when the writer was closed, not when it was open.
        #expect(try problems(reader: closedPlusB, writer: closed).isEmpty)
        #expect(
            try problems(reader: openPlusB, writer: open).first?.hasPrefix("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")
                == true)
        // Removing a property: fine into an open model, not into a closed one.
        #expect(try problems(reader: open, writer: openPlusB).isEmpty)
        #expect(
            try problems(reader: closedEmpty, writer: closed).first?.hasPrefix(
                "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL") == true)
        // Requiring a property the writer did not.
        let required = #"{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}"#
        #expect(try problems(reader: required, writer: open).first?.hasPrefix("REQUIRED_ATTRIBUTE_ADDED") == true)
        #expect(try problems(reader: open, writer: required).isEmpty)
        // Confluent's exceptions: a required property with a default, a `false` property removed.
        let requiredWithDefault =
            #"{"type":"object","properties":{"a":{"type":"string","default":""}},"required":["a"]}"#
        #expect(try problems(reader: requiredWithDefault, writer: open).isEmpty)
        let closedWithFalse =
            #"{"type":"object","properties":{"a":{"type":"string"},"z":false},"additionalProperties":false}"#
        #expect(try problems(reader: closed, writer: closedWithFalse).isEmpty)
        #expect(try problems(reader: #"{"multipleOf":5}"#, writer: #"{"multipleOf":10}"#).isEmpty)
        #expect(
            try problems(reader: #"{"multipleOf":10}"#, writer: #"{"multipleOf":5}"#) == ["MULTIPLE_OF_CHANGED at #"])
    }

    @Test func typesEnumsBounds() throws {
        #expect(try problems(reader: #"{"type":"number"}"#, writer: #"{"type":"integer"}"#).isEmpty)
        #expect(
            try problems(reader: #"{"type":"integer"}"#, writer: #"{"type":"number"}"#).first?.hasPrefix(
                "TYPE_NARROWED") == true)
        #expect(try problems(reader: #"{"type":["string","null"]}"#, writer: #"{"type":"string"}"#).isEmpty)
        #expect(try problems(reader: #"{"enum":["a","b","c"]}"#, writer: #"{"enum":["a","b"]}"#).isEmpty)
        #expect(
            try problems(reader: #"{"enum":["a"]}"#, writer: #"{"enum":["a","b"]}"#).first?.hasPrefix(
                "ENUM_ARRAY_NARROWED") == true)
        #expect(try problems(reader: #"{"maxLength":10}"#, writer: #"{"maxLength":5}"#).isEmpty)
        #expect(try problems(reader: #"{"maxLength":4}"#, writer: #"{"maxLength":5}"#) == ["MAX_LENGTH_DECREASED at #"])
        #expect(try problems(reader: #"{"minimum":1}"#, writer: #"{}"#) == ["MINIMUM_ADDED at #"])
        #expect(
            try problems(reader: #"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#, writer: #"{"type":"string"}"#)
                .isEmpty)
        #expect(
            try !problems(
                reader: #"{"oneOf":[{"type":"string"}]}"#, writer: #"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#
            ).isEmpty)
    }
}
