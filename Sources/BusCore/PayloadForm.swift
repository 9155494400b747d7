package import NIOCore

/// The payload rule every text protocol shares (docs/topics.md). A declared content type decides:
/// JSON types travel as JSON (`"data"`) when the bytes are JSON, `text/*` as a string (`"text"`) when
/// they are UTF-8, `application/octet-stream` as base64 (`"binary"`). Without a declared type (MQTT 3.1.1,
/// NATS without headers) the bytes decide: one complete JSON value → `"data"`, else UTF-8 → `"text"`,
/// else `"binary"`. A declaration the bytes contradict falls back to the bytes.
package enum PayloadForm: Sendable, Hashable {
    case json
    case text
    case binary

    package static func classify(_ payload: ByteBuffer, contentType: String?) -> PayloadForm {
        let isUTF8 = { payload.withUnsafeReadableBytes(UTF8Validation.isValid) }
        if let type = contentType?.lowercased() {
            if type.hasPrefix("text/") && isUTF8() { return .text }
            if type.hasPrefix("application/octet-stream") { return .binary }
        }
        if payload.withUnsafeReadableBytes({ JSONParser.isValidJSON($0) }) { return .json }
        return isUTF8() ? .text : .binary
    }
}
