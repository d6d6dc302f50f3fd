//! The BFF's short-lived keys: Ed25519 user tokens (EdDSA JWTs) and granted URLs ("vault
//! keys"), signed by the BFF and verified by a data service with public keys it holds, without
//! calling anyone back.
//!
//! # Layout
//!
//! - [`SigningKey`]: one private key and its key id; signs tokens ([`SigningKey::token`]) and
//!   grants ([`SigningKey::sign_grant`]). Only the BFF holds these.
//! - [`Verifier`]: public keys by key id, loaded from a key ring folder; checks tokens
//!   ([`Verifier::token`]) and granted URLs ([`Verifier::grant`]). The services hold these.
//! - [`grant_message`], [`grant_url`], [`GrantQuery`]: the bytes a grant signs, the URL that
//!   carries one, and that URL's query as a service reads it.
//! - [`random_token`], [`now_s`]: randomness and the clock, as the rest of the module uses them.
//!
//! # Key ring
//!
//! A folder of `<kid>.key` (PKCS#8 `PRIVATE KEY` PEM, mode 0600) and `<kid>.pub` (SPKI
//! `PUBLIC KEY` PEM) files. A kid is 1 to 64 letters, digits, `-` or `_`, so it is safe as a file
//! name, in a JWT header and in a URL. Rotation adds a key and later removes the old `.pub`;
//! whatever was signed with a key verifies for as long as its `.pub` is in the folder.
//!
//! SECURITY: verification is Ed25519's strict verification (`verify_strict`: no small-order keys
//! or malleable signatures), only `alg: EdDSA` is accepted (never `none`, never an HMAC whose
//! "secret" would be the public key), and the header's kid only picks among keys the verifier
//! already holds.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
};
use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use jsonwebtoken::Algorithm;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

/// The `iss` of every token the BFF signs.
pub const ISSUER: &str = "tessera-bff";
/// The longest a user token may live (the BFF signs for less).
pub const MAX_TOKEN_LIFETIME_S: u64 = 60;
/// Clock skew tolerated when checking expiry and issue time.
pub const LEEWAY_S: u64 = 5;
/// The longest key id.
pub const MAX_KID_LEN: usize = 64;

/// The first line of every grant message: a version, so a grant can never be mistaken for any
/// other signed bytes.
const GRANT_DOMAIN: &str = "tessera-grant-v1";

/// What a user token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, in decimal.
    pub sub: String,
    /// The user's display name.
    pub name: String,
    /// The upstream the token is for (`accounts`).
    pub aud: String,
    /// [`ISSUER`].
    pub iss: String,
    /// Issued at, in Unix seconds.
    pub iat: u64,
    /// Expires at, in Unix seconds.
    pub exp: u64,
}

