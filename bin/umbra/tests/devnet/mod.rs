//! A real `umbra dev` process for the tests of the local network and its dashboard: free ports,
//! a temporary base path, stdin kept open (for `restart N`), stdout and stderr in a log file.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::common::{bin, free_port, http_rpc, wait_for};

/// Block time of the test networks.
pub const BLOCK_TIME_MS: u64 = 250;

/// A running `umbra dev`; SIGKILLed on drop (its children get SIGTERM from the kernel).
pub struct DevNet {
    pub child: Option<Child>,
    pub stdin: Option<ChildStdin>,
    pub base: PathBuf,
    pub log: PathBuf,
    pub rpc_port: u16,
    pub query_port: u16,
    pub dashboard_port: u16,
    pub workers: usize,
    /// More arguments of `umbra dev` (free ports for the analytics collector and validators).
    pub extra: Vec<String>,
}

/// `count` consecutive free ports (checked one by one; another process may still race us).
fn free_ports(count: usize) -> u16 {
    loop {
        let first = free_port();
        if first > u16::MAX - count as u16 {
            continue;
        }
        let all_free = (0..count as u16)
            .all(|i| std::net::TcpListener::bind(("127.0.0.1", first + i)).is_ok());
        if all_free {
            return first;
        }
    }
}

impl DevNet {
    /// Starts `umbra dev --workers N` on fresh free ports in `base`.
    pub fn start(base: &Path, workers: usize) -> DevNet {
        Self::start_with(base, workers, None)
    }

    /// `umbra dev --validators N`: the chain run by `validators` BFT validator processes (their
    /// RPC ports follow `rpc_port`; validator 0 is the node the workers use).
    pub fn start_bft(base: &Path, workers: usize, validators: usize) -> DevNet {
        Self::start_with(base, workers, Some(validators))
    }

    fn start_with(base: &Path, workers: usize, validators: Option<usize>) -> DevNet {
        let mut extra = vec!["--analytics-port".to_string(), free_port().to_string()];
        if let Some(n) = validators {
            extra.extend([
                "--validators".to_string(),
                n.to_string(),
                "--p2p-port".to_string(),
                free_ports(n).to_string(),
            ]);
        }
        let mut net = DevNet {
            child: None,
            stdin: None,
            base: base.to_path_buf(),
            log: base.with_extension("log"),
            rpc_port: free_ports(validators.unwrap_or(1)),
            query_port: free_ports(workers),
            dashboard_port: free_port(),
            workers,
            extra,
        };
        net.spawn();
        net
    }

    /// Starts `umbra dev` again on the same base path and ports (after it stopped).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open dev log");
        let mut child = Command::new(bin())
            .args(["dev", "--workers", &self.workers.to_string(), "--base-path"])
            .arg(&self.base)
            .args(["--rpc-port", &self.rpc_port.to_string()])
            .args(["--query-port", &self.query_port.to_string()])
            .args(["--dashboard-port", &self.dashboard_port.to_string()])
            .args(["--block-time-ms", &BLOCK_TIME_MS.to_string()])
            .args(&self.extra)
            .env_remove("RUST_LOG")
            .env_remove("UMBRA_RPC")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(file.try_clone().expect("clone"))
            .stderr(file)
            .spawn()
            .expect("spawn umbra dev");
        self.stdin = child.stdin.take();
        self.child = Some(child);
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn dashboard_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.dashboard_port)
    }

    /// Panics (with the log) if `umbra dev` exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().expect("started").try_wait().expect("try_wait") {
            panic!("umbra dev exited ({status}):\n{}", self.log());
        }
    }

    /// Waits until `umbra dev` exits, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("started");
        let status = wait_for(timeout, "umbra dev to exit", || child.try_wait().expect("try_wait"));
        self.child = None;
        self.stdin = None;
        status
    }

    /// Sends SIGTERM (as Ctrl-C would) and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        assert_eq!(unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGTERM) }, 0);
        self.wait_exit(Duration::from_secs(30))
    }

    /// Types a line on `umbra dev`'s stdin.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write to umbra dev's stdin");
        stdin.flush().expect("flush");
    }

    /// JSON-RPC to the node.
    pub fn rpc(&self, method: &str, params: Value) -> Option<Value> {
        let resp = http_rpc(self.rpc_port, method, params).ok()?;
        resp.get("result").cloned()
    }

    pub fn head(&self) -> Option<u64> {
        self.rpc("chain_getHeader", serde_json::json!([]))?["number"].as_u64()
    }

    /// `GET /api/procs` of the dashboard.
    pub fn procs(&self) -> Option<Value> {
        let (status, body) = http(self.dashboard_port, "GET", "/api/procs", None, "").ok()?;
        (status == 200).then(|| serde_json::from_str(&body).ok()).flatten()
    }

    /// The process entry of worker `index`.
    pub fn worker_proc(&self, index: usize) -> Option<Value> {
        self.procs()?
            .as_array()?
            .iter()
            .find(|p| p["index"].as_u64() == Some(index as u64))
            .cloned()
    }

    /// Waits until every worker is registered and computing, and returns their identities.
    pub fn wait_all_computing(&mut self, timeout: Duration) -> Vec<String> {
        wait_for(timeout, "every dev worker to compute", || {
            self.assert_running();
            let comp = self.rpc("umbra_computation", serde_json::json!([]))?;
            if comp["computing"].as_u64()? != self.workers as u64 {
                return None;
            }
            let list = self.rpc("umbra_workers", serde_json::json!([]))?;
            Some(
                list.as_array()?
                    .iter()
                    .filter_map(|w| w["identity"].as_str().map(str::to_string))
                    .collect(),
            )
        })
    }

    /// A worker's session state on chain (`Computing`, `Unresponsive`, ...).
    pub fn session_state(&self, identity: &str) -> Option<String> {
        let s = self.rpc("umbra_workerSession", serde_json::json!([identity]))?;
        s["state"].as_str().map(str::to_string)
    }

    /// The identity a worker's query endpoint reports (`GET /info`).
    pub fn worker_identity(&self, index: usize) -> Option<String> {
        let (status, body) = http(self.query_port + index as u16, "GET", "/info", None, "").ok()?;
        if status != 200 {
            return None;
        }
        let v: Value = serde_json::from_str(&body).ok()?;
        v["identity"].as_str().map(str::to_string)
    }

    /// SIGKILLs worker `index` (its pid from `/api/procs`) and returns the pid.
    pub fn kill_worker(&self, index: usize) -> u32 {
        let pid = self
            .worker_proc(index)
            .and_then(|p| p["pid"].as_u64())
            .unwrap_or_else(|| panic!("no pid for worker {index} in /api/procs"))
            as u32;
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0, "SIGKILL {pid}");
        pid
    }
}

impl Drop for DevNet {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            print_tail(&self.log, 60);
            for i in 0..=self.workers {
                let name = if i == 0 { "node".to_string() } else { format!("worker-{}", i - 1) };
                print_tail(&self.base.join("logs").join(format!("{name}.log")), 15);
            }
        }
    }
}

pub fn print_tail(path: &Path, lines: usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    eprintln!("---- {} (last {lines} lines) ----", path.display());
    for l in &all[all.len().saturating_sub(lines)..] {
        eprintln!("{l}");
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port`: `(status, body)`.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let ct = content_type.map(|c| format!("Content-Type: {c}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{ct}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP header end in {text:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    Ok((status, body.to_string()))
}

/// The path of a test artifact under the workspace's `target/`.
pub fn artifact(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    std::fs::create_dir_all(&target).expect("create target dir");
    target.join(name)
}
