//! The token keys, loaded once at cold start: the HS256 secret from Secrets Manager
//! (`secretsmanager:GetSecretValue` on the deployment's own secret), or an issuer's key
//! set from its JWKS URL. A function that cannot load its keys stops with the reason in
//! its log: it would otherwise let nobody in, or (worse) anybody.
//!
//! A key set is read at cold start only: a key the issuer adds later is used once Lambda
//! starts a new environment (an `mb deploy` forces one).

use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::auth::Verifier;
use crate::config::{AuthConfig, KeySource};

/// How long fetching a key set may take.
const FETCH_LIMIT: Duration = Duration::from_secs(5);

/// The verifier `auth` describes, its keys loaded; `None` when tokens are not required.
pub async fn load(
    auth: &AuthConfig,
    sdk: &SdkConfig,
    extra_root_pem: Option<&[u8]>,
) -> Result<Option<Verifier>, String> {
    let verifier = match &auth.keys {
        KeySource::None => return Ok(None),
        KeySource::Secret(arn) => {
            let client = aws_sdk_secretsmanager::Client::new(sdk);
            let secret = client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "cannot read the token secret {arn}: {}",
                        DisplayErrorContext(&e)
                    )
                })?;
            let value = secret
                .secret_string()
                .ok_or_else(|| format!("the token secret {arn} holds no text"))?;
            Verifier::secret(value.as_bytes().to_vec())
                .map_err(|e| format!("the token secret {arn}: {e}"))?
        }
        KeySource::KeySetUrl(url) => {
            let request = http::Request::get(url.as_str())
                .header("accept", "application/json")
                .body(Vec::new())
                .map_err(|e| format!("MB_JWKS_URL {url:?} is not a URL: {e}"))?;
            let (status, body) = crate::aws::exchange(request, extra_root_pem, FETCH_LIMIT)
                .await
                .map_err(|e| format!("cannot fetch the key set: {e}"))?;
            if status != 200 {
                return Err(format!("the key set at {url} answered HTTP {status}"));
            }
            let text = String::from_utf8(body)
                .map_err(|_| format!("the key set at {url} is not UTF-8 text"))?;
            Verifier::key_set(&text).map_err(|e| format!("the key set at {url}: {e}"))?
        }
    };
    Ok(Some(
        verifier
            .issuer(auth.issuer.clone())
            .audience(auth.audience.clone()),
    ))
}
