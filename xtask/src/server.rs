//! A small static HTTP/1.1 server on `127.0.0.1` (std only) for the pages
//! the demo and the browser tests open. Several directories can be mounted
//! under URL prefixes of one origin, so that pages of different apps (the
//! React example, the vanilla page, the Leptos app) share one origin, and
//! with it OPFS, Web Locks and BroadcastChannel.
//!
//! Pages must come from `http://127.0.0.1:PORT` (a secure context): from
//! `file://` OPFS and Web Locks are missing.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A directory served under a URL prefix (`/`, `/vanilla/`, …).
#[derive(Clone, Debug)]
pub struct Mount {
    /// The URL prefix, starting and ending with `/`.
    pub prefix: String,
    /// The directory.
    pub dir: PathBuf,
}

impl Mount {
    /// `dir` served under `prefix`.
    pub fn new(prefix: &str, dir: PathBuf) -> Mount {
        let prefix = format!("/{}/", prefix.trim_matches('/')).replace("//", "/");
        Mount { prefix, dir }
    }
}

/// A static file server on `127.0.0.1`, one thread per connection, one
/// request per connection. Stops when dropped.
pub struct StaticServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl StaticServer {
    /// Serves every mount on `127.0.0.1:port` (the longest matching prefix
    /// wins); port 0 picks a free one.
    pub fn start_mounts(mounts: Vec<Mount>, port: u16) -> Result<StaticServer, String> {
        let mut mounts = mounts
            .into_iter()
            .map(|m| {
                let dir = m
                    .dir
                    .canonicalize()
                    .map_err(|e| format!("cannot serve {}: {e}", m.dir.display()))?;
                Ok(Mount { dir, ..m })
            })
            .collect::<Result<Vec<_>, String>>()?;
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            format!("cannot listen on 127.0.0.1:{port}: {e}; pass another `--port N` (0 picks a free one)")
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the server's address: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let mounts = Arc::new(mounts);
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let mounts = mounts.clone();
                thread::spawn(move || {
                    let _ = handle_connection(stream, &mounts);
                });
            }
        });
        Ok(StaticServer {
            addr,
            stop,
            accept: Some(accept),
        })
    }

    /// `http://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Serves until the process is stopped.
    pub fn wait(mut self) {
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// The Content-Type of a file, by extension.
fn mime_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "ts" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file a request target names under `root`, or `None` when it does not
/// name one there (`..`, backslashes, NUL, a path that leaves `root`).
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let path = percent_decode(path)?;
    if !path.starts_with('/') || path.contains("..") || path.contains('\\') || path.contains('\0') {
        return None;
    }
    let mut file = root.to_path_buf();
    for segment in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
        file.push(segment);
    }
    if file.is_dir() {
        file.push("index.html");
    }
    // Symlinks must not lead out of the root either.
    let file = file.canonicalize().ok()?;
    (file.starts_with(root) && file.is_file()).then_some(file)
}

/// The file a request target names under the mount whose prefix it starts with.
fn resolve_mounted(mounts: &[Mount], target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let mount = mounts.iter().find(|m| path.starts_with(&m.prefix))?;
    let rest = path.get(mount.prefix.len() - 1..).unwrap_or("/");
    let query = &target[path.len()..];
    resolve(&mount.dir, &format!("{rest}{query}"))
}

fn handle_connection(stream: TcpStream, mounts: &[Mount]) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers; nothing in them changes the answer.
    let mut header_bytes = 0;
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        header_bytes += n;
        if n == 0 || line == "\r\n" || line == "\n" || header_bytes > 64 * 1024 {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut stream = stream;
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            NO_STORE,
            b"only GET and HEAD\n",
            method == "HEAD",
        );
    }
    match resolve_mounted(mounts, target).and_then(|file| Some((std::fs::read(&file).ok()?, file)))
    {
        Some((body, file)) => respond(
            &mut stream,
            "200 OK",
            mime_type(&file),
            cache_control(&file),
            &body,
            method == "HEAD",
        ),
        None => respond(
            &mut stream,
            "404 Not Found",
            "text/plain; charset=utf-8",
            NO_STORE,
            b"not found\n",
            method == "HEAD",
        ),
    }
}

