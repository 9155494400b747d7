import BusCore
import BusRuntime
import FrontendKit
import NIOCore

/// Connection state recovery across instances (docs/protocols/socketio.md, "Recovery on another
/// instance"): with an engine, a socket's recovery record lives in Redis under its private id, not in
/// this instance's registry. While the socket is connected a live record (its rooms and where each
/// started, refreshed on join, leave and heartbeat) stands in for it, so a client whose instance died
/// (`kill -9`) still recovers when the last offset it got tells exactly where its rooms were; when the
/// transport drops, the full record (with the last deliveries) replaces it for the recovery window.
extension SocketIOSession {
    /// With an engine, records live in Redis (`endSocket`): the CONNECT is answered once the record is
    /// taken (by this instance only) and the rooms' shared logs are read here, so the socket resumes on
    /// any instance exactly where it was; without a usable record it gets a new socket, as socket.io does.
    func recoverShared(
        namespace: String, auth: JSONValue?, identity: ClientIdentity, privateID: String, offset: String,
        engine: any BusEngine
    ) {
        connecting.insert(namespace)
        let window = UInt64(configuration.recoverySeconds) * 1_000_000_000
        engine.takeRecord(SocketIORecoveryRecord.sharedKey(privateID)).hop(to: eventLoop).whenComplete {
            [self] result in
            guard !isClosed else {
                connecting.remove(namespace)
                return
            }
            guard let value = try? result.get(),
                let record = SocketIORecoveryRecord(
                    shared: value, identity: identity, now: bus.clock(), window: window),
                record.namespace == namespace, let positions = record.resumePositions(after: offset)
            else {
                connecting.remove(namespace)
                startSocket(namespace: namespace, auth: auth, identity: identity)
                return flush()
            }
            let topics = positions.compactMap { room in room.position == nil ? nil : try? Topic(room.channel) }
            let resumeNow = { [self] in
                connecting.remove(namespace)
                guard !isClosed else { return }
                resume(record, positions: positions)
                flush()
            }
            if !bus.refreshingHistory(of: topics, on: eventLoop, then: resumeNow) { resumeNow() }
        }
    }

    /// Keeps the full record of a socket whose transport dropped, for the recovery window (in place of its
    /// live record, if that is still there).
    func shareRecord(_ record: SocketIORecoveryRecord, of socket: SocketIOSocket) {
        bus.engine?.keepRecord(
            SocketIORecoveryRecord.sharedKey(record.privateID), value: record.shared,
            ttl: .seconds(Int64(configuration.recoverySeconds)), onlyIfKept: socket.sharedRecordKept)
    }

    /// Keeps the live record of a connected socket (recovery on, with an engine): its rooms and their
    /// starting positions, no deliveries; it outlives two heartbeats plus the recovery window.
    func shareLiveRecord(_ socket: SocketIOSocket) {
        // A socket that is ending has left this session's sockets first: its leaves change nothing.
        guard let engine = bus.engine, sockets.contains(where: { $0 === socket }),
            var record = socket.recoveryRecord(now: 0, window: 0)
        else { return }
        record.recent = []
        record.isLive = true
        let ttl = Int64(configuration.recoverySeconds) * 1_000 + 2 * Int64(configuration.pingIntervalMilliseconds)
        engine.keepRecord(
            SocketIORecoveryRecord.sharedKey(record.privateID), value: record.shared, ttl: .milliseconds(ttl),
            onlyIfKept: socket.sharedRecordKept)
        socket.sharedRecordKept = true
    }

    /// Refreshes the live records of this session's sockets (each heartbeat).
    func shareLiveRecords() {
        guard bus.engine != nil else { return }
        for case let socket? in sockets where socket.canRecover { shareLiveRecord(socket) }
    }

    /// A socket that ended on purpose cannot be recovered: its record goes.
    func forgetSharedRecord(_ privateID: String) {
        _ = bus.engine?.takeRecord(SocketIORecoveryRecord.sharedKey(privateID))
    }
}
