import BusCore
import BusRuntime
import Foundation
import FrontendKit
import MCP
import NIOCore

/// A tool's refusal: answered as a tool result with `isError: true` and this text.
struct MCPToolError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

extension MCPToolbox {
    /// Every tool, with the JSON Schema of its arguments (docs/protocols/mcp.md lists them).
    static let tools: [Tool] = [
        tool("list_collections", "The record collections: name, schema, rules and record count.", [:]),
        tool(
            "list_records", "One page of a collection's records the caller may see (PocketBase filter and sort).",
            [
                "collection": string("The collection."),
                "filter": string("A PocketBase filter, e.g. `status = \"open\" && total > 3`."),
                "sort": string("Fields to sort by, `-` for descending, e.g. `-created,title`."),
                "page": integer("The page, from 1."), "perPage": integer("Records per page (default 30)."),
            ], required: ["collection"]),
        tool(
            "get_record", "One record by id.",
            ["collection": string("The collection."), "id": string("The record id.")],
            required: ["collection", "id"]),
        tool(
            "create_record", "Creates a record; the change is broadcast on collections/<c>/<id>.",
            [
                "collection": string("The collection."),
                "record": .object(["type": "object", "description": "The record's fields (an `id` is optional)."]),
            ], required: ["collection", "record"]),
        tool(
            "update_record", "Changes the fields given; with `if_match` only while the record is at that version.",
            [
                "collection": string("The collection."), "id": string("The record id."),
                "record": .object(["type": "object", "description": "The fields to change."]),
                "if_match": integer("The version the record must be at (its `version`)."),
            ], required: ["collection", "id", "record"]),
        tool(
            "delete_record", "Deletes a record; with `if_match` only while it is at that version.",
            [
                "collection": string("The collection."), "id": string("The record id."),
                "if_match": integer("The version the record must be at."),
            ], required: ["collection", "id"]),
        tool(
            "publish", "Publishes a message on a channel (every protocol's subscribers receive it).",
            [
                "channel": string("The channel (bus topic), e.g. chat/room1."),
                "data": .object(["description": "The message: any JSON value."]),
            ], required: ["channel", "data"]),
        tool(
            "read_history", "The newest messages a channel's history keeps, oldest first.",
            ["channel": string("The channel."), "limit": integer("How many, newest last (default 20).")],
            required: ["channel"]),
        tool(
            "read_presence", "Who is subscribed to a channel right now, on every protocol.",
            ["channel": string("The channel.")], required: ["channel"]),
        tool("list_channels", "Channels with subscribers now, and how many each has.", [:]),
    ]

    private static func tool(
        _ name: String, _ description: String, _ properties: [String: Value], required: [String] = []
    )
        -> Tool
    {
        Tool(
            name: name, description: description,
            inputSchema: .object([
                "type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) }),
                "additionalProperties": false,
            ]))
    }

    private static func string(_ description: String) -> Value {
        .object(["type": "string", "description": .string(description)])
    }

    private static func integer(_ description: String) -> Value {
        .object(["type": "integer", "description": .string(description)])
    }

    /// Runs tool `name`: its JSON answer as text, or a tool error (`isError: true`).
    func call(_ name: String, _ arguments: [String: Value], caller: MCPCaller) async -> CallTool.Result {
        do {
            let text = try await run(name, MCPArguments(arguments), caller: caller)
            return CallTool.Result(content: [.text(text: text, annotations: nil, _meta: nil)], isError: false)
        } catch let error as RecordError {
            return CallTool.Result(
                content: [.text(text: error.mcpMessage, annotations: nil, _meta: nil)], isError: true)
        } catch let error as MCPToolError {
            return CallTool.Result(content: [.text(text: error.message, annotations: nil, _meta: nil)], isError: true)
        } catch {
            return CallTool.Result(content: [.text(text: "\(error)", annotations: nil, _meta: nil)], isError: true)
        }
    }

