/// HTTP/1.1 for the stateful fuzz suites of the protocols served on the HTTP port (SSE and long polling,
/// the Kafka REST proxy): requests in, the responses cut back out of what the server wrote (RFC 9112 §4,
/// §6, §7.1), with their bodies, so each suite can check what it was answered.
package enum StatefulFuzzHTTP {
    /// One response the server wrote.
    package struct Response {
        package var status: Int
        /// Header names lowercased.
        package var headers: [(String, String)]
        /// The body (chunks joined); what arrived of it when `complete` is false.
        package var body: [UInt8]
        /// Whether the whole body arrived (a chunked body up to its last chunk).
        package var complete: Bool

        package func header(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }
    }

    /// A request's bytes.
    package static func request(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: String? = nil
    ) -> [UInt8] {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: fuzz.test\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        return Array(text.utf8)
    }

    /// How many request heads `input` holds, counted generously (every request line that starts a line
    /// with a method, a space and a target): an upper bound on the responses the server may write.
    package static func requestLines(_ input: [UInt8]) -> Int {
        // Split as bytes: "\r\n" is one Character in a Swift String.
        let methods = ["GET ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "HEAD ", "PATCH "]
        var count = 0
        for line in input.split(whereSeparator: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
            let line = String(decoding: line, as: UTF8.self)
            if methods.contains(where: { line.contains($0) }) { count += 1 }
        }
        return count
    }

    /// NIO's answer to bytes its HTTP decoder refuses (`HTTPServerProtocolErrorHandler`): an empty 400 that
    /// closes the connection. It comes as soon as the bytes are read, so it may follow a response that
    /// already said `Connection: close` (pipelined input after the request being answered): it answers
    /// no request, and the connection closes after it.
    package static let protocolError = Array(
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".utf8)

    static func isProtocolError(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.elementsEqual(protocolError)
    }

    /// The responses in `bytes`, and what is wrong with how they are written: a status line or header
    /// that does not parse, a body not framed by its Content-Length or chunks, bytes after a response
    /// that announced its connection's close. Only the last response may be incomplete.
    package static func responses(_ bytes: [UInt8]) -> (responses: [Response], problems: [String]) {
        var responses: [Response] = []
        var problems: [String] = []
        var at = 0
        func line() -> String? {
            var end = at
            while end + 1 < bytes.count, !(bytes[end] == 13 && bytes[end + 1] == 10) { end += 1 }
            guard end + 1 < bytes.count else { return nil }
            let text = String(decoding: bytes[at..<end], as: UTF8.self)
            at = end + 2
            return text
        }
        while at < bytes.count {
            if let last = responses.last, !last.complete {
                problems.append("bytes after an incomplete response")
                break
            }
            if let last = responses.last, last.header("connection")?.lowercased() == "close",
                !isProtocolError(bytes[at...])
            {
                problems.append("a response after one that said Connection: close")
                break
            }
            guard let statusLine = line() else {
                problems.append("a status line without its end")
                break
            }
            let parts = statusLine.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, parts[0] == "HTTP/1.1", let status = Int(parts[1]), (100...599).contains(status)
            else {
                problems.append("not a status line: \(statusLine.prefix(80))")
                break
            }
            var response = Response(status: status, headers: [], body: [], complete: false)
            var headersEnded = false
            while let header = line() {
                if header.isEmpty {
                    headersEnded = true
                    break
                }
                guard let colon = header.firstIndex(of: ":") else {
                    problems.append("not a header: \(header.prefix(80))")
                    return (responses, problems)
                }
                response.headers.append(
                    (header[..<colon].lowercased(), String(header[header.index(after: colon)...]).trimmingSpaces()))
            }
            guard headersEnded else {
                responses.append(response)
                break
            }
            if status == 204 || status == 304 || status < 200 {
                response.complete = true
            } else if response.header("transfer-encoding")?.lowercased() == "chunked" {
                while true {
                    guard let sizeLine = line() else { break }
                    guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16), size >= 0 else {
                        problems.append("not a chunk size: \(sizeLine.prefix(40))")
                        return (responses + [response], problems)
                    }
                    if size == 0 {
                        if line() != nil { response.complete = true }
                        break
                    }
                    guard at + size + 2 <= bytes.count else {
                        at = bytes.count
                        break
                    }
                    response.body += bytes[at..<(at + size)]
                    guard bytes[at + size] == 13, bytes[at + size + 1] == 10 else {
                        problems.append("a chunk not followed by CRLF")
                        return (responses + [response], problems)
                    }
                    at += size + 2
                }
            } else if let length = response.header("content-length").flatMap({ Int($0) }) {
                let end = min(bytes.count, at + length)
                response.body = Array(bytes[at..<end])
                response.complete = end == at + length
                at = end
            } else {
                problems.append("a \(status) response with neither Content-Length nor chunks")
                response.body = Array(bytes[at...])
                at = bytes.count
            }
            responses.append(response)
        }
        return (responses, problems)
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return String(text)
    }
}
