/// What a JetStream publish is answered with: a PubAck `{"stream":"s","seq":n[,"duplicate":true]}` once
/// the message is stored, or `{"error":{"code":c,"err_code":e,"description":"…"}}` (nats-server's
/// `JSPubAckResponse`).
enum JetStreamPubAck: Equatable {
    /// Stored at stream sequence `sequence`.
    case stored(sequence: UInt64)
    /// Refused or failed; the answer's text.
    case failed(String)

    /// Reads an answer without a JSON parser (one per acknowledged message): a `"seq":` number means
    /// stored, anything else (an `"error"` object, an empty or foreign body) is a failure.
    static func parse(_ payload: UnsafeRawBufferPointer) -> JetStreamPubAck {
        if !contains(payload, "\"error\""), let start = find(payload, "\"seq\":") {
            var index = start
            while index < payload.count, payload[index] == UInt8(ascii: " ") { index += 1 }
            var value: UInt64 = 0
            var digits = 0
            while index < payload.count, payload[index] &- UInt8(ascii: "0") < 10, digits < 19 {
                value = value * 10 + UInt64(payload[index] &- UInt8(ascii: "0"))
                index += 1
                digits += 1
            }
            if digits > 0 { return .stored(sequence: value) }
        }
        return .failed(String(decoding: payload.prefix(300), as: UTF8.self))
    }

    private static func contains(_ bytes: UnsafeRawBufferPointer, _ needle: String) -> Bool {
        find(bytes, needle) != nil
    }

    /// The offset just past the first occurrence of `needle` in `bytes`.
    private static func find(_ bytes: UnsafeRawBufferPointer, _ needle: String) -> Int? {
        let pattern = Array(needle.utf8)
        guard bytes.count >= pattern.count else { return nil }
        var index = 0
        while index + pattern.count <= bytes.count {
            if bytes[index] == pattern[0], bytes[index..<index + pattern.count].elementsEqual(pattern) {
                return index + pattern.count
            }
            index += 1
        }
        return nil
    }
}

/// The reply subject of a message a JetStream consumer delivers, which the client publishes its
/// acknowledgement to: `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ns>.<pending>`
/// (nats-server 2.x), or the 12-token form with `<domain>.<account hash>` after `$JS.ACK` and a random
/// token at the end (nats-server ≥ 2.10 with domains).
struct JetStreamAckSubject: Equatable {
    /// The stream the message is in.
    var stream: String
    /// The consumer that delivered it.
    var consumer: String
    /// How many times it has been delivered (1 on the first delivery).
    var delivered: Int
    /// Its sequence in the stream.
    var streamSequence: UInt64
    /// Its sequence in the consumer's deliveries.
    var consumerSequence: UInt64
    /// Messages the consumer has not delivered yet.
    var pending: UInt64

    /// Parses a `$JS.ACK` subject; nil for anything else.
    static func parse(_ subject: String) -> JetStreamAckSubject? {
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        guard tokens.count >= 9, tokens[0] == "$JS", tokens[1] == "ACK" else { return nil }
        // v1: $JS.ACK + 7 tokens; v2: $JS.ACK.<domain>.<account hash> + 7 tokens + a random token.
        let base: Int
        switch tokens.count {
        case 9: base = 2
        case 12: base = 4
        default: return nil
        }
        guard let delivered = Int(tokens[base + 2]), let streamSequence = UInt64(tokens[base + 3]),
            let consumerSequence = UInt64(tokens[base + 4]), UInt64(tokens[base + 5]) != nil,
            let pending = UInt64(tokens[base + 6])
        else { return nil }
        return JetStreamAckSubject(
            stream: String(tokens[base]), consumer: String(tokens[base + 1]), delivered: delivered,
            streamSequence: streamSequence, consumerSequence: consumerSequence, pending: pending)
    }
}

/// The bodies of the JetStream API requests the scenarios send.
enum JetStreamRequest {
    /// `$JS.API.STREAM.CREATE.<name>`: a stream on `subjects` with `storage` file or memory.
    static func createStream(name: String, subjects: [String], storage: String) -> String {
        let list = subjects.map { "\"\($0)\"" }.joined(separator: ",")
        return #"{"name":"\#(name)","subjects":[\#(list)],"storage":"\#(storage)","retention":"limits","#
            + #""num_replicas":1}"#
    }

    /// `$JS.API.CONSUMER.DURABLE.CREATE.<stream>.<name>`: a durable pull consumer from the first message,
    /// acknowledged one by one.
    static func createPullConsumer(stream: String, name: String, maxAckPending: Int) -> String {
        #"{"stream_name":"\#(stream)","config":{"durable_name":"\#(name)","deliver_policy":"all","#
            + #""ack_policy":"explicit","ack_wait":30000000000,"max_ack_pending":\#(maxAckPending)}}"#
    }

    /// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`: up to `batch` messages, the request expiring after
    /// `expires` nanoseconds.
    static func pull(batch: Int, expires: UInt64) -> String {
        #"{"batch":\#(batch),"expires":\#(expires)}"#
    }
}
