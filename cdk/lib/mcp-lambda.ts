// McpLambda: a stdio MCP server behind MCP Streamable HTTP on AWS Lambda (the `mcp-lambda`
// binary as the `bootstrap` of a provided.al2023 function), with the same choices as the SAM
// template at the repository root (template.yaml, docs/DEPLOY.md): a Function URL (AWS_IAM by
// default) whose invoke mode is mirrored into MCP_LAMBDA_INVOKE_MODE, optionally with CORS for
// browser clients, an optional OAuth resource server (the binary checks bearer tokens; the URL
// is then open), an optional API Gateway HTTP API with a JWT authorizer, an optional DynamoDB
// session table with TTL, grants on the secrets the server's environment references,
// least-privilege IAM and a log group with a retention; optionally on Lambda Managed Instances
// (a capacity provider: many invocations per execution environment, sharing the server process).
//
// The function is built by cargo-lambda-cdk's RustFunction, which runs the local `cargo lambda
// build` (no Docker). `codeAsset` (or MCP_LAMBDA_CDK_ASSET) points at a directory that already
// holds a `bootstrap` instead: a binary built beforehand, or a placeholder for an offline synth.

import * as path from 'node:path';

import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';

/** How the wrapped server process lives (MCP_LAMBDA_LIFECYCLE). */
export type Lifecycle = 'reuse' | 'per-request' | 'per-session';
/** The session store (MCP_LAMBDA_SESSIONS). */
export type Sessions = 'none' | 'memory' | 'token' | 'dynamodb';
/** The Function URL's invoke mode, also given to the binary as MCP_LAMBDA_INVOKE_MODE. */
export type InvokeMode = 'BUFFERED' | 'RESPONSE_STREAM';
/** The Function URL's authentication. */
export type AuthType = 'AWS_IAM' | 'NONE';
/** The function's instruction set; the binary must be built for the same one. */
export type Architecture = 'arm64' | 'x86_64';

/** The DynamoDB item actions the session store calls (crates/mcp-lambda-dynamodb/src/store.rs). */
export const SESSION_STORE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:GetItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
] as const;

/** The actions the secret resolver calls (crates/mcp-lambda-secrets), one per service. */
export const SECRET_ACTIONS = {
  parameter: 'ssm:GetParameter',
  secret: 'secretsmanager:GetSecretValue',
  key: 'kms:Decrypt',
} as const;

/** The Function URL's CORS for browser clients: the methods and headers of Streamable HTTP. */
export const CORS_ALLOW_HEADERS = [
  'authorization',
  'content-type',
  'accept',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
  'mcp-method',
  'mcp-name',
] as const;
export const CORS_EXPOSE_HEADERS = ['mcp-session-id', 'mcp-protocol-version', 'www-authenticate'] as const;

/** The endpoint as an OAuth 2.1 resource server (MCP_LAMBDA_AUTH=oauth): the binary checks
 * bearer JWT access tokens itself and answers 401 with a WWW-Authenticate challenge, so the
 * Function URL is open (authType 'NONE', the default with oauth; 'AWS_IAM' is refused). */
export interface McpOAuthProps {
  /** The trusted authorization servers' issuer URLs, https; at least one (MCP_LAMBDA_OAUTH_ISSUER). */
  readonly issuers: string[];
  /** This endpoint's canonical URI, which tokens' aud must contain (MCP_LAMBDA_OAUTH_RESOURCE).
   * Default: derived by the binary from the Function URL (`endpoint`); set it behind CloudFront
   * or a custom domain. */
  readonly resource?: string;
  /** Scopes every request needs (MCP_LAMBDA_OAUTH_SCOPES). */
  readonly scopes?: string[];
  /** Scopes particular tools need, GLOB=SCOPE[ SCOPE...] rules (MCP_LAMBDA_TOOL_SCOPE), e.g.
   * 'write_*=files:write'. */
  readonly toolScopes?: string[];
}

