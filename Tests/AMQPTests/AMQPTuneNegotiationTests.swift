import AMQPWire
import Testing

/// connection.tune / tune-ok negotiation (RabbitMQ's rules and texts).
@Suite struct AMQPTuneNegotiationTests {
    static let limits = AMQPLimits()

    @Test func serverProposalAndAcceptedTuneOks() throws {
        #expect(
            AMQPConnectionTune(limits: Self.limits)
                == AMQPConnectionTune(channelMax: 2047, frameMax: 131_072, heartbeat: 60))
        try AMQPConnectionTune(channelMax: 2047, frameMax: 131_072, heartbeat: 60).validateTuneOk(limits: Self.limits)
        try AMQPConnectionTune(channelMax: 10, frameMax: 4096, heartbeat: 0).validateTuneOk(limits: Self.limits)
    }

    @Test func refusedTuneOks() {
        #expect(
            throws: AMQPError.exception(
                .notAllowed, "negotiated frame_max = 1000 is lower than the minimum allowed value (4096)", classID: 10,
                methodID: 31)
        ) { try AMQPConnectionTune(channelMax: 1, frameMax: 1000, heartbeat: 0).validateTuneOk(limits: Self.limits) }
        #expect(
            throws: AMQPError.exception(
                .notAllowed, "negotiated frame_max = 0 is higher than the maximum allowed value (131072)", classID: 10,
                methodID: 31)
        ) { try AMQPConnectionTune(channelMax: 1, frameMax: 0, heartbeat: 0).validateTuneOk(limits: Self.limits) }
        #expect(
            throws: AMQPError.exception(
                .notAllowed, "negotiated channel_max = 4000 is higher than the maximum allowed value (2047)",
                classID: 10, methodID: 31)
        ) { try AMQPConnectionTune(channelMax: 4000, frameMax: 4096, heartbeat: 0).validateTuneOk(limits: Self.limits) }
        let reason = AMQPError.exception(.notAllowed, "x", classID: 10, methodID: 31).closeReason(channel: 0)
        #expect(reason.closesConnection && reason.close.replyCode == 530)
    }
}
