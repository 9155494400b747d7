import SchemaKit

/// The schemas the fuzz target decodes with: every type and shape the codecs handle.
enum SchemaFuzzCorpus {
    static let schemas: [(SchemaType, String)] = [
        (.avro, #""long""#),
        (.avro, #"["null","string","bytes","double","float","boolean"]"#),
        (.avro, #"{"type":"array","items":{"type":"map","values":["null","int"]}}"#),
        (
            .avro,
            #"{"type":"record","name":"N","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","N"]}]}"#
        ),
        (
            .avro,
            #"{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},{"name":"f","type":{"type":"fixed","name":"F","size":3}},{"name":"a","type":{"type":"array","items":"null"}}]}"#
        ),
        (
            .protobuf,
            """
            syntax = "proto3";
            message M {
              int32 a = 1; int64 b = 2; uint32 c = 3; uint64 d = 4; sint32 e = 5; sint64 f = 6; fixed32 g = 7;
              fixed64 h = 8; sfixed32 i = 9; sfixed64 j = 10; bool k = 11; string l = 12; bytes m = 13; float n = 14;
              double o = 15; E p = 16; repeated int32 q = 17; map<string, M> r = 18; oneof s { string t = 19; M u = 20; }
              optional int32 v = 21; repeated M w = 22; map<int64, E> x = 23;
              enum E { E0 = 0; E1 = 1; }
            }
            """
        ),
        (
            .json,
            ##"{"type":"object","properties":{"a":{"type":"array","items":{"$ref":"#"}}},"unevaluatedProperties":false}"##
        ),
    ]

    /// Valid payloads to mutate, with their schema selector byte first.
    static let seedPayloads: [[UInt8]] = [
        [0, 0x80, 0x01],
        [1, 0x02, 0x06, 0x61, 0x62, 0x63],
        [2, 0x02, 0x02, 0x02, 0x61, 0x02, 0x02, 0x00, 0x00],
        [3, 0x02, 0x02, 0x04, 0x00],
        [4, 0x02, 0x61, 0x62, 0x63, 0x04, 0x00],
        [
            5, 0x08, 0x96, 0x01, 0x62, 0x03, 0x61, 0x62, 0x63, 0x8A, 0x01, 0x03, 0x01, 0x02, 0x03, 0x92, 0x01, 0x04,
            0x0A, 0x00, 0x12, 0x00,
        ],
        [6] + Array(#"{"a":[{"a":[]}]}"#.utf8),
    ]
}
