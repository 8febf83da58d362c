//! A TURN server on 127.0.0.1 for trying clients by hand:
//! `cargo run -p turn-server --example serve_loopback -- SECRET PORT`.
//! Loopback peers are allowed; relays on 127.0.0.1.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let secret = args
        .next()
        .unwrap_or_else(|| "loopback-example-secret".into());
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(3478);
    let config = confer_turn::Config {
        listen_udp: ([127, 0, 0, 1], port).into(),
        listen_tcp: Some(([127, 0, 0, 1], port).into()),
        allowed_peer_networks: vec!["127.0.0.0/8".parse()?],
        ..confer_turn::Config::new(secret, "confer", "127.0.0.1".parse()?)
    };
    let turn = confer_turn::TurnServer::start(config, None).await?;
    println!("TURN on udp {} tcp {:?}", turn.udp_addr(), turn.tcp_addr());
    tokio::signal::ctrl_c().await?;
    println!("{:?}", turn.stats());
    turn.shutdown().await;
    Ok(())
}
