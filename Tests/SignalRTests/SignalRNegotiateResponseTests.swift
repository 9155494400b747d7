import NIOCore
import SignalRWire
import Testing

/// The negotiate response (TransportProtocols.md §negotiate): the spec's payloads for versions 1 and 0,
/// the version chosen for each request, the error response.
@Suite struct SignalRNegotiateResponseTests {
    private func written(_ response: SignalRNegotiateResponse) -> String {
        var buffer = ByteBuffer()
        response.write(into: &buffer)
        return String(buffer: buffer)
    }

    static let transports =
        #""availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]},"#
        + #"{"transport":"ServerSentEvents","transferFormats":["Text"]},"#
        + #"{"transport":"LongPolling","transferFormats":["Text","Binary"]}]"#

    @Test func writesTheSpecPayloads() {
        let version1 = SignalRNegotiateResponse(
            connectionID: "807809a5-31bf-470d-9e23-afaee35d8a0d",
            connectionToken: "05265228-1e2c-46c5-82a1-6a5bcc3f0143",
            negotiateVersion: 1)
        #expect(
            written(version1)
                == #"{"connectionToken":"05265228-1e2c-46c5-82a1-6a5bcc3f0143","connectionId":"807809a5-31bf-470d-9e23-afaee35d8a0d","negotiateVersion":1,"#
                + Self.transports + "}")
        // Version 0 has no token: the id is what the transports carry.
        var version0 = version1
        version0.negotiateVersion = 0
        #expect(
            written(version0)
                == #"{"connectionId":"807809a5-31bf-470d-9e23-afaee35d8a0d","negotiateVersion":0,"# + Self.transports
                + "}")
    }

    @Test func offersStatefulReconnectAndFewerTransports() {
        let response = SignalRNegotiateResponse(
            connectionID: "i", connectionToken: "t", negotiateVersion: 1, transports: [.serverSentEvents],
            useStatefulReconnect: true)
        #expect(
            written(response)
                == #"{"connectionToken":"t","connectionId":"i","negotiateVersion":1,"useStatefulReconnect":true,"availableTransports":[{"transport":"ServerSentEvents","transferFormats":["Text"]}]}"#
        )
    }

    @Test func choosesTheVersion() throws {
        #expect(try SignalRNegotiateResponse.version(requested: nil) == 0)
        #expect(try SignalRNegotiateResponse.version(requested: "0") == 0)
        #expect(try SignalRNegotiateResponse.version(requested: "1") == 1)
        // Above the server's: the server's.
        #expect(try SignalRNegotiateResponse.version(requested: "7") == 1)
        #expect(throws: SignalRWireError.self) { try SignalRNegotiateResponse.version(requested: "one") }
        #expect(throws: SignalRWireError.self) { try SignalRNegotiateResponse.version(requested: "-1") }
    }

    @Test func writesTheErrorResponse() {
        var buffer = ByteBuffer()
        SignalRNegotiateResponse.writeError("This connection is not allowed.", into: &buffer)
        #expect(String(buffer: buffer) == #"{"error":"This connection is not allowed."}"#)
    }
}
