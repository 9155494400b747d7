import BusCore
package import BusRuntime
import SchemaKit

extension PayloadSchemas {
    /// A reading every payload-schema test shares: `{"id": non-empty string, "temp": -50…100}`, nothing else.
    package static let readingSchema = #"""
        {"type": "object", "required": ["id", "temp"], "additionalProperties": false,
         "properties": {"id": {"type": "string", "minLength": 1}, "temp": {"type": "number", "minimum": -50, "maximum": 100}}}
        """#

    /// Rules from (filter, schema text) pairs; traps on a bad one (tests write them).
    package static func testing(_ rules: [(filter: String, schema: String)]) -> PayloadSchemas {
        PayloadSchemas(
            rules: rules.map { rule in
                PayloadSchemas.Rule(
                    filter: try! TopicFilter(rule.filter), schema: try! JSONSchema(parsing: rule.schema))
            })
    }
}

extension BusConfiguration {
    /// The default configuration with `sensors/#` governed by `PayloadSchemas.readingSchema`.
    package static var sensorsSchema: BusConfiguration {
        var configuration = BusConfiguration()
        configuration.payloadSchemas = .testing([("sensors/#", PayloadSchemas.readingSchema)])
        return configuration
    }
}
