import BusCore
import Foundation

// Micro-benchmark of the subscription index: match cost must follow the topic's depth, not the number
// of subscriptions. Builds indexes of 1k, 100k and 1M subscriptions (devices/<site>/<device>/<metric>
// with some '+' and '#' filters) and times matches of concrete topics against each.
// Run: swift run -c release SubscriptionIndexBenchmark

final class Member {}

func now() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

#if canImport(Glibc)
    import Glibc
#endif

var generator = SystemRandomNumberGenerator()
print("subscriptions | build (s) | match ns/op (p50 of 5 runs) | matches per op")
for count in [1_000, 100_000, 1_000_000] {
    let index = SubscriptionIndex<Member>()
    let sites = max(1, count / 1000)
    let buildStart = now()
    for i in 0..<count {
        let site = i % sites
        let device = i / sites
        let text: String
        switch i % 20 {
        case 0: text = "devices/\(site)/+/temperature"
        case 1: text = "devices/\(site)/\(device)/#"
        default: text = "devices/\(site)/\(device)/\(["temperature", "humidity", "power"][i % 3])"
        }
        index.insert(try! TopicFilter(text), member: Member())
    }
    let build = Double(now() - buildStart) / 1e9
    let topics = (0..<1024).map { _ in
        try! Topic(
            "devices/\(Int.random(in: 0..<sites, using: &generator))/\(Int.random(in: 0..<1000, using: &generator))/temperature"
        )
    }
    var runs: [Double] = []
    var matched = 0
    for _ in 0..<5 {
        let iterations = 200_000
        let start = now()
        for i in 0..<iterations {
            let result = index.match(topics[i & 1023])
            matched &+= result.members.count
        }
        runs.append(Double(now() - start) / Double(iterations))
    }
    runs.sort()
    print(
        "\(count) | \(String(format: "%.2f", build)) | \(String(format: "%.0f", runs[2])) | \(matched / (5 * 200_000))")
}
