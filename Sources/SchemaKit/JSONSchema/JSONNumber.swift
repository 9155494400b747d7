import BusCore

/// A JSON number as an exact decimal: sign, significant digits without leading or trailing zeros, and
/// a power of ten. JSON Schema compares numbers by value (`1` equals `1.0`, `0.0075` is a multiple of
/// `0.0001`), which binary doubles cannot do exactly.
struct JSONNumber: Hashable {
    var negative: Bool
    /// Significant digits, most significant first, each 0–9; empty for zero.
    var digits: [UInt8]
    /// The value is `digits × 10^exponent`.
    var exponent: Int

    init?(_ text: String) {
        var utf8 = Substring(text).utf8[...]
        negative = utf8.first == UInt8(ascii: "-")
        if negative { utf8 = utf8.dropFirst() }
        var digits: [UInt8] = []
        var exponent = 0
        var seenPoint = false
        while let byte = utf8.first, byte != UInt8(ascii: "e"), byte != UInt8(ascii: "E") {
            utf8 = utf8.dropFirst()
            if byte == UInt8(ascii: ".") {
                seenPoint = true
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            digits.append(byte - UInt8(ascii: "0"))
            if seenPoint { exponent -= 1 }
        }
        if !utf8.isEmpty {
            guard let power = Int(String(Substring(utf8.dropFirst()))), abs(power) < 1_000_000 else { return nil }
            exponent += power
        }
        while digits.first == 0 { digits.removeFirst() }
        while digits.last == 0 {
            digits.removeLast()
            exponent += 1
        }
        if digits.isEmpty {
            exponent = 0
            negative = false
        }
        self.digits = digits
        self.exponent = exponent
    }

    init?(_ value: JSONValue) {
        guard case .number(let text) = value else { return nil }
        self.init(text)
    }

    var isInteger: Bool { digits.isEmpty || exponent >= 0 }
    var isZero: Bool { digits.isEmpty }

    var double: Double {
        var text = negative ? "-" : ""
        text += digits.isEmpty ? "0" : digits.map { String($0) }.joined()
        text += "e\(exponent)"
        return Double(text) ?? 0
    }

    /// Whether `self` is an integer multiple of `divisor` (exact when the divisor's digits fit 17 places).
    func isMultiple(of divisor: JSONNumber) -> Bool {
        if isZero { return true }
        guard !divisor.isZero else { return false }
        // self / divisor = (d1 / d2) × 10^(e1 − e2). d1 has no trailing zeros, so when e1 < e2 the
        // quotient is an integer only if d2 × 10^(e2 − e1) divides d1, impossible for a d1 not ending in 0.
        let shift = exponent - divisor.exponent
        guard shift >= 0 else { return false }
        guard divisor.digits.count <= 17, shift <= 100_000 else {
            let quotient = double / divisor.double
            return quotient.isFinite && quotient.rounded() == quotient
        }
        let modulus = divisor.digits.reduce(UInt64(0)) { $0 * 10 + UInt64($1) }
        var remainder: UInt64 = 0
        for digit in digits { remainder = (remainder * 10 + UInt64(digit)) % modulus }
        for _ in 0..<shift {
            remainder = (remainder * 10) % modulus
            if remainder == 0 { break }
        }
        return remainder == 0
    }
}

extension JSONValue {
    /// JSON Schema equality: numbers by value, objects regardless of member order.
    func schemaEquals(_ other: JSONValue) -> Bool {
        switch (self, other) {
        case (.number, .number): return JSONNumber(self) == JSONNumber(other)
        case (.array(let left), .array(let right)):
            return left.count == right.count && zip(left, right).allSatisfy { $0.schemaEquals($1) }
        case (.object(let left), .object(let right)):
            guard left.count == right.count else { return false }
            return left.allSatisfy { field in
                guard let match = right.first(where: { $0.key.utf8.elementsEqual(field.key.utf8) }) else {
                    return false
                }
                return field.value.schemaEquals(match.value)
            }
        // Strings compare by code points: Swift's `==` would equate canonically equivalent strings
        // ("é" and "e" + U+0301), which JSON Schema keeps apart.
        case (.string(let left), .string(let right)): return left.utf8.elementsEqual(right.utf8)
        default: return self == other
        }
    }
}
