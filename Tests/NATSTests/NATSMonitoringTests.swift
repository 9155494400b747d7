import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

@testable import NATSFrontend
@testable import NATSWire

/// The monitoring documents made from real connections on EmbeddedChannels: what the handlers count,
/// what the directory collects, and the JSON nats-server's tools read.
@Suite struct NATSMonitoringTests {
    let harness = EmbeddedBusHarness()
    let services: NATSServices
    let monitor: NATSMonitor

    init(configuration: NATSConfiguration = NATSConfiguration(), authenticator: (any Authenticator)? = nil) {
        services = NATSServices(
            configuration: configuration, bus: harness.bus, connections: harness.connections,
            authenticator: authenticator ?? StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]))
        monitor = NATSMonitor(
            services: services, maxConnections: 10, threads: 1, monitorHost: "127.0.0.1", clientPort: { 4222 },
            monitorPort: { 8222 })
    }

    func connect(_ text: String) throws -> EmbeddedChannel {
        let channel = try harness.connectedChannel([NATSConnectionHandler(services: services)])
        try channel.receiveRead(ByteBuffer(string: text))
        return channel
    }

    func snapshots() throws -> [NATSConnectionSnapshot] {
        let future = services.directory.snapshots(on: harness.loop)
        harness.loop.run()
        return try future.wait()
    }

    static func parse(_ buffer: ByteBuffer) throws -> JSONValue {
        try Array(buffer.readableBytesView).withUnsafeBytes { try JSONParser.parse($0) }
    }

    @Test func connzCountsEachConnectionsTrafficAndListsItsSubscriptions() throws {
        let subscriber = try connect(
            #"CONNECT {"name":"sub","lang":"python3","version":"2.16.0"}"# + "\r\nSUB foo 1\r\nSUB bar.* q 2\r\n")
        let publisher = try connect("PUB foo 5\r\nhello\r\nPUB foo 2\r\nhi\r\nPUB baz 1\r\nx\r\n")
        _ = (subscriber, publisher)
        var options = NATSConnzOptions()
        options.subscriptions = .subjects
        let connz = try Self.parse(monitor.connz(try snapshots(), options: options, now: harness.bus.clock()))
        #expect(connz["num_connections"]?.intValue == 2)
        #expect(connz["total"]?.intValue == 2)
        #expect(connz["limit"]?.intValue == 1024)
        let list = try #require(connz["connections"]?.arrayValue)
        let first = list[0]
        #expect(first["kind"]?.stringValue == "Client")
        #expect(first["type"]?.stringValue == "nats")
        #expect(first["ip"]?.stringValue == "127.0.0.1")
        #expect(first["name"]?.stringValue == "sub")
        #expect(first["lang"]?.stringValue == "python3")
        #expect(first["version"]?.stringValue == "2.16.0")
        #expect(first["subscriptions"]?.intValue == 2)
        #expect(first["subscriptions_list"]?.arrayValue?.compactMap(\.stringValue) == ["foo", "bar.*"])
        #expect(first["in_msgs"]?.intValue == 0)
        #expect(first["out_msgs"]?.intValue == 2)
        #expect(first["out_bytes"]?.intValue == 7)
        let second = list[1]
        #expect(second["in_msgs"]?.intValue == 3)
        #expect(second["in_bytes"]?.intValue == 8)
        #expect(second["subscriptions_list"] == nil)
        #expect(second["name"] == nil)
        #expect(first["cid"]!.intValue! < second["cid"]!.intValue!)

        options.subscriptions = .detail
        options.sort = .messagesFrom
        options.limit = 1
        let detailed = try Self.parse(monitor.connz(try snapshots(), options: options, now: harness.bus.clock()))
        #expect(detailed["total"]?.intValue == 2)
        let only = try #require(detailed["connections"]?.arrayValue)
        #expect(only.count == 1 && only[0]["in_msgs"]?.intValue == 3)
        options.sort = .subs
        let bySubscriptions = try Self.parse(monitor.connz(try snapshots(), options: options, now: harness.bus.clock()))
        let detail = try #require(bySubscriptions["connections"]?.arrayValue?.first?["subscriptions_list_detail"])
        #expect(detail.arrayValue?[1]["qgroup"]?.stringValue == "q")
        #expect(detail.arrayValue?[0]["msgs"]?.intValue == 2)
        #expect(detail.arrayValue?[0]["sid"]?.stringValue == "1")
    }

    @Test func varzKeepsTheTrafficOfClosedConnections() throws {
        let subscriber = try connect("SUB a 1\r\n")
        let publisher = try connect("PUB a 3\r\nabc\r\n")
        _ = subscriber
        try publisher.close().wait()
        harness.loop.run()
        let varz = try Self.parse(monitor.varz(try snapshots(), now: harness.bus.clock()))
        #expect(varz["in_msgs"]?.intValue == 1)
        #expect(varz["in_bytes"]?.intValue == 3)
        #expect(varz["out_msgs"]?.intValue == 1)
        #expect(varz["connections"]?.intValue == 1)
        #expect(varz["total_connections"]?.intValue == 2)
        #expect(varz["subscriptions"]?.intValue == 1)
        #expect(varz["server_id"]?.stringValue == services.serverID)
        #expect(varz["port"]?.intValue == 4222)
        #expect(varz["http_port"]?.intValue == 8222)
        #expect(varz["max_payload"]?.intValue == 1_048_576)
        #expect(varz["ping_interval"]?.intValue == 120_000_000_000)
        #expect(varz["cluster"] == .object([]))
        #expect(varz["auth_required"] == nil)

        let subsz = try Self.parse(monitor.subsz(try snapshots(), options: NATSConnzOptions(), now: 0))
        #expect(subsz["num_subscriptions"]?.intValue == 1)
        #expect(subsz["num_inserts"]?.intValue == 1)
        #expect(subsz["subscriptions_list"] == nil)
        var listed = NATSConnzOptions()
        listed.subscriptions = .subjects
        let subszListed = try Self.parse(monitor.subsz(try snapshots(), options: listed, now: 0))
        #expect(subszListed["subscriptions_list"]?.arrayValue?.first?["account"]?.stringValue == "$G")
        #expect(subszListed["subscriptions_list"]?.arrayValue?.first?["subject"]?.stringValue == "a")

        let routez = try Self.parse(monitor.routez(now: 0))
        #expect(routez["num_routes"]?.intValue == 0 && routez["routes"] == .array([]))
    }

    @Test func closedConnectionsLeaveConnz() throws {
        let channel = try connect("SUB a 1\r\n")
        try channel.close().wait()
        harness.loop.run()
        #expect(try snapshots().isEmpty)
        #expect(services.directory.subscriptionRemoves == 1)
    }

    @Test func lameDuckModeSendsInfoWithLDM() throws {
        let channel = try connect("CONNECT {}\r\n")
        _ = try channel.writtenBuffers()
        for handler in services.directory.connections() { handler.enterLameDuckMode() }
        harness.loop.run()
        let text = try channel.writtenBuffers().map { String(buffer: $0) }.joined()
        #expect(text.hasPrefix("INFO {") && text.contains("\"ldm\":true"), "\(text)")
        #expect(channel.isActive)
        // Then closed without a word, as nats-server closes them.
        services.directory.connections().first?.requestClose(.shutdown)
        harness.loop.run()
        #expect(!channel.isActive)
    }

    @Test func lameDuckClosingIsPacedAsNATSServerPacesIt() {
        #expect(NATSLameDuckService.closeInterval(clients: 10, seconds: 110) == .seconds(1))
        #expect(NATSLameDuckService.closeInterval(clients: 4, seconds: 1) == .milliseconds(250))
        #expect(NATSLameDuckService.closeInterval(clients: 0, seconds: 1) == .zero)
    }
}

