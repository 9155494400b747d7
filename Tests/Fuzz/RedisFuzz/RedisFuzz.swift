import NIOCore
import RedisWire

/// libFuzzer target for the RESP decoder (issue 23): any bytes as a reply stream. Values are decoded one
/// after another with small limits; each must re-encode to bytes that decode to the same value, and a
/// split read (at a point the first byte picks) must decode the same values as the whole input. Errors
/// are fine; crashes, hangs and mismatches are not.
///
/// libFuzzer build (see Tests/Fuzz/README.md):
///   swift build --scratch-path .build-fuzz --product RedisFuzz -c release \
///     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING
///   .build-fuzz/release/RedisFuzz Tests/Fuzz/corpus/resp -max_total_time=60
enum RedisFuzz {
    static let decoder = RESPDecoder(
        limits: RESPLimits(maxBulkLength: 1 << 16, maxAggregateCount: 1 << 12, maxDepth: 8, maxLineLength: 256))

    /// Re-reads what `decoder` decoded. Simple strings and errors are `String`s, so invalid UTF-8 in them
    /// is repaired to U+FFFD (three bytes for one): a re-encoded line may be up to three times as long.
    static let rereadDecoder = RESPDecoder(
        limits: RESPLimits(maxBulkLength: 1 << 16, maxAggregateCount: 1 << 12, maxDepth: 8, maxLineLength: 3 * 256))

    /// The values `chunks` decode to, fed one chunk at a time as reads arrive, and whether decoding threw.
    static func decodeAll(_ chunks: [ByteBuffer]) -> (values: [RESPValue], failed: Bool) {
        var buffer = ByteBuffer()
        var values: [RESPValue] = []
        for var chunk in chunks {
            buffer.writeBuffer(&chunk)
            while true {
                let before = buffer.readerIndex
                do {
                    guard let value = try decoder.decode(&buffer) else {
                        precondition(buffer.readerIndex == before, "need-more moved the reader index")
                        break
                    }
                    values.append(value)
                } catch {
                    return (values, true)
                }
            }
        }
        return (values, false)
    }

    static func run(_ bytes: UnsafeRawBufferPointer) {
        let whole = decodeAll([ByteBuffer(bytes: bytes)])
        for value in whole.values {
            var again = ByteBuffer()
            again.writeRESPValue(value)
            let reread = try? rereadDecoder.decode(&again)
            precondition(reread == value, "RESP encode/decode round trip changed \(value)")
            precondition(again.readableBytes == 0, "re-encoding left bytes over")
        }
        let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        let halves = decodeAll([ByteBuffer(bytes: bytes[..<split]), ByteBuffer(bytes: bytes[split...])])
        precondition(halves.values == whole.values && halves.failed == whole.failed, "split changed decoding")
    }
}

#if FUZZING
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
        RedisFuzz.run(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }

    /// libFuzzer's entry for programs that keep their own `main`.
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
    ) -> CInt

    /// SwiftPM links an executable through `<module>_main`; hand control to libFuzzer from there.
    @_cdecl("RedisFuzz_main")
    public func redisFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
        var count = argc
        var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
        return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzTestOneInput(data, size) }
    }
#else
    /// Without libFuzzer: replays the files given as arguments.
    @main
    struct RedisFuzzReplay {
        static func main() throws {
            for path in CommandLine.arguments.dropFirst() {
                guard let file = fopen(path, "rb") else { continue }
                var bytes: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = fread(&chunk, 1, chunk.count, file)
                    if count <= 0 { break }
                    bytes.append(contentsOf: chunk[0..<count])
                }
                fclose(file)
                bytes.withUnsafeBytes { RedisFuzz.run($0) }
            }
        }
    }
#endif

#if canImport(Glibc)
    import Glibc
#endif
