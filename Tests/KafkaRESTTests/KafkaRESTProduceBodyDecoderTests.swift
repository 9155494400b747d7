import BusCore
import KafkaRESTWire
import NIOCore
import SwitchboardTestSupport
import Testing

/// The one-pass produce body decoder (binary and json formats): golden bodies, the bodies it leaves to the
/// general parse (and the 400/422 that parse gives them), and seeded mutations checked against the general
/// parse — whatever the fast decoder accepts, the general path accepts with the same stored bytes.
@Suite struct KafkaRESTProduceBodyDecoderTests {
    /// What the general path stores for `body` (`KafkaRESTProduceRequest`, then `bytes` per key and value):
    /// the records, or the error it answers.
    static func general(_ body: String, format: KafkaRESTEmbeddedFormat) -> Result<
        KafkaRESTProducedRecords, KafkaRESTError
    > {
        general(Array(body.utf8), format: format)
    }

    static func general(_ body: [UInt8], format: KafkaRESTEmbeddedFormat) -> Result<
        KafkaRESTProducedRecords, KafkaRESTError
    > {
        do {
            let request = try KafkaRESTProduceRequest(body: ByteBuffer(bytes: body))
            var records = KafkaRESTProducedRecords()
            for record in request.records {
                records.keys.append(try KafkaRESTProduceRequest.bytes(record.key, format: format, member: "key"))
                records.values.append(
                    try KafkaRESTProduceRequest.bytes(record.value, format: format, member: "value").map {
                        ByteBuffer(bytes: $0)
                    })
                records.partitions.append(record.partition)
            }
            return .success(records)
        } catch {
            return .failure(error)
        }
    }

    static func fast(_ body: String, format: KafkaRESTEmbeddedFormat) -> KafkaRESTProducedRecords? {
        KafkaRESTProduceBodyDecoder.decode(ByteBuffer(string: body), format: format)
    }

    // MARK: - Golden bodies

    @Test func binaryRecords() throws {
        let body = """
             { "records" : [ {"key":"a2V5","value":"dmFsdWU="} , {"value":"AAEC","partition":1},
            {"key":null,"value":null,"partition":null}, {} ] ,"value_schema_id":null}\t\r\n
            """
        let records = try #require(Self.fast(body, format: .binary))
        #expect(records.count == 4)
        #expect(records.keys == [Array("key".utf8), nil, nil, nil])
        #expect(records.values == [ByteBuffer(string: "value"), ByteBuffer(bytes: [0, 1, 2]), nil, nil])
        #expect(records.partitions == [nil, 1, nil, nil])
        #expect(try Self.general(body, format: .binary).get() == records)
    }

    @Test func base64BothAlphabetsAndOptionalPadding() throws {
        // RFC 4648 §5 (URL-safe) and unpadded input, as `Base64.decode` takes them.
        let records = try #require(
            Self.fast(#"{"records":[{"value":"-_8"},{"value":"+/8="},{"value":""}]}"#, format: .binary))
        #expect(records.values == [ByteBuffer(bytes: [0xFB, 0xFF]), ByteBuffer(bytes: [0xFB, 0xFF]), ByteBuffer()])
    }

    @Test func jsonRecordsAreWrittenCompactly() throws {
        let body = #"{"records":[{"key":"k","value":{ "a" : [1, 2.5e3,"x\u00e9"], "b":null}},{"value":-0.5}]}"#
        let records = try #require(Self.fast(body, format: .json))
        #expect(records.keys == [Array(#""k""#.utf8), nil])
        #expect(records.values[0] == ByteBuffer(string: #"{"a":[1,2.5e3,"xé"],"b":null}"#))
        #expect(records.values[1] == ByteBuffer(string: "-0.5"))
        #expect(try Self.general(body, format: .json).get() == records)
    }

    /// Where a buffer's bytes are in memory.
    static func address(_ buffer: ByteBuffer?) -> UInt {
        buffer?.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } ?? 0
    }

    /// How many separate buffers `values` (each `size` bytes) lie in: a value that does not start where
    /// the one before it ends starts another.
    static func buffers(_ values: ArraySlice<ByteBuffer?>, size: UInt) -> Int {
        let addresses = values.map { address($0) }
        return 1 + zip(addresses, addresses.dropFirst()).filter { $0 + size != $1 }.count
    }

