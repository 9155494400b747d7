import BusCore
import BusRuntime
import Foundation
import FrontendKit
import NIOCore
import NIOHTTP1

/// PocketBase's batch API (`POST /api/batch`, docs/records.md "Batch"): record creates, updates, upserts and
/// deletes of any collections, decided in order and stored in one commit — all or none.
extension APIRoutes {
    /// `{"requests":[{"method":"POST","url":"/api/collections/tasks/records","body":{…}},…]}` →
    /// `[{"body":{…},"status":200},…]`, or PocketBase's `Batch transaction failed.` naming the request.
    func batchRecords(_ request: HTTPRequest, _ caller: RecordCaller, _ loop: any EventLoop) throws -> RecordAnswer {
        let document: JSONValue
        do {
            document = try request.body.withUnsafeReadableBytes { try JSONParser.parse($0) }
        } catch {
            throw RecordError.badRequest("Failed to read the submitted batch data.")
        }
        guard case .array(let items)? = document["requests"] else {
            throw RecordError.badRequest("Invalid batch request data: \"requests\" must be an array.")
        }
        var changes: [RecordCollections.BatchChange] = []
        var fields: [RecordFieldPicker?] = []
        for (index, item) in items.enumerated() {
            do {
                let (change, picker) = try Self.batchChange(item)
                changes.append(change)
                fields.append(picker)
            } catch let error as RecordError {
                return .now(RecordJSON.batchFailure(index: index, error))
            }
        }
        let promise = loop.makePromise(of: HTTPResponse.self)
        let (batch, picked) = (changes, fields)
        records.batch(batch, caller: caller, now: bus.clock()) { result in
            switch result {
            case .success(let stored):
                promise.succeed(.json { RecordJSON.batchResults(&$0, batch, stored, fields: picked) })
            case .failure(let refusal):
                promise.succeed(
                    refusal.index.map { RecordJSON.batchFailure(index: $0, refusal.error) }
                        ?? RecordJSON.error(refusal.error))
            }
        }
        return .later(promise.futureResult)
    }

    /// One request of a batch as a change, with the `fields` of its URL's query.
    private static func batchChange(_ item: JSONValue) throws -> (RecordCollections.BatchChange, RecordFieldPicker?) {
        guard let method = item["method"]?.stringValue?.uppercased(), let url = item["url"]?.stringValue else {
            throw RecordError.badRequest("Each batch request needs a \"method\" and a \"url\".")
        }
        let body: JSONValue
        switch item["body"] {
        case nil, .null?: body = .object([])
        case .object(let members)?: body = .object(members)
        default: throw RecordError.badRequest("Failed to read the submitted data.")
        }
        let parts = url.split(separator: "?", maxSplits: 1)
        var picker: RecordFieldPicker?
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let keyValue = pair.split(separator: "=", maxSplits: 1)
                guard keyValue.count == 2, keyValue[0] == "fields" else { continue }
                let text = String(keyValue[1]).replacing("+", with: " ")
                picker = try RecordFieldPicker(text.removingPercentEncoding ?? text)
            }
        }
        let path = parts.first.map { $0.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) } }
        guard let path, path.count == 4 || path.count == 5, path[0] == "api", path[1] == "collections",
            path[3] == "records"
        else { throw RecordError.badRequest("Unknown batch request action \(method) \(url).") }
        let (collection, id) = (path[2], path.count == 5 ? path[4] : nil)
        // The request's own headers: `If-Match` makes an update or delete conditional, as on its own.
        var ifMatchHeader: String?
        if case .object(let headers)? = item["headers"] {
            ifMatchHeader = headers.first { $0.key.lowercased() == "if-match" }?.value.stringValue
        }
        let ifMatch = try Self.ifMatch(ifMatchHeader)
        switch (method, id) {
        case ("POST", nil): return (.create(collection: collection, body: body), picker)
        case ("PUT", nil): return (.upsert(collection: collection, body: body), picker)
        case ("PATCH", let id?): return (.update(collection: collection, id: id, body: body, ifMatch: ifMatch), picker)
        case ("DELETE", let id?): return (.delete(collection: collection, id: id, ifMatch: ifMatch), picker)
        default: throw RecordError.badRequest("Unknown batch request action \(method) \(url).")
        }
    }
}

extension RecordJSON {
    /// `[{"body":…,"status":200},…]`: each change's record (only the keys its `fields` pick), a delete's
    /// `null` with 204.
    static func batchResults(
        _ buffer: inout ByteBuffer, _ changes: [RecordCollections.BatchChange], _ records: [Record],
        fields: [RecordFieldPicker?]
    ) {
        buffer.writeInteger(UInt8(ascii: "["))
        for (index, record) in records.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            if case .delete = changes[index] {
                buffer.writeStaticString("{\"body\":null,\"status\":204}")
                continue
            }
            buffer.writeStaticString("{\"body\":")
            write(&buffer, record, fields: fields[index])
            buffer.writeStaticString(",\"status\":200}")
        }
        buffer.writeInteger(UInt8(ascii: "]"))
    }

    /// PocketBase's refusal of a batch: 400 `Batch transaction failed.`, with the refused request's own
    /// error under `data.requests.<index>.response`.
    static func batchFailure(index: Int, _ error: RecordError) -> HTTPResponse {
        let own = RecordJSON.error(error)
        var response = HTTPResponse.json { buffer in
            buffer.writeStaticString(
                "{\"status\":400,\"message\":\"Batch transaction failed.\",\"data\":{\"requests\":{\"")
            buffer.writeDecimal(index)
            buffer.writeStaticString(
                "\":{\"code\":\"batch_request_failed\",\"message\":\"Batch request failed.\",\"response\":")
            buffer.writeImmutableBuffer(own.body)
            buffer.writeStaticString("}}}}")
        }
        response.status = .badRequest
        return response
    }
}
