//! Tokens: who may connect. A client connects with `?token=JWT`; the `$connect`
//! authorizer verifies it with [`Verifier`] and passes its identity (`sub`, and the
//! `channels` it may use) to the handler. Tokens are standard JWTs: HS256 with the
//! deployment's secret (which `mb token` also signs with, [`mint`]), or RS256/ES256
//! against an issuer's key set (JWKS: Cognito, Auth0 and similar). `exp` is required and
//! the clock skew allowed is at most [`MAX_LEEWAY_SECONDS`]. Verifying is pure: the keys
//! are loaded and kept by [`crate::access::keys`]. A token is never logged: [`Denied`] says why without it.

use std::collections::BTreeSet;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::wire::channel::Channel;

/// The clock skew allowed on `exp` (and `nbf`).
pub const LEEWAY_SECONDS: u64 = 30;
/// The most skew any configuration may allow.
pub const MAX_LEEWAY_SECONDS: u64 = 60;
/// The shortest HS256 secret accepted: 256 bits, the hash's own size (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;
/// The algorithms a key set may sign with.
const KEY_SET_ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

/// The keys tokens are checked against.
#[derive(Clone)]
pub enum Keys {
    /// HS256 with one shared secret.
    Secret(Vec<u8>),
    /// RS256 or ES256, the key chosen by the token's `kid`.
    KeySet(JwkSet),
}

/// Why a key configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the token secret is {0} bytes; it must be at least {MIN_SECRET_BYTES} (generate one with `openssl rand -base64 48`)"
    )]
    ShortSecret(usize),
    #[error("the key set is not a JWKS document ({{\"keys\":[...]}}): {0}")]
    NotAKeySet(String),
    #[error("the key set has no RS256 or ES256 key with a \"kid\"")]
    NoUsableKey,
}

/// Checks tokens: signature, `exp` (required), and the issuer and audience if set (then
/// required too).
#[derive(Clone)]
pub struct Verifier {
    keys: Keys,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: u64,
}

impl std::fmt::Debug for Verifier {
    // Never print a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = match &self.keys {
            Keys::Secret(_) => "HS256 secret".to_owned(),
            Keys::KeySet(set) => format!("key set of {}", set.keys.len()),
        };
        f.debug_struct("Verifier")
            .field("keys", &keys)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Who a valid token says the client is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub sub: Option<String>,
    /// The channels it may join or subscribe to; `None`: any.
    pub channels: Option<BTreeSet<Channel>>,
    /// Its `exp`, unix seconds.
    pub exp: u64,
}

/// Why a token is refused: words for the log, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// The claims `mb` reads and [`mint`] writes.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    // Optional here so that a token without it is refused as such by the validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channels: Option<Vec<String>>,
}

