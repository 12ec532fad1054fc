//! `umbra dev`: a whole local network in one command — a dev node and N workers on the
//! simulated platform, each its own process talking over real RPC, and the dashboard. A worker
//! that dies is reported and can be restarted (`restart N` on stdin or `POST
//! /api/workers/N/restart`); only the node dying, or Ctrl-C, stops the network.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use tokio::sync::{mpsc, oneshot};
use umbra_client::Client;

use crate::dashboard::Control;

/// Operators of the dev workers, in turn.
const OPERATORS: [&str; 6] = ["//Bob", "//Charlie", "//Dave", "//Eve", "//Ferdie", "//Alice"];

/// Options of `umbra dev`.
#[derive(Debug, clap::Args)]
pub(crate) struct DevArgs {
    /// Number of workers.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Directory for the node's and workers' data and logs.
    #[arg(long, default_value = "./umbra-dev")]
    base_path: PathBuf,
    /// Node RPC port on 127.0.0.1.
    #[arg(long, default_value_t = 9944)]
    rpc_port: u16,
    /// Query port of the first worker on 127.0.0.1 (the next ones follow).
    #[arg(long, default_value_t = 8100)]
    query_port: u16,
    /// Block time in milliseconds.
    #[arg(long)]
    block_time_ms: Option<u64>,
    /// Port of the dashboard on 127.0.0.1 (a web page showing the network live).
    #[arg(long, default_value_t = 9900)]
    dashboard_port: u16,
    /// Run the chain by this many BFT validator processes (malachite; RPC ports from
    /// --rpc-port up, libp2p ports from --p2p-port up). Default: the single-authority --dev node.
    #[arg(long)]
    validators: Option<usize>,
    /// libp2p port of the first validator (with --validators).
    #[arg(long, default_value_t = crate::dev_bft::P2P_BASE_PORT)]
    p2p_port: u16,
    /// Port of the demo analytics site's collector on 127.0.0.1 (`umbra analytics`).
    #[arg(long, default_value_t = 9950)]
    analytics_port: u16,
}

/// One process of the local network: how to start it, and the running child if any.
struct Proc {
    name: String,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    /// How the last run ended, once it ended.
    exit: Option<String>,
    restarts: u32,
}

impl Proc {
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

fn spawn_child(name: &str, args: &[String], log: &Path) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find the umbra executable")?;
    // Appended: a restarted process (or a network started again on the same base path) keeps
    // the earlier log above the new one.
    let log_file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let mut cmd = Command::new(exe);
    cmd.args(args).stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file);
    #[cfg(target_os = "linux")]
    unsafe {
        use std::os::unix::process::CommandExt;
        // If `umbra dev` dies, its children get SIGTERM instead of lingering.
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd.spawn().with_context(|| format!("cannot start {name}"))
}

fn spawn(name: &str, args: Vec<String>, log: PathBuf) -> anyhow::Result<Proc> {
    let child = spawn_child(name, &args, &log)?;
    Ok(Proc { name: name.to_string(), args, log, child: Some(child), exit: None, restarts: 0 })
}

fn stop_all(procs: &mut [Proc]) {
    for p in procs.iter_mut().rev() {
        if let Some(child) = &p.child {
            // SIGTERM lets each process seal its state and close its database cleanly.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for p in procs.iter_mut().rev() {
        let Some(child) = p.child.as_mut() else { continue };
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    println!("{} stopped ({status})", p.name);
                    break;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    println!("{} killed after the grace period", p.name);
                    break;
                }
            }
        }
        p.child = None;
    }
}

/// The processes as `GET /api/procs` shows them.
fn procs_json(procs: &[Proc]) -> serde_json::Value {
    serde_json::Value::Array(
        procs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                serde_json::json!({
                    "name": p.name,
                    "kind": if i == 0 { "node" } else { "worker" },
                    "index": if i == 0 { None } else { Some(i - 1) },
                    "pid": p.pid(),
                    "running": p.child.is_some(),
                    "exit": p.exit,
                    "restarts": p.restarts,
                    "log": p.log.display().to_string(),
                })
            })
            .collect(),
    )
}

/// Restarts worker `index` (procs[index + 1]) if it is not running. Same arguments, so the
/// same base path: it unseals its state and comes back with the same identity.
fn restart_worker(procs: &mut [Proc], index: usize) -> Result<String, String> {
    let workers = procs.len().saturating_sub(1);
    let Some(p) = procs.get_mut(index + 1) else {
        return Err(format!("no worker {index}: the workers are 0..{workers}"));
    };
    // It may have died since the last reaping.
    if let Some(Ok(Some(status))) = p.child.as_mut().map(Child::try_wait) {
        println!("{} exited ({status})", p.name);
        p.exit = Some(status.to_string());
        p.child = None;
    }
    if let Some(pid) = p.pid() {
        return Err(format!("{} is running (pid {pid}); nothing to restart", p.name));
    }
    let child = spawn_child(&p.name, &p.args, &p.log).map_err(|e| format!("{e:#}"))?;
    let pid = child.id();
    p.child = Some(child);
    p.exit = None;
    p.restarts += 1;
    Ok(format!("{} restarted (pid {pid})", p.name))
}

