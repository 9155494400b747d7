package import NIOHTTP1

/// What one connection agreed on for permessage-deflate (RFC 7692): always no context takeover in
/// either direction (see `WebSocketCompression`), so only the server's window is left to remember.
package struct WebSocketDeflateParameters: Sendable, Equatable {
    /// The offer's `server_max_window_bits` (8–15), nil when it had none.
    package var offeredServerMaxWindowBits: Int?

    package init(serverMaxWindowBits: Int? = nil) {
        self.offeredServerMaxWindowBits = serverMaxWindowBits
    }

    /// The largest LZ77 window the server may compress with: 15 unless the offer limits it. It selects
    /// the compressor, and so the shared compressed form of a message.
    package var serverMaxWindowBits: Int { offeredServerMaxWindowBits ?? 15 }

    /// The `Sec-WebSocket-Extensions` value the upgrade answers with.
    package var response: String {
        let response = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        // RFC 7692 §7.1.2.1: an offer with server_max_window_bits is accepted only with the parameter in the
        // answer, at most the offered value; we answer the offered value itself.
        guard let bits = offeredServerMaxWindowBits else { return response }
        return response + "; server_max_window_bits=\(bits)"
    }
}

/// Reads the client's `Sec-WebSocket-Extensions` offers and accepts the first permessage-deflate offer
/// it can honour (RFC 7692 §5, §7.1). Every offer that is well-formed can be honoured: the server always
/// answers without context takeover, honours any `server_max_window_bits` and inflates with the largest
/// window, so `client_max_window_bits` needs no answer (§7.1.2.2 makes it optional). An offer with an
/// unknown or repeated parameter or an invalid value is declined (§7.1), and the next one is tried.
package enum WebSocketDeflateNegotiation {
    /// The extension's registered name (RFC 7692 §7).
    static let extensionName = "permessage-deflate"

    /// The parameters to run with, or nil when no offer is acceptable (the connection then runs without
    /// the extension: declining is not a failure of the handshake, RFC 6455 §9.1).
    package static func accept(_ headers: HTTPHeaders) -> WebSocketDeflateParameters? {
        let values = headers[canonicalForm: "Sec-WebSocket-Extensions"].map(String.init)
        for offer in offers(values) where offer.name == extensionName {
            if let parameters = accept(offer.parameters) { return parameters }
        }
        return nil
    }

    /// One offered extension: its name and its parameters in order (a parameter without `=` has no value).
    package struct Offer: Equatable, Sendable {
        package var name: String
        package var parameters: [(name: String, value: String?)]

        package static func == (lhs: Offer, rhs: Offer) -> Bool {
            lhs.name == rhs.name && lhs.parameters.map(\.name) == rhs.parameters.map(\.name)
                && lhs.parameters.map(\.value) == rhs.parameters.map(\.value)
        }
    }

    /// Parses header values: `name; param; param=value, name2` (RFC 6455 §9.1), across repeated headers.
    /// A quoted value has its quotes removed (§9.1 allows `"10"` for `10`).
    package static func offers(_ values: [String]) -> [Offer] {
        var offers: [Offer] = []
        for value in values {
            for item in split(value, on: ",") {
                var parts = split(item, on: ";").map(trim)
                guard !parts.isEmpty, !parts[0].isEmpty else { continue }
                let name = parts.removeFirst().lowercased()
                let parameters = parts.map { part -> (name: String, value: String?) in
                    guard let equals = part.firstIndex(of: "=") else { return (part.lowercased(), nil) }
                    var value = trim(part[part.index(after: equals)...])
                    if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                        value = String(value.dropFirst().dropLast())
                    }
                    return (trim(part[..<equals]).lowercased(), value)
                }
                offers.append(Offer(name: name, parameters: parameters))
            }
        }
        return offers
    }

    /// The parameters for one permessage-deflate offer, or nil to decline it.
    static func accept(_ parameters: [(name: String, value: String?)]) -> WebSocketDeflateParameters? {
        var seen: Set<String> = []
        var serverWindow: Int?
        for parameter in parameters {
            // RFC 7692 §7.1: a parameter may appear once.
            guard seen.insert(parameter.name).inserted else { return nil }
            switch parameter.name {
            case "server_no_context_takeover", "client_no_context_takeover":
                // §7.1.1.1, §7.1.1.2: no value.
                guard parameter.value == nil else { return nil }
            case "server_max_window_bits":
                // §7.1.2.1: a value is required.
                guard let bits = parameter.value.flatMap(windowBits) else { return nil }
                serverWindow = bits
            case "client_max_window_bits":
                // §7.1.2.2: the value is optional; when present it must be valid.
                if let value = parameter.value, windowBits(value) == nil { return nil }
            default:
                return nil
            }
        }
        return WebSocketDeflateParameters(serverMaxWindowBits: serverWindow)
    }

    /// A window-bits value: a decimal 8–15 without leading zeros (RFC 7692 §7.1.2.1).
    static func windowBits(_ text: String) -> Int? {
        guard !text.isEmpty, text.count <= 2, !text.hasPrefix("0"),
            text.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            let bits = Int(text), (8...15).contains(bits)
        else { return nil }
        return bits
    }

    /// Splits on `separator` outside double quotes.
    private static func split(_ text: some StringProtocol, on separator: Character) -> [Substring] {
        var pieces: [Substring] = []
        let text = Substring(text)
        var start = text.startIndex
        var quoted = false
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "\"" {
                quoted.toggle()
            } else if character == separator, !quoted {
                pieces.append(text[start..<index])
                start = text.index(after: index)
            }
            index = text.index(after: index)
        }
        pieces.append(text[start...])
        return pieces
    }

    private static func trim(_ text: some StringProtocol) -> String {
        String(
            text.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed()
        )
    }
}
