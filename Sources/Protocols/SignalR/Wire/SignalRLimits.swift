/// The bounds of a SignalR connection's input, each checked before anything is allocated for it.
package struct SignalRLimits: Sendable, Equatable {
    /// Largest message, in bytes, without its record separator or length prefix: ASP.NET Core's
    /// `MaximumReceiveMessageSize` default (32 KB). A text frame longer than this without a separator is
    /// refused before the separator arrives, a binary frame as soon as its length prefix is read.
    package var maxMessageSize = 32 * 1024
    /// Longest invocation id (and stream id), in bytes. The spec lets a callee bound them
    /// (§Invocations: "Callees may establish reasonable limits on Invocation ID lengths"); ids are
    /// counters or GUIDs in every client, so 128 is generous.
    package var maxInvocationIDBytes = 128
    /// Most stream ids one invocation may announce (each one is a stream the server must track).
    package var maxStreamIDs = 32
    /// Nesting and counts of MessagePack values.
    package var messagePack = MessagePackLimits()

    package init() {}
}

/// The bounds of the MessagePack decoder.
package struct MessagePackLimits: Sendable, Equatable {
    /// Deepest nesting of arrays and maps: the decoder recurses, so hostile input needs a bound. The
    /// same as `JSONParser.maxDepth`, so a value converts between the encodings either way.
    package var maxDepth = 64

    package init() {}
}
