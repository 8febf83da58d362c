//! A small internet of network namespaces (RECIPES.md, "Real NATs in
//! network namespaces"): an "internet" bridge in 203.0.113.0/24, public
//! hosts on it, and homes: a NAT router (masquerade, symmetric, UDP
//! blocked) with one client behind it on 192.168.N.0/24. Addresses exist
//! only inside the namespaces; nothing leaves the machine.
//!
//! A test calls [`enter`] first: it re-runs the test inside `unshare -n -m`
//! with a private `/run` (so `ip netns` touches nothing of the host), and
//! the outer run only checks the inner one passed. Without root, `unshare`,
//! `ip` or `nft` it skips ([`crate::skip`]: SKIPPED, or a failure
//! where `CONFER_REQUIRE_ALL` is set) and returns `false`.

use std::process::Command;

/// Set in the inner run of a test.
const INNER_ENV: &str = "CONFER_NETNS_INNER";

/// Runs `body` on the usual runtime ([`crate::block_on`]) inside the test's
/// own namespaces; in the outer run (see [`enter`]) it does nothing.
pub fn run_inside<F: std::future::Future<Output = ()>>(test_name: &str, body: impl FnOnce() -> F) {
    if enter(test_name) {
        crate::block_on(body());
    }
}

/// `true` inside the private namespaces (build the topology and test);
/// `false` in the outer run (the inner one passed) or when skipped.
pub fn enter(test_name: &str) -> bool {
    if std::env::var_os(INNER_ENV).is_some() {
        return true;
    }
    let missing: Vec<&str> = ["unshare", "ip", "nft", "mount"]
        .into_iter()
        .filter(|tool| !found(tool))
        .collect();
    if !rustix::process::geteuid().is_root() || !missing.is_empty() {
        let why = format!("needs root and {missing:?} (network namespaces)");
        crate::skip(test_name, &why);
        return false;
    }
    // A sandbox may deny namespaces even to root: then say so and skip.
    let can_unshare = Command::new("unshare")
        .args(["--net", "--mount", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !can_unshare {
        crate::skip(test_name, "this machine does not allow network namespaces");
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let status = Command::new("unshare")
        .args(["--net", "--mount", "--", "sh", "-c"])
        .arg("mount -t tmpfs none /run && mkdir -p /run/netns && exec \"$0\" \"$@\"")
        .arg(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER_ENV, "1")
        .status()
        .expect("run unshare");
    assert!(
        status.success(),
        "{test_name} failed inside its network namespaces: {status}"
    );
    false
}

fn found(tool: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|dir| std::path::Path::new(dir).join(tool).exists())
}

/// Runs a command, panicking with its output if it fails.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `nft` with these arguments, inside namespace `ns`.
fn nft(ns: &str, args: &[&str]) {
    let mut all = vec!["netns", "exec", ns, "nft"];
    all.extend_from_slice(args);
    run("ip", &all);
}

/// `ip` with these arguments.
fn ip(args: &[&str]) {
    run("ip", args);
}

/// What a home router does to its client's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Masquerade keeping the source port where it can: endpoint-independent.
    EndpointIndependent,
    /// Masquerade with a random port per mapping: symmetric-style.
    Symmetric,
    /// Masquerade, and every UDP packet dropped (an office, a hotel).
    UdpBlocked,
}

/// The namespaces of one test's internet.
#[derive(Debug, Default)]
pub struct Internet {
    links: usize,
}

/// A client behind a home router.
#[derive(Debug, Clone)]
pub struct Client {
    /// Its namespace.
    pub ns: String,
    /// Its private address.
    pub ip: String,
    /// Its router's public address.
    pub public_ip: String,
}

impl Internet {
    /// The "internet": a namespace `inet` with a bridge every host and router
    /// plugs into.
    pub fn new() -> Internet {
        add_ns("inet");
        ip(&["-n", "inet", "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", "inet", "link", "set", "br0", "up"]);
        Internet { links: 0 }
    }

    /// A namespace `ns` on the internet with address `ip` (in 203.0.113.0/24)
    /// on its interface `wan`.
    pub fn public_host(&mut self, ns: &str, ip_addr: &str) {
        add_ns(ns);
        self.plug(ns, ip_addr);
    }

    /// A home: a router namespace `<name>-nat` on the internet at
    /// `public_ip` doing `nat`, and a client `<name>-pc` at 192.168.`n`.2
    /// behind it.
    pub fn home(&mut self, name: &str, public_ip: &str, n: u8, nat: Nat) -> Client {
        let router = format!("{name}-nat");
        let pc = format!("{name}-pc");
        add_ns(&router);
        add_ns(&pc);
        self.plug(&router, public_ip);
        let gateway = format!("192.168.{n}.1");
        let client_ip = format!("192.168.{n}.2");
        veth(&router, "lan", &pc, "eth0");
        address(&router, "lan", &gateway);
        address(&pc, "eth0", &client_ip);
        ip(&["-n", &pc, "route", "add", "default", "via", &gateway]);
        nat_router(&router);
        let masquerade = match nat {
            Nat::Symmetric => "masquerade fully-random",
            Nat::EndpointIndependent | Nat::UdpBlocked => "masquerade",
        };
        let rule = format!("oifname wan {masquerade}");
        nft(&router, &["add", "rule", "ip", "nat", "post", &rule]);
        if nat == Nat::UdpBlocked {
            nft(&router, &["add", "table", "inet", "filter"]);
            nft(
                &router,
                &[
                    "add",
                    "chain",
                    "inet",
                    "filter",
                    "no_udp",
                    "{ type filter hook forward priority 0; }",
                ],
            );
            nft(
                &router,
                &[
                    "add", "rule", "inet", "filter", "no_udp", "meta", "l4proto", "udp", "drop",
                ],
            );
        }
        Client {
            ns: pc,
            ip: client_ip,
            public_ip: public_ip.to_owned(),
        }
    }

    /// A cloud network behind a 1:1 NAT that does not hairpin: a router
    /// `<name>-nat` on the internet at `public_ip` forwarding everything to
    /// the server `<name>-srv` at 10.`n`.0.1 (and mapping its traffic back to
    /// `public_ip`), and a client `<name>-office` at 10.`n`.0.2 on the same
    /// LAN, for whom `public_ip` leads nowhere. Returns (server namespace,
    /// its LAN address, the office client).
    pub fn cloud(&mut self, name: &str, public_ip: &str, n: u8) -> (String, String, Client) {
        let router = format!("{name}-nat");
        let srv = format!("{name}-srv");
        let office = format!("{name}-office");
        for ns in [&router, &srv, &office] {
            add_ns(ns);
        }
        self.plug(&router, public_ip);
        ip(&["-n", &router, "link", "add", "br1", "type", "bridge"]);
        let gateway = format!("10.{n}.0.254");
        address(&router, "br1", &gateway);
        let server_ip = format!("10.{n}.0.1");
        let office_ip = format!("10.{n}.0.2");
        for (ns, addr, port) in [
            (&srv, &server_ip, "to-srv"),
            (&office, &office_ip, "to-office"),
        ] {
            veth(&router, port, ns, "eth0");
            ip(&["-n", &router, "link", "set", port, "master", "br1"]);
            ip(&["-n", &router, "link", "set", port, "up"]);
            address(ns, "eth0", addr);
            ip(&["-n", ns, "route", "add", "default", "via", &gateway]);
        }
        nat_router(&router);
        nft(
            &router,
            &[
                "add",
                "chain",
                "ip",
                "nat",
                "pre",
                "{ type nat hook prerouting priority -100; }",
            ],
        );
        // Only what arrives from the internet is forwarded: no hairpin.
        let dnat = format!("iifname wan dnat to {server_ip}");
        nft(&router, &["add", "rule", "ip", "nat", "pre", &dnat]);
        let snat = format!("oifname wan ip saddr {server_ip} snat to {public_ip}");
        nft(&router, &["add", "rule", "ip", "nat", "post", &snat]);
        nft(
            &router,
            &["add", "rule", "ip", "nat", "post", "oifname wan masquerade"],
        );
        (
            srv,
            server_ip,
            Client {
                ns: office,
                ip: office_ip,
                public_ip: public_ip.to_owned(),
            },
        )
    }

    /// Plugs `ns` into the bridge with `ip_addr`/24 on its interface `wan`.
    /// Gives public host `ns` a second address on the internet.
    pub fn also_at(&self, ns: &str, ip_addr: &str) {
        address(ns, "wan", ip_addr);
    }

    fn plug(&mut self, ns: &str, ip_addr: &str) {
        self.links += 1;
        let port = format!("port{}", self.links);
        veth(ns, "wan", "inet", &port);
        ip(&["-n", "inet", "link", "set", &port, "master", "br0"]);
        ip(&["-n", "inet", "link", "set", &port, "up"]);
        address(ns, "wan", ip_addr);
    }
}

/// A host firewall in `ns` (as most desktops have): nothing comes in that
/// the host did not start (ICMP aside).
pub fn stateful_firewall(ns: &str) {
    nft(ns, &["add", "table", "inet", "fw"]);
    nft(
        ns,
        &[
            "add",
            "chain",
            "inet",
            "fw",
            "in",
            "{ type filter hook input priority 0; policy drop; }",
        ],
    );
    nft(
        ns,
        &[
            "add",
            "rule",
            "inet",
            "fw",
            "in",
            "ct",
            "state",
            "established,related",
            "accept",
        ],
    );
    nft(
        ns,
        &["add", "rule", "inet", "fw", "in", "iif", "lo", "accept"],
    );
    nft(
        ns,
        &[
            "add", "rule", "inet", "fw", "in", "meta", "l4proto", "icmp", "accept",
        ],
    );
}

/// Filters what router `ns` forwards: `rules` (nft rule text, in order),
/// then everything else passes.
pub fn forward_rules(ns: &str, rules: &[&str]) {
    nft(ns, &["add", "table", "inet", "gate"]);
    nft(
        ns,
        &[
            "add",
            "chain",
            "inet",
            "gate",
            "through",
            "{ type filter hook forward priority 0; }",
        ],
    );
    for rule in rules {
        let mut args = vec!["add", "rule", "inet", "gate", "through"];
        args.extend(rule.split(' '));
        nft(ns, &args);
    }
}

/// `ip_addr`/24 on device `dev` of namespace `ns`, and the device up.
fn address(ns: &str, dev: &str, ip_addr: &str) {
    ip(&[
        "-n",
        ns,
        "addr",
        "add",
        &format!("{ip_addr}/24"),
        "dev",
        dev,
    ]);
    ip(&["-n", ns, "link", "set", dev, "up"]);
}

/// Makes namespace `ns` a router: forwarding on, and an `ip nat` table with
/// a `post` (postrouting) chain for its rules.
fn nat_router(ns: &str) {
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ],
    );
    nft(ns, &["add", "table", "ip", "nat"]);
    nft(
        ns,
        &[
            "add",
            "chain",
            "ip",
            "nat",
            "post",
            "{ type nat hook postrouting priority 100; }",
        ],
    );
}

/// A command run inside namespace `ns`.
pub fn exec(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("ip");
    command.args(["netns", "exec", ns]).arg(program);
    command
}

fn add_ns(ns: &str) {
    ip(&["netns", "add", ns]);
    ip(&["-n", ns, "link", "set", "lo", "up"]);
}

/// A veth pair: `a_dev` in namespace `a`, `b_dev` in `b`.
fn veth(a: &str, a_dev: &str, b: &str, b_dev: &str) {
    ip(&[
        "link", "add", "tmp-a", "type", "veth", "peer", "name", "tmp-b",
    ]);
    ip(&["link", "set", "tmp-a", "netns", a]);
    ip(&["link", "set", "tmp-b", "netns", b]);
    ip(&["-n", a, "link", "set", "tmp-a", "name", a_dev]);
    ip(&["-n", b, "link", "set", "tmp-b", "name", b_dev]);
}
