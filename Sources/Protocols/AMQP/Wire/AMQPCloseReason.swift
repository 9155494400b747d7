/// What an `AMQPError` closes and with which arguments: `AMQPError.closeReason(channel:)`.
package struct AMQPCloseReason: Sendable, Hashable {
    /// True: connection.close on channel 0 (then nothing but close-ok is read, §4.2.6); false:
    /// channel.close on the channel that failed.
    package var closesConnection: Bool
    /// The reply code, text and failing method of the close.
    package var close: AMQPClose

    package init(closesConnection: Bool, close: AMQPClose) {
        self.closesConnection = closesConnection
        self.close = close
    }

    /// The close method to send: connection.close or channel.close.
    package var method: AMQPMethod {
        closesConnection ? .connection(.close(close)) : .channel(.close(close))
    }
}
