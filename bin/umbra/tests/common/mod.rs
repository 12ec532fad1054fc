//! Shared helpers for the integration tests: a real `umbra node` process on a free loopback port
//! in its own temporary directory, a tiny blocking JSON-RPC client over HTTP/1.1, and a runner
//! for the `umbra` client commands.
//!
//! Every node writes its stdout and stderr to `node-N.log` in its temporary directory. When a
//! test fails, the directory is kept and the end of each log is printed.
//!
//! [`worker`] adds `umbra worker` processes that talk to such a node.

#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod worker;

use std::{
    collections::hash_map::RandomState,
    fs::File,
    hash::{BuildHasher, Hasher},
    io::{Read, Seek, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use tempfile::TempDir;
use umbra_primitives::{Balance, Pair, UNITS};

/// Block time of every test node.
pub const BLOCK_TIME_MS: u64 = 250;
/// Dev accounts.
pub const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
pub const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
/// Genesis balance of each dev account.
pub const DEV_BALANCE: Balance = 1_000_000 * UNITS;

/// How long a node may take to answer RPC after being started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The `umbra` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_umbra")
}

/// A key pair from a secret URI.
pub fn pair(uri: &str) -> Pair {
    Pair::from_suri(uri).expect("valid secret URI")
}

/// A free loopback port: bind port 0, read the port, release it.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local addr")
        .port()
}

/// A random number (no extra dependency: std's randomly keyed hasher).
pub fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `timeout` with `what`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC over plain HTTP/1.1
// ---------------------------------------------------------------------------------------------

fn decode_chunked(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else { return out };
        let size_text = String::from_utf8_lossy(&body[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&body[start..(start + size).min(body.len())]);
        body = &body[(start + size + 2).min(body.len())..];
    }
}

/// Sends one JSON-RPC request by HTTP POST and returns the whole response object
/// (`{"jsonrpc", "id", "result" | "error"}`).
pub fn http_rpc(port: u16, method: &str, params: Value) -> std::io::Result<Value> {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| {
        std::io::Error::other(format!("no HTTP header end in {:?}", String::from_utf8_lossy(&raw)))
    })?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut payload = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        payload = decode_chunked(&payload);
    }
    if !head.starts_with("http/1.1 200") {
        return Err(std::io::Error::other(format!(
            "HTTP error: {} {}",
            head.lines().next().unwrap_or(""),
            String::from_utf8_lossy(&payload)
        )));
    }
    serde_json::from_slice(&payload).map_err(|e| {
        std::io::Error::other(format!(
            "response is not JSON ({e}): {}",
            String::from_utf8_lossy(&payload)
        ))
    })
}

/// The JSON-RPC error of a response: `(code, message)`, or a panic if it succeeded.
pub fn rpc_error(response: &Value) -> (i64, String) {
    let err = response
        .get("error")
        .unwrap_or_else(|| panic!("expected a JSON-RPC error, got {response}"));
    (
        err["code"].as_i64().expect("error code"),
        err["message"].as_str().expect("error message").to_string(),
    )
}

// ---------------------------------------------------------------------------------------------
// Running the `umbra` binary
// ---------------------------------------------------------------------------------------------

/// What a finished command printed.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert!(
            self.status.success(),
            "command failed ({}):\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Asserts failure with a single-line `error: ...` on stderr, and returns that line.
    pub fn one_line_error(&self) -> &str {
        assert!(
            !self.status.success(),
            "command should have failed:\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert_ne!(self.status.code(), Some(0));
        assert!(self.status.code().is_some(), "command was killed by a signal: {}", self.status);
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "expected exactly one line on stderr, got:\n{}", self.stderr);
        assert!(
            lines[0].starts_with("error: "),
            "stderr line should start with `error: `: {}",
            lines[0]
        );
        lines[0]
    }

    /// The value of a `key: value` line of stdout.
    pub fn field(&self, key: &str) -> Option<String> {
        self.stdout.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    }
}

