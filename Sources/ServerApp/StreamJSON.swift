import BusCore
import BusRuntime
import NIOCore

/// The JSON of `/api/streams` (docs/api.md): a stream as `{"config": …, "state": …}` (JetStream's
/// stream info shape), reads, committed offsets.
enum StreamJSON {
    static func info(_ buffer: inout ByteBuffer, _ info: StreamInfo) {
        let configuration = info.configuration
        let limits = configuration.limits
        buffer.writeStaticString("{\"name\":")
        buffer.writeJSONString(configuration.name)
        buffer.writeStaticString(",\"config\":{\"name\":")
        buffer.writeJSONString(configuration.name)
        buffer.writeStaticString(",\"filters\":[")
        for (index, filter) in configuration.filters.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeJSONString(filter.text)
        }
        buffer.writeStaticString("],\"partitions\":")
        buffer.writeDecimal(configuration.partitions)
        buffer.writeStaticString(",\"retention\":")
        buffer.writeJSONString(configuration.retention.rawValue)
        buffer.writeStaticString(",\"storage\":")
        buffer.writeJSONString(configuration.storage.rawValue)
        optional(&buffer, ",\"max_messages\":", limits.maxMessages)
        optional(&buffer, ",\"max_bytes\":", limits.maxBytes)
        buffer.writeStaticString(",\"max_age_seconds\":")
        if let age = limits.maxAgeNanoseconds {
            buffer.writeString(String(Double(age) / 1e9))
        } else {
            buffer.writeStaticString("null")
        }
        optional(&buffer, ",\"max_message_size\":", limits.maxMessageSize)
        optional(&buffer, ",\"max_messages_per_subject\":", limits.maxMessagesPerSubject)
        buffer.writeStaticString(",\"discard\":")
        buffer.writeJSONString(limits.discard.rawValue)
        buffer.writeStaticString(",\"duplicate_window_seconds\":")
        buffer.writeString(String(Double(limits.duplicateWindowNanoseconds) / 1e9))
        if limits.sealed { buffer.writeStaticString(",\"sealed\":true") }
        if configuration.storage == .file {
            buffer.writeStaticString(",\"memory_tail_bytes\":")
            switch configuration.memoryTail {
            case .default: buffer.writeStaticString("\"default\"")
            case .all: buffer.writeStaticString("\"all\"")
            case .bytes(let bytes): buffer.writeDecimal(bytes)
            }
        }
        buffer.writeStaticString("},\"state\":{\"messages\":")
        buffer.writeDecimal(info.messages)
        buffer.writeStaticString(",\"bytes\":")
        buffer.writeDecimal(info.bytes)
        buffer.writeStaticString(",\"appends\":")
        buffer.writeDecimal(info.appends)
        buffer.writeStaticString(",\"partitions\":[")
        for (index, partition) in info.partitions.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            self.partition(&buffer, partition)
        }
        buffer.writeStaticString("]}}")
    }

    static func partition(_ buffer: inout ByteBuffer, _ partition: StreamPartitionInfo) {
        buffer.writeStaticString("{\"partition\":")
        buffer.writeDecimal(partition.partition)
        buffer.writeStaticString(",\"epoch\":")
        buffer.writeJSONString(partition.epoch)
        buffer.writeStaticString(",\"first_offset\":")
        buffer.writeDecimal(partition.firstOffset)
        buffer.writeStaticString(",\"last_offset\":")
        buffer.writeDecimal(partition.lastOffset)
        buffer.writeStaticString(",\"messages\":")
        buffer.writeDecimal(partition.messages)
        buffer.writeStaticString(",\"bytes\":")
        buffer.writeDecimal(partition.bytes)
        buffer.writeStaticString(",\"appends\":")
        buffer.writeDecimal(partition.appends)
        buffer.writeStaticString(",\"memory_bytes\":")
        buffer.writeDecimal(partition.memoryBytes)
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    /// `{"stream","partition","epoch","first_offset","last_offset","messages":[{offset,time,subject,key,
    /// payload member…}]}`; `key` is base64 or null.
    static func read(_ buffer: inout ByteBuffer, stream: String, _ result: StreamReadResult) {
        buffer.writeStaticString("{\"stream\":")
        buffer.writeJSONString(stream)
        buffer.writeStaticString(",\"partition\":")
        buffer.writeDecimal(result.partition.partition)
        buffer.writeStaticString(",\"epoch\":")
        buffer.writeJSONString(result.partition.epoch)
        buffer.writeStaticString(",\"first_offset\":")
        buffer.writeDecimal(result.partition.firstOffset)
        buffer.writeStaticString(",\"last_offset\":")
        buffer.writeDecimal(result.partition.lastOffset)
        buffer.writeStaticString(",\"messages\":[")
        for (index, item) in result.records.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            let message = item.record.message
            buffer.writeStaticString("{\"offset\":")
            buffer.writeDecimal(item.offset)
            buffer.writeStaticString(",\"time\":")
            buffer.writeDecimal(item.time)
            buffer.writeStaticString(",\"subject\":")
            buffer.writeJSONString(message.topic.name)
            buffer.writeStaticString(",\"key\":")
            if let key = item.record.key {
                buffer.writeJSONString(Base64.encode(key))
            } else {
                buffer.writeStaticString("null")
            }
            buffer.writeInteger(UInt8(ascii: ","))
            buffer.writePayloadMember(message.payload, form: message.payloadForm)
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        buffer.writeStaticString("]}")
    }

    static func committed(_ buffer: inout ByteBuffer, partition: Int, _ committed: StreamCommittedOffset) {
        buffer.writeStaticString("{\"partition\":")
        buffer.writeDecimal(partition)
        buffer.writeStaticString(",\"offset\":")
        buffer.writeDecimal(committed.offset)
        buffer.writeStaticString(",\"epoch\":")
        buffer.writeJSONString(committed.epoch)
        buffer.writeStaticString(committed.isCurrent ? ",\"current\":true}" : ",\"current\":false}")
    }

    /// One stream's answer to a publish: `{"stream","partition","offset","epoch"}`, `"duplicate":true`, or
    /// `"error"` with why it was refused.
    static func ack(_ buffer: inout ByteBuffer, _ ack: StreamAppendAck) {
        buffer.writeStaticString("{\"stream\":")
        buffer.writeJSONString(ack.stream)
        buffer.writeStaticString(",\"partition\":")
        buffer.writeDecimal(ack.partition)
        switch ack.outcome {
        case .stored, .duplicate:
            buffer.writeStaticString(",\"offset\":")
            buffer.writeDecimal(ack.offset)
            buffer.writeStaticString(",\"epoch\":")
            buffer.writeJSONString(ack.epoch)
            if ack.outcome == .duplicate { buffer.writeStaticString(",\"duplicate\":true") }
        case .refused(let reason):
            buffer.writeStaticString(",\"error\":")
            buffer.writeJSONString(reason)
        }
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    private static func optional(_ buffer: inout ByteBuffer, _ key: StaticString, _ value: Int?) {
        buffer.writeStaticString(key)
        if let value { buffer.writeDecimal(value) } else { buffer.writeStaticString("null") }
    }
}
