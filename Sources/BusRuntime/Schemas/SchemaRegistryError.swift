package import SchemaKit

/// Why a registry operation was refused, with Confluent's `error_code` (its `Errors` class) and the HTTP
/// status that goes with it: 404 for 404xx, 422 for 422xx, 409, 500 for 500xx.
package struct SchemaRegistryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Confluent's `error_code`.
    package var code: Int
    /// The `message` of the error body.
    package var message: String

    package init(code: Int, message: String) {
        self.code = code
        self.message = message
    }

    /// The HTTP status of the answer.
    package var httpStatus: Int {
        switch code {
        case 409: 409
        case 40_000..<50_000: code / 100
        case 50_000..<60_000: 500
        default: code < 600 ? code : 500
        }
    }

    package var description: String { "\(code): \(message)" }

    /// A SchemaKit refusal as the registry's endpoints answer it (SchemaKit's `registryErrorCode`).
    package init(_ error: SchemaError) {
        self.init(code: error.registryErrorCode, message: error.message)
    }

    package static func subjectNotFound(_ subject: String) -> Self {
        Self(code: 40401, message: "Subject '\(subject)' not found.")
    }
    package static func versionNotFound(_ version: Int?) -> Self {
        Self(code: 40402, message: version.map { "Version \($0) not found." } ?? "Version not found.")
    }
    package static func schemaNotFound(_ id: Int? = nil) -> Self {
        Self(code: 40403, message: id.map { "Schema \($0) not found" } ?? "Schema not found")
    }
    package static func subjectSoftDeleted(_ subject: String) -> Self {
        Self(
            code: 40404,
            message: "Subject '\(subject)' was soft deleted.Set permanent=true to delete permanently")
    }
    package static func subjectNotSoftDeleted(_ subject: String) -> Self {
        Self(
            code: 40405,
            message: "Subject '\(subject)' was not deleted first before being permanently deleted")
    }
    package static func versionSoftDeleted(_ subject: String, _ version: Int) -> Self {
        Self(
            code: 40406,
            message:
                "Subject '\(subject)' Version \(version) was soft deleted.Set permanent=true to delete permanently")
    }
    package static func versionNotSoftDeleted(_ subject: String, _ version: Int) -> Self {
        Self(
            code: 40407,
            message: "Subject '\(subject)' Version \(version) was not deleted first before being permanently deleted")
    }
    package static func subjectCompatibilityNotConfigured(_ subject: String) -> Self {
        Self(code: 40408, message: "Subject '\(subject)' does not have subject-level compatibility configured")
    }
    /// 42202, for a version that is neither a number in [1, 2^31-1] nor `latest` (or -1).
    package static func invalidVersion(_ text: String) -> Self {
        Self(
            code: 42202,
            message:
                "The specified version '\(text)' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
        )
    }
    /// 42205: an operation this registry does not allow (Confluent's `OperationNotPermittedException`).
    package static func operationNotPermitted(_ message: String) -> Self { Self(code: 42205, message: message) }
    package static func referenceExists(_ subject: String, _ versions: [Int]) -> Self {
        Self(
            code: 42206,
            message:
                "One or more references exist to the schema {subject=\(subject), versions=\(versions.map(String.init).joined(separator: ","))}"
        )
    }
    /// 50001: the store did not take the change.
    package static func store(_ reason: String) -> Self {
        Self(code: 50001, message: "Error while storing the schema: \(reason)")
    }
}
