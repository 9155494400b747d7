package import BusCore
package import NIOCore

/// A produce body's records as they are stored: each key's bytes, each value's payload, each partition.
package struct KafkaRESTProducedRecords: Sendable, Equatable {
    /// The record keys' bytes (nil: no key).
    package var keys: [[UInt8]?] = []
    /// The record values' bytes (nil: no value, stored as an empty payload).
    package var values: [ByteBuffer?] = []
    /// The partition each record names (nil: by key).
    package var partitions: [Int?] = []

    package init() {}

    package var count: Int { values.count }
}

/// The produce body of the `binary` and `json` formats decoded in one pass over the request's bytes, with
/// no JSON tree: `{"records":[{"key":…,"value":…,"partition":…},…]}` becomes the records' payloads
/// directly (a binary value's base64 decoded straight into its payload buffer, a json value's text
/// written compactly into it). This is the Kafka REST produce path's hot loop, hundreds of thousands of
/// records a second.
///
/// It takes only what it is sure of and answers nil for anything else — bad JSON, a wrong type, bad
/// base64, a member it does not know, a key written twice, an escape in a name or in base64 — so the
/// caller falls back to `KafkaRESTProduceRequest`, whose answers (400 for bad JSON, 422 for a wrong shape
/// or bad base64, each in its usual place in the request's checks) stay the one definition of what a bad
/// body gets. Schema formats (`avro`, `jsonschema`, `protobuf`) need the JSON values: nil as well.
package enum KafkaRESTProduceBodyDecoder {
    /// The records of `body` in `format`, or nil when the general path must decide.
    package static func decode(_ body: ByteBuffer, format: KafkaRESTEmbeddedFormat) -> KafkaRESTProducedRecords? {
        guard format == .binary || format == .json, body.readableBytes > 0,
            body.readableBytes <= KafkaRESTJSON.maxBodyBytes
        else { return nil }
        return body.withUnsafeReadableBytes { bytes in
            var scanner = Scanner(bytes: bytes, format: format)
            return scanner.body()
        }
    }

    /// Most bytes of one shared buffer the binary values of a body are decoded into (`Scanner.Arena`):
    /// a record kept longer than its neighbours (a stream's oldest kept record, a slow subscriber's
    /// queue) holds at most this much besides itself.
    package static let arenaBytes = 64 << 10

    /// The nesting of a record's key or value in the body (object › `records` array › record › value), as
    /// `JSONParser` counts it: a value skipped here meets the same `JSONParser.maxDepth`.
    static let recordMemberDepth = 3

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        let format: KafkaRESTEmbeddedFormat
        var index = 0
        var records = KafkaRESTProducedRecords()
        /// Where binary values are decoded: one buffer for many values, each value a slice of it.
        var arena = Arena()

        init(bytes: UnsafeRawBufferPointer, format: KafkaRESTEmbeddedFormat) {
            self.bytes = bytes
            self.format = format
        }

        /// `{"records":[…], "key_schema"…: null}`, nothing after it but whitespace.
        mutating func body() -> KafkaRESTProducedRecords? {
            skipWhitespace()
            guard take(UInt8(ascii: "{")) else { return nil }
            var sawRecords = false
            var sawSchemaMembers: Set<EnvelopeMember> = []
            skipWhitespace()
            if !take(UInt8(ascii: "}")) {
                repeat {
                    skipWhitespace()
                    guard let member = envelopeMember() else { return nil }
                    skipWhitespace()
                    guard take(UInt8(ascii: ":")) else { return nil }
                    skipWhitespace()
                    switch member {
                    case .records:
                        guard !sawRecords, recordArray() else { return nil }
                        sawRecords = true
                    default:
                        // The schema members mean nothing to binary and json; the general path checks
                        // their types (422), so only null passes here.
                        guard sawSchemaMembers.insert(member).inserted, takeLiteral("null") else { return nil }
                    }
                    skipWhitespace()
                } while take(UInt8(ascii: ","))
                guard take(UInt8(ascii: "}")) else { return nil }
            }
            skipWhitespace()
            guard sawRecords, index == bytes.count else { return nil }
            arena.finish(into: &records.values)
            return records
        }

        /// The binary values' shared buffers. A stream keeps each record's payload, and frees it when the
        /// record leaves its memory tail: one buffer per value was two allocations to make and, long
        /// after, two cold ones to free per record (profiled: a tenth of a Kafka produce's server CPU went
        /// to freeing evicted bodies). Values are decoded one after another into one buffer sized to what
        /// is left of the body (at most `arenaBytes`), and sliced out of it once it is full or the body
        /// ends — not before: a slice shares the buffer, and a write into a shared buffer copies it.
        struct Arena {
            var buffer = ByteBuffer()
            /// The values decoded into `buffer` and not yet sliced: record index, start, length.
            var pending: [(record: Int, start: Int, length: Int)] = []

            /// Decodes `text` (base64) for record `record` into the arena; false when it is not base64.
            /// `remaining`: the body's bytes not yet scanned (an upper bound on what is still to decode).
            mutating func decode(
                _ text: UnsafeRawBufferPointer, record: Int, remaining: Int, into values: inout [ByteBuffer?]
            ) -> Bool {
                let capacity = text.count / 4 * 3 + 2
                if buffer.writableBytes < capacity {
                    finish(into: &values)
                    // The whole rest of the body's base64 at most, so a small body makes a small buffer.
                    let size = Swift.min(KafkaRESTProduceBodyDecoder.arenaBytes, remaining / 4 * 3 + 2)
                    buffer = ByteBufferAllocator().buffer(capacity: Swift.max(capacity, size))
                }
                let start = buffer.writerIndex
                guard Base64.decode(text, into: &buffer) else { return false }
                pending.append((record, start, buffer.writerIndex - start))
                return true
            }

            /// Slices the pending values out of the buffer into `values`.
            mutating func finish(into values: inout [ByteBuffer?]) {
                for value in pending {
                    values[value.record] = buffer.getSlice(at: value.start, length: value.length)
                }
                pending.removeAll(keepingCapacity: true)
            }
        }

        enum EnvelopeMember: Hashable {
            case records, keySchema, keySchemaID, valueSchema, valueSchemaID
        }

        enum RecordMember {
            case key, value, partition
        }

        mutating func envelopeMember() -> EnvelopeMember? {
            guard let name = plainString() else { return nil }
            if equals(name, "records") { return .records }
            if equals(name, "key_schema") { return .keySchema }
            if equals(name, "key_schema_id") { return .keySchemaID }
            if equals(name, "value_schema") { return .valueSchema }
            if equals(name, "value_schema_id") { return .valueSchemaID }
            return nil
        }

        mutating func recordMember() -> RecordMember? {
            guard let name = plainString() else { return nil }
            if equals(name, "key") { return .key }
            if equals(name, "value") { return .value }
            if equals(name, "partition") { return .partition }
            return nil
        }

        /// `[record, …]`; false for anything else.
        mutating func recordArray() -> Bool {
            guard take(UInt8(ascii: "[")) else { return false }
            records.values.reserveCapacity(16)
            skipWhitespace()
            if take(UInt8(ascii: "]")) { return true }
            repeat {
                skipWhitespace()
                guard record() else { return false }
                skipWhitespace()
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "]"))
        }

        /// `{"key":…,"value":…,"partition":…}`, each member at most once; appends the record.
        mutating func record() -> Bool {
            guard take(UInt8(ascii: "{")) else { return false }
            var key: [UInt8]?
            var value: ByteBuffer?
            var partition: Int?
            var seen: (key: Bool, value: Bool, partition: Bool) = (false, false, false)
            skipWhitespace()
            if !take(UInt8(ascii: "}")) {
                repeat {
                    skipWhitespace()
                    guard let member = recordMember() else { return false }
                    skipWhitespace()
                    guard take(UInt8(ascii: ":")) else { return false }
                    skipWhitespace()
                    switch member {
                    case .key:
                        guard !seen.key else { return false }
                        seen.key = true
                        guard let bytes = keyOrValue() else { return false }
                        key = bytes.map { Array($0.readableBytesView) }
                    case .value:
                        guard !seen.value else { return false }
                        seen.value = true
                        if format == .binary {
                            if takeLiteral("null") { break }
                            // Decoded into the arena; its slice replaces the placeholder once the arena is
                            // full or the body ends.
                            guard let text = base64String(),
                                arena.decode(
                                    text, record: records.values.count, remaining: bytes.count - index + text.count,
                                    into: &records.values)
                            else { return false }
                            value = ByteBuffer()
                            break
                        }
                        guard let bytes = keyOrValue() else { return false }
                        value = bytes
                    case .partition:
                        guard !seen.partition else { return false }
                        seen.partition = true
                        if takeLiteral("null") { break }
                        guard let number = nonNegativeInteger() else { return false }
                        partition = number
                    }
                    skipWhitespace()
                } while take(UInt8(ascii: ","))
                guard take(UInt8(ascii: "}")) else { return false }
            }
            records.keys.append(key)
            records.values.append(value)
            records.partitions.append(partition)
            return true
        }

        /// A key's or value's bytes: `.some(nil)` for null, nil when the general path must decide.
        mutating func keyOrValue() -> ByteBuffer?? {
            if takeLiteral("null") { return .some(nil) }
            switch format {
            case .binary:
                // A key: its own buffer (made into an array by the caller).
                guard let text = base64String() else { return nil }
                var buffer = ByteBufferAllocator().buffer(capacity: text.count / 4 * 3 + 2)
                guard Base64.decode(text, into: &buffer) else { return nil }
                return .some(buffer)
            case .json:
                // Any JSON value, checked as the whole body's parse would check it, then written compactly
                // (what the general path stores).
                let start = index
                guard let end = try? JSONParser.endOfValue(bytes, at: start, depth: recordMemberDepth),
                    let value = try? JSONParser.parse(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                else { return nil }
                index = end
                var buffer = ByteBuffer()
                buffer.writeJSONValue(value)
                return .some(buffer)
            case .avro, .jsonschema, .protobuf:
                return nil
            }
        }

        /// A base64 string's text, between its quotes. Base64 has no escapes and only ASCII, so the string
        /// ends at the next quote (found with memchr, the one scan of it before the decode): any byte
        /// outside the alphabets — a backslash (an escape, perhaps of that very quote), a control
        /// character, non-ASCII — fails the decode, and the general path reads the string.
        mutating func base64String() -> UnsafeRawBufferPointer? {
            guard take(UInt8(ascii: "\"")), index < bytes.count, let base = bytes.baseAddress,
                let found = memchr(base + index, Int32(UInt8(ascii: "\"")), bytes.count - index)
            else { return nil }
            let end = base.distance(to: UnsafeRawPointer(found))
            let text = UnsafeRawBufferPointer(rebasing: bytes[index..<end])
            index = end + 1
            return text
        }

        /// `0`, or digits not starting with `0`, that fit an `Int`; nil for anything else (a sign, a
        /// fraction, an exponent: the general path answers those).
        mutating func nonNegativeInteger() -> Int? {
            let start = index
            var value = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(Int(bytes[index] - UInt8(ascii: "0")))
                guard !overflow1, !overflow2 else { return nil }
                value = sum
                index += 1
            }
            let digits = index - start
            guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
            if index < bytes.count {
                let next = bytes[index]
                guard next != UInt8(ascii: "."), next != UInt8(ascii: "e"), next != UInt8(ascii: "E") else {
                    return nil
                }
            }
            return value
        }

        /// A string's body (between its quotes) when it has no escape and no byte outside printable ASCII:
        /// the member names this decoder knows are such strings.
        mutating func plainString() -> Range<Int>? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return start..<(index - 1)
                }
                guard byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\\") else { return nil }
                index += 1
            }
            return nil
        }

        func equals(_ range: Range<Int>, _ name: StaticString) -> Bool {
            guard range.count == name.utf8CodeUnitCount else { return false }
            return name.withUTF8Buffer { expected in
                var offset = 0
                while offset < range.count {
                    if bytes[range.lowerBound + offset] != expected[offset] { return false }
                    offset += 1
                }
                return true
            }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        mutating func takeLiteral(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count, equals(index..<(index + count), literal) else { return false }
            index += count
            return true
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
                default: return
                }
            }
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
