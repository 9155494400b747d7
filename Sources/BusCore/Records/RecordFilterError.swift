/// Why a `filter` or `sort` expression was refused: what was wrong and the byte offset where it was seen.
///
/// The API answers these with 400; the description is meant for the caller, e.g.
/// "invalid filter at 12: expected an operand".
package struct RecordFilterError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which of the two languages the expression was written in.
    package enum Language: String, Sendable, Hashable {
        case filter
        case sort
    }

    package var language: Language
    package var message: String
    /// Byte offset into the expression's UTF-8.
    package var offset: Int

    package init(_ language: Language, _ message: String, at offset: Int) {
        self.language = language
        self.message = message
        self.offset = offset
    }

    /// A filter error.
    package init(_ message: String, at offset: Int) {
        self.init(.filter, message, at: offset)
    }

    package var description: String { "invalid \(language.rawValue) at \(offset): \(message)" }
}
