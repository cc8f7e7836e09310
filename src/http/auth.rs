//! Token auth: `Authorization: Bearer <JWT>` verified against configured providers, and
//! the identity procedures see through `ctx.auth().user_identity()`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::jwks::{JwksSource, KeyStore};
use crate::ctx::UserIdentity;
use crate::value::{Object, Value};

/// Why a token was refused, or a provider's keys could not be loaded. A refused token is
/// answered with HTTP 401 and this error's message.
///
/// ```
/// use convoke::http::AuthError;
/// let err = AuthError::Expired;
/// assert!(err.is_expired());
/// assert_eq!(err.to_string(), "the auth token has expired");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("malformed Authorization header: expected `Bearer <token>`")]
    MalformedHeader,
    /// The token is not a well-formed JWT.
    #[error("the auth token is not a valid JWT: {0}")]
    MalformedToken(String),
    /// No auth provider is configured on this server.
    #[error("this server has no auth provider configured, so it cannot accept auth tokens")]
    NoProviders,
    /// The token's issuer is not a configured provider.
    #[error("no auth provider is configured for the token's issuer '{issuer}'")]
    UnknownIssuer {
        /// The token's `iss` claim.
        issuer: String,
    },
    /// The token is signed with an algorithm its provider does not accept.
    #[error("the auth token is signed with {algorithm}, which its provider does not accept")]
    UnsupportedAlgorithm {
        /// The token's `alg`.
        algorithm: String,
    },
    /// The provider has no key for the token.
    #[error("the auth token's provider has no {algorithm} key{}", kid_suffix(.kid))]
    UnknownKey {
        /// The token's `kid`, if any.
        kid: Option<String>,
        /// The token's `alg`.
        algorithm: String,
    },
    /// The signature does not verify.
    #[error("the auth token's signature is invalid")]
    InvalidSignature,
    /// The token has expired (`exp`).
    #[error("the auth token has expired")]
    Expired,
    /// The token is not valid yet (`nbf`).
    #[error("the auth token is not valid yet")]
    NotYetValid,
    /// The token's audience (`aud`) is not the provider's application id.
    #[error("the auth token's audience does not match the application id '{expected}'")]
    InvalidAudience {
        /// The provider's application id.
        expected: String,
    },
    /// A claim the server needs is missing or has the wrong type.
    #[error("the auth token has no valid '{claim}' claim")]
    MissingClaim {
        /// The claim's name.
        claim: String,
    },
    /// A provider's keys could not be loaded.
    #[error("cannot load the keys of an auth provider from {source_description}: {reason}")]
    Jwks {
        /// Where the keys were read from.
        source_description: String,
        /// What went wrong.
        reason: String,
    },
}

fn kid_suffix(kid: &Option<String>) -> String {
    match kid {
        Some(kid) => format!(" with kid '{kid}'"),
        None => String::new(),
    }
}

impl AuthError {
    /// A short machine-readable code for responses: `"Unauthenticated"`,
    /// `"InvalidAuthHeader"`, `"TokenExpired"`...
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MalformedHeader => "InvalidAuthHeader",
            AuthError::Expired => "TokenExpired",
            AuthError::Jwks { .. } => "AuthProviderUnavailable",
            _ => "Unauthenticated",
        }
    }

    /// Whether the token has expired.
    pub fn is_expired(&self) -> bool {
        matches!(self, AuthError::Expired)
    }

    /// Whether the token itself was refused (as opposed to a provider's keys failing to
    /// load).
    pub fn is_invalid_token(&self) -> bool {
        !matches!(self, AuthError::Jwks { .. })
    }

    /// Whether a provider's keys could not be loaded.
    pub fn is_jwks(&self) -> bool {
        matches!(self, AuthError::Jwks { .. })
    }
}

#[derive(Clone)]
enum Keys {
    Jwks(JwksSource),
    Hs256(Arc<[u8]>),
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Keys::Jwks(source) => f.debug_tuple("Jwks").field(source).finish(),
            Keys::Hs256(_) => f.write_str("Hs256(<redacted>)"),
        }
    }
}

/// A token issuer this server trusts: its issuer (`iss`), its application id (the tokens'
/// audience, `aud`), and where its public keys are.
///
/// Tokens must be signed with RS256 or ES256 (P-256) by a key of the provider's JSON Web
/// Key Set, carry `exp` (and `sub`), and not have expired. HS256 with a shared secret is for
/// development only: the server refuses to start with such a provider unless it runs in
/// development mode.
///
/// ```
/// use convoke::http::{AuthConfig, AuthProvider};
///
/// let auth = AuthConfig::new()
///     .provider(AuthProvider::jwks_url(
///         "https://auth.example.com",
///         "my-app",
///         "https://auth.example.com/.well-known/jwks.json",
///     ))
///     .provider(AuthProvider::jwks_file("https://other.example.com", "my-app", "keys.json"));
/// # let _ = auth;
/// ```
#[derive(Debug, Clone)]
pub struct AuthProvider {
    issuer: String,
    application_id: String,
    keys: Keys,
}

