import BusCore
package import NIOCore

/// Topic and partition metadata as the proxy shows a one-broker cluster: every partition led by broker 0,
/// one in-sync replica (a stream partition is one log on this server).
package enum KafkaRESTTopicResponse {
    /// The broker id every partition names.
    package static let brokerID = 0

    /// `{"name","configs":{…},"partitions":[…]}`.
    package static func writeTopic(
        name: String, configs: [(String, String)], partitions: Int, to buffer: inout ByteBuffer
    ) {
        buffer.writeStaticString("{\"name\":")
        buffer.writeJSONString(name)
        buffer.writeStaticString(",\"configs\":{")
        for (index, (key, value)) in configs.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeJSONString(key)
            buffer.writeInteger(UInt8(ascii: ":"))
            buffer.writeJSONString(value)
        }
        buffer.writeStaticString("},\"partitions\":")
        writePartitions(partitions, to: &buffer)
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    /// `[{"partition","leader","replicas"}, …]`.
    package static func writePartitions(_ count: Int, to buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "["))
        for partition in 0..<count {
            if partition > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            writePartition(partition, to: &buffer)
        }
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    /// `{"partition":p,"leader":0,"replicas":[{"broker":0,"leader":true,"in_sync":true}]}`.
    package static func writePartition(_ partition: Int, to buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"partition\":")
        buffer.writeDecimal(partition)
        buffer.writeStaticString(",\"leader\":")
        buffer.writeDecimal(brokerID)
        buffer.writeStaticString(",\"replicas\":[{\"broker\":")
        buffer.writeDecimal(brokerID)
        buffer.writeStaticString(",\"leader\":true,\"in_sync\":true}]}")
    }

    /// `{"beginning_offset":b,"end_offset":e}` (`GET /topics/{t}/partitions/{p}/offsets`).
    package static func writeOffsets(beginning: Int, end: Int, to buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"beginning_offset\":")
        buffer.writeDecimal(beginning)
        buffer.writeStaticString(",\"end_offset\":")
        buffer.writeDecimal(end)
        buffer.writeInteger(UInt8(ascii: "}"))
    }
}
