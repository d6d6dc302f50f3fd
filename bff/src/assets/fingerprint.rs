//! The build step that makes Trunk's output CDN-safe: every file but `index.html` is renamed to
//! `assets/<name>-<hash>.<ext>` with the hash of its *final* bytes (Trunk hashes the wasm before
//! wasm-bindgen and wasm-opt run, so its names can outlive a change of bytes), references in
//! `index.html` are rewritten, brotli and gzip variants are written beside every compressible
//! file, and a manifest records the mapping.
//!
//! Earlier builds' hashed files stay in `assets/` (the last [`KEEP_BUILDS`] builds), so a page
//! opened before a deploy can still load its chunks; the new build's code and style are also
//! written as deltas against theirs ([`delta`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::delta;
use super::files::HASHED_PREFIX;

/// How many builds' hashed files are kept servable.
pub const KEEP_BUILDS: usize = 3;
/// The manifest written at the root of the output.
pub const MANIFEST: &str = "asset-manifest.json";
/// The history of builds, newest first, used to prune old hashed files.
const HISTORY: &str = ".asset-history.json";

#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} has no index.html: is it a Trunk build?")]
    NoIndex(PathBuf),
}

/// Original name → hashed path (relative to the output root), and the build's id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: BTreeMap<String, String>,
    /// `<n>-<hash>`: `n` counts the builds fingerprinted into this output (so a page can tell
    /// a newer build from an older one), `hash` names the files. The same files keep their id.
    #[serde(default)]
    pub build: String,
}

/// The page's `<meta>` naming its build, which the front end compares with the build every
/// API response names.
pub use tessera_contract::BUILD_HEADER as BUILD_META;

impl Manifest {
    /// The number at the front of a build id (0 for none).
    pub fn number(build: &str) -> u64 {
        tessera_contract::build_number(build).unwrap_or(0)
    }
}

/// Turns the Trunk output in `build` into a fingerprinted site in `out` (which may hold earlier
/// builds), and returns the manifest.
pub fn fingerprint(build: &Path, out: &Path) -> Result<Manifest, FingerprintError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| FingerprintError::Io { path, source }
    };
    let index_path = build.join("index.html");
    let mut index = std::fs::read_to_string(&index_path)
        .map_err(|_| FingerprintError::NoIndex(build.to_owned()))?;

    let mut inputs = Vec::new();
    collect(build, build, &mut inputs).map_err(io(build))?;
    std::fs::create_dir_all(out.join(HASHED_PREFIX)).map_err(io(out))?;

    let history = read_history(out);
    let mut manifest = Manifest::default();
    // Longest names first, so `app_bg.wasm` is rewritten before a shorter name could match inside it.
    inputs.sort_by_key(|rel| std::cmp::Reverse(rel.len()));
    for rel in &inputs {
        if rel == "index.html" {
            continue;
        }
        let bytes = std::fs::read(build.join(rel)).map_err(io(&build.join(rel)))?;
        let hashed = format!("{HASHED_PREFIX}{}", hashed_name(rel, &bytes));
        let target = out.join(&hashed);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        std::fs::write(&target, &bytes).map_err(io(&target))?;
        write_variants(&target, &bytes).map_err(io(&target))?;
        if delta::deltas_for(rel) {
            write_deltas(out, rel, &hashed, &bytes, &history).map_err(io(&target))?;
        }
        for quote in ['"', '\''] {
            index = index.replace(
                &format!("{quote}/{rel}{quote}"),
                &format!("{quote}/{hashed}{quote}"),
            );
        }
        manifest.files.insert(rel.clone(), hashed);
    }

    manifest.build = build_id(&manifest.files, &history);
    let index = with_build_meta(&index, &manifest.build);
    let out_index = out.join("index.html");
    std::fs::write(&out_index, index.as_bytes()).map_err(io(&out_index))?;
    write_variants(&out_index, index.as_bytes()).map_err(io(&out_index))?;
    prune(out, &manifest, history).map_err(io(out))?;
    // Last, and whole (renamed into place): a BFF watching the folder serves the new build
    // when the manifest arrives, so everything else must be there by then.
    let manifest_path = out.join(MANIFEST);
    let partial = out.join(format!(".{MANIFEST}.partial"));
    let json = serde_json::to_vec_pretty(&manifest).expect("a manifest always serializes");
    std::fs::write(&partial, json).map_err(io(&partial))?;
    std::fs::rename(&partial, &manifest_path).map_err(io(&manifest_path))?;
    Ok(manifest)
}