/** CORS on the Function URL for browser MCP clients (the MCP Inspector). */
export interface McpCorsProps {
  /** Allowed origins, e.g. 'http://localhost:6274'; '*' allows any. Also MCP_LAMBDA_ALLOW_ORIGIN
   * (the binary answers other Origins 403). */
  readonly allowOrigins: string[];
}

/** What the server's environment references as `ssm:/name` or `secretsmanager:ID[#key]`
 * (resolved at INIT with the function's role): the role may read exactly these. */
export interface McpSecretsProps {
  /** SSM parameter ARNs: ssm:GetParameter on these. */
  readonly parameterArns?: string[];
  /** Secrets Manager secret ARNs: secretsmanager:GetSecretValue on these. */
  readonly secretArns?: string[];
  /** Customer-managed KMS keys of those parameters and secrets: kms:Decrypt on these, through
   * SSM and Secrets Manager only. */
  readonly kmsKeyArns?: string[];
}

/** Lambda Managed Instances: the function on a capacity provider, an existing one
 * (`capacityProviderArn`) or one the construct creates (`subnetIds` and `securityGroupIds`).
 * Each execution environment serves `maxConcurrency` invocations at once (Lambda passes it as
 * AWS_LAMBDA_MAX_CONCURRENCY); with lifecycle 'reuse' they share one server process. */
export interface McpManagedInstancesProps {
  /** An existing capacity provider's ARN (its architecture must be the function's). */
  readonly capacityProviderArn?: string;
  /** Subnets (1-16) of a capacity provider the construct creates; they need a route to the
   * internet or VPC endpoints for CloudWatch Logs and what the server calls. */
  readonly subnetIds?: string[];
  /** Its security groups (1-5; outbound traffic allowed). */
  readonly securityGroupIds?: string[];
  /** Most vCPUs the created capacity provider scales to. Default: the service's limit. */
  readonly maxVCpuCount?: number;
  /** PerExecutionEnvironmentMaxConcurrency, 1..1600. Default 64 (an I/O-bound server). */
  readonly maxConcurrency?: number;
  /** ExecutionEnvironmentMemoryGiBPerVCpu, 2..8. Default 2. */
  readonly memoryGiBPerVCpu?: number;
}

/** An API Gateway HTTP API in front of the function, ANY /mcp behind a JWT authorizer. */
export interface McpHttpApiProps {
  /** The JWT issuer URL, e.g. https://cognito-idp.REGION.amazonaws.com/POOL_ID. */
  readonly issuer: string;
  /** Accepted audiences (aud or client_id); at least one. */
  readonly audience: string[];
}

