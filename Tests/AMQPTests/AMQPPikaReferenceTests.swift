import AMQPWire
import NIOCore
import Testing

/// Frames produced by pika 1.4.4 (`pika.frame.Method(channel, pika.spec.…).marshal()` and
/// `pika.frame.Header(…).marshal()`), hard-coded as hex: what a real client sends must decode to the
/// value we expect and re-encode to the very same bytes.
@Suite struct AMQPPikaReferenceTests {
    static let limits = AMQPLimits()

    static let methods: [(String, AMQPMethod, UInt16)] = [
        (
            "01000100000015003c0028000009616d712e746f70696303612e6201ce",
            .basic(.publish(AMQPBasicPublish(exchange: "amq.topic", routingKey: "a.b", mandatory: true))), 1
        ),
        (
            "01000100000016003c003c04637461670000000000000007010178016bce",
            .basic(
                .deliver(
                    AMQPBasicDeliver(
                        consumerTag: "ctag", deliveryTag: 7, redelivered: true, exchange: "x", routingKey: "k"))), 1
        ),
        ("0100020000000d003c0050000000000000002a01ce", .basic(.ack(deliveryTag: 42, multiple: true)), 2),
        (
            "0100020000000d003c0078000000000000000302ce", .basic(.nack(deliveryTag: 3, multiple: false, requeue: true)),
            2
        ),
        ("0100010000000b003c000a00000000000a01ce", .basic(.qos(AMQPBasicQos(prefetchCount: 10, global: true))), 1),
        (
            "0100010000001f003c001400000171017406000000100a782d7072696f726974794900000005ce",
            .basic(
                .consume(
                    AMQPBasicConsume(
                        queue: "q", consumerTag: "t", noAck: true, exclusive: true, arguments: ["x-priority": .int32(5)]
                    ))), 1
        ),
        (
            "010001000000210032000a00000271310a000000130d782d6d6573736167652d74746c490000ea60ce",
            .queue(
                .declare(
                    AMQPQueueDeclare(
                        queue: "q1", durable: true, autoDelete: true, arguments: ["x-message-ttl": .int32(60000)]))), 1
        ),
        (
            "0100010000000f0032000b0271310000000500000002ce",
            .queue(.declareOk(AMQPQueueDeclareOk(queue: "q1", messageCount: 5, consumerCount: 2))), 1
        ),
        (
            "010001000000140028000a000002657805746f7069630a00000000ce",
            .exchange(.declare(AMQPExchangeDeclare(exchange: "ex", type: "topic", durable: true, internal: true))), 1
        ),
        ("0100010000000400280033ce", .exchange(.unbindOk), 1),
        (
            "0100000000000c000a001e07ff00020000003cce",
            .connection(.tune(AMQPConnectionTune(channelMax: 2047, frameMax: 131_072, heartbeat: 60))), 0
        ),
        ("01000000000008000a0028012f0000ce", .connection(.open(virtualHost: "/")), 0),
        (
            "01000000000022000a0032014017434f4e4e454354494f4e5f464f52434544202d2062796500000000ce",
            .connection(.close(AMQPClose(replyCode: 320, replyText: "CONNECTION_FORCED - bye"))), 0
        ),
        (
            "01000000000035000a000b000000110770726f64756374530000000470696b6105504c41494e0000000c0067756573740067756573"
                + "7405656e5f5553ce",
            .connection(
                .startOk(
                    AMQPConnectionStartOk(
                        clientProperties: ["product": .string("pika")], mechanism: "PLAIN",
                        response: AMQPSASL.plainResponse(username: "guest", password: "guest"), locale: "en_US"))), 0
        ),
        ("010001000000050014001401ce", .channel(.flow(active: true)), 1),
        ("010001000000050055000a00ce", .confirm(.select(noWait: false)), 1),
        ("01000100000004005a0014ce", .tx(.commit), 1),
        (
            "0100010000001000320032000001710165017200000000ce",
            .queue(.unbind(AMQPQueueUnbind(queue: "q", exchange: "e", routingKey: "r"))), 1
        ),
        (
            "01000100000014003c004700000000000000010000017100000009ce",
            .basic(
                .getOk(
                    AMQPBasicGetOk(deliveryTag: 1, redelivered: false, exchange: "", routingKey: "q", messageCount: 9))),
            1
        ),
        ("01000000000012000a003c0d6c6f77206f6e206d656d6f7279ce", .connection(.blocked(reason: "low on memory")), 0),
    ]

