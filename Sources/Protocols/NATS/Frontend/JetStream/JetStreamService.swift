import Atomics
package import BusCore
package import BusRuntime
import NIOConcurrencyHelpers
package import NIOCore

/// JetStream on the bus's streams (issue 19, docs/protocols/nats.md "JetStream"): answers the API on
/// `$JS.API.>` (streams, messages, consumers), the PubAck of a publish a stream captured, the pull
/// requests of consumers and their `$JS.ACK…` acknowledgements. One per NATS frontend, shared by its
/// connections (TCP and WebSocket). Streams are the bus's (`bus.streams`), so a stream made here is the
/// Kafka REST topic of the same name and captures every protocol's publishes; consumers live here.
///
/// Thread-safety: the consumers map behind one lock, each consumer behind its own; the lock order is
/// service → consumer → stream partition (docs/concurrency.md). Store completions arrive on the store's
/// thread; `respond` closures hop to the requester's loop themselves.
package final class JetStreamService: Sendable {
    struct State {
        /// Consumers by stream, then name.
        var consumers: [String: [String: JetStreamConsumer]] = [:]
        /// JetStream settings the bus stream does not keep (description, deny flags …), by stream.
        var kept: [String: JetStreamStreamConfig] = [:]
        /// When each stream was created here (ns); streams made elsewhere show the service's start.
        var created: [String: UInt64] = [:]
        /// Interest streams: the sequence below which no-interest records were swept (`sweepInterest`).
        var interestSwept: [String: UInt64] = [:]
        /// Streams being republished, by the generation of their rounds (`startRepublishing`).
        var republishers: [String: UInt64] = [:]
        var republishGeneration: UInt64 = 0
        /// Streams copying their mirror or sources, by the generation of their rounds (`startSourcing`).
        var sourcers: [String: UInt64] = [:]
        var sourceGeneration: UInt64 = 0
        /// Where each copying stream stands with each origin, by stream, then origin.
        var sourceProgress: [String: [String: JetStreamSourceProgress]] = [:]
    }

    let bus: Bus
    /// The account limits and domain (config `nats.jetstream_*`).
    let limits: JetStreamAccountLimits
    let state = NIOLockedValueBox(State())
    let startedAt: UInt64
    let apiTotal = ManagedAtomic<Int>(0)
    let apiErrors = ManagedAtomic<Int>(0)
    /// Whether the durable consumers kept before a restart were read back (`restoreConsumersIfNeeded`).
    let restoredConsumers = ManagedAtomic(false)
    /// Durable consumer records waiting to be stored, and whether a caller is draining them (`persist`).
    let persistQueue = NIOLockedValueBox(PersistQueue())
    struct PersistQueue {
        var pending: [PersistItem] = []
        var draining = false
    }
    /// What `persist` stores: a durable consumer (or its deletion), or a stream's JetStream settings.
    enum PersistItem {
        case consumer(JetStreamConsumer, deleted: Bool)
        case stream(String)
    }
    /// Bounds of one pull request, as nats-server's defaults: its batch, and how long one wait slice lasts
    /// before redeliveries are looked at again.
    static let maxBatch = 10_000
    static let pollSlice: Int64 = 200_000_000
    /// Records read ahead per round of a pull (a filter may skip many), and how many rounds one serving takes.
    static let readAhead = 256
    static let maxReadRounds = 64

    /// `$JS/<domain>/API/` (as a topic) when a domain is configured: requests there are answered too.
    let domainAPIPrefix: String?

    package init(bus: Bus, limits: JetStreamAccountLimits = JetStreamAccountLimits()) {
        self.bus = bus
        self.limits = limits
        self.domainAPIPrefix = limits.domain.map { "$JS/\($0)/API/" }
        self.startedAt = bus.clock()
        watchClaims()
        watchConsumerNotices()
    }

    /// Answers a request whose responses go to `respond` (once).
    package typealias Respond = @Sendable (ByteBuffer) -> Void

    /// One `$JS.API.…` request. `tokens` are the subject's after `$JS.API.`.
    package func request(
        _ tokens: [Substring], payload: ByteBuffer, client: any JetStreamClient, reply: String?,
        respond: @escaping Respond
    ) {
        restoreConsumersIfNeeded()
        // Account info shows the requests before it (nats-server counts a request once it is answered).
        defer { apiTotal.wrappingIncrement(ordering: .relaxed) }
        let counted: Respond = { [apiErrors] answer in
            if answer.readableBytesView.starts(with: Array(#"{"error""#.utf8)) {
                apiErrors.wrappingIncrement(ordering: .relaxed)
            }
            respond(answer)
        }
        let words = tokens.map(String.init)
        sweepInterest(before: words)
        switch words.count {
        case 1 where words[0] == "INFO":
            return counted(accountInfo())
        case 2 where words[0] == "STREAM" && words[1] == "NAMES":
            return counted(streamNames(payload))
        case 2 where words[0] == "STREAM" && words[1] == "LIST":
            return counted(streamList(payload))
        case 3 where words[0] == "STREAM":
            let name = words[2]
            switch words[1] {
            case "CREATE": return createStream(name, payload: payload, respond: counted)
            case "UPDATE": return updateStream(name, payload: payload, respond: counted)
            case "INFO": return counted(streamInfoResponse(name, payload: payload))
            case "DELETE": return deleteStream(name, respond: counted)
            case "PURGE": return purgeStream(name, payload: payload, respond: counted)
            default: break
            }
        case 4 where words[0] == "STREAM" && words[1] == "MSG" && words[2] == "GET":
            return getMessage(words[3], payload: payload, on: client.eventLoop, respond: counted)
        case 4 where words[0] == "STREAM" && words[1] == "MSG" && words[2] == "DELETE":
            return deleteMessage(words[3], payload: payload, respond: counted)
        case 3... where words[0] == "DIRECT" && words[1] == "GET":
            return directGet(words, payload: payload, client: client, reply: reply)
        case 3... where words[0] == "CONSUMER":
            return consumerRequest(words, payload: payload, client: client, reply: reply, respond: counted)
        default:
            break
        }
        counted(JetStreamJSON.error("error_response", .badRequest))
    }

    /// Interest streams drop what no consumer wants before a request shows their records or starts a
    /// consumer on them.
    private func sweepInterest(before words: [String]) {
        switch (words.first, words.count) {
        case ("STREAM", 2) where words[1] == "LIST": sweepInterestStreams()
        case ("STREAM", 3) where words[1] == "INFO": sweepInterest(words[2])
        case ("STREAM", 4) where words[1] == "MSG" && words[2] == "GET": sweepInterest(words[3])
        case ("DIRECT", 3...): sweepInterest(words[2])
        case ("CONSUMER", 3...) where words[1] == "CREATE": sweepInterest(words[2])
        case ("CONSUMER", 4...) where words[1] == "DURABLE": sweepInterest(words[3])
        default: break
        }
    }

    // MARK: - Account

    /// A stream's bytes as nats-server reports them: each record's subject, headers and payload plus its
    /// store's fixed overhead per message (file 30, memory 16).
    static func storedBytes(_ info: StreamInfo, storage: StreamStorage) -> Int {
        info.recordBytes + info.messages * JetStreamStreamConfig.recordOverhead(storage)
    }

    func accountInfo() -> ByteBuffer {
        let streams = bus.streams.list().filter { JetStreamStreamConfig.isValidName($0.name) }
        var memory = 0
        var storage = 0
        for stream in streams {
            let info = stream.info
            let bytes = Self.storedBytes(info, storage: stream.storage)
            if stream.storage == .memory { memory += bytes } else { storage += bytes }
        }
        let consumers = state.withLockedValue { $0.consumers.values.reduce(0) { $0 + $1.count } }
        let reserved = reservedBytes(except: nil)
        return JetStreamJSON.response(
            "account_info_response",
            [
                "memory": memory, "storage": storage, "reserved_memory": reserved.memory,
                "reserved_storage": reserved.storage, "streams": streams.count, "consumers": consumers,
                "limits": limits.json, "domain": limits.domain ?? "",
                "api": ["total": apiTotal.load(ordering: .relaxed), "errors": apiErrors.load(ordering: .relaxed)],
            ])
    }

    /// The `max_bytes` the JetStream streams reserve, by storage (but `except`'s: a stream being changed).
    func reservedBytes(except name: String?) -> (memory: Int, storage: Int) {
        var memory = 0
        var storage = 0
        for stream in bus.streams.list() where JetStreamStreamConfig.isValidName(stream.name) && stream.name != name {
            guard let bytes = stream.configuration.limits.maxBytes, bytes > 0 else { continue }
            if stream.storage == .memory { memory += bytes } else { storage += bytes }
        }
        return (memory, storage)
    }

    /// A JetStream publish that would take the account past `max_storage` / `max_memory`: nats-server 2.9
    /// stores it, finds the account past its limit, removes it again and answers 10002; here it is
    /// refused before the append (nil: it may be stored).
    package func accountLimitRefusal(_ message: BusMessage) -> JetStreamAPIError? {
        guard limits.maxMemory >= 0 || limits.maxStorage >= 0,
            let box = bus.streams.matching(message.topic).first(where: { JetStreamStreamConfig.isValidName($0.name) })
        else { return nil }
        return accountLimitExceeded(by: message, in: box) ? .accountResourcesExceeded : nil
    }

    /// Whether storing `message` in `box` would take the account past its limit for `box`'s storage
    /// (what the JetStream streams of that storage hold, as account info counts it). A stream with
    /// `max_bytes` reserved its bytes when it was made — checked against the same limit then — so its
    /// publishes are held by its own `max_bytes`, not here.
    func accountLimitExceeded(by message: BusMessage, in box: StreamBox) -> Bool {
        let memory = box.storage == .memory
        let most = memory ? limits.maxMemory : limits.maxStorage
        guard most >= 0, JetStreamStreamConfig.isValidName(box.name) else { return false }
        if let reserved = box.configuration.limits.maxBytes, reserved > 0 { return false }
        var used = 0
        for stream in bus.streams.list()
        where JetStreamStreamConfig.isValidName(stream.name) && (stream.storage == .memory) == memory {
            used += Self.storedBytes(stream.info, storage: stream.storage)
        }
        let adding = StreamPartitionBox.recordBytes(of: message) + JetStreamStreamConfig.recordOverhead(box.storage)
        return used + adding > most
    }

    /// Why `configuration` may not be made (`creating`) or be `name`'s new settings, under the account limits.
    func limitsRefusal(_ configuration: StreamConfiguration, creating: Bool) -> JetStreamAPIError? {
        let memory = configuration.storage == .memory
        let others = bus.streams.list().filter {
            JetStreamStreamConfig.isValidName($0.name) && $0.name != configuration.name
        }
        let reserved = reservedBytes(except: configuration.name)
        return limits.refusal(
            maxBytes: configuration.limits.maxBytes, memory: memory, otherStreams: others.count, creating: creating,
            reservedElsewhere: memory ? reserved.memory : reserved.storage)
    }
}