export interface McpLambdaProps {
  /** The stdio server's command line, shell-quoted (MCP_LAMBDA_COMMAND). At most one of
   * serverCommand and serverConfig; neither serves the example server bundled in the binary. */
  readonly serverCommand?: string;
  /** Path inside the function of an mcpServers JSON file (MCP_LAMBDA_CONFIG). */
  readonly serverConfig?: string;
  /** Which entry of serverConfig to serve (MCP_LAMBDA_SERVER); needs serverConfig. */
  readonly serverName?: string;
  /** Default 'reuse'. */
  readonly lifecycle?: Lifecycle;
  /** Absolute path inside the function of a snapshot taken at build time (`mcp-lambda snapshot
   * -o mcp-snapshot.json -- SERVER COMMAND`) and shipped in the package (MCP_LAMBDA_SNAPSHOT),
   * e.g. '/var/task/mcp-snapshot.json' for a file next to `bootstrap` in `codeAsset`: a cold
   * instance answers initialize and the lists from it while the server starts. A stale snapshot
   * is logged and answered live. Default: none. */
  readonly snapshotFile?: string;
  /** Default 'none'. 'dynamodb' creates the session table and grants its item actions. */
  readonly sessions?: Sessions;
  /** An unused session expires after this (MCP_LAMBDA_SESSION_TTL), e.g. '30m'. Default '1h'. */
  readonly sessionTtl?: string;
  /** 'token' sessions only (and then required): 32-byte keys, hex or base64, comma-separated
   * (MCP_LAMBDA_SESSION_KEYS). They end up in the function's configuration. */
  readonly sessionKeys?: string;
  /** Default 'BUFFERED'. 'RESPONSE_STREAM' streams SSE (progress, logs, server requests). */
  readonly invokeMode?: InvokeMode;
  /** Default 'AWS_IAM' (SigV4), 'NONE' with `oauth`; 'NONE' makes the URL public. */
  readonly authType?: AuthType;
  /** Makes the endpoint an OAuth 2.1 resource server (MCP_LAMBDA_AUTH=oauth). */
  readonly oauth?: McpOAuthProps;
  /** CORS on the Function URL for browser clients. Default: none. */
  readonly cors?: McpCorsProps;
  /** The parameters, secrets and keys the server's environment references. */
  readonly secrets?: McpSecretsProps;
  /** Default 'arm64'. */
  readonly architecture?: Architecture;
  /** MB, 128..10240 (with `managedInstances` 2048..32768). Default 512 (2048). */
  readonly memorySize?: number;
  /** 3 s..900 s. Default 60 s. Through the HTTP API a request is cut at 30 s. */
  readonly timeout?: Duration;
  /** The function's log group retention. Default one month. */
  readonly logRetention?: logs.RetentionDays;
  /** Application log level (Lambda sets AWS_LAMBDA_LOG_LEVEL). Default INFO. */
  readonly logLevel?: lambda.ApplicationLogLevel;
  /** Adds an API Gateway HTTP API with a JWT authorizer. */
  readonly httpApi?: McpHttpApiProps;
  /** Runs the function on Lambda Managed Instances. Default: an ordinary Lambda function. */
  readonly managedInstances?: McpManagedInstancesProps;
  /** More environment variables for the function (MCP_LAMBDA_* tuning, MCP_LAMBDA_ENV for the
   * server's own, e.g. 'GITHUB_TOKEN=secretsmanager:prod/github#token' with its ARN in `secrets`). */
  readonly environment?: Record<string, string>;
  /** A directory holding a built `bootstrap`: used as is instead of building with cargo lambda.
   * Default: the MCP_LAMBDA_CDK_ASSET environment variable, else build. */
  readonly codeAsset?: string;
  /** The crate to build. Default: crates/mcp-lambda/Cargo.toml of this repository. */
  readonly manifestPath?: string;
}

export class McpLambda extends Construct {
  /** The function. */
  public readonly function: lambda.Function;
  /** The Function URL. */
  public readonly functionUrl: lambda.FunctionUrl;
  /** The Function URL (ends with '/'); the MCP endpoint is `endpoint`. */
  public readonly url: string;
  /** The MCP endpoint on the Function URL (its /mcp path). */
  public readonly endpoint: string;
  /** With `oauth`: the resource URI tokens' aud must contain (oauth.resource, else `endpoint`). */
  public readonly oauthResource?: string;
  /** The function's log group. */
  public readonly logGroup: logs.LogGroup;
  /** The session table, with sessions 'dynamodb'. */
  public readonly table?: dynamodb.Table;
  /** The HTTP API, with `httpApi`. */
  public readonly httpApi?: apigwv2.HttpApi;
  /** The MCP endpoint on the HTTP API, with `httpApi`. */
  public readonly httpApiEndpoint?: string;
  /** With `managedInstances`: the capacity provider the function runs on. */
  public readonly capacityProvider?: lambda.ICapacityProvider;

