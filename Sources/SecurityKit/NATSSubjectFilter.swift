/// A NATS subject (or subject pattern) in a NATS JWT's permissions → the bus filter it names
/// (docs/topics.md "NATS"): tokens become levels, `*` → `+`, a last `>` → `#`, and a token's `/`, `+`,
/// `#` are escaped as `%2F`, `%2B`, `%23`, `%2E` and `%00`…`%20` unescaped, `%2A`/`%3E` are the literal
/// levels `*`/`>`, `%00` an empty level. The same rule as `NATSSubjectMapping` (NATSWire), which
/// SecurityKit cannot import; `NATSSubjectFilterTests` holds both to the table in docs/topics.md.
package enum NATSSubjectFilter {
    /// nil for an invalid subject (empty, an empty token, `>` before the end).
    package static func busFilter(_ subject: String) -> String? {
        guard !subject.isEmpty else { return nil }
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        var levels: [String] = []
        for (index, token) in tokens.enumerated() {
            switch token {
            case "": return nil
            case "*": levels.append("+")
            case ">":
                guard index == tokens.count - 1 else { return nil }
                levels.append("#")
            case "%00": levels.append("")
            case "%2A": levels.append("*")
            case "%3E": levels.append(">")
            default: levels.append(level(token))
            }
        }
        return levels.joined(separator: "/")
    }

    private static func level(_ token: Substring) -> String {
        let bytes = Array(token.utf8)
        var level: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"), index + 2 < bytes.count, let high = hex(bytes[index + 1]),
                let low = hex(bytes[index + 2])
            {
                let decoded = high << 4 | low
                if decoded == UInt8(ascii: ".") || (decoded > 0 && decoded <= 0x20) {
                    level.append(decoded)
                    index += 3
                    continue
                }
            }
            switch byte {
            case UInt8(ascii: "/"): level.append(contentsOf: "%2F".utf8)
            case UInt8(ascii: "+"): level.append(contentsOf: "%2B".utf8)
            case UInt8(ascii: "#"): level.append(contentsOf: "%23".utf8)
            default: level.append(byte)
            }
            index += 1
        }
        return String(decoding: level, as: UTF8.self)
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
