import BusCore
import SchemaKit

/// libFuzzer target for SchemaKit: random bytes decoded with random schemas. The first byte picks a
/// schema from `SchemaFuzzCorpus.schemas` (or, with the top bit set, parses the rest as a schema of
/// the type bits 0-1 pick); the rest is decoded (Avro binary, protobuf binary, framed records) and
/// what decodes is re-encoded and must decode to the same value. Errors are fine; crashes, hangs
/// and round-trip mismatches are not.
///
/// libFuzzer build (see Tests/Fuzz/README.md):
///   swift build --scratch-path .build-fuzz --product SchemaFuzz -c release \
///     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING
///   .build-fuzz/release/SchemaFuzz Tests/Fuzz/corpus/schema -max_total_time=60
enum SchemaFuzz {
    /// The selected schema is parsed per input rather than kept in a global table: LeakSanitizer reads
    /// the pointers Swift packs into enum payloads of a once-initialized global as leaks at exit.
    static func schema(_ selector: UInt8) -> ParsedSchema {
        let (type, text) = SchemaFuzzCorpus.schemas[Int(selector) % SchemaFuzzCorpus.schemas.count]
        guard let schema = try? ParsedSchema(type: type, text: text) else {
            preconditionFailure("corpus schema \(text)")
        }
        return schema
    }

    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let selector = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        if selector & 0x80 != 0 {
            // Schema text itself is input from the network: parsing must not crash either.
            let type = SchemaType.allCases[Int(selector & 0x3) % 3]
            let text = String(decoding: rest, as: UTF8.self)
            if let schema = try? ParsedSchema(type: type, text: text) {
                _ = schema.canonicalForm
                _ = CompatibilityLevel.fullTransitive.incompatibilities(of: schema, previous: [schema])
                decode(rest, with: schema)
            }
            return
        }
        decode(rest, with: schema(selector))
        _ = try? ConfluentWireFormat.decode(rest, protobuf: selector & 1 == 1)
    }

    static func decode(_ payload: [UInt8], with schema: ParsedSchema) {
        switch schema {
        case .avro(let avro):
            guard let value = try? AvroBinaryDecoder.decode(payload, schema: avro) else { return }
            // What decodes re-encodes to bytes that decode to the same value.
            guard let again = try? AvroBinaryEncoder.encode(value, schema: avro) else {
                preconditionFailure("decoded Avro value does not re-encode")
            }
            precondition(
                (try? AvroBinaryDecoder.decode(again, schema: avro)) == value,
                "Avro round trip changed \(payload): \(value)")
        case .protobuf(let proto):
            for message in proto.messagesByName.keys.sorted() {
                guard let value = try? ProtobufBinaryDecoder.decode(payload, schema: proto, messageName: message) else {
                    continue
                }
                guard let again = try? ProtobufBinaryEncoder.encode(value, schema: proto, messageName: message) else {
                    preconditionFailure("decoded protobuf value does not re-encode")
                }
                let reread = try? ProtobufBinaryDecoder.decode(again, schema: proto, messageName: message)
                precondition(
                    reread == value,
                    "protobuf round trip changed \(payload) as \(message): \(value) → \(String(describing: reread))")
            }
        case .json(let json):
            guard let value = try? payload.withUnsafeBytes({ try JSONParser.parse($0) }) else { return }
            _ = json.violations(of: value)
        }
    }
}

#if FUZZING
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
        SchemaFuzz.run(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }

    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
    ) -> CInt

    @_cdecl("SchemaFuzz_main")
    public func schemaFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
        var count = argc
        var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
        return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzTestOneInput(data, size) }
    }
#else
    /// Without libFuzzer: replays the files given as arguments, or (with none) runs seeded random
    /// inputs, `SCHEMA_FUZZ_RUNS` of them (default 200,000).
    @main
    struct SchemaFuzzReplay {
        static func main() throws {
            let paths = CommandLine.arguments.dropFirst()
            if paths.isEmpty {
                var generator = SplitMix64(seed: 0x5C4E_3A00)
                let runs = getenv("SCHEMA_FUZZ_RUNS").flatMap { Int(String(cString: $0)) } ?? 200_000
                for run in 0..<runs {
                    let count = Int(generator.next() % 96)
                    var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                    if !bytes.isEmpty { bytes[0] &= 0x7F }
                    if run % 16 == 0, let seed = SchemaFuzzCorpus.seedPayloads.randomElement(using: &generator) {
                        bytes = seed
                        if bytes.count > 1 {
                            bytes[1 + Int(generator.next() % UInt64(bytes.count - 1))] ^= UInt8(
                                truncatingIfNeeded: generator.next())
                        }
                    }
                    bytes.withUnsafeBytes { SchemaFuzz.run($0) }
                }
                print("SchemaFuzz: \(runs) seeded inputs, no crash")
                return
            }
            for path in paths {
                guard let file = fopen(path, "rb") else { continue }
                var bytes: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = fread(&chunk, 1, chunk.count, file)
                    if count <= 0 { break }
                    bytes.append(contentsOf: chunk[0..<count])
                }
                fclose(file)
                bytes.withUnsafeBytes { SchemaFuzz.run($0) }
            }
        }
    }

    /// A small seeded generator so replays are reproducible.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
#endif

#if canImport(Glibc)
    import Glibc
#endif
