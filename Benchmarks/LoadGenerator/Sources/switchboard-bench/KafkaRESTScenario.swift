import Foundation
import Histogram

/// The Kafka REST Proxy v2 scenarios (docs/protocols/kafka-rest.md), against Switchboard's `kafka_rest`
/// listener (default port 8082):
///
/// - `kafka-produce`: `--publishers` connections each POST batches of `--batch` records of `--size`
///   bytes (`application/vnd.kafka.binary.v2+json`) to `/topics/<channel>` until `--count` records are
///   answered; every answer comes once the records are stored (fsynced with the default SQLite store).
/// - `kafka-latency`: one record per request, one request in flight; the histogram is the request's
///   round trip (produce latency as a client sees it).
/// - `kafka-consume`: produces `--count` records first (not measured), then one consumer instance reads
///   them all with `GET .../records` (binary format) as fast as it can.
///
/// A blocking HTTP/1.1 client per connection (a thread each, keep-alive): the proxy's API is
/// request/response, so this is what a REST client does, and it keeps the tool's cost visible.
struct KafkaRESTScenario {
    let options: BenchOptions
    let kind: BenchScenarioKind

    var port: Int { options.port ?? 8082 }
    var topic: String { options.channel }
    var batch: Int { kind == .kafkaLatency ? 1 : max(1, options.batch) }

    func execute() throws -> BenchReport {
        switch kind {
        case .kafkaConsume: return try consume()
        default: return try produce()
        }
    }

    /// The body of one produce request: `batch` records, each a base64 value of `size` bytes.
    private func produceBody() -> [UInt8] {
        let value = Data((0..<options.size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }).base64EncodedString()
        let record = "{\"value\":\"\(value)\"}"
        return Array(("{\"records\":[" + Array(repeating: record, count: batch).joined(separator: ",") + "]}").utf8)
    }

    private func produce() throws -> BenchReport {
        let total = options.count ?? (kind == .kafkaLatency ? 20_000 : 1_000_000)
        let connections = kind == .kafkaLatency ? 1 : max(1, options.publishers)
        let body = produceBody()
        let path = "/topics/\(topic)"
        let contentType = "application/vnd.kafka.binary.v2+json"
        // The first request creates the topic (auto-create); it is not measured.
        let warm = try HTTPConnection(host: "127.0.0.1", port: port)
        let first = try warm.request("POST", path, contentType: contentType, body: body)
        guard first.status == 200 else {
            throw BenchError.setupFailed("produce answered \(first.status): \(first.text.prefix(300))")
        }
        warm.close()

        let claimed = ManagedCounter()
        let acknowledged = ManagedCounter()
        let errors = ManagedCounter()
        let lastError = LockedBox<String?>(nil)
        let histogram = LockedBox(
            Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three))
        let deadline = Date().addingTimeInterval(options.duration)
        let measure = Measurement(options: options)
        let start = BenchClock.now()
        let done = DispatchGroup()
        let threads = (0..<connections).map { _ in
            Thread {
                defer { done.leave() }
                guard let connection = try? HTTPConnection(host: "127.0.0.1", port: port) else {
                    errors.add(1)
                    return
                }
                var local = Histogram<UInt64>(
                    highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
                while Date() < deadline, claimed.add(batch) <= total {
                    let sent = BenchClock.now()
                    do {
                        let response = try connection.request("POST", path, contentType: contentType, body: body)
                        if response.status == 200 {
                            local.record(BenchClock.now() - sent)
                            acknowledged.add(batch)
                        } else {
                            errors.add(1)
                            lastError.set("HTTP \(response.status): \(response.text.prefix(200))")
                        }
                    } catch {
                        errors.add(1)
                        lastError.set("\(error)")
                        break
                    }
                }
                connection.close()
                histogram.mutate { $0.add(local) }
            }
        }
        for thread in threads {
            done.enter()
            thread.start()
        }
        done.wait()
        let elapsed = Double(BenchClock.now() - start) / 1e9
        let usage = measure.stop()
        let records = acknowledged.value
        return report(
            scenario: kind.rawValue, connections: connections, complete: records >= total, sent: records,
            delivered: records, expected: total, elapsed: elapsed, latency: histogram.value, usage: usage,
            errors: errors.value, lastError: lastError.value)
    }

