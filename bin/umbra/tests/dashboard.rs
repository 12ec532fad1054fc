//! The dashboard in a real browser: headless Chromium (Debian's `chromium`; `.ci/run` installs
//! it) against a real `umbra dev --workers 2`. Chromium is driven over the DevTools protocol on
//! a pipe (`--remote-debugging-pipe`: JSON messages on fds 3 and 4, no Node, no WebSocket
//! client), so the test reads the live page's DOM as it changes, collects console errors and
//! uncaught exceptions, and takes screenshots (kept under `target/`).

mod common;
mod devnet;

use std::{
    collections::HashSet,
    io::{Read, Write},
    os::fd::{FromRawFd, OwnedFd},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use common::wait_for;
use devnet::{artifact, http, DevNet};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Headless Chromium with one page, spoken to over the DevTools pipe.
struct Browser {
    child: Child,
    to_browser: std::fs::File,
    from_browser: mpsc::Receiver<Value>,
    next_id: u64,
    session: String,
    /// Console errors, uncaught exceptions and failed loads seen so far.
    errors: Vec<String>,
    /// Set when the page fires its load event.
    loaded: bool,
    _profile: tempfile::TempDir,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0, "pipe2");
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Browser {
    fn launch(width: u32, height: u32) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: the dashboard's browser test needs Debian's chromium package \
             (`apt-get install -y chromium`; .ci/run installs it)"
        );
        let profile = tempfile::Builder::new().prefix("umbra-chromium-").tempdir().expect("tmp");
        let (cmd_read, cmd_write) = pipe();
        let (resp_read, resp_write) = pipe();
        let (r3, w4) = {
            use std::os::fd::AsRawFd;
            (cmd_read.as_raw_fd(), resp_write.as_raw_fd())
        };
        let mut cmd = Command::new(CHROMIUM);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},{height}"))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(artifact("dashboard-chromium.log")).expect("chromium log"));
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || {
                // Move both ends above 10 first (the pipes may themselves be fds 3 or 4), then
                // onto 3 and 4; dup2 leaves the new descriptors open across exec.
                let r = libc::fcntl(r3, libc::F_DUPFD, 10);
                let w = libc::fcntl(w4, libc::F_DUPFD, 10);
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(r);
                libc::close(w);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start chromium");
        drop(cmd_read);
        drop(resp_write);
        let (tx, rx) = mpsc::channel();
        let mut reader = std::fs::File::from(resp_read);
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|b| *b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&msg[..msg.len() - 1]) {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut b = Browser {
            child,
            to_browser: std::fs::File::from(cmd_write),
            from_browser: rx,
            next_id: 1,
            session: String::new(),
            errors: Vec::new(),
            loaded: false,
            _profile: profile,
        };
        let target = b.send(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = b.send(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        b.session = attached["sessionId"].as_str().expect("sessionId").to_string();
        for method in ["Page.enable", "Runtime.enable", "Log.enable"] {
            b.call(method, json!({}));
        }
        b
    }

    fn note_event(&mut self, v: &Value) {
        let p = &v["params"];
        match v["method"].as_str() {
            Some("Page.loadEventFired") => self.loaded = true,
            Some("Runtime.exceptionThrown") => {
                let d = &p["exceptionDetails"];
                self.errors.push(format!(
                    "uncaught: {} {}",
                    d["text"].as_str().unwrap_or(""),
                    d["exception"]["description"].as_str().unwrap_or("")
                ));
            }
            Some("Runtime.consoleAPICalled") if p["type"] == "error" || p["type"] == "assert" => {
                self.errors.push(format!("console.{}: {}", p["type"], p["args"]));
            }
            Some("Log.entryAdded") if p["entry"]["level"] == "error" => {
                self.errors.push(format!(
                    "log: {} {}",
                    p["entry"]["text"].as_str().unwrap_or(""),
                    p["entry"]["url"].as_str().unwrap_or("")
                ));
            }
            _ => {}
        }
    }

    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("encode");
        bytes.push(0);
        self.to_browser.write_all(&bytes).expect("write to chromium");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.from_browser.recv_timeout(left).unwrap_or_else(|e| {
                panic!(
                    "no answer from chromium to {method}: {e}; see {}",
                    artifact("dashboard-chromium.log").display()
                )
            });
            if v["id"].as_u64() == Some(id) {
                if let Some(err) = v.get("error") {
                    panic!("chromium refused {method}: {err}");
                }
                return v["result"].clone();
            }
            self.note_event(&v);
        }
    }

    /// A command to the page.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params)
    }

    /// Evaluates `expression` in the page and returns its JSON value.
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("evaluating `{expression}` threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Navigates and waits for the new document's load event.
    fn goto(&mut self, url: &str) {
        self.loaded = false;
        self.call("Page.navigate", json!({ "url": url }));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.loaded {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from_browser
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("{url} did not load: {e}"));
            self.note_event(&v);
        }
    }

    /// Drains pending events (so errors are noticed even when no command is in flight).
    fn poll_events(&mut self) {
        while let Ok(v) = self.from_browser.try_recv() {
            self.note_event(&v);
        }
    }

    /// Polls `expression` every 250 ms until it is truthy; returns its value.
    fn wait_until(&mut self, timeout: Duration, what: &str, expression: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            // A page between documents has no body yet: that counts as "not yet".
            let v = self.eval(&format!(
                "(() => {{ try {{ return ({expression}); }} catch (e) {{ return null; }} }})()"
            ));
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            if Instant::now() > deadline {
                let body = self.eval("document.body.innerText");
                panic!("timed out after {timeout:?} waiting for {what} (`{expression}`); page:\n{body}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// A PNG screenshot of the whole page.
    fn screenshot(&mut self, path: &Path) -> Vec<u8> {
        let r = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let png = base64_decode(r["data"].as_str().expect("screenshot data"));
        std::fs::write(path, &png).expect("write screenshot");
        png
    }

    fn assert_no_errors(&mut self, when: &str) {
        self.poll_events();
        assert!(self.errors.is_empty(), "browser errors {when}: {:#?}", self.errors);
        let shown = self.eval("document.getElementById('errors').dataset.count");
        assert_eq!(
            shown,
            json!("0"),
            "the page recorded errors {when}: {}",
            self.eval("document.getElementById('errors').innerText")
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter_map(value) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Decodes a PNG and counts its distinct colours (a blank or failed render has a handful).
fn distinct_colours(png_bytes: &[u8]) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(png_bytes);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let bpp = info.color_type.samples();
    let colours: HashSet<&[u8]> = buf[..info.buffer_size()].chunks(bpp).collect();
    (info.width, info.height, colours.len())
}

/// The number in `#id`'s `data-NAME`, as JS.
fn data_num(id: &str, name: &str) -> String {
    format!("Number(document.getElementById('{id}').dataset.{name} || '-1')")
}

#[test]
fn the_dashboard_shows_the_network_live_in_a_real_browser() {
    let dir = tempfile::Builder::new().prefix("umbra-it-dash-").tempdir().expect("tempdir");
    let base = dir.path().join("net");
    let mut net = DevNet::start(&base, 2);
    let identities = net.wait_all_computing(Duration::from_secs(180));
    assert!(
        net.log().contains(&format!("dashboard {}", net.dashboard_url().trim_end_matches('/'))),
        "umbra dev prints the dashboard's URL:\n{}",
        net.log()
    );

    let mut browser = Browser::launch(1280, 900);
    browser.goto(&net.dashboard_url());
    browser.wait_until(
        Duration::from_secs(30),
        "the first render",
        "document.body.dataset.ready === '1'",
    );
    browser.wait_until(
        Duration::from_secs(60),
        "2 workers online",
        &format!("{} === 2", data_num("workers-online", "count")),
    );
    assert_eq!(browser.eval("document.getElementById('conn').dataset.state"), json!("live"));
    let rows = browser.eval("[...document.querySelectorAll('#workers-table tbody tr')].map(r => [r.dataset.worker, r.dataset.state])");
    let mut shown: Vec<String> =
        rows.as_array().expect("rows").iter().map(|r| r[0].as_str().unwrap().to_string()).collect();
    shown.sort();
    let mut expected = identities.clone();
    expected.sort();
    assert_eq!(shown, expected, "one row per registered worker");
    assert!(rows.as_array().unwrap().iter().all(|r| r[1] == "online"), "{rows}");
    // Simulated workers are marked INSECURE; addresses are shortened with the full value on hover.
    let text = browser.eval("document.getElementById('workers-table').innerText");
    assert!(text.as_str().unwrap().contains("INSECURE"), "{text}");
    let titles =
        browser.eval("[...document.querySelectorAll('#workers-table .addr')].map(a => a.title)");
    assert!(identities.iter().all(|id| titles.to_string().contains(id.as_str())), "{titles}");
    assert!(
        !text.as_str().unwrap().contains(identities[0].as_str()),
        "addresses are shortened: {text}"
    );
    // Units: UMB, blocks, seconds.
    let all = browser.eval("document.body.innerText");
    let all = all.as_str().unwrap();
    for unit in [" UMB", " blocks", " s"] {
        assert!(all.contains(unit), "the page shows `{unit}`:\n{all}");
    }
    // The height grows, live.
    let h = browser.eval(&data_num("height", "height")).as_u64().expect("height");
    assert!(h > 0);
    browser.wait_until(
        Duration::from_secs(30),
        "the height to grow",
        &format!("{} >= {}", data_num("height", "height"), h + 5),
    );
    // The rest of the page: pools, the gatekeeper and its key, the demo contract, events, charts.
    browser.wait_until(Duration::from_secs(60), "the demo contract with its assigned workers",
        "[...document.querySelectorAll('#contracts-table tbody tr')].some(r => r.dataset.assigned.split(',').filter(Boolean).length === 2)");
    assert_eq!(browser.eval("document.querySelectorAll('#pools-table tbody tr').length"), json!(2));
    assert_eq!(browser.eval("document.getElementById('gk-summary').dataset.count"), json!("1"));
    browser.wait_until(Duration::from_secs(30), "rewards among the events", "[...document.querySelectorAll('#events li')].some(l => l.dataset.event === 'Computation.HeartbeatAccepted')");
    assert_eq!(
        browser.eval("document.querySelectorAll('.chart canvas').length"),
        json!(3),
        "three charts"
    );
    assert_eq!(
        browser.eval("document.querySelectorAll('#procs-list li[data-running=true]').length"),
        json!(3)
    );
    browser.assert_no_errors("with the whole network up");

    let shot = artifact("dashboard-test.png");
    let png = browser.screenshot(&shot);
    let (w, hgt, colours) = distinct_colours(&png);
    assert!(w >= 1000 && hgt >= 900, "screenshot {w}×{hgt}");
    assert!(colours >= 64, "screenshot {} has only {colours} colours: blank?", shot.display());

    // SIGKILL worker-1: umbra dev keeps going and the page shows it unresponsive within the
    // heartbeat window (a challenge every M blocks on average, then the window).
    let victim = net.worker_identity(1).expect("worker-1 identity");
    let pid = net.kill_worker(1);
    let killed_at = net.head().expect("head");
    wait_for(Duration::from_secs(30), "umbra dev to notice", || {
        net.assert_running();
        (net.worker_proc(1)?["running"] == json!(false)).then_some(())
    });
    let comp = net.rpc("umbra_computation", json!([])).expect("params");
    let (m, window) = (
        comp["params"]["meanChallengeInterval"].as_u64().unwrap(),
        comp["params"]["heartbeatWindow"].as_u64().unwrap(),
    );
    let blocks = 4 * m + window + 40;
    let timeout = Duration::from_millis(blocks * devnet::BLOCK_TIME_MS * 3);
    browser.wait_until(timeout, &format!("worker {victim} (pid {pid}) to show unresponsive"), &format!(
        "document.querySelector('#workers-table tr[data-worker=\"{victim}\"]')?.dataset.state === 'unresponsive'"
    ));
    let seen_at = browser.eval(&data_num("height", "height")).as_u64().unwrap_or(0);
    eprintln!(
        "figure: killed at #{killed_at}, shown unresponsive at #{seen_at} ({} blocks; bound {blocks})",
        seen_at.saturating_sub(killed_at)
    );
    // The counters come from umbra_computation, the rows from umbra_workerSession; a block may
    // land between the two calls, so the counters may need one more head to agree.
    browser.wait_until(
        Duration::from_secs(10),
        "1 online and 1 unresponsive in the counters",
        &format!(
            "{} === 1 && {} === 1",
            data_num("workers-unresponsive", "count"),
            data_num("workers-online", "count")
        ),
    );
    browser.wait_until(Duration::from_secs(10), "the dead process with a restart button",
        "!!document.querySelector('#procs-list li[data-proc=\"worker-1\"][data-running=false] button')");
    net.assert_running();

    // The restart endpoint refuses what it must, changing nothing.
    let port = net.dashboard_port;
    let (status, body) =
        http(port, "POST", "/api/workers/1/restart", Some("text/plain"), "{}").unwrap();
    assert_eq!(status, 415, "a form-like cross-site POST is refused: {body}");
    let (status, body) =
        http(port, "POST", "/api/workers/0/restart", Some("application/json"), "{}").unwrap();
    assert_eq!(status, 409, "a running worker is not restarted: {body}");
    let (status, body) =
        http(port, "POST", "/api/workers/9/restart", Some("application/json"), "{}").unwrap();
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("no worker 9"), "{body}");
    let (status, body) =
        http(port, "POST", "/api/workers/one/restart", Some("application/json"), "{}").unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(net.worker_proc(1).expect("worker-1")["running"], json!(false), "still dead");

    // Restart it from the page's own button (a real POST from the browser), and it comes back online.
    browser.eval(
        "document.querySelector('#procs-list li[data-proc=\"worker-1\"] button').click(); true",
    );
    wait_for(Duration::from_secs(20), "worker-1 restarted", || {
        (net.worker_proc(1)?["running"] == json!(true)).then_some(())
    });
    assert_eq!(
        wait_for(Duration::from_secs(60), "worker-1 /info", || net.worker_identity(1)),
        victim
    );
    browser.wait_until(timeout, "the restarted worker to show online", &format!(
        "document.querySelector('#workers-table tr[data-worker=\"{victim}\"]')?.dataset.state === 'online'"
    ));
    let back_at = browser.eval(&data_num("height", "height")).as_u64().unwrap_or(0);
    eprintln!("figure: the restarted worker shown online again at #{back_at}");
    browser.wait_until(
        Duration::from_secs(30),
        "2 workers online again",
        &format!("{} === 2", data_num("workers-online", "count")),
    );
    browser.assert_no_errors("after a worker died and came back");

    // The contract's assignment follows the chain through a reshuffle.
    let epoch = net.rpc("umbra_contracts", json!([])).expect("contracts")[0]["epoch"]
        .as_u64()
        .expect("epoch");
    browser.wait_until(
        Duration::from_secs(120),
        "the contract's next epoch on the page",
        &format!(
            "Number(document.querySelector('#contracts-table tbody tr').dataset.epoch) > {epoch}"
        ),
    );
    wait_for(Duration::from_secs(30), "the page and the chain to agree on the assignment", || {
        let chain = net.rpc("umbra_contracts", json!([]))?;
        let assigned: Vec<&str> =
            chain[0]["assigned"].as_array()?.iter().filter_map(Value::as_str).collect();
        let page = browser.eval(
            "(() => { const r = document.querySelector('#contracts-table tbody tr'); \
             return [Number(r.dataset.epoch), r.dataset.assigned]; })()",
        );
        (page[0].as_u64() == chain[0]["epoch"].as_u64()
            && page[1].as_str() == Some(assigned.join(",").as_str()))
        .then_some(())
    });

    // A narrow window: still readable, nothing wider than the screen, no errors.
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 360, "height": 740, "deviceScaleFactor": 1, "mobile": true }),
    );
    browser.goto(&net.dashboard_url());
    browser.wait_until(Duration::from_secs(30), "the narrow render", "document.body.dataset.ready === '1' && document.querySelectorAll('#workers-table tbody tr').length === 2");
    let width = browser.eval("document.documentElement.scrollWidth").as_u64().unwrap();
    assert!(width <= 360, "the page is {width}px wide in a 360px window");
    let png = browser.screenshot(&artifact("dashboard-test-narrow.png"));
    let (_, _, colours) = distinct_colours(&png);
    assert!(colours >= 32, "the narrow screenshot has only {colours} colours");
    browser.assert_no_errors("in a narrow window");
}