const NO_STORE: &str = "no-store";

/// Files in a Vite `assets/` directory carry a content hash in their name,
/// so they are served as a production host serves them: immutable (which
/// also lets Chromium reuse its compiled code of a `.wasm` in the next tab).
/// Everything else is fetched afresh, so a rebuild shows at once.
fn cache_control(file: &Path) -> &'static str {
    let in_assets = file
        .parent()
        .and_then(|dir| dir.file_name())
        .is_some_and(|name| name == "assets");
    if in_assets {
        "public, max-age=31536000, immutable"
    } else {
        NO_STORE
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    cache_control: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let header = format!(
        "HTTP/1.1 {status}\r\n\
         Content-Type: {content_type}\r\n\
         Content-Length: {}\r\n\
         Cache-Control: {cache_control}\r\n\
         Cross-Origin-Opener-Policy: same-origin\r\n\
         Cross-Origin-Embedder-Policy: require-corp\r\n\
         Cross-Origin-Resource-Policy: same-origin\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    if !head_only {
        stream.write_all(body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn get(server: &StaticServer, target: &str) -> String {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        write!(stream, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn serves_files_with_types_and_headers_and_refuses_traversal() {
        let dir = std::env::temp_dir().join(format!("xtask-serve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        std::fs::write(dir.join("index.html"), "<p>hi</p>").unwrap();
        std::fs::write(dir.join("pkg/a.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.join("pkg/a b.js"), "export {}").unwrap();
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("assets/app-1a2b3c.js"), "export {}").unwrap();
        let server = StaticServer::start_mounts(vec![Mount::new("/", dir.clone())], 0).unwrap();

        let index = get(&server, "/?app=x&scope=y");
        assert!(index.starts_with("HTTP/1.1 200 OK\r\n"), "{index}");
        assert!(index.contains("Content-Type: text/html"));
        assert!(index.contains("Cache-Control: no-store"));
        assert!(index.contains("Cross-Origin-Opener-Policy: same-origin"));
        assert!(index.contains("Cross-Origin-Embedder-Policy: require-corp"));
        assert!(index.ends_with("<p>hi</p>"));
        assert!(get(&server, "/pkg/a.wasm").contains("Content-Type: application/wasm"));
        assert!(get(&server, "/pkg/a.wasm").contains("Cache-Control: no-store"));
        let hashed = get(&server, "/assets/app-1a2b3c.js");
        assert!(
            hashed.contains("Cache-Control: public, max-age=31536000, immutable"),
            "{hashed}"
        );
        assert!(get(&server, "/pkg/a%20b.js").contains("Content-Type: text/javascript"));
        for bad in [
            "/missing.js",
            "/../Cargo.toml",
            "/pkg/%2e%2e/index.html",
            "/pkg/..%2f..%2fetc/passwd",
            "pkg/a.wasm",
        ] {
            assert!(get(&server, bad).starts_with("HTTP/1.1 404"), "{bad}");
        }
        drop(server);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn mounts_share_one_origin_and_the_longest_prefix_wins() {
        let base = std::env::temp_dir().join(format!("xtask-mounts-{}", std::process::id()));
        let (a, b) = (base.join("a"), base.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("index.html"), "root app").unwrap();
        std::fs::write(b.join("index.html"), "vanilla page").unwrap();
        let server =
            StaticServer::start_mounts(vec![Mount::new("/", a), Mount::new("/vanilla/", b)], 0)
                .unwrap();
        assert!(get(&server, "/?scope=x").ends_with("root app"));
        assert!(get(&server, "/vanilla/?scope=x").ends_with("vanilla page"));
        assert!(
            get(&server, "/vanilla").starts_with("HTTP/1.1 404"),
            "prefixes end with /"
        );
        assert!(get(&server, "/vanilla/../index.html").starts_with("HTTP/1.1 404"));
        drop(server);
        std::fs::remove_dir_all(base).unwrap();
    }
}
