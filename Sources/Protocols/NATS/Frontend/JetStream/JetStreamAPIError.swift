/// A JetStream API error as nats-server answers it: `{"error":{"code","err_code","description"}}`.
/// `code` is the HTTP-like status clients branch on (nats.py raises `NotFoundError` for 404,
/// `BadRequestError` for 400, `ServerError` for 500, `ServiceUnavailableError` for 503); `errCode` is
/// nats-server's own number from its `server/errors.json` (the constants are named as it names them).
package struct JetStreamAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    package var code: Int
    package var errCode: Int
    package var errorDescription: String

    package init(code: Int, errCode: Int, description: String) {
        self.code = code
        self.errCode = errCode
        self.errorDescription = description
    }

    package var description: String { "\(code) \(errCode) \(errorDescription)" }

    /// The `error` member of a response.
    package var json: [String: Any] { ["code": code, "err_code": errCode, "description": errorDescription] }

    // MARK: - nats-server's errors.json (the ones this server answers)

    /// JSBadRequestErr
    package static let badRequest = Self(code: 400, errCode: 10003, description: "bad request")
    /// JSInvalidJSONErr
    package static func invalidJSON(_ reason: String) -> Self {
        Self(code: 400, errCode: 10025, description: "invalid JSON: \(reason)")
    }
    /// JSNotEmptyRequestErr
    package static let notEmptyRequest = Self(
        code: 400, errCode: 10038, description: "expected an empty request payload")
    /// JSNotEnabledErr
    package static let notEnabled = Self(code: 503, errCode: 10076, description: "JetStream not enabled")
    /// JSStreamNotFoundErr
    package static let streamNotFound = Self(code: 404, errCode: 10059, description: "stream not found")
    /// JSStreamNameExistErr
    package static let streamNameExists = Self(
        code: 400, errCode: 10058, description: "stream name already in use with a different configuration")
    /// JSStreamSubjectOverlapErr
    package static let subjectOverlap = Self(
        code: 400, errCode: 10065, description: "subjects overlap with an existing stream")
    /// JSStreamMismatchErr
    package static let streamMismatch = Self(
        code: 400, errCode: 10056, description: "stream name in subject does not match request")
    /// JSStreamInvalidConfigF
    package static func invalidStreamConfig(_ reason: String) -> Self {
        Self(code: 500, errCode: 10052, description: reason)
    }
    /// JSStreamMaxBytesRequired (account limit `max_bytes_required`)
    package static let streamMaxBytesRequired = Self(
        code: 400, errCode: 10113, description: "account requires a stream config to have max bytes set")
    /// JSStreamMaxStreamBytesExceeded (account limit `storage_max_stream_bytes` / `memory_max_stream_bytes`)
    package static let streamMaxStreamBytesExceeded = Self(
        code: 400, errCode: 10122, description: "stream max bytes exceeds account limit max stream bytes")
    /// JSMaximumStreamsLimitErr
    package static let maximumStreams = Self(
        code: 400, errCode: 10027, description: "maximum number of streams reached")
    /// JSMaximumConsumersLimitErr
    package static let maximumConsumers = Self(
        code: 400, errCode: 10026, description: "maximum consumers limit reached")
    /// JSStorageResourcesExceededErr
    package static let insufficientStorage = Self(
        code: 500, errCode: 10047, description: "insufficient storage resources available")
    /// JSMemoryResourcesExceededErr
    package static let insufficientMemory = Self(
        code: 500, errCode: 10028, description: "insufficient memory resources available")
    /// JSStreamReplicasNotSupportedErr
    /// JSStreamSealedErr: a publish, purge or delete on a sealed stream.
    package static let streamSealed = Self(code: 400, errCode: 10109, description: "invalid operation on sealed stream")
    package static let replicasNotSupported = Self(
        code: 500, errCode: 10074, description: "replicas > 1 not supported in non-clustered mode")
    /// JSStreamCreateErrF
    package static func streamCreate(_ reason: String) -> Self { Self(code: 500, errCode: 10049, description: reason) }
    /// JSStreamUpdateErrF
    package static func streamUpdate(_ reason: String) -> Self { Self(code: 500, errCode: 10069, description: reason) }
    /// JSStreamPurgeFailedF
    package static func purgeFailed(_ reason: String) -> Self { Self(code: 500, errCode: 10110, description: reason) }
    /// JSStreamStoreFailedF: what a publish the stream refused gets ("maximum messages exceeded" …).
    package static func storeFailed(_ reason: String) -> Self { Self(code: 503, errCode: 10077, description: reason) }
    /// JSStreamMessageExceedsMaximumErr
    package static let messageTooLarge = Self(
        code: 400, errCode: 10054, description: "message size exceeds maximum allowed")
    /// JSStreamNotMatchErr (`Nats-Expected-Stream`)
    package static let expectedStreamMismatch = Self(
        code: 400, errCode: 10060, description: "expected stream does not match")
    /// JSStreamWrongLastSequenceErrF (`Nats-Expected-Last-Sequence`, `…-Subject-Sequence`)
    package static func wrongLastSequence(_ sequence: UInt64) -> Self {
        Self(code: 400, errCode: 10071, description: "wrong last sequence: \(sequence)")
    }
    /// JSStreamWrongLastMsgIDErrF (`Nats-Expected-Last-Msg-Id`)
    package static func wrongLastMessageID(_ id: String) -> Self {
        Self(code: 400, errCode: 10070, description: "wrong last msg ID: \(id)")
    }
    /// JSNoMessageFoundErr
    /// A `Nats-Rollup` publish on a stream without `allow_rollup_hdrs` (or with `deny_purge`): nats-server's
    /// `JSStreamRollupFailedErrF`.
    package static func rollupFailed(_ reason: String) -> Self { Self(code: 500, errCode: 10111, description: reason) }
    /// A publish a `payload_schemas` rule refuses (docs/topics.md, "Payload schemas"). nats-server has no
    /// schema validation: JSBadRequestErr's numbers, so clients see a 400 (nats.py `BadRequestError`), with
    /// the failing JSON Pointer in the description.
    package static func payloadSchemaViolation(_ reason: String) -> Self {
        Self(code: 400, errCode: 10003, description: reason)
    }
    /// A `Nats-TTL` publish (per-message TTL is not built here): nats-server's `JSMessageTTLDisabledErr`.
    package static let messageTTLDisabled = Self(code: 400, errCode: 10166, description: "per-message TTL is disabled")
    package static let noMessageFound = Self(code: 404, errCode: 10037, description: "no message found")
    /// JSStreamMsgDeleteFailedF
    package static func messageDeleteFailed(_ reason: String) -> Self {
        Self(code: 500, errCode: 10057, description: reason)
    }
    /// JSConsumerNotFoundErr
    package static let consumerNotFound = Self(code: 404, errCode: 10014, description: "consumer not found")
    /// JSConsumerCreateErrF
    package static func consumerCreate(_ reason: String) -> Self {
        Self(code: 500, errCode: 10012, description: reason)
    }
    /// JSConsumerConfigRequiredErr
    package static let consumerConfigRequired = Self(code: 400, errCode: 10078, description: "consumer config required")
    /// JSConsumerDurableNameNotMatchSubjectErr
    package static let durableNameNotMatchSubject = Self(
        code: 400, errCode: 10017, description: "consumer name in subject does not match durable name in request")
    /// JSConsumerCreateDurableAndNameMismatch
    package static let durableAndNameMismatch = Self(
        code: 400, errCode: 10132, description: "Consumer Durable and Name have to be equal if both are provided")
    /// JSConsumerBadDurableNameErr
    package static let badDurableName = Self(
        code: 400, errCode: 10103, description: "durable name can not contain '.', '*', '>'")
    /// JSConsumerCreateFilterSubjectMismatchErr
    package static let filterSubjectMismatch = Self(
        code: 400, errCode: 10131,
        description: "Consumer create request did not match filtered subject from create subject")
    /// JSConsumerFilterNotSubsetErr
    package static let filterNotSubset = Self(
        code: 400, errCode: 10093,
        description: "consumer filter subject is not a valid subset of the interest subjects")
    /// JSMirrorWithSubjectsErr
    package static let mirrorWithSubjects = Self(
        code: 400, errCode: 10034, description: "stream mirrors can not contain subjects")
    /// JSMirrorWithSourcesErr
    package static let mirrorWithSources = Self(
        code: 400, errCode: 10031, description: "stream mirrors can not also contain other sources")
    /// JSMirrorWithStartSeqAndTimeErr
    package static let mirrorWithStartSequenceAndTime = Self(
        code: 400, errCode: 10032, description: "stream mirrors can not have both start seq and start time configured")
    /// JSStreamMirrorNotUpdatableErr
    package static let mirrorNotUpdatable = Self(
        code: 400, errCode: 10055, description: "stream mirror configuration can not be updated")
    /// JSMirrorMaxMessageSizeTooBigErr
    package static let mirrorMaxMessageSizeTooBig = Self(
        code: 400, errCode: 10030, description: "stream mirror must have max message size >= source")
    /// JSSourceMaxMessageSizeTooBigErr
    package static let sourceMaxMessageSizeTooBig = Self(
        code: 400, errCode: 10046, description: "stream source must have max message size >= target")
    /// JSAccountResourcesExceededErr: a publish that would take the account past `max_storage` /
    /// `max_memory` (nats-server 2.9 stores it, finds the account past its limit, removes it and answers this).
    package static let accountResourcesExceeded = Self(
        code: 400, errCode: 10002, description: "resource limits exceeded for account")
    /// JSConsumerInvalidPolicyErrF
    package static func invalidConsumerPolicy(_ reason: String) -> Self {
        Self(code: 400, errCode: 10094, description: reason)
    }
}
