//! A minimal HTTP/1.1 client over one persistent loopback connection (hyper, no TLS).

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{header, Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One keep-alive connection.
#[derive(Debug)]
pub struct Conn {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

/// Refuses any address that is not 127.0.0.1.
pub fn check_loopback(addr: &SocketAddr) -> Result<(), String> {
    if addr.ip() == std::net::IpAddr::from([127, 0, 0, 1]) {
        Ok(())
    } else {
        Err(format!(
            "refusing to talk to {addr}: only 127.0.0.1 is allowed"
        ))
    }
}

impl Conn {
    /// Connects (loopback only).
    pub async fn connect(addr: SocketAddr) -> Result<Conn, String> {
        check_loopback(&addr)?;
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { addr, sender })
    }

    /// Sends one request and reads the whole answer.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
        bearer: Option<&str>,
    ) -> Result<(u16, Bytes), String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.addr.to_string())
            .header(header::CONTENT_TYPE, "application/cbor");
        if let Some(token) = bearer {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = builder.body(Full::new(body)).map_err(|e| e.to_string())?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    }

    /// POST.
    pub async fn post(
        &mut self,
        path: &str,
        body: Bytes,
        bearer: Option<&str>,
    ) -> Result<(u16, Bytes), String> {
        self.request(Method::POST, path, body, bearer).await
    }

    /// GET.
    pub async fn get(&mut self, path: &str) -> Result<(u16, Bytes), String> {
        self.request(Method::GET, path, Bytes::new(), None).await
    }
}
