/// The bounds of the Socket.IO layer, each checked before anything is allocated for it.
package struct SocketIOLimits: Sendable, Equatable {
    /// Most binary attachments one packet may announce (the reference parser has no bound; 64 covers
    /// every realistic event while a hostile `5999999-` cannot make the server wait for a million).
    package var maxAttachments = 64
    /// Longest namespace name, in bytes.
    package var maxNamespaceBytes = 256
    /// Most namespaces one Engine.IO session may join at once.
    package var maxNamespacesPerSession = 32

    package init() {}
}
