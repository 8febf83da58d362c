//! Which peer connection a datagram or a TCP connection belongs to. Pure:
//! the table of ICE credentials and learned remote addresses, no sockets.
//!
//! A remote address is learned only from a connectivity check whose
//! USERNAME names a registered connection's ufrag and whose
//! MESSAGE-INTEGRITY verifies with that connection's password: nobody
//! without the password (which only the connection's own client got, in
//! the SDP answer) can point an address at a connection. A learned address
//! stays with its connection until the connection is removed; a check for
//! another connection from the same address does not move it (a spoofed
//! source cannot steal a live route).

use super::stun::{BindingRequest, StunError};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// A registered peer connection.
pub(crate) type ConnId = u64;

/// Remote addresses one connection may have learned at once (its client's
/// host, reflexive and relayed candidates, with room to spare). Learning
/// another forgets that connection's oldest: a client spraying checks from
/// spoofed sources evicts only its own routes.
pub(crate) const MAX_REMOTES_PER_CONNECTION: usize = 32;

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// From an address already routed to this connection.
    Known(ConnId),
    /// A verified check from a new address: routed from now on.
    Learned(ConnId),
}

impl Route {
    /// The connection either way.
    pub(crate) fn conn(self) -> ConnId {
        match self {
            Route::Known(conn) | Route::Learned(conn) => conn,
        }
    }
}

/// Why a datagram or connection was not routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// Not a connectivity check, from an address no connection has learned.
    #[error("unknown source: {0}")]
    Unrecognized(StunError),
    /// A check for a ufrag no connection has.
    #[error("no connection has this ufrag")]
    UnknownUfrag,
    /// A check whose MESSAGE-INTEGRITY does not verify.
    #[error("message integrity does not verify")]
    BadIntegrity,
}

/// The routing table.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    /// Local ufrag -> connection and its ICE password.
    by_ufrag: HashMap<String, (ConnId, String)>,
    /// Learned remote address -> connection.
    by_remote: HashMap<SocketAddr, ConnId>,
    /// Each connection's ufrag and learned addresses, oldest first.
    conns: HashMap<ConnId, Registered>,
}

#[derive(Debug)]
struct Registered {
    ufrag: String,
    remotes: VecDeque<SocketAddr>,
}

impl RouteTable {
    /// Registers `conn` with its local ICE credentials. `false` (and no
    /// change) if the ufrag or the connection is already registered.
    pub(crate) fn register(&mut self, conn: ConnId, ufrag: &str, password: &str) -> bool {
        if self.by_ufrag.contains_key(ufrag) || self.conns.contains_key(&conn) {
            return false;
        }
        self.by_ufrag
            .insert(ufrag.to_owned(), (conn, password.to_owned()));
        self.conns.insert(
            conn,
            Registered {
                ufrag: ufrag.to_owned(),
                remotes: VecDeque::new(),
            },
        );
        true
    }

    /// Forgets `conn`: its credentials and every address it learned.
    pub(crate) fn remove(&mut self, conn: ConnId) {
        if let Some(registered) = self.conns.remove(&conn) {
            self.by_ufrag.remove(&registered.ufrag);
            for remote in registered.remotes {
                self.by_remote.remove(&remote);
            }
        }
    }

    /// Routes a datagram from `from`: by the address if known, else by the
    /// verified check it must be (and the address is learned).
    pub(crate) fn route_datagram(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<Route, Refused> {
        if let Some(conn) = self.by_remote.get(&from) {
            return Ok(Route::Known(*conn));
        }
        let conn = self.authenticate(datagram)?;
        self.learn(conn, from);
        Ok(Route::Learned(conn))
    }

    /// The connection a verified check is for (a TCP connection's first
    /// message; nothing is learned).
    pub(crate) fn authenticate(&self, message: &[u8]) -> Result<ConnId, Refused> {
        let request = BindingRequest::parse(message).map_err(Refused::Unrecognized)?;
        let (conn, password) = self
            .by_ufrag
            .get(request.local_ufrag())
            .ok_or(Refused::UnknownUfrag)?;
        if !request.verifies_with(password) {
            return Err(Refused::BadIntegrity);
        }
        Ok(*conn)
    }

    /// Registered connections.
    pub(crate) fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Learned remote addresses, over all connections.
    pub(crate) fn routes(&self) -> usize {
        self.by_remote.len()
    }

    fn learn(&mut self, conn: ConnId, from: SocketAddr) {
        let Some(registered) = self.conns.get_mut(&conn) else {
            return;
        };
        if registered.remotes.len() >= MAX_REMOTES_PER_CONNECTION {
            if let Some(oldest) = registered.remotes.pop_front() {
                self.by_remote.remove(&oldest);
            }
        }
        registered.remotes.push_back(from);
        self.by_remote.insert(from, conn);
    }
}

#[cfg(test)]
mod tests {
    use super::super::stun::tests::check;
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn a_verified_check_teaches_the_address_and_media_follows_it() {
        let mut table = RouteTable::default();
        assert!(table.register(1, "ufragA", "passwordA-passwordA"));
        assert!(table.register(2, "ufragB", "passwordB-passwordB"));
        assert!(
            !table.register(3, "ufragA", "x"),
            "a ufrag belongs to one connection"
        );
        // Media before any check is noise.
        assert_eq!(
            table.route_datagram(addr(1000), &[0x80, 0x60, 0, 1]),
            Err(Refused::Unrecognized(StunError::NotStun))
        );
        let check_b = check("ufragB:client", "passwordB-passwordB");
        assert_eq!(
            table.route_datagram(addr(1000), &check_b),
            Ok(Route::Learned(2))
        );
        assert_eq!(
            table.route_datagram(addr(1000), &[0x80, 0x60, 0, 1]),
            Ok(Route::Known(2))
        );
        assert_eq!(table.routes(), 1);
    }

