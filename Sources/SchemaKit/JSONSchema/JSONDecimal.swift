/// A JSON number's exact value read straight from its text without allocating, when it has at most 19
/// significant digits and a small exponent: `significand × 10^exponent`, in the canonical form
/// `JSONNumber` uses (no trailing zeros in the significand; zero is `0 × 10^0`, never negative). Numbers
/// outside that range take `JSONNumber`'s slower path, so both give the same answers.
struct JSONDecimal: Hashable {
    var negative: Bool
    var significand: UInt64
    var exponent: Int
    /// Significant digits in `significand`.
    var digitCount: Int

    /// The largest explicit exponent read here; `JSONNumber` refuses ±1,000,000 and beyond.
    static let maxExplicitExponent = 999_999

    /// Reads RFC 8259 number text (already checked by the parser); nil when out of the fast range.
    init?(_ text: UnsafeRawBufferPointer) {
        var index = 0
        negative = text.first == UInt8(ascii: "-")
        if negative { index = 1 }
        var significand: UInt64 = 0
        var digitCount = 0
        var pendingZeros = 0
        var fractionDigits = 0
        var inFraction = false
        while index < text.count {
            let byte = text[index]
            if byte == UInt8(ascii: ".") {
                inFraction = true
                index += 1
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { break }
            index += 1
            if inFraction { fractionDigits += 1 }
            let digit = UInt64(byte - UInt8(ascii: "0"))
            if digit == 0 {
                // Zeros count only once a later non-zero digit shows they are not trailing.
                if significand != 0 { pendingZeros += 1 }
                continue
            }
            digitCount += pendingZeros + 1
            guard digitCount <= 19 else { return nil }
            for _ in 0..<pendingZeros { significand &*= 10 }
            significand = significand &* 10 &+ digit
            pendingZeros = 0
        }
        var explicit = 0
        if index < text.count {
            // 'e' or 'E', an optional sign, digits.
            index += 1
            var exponentNegative = false
            if text[index] == UInt8(ascii: "-") || text[index] == UInt8(ascii: "+") {
                exponentNegative = text[index] == UInt8(ascii: "-")
                index += 1
            }
            while index < text.count {
                explicit = explicit * 10 + Int(text[index] - UInt8(ascii: "0"))
                guard explicit <= Self.maxExplicitExponent else { return nil }
                index += 1
            }
            if exponentNegative { explicit = -explicit }
        }
        self.significand = significand
        self.digitCount = digitCount
        if significand == 0 {
            negative = false
            exponent = 0
        } else {
            exponent = explicit - fractionDigits + pendingZeros
        }
    }

    var isInteger: Bool { significand == 0 || exponent >= 0 }

    /// Powers of ten a `Double` holds exactly.
    private static let powersOfTen: [Double] = (0...22).map { power in
        (0..<power).reduce(1.0) { value, _ in value * 10 }
    }

    /// The nearest `Double`, as `JSONNumber.double` computes it; nil when one rounding step cannot
    /// give it exactly (Clinger's fast path: a significand below 2^53 and a power of ten ≤ 10^22).
    var double: Double? {
        guard significand < 1 << 53, exponent >= -22, exponent <= 22 else { return nil }
        let magnitude =
            exponent >= 0
            ? Double(significand) * Self.powersOfTen[exponent] : Double(significand) / Self.powersOfTen[-exponent]
        return negative ? -magnitude : magnitude
    }

    /// `JSONNumber.isMultiple(of:)` for a number in the fast range.
    func isMultiple(of divisor: JSONNumber) -> Bool? {
        if significand == 0 { return true }
        guard !divisor.isZero else { return false }
        let shift = exponent - divisor.exponent
        guard shift >= 0 else { return false }
        guard divisor.digits.count <= 17, shift <= 100_000 else { return nil }
        let modulus = divisor.digits.reduce(UInt64(0)) { $0 * 10 + UInt64($1) }
        // The digit-by-digit remainder of JSONNumber, in one step: the significand fits 64 bits.
        var remainder = significand % modulus
        for _ in 0..<shift {
            remainder = (remainder * 10) % modulus
            if remainder == 0 { break }
        }
        return remainder == 0
    }

    /// The same number as `JSONNumber` reads it.
    init?(_ number: JSONNumber) {
        guard number.digits.count <= 19 else { return nil }
        negative = number.negative
        significand = number.digits.reduce(UInt64(0)) { $0 &* 10 &+ UInt64($1) }
        exponent = number.exponent
        digitCount = number.digits.count
    }
}
