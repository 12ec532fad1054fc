//! `umbra dashboard`: one web page showing a network live. The page is static (embedded in the
//! binary: `bin/umbra/dashboard/`) and talks JSON-RPC to the node's WebSocket itself:
//! `chain_subscribeNewHeads` for the head, then the `umbra_*` queries once per new head. This
//! server only hands out the files and `/config.json` (the node's URL), and — when `umbra dev`
//! runs it — the local network's processes (`GET /api/procs`) and a restart button for a worker
//! that died (`POST /api/workers/{index}/restart`).

use std::net::SocketAddr;

use anyhow::Context;
use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

/// Options of `umbra dashboard`.
#[derive(Debug, clap::Args)]
pub(crate) struct DashboardArgs {
    /// Node RPC URL the page connects to (WebSocket; `http://` is turned into `ws://`). The
    /// browser opens it, so it must be reachable from the browser.
    #[arg(long, env = "UMBRA_RPC", default_value = umbra_client::cli::DEFAULT_RPC)]
    rpc: String,
    /// Address the dashboard listens on.
    #[arg(long, default_value = "127.0.0.1:9900")]
    addr: SocketAddr,
}

/// A request from the dashboard to `umbra dev`, which owns the processes.
#[derive(Debug)]
pub(crate) enum Control {
    /// The processes of the local network, as JSON.
    Procs(oneshot::Sender<Value>),
    /// Restart worker `index` if it is not running.
    Restart(usize, oneshot::Sender<Result<String, String>>),
}

const INDEX_HTML: &str = include_str!("../dashboard/index.html");
const APP_JS: &str = include_str!("../dashboard/app.js");
const FAVICON_SVG: &str = include_str!("../dashboard/favicon.svg");
const STYLE_CSS: &str = include_str!("../dashboard/style.css");
const UPLOT_JS: &str = include_str!("../dashboard/vendor/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../dashboard/vendor/uPlot.min.css");
const UPLOT_LICENSE: &str = include_str!("../dashboard/vendor/uPlot.LICENSE");

#[derive(Clone)]
struct AppState {
    rpc: String,
    control: Option<mpsc::Sender<Control>>,
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
        .into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn config(State(s): State<AppState>) -> Response {
    Json(json!({ "rpc": s.rpc, "dev": s.control.is_some() })).into_response()
}

async fn procs(State(s): State<AppState>) -> Response {
    let Some(control) = s.control else {
        return error(
            StatusCode::NOT_FOUND,
            "no processes: this dashboard was not started by umbra dev",
        );
    };
    let (tx, rx) = oneshot::channel();
    if control.send(Control::Procs(tx)).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "umbra dev is stopping");
    }
    match rx.await {
        Ok(v) => Json(v).into_response(),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "umbra dev is stopping"),
    }
}

/// Restarts a dead worker. Only `Content-Type: application/json` is accepted: a web page of
/// another origin cannot send that without a CORS preflight, which this server never grants,
/// so a page the user happens to visit cannot drive the local network.
async fn restart(
    State(s): State<AppState>,
    Path(index): Path<String>,
    headers: HeaderMap,
) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or("").trim() == "application/json");
    if !json_body {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the restart request with Content-Type: application/json",
        );
    }
    let Some(control) = s.control else {
        return error(
            StatusCode::NOT_FOUND,
            "no processes: this dashboard was not started by umbra dev",
        );
    };
    let Ok(index) = index.parse::<usize>() else {
        return error(StatusCode::BAD_REQUEST, format!("invalid worker index `{index}`"));
    };
    let (tx, rx) = oneshot::channel();
    if control.send(Control::Restart(index, tx)).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "umbra dev is stopping");
    }
    match rx.await {
        Ok(Ok(message)) => Json(json!({ "ok": message })).into_response(),
        Ok(Err(message)) => error(StatusCode::CONFLICT, message),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "umbra dev is stopping"),
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/favicon.svg", get(|| async { asset("image/svg+xml", FAVICON_SVG) }))
        .route("/favicon.ico", get(|| async { asset("image/svg+xml", FAVICON_SVG) }))
        .route("/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route(
            "/vendor/uPlot.iife.min.js",
            get(|| async { asset("text/javascript; charset=utf-8", UPLOT_JS) }),
        )
        .route(
            "/vendor/uPlot.min.css",
            get(|| async { asset("text/css; charset=utf-8", UPLOT_CSS) }),
        )
        .route(
            "/vendor/uPlot.LICENSE",
            get(|| async { asset("text/plain; charset=utf-8", UPLOT_LICENSE) }),
        )
        .route("/config.json", get(config))
        .route("/api/procs", get(procs))
        .route("/api/workers/:index/restart", post(restart))
        .with_state(state)
}

/// The node URL as the browser's WebSocket wants it.
fn ws_url(rpc: &str) -> String {
    if let Some(rest) = rpc.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if let Some(rest) = rpc.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        rpc.to_string()
    }
}

/// Binds the dashboard's address (so a caller learns at once whether the port is free).
pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the dashboard"))
}

/// Serves the dashboard on `listener` until `shutdown` completes.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    rpc: &str,
    control: Option<mpsc::Sender<Control>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = router(AppState { rpc: ws_url(rpc), control });
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await.context("dashboard server")
}

/// `umbra dashboard`: serves the page for the node at `--rpc` until Ctrl-C.
pub(crate) async fn run(
    args: DashboardArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if !args.rpc.contains("://") {
        anyhow::bail!("--rpc must be a URL such as ws://127.0.0.1:9944, got `{}`", args.rpc);
    }
    let listener = bind(args.addr).await?;
    println!("dashboard http://{}  (node {})", listener.local_addr()?, ws_url(&args.rpc));
    serve(listener, &args.rpc, None, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls_become_websocket_urls() {
        assert_eq!(ws_url("http://127.0.0.1:9944"), "ws://127.0.0.1:9944");
        assert_eq!(ws_url("https://node.example:443"), "wss://node.example:443");
        assert_eq!(ws_url("ws://127.0.0.1:9944"), "ws://127.0.0.1:9944");
    }

    #[test]
    fn the_page_references_only_embedded_files() {
        for path in ["app.js", "style.css", "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css"] {
            assert!(INDEX_HTML.contains(path), "index.html loads {path}");
        }
        assert!(!INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"), "no CDN");
        assert!(UPLOT_JS.starts_with("/*! https://github.com/leeoniya/uPlot (v1.6.31) */"));
        assert!(UPLOT_LICENSE.contains("MIT"));
    }
}
