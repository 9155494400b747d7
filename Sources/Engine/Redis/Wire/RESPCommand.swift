public import NIOCore

/// A command as Redis reads it: an array of bulk strings, the first the command's name.
public struct RESPCommand: Sendable, Equatable {
    /// The name and the arguments, as bytes.
    public var arguments: [ByteBuffer]

    public init(_ arguments: [ByteBuffer]) {
        self.arguments = arguments
    }

    public init(_ arguments: [String]) {
        self.arguments = arguments.map { ByteBuffer(string: $0) }
    }

    public init(_ name: String, _ arguments: String...) {
        self.init([name] + arguments)
    }

    /// The command's name, uppercased (`GET`), or "" for an empty command.
    public var name: String {
        arguments.first.map { String(buffer: $0).uppercased() } ?? ""
    }
}