  constructor(scope: Construct, id: string, props: McpLambdaProps = {}) {
    super(scope, id);
    check(props);
    const sessions = props.sessions ?? 'none';
    const invokeMode = props.invokeMode ?? 'BUFFERED';
    // oauth: the binary is the gate, the Function URL is open (check() refuses AWS_IAM).
    const authType = props.authType ?? (props.oauth ? 'NONE' : 'AWS_IAM');
    const secrets = props.secrets ?? {};
    const architecture =
      (props.architecture ?? 'arm64') === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // Least privilege: no AWSLambdaBasicExecutionRole (logs:CreateLogGroup on *); write to its
    // own log group only.
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: "mcp-lambda function: its log group, with dynamodb sessions the session table, the server's secrets.",
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    if (sessions === 'dynamodb') {
      // Key and TTL attribute as crates/mcp-lambda-dynamodb/src/item.rs writes them.
      this.table = new dynamodb.Table(this, 'SessionTable', {
        partitionKey: { name: 'session_id', type: dynamodb.AttributeType.STRING },
        timeToLiveAttribute: 'expires_at',
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        // Sessions are short-lived (TTL): nothing to keep when the stack goes.
        removalPolicy: RemovalPolicy.DESTROY,
      });
      // Not table.grantReadWriteData: that grants batch, scan and query actions the store never calls.
      role.addToPolicy(
        new iam.PolicyStatement({ actions: [...SESSION_STORE_ACTIONS], resources: [this.table.tableArn] }),
      );
    }

    // Read at INIT, before the server starts: the one read action of each service on the ARNs
    // listed only; kms:Decrypt only as SSM or Secrets Manager decrypts for the function.
    if (secrets.parameterArns?.length) {
      role.addToPolicy(new iam.PolicyStatement({ actions: [SECRET_ACTIONS.parameter], resources: [...secrets.parameterArns] }));
    }
    if (secrets.secretArns?.length) {
      role.addToPolicy(new iam.PolicyStatement({ actions: [SECRET_ACTIONS.secret], resources: [...secrets.secretArns] }));
    }
    if (secrets.kmsKeyArns?.length) {
      const region = Stack.of(this).region;
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: [SECRET_ACTIONS.key],
          resources: [...secrets.kmsKeyArns],
          conditions: {
            StringEquals: { 'kms:ViaService': [`ssm.${region}.amazonaws.com`, `secretsmanager.${region}.amazonaws.com`] },
          },
        }),
      );
    }

    const environment: Record<string, string> = {
      MCP_LAMBDA_LIFECYCLE: props.lifecycle ?? 'reuse',
      MCP_LAMBDA_SESSIONS: sessions,
      MCP_LAMBDA_SESSION_TTL: props.sessionTtl ?? '1h',
      // Must match the Function URL's InvokeMode: the binary answers in that shape.
      MCP_LAMBDA_INVOKE_MODE: invokeMode,
      MCP_LAMBDA_AUTH: props.oauth ? 'oauth' : 'none',
      ...(props.oauth ? { MCP_LAMBDA_OAUTH_ISSUER: props.oauth.issuers.join(',') } : {}),
      ...(props.oauth?.resource ? { MCP_LAMBDA_OAUTH_RESOURCE: props.oauth.resource } : {}),
      ...(props.oauth?.scopes?.length ? { MCP_LAMBDA_OAUTH_SCOPES: props.oauth.scopes.join(',') } : {}),
      ...(props.oauth?.toolScopes?.length ? { MCP_LAMBDA_TOOL_SCOPE: props.oauth.toolScopes.join(',') } : {}),
      // Must match the Function URL's CORS origins: the binary answers other Origins 403.
      ...(props.cors ? { MCP_LAMBDA_ALLOW_ORIGIN: props.cors.allowOrigins.join(',') } : {}),
      ...(props.serverCommand ? { MCP_LAMBDA_COMMAND: props.serverCommand } : {}),
      ...(props.serverConfig ? { MCP_LAMBDA_CONFIG: props.serverConfig } : {}),
      ...(props.serverName ? { MCP_LAMBDA_SERVER: props.serverName } : {}),
      ...(props.snapshotFile ? { MCP_LAMBDA_SNAPSHOT: props.snapshotFile } : {}),
      ...(props.sessionKeys ? { MCP_LAMBDA_SESSION_KEYS: props.sessionKeys } : {}),
      ...(this.table ? { MCP_LAMBDA_SESSION_TABLE: this.table.tableName } : {}),
      ...props.environment,
    };

    const managed = props.managedInstances;
    const common = {
      architecture,
      // Lambda Managed Instances need at least 2 GB (1 vCPU), shared by the concurrent invocations.
      memorySize: props.memorySize ?? (managed ? 2048 : 512),
      timeout: props.timeout ?? Duration.seconds(60),
      role,
      environment,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: props.logLevel ?? lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      description: 'mcp-lambda: a stdio MCP server behind MCP Streamable HTTP',
    };
    const asset = props.codeAsset ?? process.env.MCP_LAMBDA_CDK_ASSET;
    this.function = asset
      ? new lambda.Function(this, 'Function', {
          ...common,
          runtime: lambda.Runtime.PROVIDED_AL2023,
          handler: 'bootstrap',
          code: lambda.Code.fromAsset(asset),
        })
      : new RustFunction(this, 'Function', {
          ...common,
          runtime: 'provided.al2023',
          manifestPath: props.manifestPath ?? path.join(__dirname, '..', '..', 'crates', 'mcp-lambda', 'Cargo.toml'),
          binaryName: 'mcp-lambda',
        });

    if (managed) {
      // Many invocations per execution environment: Lambda sets AWS_LAMBDA_MAX_CONCURRENCY from
      // perExecutionEnvironmentMaxConcurrency (check() refuses it in `environment`). Every
      // deployment is published to $LATEST.PUBLISHED, which an unqualified invoke (the Function
      // URL's) runs.
      this.capacityProvider = managed.capacityProviderArn
        ? lambda.CapacityProvider.fromCapacityProviderArn(this, 'CapacityProvider', managed.capacityProviderArn)
        : new lambda.CapacityProvider(this, 'CapacityProvider', {
            subnets: (managed.subnetIds ?? []).map((id, i) => ec2.Subnet.fromSubnetId(this, `Subnet${i}`, id)),
            securityGroups: (managed.securityGroupIds ?? []).map((id, i) =>
              ec2.SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, id),
            ),
            // The instances run the function's binary: the same instruction set. The operator
            // role it creates has AWSLambdaManagedEC2ResourceOperator only.
            architectures: [architecture],
            maxVCpuCount: managed.maxVCpuCount,
          });
      const maxConcurrency = managed.maxConcurrency ?? 64;
      const memoryGiBPerVCpu = managed.memoryGiBPerVCpu ?? 2;
      if (this.capacityProvider instanceof lambda.CapacityProvider) {
        this.capacityProvider.addFunction(this.function, {
          perExecutionEnvironmentMaxConcurrency: maxConcurrency,
          executionEnvironmentMemoryGiBPerVCpu: memoryGiBPerVCpu,
          publishToLatestPublished: true,
        });
      } else {
        // An imported capacity provider has no addFunction: the same two properties on the L1.
        const cfn = this.function.node.defaultChild as lambda.CfnFunction;
        cfn.capacityProviderConfig = {
          lambdaManagedInstancesCapacityProviderConfig: {
            capacityProviderArn: this.capacityProvider.capacityProviderArn,
            perExecutionEnvironmentMaxConcurrency: maxConcurrency,
            executionEnvironmentMemoryGiBPerVCpu: memoryGiBPerVCpu,
          },
        };
        cfn.publishToLatestPublished = true;
      }
    }

    // addFunctionUrl with NONE also adds the resource policy a public URL needs.
    this.functionUrl = this.function.addFunctionUrl({
      authType: authType === 'AWS_IAM' ? lambda.FunctionUrlAuthType.AWS_IAM : lambda.FunctionUrlAuthType.NONE,
      invokeMode: invokeMode === 'RESPONSE_STREAM' ? lambda.InvokeMode.RESPONSE_STREAM : lambda.InvokeMode.BUFFERED,
      // Browser MCP clients (the MCP Inspector): the methods and headers of Streamable HTTP.
      cors: props.cors
        ? {
            allowedOrigins: [...props.cors.allowOrigins],
            allowedMethods: [lambda.HttpMethod.GET, lambda.HttpMethod.POST, lambda.HttpMethod.DELETE],
            allowedHeaders: [...CORS_ALLOW_HEADERS],
            exposedHeaders: [...CORS_EXPOSE_HEADERS],
            maxAge: Duration.seconds(600),
          }
        : undefined,
    });
    this.url = this.functionUrl.url;
    this.endpoint = `${this.functionUrl.url}mcp`;
    if (props.oauth) this.oauthResource = props.oauth.resource ?? this.endpoint;

    if (props.httpApi) {
      // ANY /mcp behind a JWT authorizer, payload 2.0; sessions bind to the token's sub.
      this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
        description: 'MCP Streamable HTTP endpoint (mcp-lambda) with a JWT authorizer.',
        createDefaultStage: true,
      });
      this.httpApi.addRoutes({
        path: '/mcp',
        methods: [apigwv2.HttpMethod.ANY],
        integration: new HttpLambdaIntegration('Integration', this.function, {
          // The integration timeout stays API Gateway's default, its maximum (30 s).
          payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
        }),
        authorizer: new HttpJwtAuthorizer('jwt', props.httpApi.issuer, {
          jwtAudience: props.httpApi.audience,
        }),
      });
      this.httpApiEndpoint = `${this.httpApi.apiEndpoint}/mcp`;
    }
  }
}

