package import NIOCore

// The arguments of connection methods with more than one field, each a few lines: one file for the
// class rather than one per struct.

/// connection.start (10.10).
package struct AMQPConnectionStart: Sendable, Hashable {
    package var versionMajor: UInt8
    package var versionMinor: UInt8
    package var serverProperties: AMQPFieldTable
    /// Space-separated SASL mechanisms, e.g. "PLAIN AMQPLAIN".
    package var mechanisms: String
    /// Space-separated locales, e.g. "en_US".
    package var locales: String

    package init(
        versionMajor: UInt8 = 0, versionMinor: UInt8 = 9, serverProperties: AMQPFieldTable, mechanisms: String,
        locales: String
    ) {
        self.versionMajor = versionMajor
        self.versionMinor = versionMinor
        self.serverProperties = serverProperties
        self.mechanisms = mechanisms
        self.locales = locales
    }

    init(from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) {
        versionMajor = try buffer.readAMQPOctet()
        versionMinor = try buffer.readAMQPOctet()
        serverProperties = try buffer.readAMQPFieldTable(maxDepth: maxDepth)
        mechanisms = try buffer.readAMQPLongStringText()
        locales = try buffer.readAMQPLongStringText()
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(versionMajor)
        buffer.writeInteger(versionMinor)
        buffer.writeAMQPFieldTable(serverProperties)
        buffer.writeAMQPLongString(mechanisms)
        buffer.writeAMQPLongString(locales)
    }
}

/// connection.start-ok (10.11).
package struct AMQPConnectionStartOk: Sendable, Hashable {
    package var clientProperties: AMQPFieldTable
    package var mechanism: String
    /// The SASL response (`AMQPSASL.credentials` reads it).
    package var response: ByteBuffer
    package var locale: String

    package init(clientProperties: AMQPFieldTable, mechanism: String, response: ByteBuffer, locale: String) {
        self.clientProperties = clientProperties
        self.mechanism = mechanism
        self.response = response
        self.locale = locale
    }

    init(from buffer: inout ByteBuffer, maxDepth: Int) throws(AMQPError) {
        clientProperties = try buffer.readAMQPFieldTable(maxDepth: maxDepth)
        mechanism = try buffer.readAMQPShortString()
        response = try buffer.readAMQPLongString()
        locale = try buffer.readAMQPShortString()
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeAMQPFieldTable(clientProperties)
        buffer.writeAMQPShortString(mechanism)
        buffer.writeAMQPLongString(response)
        buffer.writeAMQPShortString(locale)
    }
}

/// connection.tune (10.30) and tune-ok (10.31): the same three fields.
package struct AMQPConnectionTune: Sendable, Hashable {
    /// Highest channel number; 0: no limit.
    package var channelMax: UInt16
    /// Largest frame, overhead included; 0: no limit.
    package var frameMax: UInt32
    /// Heartbeat interval in seconds; 0: none.
    package var heartbeat: UInt16

    package init(channelMax: UInt16, frameMax: UInt32, heartbeat: UInt16) {
        self.channelMax = channelMax
        self.frameMax = frameMax
        self.heartbeat = heartbeat
    }

    /// What the server proposes for `limits`.
    package init(limits: AMQPLimits) {
        self.init(channelMax: limits.channelMax, frameMax: UInt32(limits.frameMax), heartbeat: limits.heartbeatSeconds)
    }

    init(from buffer: inout ByteBuffer) throws(AMQPError) {
        channelMax = try buffer.readAMQPShort()
        frameMax = try buffer.readAMQPLong()
        heartbeat = try buffer.readAMQPShort()
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(channelMax)
        buffer.writeInteger(frameMax)
        buffer.writeInteger(heartbeat)
    }
}

/// connection.close (10.50) and channel.close (20.40): why, and which method failed (0 and 0 when none).
package struct AMQPClose: Sendable, Hashable {
    /// An `AMQPReplyCode` raw value (kept raw: a peer may send one we do not name).
    package var replyCode: UInt16
    package var replyText: String
    package var classID: UInt16
    package var methodID: UInt16

    package init(replyCode: UInt16, replyText: String, classID: UInt16 = 0, methodID: UInt16 = 0) {
        self.replyCode = replyCode
        self.replyText = replyText
        self.classID = classID
        self.methodID = methodID
    }

    init(from buffer: inout ByteBuffer) throws(AMQPError) {
        replyCode = try buffer.readAMQPShort()
        replyText = try buffer.readAMQPShortString()
        classID = try buffer.readAMQPShort()
        methodID = try buffer.readAMQPShort()
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(replyCode)
        buffer.writeAMQPShortString(replyText)
        buffer.writeInteger(classID)
        buffer.writeInteger(methodID)
    }
}
