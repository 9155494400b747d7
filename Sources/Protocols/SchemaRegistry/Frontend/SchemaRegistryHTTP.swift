package import BusCore
package import BusRuntime
package import FrontendKit
package import NIOCore
package import NIOHTTP1
import SchemaKit

/// The registry's HTTP shapes: Confluent's content type, its error body `{"error_code","message"}`, its
/// request bodies and path values.
package enum SchemaRegistryHTTP {
    /// What every answer is sent as (Confluent's `application/vnd.schemaregistry.v1+json`).
    package static let contentType = "application/vnd.schemaregistry.v1+json"
    /// Request bodies Confluent's resources consume; a request without `Content-Type` is read as JSON.
    package static let acceptedContentTypes: Set<String> = [
        "application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json", "application/json",
        "application/octet-stream",
    ]

    /// A JSON answer.
    package static func json(_ value: JSONValue, status: HTTPResponseStatus = .ok) -> HTTPResponse {
        var body = ByteBuffer()
        body.writeJSONValue(value)
        return text(body, status: status)
    }

    /// A body as is (`…/schema` answers the schema text itself).
    package static func text(_ body: ByteBuffer, status: HTTPResponseStatus = .ok) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    /// `{"error_code": …, "message": …}` with the status that goes with the code.
    package static func error(_ error: SchemaRegistryError) -> HTTPResponse {
        json(
            .object([
                JSONField(key: "error_code", value: .number(String(error.code))),
                JSONField(key: "message", value: .string(error.message)),
            ]), status: HTTPResponseStatus(statusCode: error.httpStatus))
    }

    static func number(_ value: Int) -> JSONValue { .number(String(value)) }

    /// A schema as `GET /subjects/{s}/versions/{v}` and `POST /subjects/{s}` show it: `schemaType` and
    /// `references` only when not AVRO / not empty, as Confluent writes them.
    static func schemaObject(_ schema: RegisteredSchema) -> JSONValue {
        var fields = [
            JSONField(key: "subject", value: .string(schema.subject)),
            JSONField(key: "version", value: number(schema.version)),
            JSONField(key: "id", value: number(schema.id)),
        ]
        fields += typeAndReferences(schema.type, schema.references)
        fields.append(JSONField(key: "schema", value: .string(schema.text)))
        return .object(fields)
    }

    static func typeAndReferences(_ type: SchemaType, _ references: [SchemaReference]) -> [JSONField] {
        var fields: [JSONField] = []
        if type != .avro { fields.append(JSONField(key: "schemaType", value: .string(type.rawValue))) }
        if !references.isEmpty {
            fields.append(
                JSONField(
                    key: "references",
                    value: .array(
                        references.map {
                            .object([
                                JSONField(key: "name", value: .string($0.name)),
                                JSONField(key: "subject", value: .string($0.subject)),
                                JSONField(key: "version", value: number($0.version)),
                            ])
                        })))
        }
        return fields
    }

    // MARK: - Requests

    /// The request body as JSON: 415 for a content type Confluent does not consume, 400 when it is not JSON.
    static func body(_ request: HTTPRequest) throws(SchemaRegistryError) -> JSONValue {
        if let type = request.head.headers.first(name: "Content-Type")?.split(separator: ";").first {
            let bare = type.filter { $0 != " " && $0 != "\t" }.lowercased()
            guard acceptedContentTypes.contains(bare) else {
                throw SchemaRegistryError(code: 415, message: "HTTP 415 Unsupported Media Type")
            }
        }
        do {
            return try request.body.withUnsafeReadableBytes { bytes throws(JSONError) in try JSONParser.parse(bytes) }
        } catch {
            throw SchemaRegistryError(code: 400, message: "Unexpected character: \(error)")
        }
    }

    /// A schema in a request body (register, look up, check): `schema`, `schemaType` (absent: AVRO),
    /// `references`. 42201 when `schema` is missing or not a string, or the type is unknown.
    static func schemaRequest(_ body: JSONValue) throws(SchemaRegistryError) -> (
        type: SchemaType, text: String, references: [SchemaReference]
    ) {
        guard case .object = body else { throw SchemaRegistryError(code: 422, message: "Unrecognized request body") }
        guard let text = body["schema"]?.stringValue, !text.isEmpty else {
            throw SchemaRegistryError(code: 42201, message: "Invalid schema: Empty schema")
        }
        let type: SchemaType
        do throws(SchemaError) {
            let member = body["schemaType"].flatMap { $0 == .null ? nil : $0 }
            if let member, member.stringValue == nil {
                throw SchemaError(.invalidSchema, "schemaType must be a string")
            }
            type = try SchemaType(schemaTypeMember: member?.stringValue)
        } catch {
            throw SchemaRegistryError(code: 42201, message: "Invalid schema: \(error.message)")
        }
        var references: [SchemaReference] = []
        if let list = body["references"], list != .null {
            guard let items = list.arrayValue else {
                throw SchemaRegistryError(code: 422, message: "references must be an array")
            }
            for item in items {
                guard let name = item["name"]?.stringValue, let subject = item["subject"]?.stringValue,
                    let version = item["version"]?.intValue
                else {
                    throw SchemaRegistryError(
                        code: 42201, message: "Invalid schema: a reference needs name, subject and version")
                }
                references.append(SchemaReference(name: name, subject: subject, version: version))
            }
        }
        return (type, text, references)
    }

    /// A version in a path: a number in [1, 2^31-1], or `latest` / -1 (nil here). 42202 otherwise.
    static func version(_ text: String?) throws(SchemaRegistryError) -> Int? {
        let text = text ?? ""
        if text == "latest" || text == "-1" { return nil }
        guard let number = Int(text), (1...Int(Int32.max)).contains(number) else { throw .invalidVersion(text) }
        return number
    }

    /// A boolean query parameter (`?deleted=true`).
    static func flag(_ request: HTTPRequest, _ name: String) -> Bool {
        request.query(name)?.lowercased() == "true"
    }
}
