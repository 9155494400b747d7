import AMQPWire
import BusCore
import FrontendKit
import MQTTWire
import NATSWire
import NIOCore
import NativeWebSocketWire
import SSEWire
import STOMPWire
import SignalRWire
import SocketIOWire
import Storage
import SwitchboardTestSupport

/// Fuzz targets, one per decoder we own (NIO's WebSocket/HTTP parsers have their own fuzzing upstream).
/// Each must survive any input: errors are fine, crashes and hangs are not.
///
/// libFuzzer build (see Tests/Fuzz/README.md):
///   swift build --scratch-path .build-fuzz --product DecoderFuzz -c release \
///     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING
///   FUZZ_TARGET=nativews .build-fuzz/release/DecoderFuzz Tests/Fuzz/corpus/nativews -max_total_time=60
enum FuzzTarget: String, CaseIterable {
    case json, nativews, topic, query, nats, ssecursor, ssequery, ssedata, mqtt, storedmessage, amqp, queuestate
    case stomp, engineio, socketio, msgpack, signalrjson, signalrmsgpack, recordfilter, recordfields

    func run(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .json:
            let parsed = try? JSONParser.parse(bytes)
            let valid = JSONParser.isValidJSON(bytes)
            // The validating scan and the building parser must agree.
            precondition((parsed != nil) == valid, "parse and isValidJSON disagree")
            if let parsed {
                var out = ByteBuffer()
                out.writeJSONValue(parsed)
                let again = out.withUnsafeReadableBytes { try? JSONParser.parse($0) }
                precondition(again == parsed, "write/parse round trip changed the value")
            }
            _ = try? JSONParser.parseDocument(bytes)
        case .nativews:
            _ = try? NativeWSRequestDecoder.decode(ByteBuffer(bytes: bytes))
        case .topic:
            let text = String(decoding: bytes, as: UTF8.self)
            if let filter = try? TopicFilter(text), let topic = try? Topic(filter.pattern) {
                // A wildcard-free filter matches the topic it spells.
                precondition(filter.matches(topic) || topic.name.hasPrefix("$"), "filter does not match itself")
            }
        case .query:
            _ = HTTPRequest.percentDecode(String(decoding: bytes, as: UTF8.self), plusIsSpace: true)
        case .mqtt:
            // The first byte picks the state (before CONNECT, 3.1.1, 5.0); the rest is a packet stream.
            guard let selector = bytes.first else { return }
            let version: MQTTProtocolVersion? = [nil, .v3_1_1, .v5][Int(selector % 3)]
            var buffer = ByteBuffer(bytes: bytes.dropFirst())
            let limits = MQTTLimits(maxPacketSize: 1 << 16)
            while let packet = try? MQTTPacketDecoder.decode(&buffer, version: version, limits: limits) {
                // What decodes re-encodes to bytes that decode to the same packet.
                var again = packet.encoded(version: version ?? .v5)
                if case .connect = packet { continue }
                let reread = try? MQTTPacketDecoder.decode(&again, version: version, limits: limits)
                precondition(reread == packet, "MQTT encode/decode round trip changed the packet")
            }
        case .nats:
            // Parsing must not depend on where reads split.
            let parser = NATSParser()
            let whole = ReadFeeder.decode([ByteBuffer(bytes: bytes)], parser.next)
            let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
            let halves = ReadFeeder.decode(
                [ByteBuffer(bytes: bytes[..<split]), ByteBuffer(bytes: bytes[split...])], parser.next)
            precondition(whole.values == halves.values && whole.error == halves.error, "split changed parse")
            precondition(!whole.needMoreMovedTheReaderIndex && !halves.needMoreMovedTheReaderIndex, "need more moved")
            for case .publish(let publish) in whole.values {
                if let headers = publish.headers { _ = try? NATSHeaderBlock.parse(headers) }
            }
            // A subject that maps to a topic maps back to itself unless it holds escapes (or, read as a PUB
            // of a client that is not pedantic, an empty token: that level goes back as `%00`).
            let text = String(decoding: bytes, as: UTF8.self)
            let tokens = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            if let topic = try? NATSSubjectMapping.topicName(forSubject: text, literalWildcards: true),
                !text.utf8.contains(where: { $0 <= 0x20 || $0 == UInt8(ascii: "%") }),
                !tokens.contains(where: \.isEmpty)
            {
                precondition(
                    NATSSubjectMapping.subject(forTopic: topic) == text,
                    "subject round trip: \(text.debugDescription) → \(topic.debugDescription) → \(NATSSubjectMapping.subject(forTopic: topic).debugDescription)"
                )
            }
        case .ssecursor:
            // SSE Last-Event-ID / poll cursor: whatever parses must re-encode to a text that parses back
            // to the same positions.
            let text = String(decoding: bytes, as: UTF8.self)
            let entries = text.utf8.count(where: { $0 == UInt8(ascii: ".") }) + 1
            if let cursor = try? SSECursor.parse(text, channels: entries) {
                precondition(
                    (try? SSECursor.parse(cursor.text, channels: entries)) == cursor, "cursor round trip changed it")
            }
        case .ssequery:
            // `/sse` and `/poll` parameters: `name=value` pairs split on `&`; a `last=` pair is the header.
            var query: [String: [String]] = [:]
            var header: String?
            for pair in String(decoding: bytes, as: UTF8.self).split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let value = parts.count > 1 ? String(parts[1]) : ""
                if parts[0] == "last" { header = value } else { query[String(parts[0]), default: []].append(value) }
            }
            _ = try? SSEStreamRequest.parse(query: query, lastEventID: header)
            _ = try? SSEPollRequest.parse(
                query: query, ifNoneMatch: header, defaultTimeoutSeconds: 30, maxTimeoutSeconds: 60)
        case .ssedata:
            // Any payload as `data:` lines: no CR reaches the wire and every line is a data line.
            var out = ByteBuffer()
            SSEEventEncoder.data(&out, ByteBuffer(bytes: bytes))
            let lines = out.readableBytesView.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            precondition(!out.readableBytesView.contains(UInt8(ascii: "\r")), "CR in an event stream field")
            precondition(lines.dropLast().allSatisfy { $0.starts(with: "data: ".utf8) }, "a line is not data:")
        case .amqp:
            // A frame stream through one channel's content assembler; what decodes as a method re-encodes to
            // bytes that decode to the same method.
            var buffer = ByteBuffer(bytes: bytes)
            var assembler = AMQPContentAssembler(limits: AMQPLimits())
            while let frame = try? AMQPFrameDecoder.decodeFrame(&buffer, frameMax: 1 << 16) {
                if frame.type == .method, let method = try? AMQPMethod.decode(frame.payload, limits: AMQPLimits()) {
                    var again = ByteBuffer()
                    method.write(to: &again)
                    let decodedAgain = try? AMQPMethod.decode(again, limits: AMQPLimits())
                    // A field table may hold a NaN (`d`/`f` values), which is never equal to itself: then the
                    // bytes must survive a second round trip unchanged (corpus/amqp/nan-in-a-field-table).
                    var third = ByteBuffer()
                    decodedAgain?.write(to: &third)
                    precondition(decodedAgain == method || third == again, "AMQP method round trip changed it")
                }
                if (try? assembler.frameReceived(frame)) == nil { assembler.reset() }
            }
        case .stomp:
            // A byte stream of frames as a 1.2 connection reads it; whole and byte-by-byte reads must agree,
            // and every decoded frame re-encodes to bytes that decode to the same frame.
            func frames(_ reads: [[UInt8]]) -> [STOMPFrame] {
                // Heart-beats are values of their own, so that consuming them counts as progress. Split reads
                // resume the first pass as a connection does (`Progress`).
                var progress = STOMPFrameDecoder.Progress()
                return ReadFeeder.decode(reads) { (buffer: inout ByteBuffer) throws(STOMPError) -> STOMPFrame?? in
                    if STOMPFrameDecoder.skipHeartBeats(&buffer) > 0 { return .some(nil) }
                    return try STOMPFrameDecoder.decode(
                        &buffer, escaping: .v1_2, limits: STOMPLimits(), progress: &progress
                    ).map { $0 }
                }.values.compactMap { $0 }
            }
            let input = Array(bytes)
            let whole = frames([input])
            if input.count < 512 { precondition(frames(input.byteByByte) == whole, "split reads disagree") }
            for frame in whole {
                var out = ByteBuffer()
                STOMPFrameEncoder.write(frame, escaping: .v1_2, to: &out)
                let again = try? STOMPFrameDecoder.decode(&out, escaping: .v1_2, limits: STOMPLimits())
                precondition(
                    again?.command == frame.command && again?.body == frame.body, "STOMP round trip changed it")
            }
        case .engineio:
            // A polling payload: packets that decode re-encode to a payload that decodes to the same packets.
            let limits = EngineIOLimits()
            if let packets = try? EngineIOPayload.decode(ByteBuffer(bytes: bytes), limits: limits) {
                let again = try? EngineIOPayload.decode(EngineIOPayload.encode(packets), limits: limits)
                precondition(again == packets, "Engine.IO payload round trip changed it")
            }
        case .socketio:
            // One Socket.IO packet text, then (first byte odd) attachments: decode, re-encode, decode again.
            let limits = SocketIOLimits()
            guard let packet = try? SocketIOPacket.decode(ByteBuffer(bytes: bytes), limits: limits) else { return }
            let again = try? SocketIOPacket.decode(packet.encoded, limits: limits)
            precondition(again == packet, "Socket.IO packet round trip changed it")
            var assembler = SocketIOBinaryAssembler()
            var message = assembler.packetReceived(packet)
            while message == nil, assembler.isAssembling {
                message = try? assembler.attachmentReceived(ByteBuffer(bytes: [1, 2]))
            }
            precondition(message?.attachments.count == (packet.type.isBinary ? packet.attachments : 0))
        case .msgpack:
            // MessagePack values one after another: each re-encodes to bytes that decode to the same value.
            var buffer = ByteBuffer(bytes: bytes)
            while buffer.readableBytes > 0, let value = try? MessagePackDecoder.decode(&buffer) {
                var again = ByteBuffer()
                again.writeMessagePack(value)
                precondition((try? MessagePackDecoder.decodeWhole(again)) == value, "MessagePack round trip changed it")
            }
        case .signalrjson:
            // A SignalR text connection: the handshake, then JSON messages. Whole and byte-by-byte reads
            // agree; each message re-encodes to one that decodes to it, and can be written as MessagePack.
            func messages(_ reads: [[UInt8]]) -> [ByteBuffer] {
                var decoder = SignalRTextFrameDecoder()
                return ReadFeeder.decode(reads) { (buffer: inout ByteBuffer) throws(SignalRWireError) in
                    try decoder.next(&buffer)
                }.values
            }
            let input = Array(bytes)
            let whole = messages([input])
            if input.count < 512 { precondition(messages(input.byteByByte) == whole, "split reads disagree") }
            if let first = whole.first, let request = try? SignalRHandshakeRequest.decode(first) {
                _ = try? request.selectProtocol()
            }
            for text in whole {
                guard let message = try? SignalRHubMessage.decodeJSON(text) else { continue }
                var again = ByteBuffer()
                message.writeJSON(into: &again)
                let reread = again.readSlice(length: again.readableBytes - 1).flatMap {
                    try? SignalRHubMessage.decodeJSON($0)
                }
                precondition(reread == message, "SignalR JSON round trip changed it")
                var binary = ByteBuffer()
                message.writeMessagePackArray(into: &binary)
                _ = try? SignalRHubMessage.decodeMessagePack(binary)
            }
        case .signalrmsgpack:
            // A SignalR binary connection's messages, each behind its VarInt length: as signalrjson.
            func messages(_ reads: [[UInt8]]) -> [ByteBuffer] {
                let decoder = SignalRBinaryFrameDecoder()
                return ReadFeeder.decode(reads) { (buffer: inout ByteBuffer) throws(SignalRWireError) in
                    try decoder.next(&buffer)
                }.values
            }
            let input = Array(bytes)
            let whole = messages([input])
            if input.count < 512 { precondition(messages(input.byteByByte) == whole, "split reads disagree") }
            for body in whole {
                guard let message = try? SignalRHubMessage.decodeMessagePack(body) else { continue }
                var again = ByteBuffer()
                message.writeMessagePack(into: &again)
                let reread = try? SignalRBinaryFrameDecoder().next(&again).flatMap {
                    try SignalRHubMessage.decodeMessagePack($0)
                }
                precondition(reread == message, "SignalR MessagePack round trip changed it")
                var text = ByteBuffer()
                message.writeJSONObject(into: &text)
                _ = try? SignalRHubMessage.decodeJSON(text)
            }
        case .queuestate:
            // A durable queue's stored x-death history and arguments: nil, or values that encode back to the
            // same bytes' meaning.
            let input = Array(bytes)
            if let deaths = StoredQueueCodec.decodeDeaths(input) {
                precondition(
                    StoredQueueCodec.decodeDeaths(StoredQueueCodec.encode(deaths: deaths)) == deaths,
                    "x-death round trip changed it")
            }
            if let arguments = StoredQueueCodec.decodeArguments(input) {
                let again = StoredQueueCodec.decodeArguments(StoredQueueCodec.encode(arguments: arguments))
                precondition(
                    again?.count == arguments.count, "argument round trip changed them")
            }
        case .recordfilter:
            // A PocketBase filter or sort: refused with an offset inside the input, or parsed and evaluated.
            let text = String(decoding: bytes, as: UTF8.self)
            do {
                let filter = try RecordFilter(parsing: text)
                precondition(filter.referencedFields.allSatisfy { !$0.isEmpty }, "empty referenced field")
                for record in FuzzRecords.records {
                    _ = filter.matches(record, request: FuzzRecords.request)
                }
            } catch {
                precondition(
                    error.offset >= 0 && error.offset <= max(text.utf8.count, 3_500), "offset outside the input")
            }
            if let sort = try? RecordSort(parsing: text) {
                let records = FuzzRecords.records
                for a in records {
                    precondition(!sort.areInIncreasingOrder(a, a), "sort is not irreflexive")
                    for b in records where sort.areInIncreasingOrder(a, b) {
                        precondition(!sort.areInIncreasingOrder(b, a), "sort is not asymmetric")
                    }
                }
            }
        case .recordfields:
            // PocketBase's `fields`: refused as a 400, or it picks from each record keys it has, in its order;
            // and the same text as HTML through `excerpt` (the first byte the length) gives trimmed plain text
            // with no run of spaces, no longer than asked (plus the ellipsis).
            let text = String(decoding: bytes, as: UTF8.self)
            if let picker = try? RecordFieldPicker(text) {
                for record in FuzzRecords.records {
                    guard case .object(let fields) = record, case .object(let picked) = picker.pick(record) else {
                        preconditionFailure("a record picked is not an object")
                    }
                    let keys = fields.map(\.key)
                    var next = keys.startIndex
                    for field in picked {
                        guard let found = keys[next...].firstIndex(of: field.key) else {
                            preconditionFailure("a picked key the record lacks, or out of order")
                        }
                        next = found + 1
                    }
                }
            }
            let max = Int(bytes.first ?? 0) + 1
            let ellipsis = (bytes.last ?? 0) & 1 == 1
            let html = String(decoding: bytes.dropFirst(), as: UTF8.self)
            let excerpt = RecordFieldPicker.excerpt(html, max: max, ellipsis: ellipsis)
            precondition(excerpt.utf8.count <= max + 3, "excerpt longer than asked")
            precondition(!excerpt.contains("  "), "a run of spaces in an excerpt")
            precondition(excerpt.first?.isWhitespace != true && excerpt.last?.isWhitespace != true, "untrimmed excerpt")
        case .storedmessage:
            // A stored row's body: decodes to nil or to a message that encodes back to the same bytes.
            let topic = Topic(trusted: "fuzz/topic")
            let input = ByteBuffer(bytes: bytes)
            if let message = StoredMessageCodec.decode(input, topic: topic, position: nil) {
                let again = StoredMessageCodec.encode(message)
                precondition(
                    StoredMessageCodec.decode(again, topic: topic, position: nil)?.headers == message.headers,
                    "stored message round trip changed its headers")
            }
        }
    }
}