impl AuthProvider {
    /// A provider whose keys are given as a JSON Web Key Set (`{"keys": [..]}`).
    ///
    /// Fails if `jwks` is not a key set.
    pub fn jwks(
        issuer: impl Into<String>,
        application_id: impl Into<String>,
        jwks: &str,
    ) -> Result<Self, AuthError> {
        let set: JwkSet = serde_json::from_str(jwks).map_err(|e| AuthError::Jwks {
            source_description: "the inline JWKS".to_owned(),
            reason: format!("not a JSON Web Key Set: {e}"),
        })?;
        Ok(AuthProvider {
            issuer: issuer.into(),
            application_id: application_id.into(),
            keys: Keys::Jwks(JwksSource::Inline(Arc::new(set))),
        })
    }

    /// A provider whose key set is in a file, read when the server starts and again when a
    /// token names a key the server has not seen.
    pub fn jwks_file(
        issuer: impl Into<String>,
        application_id: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> Self {
        AuthProvider {
            issuer: issuer.into(),
            application_id: application_id.into(),
            keys: Keys::Jwks(JwksSource::File(path.into())),
        }
    }

    /// A provider whose key set is at a URL: fetched when the server starts (or, if it
    /// cannot be fetched then, on the first token), cached for an hour, and fetched again
    /// when a token names a key the cache does not have (at most once every 10 seconds). An
    /// `https` URL needs convoke's `tls` feature.
    pub fn jwks_url(
        issuer: impl Into<String>,
        application_id: impl Into<String>,
        url: impl Into<String>,
    ) -> Self {
        AuthProvider {
            issuer: issuer.into(),
            application_id: application_id.into(),
            keys: Keys::Jwks(JwksSource::Url(url.into())),
        }
    }

    /// **Development only.** A provider that signs tokens with HS256 and a shared secret.
    /// The server refuses to start with it unless
    /// [`development(true)`](super::ServerBuilder::development) is set.
    pub fn hs256_for_development(
        issuer: impl Into<String>,
        application_id: impl Into<String>,
        secret: impl AsRef<[u8]>,
    ) -> Self {
        AuthProvider {
            issuer: issuer.into(),
            application_id: application_id.into(),
            keys: Keys::Hs256(Arc::from(secret.as_ref())),
        }
    }

    /// The issuer (`iss`) this provider's tokens carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The application id the tokens' audience (`aud`) must contain.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// Whether this is an HS256 (development only) provider.
    pub fn is_hs256(&self) -> bool {
        matches!(self.keys, Keys::Hs256(_))
    }
}

/// The auth providers of a server, and the clock skew it tolerates.
///
/// Without providers, every request is anonymous and a request that carries a token is
/// refused with 401 (a token that cannot be checked is never ignored silently).
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    providers: Vec<AuthProvider>,
    leeway: Duration,
}

impl AuthConfig {
    /// No providers, no leeway.
    pub fn new() -> Self {
        AuthConfig::default()
    }

    /// Adds a provider.
    #[must_use]
    pub fn provider(mut self, provider: AuthProvider) -> Self {
        self.providers.push(provider);
        self
    }

    /// How much clock skew to tolerate on `exp` and `nbf` (default none).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The configured providers.
    pub fn providers(&self) -> &[AuthProvider] {
        &self.providers
    }
}

struct ProviderState {
    issuer: String,
    application_id: String,
    keys: ProviderKeys,
}

enum ProviderKeys {
    Jwks(KeyStore),
    Hs256(DecodingKey),
}

/// Verifies tokens for a running server.
pub(crate) struct Authenticator {
    providers: Vec<ProviderState>,
    leeway: u64,
}

impl Authenticator {
    /// Builds the verifier and loads every provider's keys, so that a broken provider
    /// fails at start-up.
    pub(crate) async fn start(
        config: &AuthConfig,
        development: bool,
        client: reqwest::Client,
    ) -> Result<Self, super::ServerError> {
        let mut providers = Vec::new();
        for provider in &config.providers {
            let keys = match &provider.keys {
                Keys::Hs256(secret) => {
                    if !development {
                        return Err(super::ServerError::Config(format!(
                            "the auth provider '{}' uses HS256, which is for development only: \
                             set `development(true)` on the server, or use an RS256/ES256 key set",
                            provider.issuer
                        )));
                    }
                    ProviderKeys::Hs256(DecodingKey::from_secret(secret))
                }
                Keys::Jwks(source) => {
                    if let JwksSource::Url(url) = source {
                        check_jwks_url(url)?;
                    }
                    let store = KeyStore::new(source.clone(), client.clone())?;
                    store.preload().await?;
                    ProviderKeys::Jwks(store)
                }
            };
            providers.push(ProviderState {
                issuer: provider.issuer.clone(),
                application_id: provider.application_id.clone(),
                keys,
            });
        }
        Ok(Authenticator {
            providers,
            leeway: config.leeway.as_secs(),
        })
    }

