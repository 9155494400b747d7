import BusCore
import NIOCore
import SSEWire
import Testing

/// Query parsing for `/sse` and `/poll`: what is accepted and what is a 400.
@Suite struct SSERequestTests {
    @Test func streamRequestWithFiltersAndHeaderResume() throws {
        let request = try SSEStreamRequest.parse(
            query: [
                "channel": ["tasks/1", "repo/+/events", "tasks/2"], "event": ["task.created"],
                "match": ["repo:switchboard"], "lastEventId": ["old-1.old-1"],
            ],
            lastEventID: "e-5.")
        #expect(request.channels.map(\.text) == ["tasks/1", "repo/+/events", "tasks/2"])
        #expect(request.positionedChannels.map(\.text) == ["tasks/1", "tasks/2"])
        #expect(request.filter.eventTypes == ["task.created"])
        #expect(request.filter.matches == [UserProperty(name: "repo", value: "switchboard")])
        // The header wins over the query parameter (a browser's reconnect keeps the old URL).
        #expect(request.resumeFrom == SSECursor([LogPosition(offset: 5, epoch: "e"), nil]))
    }

    @Test func queryResumeWhenNoHeader() throws {
        let request = try SSEStreamRequest.parse(query: ["channel": ["a"], "lastEventId": ["e-1"]], lastEventID: "")
        #expect(request.resumeFrom == SSECursor([LogPosition(offset: 1, epoch: "e")]))
    }

    @Test(arguments: [
        [String: [String]](),  // no channel
        ["channel": ["a/b#"]],  // # not a whole level
        ["channel": ["a/#/b"]],  // # not last
        ["channel": ["a", "a"]],  // twice
        ["channel": ["a"], "event": ["two words"]],
        ["channel": ["a"], "match": ["novalue"]],
        ["channel": ["a"], "match": [":v"]],
        ["channel": ["a"], "lastEventId": ["garbage!"]],
    ])
    func streamRefuses(query: [String: [String]]) {
        #expect(throws: SSERequestError.self) { try SSEStreamRequest.parse(query: query, lastEventID: nil) }
    }

    @Test func tooManyChannels() {
        var limits = SSELimits()
        limits.maxChannels = 2
        #expect(throws: SSERequestError.self) {
            try SSEStreamRequest.parse(query: ["channel": ["a", "b", "c"]], lastEventID: nil, limits: limits)
        }
    }

    @Test func realtimeStarIsOneLevel() throws {
        let filters = try SSEStreamRequest.channels(
            ["tasks/*", "tasks/42"], topicLimits: TopicLimits(), limits: SSELimits(), starIsWildcard: true)
        #expect(filters.map(\.text) == ["tasks/+", "tasks/42"])
    }

    func poll(_ query: [String: [String]], ifNoneMatch: String? = nil) throws(SSERequestError) -> SSEPollRequest {
        try SSEPollRequest.parse(
            query: query, ifNoneMatch: ifNoneMatch, defaultTimeoutSeconds: 30, maxTimeoutSeconds: 60)
    }

    @Test func pollTimeoutIsBoundedByConfiguration() throws {
        #expect(try poll(["channel": ["a"]]).timeoutSeconds == 30)
        #expect(try poll(["channel": ["a"], "timeout": ["5"]]).timeoutSeconds == 5)
        #expect(try poll(["channel": ["a"], "timeout": ["3600"]]).timeoutSeconds == 60)
        #expect(try poll(["channel": ["a"], "timeout": ["0"]]).timeoutSeconds == 0)
    }

    @Test func pollCursorFromParameterOrEntityTag() throws {
        #expect(
            try poll(["channel": ["a"], "cursor": ["e-2"]]).cursor == SSECursor([LogPosition(offset: 2, epoch: "e")]))
        #expect(
            try poll(["channel": ["a"]], ifNoneMatch: "\"e-3\"").cursor
                == SSECursor([LogPosition(offset: 3, epoch: "e")]))
        #expect(
            try poll(["channel": ["a"]], ifNoneMatch: "W/\"e-4\"").cursor
                == SSECursor([LogPosition(offset: 4, epoch: "e")]))
        #expect(try poll(["channel": ["a"]], ifNoneMatch: "*").cursor == nil)
        #expect(
            try poll(["channel": ["a"], "cursor": ["e-1"]], ifNoneMatch: "\"e-9\"").cursor?.entries[0]?.offset == 1)
    }

    @Test(arguments: [
        ["channel": ["a/+"]],  // polling needs concrete channels
        ["channel": ["a"], "timeout": ["-1"]],
        ["channel": ["a"], "timeout": ["soon"]],
        ["channel": ["a"], "cursor": ["e-1.e-2"]],
        ["channel": ["a"], "cursor": ["%%%"]],
    ])
    func pollRefuses(query: [String: [String]]) {
        #expect(throws: SSERequestError.self) { try poll(query) }
    }

    @Test func filterAdmits() {
        let filter = SSEMessageFilter(
            eventTypes: ["task.created", "message"], matches: [UserProperty(name: "repo", value: "sb")])
        func message(_ type: String?, _ properties: [UserProperty]) -> BusMessage {
            BusMessage(
                topic: Topic(trusted: "t"), payload: ByteBuffer(),
                headers: MessageHeaders(userProperties: properties, eventType: type), timestamp: 0)
        }
        let sb = [UserProperty(name: "repo", value: "sb")]
        #expect(filter.admits(message("task.created", sb)))
        #expect(filter.admits(message(nil, sb)))  // nil is `message`
        #expect(!filter.admits(message("task.deleted", sb)))
        #expect(!filter.admits(message("task.created", [UserProperty(name: "repo", value: "other")])))
        #expect(!filter.admits(message("task.created", [])))
        #expect(SSEMessageFilter().admits(message("anything", [])))
    }
}