/// One Ed25519 private key with its key id.
///
/// `Debug` shows the kid only; the key bytes are wiped when this is dropped.
pub struct SigningKey {
    kid: String,
    key: ed25519_dalek::SigningKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new key from the OS's randomness.
    pub fn generate(kid: &str) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let mut seed = [0u8; ed25519_dalek::SECRET_KEY_LENGTH];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(Self {
            kid: kid.to_owned(),
            key,
        })
    }

    /// The key of a PKCS#8 `PRIVATE KEY` PEM document.
    pub fn from_pem(kid: &str, pem: &str) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|e| KeyError::Pem {
            what: format!("private key {kid:?}"),
            message: e.to_string(),
        })?;
        Ok(Self {
            kid: kid.to_owned(),
            key,
        })
    }

    /// Reads `<dir>/<kid>.key`.
    pub fn read_from(dir: &Path, kid: &str) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let path = dir.join(format!("{kid}.key"));
        let pem = read(&path)?;
        Self::from_pem(kid, &pem).map_err(|e| e.in_file(&path))
    }

    /// Every private key (`<kid>.key`) of a key ring's folder, by key id; a missing folder
    /// holds none. An error names the file.
    pub fn read_ring(dir: &Path) -> Result<Vec<Self>, KeyError> {
        let io = |source| KeyError::Io {
            path: dir.to_owned(),
            source,
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let mut kids = Vec::new();
        for entry in entries {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "key") && path.is_file() {
                let kid = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default();
                check_kid(kid).map_err(|e| e.in_file(&path))?;
                kids.push(kid.to_owned());
            }
        }
        kids.sort();
        kids.iter().map(|kid| Self::read_from(dir, kid)).collect()
    }

    /// The key as a PKCS#8 `PRIVATE KEY` PEM document.
    pub fn to_pem(&self) -> String {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a 32-byte Ed25519 key always encodes as PKCS#8")
            .to_string()
    }

    /// The public half as an SPKI `PUBLIC KEY` PEM document (what a `.pub` file holds).
    pub fn public_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("a 32-byte Ed25519 public key always encodes as SPKI")
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Writes `<dir>/<kid>.key` (mode 0600 on Unix) and then `<dir>/<kid>.pub`, creating `dir`
    /// if needed. Each file appears whole (written aside, then renamed), so a verifier reading
    /// the folder meanwhile never sees half a key.
    pub fn write_to(&self, dir: &Path) -> Result<(), KeyError> {
        std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
            path: dir.to_owned(),
            source,
        })?;
        write_whole(&dir.join(format!("{}.key", self.kid)), &self.to_pem(), true)?;
        write_whole(
            &dir.join(format!("{}.pub", self.kid)),
            &self.public_pem(),
            false,
        )
    }

    /// An EdDSA JWT (header `alg: EdDSA`, `typ: JWT`, `kid`) over the claims.
    pub fn token(&self, claims: &Claims) -> String {
        let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": self.kid});
        let claims = serde_json::to_vec(claims).expect("claims are strings and integers");
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = self.key.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// The base64url (no padding) signature of a grant, over [`grant_message`] with this key's
    /// kid.
    pub fn sign_grant(&self, method: &str, path: &str, exp: u64, user: &str) -> String {
        let message = grant_message(method, path, exp, user, &self.kid);
        URL_SAFE_NO_PAD.encode(self.key.sign(&message).to_bytes())
    }
}

/// The canonical bytes a grant signs:
/// `"tessera-grant-v1\n{METHOD}\n{path}\n{exp}\n{user}\n{kid}"`, the method in upper case.
///
/// The fields are separated by newlines, so [`Verifier::grant`] refuses a path or user that
/// holds a control character: no two different grants can then share these bytes.
pub fn grant_message(method: &str, path: &str, exp: u64, user: &str, kid: &str) -> Vec<u8> {
    format!(
        "{GRANT_DOMAIN}\n{}\n{path}\n{exp}\n{user}\n{kid}",
        method.to_ascii_uppercase()
    )
    .into_bytes()
}

/// What a query value may hold unescaped: RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `"{base}{path}?user={user}&exp={exp}&kid={kid}&sig={sig}"`, the values percent-encoded where
/// needed (a trailing `/` of `base` is dropped, as `path` starts with one).
pub fn grant_url(base: &str, path: &str, user: &str, exp: u64, kid: &str, sig: &str) -> String {
    let encode = |value| utf8_percent_encode(value, QUERY_VALUE);
    format!(
        "{}{path}?user={}&exp={exp}&kid={}&sig={}",
        base.trim_end_matches('/'),
        encode(user),
        encode(kid),
        encode(sig)
    )
}

/// The query a granted URL carries.
#[derive(Debug, Clone, Deserialize)]
pub struct GrantQuery {
    pub user: String,
    pub exp: u64,
    pub kid: String,
    pub sig: String,
}