    private func run(_ name: String, _ arguments: MCPArguments, caller: MCPCaller) async throws -> String {
        let records = bus.records
        switch name {
        case "list_collections":
            guard caller.records.isAdmin else { throw RecordError.onlyAdmins }
            let counts = records.recordCounts()
            let items = records.definitions.map { definition -> JSONValue in
                var buffer = ByteBuffer()
                definition.encode(into: &buffer)
                var value = (try? JSONValue.parse(String(buffer: buffer))) ?? .object([])
                if case .object(var members) = value {
                    members.append(JSONField(key: "records", value: .number(String(counts[definition.name] ?? 0))))
                    value = .object(members)
                }
                return value
            }
            return JSONValue.encode(.object([JSONField(key: "items", value: .array(items))]))
        case "list_records":
            var query = RecordListQuery()
            if let page = try arguments.integer("page") { query.page = page }
            if let perPage = try arguments.integer("perPage") { query.perPage = perPage }
            query.filter = try arguments.string("filter").flatMap { $0.isEmpty ? nil : $0 }
            query.sort = try arguments.string("sort")
            let page = try records.list(
                try arguments.required("collection"), query: query, caller: caller.records, now: bus.clock())
            return Self.page(page)
        case "get_record":
            return try records.view(
                try arguments.required("collection"), id: try arguments.required("id"), caller: caller.records,
                now: bus.clock()
            ).json
        case "create_record":
            let (collection, body) = (try arguments.required("collection") as String, try arguments.object("record"))
            return try await change {
                records.create(collection, body: body, caller: caller.records, now: self.bus.clock(), completion: $0)
            }.json
        case "update_record":
            let (collection, id) = (
                try arguments.required("collection") as String, try arguments.required("id") as String
            )
            let (body, ifMatch) = (try arguments.object("record"), try arguments.integer("if_match").map(UInt64.init))
            return try await change {
                records.update(
                    collection, id: id, body: body, ifMatch: ifMatch, caller: caller.records, now: self.bus.clock(),
                    completion: $0)
            }.json
        case "delete_record":
            let (collection, id) = (
                try arguments.required("collection") as String, try arguments.required("id") as String
            )
            let ifMatch = try arguments.integer("if_match").map(UInt64.init)
            _ = try await change {
                records.delete(
                    collection, id: id, ifMatch: ifMatch, caller: caller.records, now: self.bus.clock(), completion: $0)
            }
            return "{\"deleted\":true}"
        case "publish":
            return try await publish(try topic(arguments), arguments.json("data"), caller: caller)
        case "read_history":
            let topic = try topic(arguments)
            guard caller.permissions.mayRead(topic) else { throw MCPToolError("not allowed to read \(topic.name)") }
            let limit = try arguments.integer("limit") ?? 20
            guard limit >= 0 else { throw MCPToolError("limit must be a non-negative integer") }
            guard let read = bus.readHistory(topic, after: nil, limit: limit) else {
                throw MCPToolError("\(topic.name) keeps no history")
            }
            var buffer = ByteBuffer()
            buffer.writeStaticString("{\"channel\":")
            buffer.writeJSONString(topic.name)
            BusJSON.position(&buffer, read.position)
            buffer.writeStaticString(",\"messages\":")
            BusJSON.messages(&buffer, read.messages)
            buffer.writeStaticString("}")
            return String(buffer: buffer)
        case "read_presence":
            let topic = try topic(arguments)
            guard caller.permissions.mayRead(topic) else { throw MCPToolError("not allowed to read \(topic.name)") }
            guard bus.presence.policy.isEnabled(for: topic) else {
                throw MCPToolError("presence is not enabled for \(topic.name)")
            }
            var buffer = ByteBuffer()
            buffer.writeStaticString("{\"channel\":")
            buffer.writeJSONString(topic.name)
            buffer.writeStaticString(",\"clients\":[")
            for (index, client) in bus.presence.clients(of: topic).enumerated() {
                if index > 0 { buffer.writeStaticString(",") }
                BusJSON.client(&buffer, client)
            }
            buffer.writeStaticString("]}")
            return String(buffer: buffer)
        case "list_channels":
            let counts = bus.registry.channelCounts().filter { !$0.key.hasPrefix("$rpc/") }.sorted { $0.key < $1.key }
            let items = counts.map { channel, count in
                JSONValue.object([
                    JSONField(key: "channel", value: .string(channel)),
                    JSONField(key: "subscribers", value: .number(String(count))),
                ])
            }
            return JSONValue.encode(.object([JSONField(key: "channels", value: .array(items))]))
        default:
            throw MCPToolError("unknown tool \(name)")
        }
    }