    #[test]
    fn a_wrong_password_or_unknown_ufrag_learns_nothing() {
        let mut table = RouteTable::default();
        table.register(1, "ufragA", "passwordA-passwordA");
        let forged = check("ufragA:client", "guessed-guessed-guessed");
        assert_eq!(
            table.route_datagram(addr(1), &forged),
            Err(Refused::BadIntegrity)
        );
        let stranger = check("nobody:client", "passwordA-passwordA");
        assert_eq!(
            table.route_datagram(addr(1), &stranger),
            Err(Refused::UnknownUfrag)
        );
        assert_eq!(table.routes(), 0);
        assert_eq!(table.authenticate(&forged), Err(Refused::BadIntegrity));
        let good = check("ufragA:client", "passwordA-passwordA");
        assert_eq!(table.authenticate(&good), Ok(1));
        assert_eq!(table.routes(), 0, "authenticating learns nothing");
    }

    #[test]
    fn a_learned_address_is_not_moved_by_a_check_for_another_connection() {
        let mut table = RouteTable::default();
        table.register(1, "victim", "victim-password-123");
        table.register(2, "attacker", "attacker-password-1");
        let victim = check("victim:c", "victim-password-123");
        assert_eq!(
            table.route_datagram(addr(7), &victim),
            Ok(Route::Learned(1))
        );
        // The attacker knows its own password and spoofs the victim's source.
        let spoofed = check("attacker:c", "attacker-password-1");
        assert_eq!(table.route_datagram(addr(7), &spoofed), Ok(Route::Known(1)));
    }

    #[test]
    fn removing_a_connection_forgets_its_credentials_and_addresses() {
        let mut table = RouteTable::default();
        table.register(1, "one", "password-one-password");
        table.register(2, "two", "password-two-password");
        for port in 0..5 {
            table
                .route_datagram(addr(port), &check("one:c", "password-one-password"))
                .expect("verified");
        }
        table
            .route_datagram(addr(100), &check("two:c", "password-two-password"))
            .expect("verified");
        assert_eq!((table.connections(), table.routes()), (2, 6));
        table.remove(1);
        assert_eq!((table.connections(), table.routes()), (1, 1));
        assert_eq!(
            table.route_datagram(addr(0), &[0x80, 0, 0, 0]),
            Err(Refused::Unrecognized(StunError::NotStun))
        );
        assert_eq!(
            table.route_datagram(addr(0), &check("one:c", "password-one-password")),
            Err(Refused::UnknownUfrag)
        );
        table.remove(2);
        table.remove(2);
        assert_eq!((table.connections(), table.routes()), (0, 0));
        assert!(table.register(1, "one", "again"), "the ufrag is free again");
    }

    #[test]
    fn a_flood_of_sources_is_capped_per_connection() {
        let mut table = RouteTable::default();
        table.register(1, "noisy", "noisy-password-12345");
        table.register(2, "quiet", "quiet-password-12345");
        table
            .route_datagram(addr(1), &check("quiet:c", "quiet-password-12345"))
            .expect("verified");
        let noisy = check("noisy:c", "noisy-password-12345");
        for port in 1000..1000 + 10 * MAX_REMOTES_PER_CONNECTION as u16 {
            table.route_datagram(addr(port), &noisy).expect("verified");
        }
        assert_eq!(table.routes(), MAX_REMOTES_PER_CONNECTION + 1);
        assert_eq!(
            table.route_datagram(addr(1), &[0x80]),
            Ok(Route::Known(2)),
            "the other connection's route survives"
        );
    }
}
