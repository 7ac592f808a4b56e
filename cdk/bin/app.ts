// Sample app: one stack with an McpLambda, configured from CDK context (-c key=value), e.g.
//
//   npx cdk deploy -c serverCommand='npx -y @modelcontextprotocol/server-memory' \
//     -c sessions=dynamodb -c invokeMode=RESPONSE_STREAM
//   npx cdk deploy -c jwtIssuer=https://issuer.example.com -c jwtAudience=client-id-1,client-id-2
//   npx cdk deploy -c authMode=oauth -c oauthIssuer=https://YOUR-TENANT.eu.auth0.com/ \
//     -c corsAllowOrigins=http://localhost:6274
//   npx cdk deploy -c serverEnv=GITHUB_TOKEN=secretsmanager:prod/github#token \
//     -c secretArns=arn:aws:secretsmanager:REGION:ACCOUNT:secret:prod/github-AbCdEf
//   npx cdk deploy -c capacityProviderSubnetIds=subnet-aaa,subnet-bbb \
//     -c capacityProviderSecurityGroupIds=sg-ccc -c managedInstancesMaxConcurrency=64
//   MCP_LAMBDA_CDK_ASSET=../target/lambda/mcp-lambda npx cdk deploy \
//     -c snapshotFile=/var/task/mcp-snapshot.json    # the snapshot next to bootstrap there
//
// Context keys: stackName, serverCommand, serverConfig, serverName, serverEnv (MCP_LAMBDA_ENV),
// snapshotFile (MCP_LAMBDA_SNAPSHOT), lifecycle, sessions, sessionTtl, sessionKeys, invokeMode,
// authType, architecture, memorySize, timeout (seconds), logRetentionDays, jwtIssuer,
// jwtAudience, authMode (none or oauth), oauthIssuer, oauthResource, oauthScopes, toolScopes,
// corsAllowOrigins, secretParameterArns, secretArns, secretKmsKeyArns, capacityProviderArn or
// capacityProviderSubnetIds with capacityProviderSecurityGroupIds and
// capacityProviderMaxVCpuCount (Lambda Managed Instances), managedInstancesMaxConcurrency,
// managedInstancesMemoryGiBPerVCpu (lists comma-separated). See docs/DEPLOY.md.

import { App, CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';

import { McpLambda, type McpLambdaProps } from '../lib/mcp-lambda';

const app = new App();
const ctx = (key: string): string | undefined => {
  const v: unknown = app.node.tryGetContext(key);
  return v === undefined || v === null || v === '' ? undefined : String(v);
};
const num = (key: string): number | undefined => {
  const v = ctx(key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`context ${key}=${v} is not a number`);
  return n;
};
const list = (key: string): string[] | undefined => ctx(key)?.split(',').map((s) => s.trim());

const stack = new Stack(app, ctx('stackName') ?? 'McpLambda', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: 'mcp-lambda: a stdio MCP server behind MCP Streamable HTTP on AWS Lambda (cdk/).',
});