    /// Waits for a records change the store commits (the records service calls back from its loop).
    private func change<Value: Sendable>(
        _ start: (@escaping @Sendable (Result<Value, RecordError>) -> Void) -> Void
    ) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            start { continuation.resume(with: $0.mapError { $0 as any Error }) }
        }
    }

    private func topic(_ arguments: MCPArguments) throws -> Topic {
        let name: String = try arguments.required("channel")
        do { return try Topic(name, limits: bus.configuration.topicLimits) } catch {
            throw MCPToolError("invalid channel \"\(name)\": \(error)")
        }
    }

    /// Publishes `data` as JSON on `topic` from a bus loop, as `POST /api/publish` does.
    private func publish(_ topic: Topic, _ data: JSONValue, caller: MCPCaller) async throws -> String {
        guard caller.permissions.mayPublish(topic) else {
            throw MCPToolError("not allowed to publish to \(topic.name)")
        }
        let loop = self.loop
        var payload = ByteBuffer()
        payload.writeJSONValue(data)
        // docs/topics.md, "Payload schemas": the tool's error (as HTTP's 422) names the failing JSON Pointer.
        if let violation = bus.payloadSchemas.check(topic, payload: payload, contentType: "application/json") {
            throw MCPToolError("422: \(violation)")
        }
        let message = BusMessage(
            topic: topic, payload: payload, headers: MessageHeaders(contentType: "application/json"),
            publisherID: caller.identity?.userID, timestamp: bus.clock())
        let (bus, slot) = (bus, metricsSlot)
        let result = try await loop.flatSubmit {
            bus.shard(for: loop).stats.published(slot: slot, bytes: message.payload.readableBytes)
            return bus.publishWithResult(message, on: loop)
        }.get()
        if let failure = result.failure { throw MCPToolError("503: \(failure)") }
        var buffer = ByteBuffer()
        buffer.writeStaticString("{\"channel\":")
        buffer.writeJSONString(topic.name)
        if let position = result.position { BusJSON.position(&buffer, position) }
        buffer.writeStaticString("}")
        return String(buffer: buffer)
    }

    /// `{"page","perPage","totalItems","totalPages","items":[…]}`, as `GET …/records` answers.
    static func page(_ page: RecordPage) -> String {
        var text = "{\"page\":\(page.page),\"perPage\":\(page.perPage),\"totalItems\":\(page.totalItems)"
        text += ",\"totalPages\":\(page.totalPages),\"items\":["
        text += page.items.map(\.json).joined(separator: ",")
        return text + "]}"
    }
}

/// A tool call's arguments, read with the tool's error for a missing or mistyped one.
struct MCPArguments {
    let values: [String: Value]
    init(_ values: [String: Value]) { self.values = values }

    func string(_ name: String) throws -> String? {
        guard let value = values[name], value != .null else { return nil }
        guard case .string(let text) = value else { throw MCPToolError("\"\(name)\" must be a string") }
        return text
    }

    func required(_ name: String) throws -> String {
        guard let text = try string(name) else { throw MCPToolError("\"\(name)\" is required") }
        return text
    }

    func integer(_ name: String) throws -> Int? {
        switch values[name] {
        case nil, .null?: return nil
        case .int(let number)?: return number
        case .double(let number)? where number.rounded() == number && abs(number) < 1e15: return Int(number)
        case .string(let text)?:
            guard let number = Int(text) else { throw MCPToolError("\"\(name)\" must be an integer") }
            return number
        default: throw MCPToolError("\"\(name)\" must be an integer")
        }
    }

    /// The argument as our JSON value (an absent one is `null`).
    func json(_ name: String) throws -> JSONValue {
        guard let value = values[name] else { return .null }
        let data = try JSONEncoder().encode(value)
        return try JSONValue.parse(String(decoding: data, as: UTF8.self))
    }

    func object(_ name: String) throws -> JSONValue {
        let value = try json(name)
        guard case .object = value else { throw MCPToolError("\"\(name)\" must be an object") }
        return value
    }
}
