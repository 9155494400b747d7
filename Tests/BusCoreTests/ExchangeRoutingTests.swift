import BusCore
import Testing

/// Exchanges, bindings and routing with RabbitMQ's rules: every exchange type, the default and predeclared
/// exchanges, exchange-to-exchange bindings, alternate exchanges, auto-delete and the refusal texts.
@Suite struct ExchangeRoutingTests {
    func table(queues: [String] = ["q1", "q2", "q3"]) -> ExchangeTable {
        var table = ExchangeTable()
        for queue in queues { table.addQueue(queue) }
        return table
    }

    func route(_ table: ExchangeTable, _ exchange: String, _ key: String, _ headers: [String: HeaderValue] = [:])
        throws -> [String]
    {
        try table.route(exchange: exchange, routingKey: key) { headers }.queues
    }

    func bindQueue(_ table: inout ExchangeTable, _ exchange: String, _ queue: String, _ key: String = "") throws {
        try table.bind(ExchangeBinding(source: exchange, destination: .queue(queue), routingKey: key))
    }

    @Test func defaultExchangeRoutesToTheQueueNamedByTheKey() throws {
        var table = table()
        #expect(try route(table, "", "q1") == ["q1"])
        #expect(try table.route(exchange: "", routingKey: "nope").isUnroutable)
        table.removeQueue("q1")
        #expect(try route(table, "", "q1").isEmpty)
        let refusal = BrokerRefusal(.accessRefused, "operation not permitted on the default exchange")
        #expect(throws: refusal) { try bindQueue(&table, "", "q2", "q2") }
        #expect(throws: refusal) { try table.declare(ExchangeDefinition(name: "", type: .direct)) }
        #expect(throws: refusal) { try table.delete(exchange: "") }
        #expect(throws: refusal) { try table.declarePassive("") }
    }

    @Test func directExchangeMatchesTheWholeKey() throws {
        var table = table()
        try bindQueue(&table, "amq.direct", "q1", "a")
        try bindQueue(&table, "amq.direct", "q2", "a")
        try bindQueue(&table, "amq.direct", "q3", "b")
        #expect(try route(table, "amq.direct", "a") == ["q1", "q2"])
        #expect(try route(table, "amq.direct", "b") == ["q3"])
        #expect(try route(table, "amq.direct", "a.b").isEmpty)
        // With CC keys, each queue once.
        #expect(try table.route(exchange: "amq.direct", routingKeys: ["a", "b", "a"]).queues == ["q1", "q2", "q3"])
    }

    @Test func fanoutExchangeIgnoresTheKey() throws {
        var table = table()
        try bindQueue(&table, "amq.fanout", "q2", "x")
        try bindQueue(&table, "amq.fanout", "q1")
        #expect(try route(table, "amq.fanout", "anything") == ["q1", "q2"])
    }

    @Test(
        arguments: [
            ("#", "", true), ("#", "a", true), ("#", "a.b.c", true), ("*", "", false), ("*", "a", true),
            ("*", "a.b", false), ("", "", true), ("", "a", false), ("a.#.b", "a.b", true), ("a.#.b", "a.x.y.b", true),
            ("a.#.b", "a.b.c", false), ("a.*.b", "a.b", false), ("a.*.b", "a.x.b", true), ("a..b", "a..b", true),
            ("a.*.b", "a..b", true), ("a..b", "a.b", false), ("#.#", "", true), ("#.#", "a.b", true),
            ("a.#", "a", true), ("#.a", "a", true), ("#.a", "b.a", true), ("#.a", "a.b", false),
            ("*.#", "", false), ("*.#", "a", true), ("#.*", "a.b", true), ("a.*", "a.", true), ("a.*.#", "a.b", true),
            ("a.*.#.c", "a.b.c", true), ("a.*.#.c", "a.c", false), ("#.b.#", "a.b.c", true), ("#.b.#", "b", true),
            ("a.b", "a.b", true), ("a.b", "a.bb", false),
        ] as [(String, String, Bool)])
    func topicMatching(pattern: String, key: String, matches: Bool) throws {
        var table = table()
        try bindQueue(&table, "amq.topic", "q1", pattern)
        #expect(try route(table, "amq.topic", key) == (matches ? ["q1"] : []), "\(pattern) vs \(key)")
    }

