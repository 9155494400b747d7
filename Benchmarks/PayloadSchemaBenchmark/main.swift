import BusCore
import BusRuntime
import Foundation
import NIOCore
import SchemaKit

// Micro-benchmark of the payload schema check on the publish path (issue 21; docs/benchmarks.md,
// "Payload schemas (issue 21)"): what `PayloadSchemas.check` costs per message when no rule is configured,
// when rules exist but none governs the topic, and when one does (a valid and an invalid 256-byte JSON
// reading), next to parsing the same bytes alone. Target: ≤ 2 µs per 256 B JSON message.
// Run: swift run -c release PayloadSchemaBenchmark

#if canImport(Glibc)
    import Glibc
#endif

func now() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

let schemaText = #"""
    {"$schema": "https://json-schema.org/draft/2020-12/schema",
     "$defs": {"coordinate": {"type": "number", "minimum": -180, "maximum": 180}},
     "type": "object", "required": ["id", "temp", "unit"],
     "properties": {
       "id": {"type": "string", "pattern": "^[a-z]+-[0-9]+$"},
       "temp": {"type": "number", "minimum": -50, "exclusiveMaximum": 100},
       "unit": {"enum": ["C", "F"]},
       "tags": {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 8},
       "at": {"type": "object", "required": ["lat", "lon"], "additionalProperties": false,
              "properties": {"lat": {"$ref": "#/$defs/coordinate"}, "lon": {"$ref": "#/$defs/coordinate"}}},
       "battery": {"type": "integer", "minimum": 0, "maximum": 100},
       "seq": {"type": "integer", "minimum": 0},
       "note": {"type": "string", "maxLength": 200}},
     "additionalProperties": false}
    """#

/// A reading of exactly `bytes` bytes (the note pads it).
func reading(temp: String, bytes: Int) -> ByteBuffer {
    let head =
        #"{"id":"dev-123","temp":\#(temp),"unit":"C","tags":["roof","north"],"at":{"lat":52.52,"lon":13.405},"#
        + #""battery":87,"seq":123456,"note":""#
    let tail = #""}"#
    let note = String(repeating: "x", count: bytes - head.utf8.count - tail.utf8.count)
    return ByteBuffer(string: head + note + tail)
}

let valid = reading(temp: "21.5", bytes: 256)
let invalid = reading(temp: "120", bytes: 256)
precondition(valid.readableBytes == 256 && invalid.readableBytes == 256)

let schema = try! JSONSchema(parsing: schemaText)
let rules = PayloadSchemas(rules: [
    PayloadSchemas.Rule(filter: try! TopicFilter("orders/+"), schema: try! JSONSchema(parsing: #"{"type":"object"}"#)),
    PayloadSchemas.Rule(
        filter: try! TopicFilter("payments/#"), schema: try! JSONSchema(parsing: #"{"type":"object"}"#)),
    PayloadSchemas.Rule(filter: try! TopicFilter("sensors/+/+/reading"), schema: schema),
])
// The same schema without the `pattern` keyword: what a regular expression costs.
let withoutPattern = PayloadSchemas(rules: [
    PayloadSchemas.Rule(
        filter: try! TopicFilter("sensors/+/+/reading"),
        schema: try! JSONSchema(
            parsing: schemaText.replacingOccurrences(of: #", "pattern": "^[a-z]+-[0-9]+$""#, with: "")))
])
let governed = try! Topic("sensors/eu-west/dev-123/reading")
let ungoverned = try! Topic("chat/room-42/messages")
precondition(rules.check(governed, payload: valid, contentType: nil) == nil)
precondition(rules.check(governed, payload: invalid, contentType: nil)?.path == "/temp")

/// Median ns per call of 5 runs of `iterations` calls.
func measure(_ iterations: Int, _ body: () -> Bool) -> Double {
    var runs: [Double] = []
    var sink = 0
    for _ in 0..<5 {
        let start = now()
        for _ in 0..<iterations where body() { sink &+= 1 }
        runs.append(Double(now() - start) / Double(iterations))
    }
    if sink == -1 { print(sink) }  // keeps the calls
    return runs.sorted()[2]
}

print("case | ns/message (median of 5 runs)")
print("-- | --")
let none = PayloadSchemas.none
print(
    "no rules configured | "
        + String(format: "%.1f", measure(10_000_000) { none.check(governed, payload: valid, contentType: nil) == nil }))
print(
    "3 rules, none governs the topic | "
        + String(
            format: "%.1f", measure(2_000_000) { rules.check(ungoverned, payload: valid, contentType: nil) == nil }))
print(
    "parse only (JSONParser.parse, 256 B) | "
        + String(
            format: "%.1f",
            measure(200_000) {
                (try? valid.withUnsafeReadableBytes { bytes throws(JSONError) in try JSONParser.parse(bytes) }) != nil
            }))
print(
    "tape only (JSONTape.withTape, 256 B; what the check reads) | "
        + String(
            format: "%.1f",
            measure(2_000_000) {
                valid.withUnsafeReadableBytes { bytes in JSONTape.withTape(of: bytes) { $0 != nil } }
            }))
// What the byte matcher for simple patterns saves: Swift `Regex` as the evaluator matches it.
let idPattern = try! Regex("^[a-z]+-[0-9]+$").matchingSemantics(.unicodeScalar)
let identifier = "dev-123"
print(
    "Regex.firstMatch of the schema's `pattern` on \"dev-123\" | "
        + String(format: "%.1f", measure(200_000) { (try? idPattern.firstMatch(in: identifier)) != nil }))
print(
    "governed, valid 256 B reading | "
        + String(format: "%.1f", measure(1_000_000) { rules.check(governed, payload: valid, contentType: nil) == nil }))
print(
    "governed, valid 256 B reading, schema without `pattern` | "
        + String(
            format: "%.1f",
            measure(1_000_000) { withoutPattern.check(governed, payload: valid, contentType: nil) == nil }
        ))
print(
    "governed, invalid 256 B reading (/temp) | "
        + String(format: "%.1f", measure(200_000) { rules.check(governed, payload: invalid, contentType: nil) != nil }))
