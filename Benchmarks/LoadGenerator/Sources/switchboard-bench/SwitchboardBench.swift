import ArgumentParser
import Foundation

/// `switchboard-bench SCENARIO [options]` — drives load at a Switchboard server (or a peer that
/// speaks the same protocol) over loopback and reports throughput, latency and CPU/RSS.
@main
struct SwitchboardBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard-bench",
        abstract: "Load generator for Switchboard and its peers (loopback only).",
        discussion: """
            Scenarios: pub, pubsub, fanout, latency, conns, churn, kafka-produce, kafka-consume, kafka-latency, records-create, records-fanout, records-fanout-mixed, js-publish, js-consume, collab-vote, scale, scale-conns. Every run stops by itself: \
            after --count messages/cycles or --duration seconds, whichever comes first. \
            Example: switchboard-bench fanout --subscribers 1000 --size 64 --port 8080 --server-pid 1234
            """)

    @Argument(
        help:
            "pub | pubsub | fanout | latency | conns | churn | kafka-produce | kafka-consume | kafka-latency | records-create | records-fanout | records-fanout-mixed | js-publish | js-consume | collab-vote | scale | scale-conns"
    )
    var scenario: BenchScenarioKind

    @OptionGroup var options: BenchOptions

    func run() throws {
        ProcessStats.raiseFileLimit()
        _ = try options.resolvedTarget()
        let report: BenchReport
        switch scenario {
        case .pub, .pubsub, .fanout:
            report = try ThroughputScenario(run: BenchRun(options: options), kind: scenario).execute()
        case .latency:
            report = try LatencyScenario(run: BenchRun(options: options)).execute()
        case .conns:
            report = try ConnectionsScenario(options: options).execute()
        case .churn:
            report = try ChurnScenario(run: BenchRun(options: options)).execute()
        case .kafkaProduce, .kafkaConsume, .kafkaLatency:
            report = try KafkaRESTScenario(options: options, kind: scenario).execute()
        case .recordsCreate:
            report = try RecordsCreateScenario(run: BenchRun(options: options)).execute()
        case .recordsFanout, .recordsFanoutMixed:
            report = try RecordsFanoutScenario(run: BenchRun(options: options), mixed: scenario == .recordsFanoutMixed)
                .execute()
        case .jsPublish, .jsConsume:
            report = try JetStreamScenario(options: options, kind: scenario).execute()
        case .collabVote:
            report = try CollabVoteScenario(run: BenchRun(options: options)).execute()
        case .scale, .scaleConns:
            report = try ScaleScenario(options: options, byConnections: scenario == .scaleConns).execute()
        }
        report.print(json: options.json)
    }
}
