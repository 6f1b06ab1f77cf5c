//! The token keys, for the `$connect` authorizer only: the HS256 secret from Secrets
//! Manager (`secretsmanager:GetSecretValue` on the deployment's own secret), or an
//! issuer's key set from its JWKS URL (or, under `mb dev`, a file). No other route
//! touches them, so keys that cannot be loaded refuse connections and nothing else.
//!
//! - **When they load.** At the first authorizer request of a function instance, not at
//!   its cold start. A secret is then kept for the instance's life.
//! - **A failed load** is logged (never a key) and tried again at the first authorizer
//!   request [`RETRY_INTERVAL`] or more later; meanwhile every token is denied.
//! - **A key set** is kept for [`KEY_SET_MAX_AGE`], then fetched again at the next
//!   request. A token naming a key (`kid`) the set does not have makes it fetch again at
//!   once (an issuer rotating a key in), at most once per [`REFETCH_INTERVAL`] however
//!   many such tokens come. A fetch that fails keeps the set held.
//!
//! The decisions are pure ([`should_fetch`], [`quiet_after`]); [`KeyProvider`] does the
//! loading through a [`Load`].

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_types::error::display::DisplayErrorContext;
use tokio::time::Instant;

use crate::access::tokens::{Denied, Identity, Verifier};

/// Where the token keys come from, on Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// No tokens.
    None,
    /// HS256 with the secret in this Secrets Manager secret (ARN).
    Secret(String),
    /// RS256/ES256 with the key set at this URL.
    KeySetUrl(String),
}

/// Token settings, before the keys are loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    pub keys: KeySource,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

/// How long a key set is used before it is fetched again.
pub const KEY_SET_MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// After a fetch for a token's unknown key, no fetch for this long.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// After a failed load, no load for this long.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// How long fetching a key set may take.
const FETCH_LIMIT: Duration = Duration::from_secs(5);

/// The keys held, as [`should_fetch`] sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// None yet (never loaded, or every load failed).
    Nothing,
    /// A secret: kept.
    Kept,
    /// A key set, used without fetching until then.
    FreshUntil(Instant),
}

/// Why keys are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// None are held.
    Missing,
    /// The key set held is older than [`KEY_SET_MAX_AGE`].
    Stale,
    /// The token names a key the set held does not have.
    UnknownKey,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Missing => "none loaded",
            Why::Stale => "the key set is due for a refresh",
            Why::UnknownKey => "a token names a key the key set does not have",
        }
    }
}

/// What to do before checking a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// Check it with the keys held (none: deny).
    Keep,
    /// Load the keys first.
    Now(Why),
}

/// Whether to load the keys before checking a token, at `now` (pure): not before
/// `quiet_until`; then when none are held, when a key set is stale, or when the token
/// names a key the set lacks (`kid_known` false).
pub fn should_fetch(
    now: Instant,
    held: Held,
    quiet_until: Option<Instant>,
    kid_known: bool,
) -> Fetch {
    if quiet_until.is_some_and(|quiet| now < quiet) {
        return Fetch::Keep;
    }
    match held {
        Held::Nothing => Fetch::Now(Why::Missing),
        Held::Kept => Fetch::Keep,
        Held::FreshUntil(_) if !kid_known => Fetch::Now(Why::UnknownKey),
        Held::FreshUntil(until) if now >= until => Fetch::Now(Why::Stale),
        Held::FreshUntil(_) => Fetch::Keep,
    }
}

/// Until when no load may follow a load for `why` that ended at `now` (pure): a fetch
/// for an unknown key, [`REFETCH_INTERVAL`] (so a stream of made-up `kid`s costs one
/// fetch per interval); a failed one, [`RETRY_INTERVAL`]; else none.
pub fn quiet_after(now: Instant, why: Why, loaded: bool) -> Option<Instant> {
    match (why, loaded) {
        (Why::UnknownKey, _) => Some(now + REFETCH_INTERVAL),
        (_, false) => Some(now + RETRY_INTERVAL),
        (_, true) => None,
    }
}

/// A load of the keys in progress: a verifier without issuer or audience (the provider
/// adds them), or why not, in one line that names no key.
pub type Loading<'a> = Pin<Box<dyn Future<Output = Result<Verifier, String>> + Send + 'a>>;

