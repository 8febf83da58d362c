//! The fuzz targets' bodies: one function per decoder that faces the
//! network, each taking the fuzzer's bytes and panicking only when an
//! invariant breaks. The libFuzzer binaries in `fuzz_targets/` call these;
//! `tests/replay.rs` feeds them every saved input without libFuzzer.
//!
//! The SFU's forwarding core and STUN reader (private modules of the server
//! crate) and media-core's barcode reader are compiled here from their own
//! source files (`#[path]`); the candidate rewrite and the SDK's TURN stream
//! framing are copied verbatim by `build.rs`. Same code, no API widened.

#![allow(unreachable_pub)]

#[allow(dead_code)]
#[path = "../../server/src/sfu/forwarder.rs"]
mod forwarder;

#[allow(dead_code)]
#[path = "../../server/src/sfu/mux/stun.rs"]
mod stun;

/// media-core's frame type (barcode.rs reads `crate::frame`).
#[allow(dead_code, missing_docs)]
#[path = "../../media-core/src/frame.rs"]
pub mod frame;

#[allow(dead_code)]
#[path = "../../media-core/src/capture/barcode.rs"]
mod barcode;

#[allow(dead_code)]
mod announce {
    include!(concat!(env!("OUT_DIR"), "/announce.rs"));
}

#[allow(dead_code)]
mod turn_frame {
    include!(concat!(env!("OUT_DIR"), "/turn_frame.rs"));
}

mod targets;

pub use targets::*;
