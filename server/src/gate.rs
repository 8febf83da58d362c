//! Connection admission: who gets a TCP connection, decided at accept,
//! before a byte of HTTP is parsed.
//!
//! - A global cap (one permit per TCP connection, held until its socket is
//!   closed, through the HTTP exchange, the WebSocket upgrade and the whole
//!   session) keeps the server below its file descriptor limit.
//! - A per-source cap (per IPv4 address, per IPv6 /64) keeps one host from
//!   taking every slot.
//! - When the server is full, the oldest connection that has not logged in
//!   yet (and is at least [`EVICT_MIN_AGE`] old) is evicted to make room: idle
//!   or slow connections from a flood cannot lock out a real client, which
//!   logs in within milliseconds of connecting. Logged-in sessions are never
//!   evicted.
//!
//! The gate only decides and counts; the listener (`listener`)
//! does the I/O and the timeouts.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// A connection younger than this is never evicted: a real client logs in
/// well within it, so a flood of fresh connections cannot evict it.
pub const EVICT_MIN_AGE: Duration = Duration::from_millis(500);
/// How long an accept waits for an evicted connection to let go of its slot.
pub const EVICT_WAIT: Duration = Duration::from_millis(200);

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The server holds its maximum number of connections and none could be
    /// evicted.
    #[error("the server holds its maximum number of connections")]
    Full,
    /// This source address holds its maximum number of connections.
    #[error("this address holds its maximum number of connections")]
    PerSource,
}

impl Refused {
    /// The label used in metrics.
    pub fn label(self) -> &'static str {
        match self {
            Refused::Full => "full",
            Refused::PerSource => "per_source",
        }
    }
}

/// How a connection ended early, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Its request headers did not arrive within the header-read timeout.
    HeaderTimeout,
    /// It moved no bytes for the idle timeout before upgrading.
    IdleTimeout,
    /// It was evicted to make room for a newer connection.
    Evicted,
    /// Its TLS handshake failed or did not finish within the header-read
    /// timeout.
    TlsHandshake,
}

/// Where a connection comes from, for the per-source cap: an IPv4 address,
/// or the /64 of an IPv6 address (one host usually owns a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(u128);

impl Source {
    /// The source of `ip`.
    pub fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(u128::from(u32::from(v4))),
                None => Source((u128::from(v6) >> 64) << 64 | 1 << 63),
            },
        }
    }
}

/// The admission gate: caps, the per-source counts, the connections that
/// may be evicted, and the counters `/metrics` shows.
#[derive(Debug)]
pub struct Gate {
    permits: Arc<Semaphore>,
    capacity: usize,
    per_source: usize,
    state: Mutex<GateState>,
    next_id: AtomicU64,
    stats: Counters,
}

#[derive(Debug, Default)]
struct GateState {
    sources: HashMap<Source, usize>,
    /// Connections not logged in yet, oldest first (IDs grow with time).
    pending: BTreeMap<u64, Arc<Control>>,
}

#[derive(Debug, Default)]
struct Counters {
    open: AtomicU64,
    accepted: AtomicU64,
    refused_full: AtomicU64,
    refused_per_source: AtomicU64,
    evicted: AtomicU64,
    header_timeouts: AtomicU64,
    idle_timeouts: AtomicU64,
    tls_failures: AtomicU64,
    accept_errors: AtomicU64,
}

/// The gate's figures for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GateStats {
    /// Most connections held at once (after the file descriptor clamp).
    pub capacity: u64,
    /// Open TCP connections (including ones closing).
    pub open: u64,
    /// Open connections that have not logged in.
    pub pending: u64,
    /// Connections accepted since start.
    pub accepted: u64,
    /// Refused because the server was full.
    pub refused_full: u64,
    /// Refused because their source was at its cap.
    pub refused_per_source: u64,
    /// Evicted (not logged in) to make room.
    pub evicted: u64,
    /// Closed by the header-read timeout.
    pub header_timeouts: u64,
    /// Closed by the idle timeout before upgrading.
    pub idle_timeouts: u64,
    /// Closed because their TLS handshake failed or timed out.
    pub tls_failures: u64,
    /// `accept` failures (out of file descriptors, ...).
    pub accept_errors: u64,
}

/// What the gate and the connection's tasks share about one connection.
#[derive(Debug)]
pub struct Control {
    id: u64,
    peer: SocketAddr,
    accepted_at: Instant,
    evict: Notify,
    evicted: AtomicBool,
    /// Milliseconds after `accepted_at` when bytes last moved.
    last_activity_ms: AtomicU64,
    /// Close at once, without reading what the peer still sends.
    abortive: AtomicBool,
}

impl Control {
    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Resolves once the gate evicts this connection (at once if it already has).
    pub async fn evicted(&self) {
        let notified = self.evict.notified();
        if self.evicted.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }

