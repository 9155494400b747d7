/// A message or binding header value, protocol-neutral: what headers exchanges compare. The AMQP layer
/// maps its field-table values into it only when a publish meets a headers exchange.
package enum HeaderValue: Sendable, Hashable {
    /// A string (AMQP short or long string).
    case string(String)
    /// A boolean.
    case bool(Bool)
    /// Any integer type.
    case integer(Int64)
    /// A float or double.
    case double(Double)
    /// A byte array.
    case bytes([UInt8])
    /// No value (AMQP void): in a binding, "the header is present, whatever its value".
    case void
    /// Anything else (decimals, timestamps, tables, arrays), by a rendering the caller chooses; equal only
    /// to the same rendering.
    case other(String)

    /// Header equality as RabbitMQ's headers exchange compares values (Erlang `==`): numbers by value
    /// across integer and floating types, everything else exactly.
    package func matches(_ other: HeaderValue) -> Bool {
        switch (self, other) {
        case (.integer(let left), .double(let right)): Double(left) == right
        case (.double(let left), .integer(let right)): left == Double(right)
        default: self == other
        }
    }
}
