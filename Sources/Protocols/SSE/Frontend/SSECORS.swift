package import FrontendKit

/// SSE's and long polling's cross-origin rules are FrontendKit's (`HTTPCORS`), shared with Engine.IO's
/// polling transport.
package typealias SSECORS = HTTPCORS