    @Test func binaryValuesAreSlicesOfSharedBuffersSizedToTheBody() throws {
        // 100 values of 256 B (the benchmark's request): one buffer about the size of the values, all slices.
        let payloads = (0..<100).map { index in (0..<256).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) } }
        let records = payloads.map { #"{"value":""# + Base64.encode($0) + #""}"# }
        let body = #"{"records":["# + records.joined(separator: ",") + "]}"
        let decoded = try #require(Self.fast(body, format: .binary))
        #expect(decoded.values == payloads.map { ByteBuffer(bytes: $0) })
        #expect(Self.buffers(decoded.values[...], size: 256) == 1)
        #expect(decoded.values[0]!.storageCapacity < 100 * 256 * 2)
        #expect(try Self.general(body, format: .binary).get() == decoded)
        // A small body makes a small buffer (a record kept alone holds little besides itself).
        let small = try #require(Self.fast(#"{"records":[{"value":"AAEC"}]}"#, format: .binary))
        #expect(small.values[0]!.storageCapacity < 64)
    }

    @Test func aLargeBodyIsCutIntoBoundedBuffers() throws {
        let payload = [UInt8](repeating: 0xA5, count: 1_000)
        let text = Base64.encode(payload)
        let body =
            #"{"records":["# + Array(repeating: #"{"value":""# + text + #""}"#, count: 300).joined(separator: ",")
            + #",{"value":null},{"key":"AA==","value":""}]}"#
        let decoded = try #require(Self.fast(body, format: .binary))
        #expect(decoded.count == 302)
        #expect(decoded.values.prefix(300).allSatisfy { $0 == ByteBuffer(bytes: payload) })
        #expect(decoded.values[300] == nil && decoded.values[301] == ByteBuffer())
        #expect(decoded.keys[301] == [0])
        #expect(decoded.values.prefix(300).allSatisfy { $0!.storageCapacity <= KafkaRESTProduceBodyDecoder.arenaBytes })
        // 300 KB of values in buffers of at most 64 KB: several of them.
        #expect(Self.buffers(decoded.values.prefix(300), size: 1_000) >= 5)
        #expect(try Self.general(body, format: .binary).get() == decoded)
    }

    @Test func emptyRecordsAreNoRecords() throws {
        #expect(try #require(Self.fast(#"{"records":[]}"#, format: .binary)).count == 0)
    }

    // MARK: - Left to the general path

    /// Bad input: the fast decoder answers nil, and the general path gives the proxy's usual error.
    @Test(arguments: [
        // Truncated or malformed JSON: 400 (rest-utils' JsonParseException mapping).
        (#"{"records":[{"value":"AAEC"}"#, 400),
        (#"{"records":[{"value":"AAEC"#, 400),
        (#"{"records":[{"value":"AAEC"}]"#, 400),
        (#"{"records":[{"value":"AAEC"}]} x"#, 400),
        (#"{"records":[{"value":"AAEC",}]}"#, 400),
        (#"{"records":[{"value":"\x"}]}"#, 400),
        ("{\"records\":[{\"value\":\"AA\u{01}C\"}]}", 400),
        // Wrong types and shapes: 422 (Jackson's mapping exceptions).
        (#"{"records":{"value":"AAEC"}}"#, 422),
        (#"{"records":["AAEC"]}"#, 422),
        (#"{"records":[{"value":"AAEC","partition":-1}]}"#, 422),
        (#"{"records":[{"value":"AAEC","partition":"1"}]}"#, 422),
        (#"{"records":[{"value":"AAEC","partition":1.5}]}"#, 422),
        (#"{"value_schema_id":1}"#, 422),
        (#"{"records":[],"key_schema":7}"#, 422),
        (#"[]"#, 422),
        // Bad base64 and a non-string binary value: 422 when the records are encoded.
        (#"{"records":[{"value":"not base64!"}]}"#, 422),
        (#"{"records":[{"value":"AAE=C"}]}"#, 422),
        (#"{"records":[{"value":"A==="}]}"#, 422),
        (#"{"records":[{"value":12}]}"#, 422),
        (#"{"records":[{"key":{"a":1},"value":"AAEC"}]}"#, 422),
    ])
    func badBodies(body: String, status: Int) {
        #expect(Self.fast(body, format: .binary) == nil)
        guard case .failure(let error) = Self.general(body, format: .binary) else {
            Issue.record("the general path accepted \(body)")
            return
        }
        #expect(error.status == status, "\(body): \(error)")
    }

    @Test func emptyBodyIsLeftToTheGeneralPath() {
        #expect(KafkaRESTProduceBodyDecoder.decode(ByteBuffer(), format: .binary) == nil)
    }

    /// Valid bodies the fast decoder does not take on (escapes, unknown or repeated members, a schema
    /// member, numbers written unusually): nil, and the general path stores them as it always has.
    @Test(arguments: [
        #"{"records":[{"value":"AA\/C"}]}"#,
        #"{"rec\u006frds":[{"value":"AAEC"}]}"#,
        #"{"records":[{"value":"AAEC","headers":[]}]}"#,
        #"{"records":[{"value":"AAEC","value":"AQID"}]}"#,
        #"{"records":[{"value":"AAEC"}],"records":[]}"#,
        #"{"records":[{"value":"AAEC","partition":1e0}]}"#,
        #"{"records":[{"value":"AAEC","partition":-0}]}"#,
        #"{"records":[{"value":"AAEC"}],"value_schema":"x"}"#,
        #"{"records":[{"value":"AAEC"}],"extra":1}"#,
    ])
    func validBodiesLeftToTheGeneralPath(body: String) {
        #expect(Self.fast(body, format: .binary) == nil)
        #expect((try? Self.general(body, format: .binary).get()) != nil, "\(body)")
    }

    @Test func schemaFormatsAreLeftToTheGeneralPath() {
        for format in [KafkaRESTEmbeddedFormat.avro, .jsonschema, .protobuf] {
            #expect(Self.fast(#"{"records":[{"value":{"a":1}}],"value_schema_id":1}"#, format: format) == nil)
        }
    }

    @Test func nestingBeyondTheParsersBoundIsLeftToIt() {
        // The value sits 3 deep; 61 more arrays reach JSONParser.maxDepth (64), where the general parse
        // refuses the body: so must the fast path.
        let deep = String(repeating: "[", count: 61) + String(repeating: "]", count: 61)
        let deeper = String(repeating: "[", count: 62) + String(repeating: "]", count: 62)
        #expect(Self.fast(#"{"records":[{"value":\#(deep)}]}"#, format: .json) != nil)
        #expect(Self.fast(#"{"records":[{"value":\#(deeper)}]}"#, format: .json) == nil)
        #expect(throws: KafkaRESTError.self) {
            try Self.general(#"{"records":[{"value":\#(deeper)}]}"#, format: .json).get()
        }
    }

    // MARK: - Seeded mutations

    static let seeds: [String] = [
        #"{"records":[{"key":"a2V5","value":"dmFsdWU="},{"value":"AAEC","partition":1}]}"#,
        #"{"records":[{"value":"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=","partition":0},{"key":null,"value":null}]}"#,
        #"{"value_schema_id":null,"records":[ {"value":{"a":[1,2.5,"x"],"b":true}} , {"key":"k","value":-3e2} ]}"#,
        #"{"records":[{"partition":12,"value":"////","key":"AA=="},{}]}"#,
    ]

    /// 6,000 mutated bodies in both formats (about 450 of the 12,000 decodes still take the fast path):
    /// the fast decoder never crashes, and whatever it accepts the general path accepts with the same keys,
    /// payloads and partitions (so the fast path changes no answer, only its cost).
    @Test func mutatedBodiesAgreeWithTheGeneralPath() {
        var random = SplitMix(state: 18)
        let mutator = ByteMutator(
            alphabet: Array(#"{}[]",:\ "0123456789-.eEnulltrue+/=AZaz"#.utf8) + [0x00, 0x1F, 0xC3, 0xFF],
            truncates: true)
        var accepted = 0
        for round in 0..<6_000 {
            let seed = Array(Self.seeds[round % Self.seeds.count].utf8)
            let input = mutator.mutate(seed, edits: 1...4, using: &random)
            for format in [KafkaRESTEmbeddedFormat.binary, .json] {
                guard let fast = KafkaRESTProduceBodyDecoder.decode(ByteBuffer(bytes: input), format: format) else {
                    continue
                }
                accepted += 1
                let general = Self.general(input, format: format)
                #expect(
                    (try? general.get()) == fast,
                    "\(format) \(String(decoding: input, as: UTF8.self)): fast \(fast), general \(general)")
            }
        }
        // The mutations leave many bodies valid: the comparison is not vacuous.
        #expect(accepted > 300)
    }
}
