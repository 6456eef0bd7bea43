//! A service-account key: an RS256-signed JWT (`iss` the account, `scope`, `aud` the token
//! endpoint, one hour from `iat` to `exp`) exchanged at the key's `token_uri` with the
//! `jwt-bearer` grant (RFC 7523), as Google's libraries do. The key is parsed once (PEM PKCS#8)
//! and never logged.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, Uri};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use serde_json::json;

use super::super::http::form;
use super::super::oauth::{self, BearerToken, FORM};
use super::super::token::Fetch;
use super::super::{CredentialError, client};
use super::{CLOUD, SCOPE, SERVICE_ACCOUNT};
use crate::task::BoxFuture;
use crate::transport::HttpsClient;
use crate::types::base64;

/// Google's token endpoint, when the key names none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The grant of a signed JWT.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The lifetime asked for in the JWT: Google's maximum, one hour.
const ASSERTION_LIFETIME_SECS: u64 = 3600;

/// The fields of a key file that are used.
#[derive(Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

/// A parsed service-account key.
pub struct ServiceAccount {
    client: HttpsClient,
    email: String,
    key_id: Option<String>,
    key: RsaKeyPair,
    token_uri: Uri,
    token_url: String,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("email", &self.email)
            .field("token_uri", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// The key of a `service_account` file's JSON.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let file: KeyFile = serde_json::from_str(text)
            .map_err(|e| format!("service account key: missing or wrong fields: {e}"))?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(file.private_key.as_bytes())
            .map_err(|_| "service account key: private_key is not a PEM PKCS#8 key".to_owned())?;
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|e| {
            format!("service account key: private_key is not a usable RSA key: {e}")
        })?;
        let token_url = file
            .token_uri
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
        Ok(Self {
            client: client()?,
            email: file.client_email,
            key_id: file.private_key_id,
            key,
            token_uri: oauth::endpoint(&token_url, "token_uri")?,
            token_url,
        })
    }

    /// The signed JWT asserting this account, issued at `now`.
    pub fn assertion(&self, now: SystemTime) -> Result<String, String> {
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the clock is before 1970".to_owned())?
            .as_secs();
        let header = match &self.key_id {
            Some(kid) => json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
            None => json!({"alg": "RS256", "typ": "JWT"}),
        };
        let claims = json!({
            "iss": self.email,
            "scope": SCOPE,
            "aud": self.token_url,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME_SECS,
        });
        let signed = format!(
            "{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(claims.to_string().as_bytes())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the JWT failed".to_owned())?;
        Ok(format!("{signed}.{}", base64url(&signature)))
    }

    async fn token(&self) -> Result<BearerToken, String> {
        let assertion = self.assertion(SystemTime::now())?;
        let body = form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", &assertion)]);
        let request = oauth::request(Method::POST, &self.token_uri, &[], Some((FORM, body)))?;
        oauth::fetch(&self.client, request).await
    }
}

impl Fetch<BearerToken> for ServiceAccount {
    fn fetch(&self) -> BoxFuture<'_, Result<BearerToken, CredentialError>> {
        Box::pin(async move {
            // The account's e-mail address stays out: errors reach logs and clients.
            self.token()
                .await
                .map_err(|detail| CredentialError::new(CLOUD, SERVICE_ACCOUNT, detail))
        })
    }
}

/// Base64url without padding (RFC 7515), the encoding of JWT parts.
pub fn base64url(bytes: &[u8]) -> String {
    base64::encode(bytes)
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect()
}
