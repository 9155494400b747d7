import NIOConcurrencyHelpers
import NIOCore
import Storage

/// One writer at a time per named resource among instances sharing one store (PostgreSQL with
/// `shared_instances=true`, docs/storage.md "Several instances on one PostgreSQL database"): a durable
/// topic log or a stream partition is appended to only by the instance holding its writer claim, an
/// advisory lock of the claims' lock space (`StoreOwnedResource.name(kind:_:)`).
///
/// A claim takes the lock (asking the holder to let go), fences the resource's appends
/// (`StoreSessionOwnership.fenceWriter`), reads the resource fresh (`Hooks.readFresh`:
/// what the last writer stored) and only then makes it writable here. Asked for it by another instance,
/// the holder stops taking appends at once, waits until what it appended is stored (barrier writes
/// through the group commit until `Hooks.hasUnstored` is false) and unlocks. A claim lost with the
/// ownership connection stops appends at once; the next append claims again.
final class SharedWriterClaims: Sendable {
    /// What the owner of the resources does for their claims (on a thread of the store's).
    struct Hooks: Sendable {
        /// With the claim held: reads `name` fresh from the store into this instance's copy and calls
        /// `done` with whether it could.
        var readFresh: @Sendable (_ name: String, _ done: @escaping @Sendable (Bool) -> Void) -> Void
        /// Appends to `name` are taken here from now on (true), or refused (false).
        var setWritable: @Sendable (_ name: String, _ writable: Bool) -> Void
        /// Whether something appended here to `name` is not stored yet (letting go waits for it).
        var hasUnstored: @Sendable (_ name: String) -> Bool
    }

    /// One resource's claim here.
    struct Claim {
        var held = false
        var claiming = false
        var releasing = false
        /// Something here wants to append (a claim starts once a release in progress ends).
        var wanted = false
        /// Bumped when the claim is lost with the ownership connection: a claim begun before is void.
        var generation = 0
        var waiters: [@Sendable (Bool) -> Void] = []
    }

    /// The claims' kind (`StoreOwnedResource.name(kind:_:)`).
    let kind: String
    /// How long a claim waits for the holder to let go.
    let timeout: TimeAmount
    private let sharing: any StoreSessionOwnership
    private let store: any Store
    private let hooks: Hooks
    private let claims = NIOLockedValueBox<[String: Claim]>([:])

    init(kind: String, timeout: TimeAmount, sharing: any StoreSessionOwnership, store: any Store, hooks: Hooks) {
        self.kind = kind
        self.timeout = timeout
        self.sharing = sharing
        self.store = store
        self.hooks = hooks
        sharing.onResourceReleaseRequested { [weak self] resource, lost in
            self?.releaseRequested(resource, lost: lost)
        }
    }

    private func resource(_ name: String) -> String { StoreOwnedResource.name(kind: kind, name) }

    /// Claims `name` (once: a claim in progress is joined); `then` (on a thread of the store's, or at once
    /// when it is held already) gets whether it is held and `name` read fresh.
    func claim(_ name: String, then: (@Sendable (Bool) -> Void)?) {
        let start = claims.withLockedValue { claims -> (generation: Int?, ready: Bool) in
            var claim = claims[name, default: Claim()]
            defer { claims[name] = claim }
            if claim.held && !claim.releasing && !claim.claiming { return (nil, true) }
            if let then { claim.waiters.append(then) }
            claim.wanted = true
            guard !claim.claiming && !claim.releasing else { return (nil, false) }
            claim.claiming = true
            return (claim.generation, false)
        }
        if start.ready { return then?(true) ?? () }
        if let generation = start.generation { begin(name, generation: generation) }
    }

    private func begin(_ name: String, generation: Int) {
        sharing.claim(resource(name), timeout: timeout) { [weak self] held in
            guard let self else { return }
            guard held else { return finish(name, held: false) }
            let current = claims.withLockedValue { claims -> Bool in
                guard claims[name]?.generation == generation else { return false }
                claims[name]?.held = true
                return true
            }
            guard current else { return letGoAfterFailedClaim(name) }
            // Fenced first: a last writer whose lock went with its connection has appends of its own still
            // queued; from here on they fail instead of committing behind the read below.
            sharing.fenceWriter(resource(name)) { [weak self] fenced in
                guard let self else { return }
                guard fenced else { return letGoAfterFailedClaim(name) }
                readFresh(name, generation: generation)
            }
        }
    }

    /// Reads `name` fresh with the claim held and fenced: everything the last writer appended is stored
    /// (it let go only then, or its later appends fail on the fence), so this instance continues after it.
    private func readFresh(_ name: String, generation: Int) {
        hooks.readFresh(name) { [weak self] read in
            guard let self else { return }
            guard read else { return letGoAfterFailedClaim(name) }
            let still = claims.withLockedValue { $0[name]?.generation == generation && $0[name]?.held == true }
            if still { hooks.setWritable(name, true) }
            finish(name, held: still)
        }
    }

    private func letGoAfterFailedClaim(_ name: String) {
        claims.withLockedValue { $0[name]?.held = false }
        sharing.release(resource(name))
        finish(name, held: false)
    }

    private func finish(_ name: String, held: Bool) {
        let waiters = claims.withLockedValue { claims -> [@Sendable (Bool) -> Void] in
            guard var claim = claims[name] else { return [] }
            defer { claims[name] = claim }
            claim.claiming = false
            claim.wanted = false
            defer { claim.waiters = [] }
            return claim.waiters
        }
        for waiter in waiters { waiter(held) }
    }

    /// Another instance asks for a claim held here (`lost` false), or the ownership connection went with
    /// every claim (`lost` true).
    private func releaseRequested(_ resource: String, lost: Bool) {
        let prefix = self.resource("")
        guard resource.hasPrefix(prefix) else { return }
        let name = String(resource.dropFirst(prefix.count))
        if lost {
            // The lock is gone: stop appending at once; the next append claims again.
            claims.withLockedValue { claims in
                claims[name]?.held = false
                claims[name]?.releasing = false
                claims[name]?.generation += 1
            }
            hooks.setWritable(name, false)
            return
        }
        let letGo = claims.withLockedValue { claims -> Bool in
            guard var claim = claims[name], claim.held, !claim.releasing, !claim.claiming else { return false }
            claim.releasing = true
            claims[name] = claim
            return true
        }
        guard letGo else { return }
        hooks.setWritable(name, false)
        release(name)
    }

    /// Forgets the claims on names starting with `prefix` (their resource went), letting go of those held.
    func drop(prefix: String) {
        let held = claims.withLockedValue { claims -> [String] in
            let names = claims.keys.filter { $0.hasPrefix(prefix) }
            defer { for name in names { claims[name] = nil } }
            return names.filter { claims[$0]?.held == true }
        }
        for name in held { sharing.release(resource(name)) }
    }

    /// Lets go of `name` once everything appended here to it is stored: a barrier write commits after every
    /// write submitted before it, and the loops submit what they appended at their next hand-off, so it is
    /// repeated until nothing is unstored.
    private func release(_ name: String) {
        store.submit([.notify(channel: "switchboard_barrier", payload: "")]) { [weak self] _ in
            guard let self else { return }
            if hooks.hasUnstored(name) { return release(name) }
            sharing.release(resource(name))
            let again = claims.withLockedValue { claims -> Int? in
                guard var claim = claims[name] else { return nil }
                defer { claims[name] = claim }
                claim.held = false
                claim.releasing = false
                guard claim.wanted, !claim.claiming else { return nil }
                claim.claiming = true
                return claim.generation
            }
            if let generation = again { begin(name, generation: generation) }
        }
    }
}
