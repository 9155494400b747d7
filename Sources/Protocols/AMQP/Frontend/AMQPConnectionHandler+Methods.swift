import AMQPWire
import BusCore
import BusRuntime
import FrontendKit
import NIOCore

/// Channel, exchange, queue, confirm and tx methods (AMQP 0-9-1 §1.5–1.9 with RabbitMQ's extensions).
extension AMQPConnectionHandler {
    func methodReceived(_ method: AMQPMethod, on channel: AMQPChannel) {
        switch method {
        case .connection:
            run(
                machine.errorRaised(
                    .exception(.commandInvalid, "connection method on channel \(channel.number)", classID: 10)))
        case .channel(let method):
            channelMethod(method, on: channel)
        case .exchange(let method):
            exchangeMethod(method, on: channel)
        case .queue(let method):
            queueMethod(method, on: channel)
        case .basic(let method):
            basicMethod(method, on: channel)
        case .confirm(.select(let noWait)):
            guard !channel.transactional else {
                return fail(
                    .exception(
                        .preconditionFailed, "cannot switch from tx to confirm mode", classID: 85, methodID: 10),
                    on: channel)
            }
            channel.confirming = true
            if !noWait { write(.confirm(.selectOk), channel: channel.number) }
        case .confirm(.selectOk):
            unexpected(method, on: channel)
        case .tx(let method):
            txMethod(method, on: channel)
        }
    }

    private func unexpected(_ method: AMQPMethod, on channel: AMQPChannel) {
        fail(
            .exception(
                .commandInvalid, "unexpected method \(method.name)", classID: method.classID, methodID: method.methodID),
            on: channel)
    }

    // MARK: - channel

    private func channelMethod(_ method: AMQPChannelMethod, on channel: AMQPChannel) {
        switch method {
        case .open:
            run(
                machine.errorRaised(
                    .exception(.channelError, "second 'channel.open' seen", classID: 20, methodID: 10)))
        case .flow(let active):
            guard active else {
                return fail(
                    .exception(.notImplemented, "active=false", classID: 20, methodID: 20), on: channel)
            }
            write(.channel(.flowOk(active: true)), channel: channel.number)
        case .close:
            release(channel)
            channels[channel.number] = nil
            write(.channel(.closeOk), channel: channel.number)
        case .closeOk:
            // Only meaningful while closing (handled before methods reach here).
            break
        case .openOk, .flowOk:
            unexpected(.channel(method), on: channel)
        }
    }

    // MARK: - exchange

    private func exchangeMethod(_ method: AMQPExchangeMethod, on channel: AMQPChannel) {
        switch method {
        case .declare(let declare):
            do throws(BrokerRefusal) {
                if declare.passive {
                    _ = try broker.existingExchange(declare.exchange)
                } else {
                    guard let type = ExchangeType(rawValue: declare.type) else {
                        // RabbitMQ 4 (rabbit_exchange:check_type): 406 on the channel; 3.10 closed the connection
                        // with 503 COMMAND_INVALID.
                        throw BrokerRefusal(.preconditionFailed, "unknown exchange type '\(declare.type)'")
                    }
                    try checkAccess(.configure, "exchange", declare.exchange)
                    if let alternate = declare.arguments["alternate-exchange"]?.stringValue {
                        try checkAccess(.write, "exchange", alternate)
                        try checkAccess(.read, "exchange", declare.exchange)
                    }
                    try broker.declareExchange(
                        ExchangeDefinition(
                            name: declare.exchange, type: type, durable: declare.durable,
                            autoDelete: declare.autoDelete, internal: declare.internal,
                            alternateExchange: declare.arguments["alternate-exchange"]?.stringValue))
                }
            } catch {
                return fail(error, on: channel, classID: 40, methodID: 10)
            }
            if !declare.noWait { write(.exchange(.declareOk), channel: channel.number) }
        case .delete(let delete):
            do throws(BrokerRefusal) {
                try checkAccess(.configure, "exchange", delete.exchange)
                try broker.deleteExchange(delete.exchange, ifUnused: delete.ifUnused)
            } catch {
                return fail(error, on: channel, classID: 40, methodID: 20)
            }
            if !delete.noWait { write(.exchange(.deleteOk), channel: channel.number) }
        case .bind(let bind), .unbind(let bind):
            let unbinding = if case .unbind = method { true } else { false }
            do throws(BrokerRefusal) {
                try checkAccess(.write, "exchange", bind.destination)
                try checkAccess(.read, "exchange", bind.source)
                try broker.bindExchange(
                    ExchangeBinding(
                        source: bind.source, destination: .exchange(bind.destination), routingKey: bind.routingKey,
                        arguments: AMQPMessageMapping.headerValues(bind.arguments)),
                    unbind: unbinding)
            } catch {
                return fail(error, on: channel, classID: 40, methodID: unbinding ? 40 : 30)
            }
            if !bind.noWait { write(.exchange(unbinding ? .unbindOk : .bindOk), channel: channel.number) }
        case .declareOk, .deleteOk, .bindOk, .unbindOk:
            unexpected(.exchange(method), on: channel)
        }
    }

