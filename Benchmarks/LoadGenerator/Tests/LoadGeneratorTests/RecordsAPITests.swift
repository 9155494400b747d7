import XCTest

@testable import switchboard_bench

/// The records scenarios' create body and the change event that carries it (docs/records.md).
final class RecordsAPITests: XCTestCase {
    func testCreateBodyPutsTheSendTimeFirst() {
        let body = RecordsAPI.createBody(
            sentAt: 1_234_567_890_123, title: "xx", visibility: (public: false, owner: "u0"))
        XCTAssertEqual(
            String(decoding: body, as: UTF8.self),
            #"{"sent":"ts:0000001234567890123:","title":"xx","public":false,"owner":"u0"}"#)
    }

    /// The server writes the system members before the record's own, so the stamp sits ~270 bytes in.
    func testTheSendTimeIsFoundInAChangeEvent() {
        let body = String(
            decoding: RecordsAPI.createBody(sentAt: 42, title: "x", visibility: (public: true, owner: "nobody")),
            as: UTF8.self)
        let event =
            #"{"type":"message","channel":"collections/bench_3f2a91c0/x3k9q0v7m2a1b4c","data":{"action":"create","#
            + #""record":{"collectionId":"bench_3f2a91c0","collectionName":"bench_3f2a91c0","id":"x3k9q0v7m2a1b4c","#
            + #""created":"2026-12-05 06:14:10.791Z","updated":"2026-12-05 06:14:10.791Z","version":1,"#
            + body.dropFirst() + #","changed_by":"api"}}"#
        XCTAssertGreaterThan(event.utf8.count, 256)
        XCTAssertEqual(Array(event.utf8).withUnsafeBytes { BenchPayload.timestamp(in: $0) }, 42)
    }

    func testFreshCollectionNamesAreTopicLevels() {
        let name = RecordsAPI.freshCollectionName(prefix: "be.nch/+")
        XCTAssertTrue(name.hasPrefix("bench_"))
        XCTAssertTrue(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" })
    }
}
