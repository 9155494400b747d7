package import BusCore
package import NIOCore

/// Who may act on a client's session when several server instances share one database
/// (docs/storage.md, "Several instances on one PostgreSQL database"). Each store loads its state into
/// memory at start, so a session another instance owns is stale here: only the owner acts on a session,
/// and a new owner reads it fresh from the database. A store shared by one instance only has none
/// (`Store.sessionOwnership` is nil).
package protocol StoreSessionOwnership: AnyObject, Sendable {
    /// This instance's number among the live instances on the database (0...255, unique while it lives):
    /// the low byte of the session message sequence numbers it hands out, so two instances never write
    /// the same one.
    var instanceSlot: UInt8 { get }
    /// Claims `clientID`'s session. While another instance owns it, that instance is asked to let go and
    /// the claim waits for it up to `timeout`. `completion` runs on a thread of the store's with whether
    /// the claim holds. Claims count: the session stays owned until each successful claim is released.
    func claim(_ clientID: String, timeout: TimeAmount, completion: @escaping @Sendable (Bool) -> Void)
    /// Gives one claim back (call it once the session's writes are durable); the last one lets go.
    func release(_ clientID: String)
    /// The session as the database holds it now (nil: there is none) and the logged session messages
    /// newer than its oldest subscription. `completion` runs on a thread of the store's.
    func loadSession(
        _ clientID: String, completion: @escaping @Sendable (Result<StoredSessionSnapshot?, any Error>) -> Void)
    /// `handler` is called (on a thread of the store's) with the client identifier whenever another
    /// instance asks for a session this instance holds a claim on. Set once, before connections come.
    func onTakeoverRequested(_ handler: @escaping @Sendable (String) -> Void)
}

/// One session read fresh from the database, with the messages it may still be owed.
package struct StoredSessionSnapshot: Sendable {
    package var session: StoredSession
    /// By sequence number, ascending.
    package var messages: [(seq: UInt64, message: BusMessage)]
    package init(session: StoredSession, messages: [(seq: UInt64, message: BusMessage)]) {
        self.session = session
        self.messages = messages
    }
}
