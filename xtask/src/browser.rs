//! The browser side of `cargo xtask`: builds the `@lockstep/db` package,
//! serves `examples/browser/` from a small static HTTP/1.1 server (std
//! only), runs the Playwright suites of `tests/browser/` and the demo.
//!
//! Pages must come from `http://127.0.0.1:PORT` (a secure context): from
//! `file://` OPFS and Web Locks are missing.

use crate::setup;
use crate::{output, run_command};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Chromium from Debian (`apt-get install chromium`); the tests launch it by path.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The default port of `cargo xtask demo`: fixed, so that the demo's origin,
/// and with it its OPFS data, stays the same from one run to the next.
pub const DEMO_PORT: u16 = 8080;

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// `examples/browser/`: the demo, and the pages the browser tests open.
pub fn site_root() -> PathBuf {
    workspace_root().join("examples").join("browser")
}

fn tests_dir() -> PathBuf {
    workspace_root().join("tests").join("browser")
}

/// Cargo's target directory, as `cargo metadata` reports it (it honours
/// `CARGO_TARGET_DIR` and `build.target-dir`).
pub(crate) fn target_dir() -> Result<PathBuf, String> {
    let metadata = output(
        "cargo",
        &[
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ],
    )?;
    let field = "\"target_directory\":\"";
    let start = metadata
        .find(field)
        .ok_or("`cargo metadata` reported no target_directory")?
        + field.len();
    let end = metadata[start..]
        .find('"')
        .ok_or("`cargo metadata` output is cut short")?;
    Ok(PathBuf::from(
        metadata[start..start + end].replace("\\\\", "\\"),
    ))
}

/// Builds `@lockstep/db` (see [`crate::package`]) and stages it into
/// `examples/browser/pkg/` for the pages served as they are.
pub fn build_browser_package() -> Result<(), String> {
    crate::package::build()?;
    crate::package::stage_into(&site_root())
}

/// Everything the browser suites need, then `node --test tests/browser/`
/// against the static server, started in-process on a free port.
pub fn run_browser_tests() -> Result<(), String> {
    setup::ensure_chromium()?;
    setup::ensure_wasm_bindgen_cli()?;
    run_wasm_bindgen_tests()?;
    build_browser_package()?;
    setup::ensure_npm_packages(&tests_dir())?;
    let server = StaticServer::start(site_root(), 0)?;
    let url = server.url();
    eprintln!("serving {} at {url}", site_root().display());
    run_command(
        Command::new("node")
            .args(["--test", "--test-concurrency=1"])
            .arg(tests_dir())
            .env("LOCKSTEP_URL", &url)
            .current_dir(workspace_root()),
    )
    .map_err(|e| format!("{e}\nthe browser suites failed; rerun one with `cargo xtask serve` and `LOCKSTEP_URL=http://127.0.0.1:PORT/ node --test tests/browser/NAME.test.mjs`"))
}

