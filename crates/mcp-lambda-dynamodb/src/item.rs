//! A [`Session`] as a DynamoDB item, and back.
//!
//! Contract — the item layout, which other tools (the CloudFormation/CDK/Terraform tables, an
//! operator's `aws dynamodb get-item`) may rely on:
//!
//! | attribute          | type | content                                                  |
//! |--------------------|------|----------------------------------------------------------|
//! | `session_id`       | S    | partition key: the session id (the client's handle)      |
//! | `protocol_version` | S    | negotiated MCP protocol version                          |
//! | `init_params`      | S    | the client's initialize `params`, raw JSON               |
//! | `principal`        | S    | who opened the session; absent when unknown              |
//! | `created_at`       | N    | epoch milliseconds                                       |
//! | `last_seen`        | N    | epoch milliseconds                                       |
//! | `expires_at`       | N    | epoch **seconds**: the table's TTL attribute             |
//!
//! Times are truncated to those units, so a round trip loses sub-millisecond (sub-second for
//! `expires_at`) precision. An item missing an attribute, or holding one of the wrong type, is
//! rejected as a whole, never half-read.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use mcp_lambda_core::Session;

/// The partition key (S): the session id.
pub const SESSION_ID: &str = "session_id";
/// The table's TTL attribute (N, epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";
/// The negotiated protocol version (S).
pub const PROTOCOL_VERSION: &str = "protocol_version";
/// The client's initialize params, raw JSON (S).
pub const INIT_PARAMS: &str = "init_params";
/// Who opened the session (S), absent when unknown.
pub const PRINCIPAL: &str = "principal";
/// When the session was opened (N, epoch milliseconds).
pub const CREATED_AT: &str = "created_at";
/// When the session was last written as used (N, epoch milliseconds).
pub const LAST_SEEN: &str = "last_seen";

/// Longest handle looked up; anything longer cannot be one of ours.
pub(crate) const MAX_HANDLE_LEN: usize = 128;

