//! The checked-in TypeScript contract is what the Rust types say now
//! (GitButler checks its generated TypeScript the same way).

#[test]
fn generated_files_are_fresh() {
    let root = contract::repo_root();
    let mut stale = Vec::new();
    for f in contract::files() {
        let on_disk = std::fs::read_to_string(root.join(&f.path)).unwrap_or_default();
        if on_disk != f.text {
            stale.push(f.path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files {stale:?}: run `cargo run -p contract` and commit them"
    );
}
