import BusCore
import FrontendKit
import NIOCore
import NIOHTTP1

/// With an engine: who the admin API asks for the other instances' parts (docs/redis.md, "The admin API
/// across instances").
struct APIClusterPeers: Sendable {
    /// This instance's id, on everything it lists.
    let instanceID: String
    /// The other instances heard from lately (`RedisBusEngine.peerInstances`).
    let peers: @Sendable () -> [String]
    let forwarder: SessionForwarder
    /// How long an instance is waited for; one that has not answered by then is named `unreachable`.
    /// Two seconds: a live instance answers these in milliseconds, and a dead one is still listed for up
    /// to three heartbeats (6 s) — the admin call should not take that long.
    var timeout = TimeAmount.seconds(2)
}

/// One other instance's answer to a request asked of it, or why it has none.
struct InstanceAnswer: Sendable {
    var instance: String
    var outcome: Result<HTTPResponse, any Error>
}

/// Writes the admin API's connection and channel lists and merges the instances' parts of them.
enum APIClusterMerge {
    /// `"connections":[…]}` (with `{` first when `open`), each connection tagged with `instance` when given.
    static func writeConnections(
        _ buffer: inout ByteBuffer, _ list: [ConnectionInfo], instance: String?, open: Bool = true
    ) {
        buffer.writeStaticString(open ? "{\"connections\":[" : "\"connections\":[")
        for (index, connection) in list.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeStaticString("{\"id\":")
            buffer.writeJSONString(connection.id)
            if let instance {
                buffer.writeStaticString(",\"instance\":")
                buffer.writeJSONString(instance)
            }
            buffer.writeStaticString(",\"protocol\":")
            buffer.writeJSONString(connection.protocolName)
            buffer.writeStaticString(",\"remote\":")
            BusJSON.optionalString(&buffer, connection.remoteAddress)
            buffer.writeStaticString(",\"user\":")
            BusJSON.optionalString(&buffer, connection.userID)
            buffer.writeStaticString(",\"name\":")
            BusJSON.optionalString(&buffer, connection.name)
            buffer.writeStaticString(",\"connected_at\":")
            buffer.writeJSONString(ISO8601.format(secondsSince1970: connection.connectedAt))
            buffer.writeStaticString(",\"subscriptions\":[")
            for (k, channel) in connection.subscriptions.enumerated() {
                if k > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                buffer.writeJSONString(channel)
            }
            buffer.writeStaticString("]}")
        }
        buffer.writeStaticString("]}")
    }

    /// `"channels":[{"channel":…,"subscribers":…},…]}` (with `{` first when `open`).
    static func writeChannels(_ buffer: inout ByteBuffer, _ counts: [(String, Int)], open: Bool = true) {
        buffer.writeStaticString(open ? "{\"channels\":[" : "\"channels\":[")
        for (index, (channel, count)) in counts.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeStaticString("{\"channel\":")
            buffer.writeJSONString(channel)
            buffer.writeStaticString(",\"subscribers\":")
            buffer.writeDecimal(count)
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        buffer.writeStaticString("]}")
    }

    // MARK: - Merging

    /// Every instance's connections, this one's first: `connections` (each tagged with its instance),
    /// `count`, `instances` (each that answered, with its count) and `unreachable` (each that did not, and
    /// why).
    static func connections(local: (instance: String, list: [ConnectionInfo]), answers: [InstanceAnswer])
        -> HTTPResponse
    {
        var parts: [(instance: String, items: ByteBuffer, count: Int)] = []
        var localItems = ByteBuffer()
        writeConnections(&localItems, local.list, instance: local.instance, open: false)
        // `"connections":[` … `]}`: the items alone.
        localItems.moveReaderIndex(forwardBy: "\"connections\":[".utf8.count)
        localItems.moveWriterIndex(to: localItems.writerIndex - 2)
        parts.append((local.instance, localItems, local.list.count))
        var unreachable: [(String, String)] = []
        for answer in answers {
            switch part(of: answer, member: "connections") {
            case .success(let (items, values)): parts.append((answer.instance, items, values.count))
            case .failure(let reason): unreachable.append((answer.instance, reason.description))
            }
        }
        return .json { buffer in
            buffer.writeStaticString("{\"connections\":[")
            var first = true
            for part in parts where part.count > 0 {
                if !first { buffer.writeInteger(UInt8(ascii: ",")) }
                first = false
                buffer.writeImmutableBuffer(part.items)
            }
            buffer.writeStaticString("],\"count\":")
            buffer.writeDecimal(parts.reduce(0) { $0 + $1.count })
            writeInstances(&buffer, parts.map { ($0.instance, $0.count) }, counting: "connections", unreachable)
        }
    }

    /// Every instance's channels, subscribers summed per channel: `channels`, `instances` (each that
    /// answered, with its subscriber count) and `unreachable`.
    static func channels(local: (instance: String, counts: [(String, Int)]), answers: [InstanceAnswer])
        -> HTTPResponse
    {
        var totals: [String: Int] = [:]
        var instances: [(String, Int)] = []
        for (channel, count) in local.counts { totals[channel, default: 0] += count }
        instances.append((local.instance, local.counts.reduce(0) { $0 + $1.1 }))
        var unreachable: [(String, String)] = []
        for answer in answers {
            switch part(of: answer, member: "channels") {
            case .success(let (_, values)):
                var sum = 0
                for value in values {
                    guard let channel = value["channel"]?.stringValue, let count = value["subscribers"]?.intValue
                    else { continue }
                    totals[channel, default: 0] += count
                    sum += count
                }
                instances.append((answer.instance, sum))
            case .failure(let reason):
                unreachable.append((answer.instance, reason.description))
            }
        }
        return .json { buffer in
            writeChannels(&buffer, totals.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            // Reopen the object `writeChannels` closed.
            buffer.moveWriterIndex(to: buffer.writerIndex - 1)
            writeInstances(&buffer, instances, counting: "subscribers", unreachable)
        }
    }

    /// A connection this instance does not hold, closed by another: 204 when one did; 404 when every
    /// other instance answered that it holds none; else 503 naming those that did not answer (one of them
    /// may hold it).
    static func closed(_ id: String, answers: [InstanceAnswer]) -> HTTPResponse {
        var silent: [String] = []
        for answer in answers {
            switch answer.outcome {
            case .success(let response) where response.status == .noContent:
                return HTTPResponse(status: .noContent)
            case .success(let response) where response.status == .notFound:
                continue
            case .success(let response):
                silent.append("\(answer.instance) (answered \(response.status.code))")
            case .failure(let error):
                silent.append("\(answer.instance) (\(error))")
            }
        }
        guard silent.isEmpty else {
            return .error(
                .unavailable(
                    "no instance that answered holds connection \(id); not answered: "
                        + silent.joined(separator: ", ")))
        }
        return .error(.notFound("no connection \(id) on any instance"))
    }

    /// Why an instance's answer is not part of a merge.
    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    /// The items of the array `member` of an instance's answer (their bytes, without the brackets) and
    /// their values; a failure, an answer other than 200 or a body without that array is a refusal.
    static func part(of answer: InstanceAnswer, member: String) -> Result<(ByteBuffer, [JSONValue]), Refusal> {
        let response: HTTPResponse
        switch answer.outcome {
        case .success(let answered): response = answered
        case .failure(let error): return .failure(Refusal(description: "\(error)"))
        }
        let body = response.body
        let document = try? body.withUnsafeReadableBytes { try JSONParser.parseDocument($0) }
        guard response.status == .ok else {
            let message = document?["error"]?["message"]?.stringValue
            return .failure(
                Refusal(
                    description: "answered \(response.status.code) \(response.status.reasonPhrase)"
                        + (message.map { ": \($0)" } ?? "")))
        }
        guard let document, let array = document.members[member], let values = array.value.arrayValue,
            array.range.count >= 2
        else { return .failure(Refusal(description: "answered without a \"\(member)\" list")) }
        let items = body.getSlice(at: body.readerIndex + array.range.lowerBound + 1, length: array.range.count - 2)!
        return .success((items, values))
    }

    /// The end of a merged answer: `,"instances":[{"instance":…,"<counting>":…},…]`, then
    /// `,"unreachable":[{"instance":…,"reason":…},…]}`.
    private static func writeInstances(
        _ buffer: inout ByteBuffer, _ instances: [(String, Int)], counting: StaticString,
        _ unreachable: [(String, String)]
    ) {
        buffer.writeStaticString(",\"instances\":[")
        for (index, (instance, count)) in instances.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeStaticString("{\"instance\":")
            buffer.writeJSONString(instance)
            buffer.writeStaticString(",\"")
            buffer.writeStaticString(counting)
            buffer.writeStaticString("\":")
            buffer.writeDecimal(count)
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        buffer.writeStaticString("],\"unreachable\":[")
        for (index, (instance, reason)) in unreachable.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeStaticString("{\"instance\":")
            buffer.writeJSONString(instance)
            buffer.writeStaticString(",\"reason\":")
            buffer.writeJSONString(reason)
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        buffer.writeStaticString("]}")
    }
}