/// The query of `/connz` and `/subsz`, and the string forms, as nats-server reads and writes them.
@Suite struct NATSConnzOptionsTests {
    @Test func queryIsReadAsNATSServerReadsIt() throws {
        let options = try NATSConnzOptions(query: [
            "subs": ["1"], "sort": ["bytes_to"], "limit": ["5"], "offset": ["2"], "auth": ["true"], "cid": ["7"],
        ])
        #expect(options.subscriptions == .subjects)
        #expect(options.sort == .bytesTo)
        #expect(options.limit == 5 && options.offset == 2 && options.authorizedUser && options.clientID == 7)
        #expect(try NATSConnzOptions(query: ["subs": ["detail"]]).subscriptions == .detail)
        #expect(throws: NATSMonitorError("invalid sorting option: bogus")) {
            try NATSConnzOptions(query: ["sort": ["bogus"]])
        }
        #expect(throws: NATSMonitorError("sort by stop only valid on closed connections")) {
            try NATSConnzOptions(query: ["sort": ["stop"]])
        }
        #expect(try NATSConnzOptions(query: ["state": ["closed"], "sort": ["stop"]]).state == .closed)
    }

    @Test func pagingAndSorting() {
        let connections = (1...5).map { id in
            var snapshot = NATSConnectionSnapshot(clientID: UInt64(id), startedAt: 100 - UInt64(id), lastActivityAt: 0)
            snapshot.traffic.inMessages = id % 3
            return snapshot
        }
        var options = NATSConnzOptions()
        options.offset = 1
        options.limit = 2
        #expect(options.select(connections, now: 200).page.map(\.clientID) == [2, 3])
        options.sort = .messagesFrom
        // Descending by in_msgs (2, 2, 1, 1, 0), ties by cid.
        #expect(options.select(connections, now: 200).page.map(\.clientID) == [5, 1])
        options.sort = .start
        options.offset = 0
        options.limit = 10
        #expect(options.select(connections, now: 200).page.map(\.clientID) == [5, 4, 3, 2, 1])
        options.offset = 9
        #expect(options.select(connections, now: 200) == ([], 5))
    }

    @Test func uptimeIsWrittenAsNATSServerWritesIt() {
        let second: UInt64 = 1_000_000_000
        #expect(NATSMonitorFormat.uptime(nanoseconds: 0) == "0s")
        #expect(NATSMonitorFormat.uptime(nanoseconds: 59 * second) == "59s")
        #expect(NATSMonitorFormat.uptime(nanoseconds: 61 * second) == "1m1s")
        #expect(NATSMonitorFormat.uptime(nanoseconds: 3_661 * second) == "1h1m1s")
        #expect(NATSMonitorFormat.uptime(nanoseconds: 90_061 * second) == "1d1h1m1s")
        #expect(NATSMonitorFormat.uptime(nanoseconds: 366 * 86_400 * second) == "1y1d0h0m0s")
        #expect(NATSMonitorFormat.time(1_500_000_000 * second) == "2017-07-14T02:40:00.000Z")
    }
}

