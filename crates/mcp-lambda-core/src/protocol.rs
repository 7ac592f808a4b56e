//! MCP protocol eras and the Streamable HTTP header names.
//!
//! Contract: this module is the single list of protocol versions the HTTP endpoint accepts in
//! `MCP-Protocol-Version`, and of the per-version rules (batches only in 2025-03-26).

/// Versions whose Streamable HTTP transport this endpoint serves (initialize handshake era).
pub const LEGACY_VERSIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25"];

/// Version assumed when a request carries no `MCP-Protocol-Version` header (per the
/// 2025-06-18 transport: "assume 2025-03-26").
pub const DEFAULT_VERSION: &str = "2025-03-26";

/// The newest version we speak in the initialize era.
pub const LATEST_VERSION: &str = "2025-11-25";

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
    use super::*;

    #[test]
    fn versions() {
        assert!(is_supported("2025-06-18"));
        assert!(!is_supported("2026-07-28"));
        assert!(!is_supported("garbage"));
        assert!(allows_batch(DEFAULT_VERSION));
        assert!(!allows_batch(LATEST_VERSION));
    }
}
