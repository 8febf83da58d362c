//! Replays every saved input through its target without libFuzzer: the
//! crashes found so far (`regressions/<target>/`) and the seed corpus
//! (`seeds/<target>/`). Runs in `make test`.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for folder in ["regressions", "seeds"] {
        let dir = root.join(folder).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths.iter().filter(|p| p.is_file()) {
            let data = std::fs::read(path).expect("read a saved input");
            eprintln!("{target}: {}", path.display());
            run(&data);
            count += 1;
        }
    }
    eprintln!("{target}: {count} inputs replayed");
}

macro_rules! replay_tests {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                replay(stringify!($target), confer_fuzz::$target);
            }
        )*
    };
}

replay_tests!(
    signaling,
    token,
    rtp_forward,
    rtcp,
    sdp_announce,
    stun_check,
    barcode,
    turn_server,
    turn_frame,
);
