import BusRuntime
package import FrontendKit
import NIOCore
import NIOHTTP1

extension NATSMonitor {
    /// The monitoring port's routes: nats-server's paths, each answered from a fresh snapshot of the
    /// connections (one hop to each event loop that has NATS clients).
    package func register(into router: inout HTTPRouter.Builder) {
        let bus = services.bus
        let directory = services.directory
        router.add(.GET, "/varz") { [self] _, loop in
            countRequest("/varz")
            return directory.snapshots(on: loop).map { [self] in Self.json(varz($0, now: bus.clock())) }
        }
        for path in ["/connz", "/subsz"] {
            router.add(.GET, path) { [self] request, loop in
                countRequest(path)
                let options: NATSConnzOptions
                do {
                    options = try NATSConnzOptions(query: request.query)
                } catch let error as NATSMonitorError {
                    return loop.makeSucceededFuture(Self.badRequest(error.description))
                } catch {
                    return loop.makeSucceededFuture(Self.badRequest("\(error)"))
                }
                return directory.snapshots(on: loop).map { [self] snapshots in
                    let now = bus.clock()
                    return Self.json(
                        path == "/connz"
                            ? connz(snapshots, options: options, now: now)
                            : subsz(snapshots, options: options, now: now))
                }
            }
        }
        router.add(.GET, "/routez") { [self] _, loop in
            countRequest("/routez")
            return loop.makeSucceededFuture(Self.json(routez(now: bus.clock())))
        }
        router.add(.GET, "/healthz") { [self] _, loop in
            countRequest("/healthz")
            return loop.makeSucceededFuture(Self.json(healthz()))
        }
        router.add(.GET, "/") { [self] _, loop in
            countRequest("/")
            let links = Self.paths.map { "<a href=\".\($0)\">\($0)</a><br>" }.joined(separator: "\n")
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/html; charset=utf-8")
            return loop.makeSucceededFuture(
                HTTPResponse(
                    status: .ok, headers: headers,
                    body: ByteBuffer(
                        string: "<html><body><h1>Switchboard NATS monitoring</h1>\n\(links)\n</body></html>\n")))
        }
    }

    private static func json(_ body: ByteBuffer) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        return HTTPResponse(status: .ok, headers: headers, body: body)
    }

    /// nats-server answers a bad query with 400 and the reason as plain text.
    private static func badRequest(_ text: String) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        return HTTPResponse(status: .badRequest, headers: headers, body: ByteBuffer(string: text))
    }
}