/// Public keys by key id: what a service holds.
#[derive(Clone, Default)]
pub struct Verifier {
    keys: HashMap<String, VerifyingKey>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("kids", &self.kids())
            .finish()
    }
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the key `kid` from an SPKI `PUBLIC KEY` PEM document.
    pub fn insert_pem(&mut self, kid: &str, pem: &str) -> Result<(), KeyError> {
        check_kid(kid)?;
        let key = VerifyingKey::from_public_key_pem(pem).map_err(|e| KeyError::Pem {
            what: format!("public key {kid:?}"),
            message: e.to_string(),
        })?;
        self.keys.insert(kid.to_owned(), key);
        Ok(())
    }

    /// Every `<kid>.pub` file of the folder (other files ignored); an error names the file.
    pub fn from_dir(dir: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "pub") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut verifier = Self::new();
        for path in files {
            let kid = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            let pem = read(&path)?;
            verifier
                .insert_pem(&kid, &pem)
                .map_err(|e| e.in_file(&path))?;
        }
        Ok(verifier)
    }

    /// The key ids held, sorted.
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.keys.keys().cloned().collect();
        kids.sort();
        kids
    }

    /// Checks a user token: the signature (by a known kid, `alg: EdDSA` only), then
    /// `iss == ISSUER`, `aud == audience`, `exp > now - LEEWAY_S`, `iat <= now + LEEWAY_S` and
    /// `exp - iat <= MAX_TOKEN_LIFETIME_S`. Nothing of the claims is read before the signature
    /// holds.
    pub fn token(&self, token: &str, audience: &str, now: u64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let signed = &token[..header.len() + 1 + payload.len()];
        let header: jsonwebtoken::Header = decode_json(header).ok_or(TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA || header.crit.is_some() {
            return Err(TokenError::Malformed);
        }
        let kid = header.kid.ok_or(TokenError::Malformed)?;
        // A kid no ring could hold is malformed, not unknown: it never triggers a re-read.
        check_kid(&kid).map_err(|_| TokenError::Malformed)?;
        let key = self.keys.get(&kid).ok_or(TokenError::UnknownKey(kid))?;
        let signature = decode_signature(signature).ok_or(TokenError::Malformed)?;
        key.verify_strict(signed.as_bytes(), &signature)
            .map_err(|_| TokenError::BadSignature)?;

        let claims: Claims = decode_json(payload).ok_or(TokenError::Malformed)?;
        if claims.iss != ISSUER {
            return Err(TokenError::WrongIssuer);
        }
        if claims.aud != audience {
            return Err(TokenError::WrongAudience);
        }
        if claims.exp.saturating_add(LEEWAY_S) <= now {
            return Err(TokenError::Expired);
        }
        if claims.iat > now.saturating_add(LEEWAY_S) {
            return Err(TokenError::NotYetValid);
        }
        if claims.exp < claims.iat {
            return Err(TokenError::Malformed);
        }
        if claims.exp - claims.iat > MAX_TOKEN_LIFETIME_S {
            return Err(TokenError::TooLong);
        }
        Ok(claims)
    }

    /// Checks a granted URL: the signature over `(method, path, query.exp, query.user,
    /// query.kid)` first, then expiry (`exp <= now` is expired). Returns the user.
    ///
    /// The order matters: a tampered URL is `Forged` (403) even when it has also expired, so an
    /// expired-looking answer (410) only ever comes from a key the BFF really signed.
    pub fn grant(
        &self,
        method: &str,
        path: &str,
        query: &GrantQuery,
        now: u64,
    ) -> Result<String, GrantError> {
        let clean = |s: &str| !s.is_empty() && !s.chars().any(char::is_control);
        if !clean(&query.user) || !clean(path) || !path.starts_with('/') {
            return Err(GrantError::Malformed);
        }
        check_kid(&query.kid).map_err(|_| GrantError::Malformed)?;
        let key = self
            .keys
            .get(&query.kid)
            .ok_or_else(|| GrantError::UnknownKey(query.kid.clone()))?;
        let signature = decode_signature(&query.sig).ok_or(GrantError::Malformed)?;
        let message = grant_message(method, path, query.exp, &query.user, &query.kid);
        key.verify_strict(&message, &signature)
            .map_err(|_| GrantError::Forged)?;
        if query.exp <= now {
            return Err(GrantError::Expired);
        }
        Ok(query.user.clone())
    }
}