/// Writes `hashed` (the file `rel` of this build) as a `dcz` delta against the same file of
/// each kept earlier build that differs, for browsers holding that one.
fn write_deltas(
    out: &Path,
    rel: &str,
    hashed: &str,
    bytes: &[u8],
    history: &[Manifest],
) -> std::io::Result<()> {
    let earlier: BTreeSet<&String> = history
        .iter()
        .take(KEEP_BUILDS)
        .filter_map(|m| m.files.get(rel))
        .filter(|old| *old != hashed)
        .collect();
    for old in earlier {
        let Ok(dictionary) = std::fs::read(out.join(old)) else {
            continue;
        };
        let delta = delta::dcz(bytes, &dictionary)?;
        std::fs::write(out.join(delta::delta_name(hashed, &dictionary)), delta)?;
    }
    Ok(())
}

/// The id of a build of `files`: the newest build's if it had the same files, else the next
/// number.
fn build_id(files: &BTreeMap<String, String>, history: &[Manifest]) -> String {
    if let Some(newest) = history
        .first()
        .filter(|m| m.files == *files && !m.build.is_empty())
    {
        return newest.build.clone();
    }
    let number = history
        .iter()
        .map(|m| Manifest::number(&m.build))
        .max()
        .unwrap_or(0)
        + 1;
    let names = serde_json::to_vec(files).expect("a manifest always serializes");
    let digest = Sha256::digest(names);
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{number}-{hash}")
}

/// `index` naming `build` in its head (in place of any build it named before).
fn with_build_meta(index: &str, build: &str) -> String {
    let mut index = index.to_owned();
    let open = format!("<meta name=\"{BUILD_META}\" content=\"");
    if let Some(at) = index.find(&open) {
        let end = index[at..].find('>').map_or(index.len(), |e| at + e + 1);
        index.replace_range(at..end, "");
    }
    let meta = format!("{open}{build}\">");
    match index.find("</head>") {
        Some(at) => index.insert_str(at, &meta),
        None => index.insert_str(0, &meta),
    }
    index
}

fn read_history(out: &Path) -> Vec<Manifest> {
    std::fs::read(out.join(HISTORY))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// `dir/app.js` with bytes B → `dir/app-<first 16 hex of sha256(B)>.js`.
fn hashed_name(rel: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let (dir, file) = rel.rsplit_once('/').map_or(("", rel), |(d, f)| (d, f));
    let named = match file.split_once('.') {
        Some((stem, ext)) => format!("{stem}-{hash}.{ext}"),
        None => format!("{file}-{hash}"),
    };
    if dir.is_empty() {
        named
    } else {
        format!("{dir}/{named}")
    }
}

fn compressible(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("html" | "js" | "mjs" | "wasm" | "css" | "json" | "svg" | "txt")
    )
}

/// Writes `<file>.br` and `<file>.gz` at maximum compression (done once, at build time).
fn write_variants(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if !compressible(path) {
        return Ok(());
    }
    let (br, gz) = compress(bytes)?;
    let with_suffix = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    std::fs::write(with_suffix(".br"), br)?;
    std::fs::write(with_suffix(".gz"), gz)
}

/// The brotli (quality 11) and gzip (level 9) encodings of `bytes`.
pub(crate) fn compress(bytes: &[u8]) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut br = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut br, 4096, 11, 22);
        writer.write_all(bytes)?;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes)?;
    Ok((br, gz.finish()?))
}