/// The wasm-bindgen-test suites of `lockstep-browser`, in a real page and a
/// real dedicated worker of headless Chromium (flags in its `webdriver.json`).
fn run_wasm_bindgen_tests() -> Result<(), String> {
    let runner = workspace_root()
        .join(".tools")
        .join("bin")
        .join("wasm-bindgen-test-runner");
    run_command(
        Command::new("cargo")
            .args([
                "test",
                "-p",
                "lockstep-browser",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", runner)
            .env("CHROMEDRIVER", "/usr/bin/chromedriver")
            .env("WASM_BINDGEN_TEST_TIMEOUT", "120")
            .current_dir(workspace_root()),
    )
}

/// `cargo xtask demo`: builds the package and serves the demo until Ctrl-C.
pub fn demo_browser(port: u16) -> Result<(), String> {
    setup::ensure_wasm_target()?;
    setup::ensure_clang()?;
    setup::ensure_wasm_bindgen_cli()?;
    build_browser_package()?;
    let server = StaticServer::start(site_root(), port)?;
    println!("Lockstep demo: {}", server.url());
    println!("open it in several tabs; Ctrl-C stops the server");
    server.wait();
    Ok(())
}

/// `cargo xtask demo --headless`: the demo in three headless Chromium tabs,
/// with the leader tab closed midway (`tests/browser/demo-headless.mjs`).
pub fn demo_headless() -> Result<(), String> {
    setup::ensure_wasm_target()?;
    setup::ensure_clang()?;
    setup::ensure_chromium()?;
    setup::ensure_wasm_bindgen_cli()?;
    build_browser_package()?;
    setup::ensure_npm_packages(&tests_dir())?;
    let server = StaticServer::start(site_root(), 0)?;
    run_command(
        Command::new("node")
            .arg(tests_dir().join("demo-headless.mjs"))
            .arg(server.url())
            .current_dir(workspace_root()),
    )
}

/// `cargo xtask serve [--port N] [DIR]`: serves a directory (by default
/// `examples/browser/`) as it is, without building; for running one browser
/// test file by hand.
pub fn serve_command(args: &[String]) -> Result<(), String> {
    let port = port_arg(args, DEMO_PORT)?;
    let mut root = site_root();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--port" {
            rest.next();
        } else if arg.starts_with("--") {
            return Err(format!(
                "cargo xtask serve [--port N] [DIR]: unknown flag {arg}"
            ));
        } else {
            root = PathBuf::from(arg);
        }
    }
    let server = StaticServer::start(root.clone(), port)?;
    println!("serving {} at {}", root.display(), server.url());
    server.wait();
    Ok(())
}

/// The value of `--port N` (or `--port=N`) among `args`, else `default`.
pub fn port_arg(args: &[String], default: u16) -> Result<u16, String> {
    let mut value = None;
    for (i, arg) in args.iter().enumerate() {
        if arg == "--port" {
            value = Some(args.get(i + 1).map(String::as_str).unwrap_or(""));
        } else if let Some(v) = arg.strip_prefix("--port=") {
            value = Some(v);
        }
    }
    match value {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            format!("--port takes a number from 0 to 65535 (0 picks a free port), not `{v}`")
        }),
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
    /// Serves `root` on `127.0.0.1:port`; port 0 picks a free one.
    pub fn start(root: PathBuf, port: u16) -> Result<StaticServer, String> {
        let root = root
            .canonicalize()
            .map_err(|e| format!("cannot serve {}: {e}", root.display()))?;
        let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            format!("cannot listen on 127.0.0.1:{port}: {e}; pass another `--port N` (0 picks a free one)")
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the server's address: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let root = Arc::new(root);
        let accept = thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let root = root.clone();
                thread::spawn(move || {
                    let _ = handle_connection(stream, &root);
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

fn handle_connection(stream: TcpStream, root: &Path) -> std::io::Result<()> {
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
            b"only GET and HEAD\n",
            method == "HEAD",
        );
    }
    match resolve(root, target).and_then(|file| Some((std::fs::read(&file).ok()?, file))) {
        Some((body, file)) => respond(
            &mut stream,
            "200 OK",
            mime_type(&file),
            &body,
            method == "HEAD",
        ),
        None => respond(
            &mut stream,
            "404 Not Found",
            "text/plain; charset=utf-8",
            b"not found\n",
            method == "HEAD",
        ),
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let header = format!(
        "HTTP/1.1 {status}\r\n\
         Content-Type: {content_type}\r\n\
         Content-Length: {}\r\n\
         Cache-Control: no-store\r\n\
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
        let server = StaticServer::start(dir.clone(), 0).unwrap();

        let index = get(&server, "/?app=x&scope=y");
        assert!(index.starts_with("HTTP/1.1 200 OK\r\n"), "{index}");
        assert!(index.contains("Content-Type: text/html"));
        assert!(index.contains("Cache-Control: no-store"));
        assert!(index.contains("Cross-Origin-Opener-Policy: same-origin"));
        assert!(index.contains("Cross-Origin-Embedder-Policy: require-corp"));
        assert!(index.ends_with("<p>hi</p>"));
        assert!(get(&server, "/pkg/a.wasm").contains("Content-Type: application/wasm"));
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
}
