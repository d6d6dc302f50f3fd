//! Releases as deltas (Compression Dictionary Transport, RFC 9842). Every hashed script, wasm
//! and style is served with `Use-As-Dictionary`, a match pattern covering the later builds of
//! the same file. When a build is fingerprinted, each of those files is also compressed against
//! the same file of every kept earlier build, as `dcz` (zstd with the old file as a raw
//! dictionary). A browser that holds an old file names it in `Available-Dictionary`, and the
//! new one comes as the few bytes that differ.
//!
//! A delta is written beside its file as `<file>.<first 16 hex of the dictionary's SHA-256>.dcz`.
//! Its first 40 bytes are the `dcz` header: the magic, then the dictionary's full SHA-256,
//! which is what `Available-Dictionary` names.

use std::io::Write;

use sha2::{Digest, Sha256};

/// The first bytes of every `dcz` body (RFC 9842, section 4).
pub const DCZ_MAGIC: [u8; 8] = [0x5e, 0x2a, 0x4d, 0x18, 0x20, 0x00, 0x00, 0x00];
/// The header's length: the magic and the dictionary's SHA-256.
pub const DCZ_HEADER: usize = DCZ_MAGIC.len() + 32;
/// zstd's level for deltas (made once per build, served many times).
const LEVEL: i32 = 19;

/// Files worth a delta: the code and style a release changes.
pub(super) fn deltas_for(path: &str) -> bool {
    path.ends_with(".wasm") || path.ends_with(".js") || path.ends_with(".css")
}

/// The file name of the delta of `hashed` against `dictionary`.
pub fn delta_name(hashed: &str, dictionary: &[u8]) -> String {
    delta_name_by_hash(hashed, &Sha256::digest(dictionary).into())
}

/// The file name of the delta of `hashed` against the dictionary whose SHA-256 is `hash`.
pub(super) fn delta_name_by_hash(hashed: &str, hash: &[u8; 32]) -> String {
    let short: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hashed}.{short}.dcz")
}

/// The `Available-Dictionary` value a browser holding the dictionary `hash` sends.
pub(super) fn available_dictionary_value(hash: &[u8; 32]) -> String {
    use base64::Engine;
    format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// The file and dictionary hash a delta's name holds (`<file>.<16 hex>.dcz`), if it is one.
pub(super) fn parse_name(name: &str) -> Option<(&str, &str)> {
    let (file, hash) = name.strip_suffix(".dcz")?.rsplit_once('.')?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some((file, hash))
}

/// `bytes` as `dcz` against `dictionary`.
pub fn dcz(bytes: &[u8], dictionary: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(DCZ_HEADER + bytes.len() / 16);
    out.extend_from_slice(&DCZ_MAGIC);
    out.extend_from_slice(&Sha256::digest(dictionary));
    let mut encoder = zstd::stream::write::Encoder::with_dictionary(&mut out, LEVEL, dictionary)?;
    // A window that reaches back over the whole dictionary, within what browsers decode
    // (8 MiB at least, RFC 9842 section 4).
    let reach = (bytes.len() + dictionary.len()).next_power_of_two();
    let window_log = reach.trailing_zeros().clamp(10, 23);
    encoder.set_parameter(zstd::stream::raw::CParameter::WindowLog(window_log))?;
    encoder.set_pledged_src_size(Some(bytes.len() as u64))?;
    encoder.include_checksum(true)?;
    encoder.write_all(bytes)?;
    encoder.finish()?;
    Ok(out)
}

/// The dictionary's SHA-256 a `dcz` body names, if it is one.
pub(super) fn dictionary_of(body: &[u8]) -> Option<[u8; 32]> {
    if body.len() < DCZ_HEADER || body[..DCZ_MAGIC.len()] != DCZ_MAGIC {
        return None;
    }
    body[DCZ_MAGIC.len()..DCZ_HEADER].try_into().ok()
}

/// The dictionary hash an `Available-Dictionary` value names (`:<base64 of SHA-256>:`, a
/// structured-field byte sequence).
pub(super) fn available_dictionary(value: &str) -> Option<[u8; 32]> {
    use base64::Engine;
    let inner = value.trim().strip_prefix(':')?.strip_suffix(':')?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(inner)
        .ok()?;
    bytes.try_into().ok()
}

/// The `Use-As-Dictionary` value of a hashed file: a pattern matching its later builds
/// (`/assets/app-0123….wasm` → `/assets/app-*.wasm`). The hash sits before the first dot of
/// the file's name, as `fingerprint` puts it (`x-<hash>.min.js`).
pub(super) fn use_as_dictionary(key: &str) -> Option<String> {
    let (dir, file) = key.rsplit_once('/').unwrap_or(("", key));
    let (stem, ext) = file.split_once('.')?;
    let (name, hash) = stem.rsplit_once('-')?;
    let hashed = hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    let dir = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    hashed.then(|| format!("match=\"/{dir}{name}-*.{ext}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_delta_decodes_with_its_dictionary_to_the_new_file() {
        let old: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut new = old.clone();
        new[12_345] ^= 0xff;
        new.extend_from_slice(b"and a little more");
        let delta = dcz(&new, &old).unwrap();
        assert!(delta.len() < 200, "{} bytes", delta.len());
        let dictionary = dictionary_of(&delta).unwrap();
        assert_eq!(dictionary[..], Sha256::digest(&old)[..]);
        let mut decoder =
            zstd::stream::read::Decoder::with_dictionary(&delta[DCZ_HEADER..], &old).unwrap();
        decoder.window_log_max(23).unwrap();
        let mut decoded = Vec::new();
        decoder.read_to_end(&mut decoded).unwrap();
        assert_eq!(decoded, new);
    }

    #[test]
    fn headers_are_read_and_written_as_the_rfc_spells_them() {
        use base64::Engine;
        let hash = Sha256::digest(b"dictionary");
        let value = format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD.encode(hash)
        );
        assert_eq!(available_dictionary(&value).unwrap()[..], hash[..]);
        assert_eq!(available_dictionary_value(&hash.into()), value);
        assert!(available_dictionary("not-a-byte-sequence").is_none());
        assert!(available_dictionary(":c2hvcnQ=:").is_none(), "not 32 bytes");
        assert_eq!(
            use_as_dictionary("assets/app_bg-0123456789abcdef.wasm").unwrap(),
            "match=\"/assets/app_bg-*.wasm\""
        );
        assert_eq!(
            use_as_dictionary("assets/x-0123456789abcdef.min.js").unwrap(),
            "match=\"/assets/x-*.min.js\""
        );
        assert!(use_as_dictionary("index.html").is_none());
        assert_eq!(
            parse_name("assets/a-1.wasm.0123456789abcdef.dcz"),
            Some(("assets/a-1.wasm", "0123456789abcdef"))
        );
        for bad in [
            "x.dcz",
            "é.dcz",
            "a.wasm.01234567.dcz",
            "a.wasm.0123456789abcdeg.dcz",
        ] {
            assert!(parse_name(bad).is_none(), "{bad}");
        }
    }
}