/// The audience of the token with which the BFF asks an accounts service to check a password
/// (`accounts/auth-check` for the service `accounts`): only the BFF may ask, so the BFF's limits
/// on failed sign-ins cannot be walked around.
pub fn auth_check_audience(audience: &str) -> String {
    format!("{audience}/auth-check")
}

/// Random bytes as base64url without padding (session ids etc.).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS's generator only fails on a platform without one, where nothing here could run.
    getrandom::fill(&mut buf).expect("the operating system provides randomness");
    URL_SAFE_NO_PAD.encode(buf)
}

/// Now, in Unix seconds.
pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a key or a key ring could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid key id {kid:?}: {reason}")]
    Kid { kid: String, reason: &'static str },
    #[error("{what}: not an Ed25519 PEM document: {message}")]
    Pem { what: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<KeyError>,
    },
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

impl KeyError {
    fn in_file(self, path: &Path) -> Self {
        Self::InFile {
            path: path.to_owned(),
            source: Box::new(self),
        }
    }
}

/// Why a user token is refused. Every one is a 401 to the client; the kind goes to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not an EdDSA JWT with a kid and the expected claims")]
    Malformed,
    #[error("signed by unknown key {0:?}")]
    UnknownKey(String),
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
    #[error("issued in the future")]
    NotYetValid,
    #[error("meant for another audience")]
    WrongAudience,
    #[error("not issued by {ISSUER}")]
    WrongIssuer,
    #[error("lives longer than {MAX_TOKEN_LIFETIME_S} s")]
    TooLong,
}

/// Why a granted URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("the link is incomplete or malformed")]
    Malformed,
    #[error("the link was signed by unknown key {0:?}")]
    UnknownKey(String),
    #[error("the link is not valid")]
    Forged,
    #[error("the link has expired")]
    Expired,
}