/// Runs `cmd` to completion with a timeout, capturing stdout and stderr (through files, so a
/// chatty process can never block on a full pipe).
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Run {
    let mut out = tempfile::tempfile().expect("temp file");
    let mut err = tempfile::tempfile().expect("temp file");
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().expect("clone"))
        .stderr(err.try_clone().expect("clone"))
        .env_remove("UMBRA_RPC")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    let mut child = cmd.spawn().expect("spawn umbra");
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let mut so = String::new();
            let mut se = String::new();
            let _ = out.rewind().and_then(|_| out.read_to_string(&mut so));
            let _ = err.rewind().and_then(|_| err.read_to_string(&mut se));
            panic!("command {cmd:?} still running after {timeout:?}\nstdout: {so}\nstderr: {se}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    out.rewind().and_then(|_| out.read_to_string(&mut stdout).map(|_| ())).expect("read stdout");
    err.rewind().and_then(|_| err.read_to_string(&mut stderr).map(|_| ())).expect("read stderr");
    Run { status, stdout, stderr }
}

/// Runs `umbra ARGS` (no node involved).
pub fn umbra(args: &[&str]) -> Run {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    run_with_timeout(cmd, Duration::from_secs(60))
}

// ---------------------------------------------------------------------------------------------
// A node process
// ---------------------------------------------------------------------------------------------

/// Which chain a node runs.
#[derive(Debug, Clone)]
pub enum Chain {
    /// `--dev`
    Dev,
    /// `--chain FILE --authority URI`
    Spec { file: PathBuf, authority: String },
}

/// Balances and nonce, as `umbra_account` returns them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub free: Balance,
    pub reserved: Balance,
    pub nonce: u64,
}

/// A running `umbra node`, killed on drop.
#[derive(Debug)]
pub struct TestNode {
    dir: Option<TempDir>,
    root: PathBuf,
    base_path: PathBuf,
    chain: Chain,
    child: Option<Child>,
    port: u16,
    starts: u32,
}

impl TestNode {
    /// A fresh directory with a `--dev` node running in it.
    pub fn dev() -> TestNode {
        TestNode::start(Chain::Dev)
    }

    /// A fresh directory with a node for `chain` running in it.
    pub fn start(chain: Chain) -> TestNode {
        let dir = tempfile::Builder::new().prefix("umbra-it-").tempdir().expect("tempdir");
        Self::start_in(dir, chain)
    }

    /// A node of the chain spec `spec` (e.g. [`dev_spec_json`] with parameters changed), authored
    /// by //Alice; the spec file is kept in the node's directory, so it outlives restarts.
    pub fn start_with_spec(spec: &Value) -> TestNode {
        let dir = tempfile::Builder::new().prefix("umbra-it-").tempdir().expect("tempdir");
        let file = dir.path().join("spec.json");
        std::fs::write(&file, serde_json::to_string_pretty(spec).unwrap()).unwrap();
        Self::start_in(dir, Chain::Spec { file, authority: "//Alice".into() })
    }

    fn start_in(dir: TempDir, chain: Chain) -> TestNode {
        let root = dir.path().to_path_buf();
        let mut node = TestNode {
            base_path: root.join("db"),
            root,
            dir: Some(dir),
            chain,
            child: None,
            port: 0,
            starts: 0,
        };
        node.spawn_and_wait();
        node
    }

    /// The node's temporary directory (logs, base path `db/`, anything a test puts there).
    pub fn dir(&self) -> &Path {
        &self.root
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
        self.child.as_ref().expect("node is running").id()
    }

    fn log_path(&self, start: u32) -> PathBuf {
        self.root.join(format!("node-{start}.log"))
    }

