//! `umbra analytics ...`: privacy-first web analytics on a confidential contract
//! (`umbra_contracts::analytics`). `register` deploys a site, `collect` runs the site's collector
//! (an HTTP endpoint that takes sealed page views from browsers and pushes them in batches it
//! cannot open), `report` reads the owner-only report through an assigned worker, `tracker`
//! prints the snippet a page includes (or writes the tracker file).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use axum::{
    extract::{DefaultBodyLimit, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use umbra_client::{
    cli::{failure_reason, pair_from_uri, parse_address, RpcArgs},
    contracts_cli::{contract_record, send_command},
    sdk::UmbraApiClient,
    Client,
};
use umbra_contracts::analytics::{
    AnalyticsCommand, AnalyticsQuery, AnalyticsResponse, DayReport, Row, DAY_MS, DEFAULT_K,
    MAX_VIEW_CIPHERTEXT,
};
use umbra_contracts::{ContractId, ContractKind};
use umbra_crypto::{EcdhPublic, SealedBox};
use umbra_primitives::{query::WorkerQuery, serde_helpers::bytes_hex, AccountId, Pair};
use umbra_runtime::{contracts, Call};

/// The browser tracker, built by `tracker/build.js` from the pinned @noble libraries.
pub(crate) const TRACKER_JS: &str = include_str!("../../../tracker/dist/umbra-tracker.js");
/// Largest request body the collector reads.
const MAX_BODY: usize = 4096;
/// Sealed views waiting for a batch; beyond this the collector answers 503.
const MAX_QUEUE: usize = 20_000;
/// Views per pushed command (a batch stays far below the chain's 64 KiB extrinsic limit).
const BATCH_VIEWS: usize = 100;

/// `umbra analytics ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum AnalyticsCommandLine {
    /// Registers a site: deploys its analytics contract (id from owner + site name) and sends its
    /// encrypted init command. The owner alone can read its reports.
    Register {
        /// The site's name (also the deployment salt).
        #[arg(long)]
        site: String,
        /// The owner's secret URI.
        #[arg(long, default_value = "//Alice")]
        from: String,
        /// Groups with fewer unique visitors than this are suppressed (2..=1000).
        #[arg(long, default_value_t = DEFAULT_K)]
        k: u32,
        /// The collector's account (SS58 or secret URI; default: the owner).
        #[arg(long)]
        collector: Option<String>,
        /// Matching worker reports needed to apply a result (default: a majority of K).
        #[arg(long)]
        quorum: Option<u32>,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Runs the site's collector: accepts sealed views over HTTP (POST /v1/views, CORS for the
    /// given origins), serves the tracker (GET /umbra-tracker.js), and pushes batches.
    Collect(CollectArgs),
    /// Prints the site's report for a day (owner only; through an assigned worker).
    Report {
        /// The site: contract id, or the name it was registered with by the signer.
        #[arg(long)]
        site: String,
        /// The owner's secret URI (the query is signed with it).
        #[arg(long = "as", default_value = "//Alice")]
        signer: String,
        /// Query endpoint of a worker (repeat it; the first one assigned to the site is used).
        #[arg(long, required = true)]
        worker: Vec<String>,
        /// UTC day: YYYY-MM-DD, `today` or `all` (one line per day).
        #[arg(long, default_value = "today")]
        day: String,
        /// Rows per table.
        #[arg(long, default_value_t = 10)]
        top: u32,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Prints the <script> tag for a site's pages (`--out FILE` writes the tracker file instead).
    Tracker {
        /// The site's contract id.
        #[arg(long)]
        site: Option<String>,
        /// The collector's URL the views go to.
        #[arg(long, default_value = "http://127.0.0.1:9950")]
        collector: String,
        /// Write the tracker JavaScript to this file.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Options of `umbra analytics collect`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CollectArgs {
    /// The site's contract id.
    #[arg(long)]
    site: String,
    /// The collector account's secret URI (signs and pays for the batches).
    #[arg(long, default_value = "//Alice")]
    from: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9950")]
    listen: SocketAddr,
    /// Page origins allowed to post views (repeat it; `*` allows any).
    #[arg(long = "origin", required = true)]
    origins: Vec<String>,
    /// Longest wait before a partial batch is pushed, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    flush_ms: u64,
    #[command(flatten)]
    rpc: RpcArgs,
}

/// A sealed view as the tracker posts it (JSON, `0x`-hex fields).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ViewBody {
    #[serde(with = "bytes_hex")]
    ephemeral: [u8; 32],
    #[serde(with = "bytes_hex")]
    nonce: [u8; 12],
    #[serde(with = "bytes_hex")]
    ciphertext: Vec<u8>,
}

impl From<&SealedBox> for ViewBody {
    fn from(s: &SealedBox) -> Self {
        ViewBody { ephemeral: s.ephemeral.0, nonce: s.nonce, ciphertext: s.ciphertext.clone() }
    }
}

/// What `GET /v1/status` reports.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CollectorStatus {
    /// Views accepted over HTTP.
    pub received: u64,
    /// Views waiting for a batch.
    pub queued: u64,
    /// Batches pushed (included on chain).
    pub batches: u64,
    /// Views in those batches.
    pub pushed: u64,
    /// The last push error, if the last push failed.
    pub last_error: Option<String>,
}

struct Shared {
    queue: Mutex<VecDeque<SealedBox>>,
    status: Mutex<CollectorStatus>,
    origins: Vec<String>,
}

fn parse_site(s: &str) -> anyhow::Result<ContractId> {
    s.parse().map_err(|e| anyhow!("invalid site id `{s}` (a contract id, 0x + 64 hex): {e}"))
}

/// The site's id: a contract id, or a name registered by `owner`.
fn resolve_site(s: &str, owner: &AccountId) -> anyhow::Result<ContractId> {
    if s.starts_with("0x") {
        return parse_site(s);
    }
    Ok(umbra_contracts::contract_id(owner, ContractKind::Analytics, s.as_bytes()))
}

/// The site's on-chain record, checked to be an analytics contract with its key published.
async fn site_key(client: &Client, id: &ContractId) -> anyhow::Result<EcdhPublic> {
    let info = contract_record(client, id).await.map_err(|_| anyhow!("no analytics site {id}"))?;
    if info.kind != ContractKind::Analytics {
        bail!("contract {id} is a {} contract, not an analytics site", info.kind);
    }
    Ok(EcdhPublic(info.pubkey.context("the site's key is not published yet")?))
}

fn account_arg(s: &str) -> anyhow::Result<AccountId> {
    if s.starts_with("//") || s.contains(' ') {
        return Ok(pair_from_uri(s)?.public());
    }
    parse_address(s)
}

/// Deploys and initializes a site; returns its id.
pub(crate) async fn register(
    client: &Client,
    owner: &Pair,
    name: &str,
    k: u32,
    collector: AccountId,
    quorum: Option<u32>,
) -> anyhow::Result<ContractId> {
    if !umbra_contracts::analytics::K_RANGE.contains(&k) {
        bail!("--k must be between 2 and 1000");
    }
    if name.trim().is_empty() || name.len() > umbra_contracts::analytics::MAX_NAME_LEN {
        bail!("--site must be 1 to 100 bytes");
    }
    let kind = ContractKind::Analytics;
    let id = umbra_contracts::contract_id(&owner.public(), kind, name.as_bytes());
    if client.api().umbra_contract(id).await?.is_some() {
        bail!("site `{name}` is already registered by this owner (id {id})");
    }
    let call =
        Call::Contracts(contracts::Call::Deploy { kind, salt: name.as_bytes().to_vec(), quorum });
    let inc = client.sign_and_watch(owner, call, 0).await?;
    if !inc.success {
        bail!("registration refused: {}", failure_reason(&inc).unwrap_or_default());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while contract_record(client, &id).await?.pubkey.is_none() {
        if Instant::now() > deadline {
            bail!("no gatekeeper published the site's key within 60 s (is a gatekeeper elected?)");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let init = AnalyticsCommand::Init { name: name.to_string(), k, collector };
    let (seq, events) = send_command(client, owner, &id, &init.encode()).await?;
    if let Some(reason) =
        events.iter().find_map(|e| e["Contracts"]["CommandFailed"]["reason"].as_str())
    {
        bail!("the site's init command #{seq} failed: {reason}");
    }
    Ok(id)
}

fn snippet(id: &ContractId, key: &EcdhPublic, collector: &str) -> String {
    let c = collector.trim_end_matches('/');
    format!(
        "<script src=\"{c}/umbra-tracker.js\" data-collector=\"{c}\" data-site=\"{id}\" \
         data-key=\"0x{}\" async></script>",
        hex::encode(key.0)
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day number.
pub(crate) fn day_name(day: u32) -> String {
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

pub(crate) fn today() -> u32 {
    (now_ms() / DAY_MS) as u32
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Parses `YYYY-MM-DD` or `today` into a day number.
pub(crate) fn parse_day(s: &str) -> anyhow::Result<u32> {
    if s == "today" {
        return Ok(today());
    }
    let bad = || anyhow!("invalid --day `{s}`: expected YYYY-MM-DD, today or all");
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts[..] else { return Err(bad()) };
    let (y, m, d): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let day = days_from_civil(y, m, d);
    if day_name(day as u32) != format!("{y:04}-{m:02}-{d:02}") {
        return Err(bad());
    }
    Ok(day as u32)
}

/// Sends an owner query to the first of `workers` that is assigned to the site.
pub(crate) async fn query_site(
    client: &Client,
    id: &ContractId,
    workers: &[String],
    signer: &Pair,
    query: &AnalyticsQuery,
) -> anyhow::Result<AnalyticsResponse> {
    let info = contract_record(client, id).await.map_err(|_| anyhow!("no analytics site {id}"))?;
    if info.kind != ContractKind::Analytics {
        bail!("contract {id} is a {} contract, not an analytics site", info.kind);
    }
    let mut last = anyhow!("none of the given workers is assigned to site {id}");
    for url in workers {
        let Ok(claimed) = umbra_client::worker::info(url).await else {
            last = anyhow!("worker {url} does not answer");
            continue;
        };
        let Ok(identity) = parse_address(claimed["identity"].as_str().unwrap_or_default()) else {
            continue;
        };
        if !info.assigned.contains(&identity) {
            continue;
        }
        let keys = umbra_client::worker::registered_keys(client, &identity).await?;
        let body = WorkerQuery::Contract { id: *id, query: query.encode() }.encode();
        let answer = umbra_client::worker::query(url, &keys, signer, body)
            .await
            .map_err(|e| anyhow!("{}", e.to_string().replace("contract error: ", "")))?;
        return AnalyticsResponse::decode(&mut &answer[..])
            .map_err(|e| anyhow!("malformed analytics answer: {e}"));
    }
    Err(last)
}

fn table(title: &str, rows: &[Row], hidden: u32, k: u32) -> String {
    let mut out = String::new();
    let width = rows.iter().map(|r| r.key.chars().count()).max().unwrap_or(0).max(title.len());
    out.push_str(&format!("  {title:width$}  {:>8}  {:>8}\n", "views", "visitors"));
    for r in rows {
        out.push_str(&format!("  {:width$}  {:>8}  {:>8}\n", r.key, r.views, r.visitors));
    }
    if hidden > 0 {
        out.push_str(&format!("  ({hidden} more with fewer than {k} visitors: suppressed)\n"));
    }
    out
}

/// The report as a table.
pub(crate) fn format_report(name: &str, r: &DayReport) -> String {
    let day = day_name(r.day);
    if r.suppressed {
        return format!("{name} {day}: suppressed (fewer than {} unique visitors that day)\n", r.k);
    }
    let bounce = if r.sessions == 0 { 0.0 } else { r.bounces as f64 * 100.0 / r.sessions as f64 };
    let mut out = format!(
        "{name} {day} (groups under {} visitors suppressed)\n  page views       {:>8}\n  \
         unique visitors  {:>8}\n  sessions         {:>8}\n  bounce rate      {:>7.1}%\n",
        r.k, r.views, r.visitors, r.sessions, bounce
    );
    out.push_str(&table("page", &r.pages, r.suppressed_pages, r.k));
    out.push_str(&table("referrer", &r.referrers, r.suppressed_referrers, r.k));
    out
}

fn cors(headers: &mut HeaderMap, origin: Option<&HeaderValue>) {
    if let Some(o) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// The request's Origin if it is allowed (`Ok(None)`: no Origin header, e.g. a server-side
/// sender); `Err` for a page of another origin.
fn allowed_origin<'a>(
    shared: &Shared,
    headers: &'a HeaderMap,
) -> Result<Option<&'a HeaderValue>, String> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(None) };
    let o = origin.to_str().unwrap_or_default();
    if shared.origins.iter().any(|a| a == "*" || a.trim_end_matches('/') == o) {
        Ok(Some(origin))
    } else {
        Err(format!("origin {o} may not post views to this collector"))
    }
}

async fn preflight(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match allowed_origin(&shared, &headers) {
        Ok(origin) => {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            let h = resp.headers_mut();
            cors(h, origin);
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type"),
            );
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            resp
        }
        Err(msg) => (StatusCode::FORBIDDEN, msg).into_response(),
    }
}

async fn post_view(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let origin = match allowed_origin(&shared, &headers) {
        Ok(o) => o,
        Err(msg) => return (StatusCode::FORBIDDEN, msg).into_response(),
    };
    let reply = |status: StatusCode, msg: String| {
        let mut resp = (status, msg).into_response();
        cors(resp.headers_mut(), origin);
        resp
    };
    let view: ViewBody = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return reply(StatusCode::BAD_REQUEST, format!("not a sealed view: {e}")),
    };
    if view.ciphertext.len() < 16 || view.ciphertext.len() > MAX_VIEW_CIPHERTEXT {
        return reply(
            StatusCode::BAD_REQUEST,
            format!("a sealed view's ciphertext is 16 to {MAX_VIEW_CIPHERTEXT} bytes"),
        );
    }
    {
        let mut q = shared.queue.lock().expect("queue lock");
        if q.len() >= MAX_QUEUE {
            return reply(StatusCode::SERVICE_UNAVAILABLE, "collector queue full".into());
        }
        q.push_back(SealedBox {
            ephemeral: EcdhPublic(view.ephemeral),
            nonce: view.nonce,
            ciphertext: view.ciphertext,
        });
    }
    shared.status.lock().expect("status lock").received += 1;
    reply(StatusCode::ACCEPTED, "queued".into())
}

async fn tracker_js() -> Response {
    let mut resp = TRACKER_JS.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/javascript"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    resp
}

async fn status(State(shared): State<Arc<Shared>>) -> Json<CollectorStatus> {
    let mut s = shared.status.lock().expect("status lock").clone();
    s.queued = shared.queue.lock().expect("queue lock").len() as u64;
    Json(s)
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/umbra-tracker.js", get(tracker_js))
        .route("/v1/status", get(status))
        .route(
            "/v1/views",
            axum::routing::post(post_view).options(preflight).fallback(|| async {
                (StatusCode::METHOD_NOT_ALLOWED, "POST a sealed view").into_response()
            }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// Pushes queued views in batches until `stop`.
async fn batcher(
    shared: Arc<Shared>,
    rpc: String,
    from: Pair,
    id: ContractId,
    flush: Duration,
) -> anyhow::Result<()> {
    let client = Client::connect(&rpc).await?;
    let mut last_push = Instant::now();
    loop {
        let len = shared.queue.lock().expect("queue lock").len();
        if len == 0 || (len < BATCH_VIEWS && last_push.elapsed() < flush) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let views: Vec<SealedBox> = {
            let mut q = shared.queue.lock().expect("queue lock");
            let n = q.len().min(BATCH_VIEWS);
            q.drain(..n).collect()
        };
        let n = views.len() as u64;
        let cmd = AnalyticsCommand::Ingest { time_ms: now_ms(), views }.encode();
        // A built-in kind: the fixed gas schedule of the command's length, prepaid at push.
        let gas = umbra_contracts::gas::fixed_gas(cmd.len());
        let result =
            umbra_client::contracts_cli::push_sealed(&client, &from, &id, &cmd, 0, gas).await;
        last_push = Instant::now();
        let mut s = shared.status.lock().expect("status lock");
        match result {
            Ok((_, seq)) => {
                s.batches += 1;
                s.pushed += n;
                s.last_error = None;
                tracing::info!("pushed a batch of {n} sealed views as command #{seq}");
            }
            Err(e) => {
                // The views of a refused batch are dropped (they may have been the cause);
                // the collector goes on with the next ones.
                let msg = format!("{e:#}").replace('\n', " ");
                tracing::warn!("dropping a batch of {n} views: {msg}");
                s.last_error = Some(msg);
            }
        }
    }
}

/// Binds the collector's listener (separately, so a busy port is a clear error before anything
/// runs).
pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (is another collector running?)"))
}

/// Runs a collector on `listener` until `stop` resolves.
pub(crate) async fn serve_collector(
    listener: tokio::net::TcpListener,
    args: CollectArgs,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let id = parse_site(&args.site)?;
    let from = pair_from_uri(&args.from)?;
    let client = args.rpc.connect().await?;
    site_key(&client, &id).await?;
    if args.flush_ms == 0 || args.flush_ms > 600_000 {
        bail!("--flush-ms must be between 1 and 600000");
    }
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        status: Mutex::new(CollectorStatus::default()),
        origins: args.origins.clone(),
    });
    let push = tokio::spawn(batcher(
        shared.clone(),
        args.rpc.rpc.clone(),
        from,
        id,
        Duration::from_millis(args.flush_ms),
    ));
    let server = axum::serve(listener, router(shared)).with_graceful_shutdown(stop);
    let r = server.await.context("collector server");
    push.abort();
    r
}

/// Runs `umbra analytics ...`.
pub(crate) async fn run(
    cmd: AnalyticsCommandLine,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    match cmd {
        AnalyticsCommandLine::Register { site, from, k, collector, quorum, rpc } => {
            let owner = pair_from_uri(&from)?;
            let collector = match collector {
                Some(c) => account_arg(&c)?,
                None => owner.public(),
            };
            let client = rpc.connect().await?;
            let id = register(&client, &owner, &site, k, collector, quorum).await?;
            let key = site_key(&client, &id).await?;
            println!("site `{site}` registered: {id}");
            println!("owner {}  collector {collector}  k = {k}", owner.public());
            println!("run its collector:");
            println!(
                "  umbra analytics collect --site {id} --from <collector URI> --listen \
                 127.0.0.1:9950 --origin https://your.site"
            );
            println!("and put in its pages:");
            println!("  {}", snippet(&id, &key, "http://127.0.0.1:9950"));
        }
        AnalyticsCommandLine::Collect(args) => {
            let listener = bind(args.listen).await?;
            println!("collector for site {} on http://{}", args.site, args.listen);
            serve_collector(listener, args, shutdown).await?;
        }
        AnalyticsCommandLine::Report { site, signer, worker, day, top, json, rpc } => {
            let signer = pair_from_uri(&signer)?;
            let id = resolve_site(&site, &signer.public())?;
            let client = rpc.connect().await?;
            let name =
                match query_site(&client, &id, &worker, &signer, &AnalyticsQuery::Info).await? {
                    AnalyticsResponse::Info(i) => i.name,
                    _ => bail!("the worker answered Info with another kind of response"),
                };
            let days = if day == "all" {
                match query_site(&client, &id, &worker, &signer, &AnalyticsQuery::Days).await? {
                    AnalyticsResponse::Days(d) => d,
                    _ => bail!("the worker answered Days with another kind of response"),
                }
            } else {
                vec![parse_day(&day)?]
            };
            if days.is_empty() {
                println!("{name}: no page views yet");
            }
            for d in days {
                let q = AnalyticsQuery::Report { day: d, top };
                let AnalyticsResponse::Report(r) =
                    query_site(&client, &id, &worker, &signer, &q).await?
                else {
                    bail!("the worker answered the report with another kind of response");
                };
                if json {
                    println!("{}", serde_json::to_string(&r)?);
                } else {
                    print!("{}", format_report(&name, &r));
                }
            }
        }
        AnalyticsCommandLine::Tracker { site, collector, out, rpc } => {
            if let Some(path) = out {
                std::fs::write(&path, TRACKER_JS)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("wrote {} ({} bytes)", path.display(), TRACKER_JS.len());
                return Ok(());
            }
            let id = parse_site(&site.context("--site (a contract id) or --out FILE is needed")?)?;
            let client = rpc.connect().await?;
            let key = site_key(&client, &id).await?;
            println!("{}", snippet(&id, &key, &collector));
        }
    }
    Ok(())
}

/// `umbra dev`: registers the demo site (owner //Alice, collector //Alice//analytics), feeds it
/// sealed demo views through its own collector on `port`, and prints what to try. Skipped
/// (except the collector) when an earlier run registered it.
pub(crate) async fn dev_demo(
    client: &Client,
    rpc: &str,
    workers: usize,
    query_port: u16,
    port: u16,
) -> anyhow::Result<()> {
    use umbra_contracts::analytics::{seal_view, PageView};
    let alice = pair_from_uri("//Alice")?;
    let collector = pair_from_uri("//Alice//analytics")?;
    let name = "umbra-dev-site";
    let id =
        umbra_contracts::contract_id(&alice.public(), ContractKind::Analytics, name.as_bytes());
    let fresh = client.api().umbra_contract(id).await?.is_none();
    if fresh {
        let fund = Call::Balances(umbra_runtime::balances::Call::Transfer {
            dest: collector.public(),
            amount: 1_000 * umbra_primitives::UNITS,
        });
        let inc = client.sign_and_watch(&alice, fund, 0).await?;
        if !inc.success {
            bail!("funding the demo collector: {}", failure_reason(&inc).unwrap_or_default());
        }
        register(client, &alice, name, DEFAULT_K, collector.public(), (workers < 2).then_some(1))
            .await?;
    }
    let key = site_key(client, &id).await?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = bind(addr).await?;
    let args = CollectArgs {
        site: id.to_string(),
        from: "//Alice//analytics".into(),
        listen: addr,
        origins: vec!["*".into()],
        flush_ms: 1000,
        rpc: RpcArgs { rpc: rpc.to_string() },
    };
    tokio::spawn(async move {
        if let Err(e) = serve_collector(listener, args, std::future::pending()).await {
            eprintln!("analytics collector stopped: {e:#}");
        }
    });
    let url = format!("http://{addr}");
    if fresh {
        // Demo traffic: 8 visitors, a few pages, sealed here exactly as the browser does it and
        // posted to the collector over HTTP.
        let pages = ["/", "/pricing", "/docs", "/blog/privacy"];
        let refs = ["", "https://news.example/", "https://search.example/?q=umbra"];
        let now = now_ms();
        for v in 0..8u8 {
            for (i, p) in pages.iter().enumerate().take(1 + usize::from(v) % 4) {
                let view = PageView {
                    visitor: umbra_crypto::blake2_256(&[v, 0xde])[..16].try_into()?,
                    time_ms: now - 60_000 + i as u64 * 1000,
                    path: p.to_string(),
                    referrer: if i == 0 { refs[usize::from(v) % 3].into() } else { String::new() },
                };
                let body = serde_json::to_vec(&ViewBody::from(&seal_view(&key, &id, &view)?))?;
                let (status, answer) = post_json(&url, "/v1/views", &body).await?;
                if status != 202 {
                    bail!("the collector refused a demo view ({status}): {answer}");
                }
            }
        }
    }
    println!("analytics demo site {id}: collector {url} (tracker {url}/umbra-tracker.js)");
    let rpc_arg =
        if rpc == umbra_client::cli::DEFAULT_RPC { String::new() } else { format!(" --rpc {rpc}") };
    println!(
        "  try: umbra analytics report --site {name} --worker http://127.0.0.1:{query_port} \
         --worker http://127.0.0.1:{}{rpc_arg}   (owner //Alice; others are refused)",
        query_port as usize + 1
    );
    println!("  page snippet: {}", snippet(&id, &key, &url));
    Ok(())
}

/// POSTs JSON to `base + path` over plain HTTP/1.1; returns status and body.
pub(crate) async fn post_json(
    base: &str,
    path: &str,
    body: &[u8],
) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = tokio::net::TcpStream::connect(host)
        .await
        .with_context(|| format!("cannot reach the collector at {base}"))?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await?;
    let text = String::from_utf8_lossy(&resp);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("malformed HTTP answer from the collector")?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(parse_day("1970-01-01").unwrap(), 0);
        assert_eq!(parse_day("2026-11-29").unwrap(), 20_786);
        assert_eq!(day_name(20_786), "2026-11-29");
        assert_eq!(day_name(parse_day("2024-02-29").unwrap()), "2024-02-29");
        for bad in ["2023-02-29", "2026-13-01", "26-1-1", "yesterday", "2026-11-29-1", "1969-12-31"]
        {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn suppressed_reports_show_no_numbers() {
        let r = DayReport {
            day: 20_786,
            k: 5,
            suppressed: true,
            views: 0,
            visitors: 0,
            sessions: 0,
            bounces: 0,
            pages: vec![],
            referrers: vec![],
            suppressed_pages: 0,
            suppressed_referrers: 0,
        };
        assert_eq!(
            format_report("blog", &r),
            "blog 2026-11-29: suppressed (fewer than 5 unique visitors that day)\n"
        );
    }
}