    /// Records that bytes moved now.
    pub fn touch(&self) {
        let ms = u64::try_from(self.accepted_at.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity_ms.store(ms, Ordering::Relaxed);
    }

    /// When bytes last moved.
    pub fn last_activity(&self) -> Instant {
        self.accepted_at + Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed))
    }

    /// Asks for an abortive close: the socket is dropped without reading
    /// what the peer still sends (timeouts, evictions: nothing to flush).
    pub fn close_abortively(&self) {
        self.abortive.store(true, Ordering::Relaxed);
    }

    /// Lets the close linger again (after a TLS handshake), unless the
    /// connection was evicted.
    pub fn close_gracefully(&self) {
        if !self.evicted.load(Ordering::Acquire) {
            self.abortive.store(false, Ordering::Relaxed);
        }
    }

    /// Whether the close should be abortive.
    pub fn is_abortive(&self) -> bool {
        self.abortive.load(Ordering::Relaxed)
    }
}

/// A connection's place at the gate: its permit, its source count and its
/// entry among the evictable connections, all given back on drop.
#[derive(Debug)]
pub struct Ticket {
    gate: Arc<Gate>,
    source: Source,
    control: Arc<Control>,
    _permit: OwnedSemaphorePermit,
}

/// What a request handler gets to know about its TCP connection (a request
/// extension): the peer, eviction, and the moment it logged in.
#[derive(Debug, Clone)]
pub struct Admitted {
    gate: Arc<Gate>,
    control: Arc<Control>,
}

impl Gate {
    /// A gate holding at most `capacity` connections, `per_source` from one
    /// source.
    pub fn new(capacity: usize, per_source: usize) -> Arc<Gate> {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(Gate {
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            per_source: per_source.max(1),
            state: Mutex::new(GateState::default()),
            next_id: AtomicU64::new(1),
            stats: Counters::default(),
        })
    }

    /// Most connections held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Admits a connection from `peer` accepted at `now`, evicting the
    /// oldest connection that has not logged in when the server is full.
    pub async fn admit(
        self: &Arc<Self>,
        peer: SocketAddr,
        now: Instant,
    ) -> Result<Ticket, Refused> {
        let source = Source::of(peer.ip());
        {
            let mut st = self.lock();
            let count = st.sources.entry(source).or_insert(0);
            if *count >= self.per_source {
                drop(st);
                return Err(self.refuse(Refused::PerSource));
            }
            *count += 1;
        }
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) if self.evict_oldest(now) => {
                tokio::time::timeout(EVICT_WAIT, Arc::clone(&self.permits).acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(_) => None,
        };
        let Some(permit) = permit else {
            self.release_source(source);
            return Err(self.refuse(Refused::Full));
        };
        let control = Arc::new(Control {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            peer,
            accepted_at: now,
            evict: Notify::new(),
            evicted: AtomicBool::new(false),
            last_activity_ms: AtomicU64::new(0),
            abortive: AtomicBool::new(false),
        });
        self.lock().pending.insert(control.id, Arc::clone(&control));
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        Ok(Ticket {
            gate: Arc::clone(self),
            source,
            control,
            _permit: permit,
        })
    }

