/// A frame's headers in the order they came. A name may repeat; the first one counts (1.2 §"Repeated
/// Header Entries"), which `subscript` gives.
package struct STOMPHeaders: Sendable, Equatable, Sequence {
    package struct Header: Sendable, Equatable {
        package var name: String
        package var value: String

        package init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    package private(set) var entries: [Header] = []

    package init() {}

    package init(_ pairs: [(String, String)]) {
        entries = pairs.map { Header(name: $0.0, value: $0.1) }
    }

    package mutating func append(_ name: String, _ value: String) {
        entries.append(Header(name: name, value: value))
    }

    /// The first value of `name`.
    package subscript(_ name: String) -> String? {
        for entry in entries where entry.name == name { return entry.value }
        return nil
    }

    /// Removes every entry named `name`.
    package mutating func remove(_ name: String) {
        entries.removeAll { $0.name == name }
    }

    package var count: Int { entries.count }

    package func makeIterator() -> IndexingIterator<[Header]> { entries.makeIterator() }
}

/// How header names and values are escaped (1.2 §"Value Encoding"): 1.2 escapes CR, LF, `:` and `\`;
/// 1.1 the same but CR; 1.0 nothing.
package enum STOMPEscaping: Sendable {
    case none
    case v1_1
    case v1_2

    /// `raw` with its escape sequences decoded; nil for an undefined sequence, which the spec makes a
    /// fatal protocol error.
    package func decode(_ raw: UnsafeRawBufferPointer) -> String? {
        guard self != .none, raw.contains(UInt8(ascii: "\\")) else {
            return String(decoding: raw, as: UTF8.self)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            guard byte == UInt8(ascii: "\\") else {
                bytes.append(byte)
                index += 1
                continue
            }
            guard index + 1 < raw.count else { return nil }
            switch raw[index + 1] {
            case UInt8(ascii: "n"): bytes.append(UInt8(ascii: "\n"))
            case UInt8(ascii: "c"): bytes.append(UInt8(ascii: ":"))
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "r") where self == .v1_2: bytes.append(UInt8(ascii: "\r"))
            default: return nil
            }
            index += 2
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether `text` needs escaping at all (most values do not: they are written as they are).
    @inlinable
    package func needsEscaping(_ text: String) -> Bool {
        guard self != .none else { return false }
        return text.utf8.contains {
            $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "\\")
                || $0 == UInt8(ascii: "\r")
        }
    }

    /// The escaped bytes of `text`.
    package func encode(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 4)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: ":"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "c")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\r") where self == .v1_2:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            default: bytes.append(byte)
            }
        }
        return bytes
    }
}
