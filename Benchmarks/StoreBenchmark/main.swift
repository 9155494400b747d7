import BusCore
import Dispatch
import Foundation
import NIOCore
import Storage

// Durable write throughput of the SQLite store with group commit: producers (standing in for event
// loops) keep batches of 256-byte messages in flight, as the bus and the MQTT frontend do; the store
// commits whatever is waiting in one transaction and one fsync. Reports durable messages per second and
// the time from submit to durable (what a publisher waits for its acknowledgement), p50/p99.
// `--writes stream` appends to a stream instead (one partition per producer), as a Kafka REST produce
// or a JetStream publish does.
// `--store postgres://…` measures the PostgreSQL store (synchronous_commit on with fsync) instead of SQLite:
// each run writes keys of its own (random high bits: a later invocation inserts, it does not update the rows of
// an earlier one), so the database needs no reset between runs; the table grows from run to run.
// Run: swift run -c release StoreBenchmark [--messages N] [--size B] [--producers P] [--batch K]
//      [--window W] [--durability fsync|no-fsync] [--runs R] [--writes session|stream] [--store sqlite|URL]

struct Options {
    var messages = 400_000
    var size = 256
    var producers = 2
    var batch = 64
    var window = 8
    var durability = StoreDurability.fsync
    var runs = 3
    /// `session`: session messages (MQTT QoS 1/2); `stream`: stream appends.
    var writes = "session"
    /// `sqlite` (a fresh file per run) or a `postgres://` URL.
    var store = "sqlite"
}

var options = Options()
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let flag = arguments.next() {
    guard let value = arguments.next() else { fatalError("\(flag) needs a value") }
    switch flag {
    case "--messages": options.messages = Int(value)!
    case "--size": options.size = Int(value)!
    case "--producers": options.producers = Int(value)!
    case "--batch": options.batch = Int(value)!
    case "--window": options.window = Int(value)!
    case "--durability": options.durability = StoreDurability(rawValue: value)!
    case "--runs": options.runs = Int(value)!
    case "--store": options.store = value
    case "--writes":
        guard ["session", "stream"].contains(value) else { fatalError("--writes is session or stream") }
        options.writes = value
    default: fatalError("unknown option \(flag)")
    }
}

func monotonic() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

final class Latencies: @unchecked Sendable {
    private let lock = NSLock()
    private var samples: [UInt64] = []
    func add(_ value: UInt64) {
        lock.lock()
        samples.append(value)
        lock.unlock()
    }
    func percentile(_ p: Double) -> Double {
        lock.lock()
        defer { lock.unlock() }
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return 0 }
        return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1e6
    }
}

func runOnce(_ options: Options, run: Int) throws -> (rate: Double, p50: Double, p99: Double, commits: UInt64) {
    let path = NSTemporaryDirectory() + "store-bench-\(UUID().uuidString).sqlite"
    defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
    let store: any Store =
        options.store == "sqlite"
        ? try SQLiteStore(path: path, durability: options.durability)
        : try PostgresStore(
            configuration: PostgresStoreConfiguration(url: options.store), durability: options.durability)
    let payload = ByteBuffer(repeating: 0x61, count: options.size)
    let topic = try Topic("bench/durable")
    // Keys of this run's own (a PostgreSQL database is reused from run to run).
    let stream = "bench-\(run)-\(UUID().uuidString.prefix(8))"
    let firstSequence = UInt64.random(in: 1..<(1 << 22)) << 40
    if options.writes == "stream" {
        let ready = DispatchSemaphore(value: 0)
        let configuration = StreamConfiguration(
            name: stream, filters: [try TopicFilter("bench/#")], partitions: options.producers)
        store.submit(
            [.saveStream(configuration)]
                + (0..<options.producers).map {
                    .saveStreamPartition(stream: stream, partition: $0, epoch: "e", lastOffset: 0)
                }
        ) { _ in ready.signal() }
        ready.wait()
    }
    let perProducer = options.messages / options.producers / options.batch
    let latencies = Latencies()
    let group = DispatchGroup()
    let start = monotonic()
    for producer in 0..<options.producers {
        group.enter()
        Thread {
            let window = DispatchSemaphore(value: options.window)
            let done = DispatchGroup()
            for batchIndex in 0..<perProducer {
                window.wait()
                var writes: [StoreWrite] = []
                writes.reserveCapacity(options.batch)
                for i in 0..<options.batch {
                    let sequence = firstSequence + UInt64((producer * perProducer + batchIndex) * options.batch + i + 1)
                    let message = BusMessage(topic: topic, payload: payload, timestamp: sequence)
                    if options.writes == "stream" {
                        let offset = UInt64(batchIndex * options.batch + i + 1)
                        writes.append(
                            .appendStream(
                                StoredStreamMessage(
                                    stream: stream, partition: producer, offset: offset, key: nil, message: message)))
                    } else {
                        writes.append(.saveSessionMessage(seq: sequence, message: message))
                    }
                }
                let submitted = monotonic()
                done.enter()
                store.submit(writes) { error in
                    precondition(error == nil, "commit failed: \(error!)")
                    latencies.add(monotonic() - submitted)
                    window.signal()
                    done.leave()
                }
            }
            done.wait()
            group.leave()
        }.start()
    }
    group.wait()
    let elapsed = Double(monotonic() - start) / 1e9
    let commits = store.statistics.commits
    store.close()
    let total = Double(perProducer * options.producers * options.batch)
    return (total / elapsed, latencies.percentile(0.5), latencies.percentile(0.99), commits)
}

print(
    "durable \(options.writes) writes: \(options.messages) × \(options.size) B, \(options.producers) producers, batches of \(options.batch), "
        + "\(options.window) in flight each, durability \(options.durability.rawValue), store \(options.store)")
print("run | msg/s | submit→durable p50 (ms) | p99 (ms) | commits")
var rates: [Double] = []
var p99s: [Double] = []
var p50s: [Double] = []
for run in 1...options.runs {
    let result = try runOnce(options, run: run)
    rates.append(result.rate)
    p50s.append(result.p50)
    p99s.append(result.p99)
    print(
        "\(run) | \(Int(result.rate)) | \(String(format: "%.2f", result.p50)) | \(String(format: "%.2f", result.p99)) | \(result.commits)"
    )
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
print(
    "median | \(Int(median(rates))) | \(String(format: "%.2f", median(p50s))) | \(String(format: "%.2f", median(p99s))) |"
)
