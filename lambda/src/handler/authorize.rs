//! The `$connect` REQUEST authorizer (with `--auth jwt`): verify the token, with the keys
//! loaded first if they are due ([`crate::access::keys`]); one log line with the verdict
//! and, for a denial, why; never the token.

use std::time::Instant;

use super::Handler;
use crate::access::authorizer;
use crate::gateway::Gateway;
use crate::store::ConnectionStore;

impl<S: ConnectionStore, G: Gateway> Handler<S, G> {
    /// The `$connect` authorizer's answer to `event` ([`authorizer::answer`]), the keys
    /// loaded first if they are due ([`crate::access::keys`]): one log line with the verdict and,
    /// for a denial, why; never the token.
    pub async fn authorize(&self, event: &serde_json::Value) -> serde_json::Value {
        let started = Instant::now();
        let verdict = match authorizer::token_to_check(event, self.settings.auth.as_ref()) {
            Ok((token, auth)) => auth.0.verify(token).await,
            Err(denied) => Err(denied),
        };
        let answer = authorizer::answer(event, &verdict);
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        match verdict {
            Ok(_) => tracing::info!(
                route = "authorizer",
                status = "allow",
                duration_ms,
                "invocation"
            ),
            Err(denied) => tracing::warn!(
                route = "authorizer",
                status = "deny",
                reason = %denied,
                duration_ms,
                "invocation"
            ),
        }
        answer
    }
}
