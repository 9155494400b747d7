import FrontendKit
import NIOCore
import NIOHTTP1
import Testing

@testable import ServerApp

@Suite struct ClientAssetTests {
    private func request(_ path: String, ifNoneMatch: String? = nil) -> HTTPRequest {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        if let ifNoneMatch { head.headers.add(name: "If-None-Match", value: ifNoneMatch) }
        return HTTPRequest(head: head, body: ByteBuffer(), remoteAddress: nil)
    }

    @Test func everyEmbeddedFileDecodesWithItsTypeAndETag() {
        #expect(
            ClientAsset.all.map(\.path) == [
                "/", "/dashboard/dashboard.js", "/sdk/switchboard.js", "/sdk/switchboard.iife.js",
                "/sdk/switchboard-react.js",
            ])
        for asset in ClientAsset.all {
            #expect(asset.body.readableBytes > 0)
            #expect(asset.etag.hasPrefix("\"") && asset.etag.hasSuffix("\"") && asset.etag.count == 34)
        }
        let page = ClientAsset.dashboardPage.body.getString(at: 0, length: ClientAsset.dashboardPage.body.readableBytes)
        #expect(page?.contains(#"<script src="/dashboard/dashboard.js"></script>"#) == true)
        #expect(ClientAsset.dashboardPage.contentType == "text/html; charset=utf-8")
        #expect(ClientAsset.sdkModule.contentType == "text/javascript; charset=utf-8")
    }

    @Test func answersTheFileOrNotModifiedForItsETag() {
        let asset = ClientAsset.sdkModule
        let full = asset.response(to: request(asset.path))
        #expect(full.status == .ok)
        #expect(full.body == asset.body)
        #expect(full.headers.first(name: "ETag") == asset.etag)
        #expect(full.headers.first(name: "Cache-Control") == "no-cache")
        #expect(full.headers.first(name: "Content-Type") == asset.contentType)

        // RFC 9110 §13.1.2: a matching If-None-Match (in a list, weak or `*`) → 304 without a body.
        for header in [asset.etag, "\"other\", \(asset.etag)", "W/\(asset.etag)", "*"] {
            let cached = asset.response(to: request(asset.path, ifNoneMatch: header))
            #expect(cached.status == .notModified, "\(header)")
            #expect(cached.body.readableBytes == 0)
            #expect(cached.headers.first(name: "ETag") == asset.etag)
        }
        #expect(asset.response(to: request(asset.path, ifNoneMatch: "\"other\"")).status == .ok)
    }
}