impl Verifier {
    /// HS256 with `secret` (at least [`MIN_SECRET_BYTES`]).
    pub fn secret(secret: impl Into<Vec<u8>>) -> Result<Verifier, KeyError> {
        let secret = secret.into();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::ShortSecret(secret.len()));
        }
        Ok(Verifier::with(Keys::Secret(secret)))
    }

    /// RS256/ES256 with the keys of a JWKS document.
    pub fn key_set(jwks: &str) -> Result<Verifier, KeyError> {
        let set: JwkSet =
            serde_json::from_str(jwks).map_err(|e| KeyError::NotAKeySet(e.to_string()))?;
        let usable = set
            .keys
            .iter()
            .any(|k| k.common.key_id.is_some() && DecodingKey::from_jwk(k).is_ok());
        if !usable {
            return Err(KeyError::NoUsableKey);
        }
        Ok(Verifier::with(Keys::KeySet(set)))
    }

    fn with(keys: Keys) -> Verifier {
        Verifier {
            keys,
            issuer: None,
            audience: None,
            leeway: LEEWAY_SECONDS,
        }
    }

    /// Requires `iss` to be `issuer`: a token without `iss` is refused.
    pub fn issuer(mut self, issuer: Option<String>) -> Verifier {
        self.issuer = issuer.filter(|i| !i.is_empty());
        self
    }

    /// Requires `aud` to hold `audience`: a token without `aud` is refused.
    pub fn audience(mut self, audience: Option<String>) -> Verifier {
        self.audience = audience.filter(|a| !a.is_empty());
        self
    }

    /// The clock skew allowed, capped at [`MAX_LEEWAY_SECONDS`].
    pub fn leeway(mut self, seconds: u64) -> Verifier {
        self.leeway = seconds.min(MAX_LEEWAY_SECONDS);
        self
    }

    /// Whether the keys are an issuer's key set (which may change), not a secret.
    pub fn is_key_set(&self) -> bool {
        matches!(self.keys, Keys::KeySet(_))
    }

    /// Whether a newer key set could check `token` when this one cannot (pure): its header
    /// names a key (`kid`) this key set does not have. A secret, or a token that names no
    /// key or is no JWT at all, is not helped by other keys.
    pub fn lacks_key_of(&self, token: &str) -> bool {
        let Keys::KeySet(set) = &self.keys else {
            return false;
        };
        jsonwebtoken::decode_header(token)
            .ok()
            .and_then(|header| header.kid)
            .is_some_and(|kid| set.find(&kid).is_none())
    }

    /// The identity in `token`, if the token is valid now (pure but for the clock
    /// `jsonwebtoken` reads).
    pub fn verify(&self, token: &str) -> Result<Identity, Denied> {
        if token.is_empty() {
            return Err(Denied("no token".into()));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| denied(e.kind()))?;
        let (key, algorithm) = match &self.keys {
            Keys::Secret(secret) => (DecodingKey::from_secret(secret), Algorithm::HS256),
            Keys::KeySet(set) => {
                if !KEY_SET_ALGORITHMS.contains(&header.alg) {
                    return Err(Denied(format!(
                        "{:?} tokens are not accepted: RS256 or ES256",
                        header.alg
                    )));
                }
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| Denied("the token names no key (\"kid\")".into()))?;
                let jwk = set
                    .find(kid)
                    .ok_or_else(|| Denied("the token's key is not in the key set".into()))?;
                let key = DecodingKey::from_jwk(jwk).map_err(|e| denied(e.kind()))?;
                (key, header.alg)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway;
        // A claim that is configured is required: `jsonwebtoken` compares `iss` and `aud`
        // only when the token carries them, so a token without one would pass.
        let mut required = vec!["exp"];
        required.extend(self.issuer.as_ref().map(|_| "iss"));
        required.extend(self.audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        validation.validate_nbf = true;
        match &self.issuer {
            Some(issuer) => validation.set_issuer(&[issuer]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| denied(e.kind()))?
            .claims;
        let channels = match claims.channels {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|name| Channel::parse(name))
                    .collect::<Result<BTreeSet<_>, _>>()
                    .map_err(|e| Denied(format!("the channels claim is not valid: {e}")))?,
            ),
        };
        Ok(Identity {
            sub: claims.sub.filter(|s| !s.is_empty()),
            channels,
            exp: claims.exp.unwrap_or_default(),
        })
    }
}

/// Why, in words, from the library's error.
fn denied(kind: &ErrorKind) -> Denied {
    Denied(
        match kind {
            ErrorKind::ExpiredSignature => "the token has expired",
            ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
            ErrorKind::InvalidSignature => "the token's signature does not verify",
            ErrorKind::InvalidIssuer => "the token's issuer (iss) is not the one configured",
            ErrorKind::InvalidAudience => "the token's audience (aud) is not the one configured",
            ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                "iss" => "the token has no issuer (iss), and one is configured",
                "aud" => "the token has no audience (aud), and one is configured",
                _ => "the token has no expiry (exp)",
            },
            ErrorKind::InvalidAlgorithm => "the token is signed with another algorithm",
            _ => "the token is not a well-formed JWT",
        }
        .to_owned(),
    )
}

