import BusCore
import SwitchboardTestSupport
import Testing

@testable import SchemaKit

/// Seeded mutations of JSON payloads through the publish path's reader and validator (a payload is
/// untrusted input on every protocol): nothing crashes, the tape reads exactly what `JSONParser` reads,
/// and the compiled verdict is the evaluator's.
@Suite struct CompiledJSONSchemaRobustnessTests {
    static let seeds = [
        #"{"sensor":"t-12","temp":21.5,"unit":"C","tags":["a","b"],"at":{"s":1733400000,"ns":12}}"#,
        #"[1,-2.5e3,"\u00e9\ud83d\ude00",null,true,false,{"k":[[],{}]}]"#,
        #"{"id":"ab-1","n":12345678901234567890123,"s":"e\u0301x","deep":[[[["x"]]]]}"#,
        #""plain string""#,
    ]

    static let schemas = [
        #"{"type":"object","required":["sensor","temp"],"properties":{"sensor":{"type":"string","pattern":"^[a-z]+-[0-9]+$"},"temp":{"type":"number","exclusiveMaximum":100},"unit":{"enum":["C","F"]},"tags":{"type":"array","items":{"type":"string","minLength":1},"uniqueItems":true},"at":{"type":"object","additionalProperties":{"type":"integer"}}},"additionalProperties":false}"#,
        #"{"type":"array","prefixItems":[{"type":"integer"}],"items":{"not":{"type":"object"}},"minItems":2,"contains":{"type":"null"}}"#,
        #"{"anyOf":[{"type":"string","maxLength":5},{"type":"object","propertyNames":{"pattern":"^[a-z]+$"},"minProperties":1}]}"#,
    ]

    @Test func mutatedPayloadsGetTheEvaluatorsVerdict() throws {
        let schemas = try Self.schemas.map { try JSONSchema(parsing: $0) }
        var random = SplitMix(state: 7)
        let alphabet =
            Array(#"{}[]":,\ 0123456789-+.eE"tfnulabcz#/$"#.utf8) + [0x00, 0x7F, 0xC3, 0xA9, 0xFF, 0xED, 0xA0, 0x80]
        let mutator = ByteMutator(alphabet: alphabet, truncates: true)
        for round in 0..<20_000 {
            let seed = Array(Self.seeds[round % Self.seeds.count].utf8)
            let bytes = mutator.mutate(seed, edits: 1...4, using: &random)
            let parsed = bytes.withUnsafeBytes { try? JSONParser.parse($0) }
            let taped = bytes.withUnsafeBytes { raw in JSONTape.withTape(of: raw) { $0.map { $0.value(0) } } }
            #expect(taped == parsed, "\(String(decoding: bytes, as: UTF8.self))")
            guard let parsed else { continue }
            for schema in schemas {
                let compiled = bytes.withUnsafeBytes { raw in
                    JSONTape.withTape(of: raw) { tape in tape.flatMap { schema.isValid($0) } }
                }
                guard let compiled else { continue }
                #expect(
                    compiled == schema.violations(of: parsed).isEmpty, "\(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }
}
