import BusCore
import KafkaRESTWire
import NIOCore
import Testing

/// Content negotiation, error bodies, produce bodies, the range assignor and the records answer.
@Suite struct KafkaRESTWireTests {
    // MARK: - Content negotiation

    @Test(arguments: KafkaRESTEmbeddedFormat.allCases)
    func produceTakesEveryEmbeddedFormat(format: KafkaRESTEmbeddedFormat) throws {
        #expect(try KafkaRESTMediaType.produceFormat(contentType: format.mediaType) == format)
        #expect(try KafkaRESTMediaType.produceFormat(contentType: format.mediaType + "; charset=utf-8") == format)
    }

    @Test(arguments: [
        nil, "application/json", "application/vnd.kafka.v2+json", "text/plain", "application/vnd.kafka.xml.v2+json",
    ])
    func produceRefusesOtherTypesWith415(contentType: String?) {
        #expect(throws: KafkaRESTError.unsupportedMediaType) {
            try KafkaRESTMediaType.produceFormat(contentType: contentType)
        }
    }

    @Test func jsonBodiesTakeTheThreeJSONTypes() throws {
        for type in KafkaRESTMediaType.responseTypes {
            try KafkaRESTMediaType.checkJSONBody(contentType: type, hasBody: true)
        }
        try KafkaRESTMediaType.checkJSONBody(contentType: nil, hasBody: false)
        #expect(throws: KafkaRESTError.unsupportedMediaType) {
            try KafkaRESTMediaType.checkJSONBody(contentType: "text/plain", hasBody: true)
        }
        #expect(throws: KafkaRESTError.unsupportedMediaType) {
            try KafkaRESTMediaType.checkJSONBody(contentType: nil, hasBody: true)
        }
    }

    @Test func acceptIsNegotiatedWithQualities() throws {
        #expect(try KafkaRESTMediaType.negotiate(accept: nil) == "application/vnd.kafka.v2+json")
        #expect(try KafkaRESTMediaType.negotiate(accept: "*/*") == "application/vnd.kafka.v2+json")
        #expect(try KafkaRESTMediaType.negotiate(accept: "application/json") == "application/json")
        #expect(
            try KafkaRESTMediaType.negotiate(
                accept: "application/vnd.kafka.v2+json; q=0.2, application/vnd.kafka+json; q=0.8, application/json")
                == "application/json")
        #expect(
            try KafkaRESTMediaType.negotiate(accept: "application/*;q=0.5, text/html")
                == "application/vnd.kafka.v2+json")
        #expect(throws: KafkaRESTError.notAcceptable) { try KafkaRESTMediaType.negotiate(accept: "text/html") }
        #expect(throws: KafkaRESTError.notAcceptable) {
            try KafkaRESTMediaType.negotiate(accept: "application/json;q=0")
        }
    }

    @Test func recordsAnswerInTheInstanceFormatOr40601() throws {
        #expect(try KafkaRESTMediaType.recordsFormat(accept: nil, instanceFormat: .json) == .json)
        #expect(try KafkaRESTMediaType.recordsFormat(accept: "*/*", instanceFormat: .binary) == .binary)
        #expect(
            try KafkaRESTMediaType.recordsFormat(
                accept: "application/vnd.kafka.binary.v2+json", instanceFormat: .binary)
                == .binary)
        #expect(throws: KafkaRESTError.consumerFormatMismatch) {
            try KafkaRESTMediaType.recordsFormat(accept: "application/vnd.kafka.avro.v2+json", instanceFormat: .binary)
        }
        #expect(throws: KafkaRESTError.notAcceptable) {
            try KafkaRESTMediaType.recordsFormat(accept: "text/html", instanceFormat: .binary)
        }
    }

    // MARK: - Errors

    @Test func errorsHaveTheProxyShape() {
        var buffer = ByteBuffer()
        KafkaRESTError.topicNotFound.write(to: &buffer)
        #expect(String(buffer: buffer) == #"{"error_code":40401,"message":"Topic not found."}"#)
        #expect(KafkaRESTError.topicNotFound.status == 404)
        #expect(KafkaRESTError.partitionNotFound.errorCode == 40402)
        #expect(KafkaRESTError.consumerInstanceNotFound.errorCode == 40403)
        #expect(KafkaRESTError.consumerFormatMismatch.status == 406)
        #expect(KafkaRESTError.consumerAlreadyExists.errorCode == 40902)
        #expect(KafkaRESTError.illegalState("x").errorCode == 40903)
        #expect(KafkaRESTError.keySchemaMissing.errorCode == 42201)
        #expect(KafkaRESTError.valueSchemaMissing.errorCode == 42202)
        #expect(KafkaRESTError.kafkaError("x").status == 500)
        #expect(KafkaRESTError.unsupportedMediaType.errorCode == 415)
    }

    // MARK: - Produce bodies

    @Test func binaryRecordsAreBase64() throws {
        let request = try KafkaRESTProduceRequest(
            body: ByteBuffer(string: #"{"records":[{"key":"a2V5","value":"dmFsdWU="},{"value":"AAEC","partition":1}]}"#)
        )
        #expect(request.records.count == 2)
        #expect(
            try KafkaRESTProduceRequest.bytes(request.records[0].key, format: .binary, member: "key")
                == Array("key".utf8))
        #expect(
            try KafkaRESTProduceRequest.bytes(request.records[0].value, format: .binary, member: "value")
                == Array("value".utf8))
        #expect(
            try KafkaRESTProduceRequest.bytes(request.records[1].value, format: .binary, member: "value") == [0, 1, 2])
        #expect(request.records[1].key == nil && request.records[1].partition == 1)
        #expect(throws: KafkaRESTError.self) {
            try KafkaRESTProduceRequest.bytes(.string("not base64!"), format: .binary, member: "value")
        }
    }

    @Test func jsonRecordsAreTheirText() throws {
        let request = try KafkaRESTProduceRequest(
            body: ByteBuffer(string: #"{"records":[{"key":"k","value":{"a":[1,2.5,"x"],"b":null}}]}"#))
        #expect(
            try KafkaRESTProduceRequest.bytes(request.records[0].key, format: .json, member: "key")
                == Array(#""k""#.utf8))
        #expect(
            try KafkaRESTProduceRequest.bytes(request.records[0].value, format: .json, member: "value")
                == Array(#"{"a":[1,2.5,"x"],"b":null}"#.utf8))
    }

    @Test func badBodiesAre400Or422() {
        #expect(throws: KafkaRESTError.self) { try KafkaRESTProduceRequest(body: ByteBuffer(string: "{nope")) }
        do {
            _ = try KafkaRESTProduceRequest(body: ByteBuffer(string: "{nope"))
        } catch {
            #expect(error.status == 400 && error.errorCode == 400)
        }
        do {
            _ = try KafkaRESTProduceRequest(body: ByteBuffer(string: #"{"value_schema_id":1}"#))
        } catch {
            #expect(error.status == 422 && error.errorCode == 422)
        }
    }

    @Test func produceAnswerShape() {
        var buffer = ByteBuffer()
        KafkaRESTProduceResponse.write(
            [
                KafkaRESTProduceOffset(partition: 0, offset: 7),
                KafkaRESTProduceOffset(partition: 1, offset: nil, errorCode: 50002, error: "full"),
            ], keySchemaID: nil, valueSchemaID: 3, to: &buffer)
        #expect(
            String(buffer: buffer)
                == #"{"key_schema_id":null,"value_schema_id":3,"offsets":[{"partition":0,"offset":7,"error_code":null,"error":null},{"partition":1,"offset":null,"error_code":50002,"error":"full"}]}"#
        )
    }

    // MARK: - Topics

    @Test func topicNamesMapDotsToLevels() {
        #expect(KafkaRESTTopicName.busTopic(forKafkaTopic: "orders.eu.42") == "orders/eu/42")
        #expect(KafkaRESTTopicName.busTopic(forKafkaTopic: "plain_name-1") == "plain_name-1")
        #expect(KafkaRESTTopicName.isValid("a.b-c_D9"))
        #expect(!KafkaRESTTopicName.isValid("a/b"))
        #expect(!KafkaRESTTopicName.isValid(".."))
        #expect(!KafkaRESTTopicName.isValid(String(repeating: "x", count: 250)))
    }

    @Test func partitionShapeNamesOneBroker() {
        var buffer = ByteBuffer()
        KafkaRESTTopicResponse.writePartition(2, to: &buffer)
        #expect(
            String(buffer: buffer)
                == #"{"partition":2,"leader":0,"replicas":[{"broker":0,"leader":true,"in_sync":true}]}"#)
    }

    // MARK: - Consumers

    @Test func consumerSettingsTakeStringsAsTheProxyDocumentsThem() throws {
        let body = try KafkaRESTJSON.object(
            ByteBuffer(
                string:
                    #"{"name":"c1","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"false","fetch.min.bytes":"10","consumer.request.timeout.ms":500}"#
            ))
        let configuration = try KafkaRESTConsumerConfiguration(body: body)
        #expect(configuration.name == "c1" && configuration.format == .json)
        #expect(configuration.autoOffsetReset == .earliest && !configuration.autoCommit)
        #expect(configuration.fetchMinBytes == 10 && configuration.requestTimeoutMilliseconds == 500)
        let defaults = try KafkaRESTConsumerConfiguration(body: nil)
        #expect(defaults.format == .binary && defaults.autoOffsetReset == .latest && defaults.autoCommit)
        do {
            _ = try KafkaRESTConsumerConfiguration(
                body: try KafkaRESTJSON.object(ByteBuffer(string: #"{"format":"xml"}"#)))
            Issue.record("xml accepted")
        } catch {
            #expect(error.errorCode == 42204)
        }
    }

    @Test func rangeAssignorSplitsPartitionsLikeKafka() {
        let members = [
            KafkaRESTAssignor.Member(id: "b", topics: ["t", "u"]),
            KafkaRESTAssignor.Member(id: "a", topics: ["t"]),
        ]
        let result = KafkaRESTAssignor.range(members: members, partitionCounts: ["t": 3, "u": 2])
        func tp(_ topic: String, _ partition: Int) -> KafkaRESTTopicPartition {
            KafkaRESTTopicPartition(topic: topic, partition: partition)
        }
        #expect(result["a"] == [tp("t", 0), tp("t", 1)])
        #expect(result["b"] == [tp("t", 2), tp("u", 0), tp("u", 1)])
        let alone = KafkaRESTAssignor.range(members: [members[1]], partitionCounts: ["t": 3])
        #expect(alone["a"] == [tp("t", 0), tp("t", 1), tp("t", 2)])
        let missingTopic = KafkaRESTAssignor.range(members: [members[1]], partitionCounts: [:])
        #expect(missingTopic["a"] == [])
    }

    @Test func recordsAnswerInEachFormat() {
        let records = [
            KafkaRESTConsumedRecord(
                topic: "t", partition: 0, offset: 4, key: .bytes(Array("k".utf8)),
                value: .bytes(Array(#"{"a":1}"#.utf8))),
            KafkaRESTConsumedRecord(
                topic: "t", partition: 1, offset: 0, key: .bytes(nil), value: .bytes(Array("hi".utf8))),
        ]
        var binary = ByteBuffer()
        KafkaRESTRecordsResponse.write(records, format: .binary, to: &binary)
        #expect(
            String(buffer: binary)
                == #"[{"topic":"t","key":"aw==","value":"eyJhIjoxfQ==","partition":0,"offset":4},{"topic":"t","key":null,"value":"aGk=","partition":1,"offset":0}]"#
        )
        var json = ByteBuffer()
        KafkaRESTRecordsResponse.write(records, format: .json, to: &json)
        // "k" and "hi" are not JSON (MQTT text, say): they come as JSON strings.
        #expect(
            String(buffer: json)
                == #"[{"topic":"t","key":"k","value":{"a":1},"partition":0,"offset":4},{"topic":"t","key":null,"value":"hi","partition":1,"offset":0}]"#
        )
    }
}
