/// WebSocket frames for the stateful fuzz suites of the protocols that run over an upgraded connection
/// (native WebSocket, Socket.IO, SignalR): masked client frames in, the server's unmasked frames cut back
/// out of what it wrote (RFC 6455 §5.2, §5.3).
package enum StatefulFuzzWebSocket {
    /// A masked client frame.
    package static func frame(opcode: UInt8, fin: Bool = true, payload: [UInt8], using random: inout SplitMix)
        -> [UInt8]
    {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            bytes.append(0x80 | UInt8(payload.count))
        } else {
            bytes += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255, using: &random) }
        bytes += mask
        bytes += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return bytes
    }

    /// A masked client text frame.
    package static func text(_ text: String, using random: inout SplitMix) -> [UInt8] {
        frame(opcode: 1, payload: Array(text.utf8), using: &random)
    }

    /// Frames cut out of `bytes` as (opcode, fin, unmasked payload), up to where they stop being whole or
    /// stop being masked as `masked` says; `rest` is how many bytes are left after the last whole frame.
    package static func cutFrames(_ bytes: [UInt8], masked: Bool) -> (frames: [(UInt8, Bool, [UInt8])], rest: Int) {
        var frames: [(UInt8, Bool, [UInt8])] = []
        var at = 0
        while at + 2 <= bytes.count {
            var length = Int(bytes[at + 1] & 0x7F)
            var header = 2
            if length == 126 {
                guard at + 4 <= bytes.count else { break }
                length = Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
                header = 4
            } else if length == 127 {
                guard at + 10 <= bytes.count else { break }
                length = bytes[(at + 2)..<(at + 10)].reduce(0) { $0 << 8 | Int($1) }
                header = 10
                guard length >= 0, length < 1 << 24 else { break }
            }
            let isMasked = bytes[at + 1] & 0x80 != 0
            if isMasked != masked { break }
            let maskLength = isMasked ? 4 : 0
            guard at + header + maskLength + length <= bytes.count else { break }
            let mask = Array(bytes[(at + header)..<(at + header + maskLength)])
            let start = at + header + maskLength
            let payload = (0..<length).map { bytes[start + $0] ^ (isMasked ? mask[$0 % 4] : 0) }
            frames.append((bytes[at] & 0x0F, bytes[at] & 0x80 != 0, payload))
            at = start + length
        }
        return (frames, bytes.count - at)
    }

    /// The whole text messages in `frames` (fragments joined), in order.
    package static func textMessages(_ frames: [(UInt8, Bool, [UInt8])]) -> [[UInt8]] {
        var messages: [[UInt8]] = []
        var message: [UInt8]?
        for (opcode, fin, payload) in frames {
            switch opcode {
            case 1: message = payload
            case 0: message? += payload
            default: continue
            }
            guard fin, let whole = message else { continue }
            message = nil
            messages.append(whole)
        }
        return messages
    }
}
