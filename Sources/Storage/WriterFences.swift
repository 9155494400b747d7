import NIOConcurrencyHelpers

/// The fence token this instance wrote last for each writer claim (`StoreSessionOwnership.fenceWriter`),
/// which its commits appending to that resource check in the database: set by the ownership connection
/// before it writes the token, read by the writer thread per commit.
final class WriterFences: Sendable {
    private let tokens = NIOLockedValueBox<[String: Int64]>([:])

    func set(_ resource: String, token: Int64) {
        tokens.withLockedValue { $0[resource] = token }
    }

    /// Whether no writer claim was fenced here: nothing to check.
    var isEmpty: Bool { tokens.withLockedValue { $0.isEmpty } }

    /// The tokens of those of `resources` fenced here (a resource never claimed here has none and is not
    /// checked).
    func tokens(of resources: Set<String>) -> [String: Int64] {
        tokens.withLockedValue { tokens in
            var found: [String: Int64] = [:]
            for resource in resources { if let token = tokens[resource] { found[resource] = token } }
            return found
        }
    }
}

/// A commit refused because it appends to resources another instance fenced since this one did
/// (`StoreSessionOwnership.fenceWriter`): nothing of it was written. The group commit fails only the
/// batches appending to `resources` and commits the others again.
package struct StoreWriterFenced: Error, CustomStringConvertible {
    package let resources: Set<String>
    package var description: String {
        "written by another instance sharing the database since this one lost its writer claim"
    }
}
