//! The one task that owns the core: feeds it inputs and the clock, carries
//! out its outputs.

use super::udp::RelayPorts;
use super::{stopped, unix_now, Input};
use crate::server::{FiveTuple, Output, Server, Transport, Verdict};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

/// Inputs handled per wake-up before outputs are flushed.
const BATCH: usize = 64;

struct StreamClient {
    tx: mpsc::Sender<Vec<u8>>,
    has_allocation: Arc<AtomicBool>,
}

pub(super) struct Driver {
    core: Server,
    udp: Arc<UdpSocket>,
    relays: RelayPorts,
    streams: HashMap<FiveTuple, StreamClient>,
}

impl Driver {
    pub(super) fn new(core: Server, udp: Arc<UdpSocket>, relays: RelayPorts) -> Driver {
        Driver {
            core,
            udp,
            relays,
            streams: HashMap::new(),
        }
    }

    pub(super) async fn run(
        mut self,
        mut inputs: mpsc::Receiver<Input>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // Expiry and the wall clock move once a second: TURN's lifetimes
        // are whole seconds, and the core checks deadlines on use anyway.
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped(&mut shutdown) => break,
                input = inputs.recv() => {
                    let Some(input) = input else { break };
                    self.handle(input);
                    for _ in 1..BATCH {
                        match inputs.try_recv() {
                            Ok(input) => self.handle(input),
                            Err(_) => break,
                        }
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now().into_std();
                    self.core.set_wall_clock(now, unix_now());
                    if self.core.poll_timeout().is_some_and(|t| t <= now) {
                        self.core.handle_timeout(now);
                    }
                }
            }
            self.flush();
        }
        tracing::debug!("TURN driver stopped");
    }

    fn handle(&mut self, input: Input) {
        let now = Instant::now().into_std();
        match input {
            Input::Client { from, data } => {
                let verdict = self.core.handle_client(from, &data, now, &mut self.relays);
                if from.transport != Transport::Udp {
                    if verdict == Verdict::Malformed {
                        // Dropping the sender closes the connection.
                        self.streams.remove(&from);
                        self.core.close_client(&from);
                    } else if let Some(stream) = self.streams.get(&from) {
                        let has = self.core.has_allocation(&from, now);
                        stream.has_allocation.store(has, Ordering::Relaxed);
                    }
                }
            }
            Input::Peer { relay, peer, data } => {
                self.core.handle_relayed(relay, peer, &data, now);
            }
            Input::StreamOpened {
                from,
                tx,
                has_allocation,
            } => {
                self.streams
                    .insert(from, StreamClient { tx, has_allocation });
            }
            Input::StreamClosed { from } => {
                self.streams.remove(&from);
                self.core.close_client(&from);
            }
        }
    }

    fn flush(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::ToClient { to, data } => match to.transport {
                    // A full socket buffer drops the datagram, as the
                    // network would.
                    Transport::Udp => {
                        let _ = self.udp.try_send_to(&data, to.client);
                    }
                    Transport::Tcp | Transport::Tls => {
                        if let Some(stream) = self.streams.get(&to) {
                            let _ = stream.tx.try_send(data);
                        }
                    }
                },
                Output::ToPeer { relay, peer, data } => {
                    if let Some(relay) = self.relays.sockets.get(&relay) {
                        let _ = relay.socket.try_send_to(&data, peer);
                    }
                }
                Output::CloseRelay { relay, five_tuple } => {
                    self.relays.close(&relay);
                    if let Some(stream) = self.streams.get(&five_tuple) {
                        stream.has_allocation.store(false, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}
