//! The key ring: `<kid>.key` and `<kid>.pub` files in one folder. The BFF signs with one
//! private key (the current one); the services hold the public keys, the current and the
//! previous one while what was signed with it can still be in use.

use std::path::{Path, PathBuf};

use tessera_contract::keys::{self, Claims, SigningKey};

use super::session::Shopper;
use crate::config::IdentityConfig;

/// Why the key ring cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RingError {
    #[error("cannot read the key folder {}: {error}", dir.display())]
    Folder { dir: PathBuf, error: std::io::Error },
    #[error("{}: {error}", path.display())]
    File { path: PathBuf, error: String },
    #[error(
        "no private key in {} (write one with `tessera-bff keys generate --dir {}`)",
        dir.display(), dir.display()
    )]
    Empty { dir: PathBuf },
    #[error("{} holds several private keys ({kids}): say which signs with `signing_key`", dir.display())]
    Ambiguous { dir: PathBuf, kids: String },
    #[error("no private key {kid:?} in {} (it has: {kids})", dir.display())]
    Unknown {
        dir: PathBuf,
        kid: String,
        kids: String,
    },
}

/// The private keys of the ring, by key id.
#[derive(Debug)]
pub(crate) struct KeyRing {
    dir: PathBuf,
    keys: Vec<SigningKey>,
}

impl KeyRing {
    /// Every `<kid>.key` of the configured folder; with `generate_keys`, a first pair is
    /// written when it holds none.
    pub(crate) fn load(config: &IdentityConfig) -> Result<Self, RingError> {
        let dir = config.keys_dir.get_ref().clone();
        let mut ring = Self::read(&dir)?;
        if ring.keys.is_empty() && config.generate_keys {
            let kid = config
                .signing_key
                .as_ref()
                .map_or_else(default_kid, |k| k.get_ref().clone());
            let key = generate(&dir, &kid)?;
            tracing::info!(kid = %key.kid(), dir = %dir.display(), "generated a signing key");
            ring.keys.push(key);
        }
        Ok(ring)
    }

    /// The keys in `dir` (a missing folder holds none).
    fn read(dir: &Path) -> Result<Self, RingError> {
        let keys = SigningKey::read_ring(dir).map_err(|e| RingError::File {
            path: dir.to_owned(),
            error: e.to_string(),
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            keys,
        })
    }

    /// The key ids of the ring, in order.
    pub(crate) fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(SigningKey::kid).collect()
    }

    /// The signer of the configured key (or of the only one).
    pub(crate) fn signer(self, config: &IdentityConfig) -> Result<Signer, RingError> {
        let kids = self.kids().join(", ");
        let Self { dir, mut keys } = self;
        let index = match &config.signing_key {
            Some(kid) => keys
                .iter()
                .position(|k| k.kid() == kid.get_ref())
                .ok_or_else(|| RingError::Unknown {
                    dir: dir.clone(),
                    kid: kid.get_ref().clone(),
                    kids: kids.clone(),
                })?,
            None if keys.is_empty() => return Err(RingError::Empty { dir }),
            None if keys.len() > 1 => return Err(RingError::Ambiguous { dir, kids }),
            None => 0,
        };
        Ok(Signer {
            key: keys.swap_remove(index),
            token_lifetime_s: config.token_lifetime_s.min(keys::MAX_TOKEN_LIFETIME_S),
        })
    }
}

/// A key id from the clock: `k20261202-185012`.
pub(crate) fn default_kid() -> String {
    let now = keys::now_s();
    let (days, rest) = (now / 86_400, now % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "k{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Writes a new pair `<kid>.key` (readable by its owner only) and `<kid>.pub` into `dir`,
/// refusing to overwrite an existing key.
pub(crate) fn generate(dir: &Path, kid: &str) -> Result<SigningKey, RingError> {
    let file_error = |path: &Path, error: String| RingError::File {
        path: path.to_owned(),
        error,
    };
    std::fs::create_dir_all(dir).map_err(|error| RingError::Folder {
        dir: dir.to_owned(),
        error,
    })?;
    let key = SigningKey::generate(kid).map_err(|e| file_error(dir, e.to_string()))?;
    let private = dir.join(format!("{kid}.key"));
    let public = dir.join(format!("{kid}.pub"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&private)
        .map_err(|e| file_error(&private, e.to_string()))?;
    std::io::Write::write_all(&mut file, key.to_pem().as_bytes())
        .map_err(|e| file_error(&private, e.to_string()))?;
    std::fs::write(&public, key.public_pem()).map_err(|e| file_error(&public, e.to_string()))?;
    Ok(key)
}

/// Signs for shoppers with the ring's current key.
pub(crate) struct Signer {
    key: SigningKey,
    token_lifetime_s: u64,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.key.kid())
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub(crate) fn kid(&self) -> &str {
        self.key.kid()
    }

    /// A token for one call to `audience`, valid for the configured lifetime (60 s at most).
    pub(crate) fn token(&self, shopper: &Shopper, audience: &str) -> String {
        let iat = keys::now_s();
        self.key.token(&Claims {
            sub: shopper.id.clone(),
            name: shopper.name.clone(),
            aud: audience.to_owned(),
            iss: keys::ISSUER.to_owned(),
            iat,
            exp: iat + self.token_lifetime_s,
        })
    }

    /// A token for the BFF itself (subject `tessera-bff`), for calls no shopper makes, such as
    /// asking the accounts service to check a password.
    pub(crate) fn service_token(&self, audience: &str) -> String {
        let iat = keys::now_s();
        self.key.token(&Claims {
            sub: keys::ISSUER.to_owned(),
            name: String::new(),
            aud: audience.to_owned(),
            iss: keys::ISSUER.to_owned(),
            iat,
            exp: iat + self.token_lifetime_s,
        })
    }

    /// A URL at `base` + `path` for `GET`, signed for `shopper` until `exp`.
    pub(crate) fn grant(&self, base: &str, path: &str, shopper: &Shopper, exp: u64) -> String {
        let sig = self.key.sign_grant("GET", path, exp, &shopper.id);
        keys::grant_url(base, path, &shopper.id, exp, self.key.kid(), &sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_become_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_788), (2026, 12, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
