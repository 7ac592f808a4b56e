//! `--sessions dynamodb` and `mcp-lambda sessions create-table`, present when the binary is
//! built with the `dynamodb` feature (the default); without it both say so and fail.

use std::sync::Arc;
#[cfg(feature = "dynamodb")]
use std::time::Duration;

use mcp_lambda_core::SessionStore;
#[cfg(feature = "dynamodb")]
use mcp_lambda_dynamodb::{DynamoOptions, DynamoStore};

use crate::config::Config;

#[cfg(feature = "dynamodb")]
/// The DynamoDB session store named by the configuration.
pub(crate) async fn store(config: &Config) -> anyhow::Result<Arc<dyn SessionStore>> {
    let table = config
        .session_table
        .clone()
        .ok_or_else(|| anyhow::anyhow!("--session-table (MCP_LAMBDA_SESSION_TABLE) is required"))?;
    let store = DynamoStore::from_env(table, config.session_ttl, DynamoOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("--sessions dynamodb: {e}"))?;
    Ok(Arc::new(store))
}

#[cfg(feature = "dynamodb")]
/// `mcp-lambda sessions create-table`.
pub(crate) fn create_table(table: String) -> std::process::ExitCode {
    let Some(runtime) = crate::async_runtime(tokio::runtime::Builder::new_current_thread()) else {
        return std::process::ExitCode::FAILURE;
    };
    let outcome = runtime.block_on(async {
        let store =
            DynamoStore::from_env(table, Duration::from_secs(3600), DynamoOptions::default())
                .await?;
        store.create_table().await
    });
    match outcome {
        Ok(o) => {
            println!("{o}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mcp-lambda: error: sessions create-table: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "dynamodb"))]
const MISSING: &str = "this mcp-lambda was built without the `dynamodb` feature";

/// Without the `dynamodb` feature: an error naming the missing feature.
#[cfg(not(feature = "dynamodb"))]
pub(crate) async fn store(config: &Config) -> anyhow::Result<Arc<dyn SessionStore>> {
    anyhow::bail!(
        "--sessions dynamodb (table {:?}): {MISSING}",
        config.session_table
    )
}

/// Without the `dynamodb` feature: an error naming the missing feature.
#[cfg(not(feature = "dynamodb"))]
pub(crate) fn create_table(table: String) -> std::process::ExitCode {
    eprintln!("mcp-lambda: error: sessions create-table {table}: {MISSING}");
    std::process::ExitCode::FAILURE
}