/// Where the keys come from.
pub trait Load: Send + Sync {
    fn load(&self) -> Loading<'_>;
}

/// The keys the authorizer checks tokens with: loaded when first needed, kept or
/// refreshed as the module says.
pub struct KeyProvider {
    /// `None`: the keys given are all there is.
    loader: Option<Box<dyn Load>>,
    issuer: Option<String>,
    audience: Option<String>,
    held: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    verifier: Option<Arc<Verifier>>,
    fresh_until: Option<Instant>,
    quiet_until: Option<Instant>,
}

impl std::fmt::Debug for KeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyProvider")
            .field("loads", &self.loader.is_some())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl KeyProvider {
    /// Exactly these keys (issuer and audience already set), never loaded again.
    pub fn fixed(verifier: Verifier) -> KeyProvider {
        KeyProvider {
            loader: None,
            issuer: None,
            audience: None,
            held: tokio::sync::Mutex::new(State {
                verifier: Some(Arc::new(verifier)),
                fresh_until: None,
                quiet_until: None,
            }),
        }
    }

    /// Keys `loader` loads at the first token, checked for `issuer` and `audience`.
    pub fn loading(
        loader: impl Load + 'static,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> KeyProvider {
        KeyProvider {
            loader: Some(Box::new(loader)),
            issuer,
            audience,
            held: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// [`KeyProvider::loading`], holding `loaded` (just loaded through `loader`) already.
    pub fn seeded(
        loaded: Verifier,
        loader: impl Load + 'static,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> KeyProvider {
        let mut provider = KeyProvider::loading(loader, issuer, audience);
        let verifier = provider.configure(loaded);
        *provider.held.get_mut() = State {
            verifier: Some(Arc::new(verifier)),
            fresh_until: Some(Instant::now() + KEY_SET_MAX_AGE),
            quiet_until: None,
        };
        provider
    }

    fn configure(&self, verifier: Verifier) -> Verifier {
        verifier
            .issuer(self.issuer.clone())
            .audience(self.audience.clone())
    }

    /// The identity in `token`, loading the keys first if they are due (one line in the
    /// log for each load, never a key or the token).
    pub async fn verify(&self, token: &str) -> Result<Identity, Denied> {
        self.verifier_for(token).await?.verify(token)
    }

    async fn verifier_for(&self, token: &str) -> Result<Arc<Verifier>, Denied> {
        // One load at a time: requests arriving meanwhile wait for it, then use it.
        let mut state = self.held.lock().await;
        if let Some(loader) = &self.loader {
            let now = Instant::now();
            let held = match &state.verifier {
                None => Held::Nothing,
                Some(v) if v.is_key_set() => Held::FreshUntil(state.fresh_until.unwrap_or(now)),
                Some(_) => Held::Kept,
            };
            let kid_known = !state
                .verifier
                .as_ref()
                .is_some_and(|v| v.lacks_key_of(token));
            if let Fetch::Now(why) = should_fetch(now, held, state.quiet_until, kid_known) {
                let loaded = loader.load().await;
                let now = Instant::now();
                let ok = loaded.is_ok();
                match loaded {
                    Ok(verifier) => {
                        tracing::info!(why = why.as_str(), "token keys loaded");
                        state.verifier = Some(Arc::new(self.configure(verifier)));
                        state.fresh_until = Some(now + KEY_SET_MAX_AGE);
                    }
                    Err(err) if state.verifier.is_some() => tracing::error!(
                        %err,
                        why = why.as_str(),
                        "cannot load the token keys; the ones held are kept"
                    ),
                    Err(err) => tracing::error!(
                        %err,
                        why = why.as_str(),
                        "cannot load the token keys; every token is denied until they load"
                    ),
                }
                state.quiet_until = quiet_after(now, why, ok);
            }
        }
        state.verifier.clone().ok_or_else(|| {
            Denied(format!(
                "the token keys are not loaded (an error line says why); they are tried again \
                 after {} s",
                RETRY_INTERVAL.as_secs()
            ))
        })
    }
}

/// The provider `auth` describes on Lambda; `None` when tokens are not required. Nothing
/// is loaded yet.
pub fn provider(
    auth: &AuthConfig,
    sdk: &SdkConfig,
    extra_root_pem: Option<&[u8]>,
) -> Option<KeyProvider> {
    let (issuer, audience) = (auth.issuer.clone(), auth.audience.clone());
    match &auth.keys {
        KeySource::None => None,
        KeySource::Secret(arn) => Some(KeyProvider::loading(
            SecretsManager {
                client: aws_sdk_secretsmanager::Client::new(sdk),
                arn: arn.clone(),
            },
            issuer,
            audience,
        )),
        KeySource::KeySetUrl(url) => Some(KeyProvider::loading(
            KeySetUrl {
                url: url.clone(),
                extra_root_pem: extra_root_pem.map(<[u8]>::to_vec),
            },
            issuer,
            audience,
        )),
    }
}

/// The HS256 secret in a Secrets Manager secret.
struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
}

impl Load for SecretsManager {
    fn load(&self) -> Loading<'_> {
        Box::pin(async move {
            let arn = &self.arn;
            let secret = self
                .client
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
                .map_err(|e| format!("the token secret {arn}: {e}"))
        })
    }
}

