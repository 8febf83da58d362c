//! `cargo run -p contract`: writes the generated TypeScript contract
//! files (see `contract::files`) into the repository.

use std::process::ExitCode;

fn main() -> ExitCode {
    let root = contract::repo_root();
    for f in contract::files() {
        let path = root.join(&f.path);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(f.text.as_str()) {
            continue;
        }
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, &f.text));
        if let Err(e) = written {
            eprintln!("contract: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("contract: wrote {}", f.path.display());
    }
    ExitCode::SUCCESS
}
