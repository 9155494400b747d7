import Foundation

/// One keep-alive HTTP/1.1 connection over a blocking socket.
///
/// The client side of the HTTP scenarios (Kafka REST, records, sessions) runs one of these per thread,
/// so its cost per request is the tool's share of the machine: one receive area is kept and reused (a
/// fresh zeroed 256 KiB array per `recv` cost more than the request itself), the answer's head is read
/// as bytes, and consumed bytes are dropped by moving an index, not by shifting the buffer.
final class HTTPConnection: @unchecked Sendable {
    struct Response {
        var status: Int
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    private static let receiveSize = 256 * 1024

    private let fd: Int32
    private let host: String
    /// Received bytes not yet consumed are `buffer[start...]`.
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where `recv` writes: allocated once, never cleared (only the bytes received are read from it).
    private let receiveArea = UnsafeMutableRawBufferPointer.allocate(
        byteCount: HTTPConnection.receiveSize, alignment: 16)

    init(host: String, port: Int) throws {
        self.host = host
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError.setupFailed("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Foundation.close(fd)
            throw BenchError.setupFailed("connect to \(host):\(port) failed (errno \(errno))")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        buffer.reserveCapacity(Self.receiveSize)
    }

    deinit { receiveArea.deallocate() }

    func close() { Foundation.close(fd) }

    func request(
        _ method: String, _ path: String, contentType: String? = nil, accept: String? = nil,
        authorization: String? = nil, body: [UInt8] = []
    ) throws -> Response {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        if let authorization { head += "Authorization: \(authorization)\r\n" }
        head += "Accept: \(accept ?? "application/vnd.kafka.v2+json")\r\n"
        head += "Content-Length: \(body.count)\r\n\r\n"
        var message = Array(head.utf8)
        message.append(contentsOf: body)
        try write(message)
        return try readResponse()
    }

    private func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw BenchError.setupFailed("send failed (errno \(errno))") }
            offset += n
        }
    }

    /// Receives what the socket has (up to 256 KiB) into the kept receive area, then onto the buffer.
    private func fill() throws {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start >= Self.receiveSize {
            buffer.removeFirst(start)
            start = 0
        }
        let received = recv(fd, receiveArea.baseAddress, receiveArea.count, 0)
        guard received > 0 else {
            throw BenchError.setupFailed(
                received == 0 ? "connection closed by the server" : "recv failed (errno \(errno))")
        }
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: receiveArea[0..<received]))
    }

    /// The index just past the first `CR LF` (or `CR LF CR LF` when `blank`) at or after `from`.
    private func lineEnd(from: Int, blank: Bool) -> Int? {
        var index = from
        let width = blank ? 4 : 2
        while index + width <= buffer.count {
            if buffer[index] == 13, buffer[index + 1] == 10,
                !blank || (buffer[index + 2] == 13 && buffer[index + 3] == 10)
            {
                return index + width
            }
            index += 1
        }
        return nil
    }

    private func readResponse() throws -> Response {
        var headEnd: Int? = lineEnd(from: start, blank: true)
        while headEnd == nil {
            let searched = max(0, buffer.count - start - 3)  // relative: `fill` may move the bytes
            try fill()
            headEnd = lineEnd(from: start + searched, blank: true)
        }
        let head = HTTPResponseHead(buffer[start..<headEnd!])
        start = headEnd!
        if head.chunked {
            var body: [UInt8] = []
            while true {
                var sizeEnd = lineEnd(from: start, blank: false)
                while sizeEnd == nil {
                    try fill()
                    sizeEnd = lineEnd(from: start, blank: false)
                }
                let size = Int(String(decoding: buffer[start..<(sizeEnd! - 2)], as: UTF8.self), radix: 16) ?? 0
                start = sizeEnd!
                while buffer.count - start < size + 2 { try fill() }
                body += buffer[start..<(start + size)]
                start += size + 2
                if size == 0 { return Response(status: head.status, body: body) }
            }
        }
        let count = head.contentLength ?? 0
        while buffer.count - start < count { try fill() }
        let body = Array(buffer[start..<(start + count)])
        start += count
        return Response(status: head.status, body: body)
    }
}

/// The status and the framing headers of an HTTP/1.1 answer's head, read from its bytes.
struct HTTPResponseHead {
    var status = 0
    var contentLength: Int?
    var chunked = false

    init(_ bytes: ArraySlice<UInt8>) {
        var lines = bytes.split(separator: 10).map { $0.last == 13 ? $0.dropLast() : $0 }.makeIterator()
        if let statusLine = lines.next() {
            let fields = statusLine.split(separator: 32)
            if fields.count >= 2 { status = Self.decimal(fields[1]) ?? 0 }
        }
        while let line = lines.next() {
            guard let colon = line.firstIndex(of: 58) else { continue }
            var value = line[(colon + 1)...].drop { $0 == 32 || $0 == 9 }
            while value.last == 32 || value.last == 9 { value = value.dropLast() }
            if Self.name(line[..<colon], is: "content-length") {
                contentLength = Self.decimal(value)
            } else if Self.name(line[..<colon], is: "transfer-encoding") {
                chunked = String(decoding: value, as: UTF8.self).lowercased().contains("chunked")
            }
        }
    }

    private static func name(_ bytes: ArraySlice<UInt8>, is lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return zip(bytes, UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount))
            .allSatisfy { ($0 | 0x20) == $1 }
    }

    private static func decimal(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty else { return nil }
        var value = 0
        for byte in bytes {
            guard (48...57).contains(byte) else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }
}
