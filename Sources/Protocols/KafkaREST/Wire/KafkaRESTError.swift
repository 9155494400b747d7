import BusCore
package import NIOCore

/// An error as the Confluent REST Proxy answers it: an HTTP status and the body
/// `{"error_code":N,"message":"…"}`. The five-digit codes are kafka-rest's `Errors` (status × 100 + n);
/// errors raised by the HTTP layer itself (bad JSON, an unknown route, content negotiation) carry the
/// bare status as their code, as rest-utils' exception mappers do. The one error type of the module.
package struct KafkaRESTError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The HTTP status.
    package var status: Int
    /// The body's `error_code`.
    package var errorCode: Int
    /// The body's `message`.
    package var message: String

    package init(status: Int, errorCode: Int, message: String) {
        self.status = status
        self.errorCode = errorCode
        self.message = message
    }

    package var description: String { "\(errorCode): \(message)" }

    /// The JSON body.
    package func write(to buffer: inout ByteBuffer) {
        buffer.writeStaticString("{\"error_code\":")
        buffer.writeDecimal(errorCode)
        buffer.writeStaticString(",\"message\":")
        buffer.writeJSONString(message)
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    // MARK: - kafka-rest's Errors

    /// 40401: no stream of that name (and not auto-created).
    package static let topicNotFound = KafkaRESTError(status: 404, errorCode: 40401, message: "Topic not found.")
    /// 40402: the topic has no such partition.
    package static let partitionNotFound = KafkaRESTError(
        status: 404, errorCode: 40402, message: "Partition not found.")
    /// 40403: no such consumer instance in the group (never created, deleted or expired).
    package static let consumerInstanceNotFound = KafkaRESTError(
        status: 404, errorCode: 40403, message: "Consumer instance not found.")
    /// 40601: the `Accept` of `GET records` names another embedded format than the instance's.
    package static let consumerFormatMismatch = KafkaRESTError(
        status: 406, errorCode: 40601,
        message: "The requested embedded data format does not match the deserializer for this consumer instance")
    /// 40901: kafka-rest's "already subscribed" (kept for completeness; a new subscription replaces the old
    /// one, as `KafkaConsumer.subscribe` does).
    package static let consumerAlreadySubscribed = KafkaRESTError(
        status: 409, errorCode: 40901,
        message: "Consumer cannot subscribe the the specified target because it has already subscribed to other topics."
    )
    /// 40902: `POST /consumers/{g}` names an instance the group already has.
    package static let consumerAlreadyExists = KafkaRESTError(
        status: 409, errorCode: 40902,
        message: "Consumer with specified consumer ID already exists in the specified consumer group.")
    /// 40903: what `KafkaConsumer` refuses with `IllegalStateException` (subscription and manual assignment
    /// mixed, a position for a partition not assigned).
    package static func illegalState(_ reason: String) -> KafkaRESTError {
        KafkaRESTError(status: 409, errorCode: 40903, message: "Illegal state: " + reason)
    }
    /// 42201: records with keys but no key schema (schema formats).
    package static let keySchemaMissing = KafkaRESTError(
        status: 422, errorCode: 42201, message: "Request includes keys but does not include key schema")
    /// 42202: records with values but no value schema (schema formats).
    package static let valueSchemaMissing = KafkaRESTError(
        status: 422, errorCode: 42202, message: "Request includes values but does not include value schema")
    /// 42203: a record's JSON does not fit its schema.
    package static func conversionFailed(_ reason: String) -> KafkaRESTError {
        KafkaRESTError(status: 422, errorCode: 42203, message: "Conversion of JSON to Object failed: " + reason)
    }
    /// 42204: a consumer setting out of range or of the wrong type.
    package static func invalidConsumerConfig(_ reason: String) -> KafkaRESTError {
        KafkaRESTError(status: 422, errorCode: 42204, message: "Invalid consumer configuration: " + reason)
    }
    /// 42205: an embedded `key_schema`/`value_schema` that does not parse.
    package static func invalidSchema(_ reason: String) -> KafkaRESTError {
        KafkaRESTError(status: 422, errorCode: 42205, message: "Invalid schema: " + reason)
    }
    /// 42206: a produce in a schema format with no schema registry to use (kafka-rest's
    /// `SchemaManagerThrowing`, its schema manager when `schema.registry.url` is not set).
    package static let schemaRegistryMissing = KafkaRESTError(
        status: 422, errorCode: 42206, message: "Payload error. Schema Registry must be configured when using schemas.")
    /// 42207: the schema registry refused or did not have what a produce needed (an unknown
    /// `value_schema_id`, an id the topic's subject does not hold, an embedded schema it would not
    /// register): kafka-rest's `SchemaManagerImpl` answers every registry failure so, `reason` naming the
    /// call and the registry's own answer.
    package static func serializationFailed(_ reason: String) -> KafkaRESTError {
        KafkaRESTError(status: 422, errorCode: 42207, message: "Error serializing message. " + reason)
    }
    /// 50002: kafka-rest's catch-all for a failure of the log underneath (here: the store, or the schema
    /// registry when none is configured or it cannot answer).
    package static func kafkaError(_ reason: String) -> KafkaRESTError {
        KafkaRESTError(status: 500, errorCode: 50002, message: "Kafka error: " + reason)
    }

    // MARK: - The HTTP layer (rest-utils' mappers: the status is the code)

    /// Malformed JSON (Jackson's parse error).
    package static func badJSON(_ reason: String) -> KafkaRESTError {
        KafkaRESTError(status: 400, errorCode: 400, message: reason)
    }
    /// JSON of the wrong shape (Jackson's mapping error; a missing required member).
    package static func unprocessable(_ reason: String) -> KafkaRESTError {
        KafkaRESTError(status: 422, errorCode: 422, message: reason)
    }
    /// No route.
    package static let notFound = KafkaRESTError(status: 404, errorCode: 404, message: "HTTP 404 Not Found")
    /// A route that exists with another method.
    package static let methodNotAllowed = KafkaRESTError(
        status: 405, errorCode: 405, message: "HTTP 405 Method Not Allowed")
    /// No acceptable response type in `Accept`.
    package static let notAcceptable = KafkaRESTError(status: 406, errorCode: 406, message: "HTTP 406 Not Acceptable")
    /// A `Content-Type` the resource does not consume.
    package static let unsupportedMediaType = KafkaRESTError(
        status: 415, errorCode: 415, message: "HTTP 415 Unsupported Media Type")
    /// No or bad credentials (the proxy's basic-auth realm answers 401).
    package static func unauthorized(_ reason: String) -> KafkaRESTError {
        KafkaRESTError(status: 401, errorCode: 40101, message: reason)
    }
    /// The identity may not read or write the topic.
    package static func forbidden(_ reason: String) -> KafkaRESTError {
        KafkaRESTError(status: 403, errorCode: 40301, message: reason)
    }
    /// The body is larger than the listener takes.
    package static let tooLarge = KafkaRESTError(status: 413, errorCode: 413, message: "HTTP 413 Payload Too Large")
}
