//! Web analytics end to end, with real processes on loopback: a site is registered with
//! `umbra analytics register`, its collector (`umbra analytics collect`) takes sealed page views
//! over HTTP (refusing foreign origins, malformed and oversize bodies) and pushes them in
//! batches; the owner reads the report with `umbra analytics report` (small groups suppressed),
//! anyone else is refused; a view replayed, sent to another site or pushed as a command is not
//! counted; the page views' plaintext is in no file of the node or the workers; and the browser
//! tracker, run in headless Chromium against a test page, seals views that the enclave counts.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{worker::*, *};
use serde_json::{json, Value};
use umbra_client::Client;
use umbra_contracts::analytics::{seal_view, PageView, DAY_MS};
use umbra_contracts::ContractId;
use umbra_crypto::{EcdhPublic, SealedBox};
use umbra_runtime::{contracts, Call};

/// A page path and a visitor id found nowhere else.
const SECRET_PATH: &str = "/private-page-6b1d9e3f";
const SECRET_VISITOR: [u8; 16] = *b"VISITOR-5c0ffee1";

/// Sends one HTTP/1.1 request with extra headers; returns status, headers (lower case), body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn view_json(s: &SealedBox) -> Vec<u8> {
    json!({
        "ephemeral": format!("0x{}", hex::encode(s.ephemeral.0)),
        "nonce": format!("0x{}", hex::encode(s.nonce)),
        "ciphertext": format!("0x{}", hex::encode(&s.ciphertext)),
    })
    .to_string()
    .into_bytes()
}

