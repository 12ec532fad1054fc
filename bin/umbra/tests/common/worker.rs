//! Worker helpers for the integration tests: a real `umbra worker` process on a free loopback
//! port (killed on drop, logs kept on failure), a tiny blocking HTTP/1.1 client for its query
//! endpoint, and a look into `/proc` for the processes a test started.
//!
//! Each worker writes stdout and stderr to `<name>-N.log` in the directory of the node it talks
//! to (N counts its starts), so a failing test keeps both the node's and the workers' logs.

use std::{
    fs::File,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use super::{bin, decode_chunked, free_port, wait_for, TestNode};

/// How long a worker may take to serve `GET /info` after being started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a fresh worker may take to register and see its registration.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 to a worker's query endpoint
// ---------------------------------------------------------------------------------------------

/// Sends one HTTP/1.1 request to `127.0.0.1:port` and returns `(status, body)`.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request)?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| {
        std::io::Error::other(format!("no HTTP header end in {:?}", String::from_utf8_lossy(&raw)))
    })?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    let mut payload = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        payload = decode_chunked(&payload);
    }
    Ok((status, payload))
}

/// `GET /info` of the worker on `port`, parsed; `None` if it does not answer 200 with JSON.
pub fn try_info(port: u16) -> Option<Value> {
    match http_request(port, "GET", "/info", &[]) {
        Ok((200, body)) => serde_json::from_slice(&body).ok(),
        _ => None,
    }
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub fn port_accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_ok()
}

/// Two consecutive free loopback ports `(p, p + 1)` (for `umbra dev --query-port`).
pub fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let p = free_port();
        if p < u16::MAX
            && TcpListener::bind(("127.0.0.1", p + 1)).is_ok()
            && TcpListener::bind(("127.0.0.1", p)).is_ok()
        {
            return p;
        }
    }
    panic!("no two consecutive free loopback ports");
}

// ---------------------------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------------------------

/// Pids of the processes whose command line contains `needle` (Linux `/proc`), except this one.
pub fn pids_with_cmdline_containing(needle: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return found };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        // Zombies have an empty command line; only live processes count.
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push((pid, cmdline.trim().to_string()));
        }
    }
    found
}

/// Direct children of `parent` (Linux `/proc/PID/stat`), with their command lines.
pub fn children_of(parent: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return found };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid ...`; comm may contain spaces, so split after the last ')'.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let ppid = after.split_whitespace().nth(1).and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(parent) {
            let cmdline = std::fs::read(entry.path().join("cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_string())
                .unwrap_or_default();
            found.push((pid, cmdline));
        }
    }
    found
}

/// Prints the last `n` lines of `path` to stderr (for failing tests).
pub fn print_tail(path: &Path, n: usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(n)..].join("\n");
    eprintln!("=== {} (last {n} lines):\n{tail}", path.display());
}

// ---------------------------------------------------------------------------------------------
// A worker process
// ---------------------------------------------------------------------------------------------

/// A running `umbra worker --platform simulated`, killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct TestWorker {
    name: String,
    /// Directory of the logs (the node's temporary directory).
    log_dir: PathBuf,
    base_path: PathBuf,
    rpc: String,
    operator: String,
    child: Option<Child>,
    port: u16,
    starts: u32,
}

impl TestWorker {
    /// Starts a worker named `name` for `node`, operated by the secret URI `operator`, with its
    /// base path in the node's directory; returns once `GET /info` answers.
    pub fn start(node: &TestNode, name: &str, operator: &str) -> TestWorker {
        let mut w = TestWorker {
            name: name.to_string(),
            log_dir: node.dir().to_path_buf(),
            base_path: node.dir().join(format!("{name}-data")),
            rpc: format!("ws://127.0.0.1:{}", node.port()),
            operator: operator.to_string(),
            child: None,
            port: 0,
            starts: 0,
        };
        w.spawn_and_wait();
        w
    }

    pub fn base_path(&self) -> &Path {
        &self.base_path
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("worker is running").id()
    }

    /// How many times the process was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    pub fn log_path(&self, start: u32) -> PathBuf {
        self.log_dir.join(format!("{}-{start}.log", self.name))
    }

    /// Text of the log of the current (or last) run.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path(self.starts)).unwrap_or_default()
    }

    fn spawn_and_wait(&mut self) {
        assert!(self.child.is_none(), "worker already running");
        for _attempt in 0..5 {
            self.starts += 1;
            let port = free_port();
            let log = File::create(self.log_path(self.starts)).expect("create worker log");
            let mut cmd = Command::new(bin());
            cmd.arg("worker")
                .arg("--rpc")
                .arg(&self.rpc)
                .arg("--base-path")
                .arg(&self.base_path)
                .arg("--platform")
                .arg("simulated")
                .arg("--query-addr")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--operator")
                .arg(&self.operator)
                .env_remove("RUST_LOG")
                .env_remove("UMBRA_RPC")
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log"))
                .stderr(log);
            self.child = Some(cmd.spawn().expect("spawn umbra worker"));
            self.port = port;
            match self.wait_ready() {
                Ok(()) => return,
                Err(status) => {
                    self.child = None;
                    let log = self.log();
                    // Someone took the port between our probe and the worker's bind.
                    if log.contains("cannot listen on") {
                        continue;
                    }
                    panic!("worker {} exited during startup ({status}):\n{log}", self.name);
                }
            }
        }
        panic!(
            "could not start worker {} on a free port after 5 attempts:\n{}",
            self.name,
            self.log()
        );
    }

    fn wait_ready(&mut self) -> Result<(), ExitStatus> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().expect("child").try_wait().expect("try_wait")
            {
                return Err(status);
            }
            if try_info(self.port).is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                panic!(
                    "worker {} did not serve /info within {STARTUP_TIMEOUT:?}:\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().expect("try_wait").is_none(),
            None => false,
        }
    }

    /// `GET /info`, parsed (panics if the worker does not answer).
    pub fn info(&self) -> Value {
        let (status, body) = http_request(self.port, "GET", "/info", &[])
            .unwrap_or_else(|e| panic!("GET /info of {}: {e}\n{}", self.name, self.log()));
        assert_eq!(status, 200, "GET /info of {}: {}", self.name, String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("/info is JSON")
    }

    /// The identity (SS58) the worker reports.
    pub fn identity(&self) -> String {
        self.info()["identity"].as_str().expect("identity is a string").to_string()
    }

    /// The last block its enclave accepted, as `/info` reports it.
    pub fn synced(&self) -> u64 {
        self.info()["syncedNumber"].as_u64().expect("syncedNumber")
    }

    /// Waits until the chain's registry holds the worker and its enclave has seen that
    /// registration (`/info` says `registered: true`); returns the identity.
    pub fn wait_registered(&self, node: &TestNode) -> String {
        let identity = self.identity();
        wait_for(REGISTRATION_TIMEOUT, &format!("worker {} to register", self.name), || {
            let on_chain = !node.rpc("umbra_worker", json!([identity])).is_null();
            (on_chain && self.info()["registered"] == json!(true)).then_some(())
        });
        identity
    }

    /// SIGKILL (std's `Child::kill` on Unix) and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the worker again on the same base path (on a new port) and waits for `/info`.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn_and_wait();
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            for start in 1..=self.starts {
                print_tail(&self.log_path(start), 30);
            }
        }
    }
}
