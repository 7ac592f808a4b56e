//! Creating the session table (`mcp-lambda sessions create-table`).
//!
//! Contract: [`DynamoStore::create_table`] is idempotent. It creates the table if it does not
//! exist (on-demand capacity, partition key `session_id` of type S), waits until it is ACTIVE
//! (bounded by [`DynamoOptions::table_active_timeout`](crate::DynamoOptions)), and makes sure
//! time to live is enabled on `expires_at`. An existing table is never modified except to enable
//! that TTL; an existing table keyed otherwise, or with TTL already set on another attribute, is
//! an error, not altered.

use std::fmt;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TableDescription, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};

use crate::error::DynamoError;
use crate::item::{EXPIRES_AT, SESSION_ID};
use crate::store::DynamoStore;

/// How often `create_table` asks whether the table is ACTIVE yet.
const POLL: Duration = Duration::from_millis(500);

/// What [`DynamoStore::create_table`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOutcome {
    /// The table.
    pub table: String,
    /// `true` if the table was created now, `false` if it already existed.
    pub created: bool,
    /// `true` if TTL on `expires_at` was enabled now, `false` if it already was.
    pub ttl_enabled: bool,
}

impl fmt::Display for CreateOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = if self.created {
            "created"
        } else {
            "already existed"
        };
        let ttl = if self.ttl_enabled {
            "time to live enabled"
        } else {
            "time to live already enabled"
        };
        write!(f, "table {:?} {table}; {ttl} on {EXPIRES_AT}", self.table)
    }
}

impl DynamoStore {
    /// Creates the session table if needed, waits until it is ACTIVE and enables TTL on
    /// `expires_at`. Safe to run again on an existing table.
    pub async fn create_table(&self) -> Result<CreateOutcome, DynamoError> {
        let created = self.create_if_missing().await?;
        self.wait_active().await?;
        let ttl_enabled = self.ensure_ttl().await?;
        Ok(CreateOutcome {
            table: self.table().to_owned(),
            created,
            ttl_enabled,
        })
    }

    async fn create_if_missing(&self) -> Result<bool, DynamoError> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| DynamoError::Sdk {
            table: self.table().to_owned(),
            op: "CreateTable",
            cause: e.to_string(),
        };
        let create = self
            .client()
            .create_table()
            .table_name(self.table())
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(SESSION_ID)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(SESSION_ID)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(build)?,
            );
        match self.run("CreateTable", || create.clone().send()).await? {
            Ok(_) => Ok(true),
            Err(e) if e.is_resource_in_use_exception() => Ok(false),
            Err(e) => Err(self.service_error("CreateTable", &e)),
        }
    }

    async fn wait_active(&self) -> Result<(), DynamoError> {
        let limit = self.options().table_active_timeout;
        let start = Instant::now();
        let describe = self.client().describe_table().table_name(self.table());
        loop {
            let out = match self
                .run("DescribeTable", || describe.clone().send())
                .await?
            {
                Ok(out) => out,
                Err(e) => return Err(self.service_error("DescribeTable", &e)),
            };
            let Some(table) = out.table else {
                return Err(DynamoError::Sdk {
                    table: self.table().to_owned(),
                    op: "DescribeTable",
                    cause: "the answer describes no table".into(),
                });
            };
            self.check_key(&table)?;
            let status = table.table_status;
            let waiting = match &status {
                Some(TableStatus::Active) => return Ok(()),
                Some(TableStatus::Creating | TableStatus::Updating) => true,
                _ => false,
            };
            if !waiting || start.elapsed() + POLL > limit {
                return Err(DynamoError::NotActive {
                    table: self.table().to_owned(),
                    waited: start.elapsed(),
                    status: status.map_or_else(|| "unknown".to_owned(), |s| s.as_str().to_owned()),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The table's key must be `session_id` (S) alone, or the store cannot use it.
    fn check_key(&self, table: &TableDescription) -> Result<(), DynamoError> {
        let keys: Vec<String> = table
            .key_schema()
            .iter()
            .map(|k| format!("{} ({})", k.attribute_name(), k.key_type().as_str()))
            .collect();
        let session_id_is_s = table.attribute_definitions().iter().any(|d| {
            d.attribute_name() == SESSION_ID && d.attribute_type() == &ScalarAttributeType::S
        });
        if keys == [format!("{SESSION_ID} (HASH)")] && session_id_is_s {
            return Ok(());
        }
        Err(DynamoError::WrongKey {
            table: self.table().to_owned(),
            found: keys.join(", "),
        })
    }

    /// Enables TTL on `expires_at` unless it already is; `true` if it was enabled now.
    async fn ensure_ttl(&self) -> Result<bool, DynamoError> {
        let describe = self
            .client()
            .describe_time_to_live()
            .table_name(self.table());
        let out = match self
            .run("DescribeTimeToLive", || describe.clone().send())
            .await?
        {
            Ok(out) => out,
            Err(e) => return Err(self.service_error("DescribeTimeToLive", &e)),
        };
        let current = out
            .time_to_live_description
            .map(|d| (d.time_to_live_status, d.attribute_name))
            .unwrap_or_default();
        match current {
            (Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling), Some(attr))
                if attr == EXPIRES_AT =>
            {
                return Ok(false);
            }
            (Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling), Some(attr)) => {
                return Err(DynamoError::TtlAttribute {
                    table: self.table().to_owned(),
                    found: attr,
                });
            }
            _ => {}
        }
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(EXPIRES_AT)
            .enabled(true)
            .build()
            .map_err(|e| DynamoError::Sdk {
                table: self.table().to_owned(),
                op: "UpdateTimeToLive",
                cause: e.to_string(),
            })?;
        let update = self
            .client()
            .update_time_to_live()
            .table_name(self.table())
            .time_to_live_specification(spec);
        match self
            .run("UpdateTimeToLive", || update.clone().send())
            .await?
        {
            Ok(_) => Ok(true),
            Err(e) => Err(self.service_error("UpdateTimeToLive", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_reads_well() {
        let o = CreateOutcome {
            table: "sessions".into(),
            created: true,
            ttl_enabled: true,
        };
        assert_eq!(
            o.to_string(),
            "table \"sessions\" created; time to live enabled on expires_at"
        );
        let o = CreateOutcome {
            created: false,
            ttl_enabled: false,
            ..o
        };
        assert_eq!(
            o.to_string(),
            "table \"sessions\" already existed; time to live already enabled on expires_at"
        );
    }
}
