//! A raw WebSocket client speaking the signaling protocol by hand, for tests
//! that send what the SDK never would.

use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMessage, ServerMessage};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A connected raw client.
pub struct RawClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The nonce from the server's Challenge.
    pub nonce: String,
}

/// What came back from the server.
#[derive(Debug)]
pub enum Received {
    /// A protocol message.
    Message(ServerMessage),
    /// The server closed the connection.
    Closed,
}

impl RawClient {
    /// Connects and reads the Challenge.
    pub async fn connect(url: &str) -> RawClient {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("raw connect");
        let mut client = RawClient {
            ws,
            nonce: String::new(),
        };
        match client.recv().await {
            Received::Message(ServerMessage::Challenge { nonce, .. }) => client.nonce = nonce,
            other => panic!("expected Challenge, got {other:?}"),
        }
        client
    }

    /// Sends a text frame as is.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        let _ = self.ws.send(Message::text(text.into())).await;
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        let _ = self.ws.send(Message::binary(bytes)).await;
    }

    /// Sends a protocol message.
    pub async fn send(&mut self, msg: &ClientMessage) {
        self.send_text(msg.encode()).await;
    }

    /// Next protocol message or the close (10 s timeout).
    pub async fn recv(&mut self) -> Received {
        loop {
            let next = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("timed out waiting for the server");
            match next {
                Some(Ok(Message::Text(t))) => {
                    return Received::Message(
                        ServerMessage::decode(&t).expect("server sent valid JSON"),
                    )
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Received::Closed,
                Some(Ok(other)) => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Next protocol message; panics on close.
    pub async fn recv_msg(&mut self) -> ServerMessage {
        match self.recv().await {
            Received::Message(m) => m,
            Received::Closed => panic!("connection closed"),
        }
    }

    /// Reads until the connection closes, returning what came before.
    pub async fn recv_until_closed(&mut self) -> Vec<ServerMessage> {
        let mut out = Vec::new();
        while let Received::Message(m) = self.recv().await {
            out.push(m);
        }
        out
    }
}
