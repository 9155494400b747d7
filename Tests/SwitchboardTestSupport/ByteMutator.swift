/// Seeded edits of valid input, for the robustness tests that run on every `swift test` (libFuzzer runs
/// the same decoders for longer: Tests/Fuzz): replace, insert or remove a byte, or cut the input short.
package struct ByteMutator {
    /// The bytes an edit writes; nil: any byte.
    package var alphabet: [UInt8]?
    /// Whether an edit may also cut the input short at a random position.
    package var truncates: Bool

    package init(alphabet: [UInt8]? = nil, truncates: Bool = false) {
        self.alphabet = alphabet
        self.truncates = truncates
    }

    /// `bytes` after a random number (within `edits`) of random edits.
    package func mutate(
        _ bytes: [UInt8], edits: ClosedRange<Int>, using random: inout some RandomNumberGenerator
    ) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<Int.random(in: edits, using: &random) {
            let position = Int.random(in: 0..<max(1, bytes.count), using: &random)
            switch Int.random(in: 0..<(truncates ? 4 : 3), using: &random) {
            case 0: if !bytes.isEmpty { bytes[position] = byte(using: &random) }
            case 1: bytes.insert(byte(using: &random), at: min(position, bytes.count))
            case 2: if !bytes.isEmpty { bytes.remove(at: position) }
            default: bytes = Array(bytes.prefix(position))
            }
        }
        return bytes
    }

    private func byte(using random: inout some RandomNumberGenerator) -> UInt8 {
        guard let alphabet else { return UInt8.random(in: 0...255, using: &random) }
        return alphabet.randomElement(using: &random)!
    }
}
