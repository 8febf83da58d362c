//! Copies, verbatim, the few private items the fuzz targets need out of
//! sources that are not `pub` (server/src/sfu/ is private to the server
//! crate, `read_frame` is `pub(crate)` in media-core) into `$OUT_DIR`, so
//! the targets fuzz exactly the code that ships without widening any API.
//! An item is its doc comment and attributes, its first line, and every
//! line up to the first `}` at column 0 (rustfmt's layout); a one-line item
//! ends at its `;`. A build fails, naming the item, when one moves away.

use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));

    // The SFU's candidate rewrite (server/src/sfu/engine.rs today).
    let sfu = root.join("server/src/sfu");
    let mut announce = String::from("use std::net::IpAddr;\n\n");
    for needle in [
        "pub(crate) struct Announce ",
        "impl Announce {",
        "pub(crate) fn usable_remote_candidate(",
    ] {
        announce.push_str(&find_item(&sfu, needle));
        announce.push('\n');
    }
    fs::write(out.join("announce.rs"), announce).expect("write announce.rs");

    // The SDK's TURN stream framing.
    let turn_stream = root.join("media-core/src/transport/turn_stream.rs");
    let mut framing = String::from("use tokio::io::{AsyncRead, AsyncReadExt};\n\n");
    for needle in ["const MAX_FRAME: usize", "pub(crate) async fn read_frame("] {
        framing.push_str(&find_item(&turn_stream, needle));
        framing.push('\n');
    }
    fs::write(out.join("turn_frame.rs"), framing).expect("write turn_frame.rs");
}

/// The item whose first line contains `needle`, in `path` (a file, or every
/// .rs file below a folder).
fn find_item(path: &Path, needle: &str) -> String {
    let mut files = Vec::new();
    collect(path, &mut files);
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let text = fs::read_to_string(file).expect("read a source file");
        if let Some(item) = item(&text, needle) {
            return item;
        }
    }
    panic!(
        "fuzz/build.rs: no item `{needle}` under {}: it moved; point build.rs at its new place",
        path.display()
    );
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        println!("cargo:rerun-if-changed={}", path.display());
        for entry in fs::read_dir(path).expect("read a source folder") {
            collect(&entry.expect("a folder entry").path(), files);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        files.push(path.to_owned());
    }
}

fn item(text: &str, needle: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| !l.starts_with(' ') && l.contains(needle))?;
    let mut start = at;
    while start > 0 && {
        let prev = lines[start - 1];
        prev.starts_with("///") || prev.starts_with("#[")
    } {
        start -= 1;
    }
    let end = if lines[at].trim_end().ends_with(';') {
        at
    } else {
        at + lines[at..].iter().position(|l| *l == "}")?
    };
    Some(lines[start..=end].join("\n") + "\n")
}