/// `no_auth_user`: a client without credentials becomes that user when authentication is on.
@Suite struct NATSNoAuthUserTests {
    struct UsersAuthenticator: Authenticator {
        var allowsAnonymous: Bool { false }
        func authenticate(_ credentials: ClientCredentials) -> AuthOutcome {
            credentials.username == "bar" && credentials.password == "bar"
                ? .accepted(ClientIdentity(userID: "bar")) : .refused("bad user name or password")
        }
        func identity(ofUser name: String, clientID: String?) -> ClientIdentity? {
            name == "guest" ? ClientIdentity(userID: "guest") : nil
        }
    }

    func connect(_ connect: String, noAuthUser: String?) throws -> (EmbeddedChannel, String, ConnectionRegistry) {
        let harness = EmbeddedBusHarness()
        var configuration = NATSConfiguration()
        configuration.noAuthUser = noAuthUser
        let services = NATSServices(
            configuration: configuration, bus: harness.bus, connections: harness.connections,
            authenticator: UsersAuthenticator())
        let channel = try harness.connectedChannel([NATSConnectionHandler(services: services)])
        _ = try channel.writtenBuffers()
        try channel.receiveRead(ByteBuffer(string: connect + "\r\nPING\r\n"))
        let text = try channel.writtenBuffers().map { String(buffer: $0) }.joined()
        return (channel, text, harness.connections)
    }

    @Test func aClientWithoutCredentialsBecomesTheUser() throws {
        let (channel, text, connections) = try connect(#"CONNECT {"verbose":true}"#, noAuthUser: "guest")
        #expect(text == "+OK\r\nPONG\r\n")
        #expect(channel.isActive)
        #expect(connections.list().first?.userID == "guest")
    }

    @Test func credentialsStillCountAndWrongOnesAreRefused() throws {
        let (_, good, connections) = try connect(#"CONNECT {"user":"bar","pass":"bar"}"#, noAuthUser: "guest")
        #expect(good == "PONG\r\n")
        #expect(connections.list().first?.userID == "bar")
        let (channel, bad, _) = try connect(#"CONNECT {"user":"bar","pass":"nope"}"#, noAuthUser: "guest")
        #expect(bad.hasPrefix("-ERR 'Authorization Violation'"))
        #expect(!channel.isActive)
    }

    @Test func withoutTheSettingNoCredentialsIsAViolation() throws {
        let (_, text, _) = try connect("CONNECT {}", noAuthUser: nil)
        #expect(text.hasPrefix("-ERR 'Authorization Violation'"))
    }
}