/// Reaps children that exited: returns the names and statuses of those that just did.
fn reap(procs: &mut [Proc]) -> Vec<(usize, String, String)> {
    let mut dead = Vec::new();
    for (i, p) in procs.iter_mut().enumerate() {
        let Some(child) = p.child.as_mut() else { continue };
        if let Ok(Some(status)) = child.try_wait() {
            let status = status.to_string();
            p.exit = Some(status.clone());
            p.child = None;
            dead.push((i, p.name.clone(), status));
        }
    }
    dead
}

const HELP: &str =
    "commands: `restart N` restarts worker N after it died, `ps` lists the processes, \
                    `help`; Ctrl-C stops the network";

/// Reads commands from stdin (a thread: stdin is blocking) and hands them to the network loop.
fn read_commands(control: mpsc::Sender<Control>) {
    // Run in the background of a shell (`umbra dev &`), reading the terminal would stop the
    // whole process (SIGTTIN); ignored, the read fails with EIO instead, and is retried until
    // the job comes to the foreground. (The children read nothing: their stdin is /dev/null.)
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGTTIN, libc::SIG_IGN);
    }
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) => return,
                Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
                Err(_) => return,
                Ok(_) => {}
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [] => {}
                ["restart", n] => match n.trim_start_matches("worker-").parse::<usize>() {
                    Ok(i) => {
                        let (tx, rx) = oneshot::channel();
                        if control.blocking_send(Control::Restart(i, tx)).is_err() {
                            return;
                        }
                        match rx.blocking_recv() {
                            // The network loop prints what it restarted.
                            Ok(Ok(_)) => {}
                            Ok(Err(m)) => println!("cannot restart: {m}"),
                            Err(_) => return,
                        }
                    }
                    Err(_) => println!("`restart N` takes a worker number, got `{n}`"),
                },
                ["ps"] => {
                    let (tx, rx) = oneshot::channel();
                    if control.blocking_send(Control::Procs(tx)).is_err() {
                        return;
                    }
                    let Ok(list) = rx.blocking_recv() else { return };
                    for p in list.as_array().into_iter().flatten() {
                        println!(
                            "{:<10} {}",
                            p["name"].as_str().unwrap_or(""),
                            match p["pid"].as_u64() {
                                Some(pid) => format!("running, pid {pid}"),
                                None => format!("exited ({})", p["exit"].as_str().unwrap_or("?")),
                            }
                        );
                    }
                }
                _ => println!("{HELP}"),
            }
        }
    });
}

async fn status_line(client: &Client) -> anyhow::Result<String> {
    let head = client.head().await?;
    let workers = client.workers().await?;
    let c: serde_json::Value = client.call("umbra_computation", jsonrpsee_params()).await?;
    let umb = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|s| s.parse::<u128>().ok())
            .map(umbra_primitives::format_amount)
            .unwrap_or_default()
    };
    Ok(format!(
        "block #{:<6} workers: {} registered, {} computing, {} unresponsive | paid to workers {} | treasury {}",
        head.number,
        workers.len(),
        c["computing"],
        c["unresponsive"],
        umb(&c["emission"]["paidToWorkers"]),
        umb(&c["treasury"]),
    ))
}

fn jsonrpsee_params() -> umbra_client::sdk::RpcParams {
    umbra_client::sdk::RpcParams::new()
}

fn rpc_params(arg: &str) -> umbra_client::sdk::RpcParams {
    let mut p = umbra_client::sdk::RpcParams::new();
    // Inserting a string cannot fail to serialize.
    let _ = p.insert(arg);
    p
}