/// An HS256 token for `sub`, limited to `channels` if any, valid for `ttl_seconds` from
/// `now` (unix seconds): what `mb token` prints (pure).
pub fn mint(
    secret: &[u8],
    sub: Option<&str>,
    channels: &[Channel],
    ttl_seconds: u64,
    now: u64,
) -> Result<String, String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(KeyError::ShortSecret(secret.len()).to_string());
    }
    let claims = Claims {
        sub: sub.map(str::to_owned),
        exp: Some(now + ttl_seconds),
        iat: Some(now),
        channels: (!channels.is_empty())
            .then(|| channels.iter().map(|c| c.as_str().to_owned()).collect()),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| format!("cannot sign the token: {e}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    fn ch(name: &str) -> Channel {
        Channel::parse(name).unwrap()
    }

    #[test]
    fn a_minted_token_verifies_with_its_secret_only() {
        let now = crate::clock::now_seconds();
        let token = mint(SECRET, Some("user-1"), &[ch("a")], 3600, now).unwrap();
        let identity = Verifier::secret(SECRET).unwrap().verify(&token).unwrap();
        assert_eq!(identity.sub.as_deref(), Some("user-1"));
        assert_eq!(identity.channels, Some([ch("a")].into()));
        assert_eq!(identity.exp, now + 3600);

        let other = Verifier::secret(b"another secret of at least 32 bytes!".to_vec()).unwrap();
        assert_eq!(
            other.verify(&token).unwrap_err().0,
            "the token's signature does not verify"
        );
        // No channels claim: any channel.
        let open = mint(SECRET, None, &[], 60, now).unwrap();
        let identity = Verifier::secret(SECRET).unwrap().verify(&open).unwrap();
        assert_eq!((identity.sub, identity.channels), (None, None));
    }

    #[test]
    fn expiry_is_required_and_the_skew_bounded() {
        let verifier = Verifier::secret(SECRET).unwrap();
        let now = crate::clock::now_seconds();
        // Expired a minute ago, past the 30 s leeway.
        let old = mint(SECRET, None, &[], 0, now - 60).unwrap();
        assert_eq!(
            verifier.verify(&old).unwrap_err().0,
            "the token has expired"
        );
        // Expired 10 s ago: within the leeway.
        let recent = mint(SECRET, None, &[], 0, now - 10).unwrap();
        assert!(verifier.verify(&recent).is_ok());
        // A leeway beyond the cap is capped: 10 minutes late is refused even at 3600.
        let late = mint(SECRET, None, &[], 0, now - 600).unwrap();
        assert!(verifier.clone().leeway(3600).verify(&late).is_err());

        let no_exp = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "x"}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(
            verifier.verify(&no_exp).unwrap_err().0,
            "the token has no expiry (exp)"
        );
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let now = crate::clock::now_seconds();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"exp": now + 60, "iss": "https://idp", "aud": "app"}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        let verifier = Verifier::secret(SECRET).unwrap();
        assert!(
            verifier.verify(&token).is_ok(),
            "unchecked when not configured"
        );
        let strict = verifier
            .clone()
            .issuer(Some("https://idp".into()))
            .audience(Some("app".into()));
        assert!(strict.verify(&token).is_ok());
        let wrong = verifier.issuer(Some("https://other".into()));
        assert!(wrong.verify(&token).unwrap_err().0.contains("issuer"));
    }

    /// The RSA key of `lambda/testdata` (tests only): its signing key and a key set
    /// holding it under each of `kids`.
    pub(crate) fn rsa_under(kids: &[&str]) -> (EncodingKey, String) {
        use base64::Engine;
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../testdata/rsa-test-key.json")).unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(fixture["pkcs1_der_base64"].as_str().unwrap())
            .unwrap();
        let keys: Vec<serde_json::Value> = kids
            .iter()
            .map(|kid| {
                serde_json::json!({
                    "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                    "n": fixture["n"], "e": fixture["e"],
                })
            })
            .collect();
        let jwks = serde_json::json!({ "keys": keys });
        (EncodingKey::from_rsa_der(&der), jwks.to_string())
    }

    /// `claims` signed RS256 with `key`, the header naming `kid`.
    pub(crate) fn rs256(key: &EncodingKey, kid: &str, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    /// A signer of test tokens: claims in, token out.
    type Sign = Box<dyn Fn(&serde_json::Value) -> String>;

    /// An HS256 verifier and an RS256 (key set) one, each with the signer of its tokens.
    fn both_kinds() -> Vec<(&'static str, Verifier, Sign)> {
        let (rsa_key, jwks) = rsa_under(&["r1"]);
        vec![
            (
                "HS256",
                Verifier::secret(SECRET).unwrap(),
                Box::new(|claims: &serde_json::Value| {
                    jsonwebtoken::encode(
                        &Header::new(Algorithm::HS256),
                        claims,
                        &EncodingKey::from_secret(SECRET),
                    )
                    .unwrap()
                }),
            ),
            (
                "RS256",
                Verifier::key_set(&jwks).unwrap(),
                Box::new(move |claims: &serde_json::Value| rs256(&rsa_key, "r1", claims)),
            ),
        ]
    }

    /// `jsonwebtoken` compares `iss` and `aud` only when a token has them: a configured
    /// one must also be present, or a token that leaves it out gets in.
    #[test]
    fn a_configured_issuer_or_audience_must_be_in_the_token() {
        let exp = crate::clock::now_seconds() + 60;
        for (kind, verifier, sign) in both_kinds() {
            let strict = verifier
                .clone()
                .issuer(Some("https://idp".into()))
                .audience(Some("app".into()));
            let full = sign(&serde_json::json!({"exp": exp, "iss": "https://idp", "aud": "app"}));
            assert!(strict.verify(&full).is_ok(), "{kind}");
            let listed =
                sign(&serde_json::json!({"exp": exp, "iss": "https://idp", "aud": ["web", "app"]}));
            assert!(strict.verify(&listed).is_ok(), "{kind}: aud may be a list");
            let no_iss = sign(&serde_json::json!({"exp": exp, "aud": "app"}));
            let no_aud = sign(&serde_json::json!({"exp": exp, "iss": "https://idp"}));
            let neither = sign(&serde_json::json!({"exp": exp}));
            assert_eq!(
                strict.verify(&no_iss).unwrap_err().0,
                "the token has no issuer (iss), and one is configured",
                "{kind}"
            );
            assert_eq!(
                strict.verify(&no_aud).unwrap_err().0,
                "the token has no audience (aud), and one is configured",
                "{kind}"
            );
            assert!(strict.verify(&neither).is_err(), "{kind}");
            // A claim of the wrong type is no claim.
            let odd = sign(&serde_json::json!({"exp": exp, "iss": 7, "aud": {"x": 1}}));
            assert!(strict.verify(&odd).is_err(), "{kind}");
            // Only what is configured is required.
            let issuer_only = verifier.clone().issuer(Some("https://idp".into()));
            assert!(issuer_only.verify(&no_aud).is_ok(), "{kind}");
            assert!(issuer_only.verify(&no_iss).is_err(), "{kind}");
            let audience_only = verifier.clone().audience(Some("app".into()));
            assert!(audience_only.verify(&no_iss).is_ok(), "{kind}");
            assert!(audience_only.verify(&no_aud).is_err(), "{kind}");
            assert!(
                verifier.verify(&neither).is_ok(),
                "{kind}: nothing configured"
            );
        }
    }

    #[test]
    fn only_a_key_set_missing_the_tokens_kid_could_be_helped_by_newer_keys() {
        let (key, jwks) = rsa_under(&["r1"]);
        let set = Verifier::key_set(&jwks).unwrap();
        let claims = serde_json::json!({"exp": crate::clock::now_seconds() + 60});
        assert!(!set.lacks_key_of(&rs256(&key, "r1", &claims)));
        assert!(set.lacks_key_of(&rs256(&key, "r2", &claims)));
        let no_kid = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
        assert!(!set.lacks_key_of(&no_kid));
        assert!(!set.lacks_key_of("not.a.jwt"));
        assert!(set.is_key_set());
        let secret = Verifier::secret(SECRET).unwrap();
        assert!(!secret.is_key_set());
        assert!(!secret.lacks_key_of(&rs256(&key, "r2", &claims)));
    }

    proptest::proptest! {
        /// Whatever a token carries, it passes exactly when each configured claim is in it
        /// with the configured value.
        #[test]
        fn a_token_passes_only_with_every_configured_claim(
            iss in proptest::option::of("[a-c]{0,2}"),
            aud in proptest::option::of("[a-c]{0,2}"),
            issuer in proptest::option::of("[a-c]{1,2}"),
            audience in proptest::option::of("[a-c]{1,2}"),
        ) {
            let mut claims = serde_json::json!({"exp": crate::clock::now_seconds() + 60});
            if let Some(iss) = &iss {
                claims["iss"] = iss.clone().into();
            }
            if let Some(aud) = &aud {
                claims["aud"] = aud.clone().into();
            }
            let token = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap();
            let verifier = Verifier::secret(SECRET)
                .unwrap()
                .issuer(issuer.clone())
                .audience(audience.clone());
            let wanted = issuer.as_ref().is_none_or(|i| iss.as_ref() == Some(i))
                && audience.as_ref().is_none_or(|a| aud.as_ref() == Some(a));
            proptest::prop_assert_eq!(verifier.verify(&token).is_ok(), wanted);
        }
    }

    /// Tokens an attacker could send: any text, and three dot-separated base64url parts
    /// (a header naming HS256 or RS256, or any bytes) that are not signed by our keys.
    fn forged() -> impl proptest::strategy::Strategy<Value = String> {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use proptest::prelude::*;
        let part = prop_oneof![
            prop::collection::vec(any::<u8>(), 0..48).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
            "[A-Za-z0-9_=+/-]{0,48}",
        ];
        let header = prop_oneof![
            prop::sample::select(vec![
                r#"{"alg":"HS256","typ":"JWT"}"#,
                r#"{"alg":"RS256","kid":"r1"}"#,
                r#"{"alg":"RS256","kid":"r2"}"#,
                r#"{"alg":"none"}"#,
                r#"{"alg":"ES256","kid":"r1"}"#,
            ])
            .prop_map(|h| URL_SAFE_NO_PAD.encode(h)),
            part.clone(),
        ];
        let claims = prop_oneof![
            (any::<u64>(), any::<String>()).prop_map(|(exp, sub)| {
                URL_SAFE_NO_PAD.encode(serde_json::json!({"exp": exp, "sub": sub}).to_string())
            }),
            part.clone(),
        ];
        prop_oneof![
            any::<String>(),
            (header, claims, part).prop_map(|(h, c, s)| format!("{h}.{c}.{s}")),
        ]
    }

    /// `token` with the character at `at` replaced by another one.
    fn one_changed(token: &str, at: proptest::sample::Index, by: char) -> String {
        let mut chars: Vec<char> = token.chars().collect();
        let i = at.index(chars.len());
        chars[i] = if chars[i] == by {
            if by == 'A' { 'B' } else { 'A' }
        } else {
            by
        };
        chars.into_iter().collect()
    }

    /// What replaces a character: base64url's alphabet, the separator, padding, others.
    fn replacement() -> impl proptest::strategy::Strategy<Value = char> {
        use proptest::prelude::*;
        prop_oneof![
            8 => prop::sample::select(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                    .chars()
                    .collect::<Vec<_>>()
            ),
            1 => prop::sample::select(vec!['.', '=', '+', '/', ' ']),
            1 => any::<char>(),
        ]
    }

    /// A token signed RS256 once (signing takes milliseconds), with its key set.
    fn signed_rs256() -> &'static (String, String) {
        static SIGNED: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
        SIGNED.get_or_init(|| {
            let (key, jwks) = rsa_under(&["r1"]);
            let claims = serde_json::json!({
                "exp": crate::clock::now_seconds() + 3600, "sub": "u", "channels": ["a"]
            });
            (rs256(&key, "r1", &claims), jwks)
        })
    }

    proptest::proptest! {
        /// Verifying never panics, whatever the text, and nothing forged gets in, with a
        /// secret or a key set; `lacks_key_of` is total too.
        #[test]
        fn verification_is_total_and_refuses_what_we_did_not_sign(token in forged()) {
            let secret = Verifier::secret(SECRET).unwrap();
            proptest::prop_assert!(secret.verify(&token).is_err());
            proptest::prop_assert!(!secret.lacks_key_of(&token));
            let set = Verifier::key_set(&signed_rs256().1).unwrap();
            proptest::prop_assert!(set.verify(&token).is_err());
            let _ = set.lacks_key_of(&token);
        }

        /// A minted token verifies with exactly its claims while it is valid (its expiry
        /// within the leeway included), and is refused as expired after.
        #[test]
        fn a_minted_token_verifies_with_its_claims(
            sub in proptest::option::of(proptest::prelude::any::<String>()),
            names in proptest::collection::vec("[A-Za-z0-9._:@-]{1,64}", 0..4),
            expires_in in proptest::prop_oneof![-100_000i64..-40, -20i64..1_000_000],
        ) {
            let now = crate::clock::now_seconds();
            let channels: Vec<Channel> = names.iter().map(|n| ch(n)).collect();
            // Minted 100 s before it expires.
            let start = now.checked_add_signed(expires_in - 100).unwrap();
            let token = mint(SECRET, sub.as_deref(), &channels, 100, start).unwrap();
            let verified = Verifier::secret(SECRET).unwrap().verify(&token);
            if expires_in < -(LEEWAY_SECONDS as i64) {
                proptest::prop_assert_eq!(verified, Err(Denied("the token has expired".into())));
            } else {
                let expected = Identity {
                    sub: sub.filter(|s| !s.is_empty()),
                    channels: (!channels.is_empty()).then(|| channels.iter().cloned().collect()),
                    exp: start + 100,
                };
                proptest::prop_assert_eq!(verified, Ok(expected));
            }
        }

        /// Changing any one character of an HS256 token gets it refused.
        #[test]
        fn a_changed_hs256_token_is_refused(
            sub in proptest::option::of("[a-z]{0,8}"),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            by in replacement(),
        ) {
            let now = crate::clock::now_seconds();
            let token = mint(SECRET, sub.as_deref(), &[ch("a")], 3600, now).unwrap();
            let verifier = Verifier::secret(SECRET).unwrap();
            proptest::prop_assert!(verifier.verify(&token).is_ok());
            let changed = one_changed(&token, at, by);
            proptest::prop_assert!(verifier.verify(&changed).is_err(), "{} accepted", changed);
        }
    }

    proptest::proptest! {
        // An RS256 verification costs about ten cheap cases.
        #![proptest_config(crate::costly_cases(10))]
        /// Changing any one character of an RS256 token gets it refused.
        #[test]
        fn a_changed_rs256_token_is_refused(
            at in proptest::prelude::any::<proptest::sample::Index>(),
            by in replacement(),
        ) {
            let (token, jwks) = signed_rs256();
            let verifier = Verifier::key_set(jwks).unwrap();
            let changed = one_changed(token, at, by);
            proptest::prop_assert!(verifier.verify(&changed).is_err(), "{} accepted", changed);
        }
    }

    #[test]
    fn bad_inputs_are_refused_with_reasons() {
        assert_eq!(
            Verifier::secret(b"short".to_vec()).unwrap_err(),
            KeyError::ShortSecret(5)
        );
        let verifier = Verifier::secret(SECRET).unwrap();
        assert_eq!(verifier.verify("").unwrap_err().0, "no token");
        assert_eq!(
            verifier.verify("not.a.jwt").unwrap_err().0,
            "the token is not a well-formed JWT"
        );
        let bad_channel = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"exp": crate::clock::now_seconds() + 60, "channels": ["a b"]}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(
            verifier
                .verify(&bad_channel)
                .unwrap_err()
                .0
                .contains("channels claim")
        );
        assert!(matches!(
            Verifier::key_set("{}"),
            Err(KeyError::NotAKeySet(_))
        ));
        assert_eq!(
            Verifier::key_set(r#"{"keys":[]}"#).unwrap_err(),
            KeyError::NoUsableKey
        );
        // Debug output never shows the secret.
        assert!(!format!("{verifier:?}").contains("0123456789"));
    }
}
