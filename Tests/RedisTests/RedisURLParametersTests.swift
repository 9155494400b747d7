import Foundation
import NIOSSL
import Testing

@testable import RedisEngine

/// A Redis URL's query parameters (`RedisURLParameters`): secrets from files, TLS roots and client
/// certificates, the sentinels' own credentials; each misuse refused with a message that carries no secret.
@Suite struct RedisURLParametersTests {
    /// A scratch directory with a password file and, made by `openssl`, a self-signed certificate and key.
    final class Files {
        let directory = NSTemporaryDirectory() + "switchboard-redis-url-\(UUID().uuidString)"
        var certificate: String { directory + "/cert.pem" }
        var key: String { directory + "/key.pem" }

        init() throws {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let openssl = Process()
            openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            openssl.arguments = [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                "-keyout", key, "-out", certificate,
            ]
            openssl.standardOutput = FileHandle.nullDevice
            openssl.standardError = FileHandle.nullDevice
            try openssl.run()
            openssl.waitUntilExit()
        }

        func write(_ name: String, _ text: String) throws -> String {
            let path = directory + "/" + name
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }
    }

    @Test func passwordFilesGiveTheirFirstLine() throws {
        let files = try Files()
        let unix = try files.write("unix", "s3cret\nignored\n")
        let dos = try files.write("dos", "p@ss:word\r\n")
        #expect(try RedisClientConfiguration(url: "redis://h?password_file=\(unix)").password == "s3cret")
        let withUser = try RedisClientConfiguration(url: "redis://app@h:7000/2?password_file=\(dos)")
        #expect(withUser.user == "app" && withUser.password == "p@ss:word" && withUser.database == 2)
        let sentinel = try RedisClientConfiguration(url: "redis-sentinel://s1/m?password_file=\(unix)")
        #expect(sentinel.password == "s3cret" && sentinel.sentinel?.password == nil)
    }

    @Test func sentinelsHaveTheirOwnCredentials() throws {
        let files = try Files()
        let file = try files.write("sentinel", "for-sentinels\n")
        let both = try RedisClientConfiguration(
            url: "redis-sentinel://:master-pass@s1,s2/m/1?sentinel_user=watcher&sentinel_password=s%26p")
        #expect(both.password == "master-pass" && both.sentinel?.user == "watcher" && both.sentinel?.password == "s&p")
        let lettuce = try RedisClientConfiguration(url: "redis-sentinel://s1/2?sentinel_password_file=\(file)#m")
        #expect(lettuce.sentinel?.masterName == "m" && lettuce.database == 2)
        #expect(lettuce.sentinel?.password == "for-sentinels" && lettuce.sentinel?.user == nil)
        #expect(lettuce.password == nil)
    }

    @Test func tlsSentinelURLsUseTLSForSentinelsAndMaster() throws {
        let files = try Files()
        let plain = try RedisClientConfiguration(url: "redis-sentinel://s1/m")
        #expect(plain.tls == nil)
        let secure = try RedisClientConfiguration(
            url: "rediss-sentinel://s1,s2/m?ssl_ca_certs=\(files.certificate)&sentinel_password=x")
        #expect(secure.sentinel?.masterName == "m" && secure.sentinel?.password == "x")
        guard case .file(let roots)? = secure.tls?.trustRoots else {
            Issue.record("ssl_ca_certs sets the trust roots")
            return
        }
        #expect(roots == files.certificate)
    }

    @Test func clientCertificatesLoadFromTheirFiles() throws {
        let files = try Files()
        let configuration = try RedisClientConfiguration(
            url: "rediss://h?ssl_certfile=\(files.certificate)&ssl_keyfile=\(files.key)")
        #expect(configuration.tls?.certificateChain.count == 1)
        #expect(configuration.tls?.privateKey != nil)
        #expect(configuration.tls?.trustRoots == .default)
    }

    @Test func misusesAreRefusedWithoutTheirSecrets() throws {
        let files = try Files()
        let password = try files.write("password", "pw\n")
        let notPEM = try files.write("not-pem", "hello\n")
        let bad = [
            "redis://:inline@h?password_file=\(password)",  // two passwords
            "redis://h?password_file=/nonexistent/secret",
            "redis://h?ssl_ca_certs=\(files.certificate)",  // TLS parameter on plain TCP
            "rediss://h?ssl_ca_certs=\(notPEM)", "rediss://h?ssl_ca_certs=/nonexistent.pem",
            "rediss://h?ssl_certfile=\(files.certificate)",  // a certificate without its key
            "rediss://h?ssl_keyfile=\(files.key)", "rediss://h?ssl_certfile=\(notPEM)&ssl_keyfile=\(files.key)",
            "redis://h?sentinel_password=x",  // sentinel parameters without Sentinel
            "redis-sentinel://s/m?sentinel_user=u",  // a user without a password
            "redis-sentinel://s/m?sentinel_password=x&sentinel_password_file=\(password)",
            "redis://h?ssl_ca_cert=x",  // misspelt: not silently ignored
            "redis://h?password_file=", "redis://h?password_file", "redis-sentinel://s/m?%zz=1",
            "rediss-sentinels://s/m",
        ]
        for url in bad {
            #expect(throws: RedisClientError.self, "\(url)") { try RedisClientConfiguration(url: url) }
        }
        for url in ["redis://u:hunter2@h?ssl_ca_certs=x", "redis-sentinel://s/m?sentinel_password=hunter2&nope=1"] {
            do {
                _ = try RedisClientConfiguration(url: url)
                Issue.record("\(url) is refused")
            } catch {
                #expect(!"\(error)".contains("hunter2"), "\(error)")
            }
        }
    }
}