impl GrantError {
    /// The HTTP status a service answers: 410 Gone for an expired (but genuine) link, 403
    /// Forbidden otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Self::Expired => 410,
            _ => 403,
        }
    }
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    let bad = |reason| {
        Err(KeyError::Kid {
            kid: kid.chars().take(MAX_KID_LEN + 1).collect(),
            reason,
        })
    };
    if kid.is_empty() {
        return bad("empty");
    }
    if kid.len() > MAX_KID_LEN {
        return bad("longer than 64 characters");
    }
    if !kid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return bad("only letters, digits, '-' and '_' are allowed");
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes `text` to `path.tmp`, then renames it to `path`; `private` files are created 0600.
fn write_whole(path: &Path, text: &str, private: bool) -> Result<(), KeyError> {
    use std::io::Write as _;
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut aside = path.as_os_str().to_owned();
    aside.push(".tmp");
    let aside = PathBuf::from(aside);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&aside).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&aside, path).map_err(io)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn decode_signature(part: &str) -> Option<Signature> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    Signature::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn claims(aud: &str, iat: u64, exp: u64) -> Claims {
        Claims {
            sub: "1".into(),
            name: "Alice Archer".into(),
            aud: aud.into(),
            iss: ISSUER.into(),
            iat,
            exp,
        }
    }

    fn ring(keys: &[&SigningKey]) -> Verifier {
        let mut verifier = Verifier::new();
        for key in keys {
            verifier.insert_pem(key.kid(), &key.public_pem()).unwrap();
        }
        verifier
    }

    fn query(user: &str, exp: u64, kid: &str, sig: String) -> GrantQuery {
        GrantQuery {
            user: user.into(),
            exp,
            kid: kid.into(),
            sig,
        }
    }

    #[test]
    fn a_token_round_trips_and_is_a_standard_jwt() {
        let key = SigningKey::generate("k1").unwrap();
        let verifier = ring(&[&key]);
        let sent = claims("accounts", NOW, NOW + 30);
        let token = key.token(&sent);
        assert_eq!(
            verifier.token(&token, "accounts", NOW + 10),
            Ok(sent.clone())
        );

        // jsonwebtoken reads it as an ordinary EdDSA JWT with our kid.
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.kid.as_deref(), Some("k1"));
        let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        validation.set_audience(&["accounts"]);
        validation.validate_exp = false;
        let decoding = jsonwebtoken::DecodingKey::from_ed_pem(key.public_pem().as_bytes()).unwrap();
        let decoded = jsonwebtoken::decode::<Claims>(&token, &decoding, &validation).unwrap();
        assert_eq!(decoded.claims, sent);

        // And what jsonwebtoken signs with the same key, we verify.
        let encoding = jsonwebtoken::EncodingKey::from_ed_pem(key.to_pem().as_bytes()).unwrap();
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        let theirs = jsonwebtoken::encode(&header, &sent, &encoding).unwrap();
        assert_eq!(verifier.token(&theirs, "accounts", NOW), Ok(sent));
    }

    #[test]
    fn tokens_are_checked_for_audience_issuer_time_and_lifetime() {
        let key = SigningKey::generate("k1").unwrap();
        let verifier = ring(&[&key]);
        let check = |c: &Claims, now| verifier.token(&key.token(c), "accounts", now);

        let ok = claims("accounts", NOW, NOW + 60);
        assert!(check(&ok, NOW).is_ok());
        assert_eq!(
            check(&claims("catalog", NOW, NOW + 60), NOW),
            Err(TokenError::WrongAudience)
        );
        let foreign = Claims {
            iss: "someone-else".into(),
            ..ok.clone()
        };
        assert_eq!(check(&foreign, NOW), Err(TokenError::WrongIssuer));
        // Expiry with leeway: still good up to LEEWAY_S past exp, not at exp + LEEWAY_S.
        assert!(check(&ok, NOW + 60 + LEEWAY_S - 1).is_ok());
        assert_eq!(check(&ok, NOW + 60 + LEEWAY_S), Err(TokenError::Expired));
        assert!(
            check(&ok, NOW - LEEWAY_S).is_ok(),
            "a clock a little behind"
        );
        assert_eq!(check(&ok, NOW - LEEWAY_S - 1), Err(TokenError::NotYetValid));
        assert_eq!(
            check(
                &claims("accounts", NOW, NOW + MAX_TOKEN_LIFETIME_S + 1),
                NOW
            ),
            Err(TokenError::TooLong)
        );
        assert_eq!(
            check(&claims("accounts", NOW, NOW - 1), NOW),
            Err(TokenError::Malformed),
            "expires before it was issued"
        );
    }

    #[test]
    fn forged_tampered_and_foreign_tokens_are_refused() {
        let key = SigningKey::generate("k1").unwrap();
        let verifier = ring(&[&key]);
        let token = key.token(&claims("accounts", NOW, NOW + 30));
        let [header, payload, signature]: [&str; 3] =
            token.split('.').collect::<Vec<_>>().try_into().unwrap();

        // Another key claiming to be k1.
        let impostor = SigningKey::generate("k1").unwrap();
        let forged = impostor.token(&claims("accounts", NOW, NOW + 30));
        assert_eq!(
            verifier.token(&forged, "accounts", NOW),
            Err(TokenError::BadSignature)
        );
        // A payload swapped under a genuine signature: bob's id, a later expiry.
        let mut tampered = claims("accounts", NOW, NOW + 30);
        tampered.sub = "2".into();
        let tampered_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap());
        assert_eq!(
            verifier.token(
                &format!("{header}.{tampered_payload}.{signature}"),
                "accounts",
                NOW
            ),
            Err(TokenError::BadSignature)
        );
        // A key the verifier does not hold.
        let stranger = SigningKey::generate("k2").unwrap();
        assert_eq!(
            verifier.token(
                &stranger.token(&claims("accounts", NOW, NOW + 30)),
                "accounts",
                NOW
            ),
            Err(TokenError::UnknownKey("k2".into()))
        );
        // alg none, and HS256 with the public key as the "secret".
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
        assert_eq!(
            verifier.token(&format!("{none}.{payload}."), "accounts", NOW),
            Err(TokenError::Malformed)
        );
        let mut hs = jsonwebtoken::Header::new(Algorithm::HS256);
        hs.kid = Some("k1".into());
        let hmac = jsonwebtoken::encode(
            &hs,
            &claims("accounts", NOW, NOW + 30),
            &jsonwebtoken::EncodingKey::from_secret(key.public_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            verifier.token(&hmac, "accounts", NOW),
            Err(TokenError::Malformed)
        );
        for garbage in ["", "abc", "a.b", "a.b.c", "a.b.c.d", &format!("{token}.")] {
            assert_eq!(
                verifier.token(garbage, "accounts", NOW),
                Err(TokenError::Malformed),
                "{garbage}"
            );
        }
    }

    #[test]
    fn a_grant_round_trips_through_its_url() {
        let key = SigningKey::generate("ring-2026_01").unwrap();
        let verifier = ring(&[&key]);
        let sig = key.sign_grant("GET", "/invoices/42", NOW + 60, "1");
        let url = grant_url(
            "http://127.0.0.1:8085/",
            "/invoices/42",
            "1",
            NOW + 60,
            key.kid(),
            &sig,
        );
        assert_eq!(
            url,
            format!(
                "http://127.0.0.1:8085/invoices/42?user=1&exp={}&kid=ring-2026_01&sig={sig}",
                NOW + 60
            )
        );
        let q = query("1", NOW + 60, key.kid(), sig);
        assert_eq!(
            verifier.grant("GET", "/invoices/42", &q, NOW),
            Ok("1".into())
        );
        assert_eq!(
            verifier.grant("get", "/invoices/42", &q, NOW),
            Ok("1".into()),
            "methods compare in upper case"
        );
        assert_eq!(
            grant_url("http://h", "/p", "a b&c", 1, "k", "s"),
            "http://h/p?user=a%20b%26c&exp=1&kid=k&sig=s"
        );
    }

    #[test]
    fn tampered_grants_are_forged_and_only_genuine_ones_expire() {
        let key = SigningKey::generate("k1").unwrap();
        let verifier = ring(&[&key]);
        let exp = NOW + 60;
        let sig = key.sign_grant("GET", "/invoices/42", exp, "1");
        let check = |method, path, q: &GrantQuery, now| verifier.grant(method, path, q, now);

        let tampered_exp = query("1", exp + 3600, "k1", sig.clone());
        assert_eq!(
            check("GET", "/invoices/42", &tampered_exp, NOW),
            Err(GrantError::Forged)
        );
        let genuine = query("1", exp, "k1", sig.clone());
        assert_eq!(
            check("GET", "/invoices/43", &genuine, NOW),
            Err(GrantError::Forged),
            "another path"
        );
        assert_eq!(
            check("DELETE", "/invoices/42", &genuine, NOW),
            Err(GrantError::Forged),
            "another method"
        );
        let other_user = query("2", exp, "k1", sig.clone());
        assert_eq!(
            check("GET", "/invoices/42", &other_user, NOW),
            Err(GrantError::Forged)
        );
        let unknown = query("1", exp, "k9", sig.clone());
        assert_eq!(
            check("GET", "/invoices/42", &unknown, NOW),
            Err(GrantError::UnknownKey("k9".into()))
        );
        let impostor = SigningKey::generate("k1").unwrap();
        let forged = query(
            "1",
            exp,
            "k1",
            impostor.sign_grant("GET", "/invoices/42", exp, "1"),
        );
        assert_eq!(
            check("GET", "/invoices/42", &forged, NOW),
            Err(GrantError::Forged)
        );

        // Expired: 410 when genuine, but 403 when also tampered.
        assert_eq!(
            check("GET", "/invoices/42", &genuine, exp),
            Err(GrantError::Expired)
        );
        assert_eq!(GrantError::Expired.status(), 410);
        let expired_and_tampered = query("2", exp, "k1", sig.clone());
        let refused = check("GET", "/invoices/42", &expired_and_tampered, exp + 10).unwrap_err();
        assert_eq!(refused, GrantError::Forged);
        assert_eq!(refused.status(), 403);
        assert_eq!(GrantError::UnknownKey("k9".into()).status(), 403);

        for bad in [
            query("", exp, "k1", sig.clone()),
            query("1\n", exp, "k1", sig.clone()),
            query("1", exp, "k/1", sig.clone()),
            query("1", exp, "k1", "not base64!".into()),
            query("1", exp, "k1", URL_SAFE_NO_PAD.encode([0u8; 12])),
        ] {
            assert_eq!(
                check("GET", "/invoices/42", &bad, NOW),
                Err(GrantError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            check("GET", "invoices/42", &genuine, NOW),
            Err(GrantError::Malformed)
        );
    }

    #[test]
    fn pem_round_trips_and_debug_shows_no_key() {
        let key = SigningKey::generate("k1").unwrap();
        let pem = key.to_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        assert!(
            key.public_pem().starts_with("-----BEGIN PUBLIC KEY-----"),
            "{}",
            key.public_pem()
        );
        let again = SigningKey::from_pem("k1", &pem).unwrap();
        assert_eq!(again.public_pem(), key.public_pem());
        assert_eq!(
            again.sign_grant("GET", "/x", 1, "1"),
            key.sign_grant("GET", "/x", 1, "1"),
            "Ed25519 signatures are deterministic"
        );

        let debug = format!("{key:?}");
        assert!(debug.contains("k1"), "{debug}");
        let secret = key.key.to_bytes();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        for leak in [
            body,
            URL_SAFE_NO_PAD.encode(secret),
            format!("{:?}", secret),
            secret.iter().map(|b| format!("{b:02x}")).collect(),
        ] {
            assert!(!debug.contains(&leak), "{debug}");
        }
        assert_eq!(debug, r#"SigningKey { kid: "k1", .. }"#);

        assert!(matches!(
            SigningKey::from_pem("k1", "not a pem"),
            Err(KeyError::Pem { .. })
        ));
        assert!(matches!(
            SigningKey::from_pem("k1", &key.public_pem()),
            Err(KeyError::Pem { .. })
        ));
        for bad in ["", "a.b", "a/b", "ключ", &"k".repeat(65)] {
            assert!(
                matches!(SigningKey::generate(bad), Err(KeyError::Kid { .. })),
                "{bad}"
            );
        }
        assert!(SigningKey::generate(&"k".repeat(64)).is_ok());
    }

    #[test]
    fn a_key_ring_is_written_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let one = SigningKey::generate("one").unwrap();
        let two = SigningKey::generate("two").unwrap();
        one.write_to(dir.path()).unwrap();
        two.write_to(dir.path()).unwrap();
        std::fs::write(dir.path().join("README.md"), "not a key").unwrap();

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |f: &str| {
                std::fs::metadata(dir.path().join(f))
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777
            };
            assert_eq!(mode("one.key"), 0o600);
            assert_eq!(mode("one.pub"), 0o644);
        }
        let verifier = Verifier::from_dir(dir.path()).unwrap();
        assert_eq!(verifier.kids(), ["one", "two"]);
        let read = SigningKey::read_from(dir.path(), "two").unwrap();
        let token = read.token(&claims("accounts", NOW, NOW + 30));
        assert!(verifier.token(&token, "accounts", NOW).is_ok());

        std::fs::write(dir.path().join("bad.pub"), "garbage").unwrap();
        let error = Verifier::from_dir(dir.path()).unwrap_err().to_string();
        assert!(error.contains("bad.pub"), "{error}");
        let missing = Verifier::from_dir(&dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }

    #[test]
    fn random_tokens_are_url_safe_and_differ() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(a, random_token(32));
        assert!(now_s() > 1_700_000_000);
    }
}