const timeout = num('timeout');
const retention = num('logRetentionDays');
const issuer = ctx('jwtIssuer');
const authMode = ctx('authMode') ?? 'none';
if (authMode !== 'none' && authMode !== 'oauth') throw new Error(`context authMode=${authMode}: none or oauth`);
for (const key of ['oauthIssuer', 'oauthResource', 'oauthScopes', 'toolScopes']) {
  if (authMode !== 'oauth' && ctx(key) !== undefined) throw new Error(`context ${key} needs authMode=oauth`);
}
const corsAllowOrigins = list('corsAllowOrigins');
const capacityProviderArn = ctx('capacityProviderArn');
const capacityProviderSubnetIds = list('capacityProviderSubnetIds');
const managedInstances = capacityProviderArn !== undefined || capacityProviderSubnetIds !== undefined;
for (const key of ['capacityProviderSecurityGroupIds', 'capacityProviderMaxVCpuCount', 'managedInstancesMaxConcurrency', 'managedInstancesMemoryGiBPerVCpu']) {
  if (!managedInstances && ctx(key) !== undefined)
    throw new Error(`context ${key} needs capacityProviderArn or capacityProviderSubnetIds (Lambda Managed Instances)`);
}
const serverEnv = ctx('serverEnv');
const props: McpLambdaProps = {
  serverCommand: ctx('serverCommand'),
  serverConfig: ctx('serverConfig'),
  serverName: ctx('serverName'),
  snapshotFile: ctx('snapshotFile'),
  lifecycle: ctx('lifecycle') as McpLambdaProps['lifecycle'],
  sessions: ctx('sessions') as McpLambdaProps['sessions'],
  sessionTtl: ctx('sessionTtl'),
  sessionKeys: ctx('sessionKeys'),
  invokeMode: ctx('invokeMode') as McpLambdaProps['invokeMode'],
  authType: ctx('authType') as McpLambdaProps['authType'],
  architecture: ctx('architecture') as McpLambdaProps['architecture'],
  memorySize: num('memorySize'),
  timeout: timeout === undefined ? undefined : Duration.seconds(timeout),
  logRetention: retention as logs.RetentionDays | undefined,
  httpApi: issuer ? { issuer, audience: (ctx('jwtAudience') ?? '').split(',').map((a) => a.trim()) } : undefined,
  oauth:
    authMode === 'oauth'
      ? {
          issuers: list('oauthIssuer') ?? [],
          resource: ctx('oauthResource'),
          scopes: ctx('oauthScopes')?.split(/[\s,]+/).filter(Boolean),
          toolScopes: list('toolScopes'),
        }
      : undefined,
  cors: corsAllowOrigins ? { allowOrigins: corsAllowOrigins } : undefined,
  secrets: {
    parameterArns: list('secretParameterArns'),
    secretArns: list('secretArns'),
    kmsKeyArns: list('secretKmsKeyArns'),
  },
  managedInstances: managedInstances
    ? {
        capacityProviderArn,
        subnetIds: capacityProviderSubnetIds,
        securityGroupIds: list('capacityProviderSecurityGroupIds'),
        maxVCpuCount: num('capacityProviderMaxVCpuCount'),
        maxConcurrency: num('managedInstancesMaxConcurrency'),
        memoryGiBPerVCpu: num('managedInstancesMemoryGiBPerVCpu'),
      }
    : undefined,
  // The server's variables; ssm: and secretsmanager: values are read at INIT (list their ARNs).
  environment: serverEnv ? { MCP_LAMBDA_ENV: serverEnv } : undefined,
};
const mcp = new McpLambda(stack, 'Mcp', props);

new CfnOutput(stack, 'McpEndpoint', {
  description: 'The MCP endpoint on the Function URL (point MCP clients here).',
  value: mcp.endpoint,
});
if (mcp.oauthResource) {
  new CfnOutput(stack, 'OAuthResource', {
    description: "The resource URI tokens' aud must contain (register it at the authorization server).",
    value: mcp.oauthResource,
  });
}
new CfnOutput(stack, 'FunctionName', { description: 'The Lambda function.', value: mcp.function.functionName });
new CfnOutput(stack, 'LogGroupName', { description: "The function's log group.", value: mcp.logGroup.logGroupName });
if (mcp.httpApiEndpoint) {
  new CfnOutput(stack, 'HttpApiEndpoint', {
    description: 'The MCP endpoint on the API Gateway HTTP API (send a JWT as Authorization Bearer).',
    value: mcp.httpApiEndpoint,
  });
}
if (mcp.table) {
  new CfnOutput(stack, 'SessionTableName', {
    description: 'The DynamoDB session table (MCP_LAMBDA_SESSION_TABLE).',
    value: mcp.table.tableName,
  });
}
if (mcp.capacityProvider) {
  new CfnOutput(stack, 'CapacityProviderArn', {
    description: 'The capacity provider the function runs on (Lambda Managed Instances).',
    value: mcp.capacityProvider.capacityProviderArn,
  });
}
