/// One token of .proto text.
struct ProtobufToken {
    enum Kind { case identifier, number, string, symbol }
    var kind: Kind
    /// The token's text; a string literal's unescaped contents.
    var text: String
    var line: Int
}

/// Splits .proto text into tokens, dropping whitespace and `//`/`/* */` comments.
enum ProtobufTokenizer {
    static func tokenize(_ text: String, limit: Int) throws(SchemaError) -> [ProtobufToken] {
        var tokens: [ProtobufToken] = []
        let scalars = Array(text.unicodeScalars)
        var index = 0
        var line = 1
        func isIdentifierStart(_ scalar: Unicode.Scalar) -> Bool {
            (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || scalar == "_"
        }
        func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar >= "0" && scalar <= "9" }
        while index < scalars.count {
            guard tokens.count < limit else { throw .schema(".proto text has more than \(limit) tokens") }
            let scalar = scalars[index]
            if scalar == "\n" {
                line += 1
                index += 1
            } else if scalar == " " || scalar == "\t" || scalar == "\r" || scalar == "\u{0C}" || scalar == "\u{0B}" {
                index += 1
            } else if scalar == "/" && index + 1 < scalars.count && scalars[index + 1] == "/" {
                while index < scalars.count && scalars[index] != "\n" { index += 1 }
            } else if scalar == "/" && index + 1 < scalars.count && scalars[index + 1] == "*" {
                index += 2
                while index < scalars.count
                    && !(scalars[index] == "*" && index + 1 < scalars.count && scalars[index + 1] == "/")
                {
                    if scalars[index] == "\n" { line += 1 }
                    index += 1
                }
                guard index < scalars.count else { throw .schema("line \(line): unterminated comment") }
                index += 2
            } else if isIdentifierStart(scalar)
                || (scalar == "." && index + 1 < scalars.count && isIdentifierStart(scalars[index + 1]))
            {
                var text = ""
                while index < scalars.count
                    && (isIdentifierStart(scalars[index]) || isDigit(scalars[index]) || scalars[index] == ".")
                {
                    text.unicodeScalars.append(scalars[index])
                    index += 1
                }
                tokens.append(ProtobufToken(kind: .identifier, text: text, line: line))
            } else if isDigit(scalar) || (scalar == "-" && index + 1 < scalars.count && isDigit(scalars[index + 1])) {
                var text = String(scalar)
                index += 1
                while index < scalars.count
                    && (isIdentifierStart(scalars[index]) || isDigit(scalars[index]) || scalars[index] == "."
                        || ((scalars[index] == "+" || scalars[index] == "-") && (text.last == "e" || text.last == "E")))
                {
                    text.unicodeScalars.append(scalars[index])
                    index += 1
                }
                tokens.append(ProtobufToken(kind: .number, text: text, line: line))
            } else if scalar == "\"" || scalar == "'" {
                index += 1
                var text = ""
                while index < scalars.count && scalars[index] != scalar {
                    if scalars[index] == "\n" { throw .schema("line \(line): newline in a string") }
                    if scalars[index] == "\\" && index + 1 < scalars.count {
                        index += 1
                        switch scalars[index] {
                        case "n": text += "\n"
                        case "t": text += "\t"
                        default: text.unicodeScalars.append(scalars[index])
                        }
                    } else {
                        text.unicodeScalars.append(scalars[index])
                    }
                    index += 1
                }
                guard index < scalars.count else { throw .schema("line \(line): unterminated string") }
                index += 1
                tokens.append(ProtobufToken(kind: .string, text: text, line: line))
            } else {
                tokens.append(ProtobufToken(kind: .symbol, text: String(scalar), line: line))
                index += 1
            }
        }
        return tokens
    }
}