    // MARK: - queue

    private func queueMethod(_ method: AMQPQueueMethod, on channel: AMQPChannel) {
        switch method {
        case .declare(let declare):
            queueDeclare(declare, on: channel)
        case .bind(let bind):
            queueBind(
                queue: bind.queue, exchange: bind.exchange, key: bind.routingKey, arguments: bind.arguments,
                unbind: false, noWait: bind.noWait, on: channel)
        case .unbind(let unbind):
            queueBind(
                queue: unbind.queue, exchange: unbind.exchange, key: unbind.routingKey, arguments: unbind.arguments,
                unbind: true, noWait: false, on: channel)
        case .purge(let name, let noWait):
            let host: QueueHost
            do throws(BrokerRefusal) {
                try checkAccess(.read, "queue", name)
                host = try broker.queue(name, owner: connectionID)
            } catch {
                return fail(error, on: channel, classID: 50, methodID: 30)
            }
            // Instances sharing the store: the queue is claimed first, so the purge acts on its messages as
            // the database holds them and purge-ok counts them (refused 405 while another instance
            // consumes it; docs/storage.md "AMQP durable queues").
            awaitOwnedAnswer(from: host, { $0.purge() }) { handler, result in
                switch result {
                case .success(let purged):
                    if !noWait {
                        handler.write(.queue(.purgeOk(messageCount: UInt32(clamping: purged))), channel: channel.number)
                    }
                case .failure(let refusal):
                    handler.fail(refusal, on: channel, classID: 50, methodID: 30)
                }
            }
        case .delete(let delete):
            let host: QueueHost
            do throws(BrokerRefusal) {
                try checkAccess(.configure, "queue", delete.queue)
                host = try broker.queue(delete.queue, owner: connectionID)
            } catch {
                // RabbitMQ: deleting a queue that does not exist succeeds (since 3.2).
                if error.kind == .notFound {
                    if !delete.noWait { write(.queue(.deleteOk(messageCount: 0)), channel: channel.number) }
                    return
                }
                return fail(error, on: channel, classID: 50, methodID: 40)
            }
            let (ifUnused, ifEmpty) = (delete.ifUnused, delete.ifEmpty)
            // Instances sharing the store: claimed first, as a purge (`if-unused` and `if-empty` then judge
            // the queue as the database holds it, and no other instance goes on serving a copy).
            awaitOwnedAnswer(
                from: host,
                { host -> Result<Int, BrokerRefusal> in
                    do throws(BrokerRefusal) {
                        return .success(try host.delete(ifUnused: ifUnused, ifEmpty: ifEmpty))
                    } catch { return .failure(error) }
                }
            ) { handler, owned in
                // Deleted meanwhile: deleting what is not there succeeds, as above.
                let result = owned.flatMap { $0 }.flatMapError { refusal -> Result<Int, BrokerRefusal> in
                    refusal.kind == .notFound ? .success(0) : .failure(refusal)
                }
                switch result {
                case .success(let count):
                    if !delete.noWait {
                        handler.write(.queue(.deleteOk(messageCount: UInt32(clamping: count))), channel: channel.number)
                    }
                case .failure(let refusal):
                    handler.fail(refusal, on: channel, classID: 50, methodID: 40)
                }
            }
        case .declareOk, .bindOk, .purgeOk, .deleteOk, .unbindOk:
            unexpected(.queue(method), on: channel)
        }
    }

