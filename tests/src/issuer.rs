//! A token issuer for tests: a fresh ES256 (P-256) key, or the fixed RS256 test key of
//! `lambda/testdata` (ring cannot generate RSA keys), its JWKS document as Cognito or
//! Auth0 publish one, and tokens signed with it.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

enum Key {
    Ec(Box<rcgen::KeyPair>),
    /// PKCS#1 DER, and the public modulus and exponent as a JWK writes them.
    Rsa {
        der: Vec<u8>,
        n: String,
        e: String,
    },
}

pub struct Issuer {
    key: Key,
    /// The key's id in the key set.
    pub kid: String,
}

impl Issuer {
    /// An ES256 issuer with a key of its own.
    pub fn new(kid: &str) -> Issuer {
        Issuer {
            key: Key::Ec(Box::new(
                rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("an EC key"),
            )),
            kid: kid.to_owned(),
        }
    }

    /// An RS256 issuer with the fixed test key (every `rsa` issuer has the same key).
    pub fn rsa(kid: &str) -> Issuer {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../lambda/testdata/rsa-test-key.json"))
                .expect("the RSA test key");
        let field = |name: &str| fixture[name].as_str().expect(name).to_owned();
        Issuer {
            key: Key::Rsa {
                der: STANDARD
                    .decode(field("pkcs1_der_base64"))
                    .expect("base64 DER"),
                n: field("n"),
                e: field("e"),
            },
            kid: kid.to_owned(),
        }
    }

    /// The public key set: `{"keys":[{"kty":"EC",...}]}`.
    pub fn jwks(&self) -> String {
        serde_json::json!({"keys": [self.jwk()]}).to_string()
    }

    /// The public key, as an entry of a key set.
    pub fn jwk(&self) -> serde_json::Value {
        match &self.key {
            Key::Ec(key) => {
                // The uncompressed point: 0x04, then x and y, 32 bytes each.
                let point = key.public_key_raw();
                serde_json::json!({
                    "kty": "EC", "crv": "P-256", "kid": self.kid, "alg": "ES256", "use": "sig",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
                })
            }
            Key::Rsa { n, e, .. } => serde_json::json!({
                "kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig", "n": n, "e": e,
            }),
        }
    }

    /// `claims` signed with this key (ES256 or RS256), the header naming `kid`.
    pub fn sign(&self, claims: &serde_json::Value, kid: &str) -> String {
        let (algorithm, key) = match &self.key {
            Key::Ec(key) => (
                jsonwebtoken::Algorithm::ES256,
                jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der()),
            ),
            Key::Rsa { der, .. } => (
                jsonwebtoken::Algorithm::RS256,
                jsonwebtoken::EncodingKey::from_rsa_der(der),
            ),
        };
        let mut header = jsonwebtoken::Header::new(algorithm);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &key).expect("sign a token")
    }
}
