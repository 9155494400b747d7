import BusCore
import Foundation
import Testing

@testable import ServerApp

/// The config file's `streams` (docs/operations.md) and the definition shape `/api/streams` shares.
@Suite struct StreamConfigurationTests {
    func load(_ json: String) throws -> ServerConfiguration {
        var configuration = ServerConfiguration()
        try configuration.apply(file: Data(json.utf8))
        return configuration
    }

    @Test func streamsFromTheConfigFile() throws {
        let configuration = try load(
            #"{"streams": [{"name": "orders", "filters": ["orders/#", "audit/+"], "partitions": 3, "storage": "memory", "retention": "workqueue", "max_messages": 10, "max_age_seconds": 1.5, "discard": "new", "duplicate_window_seconds": 2}]}"#
        )
        let stream = try #require(configuration.streams.first)
        #expect(stream.name == "orders" && stream.filters.map(\.text) == ["orders/#", "audit/+"])
        #expect(stream.partitions == 3 && stream.storage == .memory && stream.retention == .workQueue)
        #expect(
            stream.limits
                == StreamLimits(
                    maxMessages: 10, maxAgeNanoseconds: 1_500_000_000, discard: .new,
                    duplicateWindowNanoseconds: 2_000_000_000))
    }

    @Test(arguments: [
        #"{"streams": [{"filters": ["a/#"]}]}"#,
        #"{"streams": [{"name": "a"}]}"#,
        #"{"streams": [{"name": "a b", "filters": ["a/#"]}]}"#,
        #"{"streams": [{"name": "a", "filters": ["a/#"], "partitions": 0}]}"#,
        #"{"streams": [{"name": "a", "filters": ["a/#/b"]}]}"#,
        #"{"streams": [{"name": "a", "filters": ["a/#"], "storage": "disk"}]}"#,
        #"{"streams": [{"name": "a", "filters": ["a/#"], "max_messages": -1}]}"#,
        #"{"streams": [{"name": "a", "filters": ["a/#"]}, {"name": "a", "filters": ["b/#"]}]}"#,
    ])
    func badStreamsAreRefused(json: String) {
        #expect(throws: ConfigurationError.self) { try load(json) }
    }

    @Test func anUpdateChangesOnlyTheLimitsItNames() throws {
        let spec = try StreamSpecification.decode(Data(#"{"max_bytes": 100, "max_age_seconds": 0}"#.utf8))
        let limits = try spec.limits(over: StreamLimits(maxMessages: 5, maxAgeNanoseconds: 9))
        #expect(limits == StreamLimits(maxMessages: 5, maxBytes: 100, maxAgeNanoseconds: nil))
    }
}
