import BusCore
import Foundation
import NIOCore
import Testing

@Suite struct JSONTests {
    func parse(_ text: String) throws -> JSONValue {
        try Array(text.utf8).withUnsafeBytes { try JSONParser.parse($0) }
    }
    func valid(_ text: String) -> Bool { Array(text.utf8).withUnsafeBytes { JSONParser.isValidJSON($0) } }

    @Test func parsesValues() throws {
        #expect(
            try parse(" {\"a\":[1,-2.5e3,true,false,null],\"b\":\"x\\n\\u00e9\\ud83d\\ude00\"} ")
                == .object([
                    JSONField(
                        key: "a", value: .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null])),
                    JSONField(key: "b", value: .string("x\né😀")),
                ]))
    }

    @Test func rejectsMalformed() {
        for text in [
            "", "{", "[1,]", "{\"a\"}", "01", "1.", "\"\\x\"", "\"a", "tru", "{} x", "\"\u{1}\"", "\"\\ud800\"", "-",
        ] {
            #expect(!valid(text), "\(text)")
        }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(!valid(deep))
        #expect(valid("[[1]]"))
    }

    @Test func documentRecordsRanges() throws {
        let text = #"{"id":7,"type":"publish","data":{"x": [1, 2]}}"#
        let bytes = Array(text.utf8)
        let document = try bytes.withUnsafeBytes { try JSONParser.parseDocument($0) }
        let range = try #require(document.members["data"]?.range)
        #expect(String(decoding: bytes[range], as: UTF8.self) == #"{"x": [1, 2]}"#)
        #expect(document["type"]?.stringValue == "publish")
        #expect(document["id"]?.intValue == 7)
    }

    @Test func writerEscapesAndRoundTrips() throws {
        var buffer = ByteBuffer()
        buffer.writeJSONString("q\"\\\n\u{1}é")
        #expect(String(buffer: buffer) == #""q\"\\\n\u0001é""#)
        let value = try parse(#"{"k":["s",1.5,null,{"n":false}]}"#)
        var out = ByteBuffer()
        out.writeJSONValue(value)
        #expect(try parse(String(buffer: out)) == value)
    }

    @Test func payloadRuleAndBase64() {
        #expect(PayloadForm.classify(ByteBuffer(string: #"{"a":1}"#), contentType: nil) == .json)
        #expect(PayloadForm.classify(ByteBuffer(string: "hello"), contentType: nil) == .text)
        #expect(PayloadForm.classify(ByteBuffer(bytes: [0xff, 0x00]), contentType: nil) == .binary)
        // A declared type wins over sniffing; a contradicted declaration falls back to the bytes.
        #expect(PayloadForm.classify(ByteBuffer(string: "42"), contentType: "text/plain; charset=utf-8") == .text)
        #expect(PayloadForm.classify(ByteBuffer(string: "{}"), contentType: "application/octet-stream") == .binary)
        #expect(PayloadForm.classify(ByteBuffer(bytes: [0xff]), contentType: "text/plain") == .binary)
        #expect(PayloadForm.classify(ByteBuffer(string: "{}"), contentType: "application/json") == .json)
        var out = ByteBuffer()
        out.writeBase64JSONString(ByteBuffer(string: "hello!?"))
        #expect(String(buffer: out) == #""aGVsbG8hPw==""#)
        #expect(Base64.decode("aGVsbG8hPw==") == Array("hello!?".utf8))
        #expect(Base64.decode("a$") == nil)
        for length in 0..<8 {
            let bytes = (0..<length).map { UInt8($0 * 37 & 0xFF) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("hello!?".utf8)) == "aGVsbG8hPw==")
    }

    /// The one-write encoder against Foundation's, as a string and appended after bytes already in a buffer.
    @Test func base64EncodesAsFoundationDoes() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Data(bytes).base64EncodedString()
            #expect(Base64.encode(bytes) == expected)
            #expect(Base64.encode(bytes[...]) == expected)
            var buffer = ByteBuffer(string: "[")
            bytes.withUnsafeBytes { Base64.encode($0, into: &buffer) }
            #expect(String(buffer: buffer) == "[" + expected)
        }
    }

    @Test func decimalsAreWrittenWithoutStrings() {
        for value in [0, 7, -7, 10, 99, 100, -100, 1_234_567_890, Int.max, Int.min] {
            var buffer = ByteBuffer(string: ":")
            buffer.writeDecimal(value)
            #expect(String(buffer: buffer) == ":" + String(value))
        }
        var buffer = ByteBuffer()
        buffer.writeDecimal(UInt64.max)
        buffer.writeDecimal(UInt8(255))
        #expect(String(buffer: buffer) == String(UInt64.max) + "255")
    }

    /// The table decoder against Foundation's on random bytes, with and without padding, in both
    /// alphabets, and its refusals: a bad byte inside a quad or in the tail, `=` before the end, three `=`.
    @Test func base64DecodesAsFoundationDoesAndRefusesWhatIsNotBase64() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = Base64.encode(bytes)
            #expect(Data(base64Encoded: text).map(Array.init) == bytes)
            #expect(Base64.decode(text) == bytes)
            var unpadded = text
            while unpadded.hasSuffix("=") { unpadded.removeLast() }
            #expect(Base64.decode(unpadded) == bytes)
            let urlSafe = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            #expect(Base64.decode(urlSafe) == bytes)
        }
        for bad in ["aGVs$G8h", "aGVsbG8h$w==", "aGVsbG8hP$==", "aG=sbG8h", "aGVsbG8hPw=x", "aGVsbG8===", "aGVs bG8h"] {
            #expect(Base64.decode(bad) == nil, "\(bad)")
        }
        #expect(Base64.decode("") == [])
    }
}
