import AMQPWire
import NIOCore
import Testing

/// Every method of every class against bytes laid out by hand from the spec's argument lists
/// (amqp0-9-1.xml and RabbitMQ's amqp-0-9-1-rabbit.xml): the encoder must produce exactly these bytes
/// and the decoder must read them back to the same value. Consecutive bits share one octet, low bit
/// first (§4.2.5.2).
@Suite struct AMQPMethodGoldenBytesTests {
    typealias B = AMQPBytes

    /// (method, class id, method id, argument bytes).
    static let cases: [(AMQPMethod, UInt16, UInt16, [UInt8])] = [
        // connection (10)
        (
            .connection(
                .start(
                    AMQPConnectionStart(
                        serverProperties: ["product": .string("S")], mechanisms: "PLAIN", locales: "en_US"))),
            10, 10, [0, 9] + B.table(B.ss("product") + [UInt8(ascii: "S")] + B.ls("S")) + B.ls("PLAIN") + B.ls("en_US")
        ),
        (
            .connection(
                .startOk(
                    AMQPConnectionStartOk(
                        clientProperties: [:], mechanism: "PLAIN", response: ByteBuffer(bytes: [0, 0x75, 0, 0x70]),
                        locale: "en_US"))),
            10, 11, B.u32(0) + B.ss("PLAIN") + B.ls([0, 0x75, 0, 0x70]) + B.ss("en_US")
        ),
        (.connection(.secure(challenge: ByteBuffer(string: "ch"))), 10, 20, B.ls("ch")),
        (.connection(.secureOk(response: ByteBuffer(string: "r"))), 10, 21, B.ls("r")),
        (
            .connection(.tune(AMQPConnectionTune(channelMax: 2047, frameMax: 131_072, heartbeat: 60))), 10, 30,
            B.u16(2047) + B.u32(131_072) + B.u16(60)
        ),
        (
            .connection(.tuneOk(AMQPConnectionTune(channelMax: 0, frameMax: 4096, heartbeat: 0))), 10, 31,
            B.u16(0) + B.u32(4096) + B.u16(0)
        ),
        // reserved-1 (capabilities) empty, reserved-2 (insist) a bit.
        (.connection(.open(virtualHost: "/")), 10, 40, B.ss("/") + B.ss("") + [0]),
        (.connection(.openOk), 10, 41, B.ss("")),
        (
            .connection(.close(AMQPClose(replyCode: 320, replyText: "CONNECTION_FORCED - x"))), 10, 50,
            B.u16(320) + B.ss("CONNECTION_FORCED - x") + B.u16(0) + B.u16(0)
        ),
        (.connection(.closeOk), 10, 51, []),
        (.connection(.blocked(reason: "low")), 10, 60, B.ss("low")),
        (.connection(.unblocked), 10, 61, []),
        (
            .connection(.updateSecret(newSecret: ByteBuffer(string: "tok"), reason: "refresh")), 10, 70,
            B.ls("tok") + B.ss("refresh")
        ),
        (.connection(.updateSecretOk), 10, 71, []),
        // channel (20)
        (.channel(.open), 20, 10, B.ss("")),
        (.channel(.openOk), 20, 11, B.u32(0)),
        (.channel(.flow(active: true)), 20, 20, [1]),
        (.channel(.flowOk(active: false)), 20, 21, [0]),
        (
            .channel(
                .close(
                    AMQPClose(
                        replyCode: 404, replyText: "NOT_FOUND - no queue 'q' in vhost '/'", classID: 50, methodID: 10))),
            20, 40, B.u16(404) + B.ss("NOT_FOUND - no queue 'q' in vhost '/'") + B.u16(50) + B.u16(10)
        ),
        (.channel(.closeOk), 20, 41, []),
        // exchange (40): passive, durable, auto-delete, internal, no-wait → bits 0…4.
        (
            .exchange(
                .declare(
                    AMQPExchangeDeclare(
                        exchange: "e", type: "topic", durable: true, autoDelete: true, noWait: true,
                        arguments: ["alternate-exchange": .string("ae")]))),
            40, 10,
            B.u16(0) + B.ss("e") + B.ss("topic") + [0b1_0110]
                + B.table(B.ss("alternate-exchange") + [UInt8(ascii: "S")] + B.ls("ae"))
        ),
        (.exchange(.declareOk), 40, 11, []),
        (
            .exchange(.delete(AMQPExchangeDelete(exchange: "e", ifUnused: true))), 40, 20,
            B.u16(0) + B.ss("e") + [0b01]
        ),
        (.exchange(.deleteOk), 40, 21, []),
        (
            .exchange(.bind(AMQPExchangeBind(destination: "d", source: "s", routingKey: "a.*", noWait: true))), 40,
            30, B.u16(0) + B.ss("d") + B.ss("s") + B.ss("a.*") + [1] + B.u32(0)
        ),
        (.exchange(.bindOk), 40, 31, []),
        (
            .exchange(.unbind(AMQPExchangeBind(destination: "d", source: "s", routingKey: "k"))), 40, 40,
            B.u16(0) + B.ss("d") + B.ss("s") + B.ss("k") + [0] + B.u32(0)
        ),
        // RabbitMQ numbers exchange.unbind-ok 51, not 41.
        (.exchange(.unbindOk), 40, 51, []),
        // queue (50): passive, durable, exclusive, auto-delete, no-wait → bits 0…4.
        (
            .queue(
                .declare(
                    AMQPQueueDeclare(
                        queue: "q", durable: true, exclusive: true, arguments: ["x-max-length": .int32(10)]))),
            50, 10,
            B.u16(0) + B.ss("q") + [0b0110] + B.table(B.ss("x-max-length") + [UInt8(ascii: "I")] + B.u32(10))
        ),
        (
            .queue(.declareOk(AMQPQueueDeclareOk(queue: "q", messageCount: 3, consumerCount: 1))), 50, 11,
            B.ss("q") + B.u32(3) + B.u32(1)
        ),
        (
            .queue(.bind(AMQPQueueBind(queue: "q", exchange: "amq.topic", routingKey: "a.#"))), 50, 20,
            B.u16(0) + B.ss("q") + B.ss("amq.topic") + B.ss("a.#") + [0] + B.u32(0)
        ),
        (.queue(.bindOk), 50, 21, []),
        (.queue(.purge(queue: "q", noWait: true)), 50, 30, B.u16(0) + B.ss("q") + [1]),
        (.queue(.purgeOk(messageCount: 5)), 50, 31, B.u32(5)),
        (
            .queue(.delete(AMQPQueueDelete(queue: "q", ifEmpty: true, noWait: true))), 50, 40,
            B.u16(0) + B.ss("q") + [0b110]
        ),
        (.queue(.deleteOk(messageCount: 2)), 50, 41, B.u32(2)),
        // queue.unbind has no no-wait bit.
        (
            .queue(.unbind(AMQPQueueUnbind(queue: "q", exchange: "e", routingKey: "r"))), 50, 50,
            B.u16(0) + B.ss("q") + B.ss("e") + B.ss("r") + B.u32(0)
        ),
        (.queue(.unbindOk), 50, 51, []),
        // basic (60)
        (.basic(.qos(AMQPBasicQos(prefetchCount: 10))), 60, 10, B.u32(0) + B.u16(10) + [0]),
        (.basic(.qosOk), 60, 11, []),
        // no-local, no-ack, exclusive, no-wait → bits 0…3.
        (
            .basic(.consume(AMQPBasicConsume(queue: "q", noAck: true))), 60, 20,
            B.u16(0) + B.ss("q") + B.ss("") + [0b10] + B.u32(0)
        ),
        (.basic(.consumeOk(consumerTag: "amq.ctag-1")), 60, 21, B.ss("amq.ctag-1")),
        (.basic(.cancel(consumerTag: "t", noWait: true)), 60, 30, B.ss("t") + [1]),
        (.basic(.cancelOk(consumerTag: "t")), 60, 31, B.ss("t")),
        (
            .basic(.publish(AMQPBasicPublish(exchange: "", routingKey: "q", mandatory: true))), 60, 40,
            B.u16(0) + B.ss("") + B.ss("q") + [1]
        ),
        (
            .basic(.return(AMQPBasicReturn(replyCode: 312, replyText: "NO_ROUTE", exchange: "x", routingKey: "k"))),
            60, 50, B.u16(312) + B.ss("NO_ROUTE") + B.ss("x") + B.ss("k")
        ),
        (
            .basic(
                .deliver(
                    AMQPBasicDeliver(
                        consumerTag: "ctag", deliveryTag: 1, redelivered: false, exchange: "", routingKey: "q"))),
            60, 60, B.ss("ctag") + B.u64(1) + [0] + B.ss("") + B.ss("q")
        ),
        (.basic(.get(queue: "q", noAck: true)), 60, 70, B.u16(0) + B.ss("q") + [1]),
        (
            .basic(
                .getOk(
                    AMQPBasicGetOk(deliveryTag: 2, redelivered: true, exchange: "x", routingKey: "k", messageCount: 0))),
            60, 71, B.u64(2) + [1] + B.ss("x") + B.ss("k") + B.u32(0)
        ),
        (.basic(.getEmpty), 60, 72, B.ss("")),
        (.basic(.ack(deliveryTag: 5, multiple: false)), 60, 80, B.u64(5) + [0]),
        (.basic(.reject(deliveryTag: 6, requeue: true)), 60, 90, B.u64(6) + [1]),
        (.basic(.recoverAsync(requeue: true)), 60, 100, [1]),
        (.basic(.recover(requeue: false)), 60, 110, [0]),
        (.basic(.recoverOk), 60, 111, []),
        // multiple, requeue → bits 0, 1.
        (.basic(.nack(deliveryTag: 7, multiple: true, requeue: true)), 60, 120, B.u64(7) + [0b11]),
        // confirm (85), tx (90)
        (.confirm(.select(noWait: true)), 85, 10, [1]),
        (.confirm(.selectOk), 85, 11, []),
        (.tx(.select), 90, 10, []),
        (.tx(.selectOk), 90, 11, []),
        (.tx(.commit), 90, 20, []),
        (.tx(.commitOk), 90, 21, []),
        (.tx(.rollback), 90, 30, []),
        (.tx(.rollbackOk), 90, 31, []),
    ]