/// Elects the first worker as gatekeeper, waits for the master key, and deploys a demo
/// guestbook (its init command is encrypted to the contract key like any other). Its quorum is
/// the default majority of K, or every worker when fewer than two run.
async fn start_confidential(client: &Client, workers: usize) -> anyhow::Result<()> {
    use umbra_runtime::{contracts, gatekeeper, Call};
    let alice = umbra_client::cli::pair_from_uri("//Alice")?;
    let first: umbra_primitives::AccountId = client
        .workers()
        .await?
        .iter()
        .min_by_key(|w| w["registeredAt"].as_u64())
        .and_then(|w| w["identity"].as_str()?.parse().ok())
        .context("no worker to elect")?;
    let existing: serde_json::Value = client.call("umbra_gatekeepers", jsonrpsee_params()).await?;
    let elected = existing["gatekeepers"].as_array().is_some_and(|g| !g.is_empty());
    if !elected {
        let inc = client
            .sign_and_watch(&alice, Call::Gatekeeper(gatekeeper::Call::Elect { worker: first }), 0)
            .await?;
        if !inc.success {
            bail!(
                "electing the gatekeeper: {}",
                umbra_client::cli::failure_reason(&inc).unwrap_or_default()
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let g: serde_json::Value = client.call("umbra_gatekeepers", jsonrpsee_params()).await?;
        if !g["currentRotation"].is_null() {
            break;
        }
        if Instant::now() > deadline {
            bail!("the gatekeeper did not publish a master key within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if elected {
        println!("gatekeepers {} (from an earlier run)", existing["gatekeepers"]);
    } else {
        println!("gatekeeper {first} holds the master key");
    }
    let kind = umbra_contracts::ContractKind::Guestbook;
    let id = umbra_contracts::contract_id(&alice.public(), kind, b"umbra-dev-demo");
    let mut by_id = umbra_client::sdk::RpcParams::new();
    by_id.insert(id).context("encoding the contract id")?;
    let deployed: Option<serde_json::Value> = client.call("umbra_contract", by_id).await?;
    if deployed.is_some() {
        println!("demo guestbook {id} (from an earlier run)");
        return Ok(());
    }
    let inc = client
        .sign_and_watch(
            &alice,
            Call::Contracts(contracts::Call::Deploy {
                kind,
                salt: b"umbra-dev-demo".to_vec(),
                quorum: (workers < 2).then_some(1),
            }),
            0,
        )
        .await?;
    if !inc.success {
        bail!(
            "deploying the demo guestbook: {}",
            umbra_client::cli::failure_reason(&inc).unwrap_or_default()
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while umbra_client::contracts_cli::contract_info(client, &id).await?["pubkey"].is_null() {
        if Instant::now() > deadline {
            bail!("the demo contract's key was not published within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let init =
        umbra_contracts::guestbook::GuestbookCommand::Init { title: "Umbra dev guestbook".into() };
    umbra_client::contracts_cli::send_command(
        client,
        &alice,
        &id,
        &parity_scale_codec::Encode::encode(&init),
    )
    .await?;
    println!("demo guestbook {id} deployed and initialized (umbra contract info {id})");
    Ok(())
}

/// The demo ERC-20's artifact (solidity/artifacts/Token.json), written under the base path so
/// that `umbra evm` commands can name it.
pub(crate) const TOKEN_ARTIFACT: &str = include_str!("../../../solidity/artifacts/Token.json");
/// Salt of the demo EVM cluster (with //Alice as deployer, its id is the same on every run).
const TOKEN_CLUSTER_SALT: &[u8] = b"umbra-dev-evm";
/// Tokens the demo ERC-20 mints to //Alice, and how many of them she sends to //Bob.
const TOKEN_SUPPLY: &str = "1000000";
const TOKEN_TRANSFER: &str = "250";

/// Creates the demo EVM cluster, deploys the demo ERC-20 into it (the whole supply minted to
/// //Alice's EVM address), makes one transfer to //Bob, and prints `umbra evm` commands to try.
/// The deployment and the transfer go through `umbra evm deploy` / `umbra evm send` (the same
/// functions), so they are encrypted commands whose receipts only //Alice can read. Skipped when
/// the cluster exists (an earlier run on this base path).
async fn start_token(
    client: &Client,
    rpc: &str,
    base_path: &Path,
    query_port: u16,
    workers: usize,
) -> anyhow::Result<()> {
    use umbra_client::evm_cli::{self, DeployArgs, EvmCommand, SendArgs, TxArgs};
    let alice = umbra_client::cli::pair_from_uri("//Alice")?;
    let kind = umbra_contracts::ContractKind::Evm;
    let id = umbra_contracts::contract_id(&alice.public(), kind, TOKEN_CLUSTER_SALT);
    let artifact = base_path.join("Token.json");
    let token =
        umbra_evm_abi::Address::from(umbra_contracts::evm::evm_address(&alice.public())).create(0);
    let mut by_id = umbra_client::sdk::RpcParams::new();
    by_id.insert(id).context("encoding the cluster id")?;
    let existing: Option<serde_json::Value> = client.call("umbra_contract", by_id).await?;
    if let Some(cluster) = existing {
        if cluster["executed"].as_u64().unwrap_or(0) == 0 {
            // An earlier run stopped between creating the cluster and deploying the token.
            bail!(
                "the demo EVM cluster {id} exists without the demo ERC-20 (an earlier run \
                 stopped during setup); deploy it with `umbra evm deploy --cluster {id} ...`"
            );
        }
        println!("demo EVM cluster {id}, token {token} (from an earlier run)");
        return Ok(());
    }
    fs::write(&artifact, TOKEN_ARTIFACT)
        .with_context(|| format!("cannot write {}", artifact.display()))?;
    let info = create_dev_cluster(client, TOKEN_CLUSTER_SALT, workers, "demo EVM cluster").await?;
    // A worker assigned to the cluster: it hands //Alice the key of her receipts.
    let worker = assigned_worker_url(&info, query_port, workers)
        .await
        .context("no assigned worker of the demo EVM cluster answers")?;
    let rpc_args = || umbra_client::cli::RpcArgs { rpc: rpc.to_string() };
    let cluster = id.to_string();
    println!("demo EVM cluster {id}: deploying the demo ERC-20 (solidity/artifacts/Token.json)");
    // The assigned worker may still be receiving the cluster's key; the CLI asks it for the
    // receipt key before pushing anything, so a refusal there is safe to retry.
    while_key_arrives(|| {
        evm_cli::evm(EvmCommand::Deploy(DeployArgs {
            cluster: cluster.clone(),
            artifact: artifact.clone(),
            args: vec!["Umbra Dev Token".into(), "UDT".into(), TOKEN_SUPPLY.into()],
            from: "//Alice".into(),
            worker: worker.clone(),
            tx: TxArgs { value: None, gas: None },
            rpc: rpc_args(),
        }))
    })
    .await
    .context("deploying the demo ERC-20")?;
    let bob = evm_cli::account_evm_address("//Bob")?;
    evm_cli::evm(EvmCommand::Send(SendArgs {
        cluster: cluster.clone(),
        to: token.to_string(),
        function: "transfer".into(),
        args: vec![bob.to_string(), TOKEN_TRANSFER.into()],
        abi: Some(artifact.clone()),
        from: "//Alice".into(),
        worker: worker.clone(),
        tx: TxArgs { value: None, gas: None },
        rpc: rpc_args(),
    }))
    .await
    .context("the demo ERC-20 transfer")?;
    let a = artifact.display();
    println!(
        "demo ERC-20 {token} in EVM cluster {id}: {TOKEN_SUPPLY} minted to //Alice, \
         {TOKEN_TRANSFER} sent to //Bob ({bob}). Try:\n  \
         export UMBRA_RPC={rpc} UMBRA_WORKER={worker}\n  \
         umbra evm call --cluster {id} --to {token} balanceOf {bob} --abi {a} --as //Bob\n  \
         umbra evm send --cluster {id} --to {token} transfer {bob} 1 --abi {a} --from //Alice\n  \
         umbra evm logs --cluster {id} --abi {a} --as //Alice"
    );
    Ok(())
}

/// The query URL of a local worker assigned to the contract whose record is `info`.
async fn assigned_worker_url(
    info: &serde_json::Value,
    query_port: u16,
    workers: usize,
) -> Option<String> {
    let assigned: Vec<String> =
        serde_json::from_value(info["assigned"].clone()).unwrap_or_default();
    for i in 0..workers {
        let url = format!("http://127.0.0.1:{}", query_port as usize + i);
        let Ok(w) = umbra_client::worker::info(&url).await else { continue };
        if w["identity"].as_str().is_some_and(|me| assigned.iter().any(|a| a == me)) {
            return Some(url);
        }
    }
    None
}

/// Creates an EVM cluster deployed by //Alice with `salt` (so its id is the same on every run)
/// and waits for its key; returns its on-chain record.
async fn create_dev_cluster(
    client: &Client,
    salt: &[u8],
    workers: usize,
    what: &str,
) -> anyhow::Result<serde_json::Value> {
    use umbra_runtime::{contracts, Call};
    let alice = umbra_client::cli::pair_from_uri("//Alice")?;
    let kind = umbra_contracts::ContractKind::Evm;
    let id = umbra_contracts::contract_id(&alice.public(), kind, salt);
    let inc = client
        .sign_and_watch(
            &alice,
            Call::Contracts(contracts::Call::Deploy {
                kind,
                salt: salt.to_vec(),
                quorum: (workers < 2).then_some(1),
            }),
            0,
        )
        .await?;
    if !inc.success {
        bail!(
            "creating the {what}: {}",
            umbra_client::cli::failure_reason(&inc).unwrap_or_default()
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = umbra_client::contracts_cli::contract_info(client, &id).await?;
        if !info["pubkey"].is_null() {
            return Ok(info);
        }
        if Instant::now() > deadline {
            bail!("the {what}'s key was not published within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Retries `step` while the assigned worker is still receiving the cluster's key (it refuses
/// before anything is pushed, so a retry is safe).
async fn while_key_arrives<T, F, Fut>(mut step: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match step().await {
            Ok(v) => return Ok(v),
            Err(e)
                if format!("{e:#}").contains("does not run that contract")
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Err(e) => return Err(e),
        }
    }
}

/// Salt of the demo applications' cluster (//Alice deploys it: the same id on every run).
const APPS_CLUSTER_SALT: &[u8] = b"umbra-dev-apps";
/// The demo vault's secret (a made-up private key).
const DEMO_SECRET: &str =
    "demo private key 0x8f2a559490b7a0cfbd0a9e47b4de5b8a5fcb1e7a3cc1a2f41f0b1ec3f7a9d21c";
/// The demo collection's items.
const DEMO_ITEMS: [&str; 6] =
    ["Golden Dragon", "Silver Fox", "Bronze Owl", "Jade Tiger", "Ruby Crane", "Pearl Swan"];

/// Creates the applications' cluster (one cluster for the three apps of docs/APPS.md: one key
/// and one assignment for the demo, and the apps could call each other), deploys
/// PrivateAssets, SecretVault and MysteryBoxes into it with //Alice, sets up demo data through
/// the `umbra asset|secret|box` functions, and prints what to try. Skipped when the cluster
/// exists (an earlier run on this base path).
async fn start_apps(
    client: &Client,
    rpc: &str,
    query_port: u16,
    workers: usize,
) -> anyhow::Result<()> {
    use umbra_client::apps::{
        asset::{self, AssetApp, AssetCommand},
        boxes::{self, BoxApp, BoxCommand},
        secret::{self, SecretCommand, SecretInput, VaultApp},
        AppTarget,
    };
    use umbra_contracts::evm::EvmCommand as EvmTx;
    use umbra_evm_abi::apps::{
        MYSTERY_BOXES_ARTIFACT, PRIVATE_ASSETS_ARTIFACT, SECRET_VAULT_ARTIFACT,
    };
    let alice = umbra_client::cli::pair_from_uri("//Alice")?;
    let kind = umbra_contracts::ContractKind::Evm;
    let id = umbra_contracts::contract_id(&alice.public(), kind, APPS_CLUSTER_SALT);
    // //Alice deploys the three contracts first, so their addresses follow from her nonce.
    let me = umbra_evm_abi::Address::from(umbra_contracts::evm::evm_address(&alice.public()));
    let (assets_at, vault_at, boxes_at) = (me.create(0), me.create(1), me.create(2));
    let mut by_id = umbra_client::sdk::RpcParams::new();
    by_id.insert(id).context("encoding the cluster id")?;
    let existing: Option<serde_json::Value> = client.call("umbra_contract", by_id).await?;
    let info = match existing {
        Some(info) if info["executed"].as_u64().unwrap_or(0) < 3 => bail!(
            "the demo apps cluster {id} exists without its three contracts (an earlier run \
             stopped during setup); start on a fresh --base-path"
        ),
        Some(info) => {
            println!("demo apps cluster {id} (from an earlier run)");
            info
        }
        None => {
            let info =
                create_dev_cluster(client, APPS_CLUSTER_SALT, workers, "demo apps cluster").await?;
            let worker = assigned_worker_url(&info, query_port, workers)
                .await
                .context("no assigned worker of the demo apps cluster answers")?;
            let rpc_args = umbra_client::cli::RpcArgs { rpc: rpc.to_string() };
            let session =
                umbra_client::evm_cli::EvmSession::connect(&rpc_args, id, &worker).await?;
            for (name, artifact) in [
                ("PrivateAssets", PRIVATE_ASSETS_ARTIFACT),
                ("SecretVault", SECRET_VAULT_ARTIFACT),
                ("MysteryBoxes", MYSTERY_BOXES_ARTIFACT),
            ] {
                let code = umbra_evm_abi::Artifact::from_json(artifact)?.bytecode.to_vec();
                let tx = EvmTx::Deploy { code, value: 0, gas_limit: 10_000_000 };
                let r = while_key_arrives(|| session.transact(&alice, &tx))
                    .await
                    .with_context(|| format!("deploying {name}"))?;
                let at = r.created.with_context(|| format!("{name} was not deployed: {r:?}"))?;
                println!("demo apps: {name} deployed at {}", umbra_evm_abi::Address::from(at));
            }
            let target = || AppTarget {
                cluster: id.to_string(),
                worker: worker.clone(),
                rpc: rpc_args.clone(),
            };
            let a = || AssetApp { at: assets_at.to_string(), target: target() };
            let b = || BoxApp { at: boxes_at.to_string(), target: target() };
            let alice_uri = || "//Alice".to_string();
            asset::asset(AssetCommand::Deposit {
                amount: "100".into(),
                from: alice_uri(),
                app: a(),
            })
            .await
            .context("the demo deposit")?;
            asset::asset(AssetCommand::Transfer {
                to: "//Bob".into(),
                amount: "25".into(),
                asset: "0".into(),
                from: alice_uri(),
                app: a(),
            })
            .await
            .context("the demo private transfer")?;
            asset::asset(AssetCommand::Issue {
                name: "Umbra Gold".into(),
                symbol: "GLD".into(),
                supply: "1000000".into(),
                from: alice_uri(),
                app: a(),
            })
            .await
            .context("the demo token")?;
            secret::secret(SecretCommand::Create {
                secret: SecretInput { secret: Some(DEMO_SECRET.into()), secret_file: None },
                allowed: vec!["//Bob".into()],
                guardians: vec!["//Charlie".into(), "//Dave".into(), "//Eve".into()],
                threshold: 2,
                delay: 3,
                once: true,
                from: alice_uri(),
                app: VaultApp { at: vault_at.to_string(), target: target() },
            })
            .await
            .context("the demo vault")?;
            boxes::boxes(BoxCommand::Mint {
                name: "Umbra Dev Zoo".into(),
                items: DEMO_ITEMS.iter().map(|s| s.to_string()).collect(),
                from: alice_uri(),
                app: b(),
            })
            .await
            .context("the demo collection")?;
            boxes::boxes(BoxCommand::List {
                collection: "0".into(),
                box_: "0".into(),
                price: "5".into(),
                pay_to: None,
                from: alice_uri(),
                app: b(),
            })
            .await
            .context("the demo listing")?;
            umbra_client::contracts_cli::contract_info(client, &id).await?
        }
    };
    let worker = assigned_worker_url(&info, query_port, workers)
        .await
        .unwrap_or_else(|| format!("http://127.0.0.1:{query_port}"));
    println!(
        "demo apps (docs/APPS.md) in EVM cluster {id}: private assets (//Alice deposited 100 UMB \
         and sent 25 to //Bob privately, issued GLD as asset 1), secret vault 0 (//Bob may \
         claim after 2 of //Charlie //Dave //Eve approve and 3 blocks), mystery-box collection \
         0 (6 boxes of //Alice, box 0 for sale at 5 UMB). Try:\n  \
         export UMBRA_RPC={rpc} UMBRA_WORKER={worker} UMBRA_APPS_CLUSTER={id} \\\n    \
         UMBRA_ASSETS={assets_at} UMBRA_SECRET_VAULT={vault_at} UMBRA_BOXES={boxes_at}\n  \
         umbra asset balance --as //Bob\n  \
         umbra asset transfer //Charlie 5 --from //Bob\n  \
         umbra secret request 0 --from //Bob\n  \
         umbra secret approve 0 //Bob --from //Charlie    # and --from //Dave\n  \
         umbra secret claim 0 --from //Bob                # after the time lock\n  \
         umbra secret log 0 --as //Alice\n  \
         umbra box info 0\n  \
         umbra box buy 0 0 --from //Bob\n  \
         umbra box open 0 0 --from //Bob                  # then umbra box verify 0 --item .. --salt .."
    );
    Ok(())
}

/// Least stake each dev worker computes with (more when its benchmark score requires it).
const DEV_STAKE_UMB: u128 = 1_000;

/// Once the workers are registered, each operator creates a stake pool (10% commission), binds
/// its workers, contributes the stake and starts computing, so the network earns from the start.
async fn start_computing(client: &Client, workers: usize) -> anyhow::Result<()> {
    use umbra_runtime::{stake_pools, Call};
    let deadline = Instant::now() + Duration::from_secs(60);
    let registered = loop {
        let list = client.workers().await?;
        if list.len() >= workers {
            break list;
        }
        if Instant::now() > deadline {
            bail!("only {} of {workers} workers registered within 60 s", list.len());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for (i, operator) in OPERATORS.iter().enumerate().take(workers.min(OPERATORS.len())) {
        let pair = umbra_client::cli::pair_from_uri(operator)?;
        let mine: Vec<umbra_primitives::AccountId> = registered
            .iter()
            .filter(|w| w["operator"].as_str() == Some(&pair.public().to_ss58()))
            .filter_map(|w| w["identity"].as_str()?.parse().ok())
            .collect();
        // A worker already bound to a pool (an earlier run on this base path) keeps it.
        let mut fresh = Vec::new();
        for w in mine {
            let session: serde_json::Value =
                client.call("umbra_workerSession", rpc_params(&w.to_ss58())).await?;
            if session.is_null() {
                fresh.push(w);
            }
        }
        let mine = fresh;
        if mine.is_empty() {
            continue;
        }
        let inc = client
            .sign_and_watch(
                &pair,
                Call::StakePools(stake_pools::Call::Create { commission: 100_000 }),
                0,
            )
            .await?;
        let pool = inc
            .events
            .iter()
            .find_map(|e| e["StakePools"]["PoolCreated"]["pool"].as_u64())
            .context("pool creation failed")?;
        // Each worker needs at least `minStakePerSqrtScore × √score` (a fast machine scores high).
        let params: serde_json::Value =
            client.call("umbra_computation", jsonrpsee_params()).await?;
        let per_sqrt: u128 = params["params"]["minStakePerSqrtScore"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let stakes: Vec<u128> = mine
            .iter()
            .map(|w| {
                let score = registered
                    .iter()
                    .find(|r| r["identity"].as_str() == Some(&w.to_ss58()))
                    .and_then(|r| r["benchmarkScore"].as_u64())
                    .unwrap_or(0);
                (per_sqrt * ((score as f64).sqrt().ceil() as u128))
                    .max(DEV_STAKE_UMB * umbra_primitives::UNITS)
            })
            .collect();
        let total: u128 = stakes.iter().sum();
        let mut calls =
            vec![Call::StakePools(stake_pools::Call::Contribute { pool, amount: total })];
        for (w, stake) in mine.iter().zip(&stakes) {
            calls.push(Call::StakePools(stake_pools::Call::AddWorker { pool, worker: *w }));
            calls.push(Call::StakePools(stake_pools::Call::StartComputing {
                pool,
                worker: *w,
                stake: *stake,
            }));
        }
        for call in calls {
            let inc = client.sign_and_watch(&pair, call, 0).await?;
            if !inc.success {
                bail!(
                    "setting up pool {pool} of {operator}: {}",
                    umbra_client::cli::failure_reason(&inc).unwrap_or_default()
                );
            }
        }
        println!(
            "pool {pool} of {operator}: {} worker(s) computing, {} staked",
            mine.len(),
            umbra_primitives::format_amount(total)
        );
        let _ = i;
    }
    Ok(())
}

/// Starts the workers computing, elects a gatekeeper, deploys the demo guestbook and the demo
/// ERC-20 cluster — each step only if it was not done by an earlier run on the same base path.
async fn set_up(
    rpc: String,
    workers: usize,
    base_path: PathBuf,
    query_port: u16,
    analytics_port: u16,
) -> anyhow::Result<()> {
    if workers == 0 {
        return Ok(());
    }
    let client = Client::connect(&rpc).await?;
    start_computing(&client, workers).await.context("cannot start the workers computing")?;
    start_confidential(&client, workers)
        .await
        .context("cannot set up the gatekeeper and the demo contract")?;
    start_token(&client, &rpc, &base_path, query_port, workers)
        .await
        .context("cannot set up the demo ERC-20")?;
    crate::analytics::dev_demo(&client, &rpc, workers, query_port, analytics_port)
        .await
        .context("cannot set up the analytics demo site")?;
    start_apps(&client, &rpc, query_port, workers).await.context("cannot set up the demo apps")
}

/// Runs the local network until Ctrl-C or until the node dies. A worker that dies is reported
/// and can be restarted (`restart N` on stdin, or `POST /api/workers/N/restart` on the
/// dashboard); the rest keep running.
pub(crate) async fn run(
    args: DevArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    if args.workers > 64 {
        bail!("--workers is at most 64 on one machine");
    }
    let logs = args.base_path.join("logs");
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let rpc = format!("ws://127.0.0.1:{}", args.rpc_port);
    let mut procs = Vec::new();

    let mut node_args = vec![
        "node".to_string(),
        "--dev".into(),
        "--base-path".into(),
        args.base_path.join("node").display().to_string(),
        "--rpc-addr".into(),
        format!("127.0.0.1:{}", args.rpc_port),
    ];
    if let Some(t) = args.block_time_ms {
        node_args.extend(["--block-time-ms".into(), t.to_string()]);
    }
    // With --validators N: validator 0 is "the node" (RPC for the workers and the dashboard);
    // validators 1.. run beside it.
    let mut validators = Vec::new();
    if let Some(n) = args.validators {
        let spec = crate::dev_bft::write_spec(&args.base_path, n)?;
        let v = |i| {
            let (rpc, p2p, t) = (args.rpc_port, args.p2p_port, args.block_time_ms);
            crate::dev_bft::validator_args(&spec, &args.base_path, i, n, rpc, p2p, t)
        };
        node_args = v(0);
        for i in 1..n {
            let name = format!("validator-{i}");
            let p = spawn(&name, v(i), logs.join(format!("{name}.log")))?;
            println!(
                "{name}  ws://127.0.0.1:{}  pid {}",
                args.rpc_port as usize + i,
                p.pid().unwrap_or(0)
            );
            validators.push(p);
        }
    }
    procs.push(spawn("node", node_args, logs.join("node.log"))?);

    let result = async {
        let client = {
            let start = Instant::now();
            loop {
                if let Some(child) = procs[0].child.as_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        procs[0].child = None;
                        bail!(
                            "the node exited ({status}); see {}",
                            logs.join("node.log").display()
                        );
                    }
                }
                match Client::connect(&rpc).await {
                    Ok(c) => break c,
                    Err(_) if start.elapsed() < Duration::from_secs(30) => {
                        tokio::time::sleep(Duration::from_millis(200)).await
                    }
                    Err(e) => {
                        bail!("node did not come up (see {}): {e}", logs.join("node.log").display())
                    }
                }
            }
        };
        println!(
            "node      {rpc}  pid {}  (logs: {})",
            procs[0].pid().unwrap_or(0),
            logs.join("node.log").display()
        );
        for i in 0..args.workers {
            let name = format!("worker-{i}");
            let addr = format!("127.0.0.1:{}", args.query_port as usize + i);
            let operator = OPERATORS[i % OPERATORS.len()];
            let worker_args = vec![
                "worker".to_string(),
                "--rpc".into(),
                rpc.clone(),
                "--base-path".into(),
                args.base_path.join(&name).display().to_string(),
                "--platform".into(),
                "simulated".into(),
                "--query-addr".into(),
                addr.clone(),
                "--operator".into(),
                operator.into(),
            ];
            let log = logs.join(format!("{name}.log"));
            let p = spawn(&name, worker_args, log.clone())?;
            println!(
                "{name}  http://{addr}  pid {}  operator {operator}  (logs: {})",
                p.pid().unwrap_or(0),
                log.display()
            );
            procs.push(p);
        }
        println!("simulated platform: INSECURE, for development only.");
        Ok(client)
    }
    .await;
    let client = match result {
        Ok(c) => c,
        Err(e) => {
            stop_all(&mut procs);
            stop_all(&mut validators);
            return Err(e);
        }
    };

    // The dashboard, in this process; a busy port does not stop the network.
    let (control_tx, mut control_rx) = mpsc::channel::<Control>(16);
    let (dash_stop_tx, dash_stop_rx) = oneshot::channel::<()>();
    let dashboard_addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.dashboard_port));
    let dashboard = match crate::dashboard::bind(dashboard_addr).await {
        Ok(listener) => {
            println!("dashboard http://{dashboard_addr}");
            let rpc = rpc.clone();
            let control = control_tx.clone();
            Some(tokio::spawn(async move {
                let stop = async {
                    let _ = dash_stop_rx.await;
                };
                if let Err(e) = crate::dashboard::serve(listener, &rpc, Some(control), stop).await {
                    eprintln!("dashboard stopped: {e:#}");
                }
            }))
        }
        Err(e) => {
            println!("no dashboard: {e:#} (choose another port with --dashboard-port)");
            None
        }
    };
    read_commands(control_tx);
    println!(
        "If a worker dies the rest keep running: type `restart N` + Enter (or POST \
         /api/workers/N/restart to the dashboard). Ctrl-C stops the network."
    );

    let mut setup = tokio::spawn(set_up(
        rpc.clone(),
        args.workers,
        args.base_path.clone(),
        args.query_port,
        args.analytics_port,
    ));
    let mut setup_done = false;
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut last_status = Instant::now();
    let mut last = String::new();
    let outcome = loop {
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            r = &mut setup, if !setup_done => {
                setup_done = true;
                // The processes are up: a failed setup step (say, a worker killed while the
                // demo contract was starting) is reported, and the network keeps running.
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => println!(
                        "warning: {}; the network keeps running",
                        format!("{e:#}").replace('\n', " ")
                    ),
                    Err(e) => println!("warning: setting up the network: {e}"),
                }
            }
            Some(request) = control_rx.recv() => match request {
                Control::Procs(reply) => { let _ = reply.send(procs_json(&procs)); }
                Control::Restart(index, reply) => {
                    let r = restart_worker(&mut procs, index);
                    if let Ok(m) = &r { println!("{m}"); }
                    let _ = reply.send(r);
                }
            },
            _ = tick.tick() => {
                let mut node_died = None;
                for (i, name, status) in reap(&mut procs) {
                    let log = logs.join(format!("{name}.log"));
                    if i == 0 {
                        node_died = Some(anyhow::anyhow!(
                            "the node exited unexpectedly ({status}); see {}", log.display()
                        ));
                    } else {
                        println!(
                            "{name} exited ({status}); the rest keep running. Type `restart {}` \
                             + Enter to restart it (logs: {})",
                            i - 1,
                            log.display()
                        );
                    }
                }
                if let Some(e) = node_died {
                    break Err(e);
                }
                if last_status.elapsed() >= Duration::from_secs(2) {
                    last_status = Instant::now();
                    if let Ok(line) = status_line(&client).await {
                        if line != last {
                            println!("{line}");
                            last = line;
                        }
                    }
                }
            }
        }
    };
    if outcome.is_ok() {
        println!("stopping the network");
    }
    setup.abort();
    stop_all(&mut procs);
    stop_all(&mut validators);
    let _ = dash_stop_tx.send(());
    if let Some(d) = dashboard {
        let _ = tokio::time::timeout(Duration::from_secs(2), d).await;
    }
    outcome
}
