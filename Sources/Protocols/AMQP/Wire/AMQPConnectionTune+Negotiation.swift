extension AMQPConnectionTune {
    /// Checks a client's tune-ok against what the server proposed (`limits`), as RabbitMQ does
    /// (rabbit_reader's `validate_negotiated_integer_value`): a value may lower the server's, not raise
    /// it, 0 ("no limit") is a raise when the server has a limit, and frame-max may not go below the
    /// spec's minimum (§4.2.3). Refusals are 530 NOT_ALLOWED on connection.tune-ok. Any heartbeat is taken.
    package func validateTuneOk(limits: AMQPLimits) throws(AMQPError) {
        try Self.validate("channel_max", Int(channelMax), minimum: 1, maximum: Int(limits.channelMax))
        try Self.validate("frame_max", Int(frameMax), minimum: AMQPLimits.minFrameMax, maximum: limits.frameMax)
    }

    private static func validate(_ field: String, _ value: Int, minimum: Int, maximum: Int) throws(AMQPError) {
        if value != 0 && value < minimum {
            throw .exception(
                .notAllowed, "negotiated \(field) = \(value) is lower than the minimum allowed value (\(minimum))",
                classID: 10, methodID: 31)
        }
        if maximum != 0 && (value == 0 || value > maximum) {
            throw .exception(
                .notAllowed, "negotiated \(field) = \(value) is higher than the maximum allowed value (\(maximum))",
                classID: 10, methodID: 31)
        }
    }
}