/// Why an item could not be read as a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ItemError {
    /// A required attribute is absent.
    #[error("attribute {0} is missing")]
    Missing(&'static str),
    /// An attribute has the wrong DynamoDB type or an unparsable number.
    #[error("attribute {0} has the wrong type or value")]
    Malformed(&'static str),
}

/// Whether `handle` can be a session id: 1 to 128 visible ASCII characters (0x21..=0x7E), as
/// the MCP spec requires of `Mcp-Session-Id`. Anything else is rejected before DynamoDB is asked.
pub(crate) fn valid_handle(handle: &str) -> bool {
    !handle.is_empty()
        && handle.len() <= MAX_HANDLE_LEN
        && handle.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// `t` as epoch milliseconds (0 before the epoch).
pub(crate) fn epoch_millis(t: SystemTime) -> u64 {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// `t` as epoch seconds, truncated (0 before the epoch).
pub(crate) fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn from_secs(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

/// A number attribute value.
pub(crate) fn num(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// The item that stores `session`.
pub(crate) fn to_item(session: &Session) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::with_capacity(7);
    item.insert(SESSION_ID.into(), AttributeValue::S(session.id.clone()));
    item.insert(
        PROTOCOL_VERSION.into(),
        AttributeValue::S(session.protocol_version.clone()),
    );
    item.insert(
        INIT_PARAMS.into(),
        AttributeValue::S(session.init_params.to_string()),
    );
    if let Some(p) = &session.principal {
        item.insert(PRINCIPAL.into(), AttributeValue::S(p.clone()));
    }
    item.insert(CREATED_AT.into(), num(epoch_millis(session.created_at)));
    item.insert(LAST_SEEN.into(), num(epoch_millis(session.last_seen)));
    item.insert(EXPIRES_AT.into(), num(epoch_secs(session.expires_at)));
    item
}

fn string(item: &HashMap<String, AttributeValue>, name: &'static str) -> Result<String, ItemError> {
    match item.get(name) {
        None => Err(ItemError::Missing(name)),
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        Some(_) => Err(ItemError::Malformed(name)),
    }
}

fn number(item: &HashMap<String, AttributeValue>, name: &'static str) -> Result<u64, ItemError> {
    match item.get(name) {
        None => Err(ItemError::Missing(name)),
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| ItemError::Malformed(name)),
        Some(_) => Err(ItemError::Malformed(name)),
    }
}

/// The session an item stores.
pub(crate) fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Session, ItemError> {
    let principal = match item.get(PRINCIPAL) {
        None | Some(AttributeValue::Null(true)) => None,
        Some(AttributeValue::S(s)) => Some(s.clone()),
        Some(_) => return Err(ItemError::Malformed(PRINCIPAL)),
    };
    Ok(Session {
        id: string(item, SESSION_ID)?,
        protocol_version: string(item, PROTOCOL_VERSION)?,
        init_params: Arc::from(string(item, INIT_PARAMS)?),
        principal,
        created_at: from_millis(number(item, CREATED_AT)?),
        last_seen: from_millis(number(item, LAST_SEEN)?),
        expires_at: from_secs(number(item, EXPIRES_AT)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(principal: Option<&str>) -> Session {
        let t = UNIX_EPOCH + Duration::from_millis(1_760_000_000_123);
        Session {
            id: "ab".repeat(32),
            protocol_version: "2025-06-18".into(),
            init_params: Arc::from(
                r#"{"capabilities":{},"clientInfo":{"name":"c","version":"1"},"x":[1,2.50]}"#,
            ),
            principal: principal.map(str::to_owned),
            created_at: t,
            last_seen: t + Duration::from_millis(5),
            expires_at: t + Duration::from_secs(3600),
        }
    }

    #[test]
    fn item_layout_is_the_documented_one() {
        let item = to_item(&session(Some("arn:aws:iam::123456789012:user/alice")));
        assert_eq!(item[SESSION_ID], AttributeValue::S("ab".repeat(32)));
        assert_eq!(
            item[PROTOCOL_VERSION],
            AttributeValue::S("2025-06-18".into())
        );
        assert_eq!(
            item[INIT_PARAMS],
            AttributeValue::S(
                r#"{"capabilities":{},"clientInfo":{"name":"c","version":"1"},"x":[1,2.50]}"#
                    .into()
            ),
            "the raw JSON is stored byte for byte"
        );
        assert_eq!(
            item[PRINCIPAL],
            AttributeValue::S("arn:aws:iam::123456789012:user/alice".into())
        );
        assert_eq!(item[CREATED_AT], AttributeValue::N("1760000000123".into()));
        assert_eq!(item[LAST_SEEN], AttributeValue::N("1760000000128".into()));
        assert_eq!(
            item[EXPIRES_AT],
            AttributeValue::N("1760003600".into()),
            "expires_at is in epoch seconds (DynamoDB TTL), truncated"
        );
        assert_eq!(item.len(), 7);
    }

    #[test]
    fn no_principal_means_no_attribute() {
        let item = to_item(&session(None));
        assert!(!item.contains_key(PRINCIPAL));
        assert_eq!(item.len(), 6);
        assert_eq!(from_item(&item).unwrap().principal, None);
    }

    #[test]
    fn round_trip_truncates_to_the_stored_units() {
        for principal in [None, Some("sub-123")] {
            let mut s = session(principal);
            s.created_at += Duration::from_nanos(999_999);
            s.expires_at += Duration::from_millis(800);
            let back = from_item(&to_item(&s)).unwrap();
            let mut expected = session(principal);
            expected.expires_at = UNIX_EPOCH + Duration::from_secs(1_760_003_600);
            assert_eq!(back, expected);
        }
    }

    #[test]
    fn times_before_the_epoch_are_zero() {
        let mut s = session(None);
        s.created_at = UNIX_EPOCH - Duration::from_secs(5);
        let item = to_item(&s);
        assert_eq!(item[CREATED_AT], AttributeValue::N("0".into()));
    }

    #[test]
    fn malformed_items_are_rejected_by_name() {
        let good = to_item(&session(Some("p")));
        for name in [
            SESSION_ID,
            PROTOCOL_VERSION,
            INIT_PARAMS,
            CREATED_AT,
            LAST_SEEN,
            EXPIRES_AT,
        ] {
            let mut item = good.clone();
            item.remove(name);
            assert_eq!(from_item(&item), Err(ItemError::Missing(name)));
        }
        let mut item = good.clone();
        item.insert(EXPIRES_AT.into(), AttributeValue::S("soon".into()));
        assert_eq!(from_item(&item), Err(ItemError::Malformed(EXPIRES_AT)));
        let mut item = good.clone();
        item.insert(LAST_SEEN.into(), AttributeValue::N("1.5e3".into()));
        assert_eq!(from_item(&item), Err(ItemError::Malformed(LAST_SEEN)));
        let mut item = good.clone();
        item.insert(PRINCIPAL.into(), AttributeValue::Bool(true));
        assert_eq!(from_item(&item), Err(ItemError::Malformed(PRINCIPAL)));
        let mut item = good;
        item.insert(PROTOCOL_VERSION.into(), AttributeValue::N("2025".into()));
        assert_eq!(
            from_item(&item),
            Err(ItemError::Malformed(PROTOCOL_VERSION))
        );
    }

    #[test]
    fn handles_are_visible_ascii_up_to_128() {
        assert!(valid_handle(&"a".repeat(64)));
        assert!(valid_handle(&"~".repeat(128)));
        assert!(valid_handle("!"));
        assert!(!valid_handle(""));
        assert!(!valid_handle(&"a".repeat(129)));
        assert!(!valid_handle("has space"));
        assert!(!valid_handle("tab\t"));
        assert!(!valid_handle("del\u{7f}"));
        assert!(!valid_handle("é"));
    }
}
