import Foundation
import Histogram

/// Latency percentiles in microseconds.
struct LatencySummary: Codable, Sendable {
    var samples: UInt64
    var p50: Double
    var p90: Double
    var p99: Double
    var p999: Double
    var max: Double
    var mean: Double

    /// Summarizes a histogram of nanoseconds.
    init(_ histogram: Histogram<UInt64>) {
        func micros(_ nanos: UInt64) -> Double { (Double(nanos) / 100).rounded() / 10 }
        samples = histogram.totalCount
        p50 = micros(histogram.valueAtPercentile(50))
        p90 = micros(histogram.valueAtPercentile(90))
        p99 = micros(histogram.valueAtPercentile(99))
        p999 = micros(histogram.valueAtPercentile(99.9))
        max = micros(histogram.max)
        mean = (histogram.mean / 100).rounded() / 10
    }
}

/// The result of one run, printed as text or (with --json) as one JSON object with snake_case keys.
struct BenchReport: Codable, Sendable {
    var scenario: String
    var `protocol`: String
    var target: String
    var size: Int
    var publishers: Int
    var subscribers: Int
    var connections: Int
    /// Whether everything asked for happened before the time cap.
    var complete: Bool
    var sent: Int
    var delivered: Int
    var expectedDeliveries: Int
    var elapsedSeconds: Double
    var sentPerSecond: Double
    var deliveredPerSecond: Double
    /// Delivered payload megabytes (10^6 bytes) per second.
    var deliveredMegabytesPerSecond: Double
    var connectsPerSecond: Double?
    var latencyMicroseconds: LatencySummary?
    var toolCPUSeconds: Double
    /// Tool CPU seconds per wall second (1.0 = one core busy).
    var toolCores: Double
    var toolThreads: Int
    var serverCPUSeconds: Double?
    var serverCores: Double?
    var serverRSSKilobytes: Int?
    var serverRSSBaselineKilobytes: Int?
    var serverRSSPerConnectionBytes: Double?
    var errors: Int
    var lastError: String?
    var command: String
    /// CPU seconds every CPU of the machine was busy during the measured phase (server, tool,
    /// kernel and anything else); minus server and tool it shows interference.
    var machineCPUSeconds: Double?
    /// records-create: change events the one WebSocket subscriber received (proof they were published).
    var eventsObserved: Int? = nil
    /// records-create: that subscriber's request-send → event latency.
    var eventLatencyMicroseconds: LatencySummary? = nil
    /// records-fanout: the creator's POST round trip (the record answered once committed).
    var requestLatencyMicroseconds: LatencySummary? = nil
    /// collab-vote: ballots, tally and result latencies (`latencyMicroseconds` is the tally latency,
    /// `requestLatencyMicroseconds` the ballot's rpc round trip).
    var vote: VoteReport? = nil
    /// scale, scale-conns: one row per step of the growth curve.
    var scaleSteps: [ScaleStepRow]? = nil
    /// scale, scale-conns: the rows' metrics flattened (`subs_rate_1000`, `rss_per_sub_1000`, …) for Benchmarks/compare.
    var growth: [String: Double]? = nil

    /// Prints the report to standard output.
    func print(json: Bool) {
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
            Swift.print(String(decoding: data, as: UTF8.self))
            return
        }
        func number(_ value: Double) -> String { String(format: "%.0f", value) }
        var lines = ["\(scenario) over \(`protocol`) → \(target)  size=\(size)B"]
        lines.append(
            "  publishers=\(publishers) subscribers=\(subscribers) connections=\(connections) complete=\(complete)")
        if vote != nil {
            lines.append(
                "  ballots \(sent) (\(number(sentPerSecond))/s offered)   tally samples \(delivered)/\(expectedDeliveries)"
            )
        } else if sent > 0 || delivered > 0 {
            lines.append(
                "  sent \(sent) (\(number(sentPerSecond)) msg/s)   delivered \(delivered)/\(expectedDeliveries) (\(number(deliveredPerSecond)) msg/s, \(String(format: "%.1f", deliveredMegabytesPerSecond)) MB/s)"
            )
        }
        if let connectsPerSecond { lines.append("  connect cycles \(number(connectsPerSecond))/s") }
        if let latency = latencyMicroseconds {
            lines.append(
                "  latency µs: p50 \(latency.p50)  p90 \(latency.p90)  p99 \(latency.p99)  p99.9 \(latency.p999)  max \(latency.max)  (n=\(latency.samples))"
            )
        }
        if let eventsObserved { lines.append("  change events received by the subscriber: \(eventsObserved)") }
        if let latency = eventLatencyMicroseconds {
            lines.append(
                "  send → event µs: p50 \(latency.p50)  p99 \(latency.p99)  max \(latency.max)  (n=\(latency.samples))")
        }
        if let latency = requestLatencyMicroseconds {
            lines.append(
                "  request µs: p50 \(latency.p50)  p99 \(latency.p99)  max \(latency.max)  (n=\(latency.samples))")
        }
        if let vote { lines += vote.lines }
        if let scaleSteps {
            lines += scaleSteps.map { $0.line(unit: scenario == "scale-conns" ? "conn" : "sub") }
        }
        lines.append(
            "  elapsed \(String(format: "%.2f", elapsedSeconds)) s   tool CPU \(String(format: "%.2f", toolCPUSeconds)) s (\(String(format: "%.2f", toolCores)) cores, \(toolThreads) threads)"
        )
        if let serverCPUSeconds, let serverCores {
            lines.append(
                "  server CPU \(String(format: "%.2f", serverCPUSeconds)) s (\(String(format: "%.2f", serverCores)) cores)  RSS \(serverRSSKilobytes ?? 0) KiB"
            )
        }
        if let perConnection = serverRSSPerConnectionBytes {
            lines.append(
                "  server RSS per connection \(number(perConnection)) B (baseline \(serverRSSBaselineKilobytes ?? 0) KiB)"
            )
        }
        if let machine = machineCPUSeconds, elapsedSeconds > 0, toolCores > 0 {
            let wall = toolCPUSeconds / toolCores
            let other = max(0, machine - toolCPUSeconds - (serverCPUSeconds ?? 0)) / wall
            lines.append(
                "  other CPU on the machine \(String(format: "%.2f", other)) cores"
                    + (serverCPUSeconds == nil ? " (server not sampled: pass --server-pid)" : ""))
        }
        if errors > 0 { lines.append("  errors \(errors): \(lastError ?? "")") }
        Swift.print(lines.joined(separator: "\n"))
    }
}