    /// Counts a refusal and returns it.
    pub fn refuse(&self, why: Refused) -> Refused {
        let counter = match why {
            Refused::Full => &self.stats.refused_full,
            Refused::PerSource => &self.stats.refused_per_source,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        why
    }

    /// Counts a connection cut short.
    pub fn count_cut(&self, cut: Cut) {
        let counter = match cut {
            Cut::HeaderTimeout => &self.stats.header_timeouts,
            Cut::IdleTimeout => &self.stats.idle_timeouts,
            Cut::Evicted => &self.stats.evicted,
            Cut::TlsHandshake => &self.stats.tls_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failed `accept`.
    pub fn count_accept_error(&self) {
        self.stats.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits until every connection has let go of its slot, at most `limit`.
    pub async fn wait_empty(&self, limit: Duration) {
        let all = u32::try_from(self.capacity).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(limit, self.permits.acquire_many(all)).await;
    }

    /// The figures for `/metrics`.
    pub fn stats(&self) -> GateStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let s = &self.stats;
        GateStats {
            capacity: u64::try_from(self.capacity).unwrap_or(u64::MAX),
            open: load(&s.open),
            pending: u64::try_from(self.lock().pending.len()).unwrap_or(u64::MAX),
            accepted: load(&s.accepted),
            refused_full: load(&s.refused_full),
            refused_per_source: load(&s.refused_per_source),
            evicted: load(&s.evicted),
            header_timeouts: load(&s.header_timeouts),
            idle_timeouts: load(&s.idle_timeouts),
            tls_failures: load(&s.tls_failures),
            accept_errors: load(&s.accept_errors),
        }
    }

    /// Signals the oldest pending connection at least [`EVICT_MIN_AGE`] old
    /// to go; `false` if there is none.
    fn evict_oldest(&self, now: Instant) -> bool {
        let victim = {
            let mut st = self.lock();
            let oldest = st
                .pending
                .iter()
                .find(|(_, c)| !c.evicted.load(Ordering::Relaxed))
                .map(|(id, c)| (*id, now.saturating_duration_since(c.accepted_at)));
            match oldest {
                Some((id, age)) if age >= EVICT_MIN_AGE => st.pending.remove(&id),
                _ => None,
            }
        };
        let Some(victim) = victim else {
            return false;
        };
        victim.evicted.store(true, Ordering::Release);
        victim.close_abortively();
        victim.evict.notify_waiters();
        self.count_cut(Cut::Evicted);
        tracing::debug!(peer = %victim.peer, "evicting a connection that has not logged in");
        true
    }

    fn release_source(&self, source: Source) {
        let mut st = self.lock();
        if let Some(count) = st.sources.get_mut(&source) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                st.sources.remove(&source);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Ticket {
    /// The handle request handlers get.
    pub fn admitted(&self) -> Admitted {
        Admitted {
            gate: Arc::clone(&self.gate),
            control: Arc::clone(&self.control),
        }
    }

    /// The connection's shared control.
    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// The gate that admitted it.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.gate.lock().pending.remove(&self.control.id);
        self.gate.release_source(self.source);
        self.gate.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Admitted {
    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.control.peer
    }

    /// The connection's shared control.
    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Resolves once the gate evicts this connection.
    pub async fn evicted(&self) {
        self.control.evicted().await;
    }

    /// The connection's session logged in: it is never evicted from now on.
    pub fn logged_in(&self) {
        self.gate.lock().pending.remove(&self.control.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn peer(last: u8) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::new(10, 0, 0, last), 40_000))
    }

    #[test]
    fn sources_group_ipv6_by_64_and_unmap_ipv4() {
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(Ipv6Addr::LOCALHOST);
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        assert_eq!(Source::of(a.into()), Source::of(b.into()));
        assert_ne!(Source::of(a.into()), Source::of(c.into()));
        let v4 = Ipv4Addr::new(192, 0, 2, 7);
        assert_eq!(
            Source::of(v4.to_ipv6_mapped().into()),
            Source::of(v4.into())
        );
        assert_ne!(
            Source::of(Ipv4Addr::new(192, 0, 2, 8).into()),
            Source::of(v4.into())
        );
    }

    #[tokio::test]
    async fn per_source_cap_refuses_and_frees_on_drop() {
        let gate = Gate::new(10, 2);
        let t0 = Instant::now();
        let a1 = gate.admit(peer(1), t0).await.expect("first");
        let _a2 = gate.admit(peer(1), t0).await.expect("second");
        assert_eq!(
            gate.admit(peer(1), t0).await.err(),
            Some(Refused::PerSource)
        );
        // Another source is not affected.
        let _b = gate.admit(peer(2), t0).await.expect("other source");
        drop(a1);
        let _a3 = gate.admit(peer(1), t0).await.expect("slot given back");
        let stats = gate.stats();
        assert_eq!((stats.open, stats.refused_per_source), (3, 1));
    }

    #[tokio::test]
    async fn full_gate_evicts_the_oldest_pending_connection_old_enough() {
        let gate = Gate::new(2, 10);
        let t0 = Instant::now();
        let old = gate.admit(peer(1), t0).await.expect("old");
        let session = gate.admit(peer(2), t0).await.expect("logged in");
        session.admitted().logged_in();
        // Too young to evict: refused.
        let young = t0 + EVICT_MIN_AGE / 2;
        assert_eq!(gate.admit(peer(3), young).await.err(), Some(Refused::Full));
        // Old enough: the pending one is told to go; the logged-in one never is.
        let later = t0 + EVICT_MIN_AGE;
        let evicted = old.admitted();
        let waiter = tokio::spawn(async move { evicted.evicted().await });
        let holder = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(old);
        });
        let _new = gate
            .admit(peer(3), later)
            .await
            .expect("admitted after eviction");
        assert!(waiter.await.is_ok());
        assert!(holder.await.is_ok());
        let stats = gate.stats();
        assert_eq!((stats.open, stats.pending, stats.evicted), (2, 1, 1));
        // The newcomer is too young, the session not evictable: refused.
        assert_eq!(gate.admit(peer(4), later).await.err(), Some(Refused::Full));
        assert_eq!(gate.stats().refused_full, 2);
    }

    #[tokio::test]
    async fn an_evicted_connection_that_does_not_let_go_means_refusal() {
        let gate = Gate::new(1, 10);
        let t0 = Instant::now();
        let stuck = gate.admit(peer(1), t0).await.expect("first");
        let later = t0 + EVICT_MIN_AGE;
        assert_eq!(gate.admit(peer(2), later).await.err(), Some(Refused::Full));
        assert!(stuck.control().is_abortive());
        // It is not picked twice.
        assert_eq!(
            gate.admit(peer(2), later + EVICT_MIN_AGE).await.err(),
            Some(Refused::Full)
        );
        assert_eq!(gate.stats().evicted, 1);
        assert_eq!(gate.stats().refused_full, 2);
    }

    #[tokio::test]
    async fn activity_is_recorded() {
        let gate = Gate::new(1, 1);
        let t = gate.admit(peer(1), Instant::now()).await.expect("admitted");
        let before = t.control().last_activity();
        std::thread::sleep(Duration::from_millis(5));
        t.control().touch();
        assert!(t.control().last_activity() > before);
    }
}
