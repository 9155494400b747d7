import BusCore
import Testing

@testable import SchemaKit

@Suite struct CompatibilityLevelTests {
    func avro(_ fields: String) throws -> ParsedSchema {
        try ParsedSchema(type: .avro, text: #"{"type":"record","name":"R","fields":[\#(fields)]}"#)
    }

    @Test func levels() throws {
        let v1 = try avro(#"{"name":"a","type":"int"}"#)
        let v2 = try avro(#"{"name":"a","type":"int"},{"name":"b","type":"string"}"#)  // b without default
        let v3 = try avro(#"{"name":"b","type":"string"}"#)
        // v2 adds b without a default: it cannot read v1 data (backward), v1 can read v2 data (forward).
        #expect(!CompatibilityLevel.backward.incompatibilities(of: v2, previous: [v1]).isEmpty)
        #expect(CompatibilityLevel.forward.incompatibilities(of: v2, previous: [v1]).isEmpty)
        #expect(!CompatibilityLevel.full.incompatibilities(of: v2, previous: [v1]).isEmpty)
        #expect(CompatibilityLevel.none.incompatibilities(of: v2, previous: [v1]).isEmpty)
        // v3 drops a: backward against v2 only is fine, against v1 too (transitive) as well; forward
        // transitive is not (v1 needs a, which v3 does not write and v1 has no default for).
        #expect(CompatibilityLevel.backward.incompatibilities(of: v3, previous: [v1, v2]).isEmpty)
        #expect(!CompatibilityLevel.backwardTransitive.incompatibilities(of: v3, previous: [v1, v2]).isEmpty)
        #expect(!CompatibilityLevel.forwardTransitive.incompatibilities(of: v3, previous: [v1, v2]).isEmpty)
        #expect(CompatibilityLevel.backward.incompatibilities(of: v1, previous: []).isEmpty)
        let error = #expect(throws: SchemaError.self) {
            try CompatibilityLevel.fullTransitive.check(v3, previous: [v1, v2])
        }
        #expect(error?.registryErrorCode == 409 && error?.httpStatus == 409)
        // Different schema types never are.
        let json = try ParsedSchema(type: .json, text: "{}")
        #expect(!CompatibilityLevel.backward.incompatibilities(of: json, previous: [v1]).isEmpty)
    }

    @Test func schemaReferences() throws {
        let address = try ParsedSchema(
            type: .avro,
            text: #"{"type":"record","name":"Address","namespace":"x","fields":[{"name":"city","type":"string"}]}"#)
        let user = try ParsedSchema(
            type: .avro,
            text: #"{"type":"record","name":"User","namespace":"x","fields":[{"name":"home","type":"Address"}]}"#,
            references: ["x.Address": address])
        #expect(
            try user.serialize(try json(#"{"home":{"city":"Oslo"}}"#), schemaID: 9) == [0, 0, 0, 0, 9, 0x08]
                + Array("Oslo".utf8))
        #expect(throws: SchemaError.self) {
            try ParsedSchema(
                type: .avro,
                text: #"{"type":"record","name":"User","namespace":"x","fields":[{"name":"home","type":"Address"}]}"#)
        }
        let proto = #expect(throws: SchemaError.self) {
            try ParsedSchema(
                type: .protobuf, text: "syntax = \"proto3\"; message M {}", references: ["a.proto": address])
        }
        #expect(proto?.kind == .unsupported)
    }

    @Test func parsing() throws {
        for level in CompatibilityLevel.allCases { #expect(try CompatibilityLevel(parsing: level.rawValue) == level) }
        #expect(try CompatibilityLevel(parsing: "full_transitive") == .fullTransitive)
        let error = #expect(throws: SchemaError.self) { try CompatibilityLevel(parsing: "SIDEWAYS") }
        #expect(error?.registryErrorCode == 42203)
        #expect(try SchemaType(schemaTypeMember: nil) == .avro)
        #expect(throws: SchemaError.self) { try SchemaType(schemaTypeMember: "XML") }
    }
}