/// `umbra dashboard` on its own, for any node: it serves the embedded page and the node's URL,
/// has no processes to show or restart, and refuses a URL that is not one.
#[test]
fn umbra_dashboard_serves_the_embedded_page_for_a_node_and_nothing_to_restart() {
    let node = common::TestNode::dev();
    let port = common::free_port();
    let log = node.dir().join("dashboard.log");
    let mut child = Command::new(common::bin())
        .args(["dashboard", "--rpc", &node.url(), "--addr", &format!("127.0.0.1:{port}")])
        .env_remove("UMBRA_RPC")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn umbra dashboard");
    let page = wait_for(Duration::from_secs(30), "the dashboard to answer", || {
        let (status, body) = http(port, "GET", "/", None, "").ok()?;
        (status == 200).then_some(body)
    });
    assert!(page.contains("id=\"workers-table\"") && page.contains("vendor/uPlot.iife.min.js"));
    let (status, body) = http(port, "GET", "/vendor/uPlot.iife.min.js", None, "").unwrap();
    assert_eq!(status, 200);
    assert!(body.starts_with("/*! https://github.com/leeoniya/uPlot (v1.6.31) */"), "vendored");
    let (status, body) = http(port, "GET", "/config.json", None, "").unwrap();
    assert_eq!(status, 200);
    let config: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(config, json!({ "rpc": format!("ws://127.0.0.1:{}", node.port()), "dev": false }));
    let (status, body) = http(port, "GET", "/api/procs", None, "").unwrap();
    assert_eq!(status, 404, "{body}");
    let (status, body) =
        http(port, "POST", "/api/workers/0/restart", Some("application/json"), "{}").unwrap();
    assert_eq!(status, 404, "{body}");
    let _ = child.kill();
    let _ = child.wait();
    let printed = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(printed.contains(&format!("dashboard http://127.0.0.1:{port}")), "{printed}");

    let run = common::umbra(&["dashboard", "--rpc", "127.0.0.1:9944", "--addr", "127.0.0.1:0"]);
    assert!(run.one_line_error().contains("--rpc must be a URL"), "{}", run.stderr);
}