/// The records and request the `recordfilter` target evaluates filters against: every JSON kind, nested
/// paths and arrays, so evaluation reaches each comparison.
enum FuzzRecords {
    static let records: [JSONValue] = [
        #"{"id":"a","title":"Hello %_\\ World","n":5,"f":2.5,"b":true,"z":null,"e":"","tags":["a","b"],"none":[],"#
            + #""m":{"o":{"id":"u1"},"l":[1,{"x":2}]},"items":[{"name":"x"},{"name":null}]}"#,
        #"{"id":"b","title":"ünï","n":"5","tags":[[1],{"k":"v"}],"created":"2026-12-05 06:07:08.123Z"}"#,
        #"{}"#,
    ].map { text in Array(text.utf8).withUnsafeBytes { try! JSONParser.parse($0) } }

    static let request = RecordRequestContext(
        auth: records[0], method: "POST", query: ["page": "1"], headers: ["x_token": "t"], body: records[1],
        now: 1_796_450_828_123_000_000)
}

#if FUZZING
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
        let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? "nativews"
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("FUZZ_TARGET must be one of \(FuzzTarget.allCases)")
        }
        target.run(UnsafeRawBufferPointer(start: data, count: size))
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
    @_cdecl("DecoderFuzz_main")
    public func decoderFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
        var count = argc
        var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
        return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzTestOneInput(data, size) }
    }
#else
    /// Without libFuzzer: replays the files given as arguments through every target.
    @main
    struct DecoderFuzzReplay {
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
                for target in FuzzTarget.allCases { bytes.withUnsafeBytes { target.run($0) } }
            }
        }
    }
#endif

#if canImport(Glibc)
    import Glibc
#endif
