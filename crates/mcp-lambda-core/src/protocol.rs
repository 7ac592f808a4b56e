//! MCP protocol eras and the Streamable HTTP header names.
//!
//! Contract: this module is the single list of protocol versions the HTTP endpoint accepts in
//! `MCP-Protocol-Version`, and of the per-version rules (batches only in 2025-03-26). Versions
//! come in two eras: *legacy* (initialize handshake, optional sessions: [`LEGACY_VERSIONS`]) and
//! *modern* (stateless, every request carries its `_meta`: [`MODERN_VERSIONS`]).

/// Versions whose Streamable HTTP transport this endpoint serves (initialize handshake era).
pub const LEGACY_VERSIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25"];

/// Version assumed when a request carries no `MCP-Protocol-Version` header (per the
/// 2025-06-18 transport: "assume 2025-03-26").
pub const DEFAULT_VERSION: &str = "2025-03-26";

/// The newest version we speak in the initialize era.
pub const LATEST_VERSION: &str = "2025-11-25";

/// Versions of the stateless era (no initialize; per-request `_meta`; `server/discover`).
pub const MODERN_VERSIONS: &[&str] = &["2026-07-28"];

/// The newest modern version (what the wrapper speaks to a modern child).
pub const LATEST_MODERN_VERSION: &str = "2026-07-28";

/// Every version this endpoint serves, newest first: the `supported` list of an
/// `UnsupportedProtocolVersionError` and of our `server/discover` answers.
pub const SERVED_VERSIONS: &[&str] = &["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"];

/// `_meta` key: the request's protocol version (modern era).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key: the client's capabilities for this request (modern era).
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key: the client's name and version (modern era, optional).
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key: the minimum log level for this request (modern era, optional).
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key on results: the server's name and version (modern era).
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// `Mcp-Method` header (modern era): mirrors the body's `method`.
pub const METHOD_HEADER: &str = "mcp-method";
/// `Mcp-Name` header (modern era): mirrors `params.name` / `params.uri`.
pub const NAME_HEADER: &str = "mcp-name";
/// Prefix of the per-parameter headers a tool declares with `x-mcp-header` (modern era).
pub const PARAM_HEADER_PREFIX: &str = "mcp-param-";

/// The newest version of the legacy family `v` belongs to: legacy clients of one family are
/// served faithfully by one child initialized with that version (docs/PROTOCOL-ERAS.md, "Legacy
/// versions that share a child"). 2025-06-18 and 2025-11-25 form one family — what 2025-11-25
/// changed for a stdio server is optional fields and features gated on client capabilities —
/// and every other version is its own: 2025-06-18 changed what a 2025-03-26 client is sent
/// (structured tool output, `resource_link` content) and removed batches.
pub fn family(v: &str) -> &str {
    match v {
        "2025-06-18" | "2025-11-25" => LATEST_VERSION,
        other => other,
    }
}

/// `true` if `v` is a version of the stateless era.
pub fn is_modern(v: &str) -> bool {
    MODERN_VERSIONS.contains(&v)
}

/// The `params` member `Mcp-Name` mirrors for `method`, if the method carries a name.
pub fn name_param(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// Legacy-only methods a modern client must not send (removed in 2026-07-28), answered
/// `-32601` / 404 on the modern path.
pub const REMOVED_IN_MODERN: &[&str] = &[
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// `Mcp-Session-Id` header.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// `MCP-Protocol-Version` header.
pub const VERSION_HEADER: &str = "mcp-protocol-version";

/// Older versions a stdio child may still negotiate (and a client then echo in the header).
pub const OLDER_VERSIONS: &[&str] = &["2024-11-05"];

/// `true` if `v` may appear in `MCP-Protocol-Version`: a Streamable HTTP era version, or an older
/// one a child negotiated with its client.
pub fn is_supported(v: &str) -> bool {
    LEGACY_VERSIONS.contains(&v) || OLDER_VERSIONS.contains(&v)
}

/// `true` if JSON-RPC batches are allowed in version `v` (only 2025-03-26; removed in 2025-06-18).
pub fn allows_batch(v: &str) -> bool {
    v == "2025-03-26" || v == "2024-11-05"
}

#[cfg(test)]
mod tests {
    #[test]
    fn families() {
        assert_eq!(super::family("2025-06-18"), "2025-11-25");
        assert_eq!(super::family("2025-11-25"), "2025-11-25");
        assert_eq!(super::family("2025-03-26"), "2025-03-26");
        assert_eq!(super::family("2024-11-05"), "2024-11-05");
    }

    use super::*;

    #[test]
    fn versions() {
        assert!(is_supported("2025-06-18"));
        assert!(!is_supported("2026-07-28"));
        assert!(!is_supported("garbage"));
        assert!(allows_batch(DEFAULT_VERSION));
        assert!(!allows_batch(LATEST_VERSION));
        assert!(is_modern("2026-07-28"));
        assert!(!is_modern("2025-11-25"));
        assert_eq!(name_param("resources/read"), Some("uri"));
        assert_eq!(name_param("tools/list"), None);
        for v in LEGACY_VERSIONS.iter().chain(MODERN_VERSIONS) {
            assert!(SERVED_VERSIONS.contains(v));
        }
    }
}
