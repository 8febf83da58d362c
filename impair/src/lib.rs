//! A network impairment tool the tests and benches share. The kernel here
//! has no netem, so links are impaired in user space: a UDP relay sits
//! between a peer and the server (the server announces the relay's address)
//! and applies, per direction, what a real access link does to packets.
//!
//! - [`Conditions`]: loss (random or bursty Gilbert-Elliott), delay with
//!   jitter, reordering, and a capacity with a drop-tail queue, parsed from
//!   a short spec such as `loss=5%,delay=50ms,rate=500kbps,queue=50`.
//! - [`Timeline`]: conditions that change at given times (a capacity step,
//!   a blackout at second N) or follow a capacity trace (Mahimahi-like
//!   `<ms> <kbps>` lines).
//! - [`Link`]: the sans-IO model of one direction: packets in with `now`,
//!   packets out when their time has come. Deterministic for a given seed.
//! - [`Relay`]: the tokio shell, a UDP relay with one [`Link`] per direction.

mod conditions;
mod link;
mod loss;
mod relay;
mod timeline;

pub use conditions::{Conditions, SpecError, DEFAULT_QUEUE_PACKETS};
pub use link::{Fate, Link, LinkStats};
pub use loss::LossModel;
pub use relay::{Direction, Relay, RelayConfig};
pub use timeline::{Timeline, TimelineError};
