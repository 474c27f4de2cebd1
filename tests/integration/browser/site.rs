//! A tiny HTTP server of fixed pages on its own port: another origin than the dashboard's,
//! for pages the dashboard must never serve (a deliberately broken page that proves the
//! console detector works, a forged form posting to the dashboard from elsewhere).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One fixed response.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn html(body: &str) -> Reply {
        Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html; charset=utf-8".into())],
            body: body.to_owned(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// An empty 204, e.g. for `/favicon.ico`, which Chromium asks every origin for.
    pub fn empty() -> Reply {
        Reply {
            status: 204,
            headers: Vec::new(),
            body: String::new(),
        }
    }
}

/// Serves `pages` by path (anything else is a 404) until dropped.
pub struct Site {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Site {
    pub async fn start(pages: Vec<(&str, Reply)>) -> Site {
        let pages: Arc<HashMap<String, Reply>> = Arc::new(
            pages
                .into_iter()
                .map(|(path, reply)| (path.to_owned(), reply))
                .collect(),
        );
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let pages = Arc::clone(&pages);
                tokio::spawn(async move {
                    // Only the request line matters: GETs of fixed pages, read until the
                    // end of the headers.
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&request);
                    let path = head.split_whitespace().nth(1).unwrap_or("/");
                    let path = path.split('?').next().unwrap_or(path);
                    let reply = pages.get(path).cloned().unwrap_or(Reply {
                        status: 404,
                        headers: vec![("Content-Type".into(), "text/plain".into())],
                        body: "not found".into(),
                    });
                    let mut response = format!(
                        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    for (name, value) in &reply.headers {
                        response.push_str(&format!("{name}: {value}\r\n"));
                    }
                    response.push_str("\r\n");
                    response.push_str(&reply.body);
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Site { base, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}