/// An issuer's key set at a URL.
struct KeySetUrl {
    url: String,
    extra_root_pem: Option<Vec<u8>>,
}

impl Load for KeySetUrl {
    fn load(&self) -> Loading<'_> {
        Box::pin(async move {
            let url = &self.url;
            let request = http::Request::get(url.as_str())
                .header("accept", "application/json")
                .body(Vec::new())
                .map_err(|e| format!("MB_JWKS_URL {url:?} is not a URL: {e}"))?;
            let (status, body) =
                crate::aws::exchange(request, self.extra_root_pem.as_deref(), FETCH_LIMIT)
                    .await
                    .map_err(|e| format!("cannot fetch the key set: {e}"))?;
            if status != 200 {
                return Err(format!("the key set at {url} answered HTTP {status}"));
            }
            let text = String::from_utf8(body)
                .map_err(|_| format!("the key set at {url} is not UTF-8 text"))?;
            Verifier::key_set(&text).map_err(|e| format!("the key set at {url}: {e}"))
        })
    }
}

/// A key set in a file (`mb dev --jwks-file`): read again as a URL would be fetched, so
/// a key added to the file is used at its first token.
pub struct KeySetFile(pub PathBuf);

impl KeySetFile {
    /// The key set the file holds now.
    pub fn read(&self) -> Result<Verifier, String> {
        let path = self.0.display();
        let bytes = std::fs::read(&self.0)
            .map_err(|e| format!("cannot read the key set file {path}: {e}"))?;
        let text = String::from_utf8(bytes).map_err(|_| format!("{path} is not UTF-8 text"))?;
        Verifier::key_set(&text).map_err(|e| format!("{path}: {e}"))
    }
}

impl Load for KeySetFile {
    fn load(&self) -> Loading<'_> {
        Box::pin(async move { self.read() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::tokens::mint;
    use crate::access::tokens::tests::{rs256, rsa_under};
    use crate::clock::now_seconds;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    /// A loader answering from a script (its last answer repeated), counting its loads.
    #[derive(Clone, Default)]
    struct Scripted {
        answers: Arc<Mutex<VecDeque<Result<String, String>>>>,
        loads: Arc<AtomicUsize>,
    }

    impl Scripted {
        /// Answers each of `answers` in turn: `Ok(jwks)`, `Ok("secret")` or `Err`.
        fn new(answers: &[Result<&str, &str>]) -> Scripted {
            let scripted = Scripted::default();
            scripted.then(answers);
            scripted
        }

        fn then(&self, answers: &[Result<&str, &str>]) {
            let mut queue = self.answers.lock().unwrap();
            queue.clear();
            queue.extend(
                answers
                    .iter()
                    .map(|a| a.map(str::to_owned).map_err(str::to_owned)),
            );
        }

        fn loads(&self) -> usize {
            self.loads.load(Ordering::SeqCst)
        }
    }

    impl Load for Scripted {
        fn load(&self) -> Loading<'_> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            let answer = {
                let mut queue = self.answers.lock().unwrap();
                if queue.len() > 1 {
                    queue.pop_front()
                } else {
                    queue.front().cloned()
                }
            };
            Box::pin(async move {
                match answer.unwrap_or_else(|| Err("nothing scripted".into()))? {
                    secret if secret == "secret" => {
                        Verifier::secret(SECRET).map_err(|e| e.to_string())
                    }
                    jwks => Verifier::key_set(&jwks).map_err(|e| e.to_string()),
                }
            })
        }
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({"sub": "u", "exp": now_seconds() + 3600, "iss": "https://idp"})
    }

