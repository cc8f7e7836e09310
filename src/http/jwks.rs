//! A provider's public keys: a JSON Web Key Set given inline, read from a file or fetched
//! from a URL, cached, and loaded again when a token names a key the cache does not have.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};

use super::auth::AuthError;

/// How long fetched or read keys are used before they are loaded again.
const KEYS_TTL: Duration = Duration::from_secs(60 * 60);

/// After a failed reload, how long the cached keys are used before the next attempt (so an
/// unreachable provider does not make every request wait for a fetch).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// How often a token naming an unknown key may make a provider load its keys again: a
/// token with a new `kid` is accepted as soon as its provider publishes the key, but a flood
/// of made-up `kid`s costs at most one fetch per interval.
const UNKNOWN_KID_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// Where a provider's JSON Web Key Set comes from.
#[derive(Debug, Clone)]
pub(crate) enum JwksSource {
    /// Given in the configuration.
    Inline(Arc<JwkSet>),
    /// A file, read at start-up and again when a token names a key it did not have.
    File(PathBuf),
    /// A URL (`https://issuer/.well-known/jwks.json`), fetched on first use, cached, and
    /// fetched again when a token names an unknown key.
    Url(String),
}

impl JwksSource {
    fn describe(&self) -> String {
        match self {
            JwksSource::Inline(_) => "the inline JWKS".to_owned(),
            JwksSource::File(path) => format!("JWKS file {}", path.display()),
            JwksSource::Url(url) => format!("JWKS URL {url}"),
        }
    }
}

/// One usable verification key.
struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct Loaded {
    keys: Vec<Arc<Key>>,
    loaded_at: Option<Instant>,
    refreshed_for_unknown_kid_at: Option<Instant>,
    /// The last failed load while no keys were loaded, answered again until it is
    /// [`RETRY_AFTER_FAILURE`] old.
    failed: Option<(Instant, AuthError)>,
}

/// The cached keys of one provider.
pub(crate) struct KeyStore {
    source: JwksSource,
    client: reqwest::Client,
    loaded: RwLock<Loaded>,
    /// Serializes loads, so that concurrent requests with a new `kid` cause one fetch.
    loading: Mutex<()>,
}

/// A key found for a token.
pub(crate) struct FoundKey(Arc<Key>);

impl FoundKey {
    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.0.key
    }
}

impl KeyStore {
    pub(crate) fn new(source: JwksSource, client: reqwest::Client) -> Result<Self, AuthError> {
        let mut loaded = Loaded::default();
        if let JwksSource::Inline(set) = &source {
            loaded.keys = usable_keys(set, &source)?;
            loaded.loaded_at = Some(Instant::now());
        }
        Ok(KeyStore {
            source,
            client,
            loaded: RwLock::new(loaded),
            loading: Mutex::new(()),
        })
    }

    /// Loads the keys now, so that a broken configuration fails at start-up rather than on
    /// the first request. A key file must load; a URL that cannot be fetched now only logs
    /// a warning (the provider may be down for a moment), and is fetched again on the first
    /// token.
    pub(crate) async fn preload(&self) -> Result<(), AuthError> {
        let keys = match (&self.source, self.fetch().await) {
            (JwksSource::Inline(_), _) => return Ok(()),
            (_, Ok(keys)) => keys,
            (JwksSource::Url(_), Err(e)) => {
                tracing::warn!(target: "convoke::http", "{e}; will try again on the first token");
                return Ok(());
            }
            (JwksSource::File(_), Err(e)) => return Err(e),
        };
        let mut loaded = self.loaded.write().await;
        loaded.keys = keys;
        loaded.loaded_at = Some(Instant::now());
        Ok(())
    }

