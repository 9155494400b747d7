import Foundation
import Histogram

/// `records-create`: create throughput of the records API (docs/records.md) with the events published.
///
/// A fresh collection (every rule `""`), one native WebSocket subscribed to `collections/<c>/+`, then
/// `--publishers` blocking keep-alive HTTP/1.1 connections (a thread each, as `KafkaRESTScenario`) each
/// POST one record per request — `--size` bytes of `title` and the send time in `sent` — until `--count`
/// are answered or `--duration` passes. A create is answered once the store committed it (group commit,
/// fsync by default) and its event is published after the commit, so the subscriber's count shows that
/// every answered create was also published. Reports creates/s, the request latency and send → event.
struct RecordsCreateScenario {
    /// Seconds without a new event, after the last answer, before the subscriber's count is final.
    static let drainTimeout = 2.0

    let run: BenchRun

    func execute() throws -> BenchReport {
        let options = run.options
        let api = RecordsAPI(options: options, target: run.target)
        let collection = RecordsAPI.freshCollectionName(prefix: options.channel)
        try api.createCollection(collection, viewRule: "")
        let stats = run.stats

        // The subscriber that proves the events are published.
        let channels = run.connectMany(1) { _, loopStats in
            SubscriberRole(stats: loopStats, channel: RecordsAPI.topic(collection))
        }
        guard run.wait(timeout: 30, until: { stats.total(\.subscribed) >= 1 }) else {
            throw BenchError.setupFailed(
                "the subscriber did not subscribe; last error: \((try? stats.lastError()) ?? nil ?? "none")")
        }

        let total = options.count ?? 1_000_000
        let connections = max(1, options.publishers)
        let title = String(repeating: "x", count: max(0, options.size))
        let path = RecordsAPI.recordsPath(collection)
        let claimed = ManagedCounter()
        let answered = ManagedCounter()
        let errors = ManagedCounter()
        let lastError = LockedBox<String?>(nil)
        let histogram = LockedBox(
            Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three))
        let deadline = Date().addingTimeInterval(options.duration)
        let start = run.startMeasuring()
        let done = DispatchGroup()
        let threads = (0..<connections).map { _ in
            Thread {
                defer { done.leave() }
                guard let connection = try? HTTPConnection(host: "127.0.0.1", port: api.port) else {
                    errors.add(1)
                    return
                }
                var local = Histogram<UInt64>(
                    highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
                while Date() < deadline, claimed.add(1) <= total {
                    let sent = BenchClock.now()
                    let body = RecordsAPI.createBody(sentAt: sent, title: title, visibility: nil)
                    do {
                        let response = try connection.request(
                            "POST", path, contentType: "application/json", accept: "application/json",
                            authorization: api.authorization, body: body)
                        if response.status == 200 {
                            local.record(BenchClock.now() - sent)
                            answered.add(1)
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
        let end = BenchClock.now()
        let usage = run.stopMeasuring()
        let creates = answered.value
        // Let the last events arrive (not part of the measured time).
        var last = (count: -1, at: Date())
        while stats.total(\.delivered) < creates, Date().timeIntervalSince(last.at) < Self.drainTimeout {
            let delivered = stats.total(\.delivered)
            if delivered != last.count { last = (delivered, Date()) }
            usleep(1000)
        }
        let events = stats.total(\.delivered)
        let eventLatency = try stats.mergedLatency()
        let lastErrorText = try lastError.value ?? stats.lastError()
        run.shutdown(channels)

        let elapsed = Double(end - start) / 1e9
        return BenchReport(
            scenario: BenchScenarioKind.recordsCreate.rawValue, protocol: "http+ws",
            target: "127.0.0.1:\(api.port)", size: options.size, publishers: connections, subscribers: 1,
            connections: connections + 1, complete: creates >= total, sent: creates, delivered: events,
            expectedDeliveries: creates, elapsedSeconds: elapsed, sentPerSecond: Double(creates) / elapsed,
            deliveredPerSecond: Double(events) / elapsed,
            deliveredMegabytesPerSecond: Double(events * options.size) / elapsed / 1e6, connectsPerSecond: nil,
            latencyMicroseconds: histogram.value.totalCount > 0 ? LatencySummary(histogram.value) : nil,
            toolCPUSeconds: usage.toolCPU, toolCores: usage.toolCPU / elapsed, toolThreads: connections,
            serverCPUSeconds: usage.serverCPU, serverCores: usage.serverCPU.map { $0 / elapsed },
            serverRSSKilobytes: usage.serverRSS, serverRSSBaselineKilobytes: nil, serverRSSPerConnectionBytes: nil,
            errors: errors.value + stats.total(\.errors), lastError: lastErrorText,
            command: CommandLine.arguments.joined(separator: " "), machineCPUSeconds: run.machineCPUSeconds,
            eventsObserved: events,
            eventLatencyMicroseconds: eventLatency.totalCount > 0 ? LatencySummary(eventLatency) : nil)
    }
}
