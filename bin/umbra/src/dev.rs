//! `umbra dev`: a whole local network in one command — a dev node and N workers on the
//! simulated platform, each its own process talking over real RPC. Ctrl-C stops them all.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use umbra_client::Client;

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
}

struct Proc {
    name: String,
    child: Child,
}

fn spawn(name: &str, args: &[String], log: &Path) -> anyhow::Result<Proc> {
    let exe = std::env::current_exe().context("cannot find the umbra executable")?;
    let log_file =
        fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
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
    let child = cmd.spawn().with_context(|| format!("cannot start {name}"))?;
    Ok(Proc { name: name.to_string(), child })
}

fn stop_all(procs: &mut [Proc]) {
    for p in procs.iter_mut().rev() {
        // SIGTERM lets each process seal its state and close its database cleanly.
        unsafe {
            libc::kill(p.child.id() as libc::pid_t, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for p in procs.iter_mut().rev() {
        loop {
            match p.child.try_wait() {
                Ok(Some(status)) => {
                    println!("{} stopped ({status})", p.name);
                    break;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = p.child.kill();
                    let _ = p.child.wait();
                    println!("{} killed after the grace period", p.name);
                    break;
                }
            }
        }
    }
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
    let inc = client
        .sign_and_watch(&alice, Call::Gatekeeper(gatekeeper::Call::Elect { worker: first }), 0)
        .await?;
    if !inc.success {
        bail!(
            "electing the gatekeeper: {}",
            umbra_client::cli::failure_reason(&inc).unwrap_or_default()
        );
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
    println!("gatekeeper {first} holds the master key");
    let kind = umbra_contracts::ContractKind::Guestbook;
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
    let id = umbra_contracts::contract_id(&alice.public(), kind, b"umbra-dev-demo");
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

/// Runs the local network until Ctrl-C.
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
    procs.push(spawn("node", &node_args, &logs.join("node.log"))?);

    let result = async {
        let client = {
            let start = Instant::now();
            loop {
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
        println!("node      {rpc}  (logs: {})", logs.join("node.log").display());
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
            procs.push(spawn(&name, &worker_args, &logs.join(format!("{name}.log")))?);
            println!(
                "{name}  http://{addr}  operator {operator}  (logs: {})",
                logs.join(format!("{name}.log")).display()
            );
        }
        println!("simulated platform: INSECURE, for development only. Ctrl-C stops the network.");
        Ok(client)
    }
    .await;

    let client = match result {
        Ok(c) => c,
        Err(e) => {
            stop_all(&mut procs);
            return Err(e);
        }
    };
    tokio::pin!(shutdown);
    if args.workers > 0 {
        tokio::select! {
            _ = &mut shutdown => { println!("stopping the network"); stop_all(&mut procs); return Ok(()); }
            r = start_computing(&client, args.workers) => if let Err(e) = r {
                stop_all(&mut procs);
                return Err(e.context("cannot start the workers computing"));
            }
        }
    }
    if args.workers > 0 {
        tokio::select! {
            _ = &mut shutdown => { println!("stopping the network"); stop_all(&mut procs); return Ok(()); }
            r = start_confidential(&client, args.workers) => if let Err(e) = r {
                stop_all(&mut procs);
                return Err(e.context("cannot set up the gatekeeper and the demo contract"));
            }
        }
    }
    let mut last = String::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        for p in procs.iter_mut() {
            if let Ok(Some(status)) = p.child.try_wait() {
                let name = p.name.clone();
                stop_all(&mut procs);
                bail!(
                    "{name} exited unexpectedly ({status}); see {}",
                    logs.join(format!("{name}.log")).display()
                );
            }
        }
        if let Ok(line) = status_line(&client).await {
            if line != last {
                println!("{line}");
                last = line;
            }
        }
    }
    println!("stopping the network");
    stop_all(&mut procs);
    Ok(())
}