    /// The key for a token's header: by `kid`, or the only key of the algorithm's family
    /// when the token names none. Loads the keys again when they are stale, or once per
    /// interval when the `kid` is unknown.
    pub(crate) async fn find(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<FoundKey, AuthError> {
        let stale = {
            let loaded = self.loaded.read().await;
            let stale = loaded.loaded_at.is_none_or(|at| at.elapsed() > KEYS_TTL);
            if !stale && let Some(key) = pick(&loaded.keys, kid, algorithm)? {
                return Ok(FoundKey(key));
            }
            stale
        };
        if matches!(self.source, JwksSource::Inline(_)) {
            return Err(unknown_key(kid, algorithm));
        }
        let _loading = self.loading.lock().await;
        // Another request may have loaded the keys while this one waited.
        {
            let loaded = self.loaded.read().await;
            if let Some((at, error)) = &loaded.failed
                && loaded.keys.is_empty()
                && at.elapsed() < RETRY_AFTER_FAILURE
            {
                return Err(error.clone());
            }
            let fresh = loaded.loaded_at.is_some_and(|at| at.elapsed() <= KEYS_TTL);
            if fresh && let Some(key) = pick(&loaded.keys, kid, algorithm)? {
                return Ok(FoundKey(key));
            }
            if !stale
                && loaded
                    .refreshed_for_unknown_kid_at
                    .is_some_and(|at| at.elapsed() < UNKNOWN_KID_REFRESH_INTERVAL)
            {
                return Err(unknown_key(kid, algorithm));
            }
        }
        let fetched = self.fetch().await;
        let mut loaded = self.loaded.write().await;
        if !stale {
            loaded.refreshed_for_unknown_kid_at = Some(Instant::now());
        }
        match fetched {
            Ok(keys) => {
                loaded.keys = keys;
                loaded.loaded_at = Some(Instant::now());
                loaded.failed = None;
            }
            // Keep serving the keys we have when a reload fails, and try again later; fail
            // only without any.
            Err(e) if loaded.keys.is_empty() => {
                loaded.failed = Some((Instant::now(), e.clone()));
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(target: "convoke::http", "{e}; keeping the cached keys");
                if stale {
                    loaded.loaded_at = Instant::now().checked_sub(KEYS_TTL - RETRY_AFTER_FAILURE);
                }
            }
        }
        match pick(&loaded.keys, kid, algorithm)? {
            Some(key) => Ok(FoundKey(key)),
            None => Err(unknown_key(kid, algorithm)),
        }
    }

    async fn fetch(&self) -> Result<Vec<Arc<Key>>, AuthError> {
        let jwks_error = |reason: String| AuthError::Jwks {
            source_description: self.source.describe(),
            reason,
        };
        let set: JwkSet = match &self.source {
            JwksSource::Inline(set) => return usable_keys(set, &self.source),
            JwksSource::File(path) => {
                let text = read_file(path)
                    .await
                    .map_err(|e| jwks_error(e.to_string()))?;
                serde_json::from_slice(&text)
                    .map_err(|e| jwks_error(format!("not a JSON Web Key Set: {e}")))?
            }
            JwksSource::Url(url) => {
                let response = self
                    .client
                    .get(url)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .map_err(|e| jwks_error(e.to_string()))?;
                if !response.status().is_success() {
                    return Err(jwks_error(format!("HTTP {}", response.status())));
                }
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| jwks_error(e.to_string()))?;
                serde_json::from_slice(&bytes)
                    .map_err(|e| jwks_error(format!("not a JSON Web Key Set: {e}")))?
            }
        };
        usable_keys(&set, &self.source)
    }
}

/// Reads a key file on the blocking pool.
async fn read_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let path = path.to_owned();
    match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
        Ok(result) => result,
        Err(e) => Err(std::io::Error::other(e)),
    }
}

fn unknown_key(kid: Option<&str>, algorithm: Algorithm) -> AuthError {
    AuthError::UnknownKey {
        kid: kid.map(str::to_owned),
        algorithm: format!("{algorithm:?}"),
    }
}

/// The key a token should be verified with, if the set has it.
fn pick(
    keys: &[Arc<Key>],
    kid: Option<&str>,
    algorithm: Algorithm,
) -> Result<Option<Arc<Key>>, AuthError> {
    match kid {
        Some(kid) => Ok(keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid) && k.algorithm == algorithm)
            .cloned()),
        None => {
            let mut candidates = keys.iter().filter(|k| k.algorithm == algorithm);
            match (candidates.next(), candidates.next()) {
                (Some(key), None) => Ok(Some(key.clone())),
                (None, _) => Ok(None),
                (Some(_), Some(_)) => Err(AuthError::MalformedToken(
                    "the token names no key (`kid`) and its provider has several".to_owned(),
                )),
            }
        }
    }
}

/// The RS256 and ES256 (P-256) signing keys of a set; other keys are skipped.
fn usable_keys(set: &JwkSet, source: &JwksSource) -> Result<Vec<Arc<Key>>, AuthError> {
    let mut keys = Vec::new();
    for jwk in &set.keys {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => continue,
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| AuthError::Jwks {
            source_description: source.describe(),
            reason: format!(
                "key {:?} is not usable: {e}",
                jwk.common.key_id.as_deref().unwrap_or("without kid")
            ),
        })?;
        keys.push(Arc::new(Key {
            kid: jwk.common.key_id.clone(),
            algorithm,
            key,
        }));
    }
    if keys.is_empty() {
        return Err(AuthError::Jwks {
            source_description: source.describe(),
            reason: "it has no RS256 or ES256 (P-256) signing key".to_owned(),
        });
    }
    Ok(keys)
}