/** The rules template.yaml states as CloudFormation Rules, checked at synth time. */
function check(props: McpLambdaProps): void {
  const fail = (msg: string): never => {
    throw new Error(`McpLambda: ${msg}`);
  };
  if (props.serverCommand && props.serverConfig) fail('give serverCommand or serverConfig, not both');
  if (props.serverName && !props.serverConfig) fail('serverName selects an entry of serverConfig; set serverConfig too');
  if (props.snapshotFile && !Token.isUnresolved(props.snapshotFile) && !props.snapshotFile.startsWith('/'))
    fail(`snapshotFile ${JSON.stringify(props.snapshotFile)} is not an absolute path inside the function (e.g. /var/task/mcp-snapshot.json)`);
  if ((props.sessions ?? 'none') === 'token' && !props.sessionKeys)
    fail('token sessions need sessionKeys (openssl rand -hex 32)');
  if (props.sessionTtl !== undefined && !/^[0-9]+(ms|s|m|h|d)$/.test(props.sessionTtl))
    fail(`sessionTtl ${JSON.stringify(props.sessionTtl)} is not a number with ms, s, m, h or d`);
  const https = (v: string) => Token.isUnresolved(v) || /^https:\/\/[^,?#\s]+$/.test(v);
  if (props.oauth) {
    const o = props.oauth;
    if (props.authType === 'AWS_IAM')
      fail("oauth needs authType 'NONE': the binary checks the bearer token itself, and an AWS_IAM Function URL would refuse every OAuth client before it");
    if (o.issuers.length === 0) fail('oauth needs at least one issuer URL');
    for (const i of o.issuers) if (!https(i)) fail(`oauth issuer ${JSON.stringify(i)} is not an https URL without query or fragment`);
    if (o.resource !== undefined && !https(o.resource))
      fail(`oauth resource ${JSON.stringify(o.resource)} is not an https URL without query or fragment`);
    for (const s of o.scopes ?? []) if (!/^[!#-[\]-~]+$/.test(s)) fail(`oauth scope ${JSON.stringify(s)} is not a scope token`);
    for (const r of o.toolScopes ?? []) if (!/^[^=,]+=[^=,]+$/.test(r)) fail(`oauth toolScopes rule ${JSON.stringify(r)} is not GLOB=SCOPE`);
  }
  if (props.cors) {
    if (props.cors.allowOrigins.length === 0) fail('cors needs at least one origin');
    for (const o of props.cors.allowOrigins)
      if (!Token.isUnresolved(o) && o !== '*' && !/^https?:\/\/[^/,\s]+$/.test(o))
        fail(`cors origin ${JSON.stringify(o)} is not '*' or scheme://host[:port]`);
  }
  const arns: [string[] | undefined, RegExp, string][] = [
    [props.secrets?.parameterArns, /^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter\/.+$/, 'an SSM parameter ARN'],
    [props.secrets?.secretArns, /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$/, 'a Secrets Manager secret ARN'],
    [props.secrets?.kmsKeyArns, /^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key\/[A-Za-z0-9-]+$/, 'a KMS key ARN'],
  ];
  for (const [list, pattern, what] of arns)
    for (const a of list ?? []) if (!Token.isUnresolved(a) && !pattern.test(a)) fail(`secrets: ${JSON.stringify(a)} is not ${what}`);
  // The environment cannot turn OAuth on behind an AWS_IAM URL, nor open Origins without CORS.
  const owned = [
    'MCP_LAMBDA_AUTH',
    'MCP_LAMBDA_OAUTH_ISSUER',
    'MCP_LAMBDA_OAUTH_RESOURCE',
    'MCP_LAMBDA_OAUTH_SCOPES',
    'MCP_LAMBDA_TOOL_SCOPE',
    'MCP_LAMBDA_ALLOW_ORIGIN',
  ];
  for (const k of Object.keys(props.environment ?? {}))
    if (owned.includes(k)) fail(`environment: ${k} comes from the oauth and cors props`);
  if (props.httpApi) {
    if (!props.httpApi.issuer) fail("the HTTP API's JWT authorizer needs an issuer");
    if (props.httpApi.audience.length === 0 || props.httpApi.audience.some((a) => !a))
      fail("the HTTP API's JWT authorizer needs an audience (no empty entries)");
  }
  const managed = props.managedInstances;
  const [low, high] = managed ? [2048, 32768] : [128, 10240];
  const memory = props.memorySize;
  if (memory !== undefined && !Token.isUnresolved(memory) && (memory < low || memory > high))
    fail(`memorySize ${memory} is not within ${low}..${high} MB${managed ? ' (Lambda Managed Instances)' : ''}`);
  // Lambda sets AWS_LAMBDA_MAX_CONCURRENCY on a Managed Instance (managedInstances.maxConcurrency).
  if (Object.keys(props.environment ?? {}).includes('AWS_LAMBDA_MAX_CONCURRENCY'))
    fail('environment: Lambda sets AWS_LAMBDA_MAX_CONCURRENCY on a Managed Instance (managedInstances.maxConcurrency)');
  if (managed) {
    const subnets = managed.subnetIds ?? [];
    const groups = managed.securityGroupIds ?? [];
    if (managed.capacityProviderArn !== undefined) {
      if (subnets.length || groups.length || managed.maxVCpuCount !== undefined)
        fail('managedInstances: give capacityProviderArn (an existing capacity provider) or subnetIds, securityGroupIds and maxVCpuCount (one the construct creates), not both');
      if (!Token.isUnresolved(managed.capacityProviderArn) && !/^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:capacity-provider:[a-zA-Z0-9-_]+$/.test(managed.capacityProviderArn))
        fail(`managedInstances: capacityProviderArn ${JSON.stringify(managed.capacityProviderArn)} is not a capacity provider ARN`);
    } else {
      if (subnets.length < 1 || subnets.length > 16) fail('managedInstances: a capacity provider needs 1 to 16 subnetIds (or give capacityProviderArn)');
      if (groups.length < 1 || groups.length > 5) fail('managedInstances: a capacity provider needs 1 to 5 securityGroupIds');
      for (const id of subnets) if (!Token.isUnresolved(id) && !/^subnet-[0-9a-z]+$/.test(id)) fail(`managedInstances: ${JSON.stringify(id)} is not a subnet ID`);
      for (const id of groups) if (!Token.isUnresolved(id) && !/^sg-[0-9a-zA-Z]+$/.test(id)) fail(`managedInstances: ${JSON.stringify(id)} is not a security group ID`);
    }
    const c = managed.maxConcurrency;
    if (c !== undefined && !Token.isUnresolved(c) && (!Number.isInteger(c) || c < 1 || c > 1600))
      fail(`managedInstances: maxConcurrency ${c} is not a whole number within 1..1600`);
    const r = managed.memoryGiBPerVCpu;
    if (r !== undefined && !Token.isUnresolved(r) && (r < 2 || r > 8)) fail(`managedInstances: memoryGiBPerVCpu ${r} is not within 2..8`);
  }
  const timeout = props.timeout?.toSeconds();
  if (timeout !== undefined && (timeout < 3 || timeout > 900)) fail(`timeout ${timeout} s is not within 3..900 s`);
}
