import BusCore
import Testing

/// The vectors of Kafka's own `UtilsTest.testMurmur2`: a key lands where a Kafka producer puts it.
@Suite struct KafkaPartitionerTests {
    @Test(arguments: [
        ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971), ("abc", 479_470_107),
        ("1", -1_993_445_489), ("12", 126_087_238), ("123", -267_702_483), ("1234", -1_614_185_708),
        ("12345", -1_188_365_604),
    ])
    func murmur2MatchesKafka(key: String, hash: Int32) {
        #expect(KafkaPartitioner.murmur2(Array(key.utf8)) == hash)
    }

    @Test func partitionsArePositiveAndStable() {
        #expect(KafkaPartitioner.toPositive(Int32.min) == 0)
        #expect(KafkaPartitioner.toPositive(-1) == Int32.max)
        // murmur2("21") = -973932308 → positive 1173551340 → partition mod 3 = 0, mod 7 = 4.
        #expect(KafkaPartitioner.partition(forKey: Array("21".utf8), count: 3) == 1_173_551_340 % 3)
        #expect(KafkaPartitioner.partition(forKey: Array("21".utf8), count: 7) == 1_173_551_340 % 7)
        #expect(KafkaPartitioner.partition(forKey: [], count: 1) == 0)
    }
}