    @Test func topicBindingsCombineAndUnbindPrunesOnlyTheirOwn() throws {
        var table = table()
        try bindQueue(&table, "amq.topic", "q1", "orders.*")
        try bindQueue(&table, "amq.topic", "q1", "orders.#")
        try bindQueue(&table, "amq.topic", "q2", "orders.eu")
        try bindQueue(&table, "amq.topic", "q3", "#")
        #expect(try route(table, "amq.topic", "orders.eu") == ["q1", "q2", "q3"])
        try table.unbind(ExchangeBinding(source: "amq.topic", destination: .queue("q1"), routingKey: "orders.*"))
        #expect(try route(table, "amq.topic", "orders.eu") == ["q1", "q2", "q3"])
        try table.unbind(ExchangeBinding(source: "amq.topic", destination: .queue("q1"), routingKey: "orders.#"))
        try table.unbind(ExchangeBinding(source: "amq.topic", destination: .queue("q3"), routingKey: "#"))
        #expect(try route(table, "amq.topic", "orders.eu") == ["q2"])
        #expect(try route(table, "amq.topic", "orders.us").isEmpty)
    }

    @Test func headersExchangeMatchesAllOrAny() throws {
        var table = table(queues: ["all", "any", "allx", "anyx", "empty", "presence", "number"])
        func bind(_ queue: String, _ arguments: [String: HeaderValue]) throws {
            try table.bind(ExchangeBinding(source: "amq.headers", destination: .queue(queue), arguments: arguments))
        }
        try bind("all", ["x-match": .string("all"), "format": .string("pdf"), "type": .string("report")])
        try bind("any", ["x-match": .string("any"), "format": .string("pdf"), "type": .string("log")])
        try bind("allx", ["x-match": .string("all-with-x"), "x-tenant": .string("t1"), "format": .string("pdf")])
        try bind("anyx", ["x-match": .string("any-with-x"), "x-tenant": .string("t1")])
        try bind("empty", ["x-tenant": .string("ignored")])  // all, with nothing to compare: everything
        try bind("presence", ["x-match": .string("any"), "flag": .void])
        try bind("number", ["count": .integer(1)])
        #expect(
            try route(table, "amq.headers", "", ["format": .string("pdf"), "type": .string("report")])
                == ["all", "any", "empty"])
        #expect(try route(table, "amq.headers", "", ["type": .string("log")]) == ["any", "empty"])
        #expect(
            try route(table, "amq.headers", "", ["format": .string("pdf"), "x-tenant": .string("t1")])
                == ["allx", "any", "anyx", "empty"])
        #expect(try route(table, "amq.headers", "", ["flag": .bool(false)]) == ["empty", "presence"])
        #expect(try route(table, "amq.headers", "", ["count": .double(1.0)]) == ["empty", "number"])
        #expect(try route(table, "amq.headers", "", ["count": .string("1")]) == ["empty"])
        #expect(try route(table, "amq.match", "", ["count": .integer(1)]).isEmpty)
        #expect(throws: BrokerRefusal.self) { try bind("any", ["x-match": .string("some")]) }
        #expect(table.bindings(to: .queue("any")).count == 1)  // the refused binding left nothing
    }

    @Test func headersAreAskedForOnlyByHeadersExchanges() throws {
        var table = table()
        try bindQueue(&table, "amq.direct", "q1", "k")
        var asked = 0
        _ = try table.route(exchange: "amq.direct", routingKey: "k") {
            asked += 1
            return [:]
        }
        #expect(asked == 0)
    }

    @Test func exchangeToExchangeBindingsAndCycles() throws {
        var table = table()
        try table.declare(ExchangeDefinition(name: "a", type: .fanout))
        try table.declare(ExchangeDefinition(name: "b", type: .topic))
        try table.declare(ExchangeDefinition(name: "c", type: .direct))
        try table.bind(ExchangeBinding(source: "a", destination: .exchange("b")))
        try table.bind(ExchangeBinding(source: "b", destination: .exchange("c"), routingKey: "k.#"))
        try table.bind(ExchangeBinding(source: "c", destination: .exchange("a"), routingKey: "k.x"))  // a cycle
        try table.bind(ExchangeBinding(source: "b", destination: .exchange("b"), routingKey: "#"))  // a loop
        try bindQueue(&table, "a", "q1")
        try bindQueue(&table, "b", "q2", "k.*")
        try bindQueue(&table, "c", "q3", "k.x")
        try bindQueue(&table, "c", "q1", "k.x")
        #expect(try route(table, "a", "k.x") == ["q1", "q2", "q3"])
        #expect(try route(table, "c", "k.x") == ["q1", "q2", "q3"])
        #expect(try route(table, "a", "other") == ["q1"])
        #expect(throws: BrokerRefusal(.notFound, "no exchange 'missing' in vhost '/'")) {
            try table.bind(ExchangeBinding(source: "a", destination: .exchange("missing")))
        }
        #expect(throws: BrokerRefusal(.notFound, "no queue 'missing' in vhost '/'")) {
            try bindQueue(&table, "a", "missing")
        }
        #expect(throws: BrokerRefusal(.notFound, "no exchange 'nope' in vhost '/'")) {
            try bindQueue(&table, "nope", "q1")
        }
    }

    @Test func alternateExchangesTakeWhatAnExchangeRoutesNowhere() throws {
        var table = table()
        try table.declare(ExchangeDefinition(name: "main", type: .direct, alternateExchange: "spill"))
        try table.declare(ExchangeDefinition(name: "spill", type: .fanout, alternateExchange: "main"))
        try bindQueue(&table, "main", "q1", "known")
        #expect(try route(table, "main", "known") == ["q1"])
        #expect(try route(table, "main", "unknown").isEmpty)  // spill routes nowhere; its AE is main: seen
        try bindQueue(&table, "spill", "q2")
        #expect(try route(table, "main", "unknown") == ["q2"])
        // An alternate exchange that does not exist is skipped.
        try table.declare(ExchangeDefinition(name: "lost", type: .direct, alternateExchange: "ghost"))
        #expect(try route(table, "lost", "k").isEmpty)
        // The alternate exchange applies to the exchange that matched nothing, not to later hops.
        try table.declare(ExchangeDefinition(name: "hop", type: .direct, alternateExchange: "spill"))
        try table.declare(ExchangeDefinition(name: "empty", type: .direct))
        try table.bind(ExchangeBinding(source: "hop", destination: .exchange("empty"), routingKey: "k"))
        #expect(try route(table, "hop", "k").isEmpty)
        #expect(try route(table, "hop", "z") == ["q2"])
    }

    @Test func internalExchangesTakeOnlyRoutedMessages() throws {
        var table = table()
        try table.declare(ExchangeDefinition(name: "inner", type: .fanout, internal: true))
        try table.bind(ExchangeBinding(source: "amq.fanout", destination: .exchange("inner")))
        try bindQueue(&table, "inner", "q1")
        #expect(try route(table, "amq.fanout", "") == ["q1"])
        #expect(throws: BrokerRefusal(.accessRefused, "cannot publish to internal exchange 'inner' in vhost '/'")) {
            try route(table, "inner", "")
        }
        #expect(throws: BrokerRefusal(.notFound, "no exchange 'none' in vhost '/'")) { try route(table, "none", "") }
    }

    @Test func predeclaredExchangesExistAndCannotBeDeleted() throws {
        var table = ExchangeTable()
        #expect(table.exchangeNames == ["", "amq.direct", "amq.fanout", "amq.headers", "amq.match", "amq.topic"])
        #expect(table.exchange("amq.match")?.type == .headers)
        #expect(
            throws: BrokerRefusal(.accessRefused, "deletion of system exchange 'amq.topic' in vhost '/' not allowed")
        ) {
            try table.delete(exchange: "amq.topic")
        }
        #expect(throws: BrokerRefusal(.accessRefused, "exchange name 'amq.mine' contains reserved prefix 'amq.*'")) {
            try table.declare(ExchangeDefinition(name: "amq.mine", type: .direct))
        }
        // Redeclaring a predeclared exchange as it is succeeds.
        #expect(try table.declare(ExchangeDefinition(name: "amq.direct", type: .direct)) == false)
    }

    @Test func redeclareMustBeEquivalent() throws {
        var table = ExchangeTable()
        #expect(try table.declare(ExchangeDefinition(name: "x", type: .direct, alternateExchange: "ae1")))
        #expect(try table.declare(ExchangeDefinition(name: "x", type: .direct, alternateExchange: "ae1")) == false)
        let prefix = "inequivalent arg"
        let cases: [(ExchangeDefinition, String)] = [
            (
                ExchangeDefinition(name: "x", type: .fanout),
                "\(prefix) 'type' for exchange 'x' in vhost '/': received 'fanout' but current is 'direct'"
            ),
            (
                ExchangeDefinition(name: "x", type: .direct, durable: false),
                "\(prefix) 'durable' for exchange 'x' in vhost '/': received 'false' but current is 'true'"
            ),
            (
                ExchangeDefinition(name: "x", type: .direct, autoDelete: true),
                "\(prefix) 'auto_delete' for exchange 'x' in vhost '/': received 'true' but current is 'false'"
            ),
            (
                ExchangeDefinition(name: "x", type: .direct, internal: true),
                "\(prefix) 'internal' for exchange 'x' in vhost '/': received 'true' but current is 'false'"
            ),
            (
                ExchangeDefinition(name: "x", type: .direct, alternateExchange: "ae2"),
                "\(prefix) 'alternate-exchange' for exchange 'x' in vhost '/': received the value 'ae2' of type "
                    + "'longstr' but current is the value 'ae1' of type 'longstr'"
            ),
            (
                ExchangeDefinition(name: "x", type: .direct),
                "\(prefix) 'alternate-exchange' for exchange 'x' in vhost '/': received none but current is the "
                    + "value 'ae1' of type 'longstr'"
            ),
        ]
        for (definition, text) in cases {
            #expect(throws: BrokerRefusal(.preconditionFailed, text)) { try table.declare(definition) }
        }
        #expect(try table.declarePassive("x").alternateExchange == "ae1")
        #expect(throws: BrokerRefusal(.notFound, "no exchange 'y' in vhost '/'")) { try table.declarePassive("y") }
    }

    @Test func deleteWithIfUnusedAndIdempotentDeletes() throws {
        var table = table()
        try table.declare(ExchangeDefinition(name: "x", type: .fanout))
        try table.declare(ExchangeDefinition(name: "up", type: .fanout))
        try table.bind(ExchangeBinding(source: "up", destination: .exchange("x")))
        try bindQueue(&table, "x", "q1")
        #expect(throws: BrokerRefusal(.preconditionFailed, "exchange 'x' in vhost '/' in use")) {
            try table.delete(exchange: "x", ifUnused: true)
        }
        #expect(try table.delete(exchange: "x").isEmpty)
        #expect(table.exchange("x") == nil && table.bindings(from: "up").isEmpty)
        #expect(table.bindings(to: .queue("q1")).isEmpty)
        #expect(try table.delete(exchange: "x").isEmpty)  // already gone: fine
        #expect(try table.delete(exchange: "up", ifUnused: true).isEmpty)
    }

    @Test func autoDeleteWhenTheLastBindingGoes() throws {
        var table = table()
        try table.declare(ExchangeDefinition(name: "auto", type: .direct, autoDelete: true))
        try table.declare(ExchangeDefinition(name: "feeder", type: .fanout, autoDelete: true))
        #expect(table.exchange("auto") != nil)  // not before it ever had a binding
        try table.bind(ExchangeBinding(source: "feeder", destination: .exchange("auto")))
        try bindQueue(&table, "auto", "q1", "a")
        try bindQueue(&table, "auto", "q2", "b")
        #expect(try table.unbind(ExchangeBinding(source: "auto", destination: .queue("q1"), routingKey: "a")).isEmpty)
        // Unbinding what is not bound is fine.
        #expect(try table.unbind(ExchangeBinding(source: "auto", destination: .queue("q1"), routingKey: "a")).isEmpty)
        #expect(try table.unbind(ExchangeBinding(source: "nope", destination: .queue("q9"))).isEmpty)
        // Deleting the last queue bound takes "auto", whose deletion unbinds "feeder", which goes too.
        #expect(table.removeQueue("q2") == ["auto", "feeder"])
        #expect(table.exchange("auto") == nil && table.exchange("feeder") == nil)
    }

    @Test func bindIsIdempotentAndArgumentsMakeBindingsDistinct() throws {
        var table = table()
        try bindQueue(&table, "amq.direct", "q1", "k")
        try bindQueue(&table, "amq.direct", "q1", "k")
        #expect(table.bindings(from: "amq.direct").count == 1)
        let withArguments = ExchangeBinding(
            source: "amq.direct", destination: .queue("q1"), routingKey: "k", arguments: ["a": .integer(1)])
        try table.bind(withArguments)
        #expect(table.bindings(from: "amq.direct").count == 2)
        #expect(try route(table, "amq.direct", "k") == ["q1"])
        try table.unbind(ExchangeBinding(source: "amq.direct", destination: .queue("q1"), routingKey: "k"))
        #expect(try route(table, "amq.direct", "k") == ["q1"])  // the binding with arguments still routes
        try table.unbind(withArguments)
        #expect(try route(table, "amq.direct", "k").isEmpty)
        #expect(table == self.table())  // back to where it started
    }
}