/// `bytes` in one `coding` (`br` or `gzip`) at a level quick enough for a page drawn per
/// request (a few KB in well under a millisecond).
pub(crate) fn compress_fast(bytes: &[u8], coding: &str) -> std::io::Result<Vec<u8>> {
    if coding == "br" {
        let mut br = Vec::new();
        brotli::CompressorWriter::new(&mut br, 4096, 5, 20).write_all(bytes)?;
        return Ok(br);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes)?;
    gz.finish()
}

/// Records this build and deletes hashed files no longer named by the last [`KEEP_BUILDS`].
fn prune(out: &Path, manifest: &Manifest, mut history: Vec<Manifest>) -> std::io::Result<()> {
    let history_path = out.join(HISTORY);
    history.retain(|m| m.files != manifest.files);
    history.insert(0, manifest.clone());
    history.truncate(KEEP_BUILDS);
    let keep: BTreeSet<&String> = history.iter().flat_map(|m| m.files.values()).collect();
    let mut present = Vec::new();
    collect(out, &out.join(HASHED_PREFIX), &mut present)?;
    for rel in present {
        let base = rel
            .strip_suffix(".br")
            .or_else(|| rel.strip_suffix(".gz"))
            .or_else(|| delta::parse_name(&rel).map(|(file, _)| file))
            .unwrap_or(&rel)
            .to_owned();
        if !keep.contains(&base) {
            std::fs::remove_file(out.join(&rel))?;
        }
    }
    std::fs::write(
        history_path,
        serde_json::to_vec(&history).expect("a manifest always serializes"),
    )
}

/// Every file under `dir`, as a `/`-separated path relative to `root`.
fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).expect("under the root");
            out.push(
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trunk_build(dir: &Path, js: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("index.html"),
            "<link rel=\"modulepreload\" href=\"/app.js\"><script type=\"module\">import init from '/app.js';init({module_or_path: '/app_bg.wasm'})</script>",
        )
        .unwrap();
        std::fs::write(dir.join("app.js"), js).unwrap();
        std::fs::write(dir.join("app_bg.wasm"), b"\0asm wasm bytes").unwrap();
    }

    #[test]
    fn names_follow_final_bytes_and_references_are_rewritten() {
        let tmp = tempfile::tempdir().unwrap();
        let (build, out) = (tmp.path().join("build"), tmp.path().join("out"));
        trunk_build(&build, "export default 1");
        let manifest = fingerprint(&build, &out).unwrap();
        let js = &manifest.files["app.js"];
        assert!(js.starts_with("assets/app-") && js.ends_with(".js"), "{js}");
        let index = std::fs::read_to_string(out.join("index.html")).unwrap();
        assert!(index.contains(&format!("\"/{js}\"")) && index.contains(&format!("'/{js}'")));
        assert!(index.contains(&format!("'/{}'", manifest.files["app_bg.wasm"])));
        assert!(!index.contains("'/app.js'"));
        assert!(out.join(format!("{js}.br")).exists() && out.join(format!("{js}.gz")).exists());
    }

    #[test]
    fn earlier_builds_stay_servable_up_to_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let mut names = Vec::new();
        for i in 0..=KEEP_BUILDS {
            let build = tmp.path().join(format!("b{i}"));
            trunk_build(&build, &format!("export default {i}"));
            names.push(fingerprint(&build, &out).unwrap().files["app.js"].clone());
        }
        assert!(!out.join(&names[0]).exists(), "the oldest build is pruned");
        let manifest: Manifest =
            serde_json::from_slice(&std::fs::read(out.join(MANIFEST)).unwrap()).unwrap();
        assert_eq!(Manifest::number(&manifest.build), KEEP_BUILDS as u64 + 1);
        let index = std::fs::read_to_string(out.join("index.html")).unwrap();
        assert_eq!(index.matches(BUILD_META).count(), 1, "{index}");
        assert!(index.contains(&manifest.build), "{index}");
        for kept in &names[1..] {
            assert!(out.join(kept).exists(), "{kept} kept");
        }
    }
}