    private func queueDeclare(_ declare: AMQPQueueDeclare, on channel: AMQPChannel) {
        let number = channel.number
        func answer(_ handler: AMQPConnectionHandler, _ name: String, _ counts: (Int, Int)) {
            guard !declare.noWait else { return }
            handler.write(
                .queue(
                    .declareOk(
                        AMQPQueueDeclareOk(
                            queue: name, messageCount: UInt32(clamping: counts.0),
                            consumerCount: UInt32(clamping: counts.1)))), channel: number)
        }
        if declare.passive {
            let host: QueueHost
            do throws(BrokerRefusal) { host = try broker.queue(declare.queue, owner: connectionID) } catch {
                return fail(error, on: channel, classID: 50, methodID: 10)
            }
            return awaitAnswer(from: host, { ($0.readyCount, $0.consumerCount) }) { handler, counts in
                answer(handler, host.name, counts)
            }
        }
        var name = declare.queue
        if name.isEmpty {
            name = "amq.gen-" + bus.makeIdentifier() + bus.makeIdentifier()
        } else if name.hasPrefix("amq.") {
            return fail(
                BrokerRefusal(.accessRefused, "queue name '\(name)' contains reserved prefix 'amq.*'"), on: channel,
                classID: 50, methodID: 10)
        }
        let declaration: QueueBroker.QueueDeclaration
        do throws(BrokerRefusal) {
            declaration = QueueBroker.QueueDeclaration(
                name: name, durable: declare.durable, exclusive: declare.exclusive, autoDelete: declare.autoDelete,
                arguments: try QueueArguments(
                    declared: AMQPMessageMapping.headerValues(declare.arguments), queue: name,
                    vhost: broker.virtualHost),
                declaredArguments: AMQPMessageMapping.headerValues(declare.arguments))
            try checkAccess(.configure, "queue", name)
            if let deadLetterExchange = declaration.arguments.deadLetterExchange {
                // RabbitMQ (rabbit_channel:check_dlx): writing to the dead-letter exchange, reading the queue.
                try checkAccess(.write, "exchange", deadLetterExchange)
                try checkAccess(.read, "queue", name)
            }
            if broker.queues.count >= services.configuration.maxQueues,
                (try? broker.queue(name, owner: connectionID)) == nil
            {
                throw BrokerRefusal(
                    .preconditionFailed,
                    "cannot declare queue '\(name)': queue limit in vhost '\(broker.virtualHost)' (\(services.configuration.maxQueues)) is reached"
                )
            }
            let (host, created) = try broker.declareQueue(declaration, owner: connectionID, on: eventLoop)
            if created { return answer(self, name, (0, 0)) }
            awaitAnswer(
                from: host,
                { host in
                    host.touch()
                    return (host.readyCount, host.consumerCount)
                }
            ) { handler, counts in answer(handler, name, counts) }
        } catch {
            fail(error, on: channel, classID: 50, methodID: 10)
        }
    }

    private func queueBind(
        queue: String, exchange: String, key: String, arguments: AMQPFieldTable, unbind: Bool, noWait: Bool,
        on channel: AMQPChannel
    ) {
        do throws(BrokerRefusal) {
            try checkAccess(.write, "queue", queue)
            try checkAccess(.read, "exchange", exchange)
            let host = try broker.queue(queue, owner: connectionID)
            try broker.bindQueue(
                host, exchange: exchange, key: key, arguments: AMQPMessageMapping.headerValues(arguments),
                unbind: unbind, viewer: identity.subscriptionOptions().viewer)
        } catch {
            return fail(error, on: channel, classID: 50, methodID: unbind ? 50 : 20)
        }
        if unbind {
            write(.queue(.unbindOk), channel: channel.number)
        } else if !noWait {
            write(.queue(.bindOk), channel: channel.number)
        }
    }

    // MARK: - Permissions

    /// RabbitMQ's resource check (configure / write / read, docs/security.md): 403 ACCESS_REFUSED with its
    /// text, "access to queue 'q' in vhost '/' refused for user 'bob'".
    func checkAccess(_ access: ResourcePermissions.Access, _ kind: String, _ name: String) throws(BrokerRefusal) {
        let resources = identity.permissions.resources
        guard !resources.isUnrestricted else { return }
        do throws(BrokerRefusal) {
            try resources.check(access, kind, name, in: broker.virtualHost, user: identity.userID)
        } catch {
            services.counters.countPermissionDenied()
            throw error
        }
    }

