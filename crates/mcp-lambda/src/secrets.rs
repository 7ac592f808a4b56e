//! Secret references in the child's environment (`--env K=ssm:/p`, `secretsmanager:id#key`, the
//! same in an `mcpServers` file), resolved once at start-up when the binary is built with the
//! `aws-secrets` feature (the default); without it a reference stops start-up, saying so.

use mcp_lambda_core::ServerCommand;

/// `server` with every variable of `refs` (name, reference) set to the secret's value; fails
/// with one line naming the variable and the reference (never a value).
#[cfg(feature = "aws-secrets")]
pub(crate) async fn resolved(
    server: &ServerCommand,
    refs: &[(String, String)],
) -> anyhow::Result<ServerCommand> {
    use mcp_lambda_secrets::{Resolver, SecretRef};
    if refs.is_empty() {
        return Ok(server.clone());
    }
    let mut parsed = Vec::with_capacity(refs.len());
    for (name, value) in refs {
        match SecretRef::parse(value) {
            Some(Ok(r)) => parsed.push((name.clone(), r)),
            Some(Err(e)) => anyhow::bail!("--env {name}={value}: {e}"),
            None => {}
        }
    }
    let resolver = Resolver::from_env()
        .await
        .map_err(|e| anyhow::anyhow!("secrets: {e}"))?;
    let values = resolver
        .resolve(&parsed)
        .await
        .map_err(|(name, r, e)| anyhow::anyhow!("--env {name}={r}: {e}"))?;
    let mut out = server.clone();
    for (name, value) in values {
        for (k, v) in out.env.iter_mut() {
            if *k == name {
                *v = value.clone();
            }
        }
    }
    tracing::info!(
        variables = ?refs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        "secrets resolved for the MCP server"
    );
    Ok(out)
}

/// Without the `aws-secrets` feature: a reference cannot be resolved.
#[cfg(not(feature = "aws-secrets"))]
pub(crate) async fn resolved(
    server: &ServerCommand,
    refs: &[(String, String)],
) -> anyhow::Result<ServerCommand> {
    if let Some((name, value)) = refs.first() {
        anyhow::bail!(
            "--env {name}={value}: this binary was built without secret support (feature aws-secrets)"
        );
    }
    Ok(server.clone())
}
