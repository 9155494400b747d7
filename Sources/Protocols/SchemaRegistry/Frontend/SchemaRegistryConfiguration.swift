package import FrontendKit

/// Settings of the Schema Registry's HTTP listener (config section `schema_registry`; every key is listed by
/// `serve --help` and docs/operations.md from `settings` below).
package struct SchemaRegistryConfiguration: FrontendSettings {
    /// Roles whose holders may change the registry (register, delete, set compatibility) when security is
    /// configured; admins always may. Reads are open to every authenticated client (and to anonymous ones
    /// when anonymous access is on). Without any security configured everyone may write, as everyone may use
    /// the HTTP API then.
    package var writeRoles: [String]? = [Self.defaultWriteRole]
    /// Largest request body (a schema with its references): Confluent's default `max.request.size` is not
    /// set, but a schema past a megabyte is a mistake rather than a schema.
    package var maxBodyBytes = 1 << 20

    /// The role that grants writes unless `write_roles` says otherwise.
    package static let defaultWriteRole = "schema_registry_writer"

    package var effectiveWriteRoles: Set<String> { Set(writeRoles ?? []) }

    package init() {}

    package static let settings: [FrontendSetting<SchemaRegistryConfiguration>] = [
        .strings(
            "write_roles", \.writeRoles,
            help:
                "Roles that may register, delete and set compatibility when security is on (admins always may)."
        ),
        .integer(
            "max_body_bytes", \.maxBodyBytes, minimum: 1024,
            help: "Largest request body (a schema with its references); larger ones get 413."),
    ]
}
