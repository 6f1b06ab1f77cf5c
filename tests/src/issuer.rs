//! A token issuer for tests: a fresh ES256 (P-256) key, its JWKS document as Cognito or
//! Auth0 publish one, and tokens signed with it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub struct Issuer {
    key: rcgen::KeyPair,
    /// The key's id in the key set.
    pub kid: String,
}

impl Issuer {
    pub fn new(kid: &str) -> Issuer {
        Issuer {
            key: rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("an EC key"),
            kid: kid.to_owned(),
        }
    }

    /// The public key set: `{"keys":[{"kty":"EC",...}]}`.
    pub fn jwks(&self) -> String {
        // The uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = self.key.public_key_raw();
        serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": self.kid, "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]})
        .to_string()
    }

    /// `claims` signed ES256 with this key, the header naming `kid`.
    pub fn sign(&self, claims: &serde_json::Value, kid: &str) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_ec_der(&self.key.serialize_der()),
        )
        .expect("sign a token")
    }
}
