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
    let log_file = fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
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
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
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
    Ok(format!("block #{:<6} registered workers: {}", head.number, workers.len()))
}

/// Runs the local network until Ctrl-C.
pub(crate) async fn run(args: DevArgs, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
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
                    Err(e) => bail!("node did not come up (see {}): {e}", logs.join("node.log").display()),
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
            println!("{name}  http://{addr}  operator {operator}  (logs: {})", logs.join(format!("{name}.log")).display());
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
                bail!("{name} exited unexpectedly ({status}); see {}", logs.join(format!("{name}.log")).display());
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
