public import NIOCore

/// The payload rule every text protocol shares (docs/topics.md): a payload that is one complete JSON
/// value travels as JSON (`"data"`); otherwise valid UTF-8 travels as a string (`"text"`); anything else
/// as base64 (`"binary"`).
public enum PayloadForm: Sendable, Hashable {
    case json
    case text
    case binary

    public static func classify(_ payload: ByteBuffer, contentType: String?) -> PayloadForm {
        let isJSON = payload.withUnsafeReadableBytes { JSONParser.isValidJSON($0) }
        if isJSON { return .json }
        let isUTF8 = payload.withUnsafeReadableBytes { String(validating: $0, as: UTF8.self) != nil }
        return isUTF8 ? .text : .binary
    }
}
