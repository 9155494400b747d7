import AMQPFrontend
package import FrontendKit
import KafkaRESTFrontend
import MCPFrontend
import MQTTFrontend
import NATSFrontend
import NativeWebSocketFrontend
import SSEFrontend
import STOMPFrontend
import SchemaRegistryFrontend
import SignalRFrontend
import SocketIOFrontend

/// Every protocol the server speaks, in the order they start. Adding a protocol is one line here and
/// one block in Package.swift (docs/architecture.md, "Adding a protocol"); its config section,
/// environment variables, flags, ports, TLS listener, help text and restore come from its `Frontend`
/// conformance.
package enum FrontendList {
    package static let all: [any Frontend.Type] = [
        NativeWSServerFrontend.self,
        SSEServerFrontend.self,
        MQTTServerFrontend.self,
        NATSServerFrontend.self,
        AMQPServerFrontend.self,
        STOMPServerFrontend.self,
        SocketIOServerFrontend.self,
        SignalRServerFrontend.self,
        SchemaRegistryServerFrontend.self,
        KafkaRESTServerFrontend.self,
        MCPServerFrontend.self,
    ]
}