    /// Text of the log of the current (or last) run.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path(self.starts)).unwrap_or_default()
    }

    /// The `umbra node ...` command for this node on `port`.
    pub fn command(&self, port: u16) -> Command {
        let mut cmd = Command::new(bin());
        cmd.arg("node");
        match &self.chain {
            Chain::Dev => {
                cmd.arg("--dev");
            }
            Chain::Spec { file, authority } => {
                cmd.arg("--chain").arg(file).arg("--authority").arg(authority);
            }
        }
        cmd.arg("--base-path")
            .arg(&self.base_path)
            .arg("--rpc-addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--block-time-ms")
            .arg(BLOCK_TIME_MS.to_string())
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    fn spawn_and_wait(&mut self) {
        assert!(self.child.is_none(), "node already running");
        for _attempt in 0..5 {
            self.starts += 1;
            let port = free_port();
            let log = File::create(self.log_path(self.starts)).expect("create log");
            let mut cmd = self.command(port);
            cmd.stdout(log.try_clone().expect("clone log")).stderr(log);
            let child = cmd.spawn().expect("spawn umbra node");
            self.child = Some(child);
            self.port = port;
            match self.wait_ready() {
                Ok(()) => return,
                Err(status) => {
                    self.child = None;
                    let log = self.log();
                    // Someone took the port between our probe and the node's bind: try another.
                    if log.contains("cannot listen for RPC") {
                        continue;
                    }
                    panic!("node exited during startup ({status}):\n{log}");
                }
            }
        }
        panic!("could not start a node on a free port after 5 attempts:\n{}", self.log());
    }

    /// Waits until RPC answers; `Err` if the process exited first.
    fn wait_ready(&mut self) -> Result<(), ExitStatus> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().expect("child").try_wait().expect("try_wait")
            {
                return Err(status);
            }
            if let Ok(resp) = http_rpc(self.port, "chain_getBlockHash", json!([0])) {
                if resp["result"].is_string() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                panic!("node did not answer RPC within {STARTUP_TIMEOUT:?}:\n{}", self.log());
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

    /// SIGKILL (std's `Child::kill` sends SIGKILL on Unix) and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits (up to 30 s) for the process to exit; returns its exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("node is running");
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node did not exit within 30 s of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the node again on the same base path (on a new port) and waits until RPC answers.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn_and_wait();
    }

    /// Runs a client command against this node (`--rpc URL` appended).
    pub fn cli(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(bin());
        let url = self.url();
        cmd.args(args).arg("--rpc").arg(&url);
        run_with_timeout(cmd, Duration::from_secs(60))
    }

    /// The whole JSON-RPC response to `method(params)`.
    pub fn rpc_raw(&self, method: &str, params: Value) -> Value {
        http_rpc(self.port, method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}\nnode log:\n{}", self.log()))
    }

    /// The result of `method(params)`; panics on a JSON-RPC error.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        let resp = self.rpc_raw(method, params);
        if let Some(err) = resp.get("error") {
            panic!("{method} failed: {err}");
        }
        resp["result"].clone()
    }

    pub fn head_number(&self) -> u64 {
        self.rpc("chain_getHeader", json!([]))["number"].as_u64().expect("head number")
    }

    pub fn block_hash(&self, number: u64) -> Option<String> {
        self.rpc("chain_getBlockHash", json!([number])).as_str().map(str::to_string)
    }

    pub fn genesis_hash(&self) -> String {
        self.block_hash(0).expect("genesis hash")
    }

    /// Waits until the head is at least `number`; returns the head number.
    pub fn wait_for_block(&self, number: u64) -> u64 {
        wait_for(Duration::from_secs(30), &format!("block #{number}"), || {
            let n = self.head_number();
            (n >= number).then_some(n)
        })
    }

    /// Waits for `count` more blocks after the current head.
    pub fn wait_blocks(&self, count: u64) -> u64 {
        let now = self.head_number();
        self.wait_for_block(now + count)
    }

    pub fn account(&self, address: &str) -> Account {
        let v = self.rpc("umbra_account", json!([address]));
        let amount = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("{k} is a string: {v}"))
                .parse::<Balance>()
                .expect("balance")
        };
        Account {
            free: amount("free"),
            reserved: amount("reserved"),
            nonce: v["nonce"].as_u64().expect("nonce"),
        }
    }

    pub fn pending(&self) -> Vec<String> {
        serde_json::from_value(self.rpc("author_pendingExtrinsics", json!([])))
            .expect("pending is a list of strings")
    }

    /// Keeps the directory (and prints where) instead of deleting it.
    fn keep_for_debugging(&mut self) {
        if let Some(dir) = self.dir.take() {
            let path = dir.keep();
            eprintln!("=== test node directory kept at {}", path.display());
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            for start in 1..=self.starts {
                let text = std::fs::read_to_string(self.log_path(start)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                eprintln!(
                    "=== node log {} (last 30 lines):\n{tail}",
                    self.log_path(start).display()
                );
            }
            self.keep_for_debugging();
        }
    }
}

