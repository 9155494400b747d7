import BusRuntime
import FrontendKit
import MQTTWire
import NIOCore
import Storage

extension MQTTConnectionHandler {
    /// CONNECT with several instances on one database (docs/storage.md): the session is always read fresh
    /// from the database, since other instances may have logged messages it is owed. Held by another
    /// instance, it is claimed (that instance lets go: its client gets DISCONNECT 0x8E); held here, the
    /// copy here is set aside (a client connected here is taken over) once its writes are durable. A claim
    /// not had in `MQTTServices.claimTimeout` refuses the CONNECT: 0x88 Server unavailable (3.1.1: return
    /// code 3).
    func claimSession(_ negotiated: MQTTConnectionStateMachine.Negotiated, ownership: any StoreSessionOwnership) {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let loop = eventLoop
        if let here = services.sessions.session(for: negotiated.clientID) {
            return here.eventLoop.execute {
                guard here.persistent else {
                    // Kept only while connected, nothing of it is in the database: taken over here.
                    return loop.execute { bound.value.acquireLocalSession(negotiated) }
                }
                here.setAside { claimed in
                    loop.execute {
                        if claimed {
                            bound.value.loadClaimed(negotiated, ownership: ownership)
                        } else {
                            // It ended meanwhile, and its claim with it.
                            bound.value.claimSession(negotiated, ownership: ownership)
                        }
                    }
                }
            }
        }
        ownership.claim(negotiated.clientID, timeout: MQTTServices.claimTimeout) { claimed in
            loop.execute {
                guard claimed else { return bound.value.claimFailed("another instance did not let go of the session") }
                bound.value.loadClaimed(negotiated, ownership: ownership)
            }
        }
    }

    /// With the claim had: reads the session (not for Clean Start, which discards it) and goes on.
    private func loadClaimed(_ negotiated: MQTTConnectionStateMachine.Negotiated, ownership: any StoreSessionOwnership)
    {
        pendingClaim = negotiated.clientID
        guard !negotiated.cleanStart else { return sessionClaimed(negotiated, snapshot: nil) }
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let loop = eventLoop
        ownership.loadSession(negotiated.clientID) { result in
            loop.execute {
                switch result {
                case .success(let snapshot):
                    bound.value.sessionClaimed(negotiated, snapshot: snapshot)
                case .failure(let error):
                    bound.value.releasePendingClaim()
                    bound.value.claimFailed("the session could not be read: \(error)")
                }
            }
        }
    }

    private func sessionClaimed(_ negotiated: MQTTConnectionStateMachine.Negotiated, snapshot: StoredSessionSnapshot?) {
        guard context != nil, !machine.isClosed else { return releasePendingClaim() }
        if services.sessions.session(for: negotiated.clientID) != nil {
            // Another connection here had it meanwhile: that one's claim holds the session, taken over here.
            releasePendingClaim()
        } else if negotiated.cleanStart {
            // [MQTT-3.1.2-4] the session the database kept goes (whoever held it before).
            services.persistence?.persist([.deleteSession(clientID: negotiated.clientID)], on: eventLoop)
        } else if let snapshot, let session = services.adopt(snapshot, on: eventLoop) {
            session.claimed = true
            pendingClaim = nil
        }
        acquireLocalSession(negotiated)
    }

    private func claimFailed(_ reason: String) {
        guard context != nil, !machine.isClosed else { return }
        services.counters.countRefused()
        inbound.release()
        run(machine.connectRefused(.serverUnavailable(reason)))
    }

    /// Gives back a claim no session took.
    func releasePendingClaim() {
        guard let clientID = pendingClaim, let ownership = services.persistence?.ownership else { return }
        pendingClaim = nil
        ownership.release(clientID)
    }
}
