/// Why a connection ends with an ERROR frame (1.2 §"ERROR": the server closes the connection after it).
/// `message` is the short header; `detail` the body.
package struct STOMPError: Error, Sendable, Equatable {
    package var message: String
    package var detail: String
    /// The `receipt` of the frame that failed, answered as `receipt-id` on the ERROR.
    package var receiptID: String?
    /// More headers for the ERROR (a version mismatch names the versions in `version`).
    package var headers = STOMPHeaders()

    package init(_ message: String, detail: String = "", receiptID: String? = nil) {
        self.message = message
        self.detail = detail
        self.receiptID = receiptID
    }

    /// A frame that cannot be parsed.
    package static func malformed(_ detail: String) -> STOMPError {
        STOMPError("Invalid frame", detail: detail)
    }

    /// A frame over one of `STOMPLimits`.
    package static func tooLarge(_ detail: String) -> STOMPError {
        STOMPError("Frame too large", detail: detail)
    }

    /// A frame without a header its command needs (RabbitMQ's wording).
    package static func missingHeader(_ name: String, command: STOMPCommand) -> STOMPError {
        STOMPError("Missing '\(name)' header", detail: "\(command.rawValue) frames require a '\(name)' header.")
    }

    /// The ERROR frame for this error.
    package var frame: STOMPFrame {
        var headers = STOMPHeaders()
        headers.append("message", message)
        if let receiptID { headers.append("receipt-id", receiptID) }
        for header in self.headers { headers.append(header.name, header.value) }
        headers.append("content-type", "text/plain")
        return STOMPFrame(.error, headers: headers, body: detail)
    }
}
