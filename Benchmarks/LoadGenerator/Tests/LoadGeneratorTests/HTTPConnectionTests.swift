import Foundation
import XCTest

@testable import switchboard_bench

/// The HTTP scenarios' blocking client (Kafka REST, records, sessions): heads read as bytes, bodies by
/// length or in chunks, answers that arrive split across reads and answers that share one read.
final class HTTPConnectionTests: XCTestCase {
    func testTheHeadGivesStatusLengthAndChunking() {
        let head = HTTPResponseHead(
            Array("HTTP/1.1 201 Created\r\nCONTENT-length:  42 \r\nX-Other: 7\r\n\r\n".utf8)[...])
        XCTAssertEqual(head.status, 201)
        XCTAssertEqual(head.contentLength, 42)
        XCTAssertFalse(head.chunked)
        let chunked = HTTPResponseHead(Array("HTTP/1.1 200\r\nTransfer-Encoding: Chunked\r\n\r\n".utf8)[...])
        XCTAssertEqual(chunked.status, 200)
        XCTAssertNil(chunked.contentLength)
        XCTAssertTrue(chunked.chunked)
    }

    func testAnswersSplitAcrossReadsAndSharingOneRead() throws {
        let (listener, port) = try Self.listen()
        defer { close(listener) }
        let first = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        let second = "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        let third = "HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + String(repeating: "z", count: 300_000)
        let server = Thread {
            let peer = accept(listener, nil, nil)
            defer { close(peer) }
            var request = [UInt8](repeating: 0, count: 4096)
            _ = recv(peer, &request, request.count, 0)
            // The first answer in three writes, cut inside the head and inside the body.
            for piece in [Array(first.utf8)[0..<10], Array(first.utf8)[10..<40], Array(first.utf8)[40...]] {
                _ = piece.withUnsafeBytes { send(peer, $0.baseAddress, $0.count, 0) }
                usleep(20_000)
            }
            _ = recv(peer, &request, request.count, 0)
            // The second and third answers in one write.
            let both = Array((second + third).utf8)
            var offset = 0
            while offset < both.count {
                let n = both[offset...].withUnsafeBytes { send(peer, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                offset += n
            }
            _ = recv(peer, &request, request.count, 0)
            // The fourth answer after everything before it was consumed, its head in two writes.
            for piece in ["HTTP/1.1 204 No", " Content\r\nContent-Length: 0\r\n\r\n"] {
                _ = Array(piece.utf8).withUnsafeBytes { send(peer, $0.baseAddress, $0.count, 0) }
                usleep(20_000)
            }
            _ = recv(peer, &request, request.count, 0)
        }
        server.start()
        let connection = try HTTPConnection(host: "127.0.0.1", port: port)
        defer { connection.close() }
        let one = try connection.request("GET", "/a")
        XCTAssertEqual(one.status, 200)
        XCTAssertEqual(one.text, "hello")
        let two = try connection.request("GET", "/b")
        XCTAssertEqual(two.status, 404)
        XCTAssertEqual(two.text, "abcde")
        let three = try connection.request("GET", "/c")
        XCTAssertEqual(three.status, 200)
        XCTAssertEqual(three.body.count, 300_000)
        XCTAssertTrue(three.body.allSatisfy { $0 == UInt8(ascii: "z") })
        let four = try connection.request("GET", "/d")
        XCTAssertEqual(four.status, 204)
        XCTAssertEqual(four.body, [])
    }

    /// A listening socket on a free loopback port.
    private static func listen() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && Glibc.listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw BenchError.setupFailed("listen failed (errno \(errno))") }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
