//! Tokens kept between runs, one file per endpoint.
//!
//! Contract: the file for an endpoint is `DIR/<first 32 hex digits of SHA-256(endpoint URL)>.json`
//! (the URL itself is not in the name). It is written whole to a new temporary file (random
//! name, created exclusively, mode 0600) in a directory of mode 0700 (an existing directory
//! open to others is made private first, or the write refused), then renamed over the old one,
//! so a reader never sees half a file and no other user can read or plant a token. A file larger than
//! [`MAX_ENTRY`], unreadable or not an entry is ignored (and replaced at the next sign-in), and
//! so is one written for another endpoint. Tokens are never logged.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Largest cache file read.
pub(crate) const MAX_ENTRY: u64 = 256 * 1024;

/// A client registration with an authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Client {
    /// The authorization server's issuer.
    pub(crate) issuer: String,
    /// The client identifier.
    pub(crate) client_id: String,
    /// The client secret, when the registration gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_secret: Option<String>,
    /// The redirect URI registered.
    pub(crate) redirect_uri: String,
}

/// What is kept for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The endpoint URL the entry is for.
    pub(crate) endpoint: String,
    /// The resource the tokens were issued for.
    pub(crate) resource: String,
    /// The client the tokens were issued to.
    pub(crate) client: Client,
    /// The token endpoint (for refreshing without discovery).
    pub(crate) token_endpoint: String,
    /// The access token.
    #[serde(default)]
    pub(crate) access_token: Option<String>,
    /// When the access token expires (seconds since the epoch), when known.
    #[serde(default)]
    pub(crate) expires_at: Option<u64>,
    /// The refresh token.
    #[serde(default)]
    pub(crate) refresh_token: Option<String>,
    /// The scopes asked for.
    #[serde(default)]
    pub(crate) scope: Option<String>,
}

/// The cache directory.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    /// A store in `dir`.
    pub(crate) fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    /// The default directory: `$XDG_CACHE_HOME/mcp-lambda/oauth`, else
    /// `$HOME/.cache/mcp-lambda/oauth` (`%LOCALAPPDATA%` on Windows).
    pub(crate) fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| Path::new(&h).join(".cache"))
            })
            .or_else(|| std::env::var_os("LOCALAPPDATA").map(PathBuf::from))?;
        Some(base.join("mcp-lambda").join("oauth"))
    }

    /// The file for `endpoint`.
    pub(crate) fn path(&self, endpoint: &str) -> PathBuf {
        let digest = Sha256::digest(endpoint.as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.json"))
    }

    /// The entry for `endpoint`, when there is a usable one.
    pub(crate) fn load(&self, endpoint: &str) -> Option<Entry> {
        use std::io::Read;
        let path = self.path(endpoint);
        let mut raw = Vec::new();
        std::fs::File::open(&path)
            .ok()?
            .take(MAX_ENTRY + 1)
            .read_to_end(&mut raw)
            .ok()?;
        if raw.len() as u64 > MAX_ENTRY {
            tracing::warn!(path = %path.display(), "token cache file too large; ignored");
            return None;
        }
        match serde_json::from_slice::<Entry>(&raw) {
            Ok(e) if e.endpoint == endpoint => Some(e),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "token cache file unreadable; ignored");
                None
            }
        }
    }

    /// Writes `entry` (see the module docs).
    pub(crate) fn save(&self, entry: &Entry) -> std::io::Result<()> {
        create_private_dir(&self.dir)?;
        let path = self.path(&entry.endpoint);
        let tmp = path.with_extension(format!("tmp-{:016x}", rand::random::<u64>()));
        let json = serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?;
        let mut opts = std::fs::OpenOptions::new();
        // a new file only: never through a link or into a file someone else made
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let written = (|| {
            use std::io::Write;
            let mut f = opts.open(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

/// Creates `dir` (and its parents), the last with mode 0700; an existing one that others can
/// read or write is made private, or refused when it cannot be.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir)?;
        if !meta.is_dir() {
            return Err(std::io::Error::other(format!(
                "{} is not a directory",
                dir.display()
            )));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
                std::io::Error::other(format!(
                    "{} is open to other users and cannot be made private: {e}",
                    dir.display()
                ))
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(endpoint: &str) -> Entry {
        Entry {
            endpoint: endpoint.into(),
            resource: endpoint.into(),
            client: Client {
                issuer: "https://as.example".into(),
                client_id: "c1".into(),
                client_secret: None,
                redirect_uri: "http://127.0.0.1:5/callback".into(),
            },
            token_endpoint: "https://as.example/token".into(),
            access_token: Some("at".into()),
            expires_at: Some(1),
            refresh_token: Some("rt".into()),
            scope: None,
        }
    }

    #[test]
    fn entries_round_trip_privately_and_per_endpoint() {
        let dir = std::env::temp_dir().join(format!("mcpl-oauth-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::new(dir.join("nested"));
        assert_eq!(store.load("https://a.example/mcp"), None);
        let e = entry("https://a.example/mcp");
        store.save(&e).unwrap();
        assert_eq!(store.load("https://a.example/mcp"), Some(e.clone()));
        assert_eq!(store.load("https://b.example/mcp"), None);
        let path = store.path("https://a.example/mcp");
        assert!(!path.to_string_lossy().contains("a.example"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.join("nested")), 0o700);
        }
        // A file written for another endpoint under this name, junk, or a huge file: ignored.
        let mut other = e.clone();
        other.endpoint = "https://b.example/mcp".into();
        std::fs::write(&path, serde_json::to_vec(&other).unwrap()).unwrap();
        assert_eq!(store.load("https://a.example/mcp"), None);
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(store.load("https://a.example/mcp"), None);
        std::fs::write(&path, vec![b' '; MAX_ENTRY as usize + 1]).unwrap();
        assert_eq!(store.load("https://a.example/mcp"), None);
        // Saving again replaces it whole; a directory opened to others is made private again.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let nested = dir.join("nested");
            std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o777)).unwrap();
            store.save(&e).unwrap();
            let mode = std::fs::metadata(&nested).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700);
        }
        store.save(&e).unwrap();
        assert_eq!(store.load("https://a.example/mcp"), Some(e));
        assert_eq!(
            std::fs::read_dir(dir.join("nested")).unwrap().count(),
            1,
            "no temporary file left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