    private func consume() throws -> BenchReport {
        let total = options.count ?? 1_000_000
        let body = produceBody()
        let contentType = "application/vnd.kafka.binary.v2+json"
        let producer = try HTTPConnection(host: "127.0.0.1", port: port)
        var produced = 0
        while produced < total {
            let response = try producer.request("POST", "/topics/\(topic)", contentType: contentType, body: body)
            guard response.status == 200 else {
                throw BenchError.setupFailed("produce answered \(response.status): \(response.text.prefix(300))")
            }
            produced += batch
        }
        producer.close()

        let consumer = try HTTPConnection(host: "127.0.0.1", port: port)
        let group = "bench-\(UInt32.random(in: 0...UInt32.max))"
        let v2 = "application/vnd.kafka.v2+json"
        let created = try consumer.request(
            "POST", "/consumers/\(group)", contentType: v2,
            body: Array("{\"name\":\"c1\",\"format\":\"binary\",\"auto.offset.reset\":\"earliest\"}".utf8))
        guard created.status == 200 else {
            throw BenchError.setupFailed("create consumer answered \(created.status): \(created.text.prefix(300))")
        }
        let base = "/consumers/\(group)/instances/c1"
        let subscribed = try consumer.request(
            "POST", base + "/subscription", contentType: v2, body: Array("{\"topics\":[\"\(topic)\"]}".utf8))
        guard subscribed.status == 204 || subscribed.status == 200 else {
            throw BenchError.setupFailed("subscribe answered \(subscribed.status): \(subscribed.text.prefix(300))")
        }
        let measure = Measurement(options: options)
        let start = BenchClock.now()
        let deadline = Date().addingTimeInterval(options.duration)
        var consumed = 0
        var errors = 0
        var lastError: String?
        let marker = Array("\"offset\":".utf8)
        while consumed < produced, Date() < deadline {
            let response = try consumer.request(
                "GET", base + "/records?timeout=1000&max_bytes=67108864", accept: "application/vnd.kafka.binary.v2+json"
            )
            guard response.status == 200 else {
                errors += 1
                lastError = "HTTP \(response.status): \(response.text.prefix(200))"
                continue
            }
            consumed += response.body.count(of: marker)
        }
        let elapsed = Double(BenchClock.now() - start) / 1e9
        let usage = measure.stop()
        _ = try? consumer.request("DELETE", base, contentType: v2, body: [])
        consumer.close()
        return report(
            scenario: kind.rawValue, connections: 1, complete: consumed >= produced, sent: produced,
            delivered: consumed, expected: produced, elapsed: elapsed, latency: nil, usage: usage, errors: errors,
            lastError: lastError)
    }

    private func report(
        scenario: String, connections: Int, complete: Bool, sent: Int, delivered: Int, expected: Int,
        elapsed: Double, latency: Histogram<UInt64>?, usage: Measurement.Usage, errors: Int, lastError: String?
    ) -> BenchReport {
        let megabytes = Double(delivered * options.size) / 1e6
        return BenchReport(
            scenario: scenario, protocol: "kafka-rest", target: "127.0.0.1:\(port)", size: options.size,
            publishers: connections, subscribers: kind == .kafkaConsume ? 1 : 0, connections: connections,
            complete: complete, sent: sent, delivered: delivered, expectedDeliveries: expected,
            elapsedSeconds: elapsed, sentPerSecond: Double(sent) / elapsed,
            deliveredPerSecond: Double(delivered) / elapsed, deliveredMegabytesPerSecond: megabytes / elapsed,
            connectsPerSecond: nil,
            latencyMicroseconds: latency.flatMap { $0.totalCount > 0 ? LatencySummary($0) : nil },
            toolCPUSeconds: usage.tool, toolCores: usage.tool / elapsed, toolThreads: connections,
            serverCPUSeconds: usage.server, serverCores: usage.server.map { $0 / elapsed },
            serverRSSKilobytes: usage.serverRSS, serverRSSBaselineKilobytes: nil, serverRSSPerConnectionBytes: nil,
            errors: errors, lastError: lastError, command: CommandLine.arguments.joined(separator: " "),
            machineCPUSeconds: usage.machine)
    }
}

/// CPU of the tool, the server and the machine over a measured phase.
struct Measurement {
    struct Usage {
        var tool: Double
        var server: Double?
        var serverRSS: Int?
        var machine: Double
    }

    let serverPid: Int32?
    let tool: Double
    let server: ProcessSample?
    let machine: Double

    init(options: BenchOptions) {
        serverPid = options.serverPid
        tool = ProcessStats.toolCPUSeconds()
        server = options.serverPid.flatMap(ProcessStats.sample(pid:))
        machine = ProcessStats.machineBusySeconds()
    }

    func stop() -> Usage {
        let end = serverPid.flatMap(ProcessStats.sample(pid:))
        return Usage(
            tool: ProcessStats.toolCPUSeconds() - tool,
            server: end.flatMap { end in server.map { end.cpuSeconds - $0.cpuSeconds } },
            serverRSS: end?.residentKilobytes, machine: ProcessStats.machineBusySeconds() - machine)
    }
}

/// A counter shared by the connection threads.
final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    /// Adds `n` and returns the new total.
    @discardableResult
    func add(_ n: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        count += n
        return count
    }

    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}

final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    func set(_ value: Value) { mutate { $0 = value } }

    func mutate(_ body: (inout Value) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        body(&stored)
    }

    var value: Value {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}

extension Array where Element == UInt8 {
    /// How many times `needle` occurs (non-overlapping).
    func count(of needle: [UInt8]) -> Int {
        guard !needle.isEmpty, count >= needle.count else { return 0 }
        var found = 0
        var index = 0
        let first = needle[0]
        while index <= count - needle.count {
            if self[index] == first, self[index..<(index + needle.count)].elementsEqual(needle) {
                found += 1
                index += needle.count
            } else {
                index += 1
            }
        }
        return found
    }
}