struct Collector {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Collector {
    fn start(node: &TestNode, site: &str, from: &str, origin: &str) -> Collector {
        let port = free_port();
        let log = node.dir().join(format!("collector-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin())
            .args(["analytics", "collect", "--site", site, "--from", from])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--origin", origin])
            .args(["--flush-ms", "300", "--rpc", &node.url()])
            .env_remove("UMBRA_RPC")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("spawn the collector");
        wait_for(Duration::from_secs(30), "the collector listening", || {
            port_accepts(port).then_some(())
        });
        Collector { child, port, log }
    }

    fn status(&self) -> Value {
        let (code, _, body) = http(self.port, "GET", "/v1/status", &[], b"");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until `n` views in all were pushed in batches.
    fn wait_pushed(&self, n: u64) {
        wait_for(Duration::from_secs(90), "the collector pushed every view", || {
            let s = self.status();
            assert!(
                s["lastError"].is_null(),
                "collector error: {s} ({})",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            (s["pushed"].as_u64() == Some(n)).then_some(())
        });
    }
}

fn executed_all(node: &TestNode, id: &str) -> Value {
    wait_for(Duration::from_secs(90), "every command executed", || {
        let c = node.rpc("umbra_contract", json!([id]));
        (c["executed"] == c["commands"]).then_some(c)
    })
}

fn report(node: &TestNode, site: &str, signer: &str, workers: &[TestWorker]) -> Run {
    let mut args = vec!["analytics", "report", "--site", site, "--as", signer];
    let urls: Vec<String> = workers.iter().map(|w| w.url()).collect();
    for u in &urls {
        args.extend(["--worker", u.as_str()]);
    }
    node.cli(&args)
}

/// A one-page web server for the Chromium part: serves the (settable) page at
/// `/test-page.html`; returns its port and the page.
fn serve_page() -> (u16, std::sync::Arc<std::sync::Mutex<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let page = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let html = page.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let (status, body) = if req.starts_with("GET /test-page.html") {
                ("200 OK", html.lock().unwrap().clone())
            } else {
                ("404 Not Found", String::new())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, page)
}

/// Loads `url` in headless Chromium with its own profile (so its own localStorage: one visitor)
/// and returns the DOM after the page settled.
fn chromium_dump(url: &str) -> String {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "this test needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)"
    );
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_end_to_end() {
    let mut spec = dev_spec_json();
    spec["genesis"]["contracts"]["assignmentSize"] = json!(2);
    spec["genesis"]["contracts"]["reshufflePeriod"] = json!(100_000);
    spec["genesis"]["contracts"]["checkpointInterval"] = json!(2);
    let node = TestNode::start_with_spec(&spec);
    let (workers, ids) = computing_workers(&node, 2).await;
    elect_gatekeeper(&node, &ids[0]);
    let client = Client::connect(&node.url()).await.unwrap();

    // Refused registrations change nothing and say why in one line.
    let eve = pair("//Eve").public().to_ss58();
    let bad =
        node.cli(&["analytics", "register", "--site", "blog", "--from", "//Dave", "--k", "1"]);
    assert!(bad.one_line_error().contains("--k must be between 2 and 1000"), "{}", bad.stderr);

    // Dave registers his site with k = 2 and Eve as its collector.
    let run = node.cli(&[
        "analytics",
        "register",
        "--site",
        "blog",
        "--from",
        "//Dave",
        "--k",
        "2",
        "--collector",
        &eve,
    ]);
    let out = run.ok();
    let site = out
        .lines()
        .find_map(|l| l.strip_prefix("site `blog` registered: "))
        .expect("site id printed")
        .trim()
        .to_string();
    let id: ContractId = site.parse().unwrap();
    assert!(out.contains("data-key=\"0x"), "{out}");
    let again = node.cli(&["analytics", "register", "--site", "blog", "--from", "//Dave"]);
    assert!(again.one_line_error().contains("already registered"), "{}", again.stderr);
    let info = node.rpc("umbra_contract", json!([site]));
    let key: [u8; 32] = hex::decode(info["pubkey"].as_str().unwrap().trim_start_matches("0x"))
        .unwrap()
        .try_into()
        .unwrap();
    let key = EcdhPublic(key);

    // The tracker snippet names the site and its published key; a collector for an unknown
    // site refuses to start, in one line.
    let tag =
        node.cli(&["analytics", "tracker", "--site", &site, "--collector", "http://c.example"]);
    assert!(tag.ok().contains(&format!("data-site=\"{site}\"")), "{}", tag.stdout);
    let unknown = format!("0x{}", "11".repeat(32));
    let none = node.cli(&[
        "analytics",
        "collect",
        "--site",
        &unknown,
        "--origin",
        "*",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(none.one_line_error().contains("no analytics site"), "{}", none.stderr);

    let page_origin = "http://127.0.0.1:1";
    let collector = Collector::start(&node, &site, "//Eve", page_origin);
    let post = |body: &[u8], origin: &str| {
        http(
            collector.port,
            "POST",
            "/v1/views",
            &[("Content-Type", "application/json"), ("Origin", origin)],
            body,
        )
    };

    // The collector's refusals: another origin, malformed, oversize, wrong method.
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
            as u64;
    let v = |visitor: [u8; 16], path: &str, referrer: &str| PageView {
        visitor,
        time_ms: now,
        path: path.into(),
        referrer: referrer.into(),
    };
    let sealed = seal_view(&key, &id, &v(SECRET_VISITOR, SECRET_PATH, "")).unwrap();
    let (code, _, body) = post(&view_json(&sealed), "http://evil.example");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("may not post views"), "{body}");
    let (code, _, _) = post(b"{\"ephemeral\":1}", page_origin);
    assert_eq!(code, 400);
    let (code, _, _) = post(&vec![b' '; 10_000], page_origin);
    assert_eq!(code, 413);
    let mut huge = sealed.clone();
    huge.ciphertext = vec![0; 700];
    let (code, _, body) = post(&view_json(&huge), page_origin);
    assert_eq!(code, 400, "{body}");
    // The CORS preflight is granted to the site's origin only.
    let (code, head, _) = http(
        collector.port,
        "OPTIONS",
        "/v1/views",
        &[("Origin", page_origin), ("Access-Control-Request-Method", "POST")],
        b"",
    );
    assert_eq!(code, 204);
    assert!(head.contains(&format!("access-control-allow-origin: {page_origin}")), "{head}");
    let (code, head, _) =
        http(collector.port, "OPTIONS", "/v1/views", &[("Origin", "http://evil.example")], b"");
    assert_eq!(code, 403);
    assert!(!head.contains("access-control-allow-origin"), "{head}");
    // The tracker is served.
    let (code, head, js) = http(collector.port, "GET", "/umbra-tracker.js", &[], b"");
    assert_eq!(code, 200);
    assert!(head.contains("application/javascript") && js.contains("umbra-sealed-box-v1"));

    // Traffic: three visitors see "/" (from news.example), one of them also the secret page;
    // the secret view is posted twice (a replay), and a view sealed for another site is posted.
    let mut views = vec![sealed.clone(), sealed.clone()];
    for n in 1..=3u8 {
        views.push(seal_view(&key, &id, &v([n; 16], "/", "https://news.example/a")).unwrap());
    }
    let other_site = umbra_contracts::contract_id(
        &pair("//Dave").public(),
        umbra_contracts::ContractKind::Analytics,
        b"other",
    );
    views.push(seal_view(&key, &other_site, &v([9; 16], "/", "")).unwrap());
    for s in &views {
        let (code, head, body) = post(&view_json(s), page_origin);
        assert_eq!(code, 202, "{body}");
        assert!(head.contains(&format!("access-control-allow-origin: {page_origin}")), "{head}");
    }
    collector.wait_pushed(views.len() as u64);

    // A sealed view pushed as a command (by the collector itself) does not open as one.
    let pushed = included_ok(
        &client,
        &pair("//Eve"),
        Call::Contracts(contracts::Call::PushCommand {
            contract: id,
            command: sealed,
            value: 0,
            gas_limit: 100_000,
        }),
    )
    .await;
    assert!(pushed.success);
    let record = executed_all(&node, &site);
    let failed = (pushed.block_number..=node.head_number())
        .flat_map(|b| {
            let hash = node.block_hash(b).unwrap();
            node.rpc("umbra_events", json!([hash])).as_array().cloned().unwrap_or_default()
        })
        .find_map(|e| e["event"]["Contracts"]["CommandFailed"]["reason"].as_str().map(String::from))
        .expect("the view pushed as a command failed");
    assert!(failed.contains("cannot open command"), "{failed}");
    assert_eq!(record["paused"], Value::Null);

    // The owner's report: 4 views counted (the replay and the other site's view are not), 4
    // visitors; "/" has 3 visitors; the secret page (1 visitor < k = 2) is suppressed.
    let run = report(&node, "blog", "//Dave", &workers);
    let out = run.ok();
    assert!(out.contains("page views              4"), "{out}");
    assert!(out.contains("unique visitors         4"), "{out}");
    assert!(out.contains("news.example"), "{out}");
    assert!(!out.contains(SECRET_PATH), "{out}");
    assert!(out.contains("(1 more with fewer than 2 visitors: suppressed)"), "{out}");
    let json_run = node.cli(&[
        "analytics",
        "report",
        "--site",
        &site,
        "--as",
        "//Dave",
        "--json",
        "--worker",
        &workers[0].url(),
        "--worker",
        &workers[1].url(),
    ]);
    let r: Value = serde_json::from_str(json_run.ok().trim()).unwrap();
    assert_eq!(r["views"], json!(4));
    assert_eq!(r["pages"], json!([{"key": "/", "views": 3, "visitors": 3}]));
    assert_eq!(r["day"], json!(now / DAY_MS));

    // Anyone else is refused, the collector included, in one line.
    for who in ["//Eve", "//Ferdie"] {
        let run = report(&node, &site, who, &workers);
        assert!(run.one_line_error().contains("only the site owner may do this"), "{}", run.stderr);
    }
    let bad_day = node.cli(&[
        "analytics",
        "report",
        "--site",
        &site,
        "--day",
        "2026-02-30",
        "--worker",
        &workers[0].url(),
    ]);
    assert!(bad_day.one_line_error().contains("invalid --day"), "{}", bad_day.stderr);

    // The page views' plaintext is in no file of the node or the workers.
    node.wait_blocks(6);
    let mut files = files_under(node.base_path());
    for w in &workers {
        files.extend(files_under(w.base_path()));
    }
    let db = node.base_path().join("chain.redb");
    let id_bytes = id.as_bytes().to_vec();
    assert!(
        std::fs::read(&db).unwrap().windows(32).any(|w| w == id_bytes.as_slice()),
        "the search sees the site id on chain"
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        for (what, secret) in
            [("page path", SECRET_PATH.as_bytes()), ("visitor id", &SECRET_VISITOR[..])]
        {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "the {what} of a page view is in plaintext in {}",
                file.display()
            );
        }
    }

    // The browser tracker in headless Chromium: two browsers (two visitors, each with its own
    // localStorage) load a test page that includes the tracker served by a collector allowing
    // the page's origin; the views they seal are counted by the enclave.
    let (page_port, page) = serve_page();
    let page_origin = format!("http://127.0.0.1:{page_port}");
    let browser_collector = Collector::start(&node, &site, "//Eve", &page_origin);
    let c = format!("http://127.0.0.1:{}", browser_collector.port);
    *page.lock().unwrap() = format!(
        "<!doctype html><html><head><title>test</title></head><body><p>hello</p>\
         <script src=\"{c}/umbra-tracker.js\" data-collector=\"{c}\" data-site=\"{site}\" \
         data-key=\"0x{}\"></script></body></html>",
        hex::encode(key.0)
    );
    let url = format!("{page_origin}/test-page.html");
    for visitor in 0..2 {
        let dom = chromium_dump(&url);
        assert!(
            dom.contains("data-umbra-analytics=\"sent 1\""),
            "browser {visitor}: the tracker did not send its view: {dom}"
        );
    }
    browser_collector.wait_pushed(2);
    executed_all(&node, &site);
    let r: Value = serde_json::from_str(
        node.cli(&[
            "analytics",
            "report",
            "--site",
            &site,
            "--as",
            "//Dave",
            "--json",
            "--worker",
            &workers[0].url(),
            "--worker",
            &workers[1].url(),
        ])
        .ok()
        .trim(),
    )
    .unwrap();
    assert_eq!(r["views"], json!(6), "{r}");
    assert_eq!(r["visitors"], json!(6), "{r}");
    let pages = r["pages"].as_array().unwrap();
    assert!(
        pages.contains(&json!({"key": "/test-page.html", "views": 2, "visitors": 2})),
        "the browsers' views are counted: {r}"
    );
}