/// The `umbra build-spec --dev` output, parsed.
pub fn dev_spec_json() -> Value {
    let run = umbra(&["build-spec", "--dev"]);
    serde_json::from_str(run.ok()).expect("build-spec prints JSON")
}

/// Parses `"1000001.5 UMB"` into the smallest unit.
pub fn parse_umb(text: &str) -> Balance {
    let number =
        text.strip_suffix(" UMB").unwrap_or_else(|| panic!("`{text}` should end with ` UMB`"));
    umbra_primitives::parse_amount(number).expect("valid amount")
}

/// Signs `call` as `who`, waits for inclusion and asserts it succeeded.
pub async fn included_ok(
    client: &umbra_client::Client,
    who: &umbra_primitives::Pair,
    call: umbra_runtime::Call,
) -> umbra_client::Inclusion {
    let desc = format!("{call:?}").chars().take(80).collect::<String>();
    let inc = client.sign_and_watch(who, call, 0).await.expect("included");
    assert!(inc.success, "{desc}: {:?}", umbra_client::cli::failure_reason(&inc));
    inc
}

/// Starts `n` workers (`w0`, `w1`, …) operated by //Bob on `node`, waits until the chain has
/// registered them all, and starts them computing in one pool of //Bob's (2,000 UMB contributed
/// per worker, 1,500 staked on each); returns the workers and their identities.
pub async fn computing_workers(
    node: &TestNode,
    n: usize,
) -> (Vec<worker::TestWorker>, Vec<String>) {
    let workers: Vec<worker::TestWorker> =
        (0..n).map(|i| worker::TestWorker::start(node, &format!("w{i}"), "//Bob")).collect();
    let ids: Vec<String> = workers
        .iter()
        .map(|w| {
            let info = worker::try_info(w.port()).expect("worker info");
            info["identity"].as_str().expect("identity").to_string()
        })
        .collect();
    wait_for(Duration::from_secs(60), &format!("{n} workers registered"), || {
        (node.rpc("umbra_workers", json!([])).as_array()?.len() == n).then_some(())
    });
    let client = umbra_client::Client::connect(&node.url()).await.expect("connect");
    let amount = 2_000 * UNITS * n as u128;
    compute_in_one_pool(&client, &pair("//Bob"), &ids, amount, 1_500 * UNITS).await;
    (workers, ids)
}

/// The council elects the worker `identity` gatekeeper; waits until its enclave has published
/// the master key and returns the gatekeepers' view.
pub fn elect_gatekeeper(node: &TestNode, identity: &str) -> Value {
    node.cli(&["gatekeeper", "elect", identity]).ok();
    wait_for(Duration::from_secs(30), "master key published", || {
        let g = node.rpc("umbra_gatekeepers", json!([]));
        (g["currentRotation"] == json!(0)).then_some(g)
    })
}

/// `owner` creates a stake pool, contributes `amount`, adds `workers` and starts each computing
/// with `stake_each`; returns the pool id.
pub async fn compute_in_one_pool(
    client: &umbra_client::Client,
    owner: &umbra_primitives::Pair,
    workers: &[String],
    amount: u128,
    stake_each: u128,
) -> u64 {
    use umbra_runtime::{stake_pools::Call as Pools, Call};
    let inc = included_ok(client, owner, Call::StakePools(Pools::Create { commission: 0 })).await;
    let pool =
        inc.events.iter().find_map(|e| e["StakePools"]["PoolCreated"]["pool"].as_u64()).unwrap();
    included_ok(client, owner, Call::StakePools(Pools::Contribute { pool, amount })).await;
    for id in workers {
        let worker: umbra_primitives::AccountId = id.parse().unwrap();
        included_ok(client, owner, Call::StakePools(Pools::AddWorker { pool, worker })).await;
        let start = Pools::StartComputing { pool, worker, stake: stake_each };
        included_ok(client, owner, Call::StakePools(start)).await;
    }
    pool
}
