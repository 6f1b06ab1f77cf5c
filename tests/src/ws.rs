//! A real WebSocket client (tokio-tungstenite), with every wait bounded.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for any one frame.
pub const FRAME_WAIT: Duration = Duration::from_secs(10);

pub struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What arrived next on a socket.
#[derive(Debug)]
pub enum Next {
    Text(String),
    Binary(Vec<u8>),
    Close(Option<CloseFrame>),
    /// The socket ended without a close frame.
    Ended,
    /// Nothing arrived in time.
    Silent,
}

/// The handshake request for `url` with `headers` added.
fn request(
    url: &str,
    headers: &[(&str, &str)],
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().expect("a WebSocket URL");
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            http::HeaderValue::from_str(value).expect("a header value"),
        );
    }
    request
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (socket, _) = tokio::time::timeout(FRAME_WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        Client { socket }
    }

    /// Connects with extra handshake headers (`Origin`, say).
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Client {
        let (socket, _) = tokio::time::timeout(
            FRAME_WAIT,
            tokio_tungstenite::connect_async(request(url, headers)),
        )
        .await
        .expect("connect in time")
        .expect("connect");
        Client { socket }
    }

    /// Connects expecting the handshake to be refused: the HTTP status and body.
    pub async fn refused(url: &str) -> (u16, String) {
        Client::refused_with(url, &[]).await
    }

    /// [`Client::refused`] with extra handshake headers.
    pub async fn refused_with(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let attempt = tokio::time::timeout(
            FRAME_WAIT,
            tokio_tungstenite::connect_async(request(url, headers)),
        )
        .await
        .expect("an answer in time");
        match attempt {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                (response.status().as_u16(), body)
            }
            Err(other) => panic!("expected an HTTP refusal, got {other}"),
            Ok(_) => panic!("expected the handshake to be refused; it succeeded"),
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::text(text))
            .await
            .expect("send a text frame");
    }

    pub async fn send_binary(&mut self, data: &[u8]) {
        self.socket
            .send(Message::binary(data.to_vec()))
            .await
            .expect("send a binary frame");
    }

    /// The next frame other than ping/pong, waiting at most `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return Next::Silent,
                Ok(None) | Ok(Some(Err(_))) => return Next::Ended,
                Ok(Some(Ok(Message::Text(t)))) => return Next::Text(t.as_str().to_owned()),
                Ok(Some(Ok(Message::Binary(b)))) => return Next::Binary(b.to_vec()),
                Ok(Some(Ok(Message::Close(frame)))) => return Next::Close(frame),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next text frame; panics on anything else.
    pub async fn recv_text(&mut self) -> String {
        match self.next_within(FRAME_WAIT).await {
            Next::Text(t) => t,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    pub async fn recv_json(&mut self) -> serde_json::Value {
        let text = self.recv_text().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// Closes with a close frame and waits for the server's reply.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
        let _ = tokio::time::timeout(FRAME_WAIT, async {
            while self.socket.next().await.is_some() {}
        })
        .await;
    }

    /// Vanishes without a close frame: the TCP connection is dropped.
    pub fn drop_abruptly(self) {
        drop(self.socket);
    }
}
