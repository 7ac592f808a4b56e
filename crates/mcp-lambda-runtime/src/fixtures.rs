//! The Lambda event fixtures of `tests/data/`, shared by this crate's unit tests.

pub(crate) const FUNCTION_URL_IAM: &str = include_str!("../../../tests/data/function-url-iam.json");
pub(crate) const HTTP_API_JWT_BASE64: &str =
    include_str!("../../../tests/data/http-api-jwt-base64.json");
pub(crate) const HTTP_API_NOTIFICATION: &str =
    include_str!("../../../tests/data/http-api-notification.json");
pub(crate) const REST_API: &str = include_str!("../../../tests/data/rest-api.json");
pub(crate) const REST_API_STAGE_IN_PATH: &str =
    include_str!("../../../tests/data/rest-api-stage-in-path.json");
pub(crate) const ALB: &str = include_str!("../../../tests/data/alb.json");
pub(crate) const ALB_MULTI_VALUE: &str = include_str!("../../../tests/data/alb-multi-value.json");
pub(crate) const ALB_GET: &str = include_str!("../../../tests/data/alb-get.json");
pub(crate) const INVOKE_REQUEST: &str = include_str!("../../../tests/data/invoke-request.json");
pub(crate) const INVOKE_NOTIFICATION: &str =
    include_str!("../../../tests/data/invoke-notification.json");
pub(crate) const INVOKE_BATCH: &str = include_str!("../../../tests/data/invoke-batch.json");
pub(crate) const INVOKE_MALFORMED: &str = include_str!("../../../tests/data/invoke-malformed.json");
pub(crate) const AGENTCORE_ARGUMENTS: &str =
    include_str!("../../../tests/data/agentcore-arguments.json");
pub(crate) const AGENTCORE_CLIENT_CONTEXT: &str =
    include_str!("../../../tests/data/agentcore-client-context.json");
pub(crate) const S3_PUT: &str = include_str!("../../../tests/data/s3-put.json");