    fn issuer() -> Option<String> {
        Some("https://idp".into())
    }

    #[tokio::test(start_paused = true)]
    async fn a_secret_loads_at_the_first_token_and_is_kept() {
        let loader = Scripted::new(&[Ok("secret")]);
        let provider = KeyProvider::loading(loader.clone(), None, None);
        assert_eq!(loader.loads(), 0, "nothing loads before a token comes");
        let token = mint(SECRET, Some("u"), &[], 3600, now_seconds()).unwrap();
        assert_eq!(
            provider.verify(&token).await.unwrap().sub.as_deref(),
            Some("u")
        );
        tokio::time::advance(Duration::from_secs(7200)).await;
        assert!(provider.verify(&token).await.is_ok());
        assert!(provider.verify("x.y.z").await.is_err());
        assert_eq!(loader.loads(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_load_denies_and_is_tried_again_at_most_every_10_s() {
        let loader = Scripted::new(&[Err("down"), Err("down"), Ok("secret")]);
        let provider = KeyProvider::loading(loader.clone(), None, None);
        let token = mint(SECRET, None, &[], 3600, now_seconds()).unwrap();
        let denied = provider.verify(&token).await.unwrap_err();
        assert!(denied.0.contains("not loaded"), "{denied}");
        assert!(!denied.0.contains(&token));
        for _ in 0..5 {
            assert!(provider.verify(&token).await.is_err());
        }
        assert_eq!(loader.loads(), 1, "no retry within the interval");
        tokio::time::advance(RETRY_INTERVAL).await;
        assert!(provider.verify(&token).await.is_err());
        assert_eq!(loader.loads(), 2);
        tokio::time::advance(RETRY_INTERVAL).await;
        assert!(provider.verify(&token).await.is_ok());
        assert_eq!(loader.loads(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_key_is_fetched_at_most_once_per_interval() {
        let (key, only_r1) = rsa_under(&["r1"]);
        let (_, rotated) = rsa_under(&["r1", "r2"]);
        let loader = Scripted::new(&[Ok(&only_r1)]);
        let provider = KeyProvider::loading(loader.clone(), issuer(), None);
        assert!(provider.verify(&rs256(&key, "r1", &claims())).await.is_ok());
        assert_eq!(loader.loads(), 1);
        // A burst of made-up key ids: one fetch, every token denied.
        for i in 0..20 {
            let token = rs256(&key, &format!("made-up-{i}"), &claims());
            assert!(provider.verify(&token).await.is_err());
        }
        assert_eq!(loader.loads(), 2);
        // The issuer rotates r2 in: within the interval it is not fetched yet...
        loader.then(&[Ok(&rotated)]);
        let r2 = rs256(&key, "r2", &claims());
        assert!(provider.verify(&r2).await.is_err());
        assert_eq!(loader.loads(), 2);
        // ...after it, the first token that names it fetches it, and is let in.
        tokio::time::advance(REFETCH_INTERVAL).await;
        assert!(provider.verify(&r2).await.is_ok());
        assert_eq!(loader.loads(), 3);
        assert!(provider.verify(&rs256(&key, "r1", &claims())).await.is_ok());
        assert_eq!(loader.loads(), 3);
        // The issuer is checked on fetched keys too.
        let other = serde_json::json!({"exp": now_seconds() + 60, "iss": "https://other"});
        assert!(provider.verify(&rs256(&key, "r1", &other)).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_key_set_is_fetched_again_and_kept_if_that_fails() {
        let (key, only_r1) = rsa_under(&["r1"]);
        let loader = Scripted::new(&[Ok(&only_r1), Err("the issuer is down"), Ok(&only_r1)]);
        let provider = KeyProvider::loading(loader.clone(), issuer(), None);
        let r1 = rs256(&key, "r1", &claims());
        assert!(provider.verify(&r1).await.is_ok());
        tokio::time::advance(KEY_SET_MAX_AGE - Duration::from_secs(1)).await;
        assert!(provider.verify(&r1).await.is_ok());
        assert_eq!(loader.loads(), 1, "fresh until its age");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(provider.verify(&r1).await.is_ok(), "the held set is kept");
        assert_eq!(loader.loads(), 2);
        assert!(provider.verify(&r1).await.is_ok());
        assert_eq!(loader.loads(), 2, "no retry within the interval");
        tokio::time::advance(RETRY_INTERVAL).await;
        assert!(provider.verify(&r1).await.is_ok());
        assert_eq!(loader.loads(), 3);
        assert!(provider.verify(&r1).await.is_ok());
        assert_eq!(loader.loads(), 3, "fresh again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_seeded_key_set_fetches_again_at_once_for_an_unknown_key() {
        let (key, only_r1) = rsa_under(&["r1"]);
        let (_, rotated) = rsa_under(&["r1", "r2"]);
        let loader = Scripted::new(&[Ok(&rotated)]);
        let seed = Verifier::key_set(&only_r1).unwrap();
        let provider = KeyProvider::seeded(seed, loader.clone(), issuer(), None);
        assert!(provider.verify(&rs256(&key, "r1", &claims())).await.is_ok());
        assert_eq!(loader.loads(), 0);
        assert!(provider.verify(&rs256(&key, "r2", &claims())).await.is_ok());
        assert_eq!(loader.loads(), 1);
        // The seed got the issuer check too.
        let fixed = KeyProvider::fixed(Verifier::key_set(&only_r1).unwrap());
        let none = serde_json::json!({"exp": now_seconds() + 60});
        assert!(fixed.verify(&rs256(&key, "r1", &none)).await.is_ok());
        assert!(provider.verify(&rs256(&key, "r1", &none)).await.is_err());
    }

    /// One step of a simulated stream of tokens: how long after the previous one it comes,
    /// whether it names a key the set lacks, and whether a load now would succeed.
    #[derive(Debug, Clone)]
    struct Step {
        after_ms: u64,
        kid_known: bool,
        load_ok: bool,
    }

    fn steps() -> impl proptest::strategy::Strategy<Value = Vec<Step>> {
        use proptest::prelude::*;
        proptest::collection::vec(
            (
                0u64..45_000,
                proptest::bool::weighted(0.6),
                proptest::bool::weighted(0.8),
            )
                .prop_map(|(after_ms, kid_known, load_ok)| Step {
                    after_ms,
                    kid_known,
                    load_ok,
                }),
            1..80,
        )
    }

    proptest::proptest! {
        /// Over any stream of tokens, with the provider's bookkeeping around the two pure
        /// decisions: a fetch never follows one for an unknown key within
        /// [`REFETCH_INTERVAL`], nor a failed one within [`RETRY_INTERVAL`]; a secret,
        /// once loaded, is never loaded again; and a token naming an unknown key always
        /// fetches when nothing was fetched for [`REFETCH_INTERVAL`].
        #[test]
        fn fetches_are_bounded_and_an_unknown_key_is_never_ignored_for_long(
            steps in steps(),
            secret in proptest::bool::weighted(0.2),
        ) {
            let start = Instant::now();
            let mut now = start;
            let (mut held, mut quiet) = (Held::Nothing, None);
            let mut last: Option<(Instant, Why, bool)> = None;
            for step in steps {
                now += Duration::from_millis(step.after_ms);
                // A secret knows every token's key.
                let kid_known = secret || step.kid_known;
                let decision = should_fetch(now, held, quiet, kid_known);
                if let Some((at, why, ok)) = last {
                    let since = now - at;
                    if decision != Fetch::Keep {
                        proptest::prop_assert!(why != Why::UnknownKey || since >= REFETCH_INTERVAL);
                        proptest::prop_assert!(ok || since >= RETRY_INTERVAL);
                        proptest::prop_assert!(held != Held::Kept);
                    }
                    if !kid_known && matches!(held, Held::FreshUntil(_)) && since >= REFETCH_INTERVAL {
                        proptest::prop_assert_eq!(decision, Fetch::Now(Why::UnknownKey));
                    }
                } else {
                    proptest::prop_assert_eq!(decision, Fetch::Now(Why::Missing));
                }
                if let Fetch::Now(why) = decision {
                    if step.load_ok {
                        held = if secret { Held::Kept } else { Held::FreshUntil(now + KEY_SET_MAX_AGE) };
                    }
                    quiet = quiet_after(now, why, step.load_ok);
                    last = Some((now, why, step.load_ok));
                }
            }
        }
    }
}
