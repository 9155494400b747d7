package import NIOCore
package import NIOSSL

/// TLS for a listener (swift-nio-ssl): the server's certificate chain and key, and optionally the CA
/// that client certificates must chain to (mTLS). One context is shared by every connection.
package struct ServerTLS: Sendable {
    package let context: NIOSSLContext
    /// Whether client certificates are asked for (and, when `requireClientCertificate`, required).
    package let verifiesClients: Bool
    /// Whether a client without a certificate is refused (`tls.require_client_cert`).
    package let requiresClientCertificate: Bool

    /// Loads PEM files. `clientCAFile` turns on client certificate verification: required when
    /// `requireClientCertificate`, else checked when presented.
    package init(
        certificateFile: String, keyFile: String, clientCAFile: String? = nil, requireClientCertificate: Bool = false
    ) throws {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { NIOSSLCertificateSource.certificate($0) }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem)))
        configuration.minimumTLSVersion = .tlsv12
        self.requiresClientCertificate = clientCAFile != nil && requireClientCertificate
        if let clientCAFile {
            configuration.trustRoots = .file(clientCAFile)
            configuration.certificateVerification =
                requireClientCertificate ? .noHostnameVerification : .optionalVerification
            verifiesClients = true
        } else {
            verifiesClients = false
        }
        self.context = try NIOSSLContext(configuration: configuration)
    }

    /// A handler for one accepted connection (first in its pipeline, or added later for NATS).
    package func makeHandler() -> NIOSSLServerHandler {
        NIOSSLServerHandler(context: context)
    }
}

extension Channel {
    /// The common name of the client certificate the TLS handshake verified on this channel (mTLS), used
    /// as the user id when no other credentials are given. Call on the channel's event loop.
    package var verifiedClientCommonName: String? {
        guard let handler = try? pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
            let certificate = handler.peerCertificate
        else { return nil }
        return certificate.subjectName.first { $0.type == .commonName }?.value
    }
}
