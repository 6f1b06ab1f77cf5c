//! The credentials the direct poster signs with: resolved through the SDK configuration's
//! provider (on Lambda, the function's session credentials), kept between posts, and
//! fetched again before they expire, by one caller while the others wait.
//!
//! Whether a cached set is still good is [`usable`], a pure function.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::identity::Identity;

/// Credentials are replaced this long before they expire, so no post is signed with
/// credentials that expire in flight (the SDK's identity cache uses the same margin).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(10);

/// Credentials that carry no expiry (a function's environment) are asked for again this
/// often: cheap, and a provider that rotates them is followed.
pub const UNDATED_LIFETIME: Duration = Duration::from_secs(300);

/// Whether credentials fetched at `fetched` and expiring at `expiry` may still sign a
/// request at `now`.
pub fn usable(
    expiry: Option<SystemTime>,
    fetched: SystemTime,
    now: SystemTime,
    margin: Duration,
) -> bool {
    match expiry {
        Some(expiry) => now + margin < expiry,
        // A clock that went backwards leaves them usable rather than refetching each post.
        None => now
            .duration_since(fetched)
            .map_or(true, |age| age < UNDATED_LIFETIME),
    }
}

struct Cached {
    identity: Identity,
    expiry: Option<SystemTime>,
    fetched: SystemTime,
}

/// One provider's credentials, cached.
pub struct CredentialCache {
    provider: Option<SharedCredentialsProvider>,
    margin: Duration,
    current: std::sync::Mutex<Option<Cached>>,
    refresh: tokio::sync::Mutex<()>,
}

impl CredentialCache {
    pub fn new(provider: Option<SharedCredentialsProvider>) -> Self {
        Self {
            provider,
            margin: REFRESH_MARGIN,
            current: std::sync::Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// Replace credentials this long before they expire instead of [`REFRESH_MARGIN`].
    pub fn with_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    fn cached(&self, now: SystemTime) -> Option<Identity> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current
            .as_ref()
            .filter(|c| usable(c.expiry, c.fetched, now, self.margin))
            .map(|c| c.identity.clone())
    }

    /// Credentials to sign with now, as an identity for `aws-sigv4`. Errors are one line.
    pub async fn identity(&self) -> Result<Identity, String> {
        if let Some(identity) = self.cached(SystemTime::now()) {
            return Ok(identity);
        }
        // One refresh at a time; whoever waited finds the new set.
        let _refreshing = self.refresh.lock().await;
        if let Some(identity) = self.cached(SystemTime::now()) {
            return Ok(identity);
        }
        let Some(provider) = &self.provider else {
            return Err("no AWS credentials are configured to sign posts with".to_owned());
        };
        let credentials: Credentials = provider.provide_credentials().await.map_err(|e| {
            format!(
                "cannot get AWS credentials: {}",
                crate::aws::error_chain(&e)
            )
        })?;
        let expiry = credentials.expiry();
        let identity = Identity::from(credentials);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            identity: identity.clone(),
            expiry,
            fetched: SystemTime::now(),
        });
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    #[test]
    fn dated_credentials_are_replaced_a_margin_before_they_expire() {
        let margin = Duration::from_secs(10);
        assert!(usable(Some(at(100)), at(0), at(89), margin));
        assert!(!usable(Some(at(100)), at(0), at(90), margin));
        assert!(!usable(Some(at(100)), at(0), at(150), margin));
    }

    #[test]
    fn undated_credentials_are_asked_for_again_after_a_while() {
        let margin = REFRESH_MARGIN;
        assert!(usable(None, at(0), at(299), margin));
        assert!(!usable(None, at(0), at(300), margin));
        // The clock went backwards: keep them.
        assert!(usable(None, at(10), at(0), margin));
    }
}