    /// The identity of a request: `None` without an `Authorization` header, an error for a
    /// header or token that does not verify.
    pub(crate) async fn authenticate(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<UserIdentity>, AuthError> {
        let Some(header) = headers.get(AUTHORIZATION) else {
            return Ok(None);
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                let (scheme, token) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::MalformedHeader)?;
        self.verify(token).await.map(Some)
    }

    /// The clock skew allowed on `exp` and `nbf`.
    pub(crate) fn leeway(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.leeway)
    }

    /// Verifies a token and builds the identity from its claims.
    pub(crate) async fn verify(&self, token: &str) -> Result<UserIdentity, AuthError> {
        if self.providers.is_empty() {
            return Err(AuthError::NoProviders);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::MalformedToken(e.to_string()))?;
        let issuer = unverified_issuer(token)?;
        let provider = self
            .providers
            .iter()
            .find(|p| same_issuer(&p.issuer, &issuer))
            .ok_or_else(|| AuthError::UnknownIssuer {
                issuer: issuer.clone(),
            })?;
        let unsupported = || AuthError::UnsupportedAlgorithm {
            algorithm: format!("{:?}", header.alg),
        };
        let found;
        let key = match &provider.keys {
            ProviderKeys::Hs256(key) => {
                if header.alg != Algorithm::HS256 {
                    return Err(unsupported());
                }
                key
            }
            ProviderKeys::Jwks(store) => {
                if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
                    return Err(unsupported());
                }
                found = store.find(header.kid.as_deref(), header.alg).await?;
                found.decoding_key()
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[&provider.application_id]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            key,
            &validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidSignature => AuthError::InvalidSignature,
            ErrorKind::InvalidAudience => AuthError::InvalidAudience {
                expected: provider.application_id.clone(),
            },
            ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
                AuthError::MissingClaim {
                    claim: claim.clone(),
                }
            }
            ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => unsupported(),
            _ => AuthError::MalformedToken(e.to_string()),
        })?;
        identity_from_claims(data.claims)
    }
}

/// The `iss` claim, read before verification only to choose the provider.
fn unverified_issuer(token: &str) -> Result<String, AuthError> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| AuthError::MalformedToken("expected three dot-separated parts".into()))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| AuthError::MalformedToken(format!("payload is not base64url: {e}")))?;
    let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes)
        .map_err(|e| AuthError::MalformedToken(format!("payload is not a JSON object: {e}")))?;
    match claims.get("iss") {
        Some(serde_json::Value::String(iss)) => Ok(iss.clone()),
        _ => Err(AuthError::MissingClaim {
            claim: "iss".to_owned(),
        }),
    }
}

/// Issuers match exactly, or up to a trailing slash.
fn same_issuer(configured: &str, token: &str) -> bool {
    configured.trim_end_matches('/') == token.trim_end_matches('/')
}

fn check_jwks_url(url: &str) -> Result<(), super::ServerError> {
    if url.starts_with("http://") {
        return Ok(());
    }
    if url.starts_with("https://") {
        return if cfg!(feature = "tls") {
            Ok(())
        } else {
            Err(super::ServerError::Config(format!(
                "the JWKS URL {url} uses https, which needs convoke's `tls` feature"
            )))
        };
    }
    Err(super::ServerError::Config(format!(
        "the JWKS URL {url} must start with http:// or https://"
    )))
}

/// Builds the identity: issuer and subject, and every other claim under its JWT name
/// (`email`, `name`, `picture`...).
fn identity_from_claims(
    claims: serde_json::Map<String, serde_json::Value>,
) -> Result<UserIdentity, AuthError> {
    let text = |name: &str| match claims.get(name) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(AuthError::MissingClaim {
            claim: name.to_owned(),
        }),
    };
    let mut identity = UserIdentity::new(text("iss")?, text("sub")?);
    for (name, value) in claims {
        if name != "iss" && name != "sub" {
            identity = identity.with_claim(name, claim_value(value));
        }
    }
    Ok(identity)
}

/// A claim as a Convex value. Numbers are float64s, as in JavaScript.
fn claim_value(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Boolean(b),
        serde_json::Value::Number(n) => Value::Float64(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::Array(a.into_iter().map(claim_value).collect()),
        serde_json::Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, claim_value(v)))
                .collect::<Object>(),
        ),
    }
}