    @Test(arguments: 0..<20)
    func pikaMethodFrame(index: Int) throws {
        let (hex, method, channel) = Self.methods[index]
        let bytes = AMQPBytes.hex(hex)
        let (decodedChannel, decoded) = try decodeMethodFrame(bytes)
        #expect(decodedChannel == channel)
        #expect(decoded == method)
        #expect(method.frameBytes(channel: channel) == bytes)
    }

    /// pika's header frame for `BasicProperties(delivery_mode=2)` on channel 1, body size 5: flags 0x1000.
    @Test func pikaHeaderDeliveryModeOnly() throws {
        let bytes = AMQPBytes.hex("0200010000000f003c00000000000000000005100002ce")
        let header = AMQPContentHeader(bodySize: 5, properties: AMQPBasicProperties(deliveryMode: 2))
        #expect(header.properties.flags == 0x1000)
        var encoded = ByteBuffer()
        header.writeFrame(channel: 1, to: &encoded)
        #expect(Array(encoded.readableBytesView) == bytes)
        var buffer = ByteBuffer(bytes: bytes)
        let frame = try #require(try AMQPFrameDecoder.decodeFrame(&buffer, frameMax: 4096))
        #expect(try AMQPContentHeader.decode(frame.payload, limits: Self.limits) == header)
    }

    /// pika's header frame with all 14 properties: flags 0xFFFC, properties in flag order.
    @Test func pikaHeaderEveryProperty() throws {
        let bytes = AMQPBytes.hex(
            "0200010000004b003c00000000000000000003fffc0a746578742f706c61696e04677a6970000000080161530000000162010901"
                + "630172053630303030016d000000006553f100017401750361707002636cce")
        let properties = AMQPBasicProperties(
            contentType: "text/plain", contentEncoding: "gzip", headers: ["a": .string("b")], deliveryMode: 1,
            priority: 9, correlationID: "c", replyTo: "r", expiration: "60000", messageID: "m",
            timestamp: 1_700_000_000,
            type: "t", userID: "u", appID: "app", clusterID: "cl")
        #expect(properties.flags == 0xFFFC)
        let header = AMQPContentHeader(bodySize: 3, properties: properties)
        var encoded = ByteBuffer()
        header.writeFrame(channel: 1, to: &encoded)
        #expect(Array(encoded.readableBytesView) == bytes)
        var buffer = ByteBuffer(bytes: bytes)
        let frame = try #require(try AMQPFrameDecoder.decodeFrame(&buffer, frameMax: 4096))
        #expect(try AMQPContentHeader.decode(frame.payload, limits: Self.limits) == header)
    }

    /// pika's `encode_table` for a table of every type it writes (S, x, t, I, l, D, T, F with V, A).
    @Test func pikaTable() throws {
        let bytes = AMQPBytes.hex(
            "000000570173530000000268690178780000000201020174740101494900000007016c6c0000010000000000014444010000000f"
                + "015454000000006553f10001464600000003016e560141410000000b490000000153000000017a")
        let table: AMQPFieldTable = [
            "s": .string("hi"), "x": .bytes(ByteBuffer(bytes: [1, 2])), "t": .boolean(true), "I": .int32(7),
            "l": .int64(1 << 40), "D": .decimal(scale: 1, value: 15), "T": .timestamp(1_700_000_000),
            "F": .table(["n": .void]), "A": .array([.int32(1), .string("z")]),
        ]
        var buffer = ByteBuffer(bytes: bytes)
        #expect(try buffer.readAMQPFieldTable(maxDepth: 16) == table)
        #expect(buffer.readableBytes == 0)
        var encoded = ByteBuffer()
        encoded.writeAMQPFieldTable(table)
        #expect(Array(encoded.readableBytesView) == bytes)
    }
}