    @Test func everyMethodIsCovered() {
        #expect(Self.cases.count == 64)
        let ids = Set(Self.cases.map { [$0.1, $0.2] })
        #expect(ids.count == 64)
    }

    @Test(arguments: 0..<64)
    func goldenBytes(index: Int) throws {
        let (method, classID, methodID, arguments) = Self.cases[index]
        let expected = B.method(channel: 3, classID, methodID, arguments)
        #expect(method.classID == classID && method.methodID == methodID)
        #expect(method.frameBytes(channel: 3) == expected, "encoding of \(method.name)")
        let (channel, decoded) = try decodeMethodFrame(expected)
        #expect(channel == 3)
        #expect(decoded == method, "decoding of \(method.name)")
    }

    @Test func namesFollowTheSpec() {
        #expect(AMQPMethod.basic(.publish(AMQPBasicPublish(exchange: "", routingKey: ""))).name == "basic.publish")
        #expect(AMQPMethod.exchange(.unbindOk).name == "exchange.unbind-ok")
        #expect(AMQPMethod.name(classID: 60, methodID: 99) == "{60, 99}")
        for (method, _, _, _) in Self.cases { #expect(!method.name.hasPrefix("{")) }
    }

    @Test func contentCarryingMethods() {
        let carrying = Self.cases.filter { $0.0.hasContent }.map { $0.2 }
        #expect(carrying == [40, 50, 60, 71])
    }

    @Test func unknownMethodsAndClasses() {
        #expect(throws: AMQPError.unknownMethod(classID: 60, methodID: 99)) {
            try decodeMethodFrame(B.method(channel: 1, 60, 99, []))
        }
        #expect(throws: AMQPError.unknownMethod(classID: 70, methodID: 10)) {
            try decodeMethodFrame(B.method(channel: 1, 70, 10, []))
        }
    }

    @Test func truncatedAndOverlongArgumentsNameTheMethod() {
        // basic.ack without its bit octet.
        #expect(throws: AMQPError.malformed("truncated octet", classID: 60, methodID: 80)) {
            try decodeMethodFrame(B.method(channel: 1, 60, 80, B.u64(5)))
        }
        #expect(throws: AMQPError.malformed("1 bytes after the arguments", classID: 60, methodID: 80)) {
            try decodeMethodFrame(B.method(channel: 1, 60, 80, B.u64(5) + [0, 9]))
        }
        // A short string running past the payload.
        #expect(throws: AMQPError.malformed("short string longer than the frame", classID: 60, methodID: 21)) {
            try decodeMethodFrame(B.method(channel: 1, 60, 21, [5, 0x61]))
        }
        // A short string that is not UTF-8.
        #expect(throws: AMQPError.malformed("short string is not UTF-8", classID: 60, methodID: 21)) {
            try decodeMethodFrame(B.method(channel: 1, 60, 21, [2, 0xC3, 0x28]))
        }
    }

    @Test func reservedFieldsAreIgnoredWhenRead() throws {
        // A ticket of 7 (old clients send non-zero tickets) and a non-empty connection.open capabilities.
        let (_, publish) = try decodeMethodFrame(B.method(channel: 1, 60, 40, B.u16(7) + B.ss("") + B.ss("q") + [0]))
        #expect(publish == .basic(.publish(AMQPBasicPublish(exchange: "", routingKey: "q"))))
        let (_, open) = try decodeMethodFrame(B.method(channel: 0, 10, 40, B.ss("/v") + B.ss("caps") + [1]))
        #expect(open == .connection(.open(virtualHost: "/v")))
    }
}