    // MARK: - tx

    private func txMethod(_ method: AMQPTxMethod, on channel: AMQPChannel) {
        switch method {
        case .select:
            guard !channel.confirming else {
                return fail(
                    .exception(
                        .preconditionFailed, "cannot switch from confirm to tx mode", classID: 90, methodID: 10),
                    on: channel)
            }
            channel.transactional = true
            write(.tx(.selectOk), channel: channel.number)
        case .commit:
            guard channel.transactional else {
                return fail(
                    .exception(.preconditionFailed, "channel is not transactional", classID: 90, methodID: 20),
                    on: channel)
            }
            let work = channel.transaction
            channel.transaction.removeAll()
            for item in work {
                switch item {
                case .publish(let content): publish(content, on: channel)
                case .ack(let tag, let multiple): settle(tag: tag, multiple: multiple, on: channel, methodID: 80)
                case .reject(let tag, let multiple, let requeue):
                    reject(tag: tag, multiple: multiple, requeue: requeue, on: channel, methodID: 120)
                }
                if case .closing = channel.state { return }
            }
            // commit-ok once the queues hold the transaction's messages.
            sendOutbox()
            write(.tx(.commitOk), channel: channel.number)
        case .rollback:
            guard channel.transactional else {
                return fail(
                    .exception(.preconditionFailed, "channel is not transactional", classID: 90, methodID: 30),
                    on: channel)
            }
            channel.transaction.removeAll()
            write(.tx(.rollbackOk), channel: channel.number)
        case .selectOk, .commitOk, .rollbackOk:
            unexpected(.tx(method), on: channel)
        }
    }

    // MARK: - Answers from a queue's loop

    /// Runs `work` on `host`'s loop and `answer` back here, holding this connection's input meanwhile so
    /// the channel's methods stay in order (a same-loop queue answers at once, without holding).
    func awaitAnswer<Result: Sendable>(
        from host: QueueHost, _ work: @escaping @Sendable (QueueHost) -> Result,
        answer: @escaping (AMQPConnectionHandler, Result) -> Void
    ) {
        sendOutbox()
        if host.eventLoop === eventLoop {
            return answer(self, work(host))
        }
        inbound.hold()
        let box = UncheckedAnswer(answer)
        host.perform(replyingOn: eventLoop, work) { [self] result in
            inbound.release()
            guard context != nil else { return }
            box.answer(self, result)
            processInbound()
            flushOut()
        }
    }
}

extension AMQPConnectionHandler {
    /// `awaitAnswer` for work only the queue's owner may do (consumers, `basic.get`): when several
    /// instances share the store, the queue is claimed first (`QueueHost.acquire`, which may wait for the
    /// database), with this connection's input held meanwhile; `answer` gets the refusal when it was not had.
    func awaitOwnedAnswer<Result: Sendable>(
        from host: QueueHost, _ work: @escaping @Sendable (QueueHost) -> Result,
        answer: @escaping (AMQPConnectionHandler, Swift.Result<Result, BrokerRefusal>) -> Void
    ) {
        guard host.sharing != nil else {
            return awaitAnswer(from: host, { .success(work($0)) }, answer: answer)
        }
        sendOutbox()
        inbound.hold()
        let box = UncheckedAnswer(answer)
        let loop = eventLoop
        host.perform { host in
            host.acquire { refusal in
                let result: Swift.Result<Result, BrokerRefusal> = refusal.map { .failure($0) } ?? .success(work(host))
                loop.execute { [self] in
                    inbound.release()
                    guard context != nil else { return }
                    box.answer(self, result)
                    processInbound()
                    flushOut()
                }
            }
        }
    }
}

/// An answer closure carried across loops: it only ever runs back on the connection's loop.
struct UncheckedAnswer<Result>: @unchecked Sendable {
    let answer: (AMQPConnectionHandler, Result) -> Void
    init(_ answer: @escaping (AMQPConnectionHandler, Result) -> Void) { self.answer = answer }
}
