import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOHTTP1

/// The JSON of the records API, in PocketBase's shapes (docs/records.md).
enum RecordJSON {
    /// A record, with its version as the ETag (`If-Match` takes it back); only the keys `fields` picks,
    /// when the request has it.
    static func record(_ record: Record, fields: RecordFieldPicker? = nil) -> HTTPResponse {
        var response = HTTPResponse.json { write(&$0, record, fields: fields) }
        response.headers.add(name: "ETag", value: "\"\(record.version)\"")
        return response
    }

    /// The record's JSON, or the keys of it `fields` picks.
    static func write(_ buffer: inout ByteBuffer, _ record: Record, fields: RecordFieldPicker?) {
        guard let fields,
            let value = try? Array(record.json.utf8).withUnsafeBytes({ try JSONParser.parse($0) })
        else {
            buffer.writeString(record.json)
            return
        }
        buffer.writeJSONValue(fields.pick(value))
    }

    /// `{"page","perPage","totalItems","totalPages","items":[…]}`; each item only the keys `fields` picks.
    static func page(_ buffer: inout ByteBuffer, _ page: RecordPage, fields: RecordFieldPicker? = nil) {
        buffer.writeStaticString("{\"page\":")
        buffer.writeDecimal(page.page)
        buffer.writeStaticString(",\"perPage\":")
        buffer.writeDecimal(page.perPage)
        buffer.writeStaticString(",\"totalItems\":")
        buffer.writeDecimal(page.totalItems)
        buffer.writeStaticString(",\"totalPages\":")
        buffer.writeDecimal(page.totalPages)
        buffer.writeStaticString(",\"items\":[")
        for (index, record) in page.items.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            write(&buffer, record, fields: fields)
        }
        buffer.writeStaticString("]}")
    }

    /// `{"id","name","type":"base","records":N,"schema",…rules}` (the id is the name: collections have no
    /// other identity here).
    static func collection(_ buffer: inout ByteBuffer, _ definition: RecordCollectionDefinition, records: Int) {
        buffer.writeStaticString("{\"id\":")
        buffer.writeJSONString(definition.name)
        buffer.writeStaticString(",\"type\":\"base\",\"records\":")
        buffer.writeDecimal(records)
        buffer.writeInteger(UInt8(ascii: ","))
        var own = ByteBuffer()
        definition.encode(into: &own)
        own.moveReaderIndex(forwardBy: 1)  // its "{": the members continue this object
        buffer.writeBuffer(&own)
    }

    /// PocketBase's error: `{"status":N,"message":"…","data":{…}}`.
    static func error(_ error: RecordError) -> HTTPResponse {
        let (status, message, data): (HTTPResponseStatus, String, (field: String, code: String, message: String)?) =
            switch error {
            case .badRequest(let message):
                (.badRequest, message.isEmpty ? "Something went wrong while processing your request." : message, nil)
            case .invalidField(let field, let message):
                (
                    .badRequest, "Failed to process the request: invalid \(field).",
                    (
                        field, message == "Missing required value." ? "validation_required" : "validation_invalid",
                        message
                    )
                )
            case .exists(let message):
                (
                    .badRequest, "Failed to create the collection.",
                    ("name", "validation_collection_name_exists", message)
                )
            case .unauthorized: (.unauthorized, "Missing or invalid authentication.", nil)
            case .onlyAdmins: (.forbidden, "Only superusers can perform this action.", nil)
            case .collectionNotFound: (.notFound, "Missing collection context.", nil)
            case .recordNotFound: (.notFound, "The requested resource wasn't found.", nil)
            case .versionConflict(let current):
                (
                    .preconditionFailed,
                    current == 0
                        ? "If-Match names no version of this record."
                        : "The record has changed: it is at version \(current).", nil
                )
            case .unavailable(let reason): (.serviceUnavailable, "The change could not be stored: \(reason).", nil)
            }
        return .json(status) { buffer in
            buffer.writeStaticString("{\"status\":")
            buffer.writeDecimal(status.code)
            buffer.writeStaticString(",\"message\":")
            buffer.writeJSONString(message)
            buffer.writeStaticString(",\"data\":{")
            if let data {
                buffer.writeJSONString(data.field)
                buffer.writeStaticString(":{\"code\":")
                buffer.writeJSONString(data.code)
                buffer.writeStaticString(",\"message\":")
                buffer.writeJSONString(data.message)
                buffer.writeInteger(UInt8(ascii: "}"))
            }
            buffer.writeStaticString("}}")
        }
    }
}
