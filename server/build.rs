//! Embeds the web debug page (`web/dist/`, compiled from `web/src/` by
//! `make web`) into the server binary. When it has not been built, a small
//! placeholder page saying how to build it is embedded instead, so a plain
//! `cargo build` always works.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let web = manifest.join("web");
    let dist = web.join("dist");
    // A directory is scanned as a whole: a rebuilt page re-embeds.
    println!("cargo:rerun-if-changed={}", web.display());

    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &dist, &mut files);
    }
    files.sort();
    let built = !files.is_empty();
    if !built {
        let placeholder = out_dir.join("placeholder.html");
        if let Err(e) = std::fs::write(&placeholder, PLACEHOLDER) {
            panic!("cannot write {}: {e}", placeholder.display());
        }
        files.push(("index.html".to_owned(), placeholder));
    }

    let mut code = String::new();
    let _ = writeln!(
        code,
        "/// Whether the compiled page is embedded (`false`: the placeholder).\n\
         pub(crate) const BUILT: bool = {built};\n\
         /// Every embedded file: (path relative to web/dist, contents).\n\
         pub(crate) static FILES: &[(&str, &[u8])] = &["
    );
    for (name, path) in &files {
        let _ = writeln!(
            code,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let target = out_dir.join("web_assets.rs");
    if let Err(e) = std::fs::write(&target, code) {
        panic!("cannot write {}: {e}", target.display());
    }
}

/// Every file under `dir` as (path relative to `root` with `/`, absolute path).
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let abs = std::fs::canonicalize(&path).unwrap_or(path);
            out.push((name, abs));
        }
    }
}

const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Confer debug page (not built)</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1d2430}
code{background:#eef1f5;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>Confer web debug page</h1>
<p>This server was built without the compiled debug page.</p>
<p>Build it with <code>make web</code> (TypeScript in <code>server/web/</code>, compiled into
<code>server/web/dist/</code>), then rebuild the server: <code>cargo build --bin confer</code>.</p>
<p>Signaling is served at <code>/ws</code>; health at <code>/healthz</code>.</p>
</body></html>
"#;
