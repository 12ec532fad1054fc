//! `umbra dev` survives its parts: a worker that dies is reported and the rest keep running; it
//! is restarted with `restart N` on stdin and comes back with its sealed identity; the network
//! started again on the same base path resumes (the demo guestbook and the demo ERC-20 are not
//! deployed again, nor the demo apps); only the node dying stops it. The demo ERC-20's printed `umbra evm call`
//! works as printed.

mod common;
mod devnet;

use std::time::Duration;

use common::wait_for;
use devnet::DevNet;
use serde_json::json;

#[test]
fn a_dead_worker_is_restarted_with_its_identity_and_only_the_node_stops_the_network() {
    let dir = tempfile::Builder::new().prefix("umbra-it-devsurv-").tempdir().expect("tempdir");
    let base = dir.path().join("net");
    let mut net = DevNet::start(&base, 2);
    let registered = net.wait_all_computing(Duration::from_secs(180));
    let id0 = wait_for(Duration::from_secs(30), "worker-0 /info", || net.worker_identity(0));
    let id1 = wait_for(Duration::from_secs(30), "worker-1 /info", || net.worker_identity(1));
    assert!(registered.contains(&id0) && registered.contains(&id1), "{registered:?}");

    wait_for(Duration::from_secs(120), "the demo contract", || {
        net.assert_running();
        net.log().contains("demo guestbook").then_some(())
    });

    // The demo ERC-20: deployed into its own EVM cluster, one transfer to //Bob, and the
    // `umbra evm` commands printed to try work as printed (here: Bob reads his own balance).
    let log = wait_for(Duration::from_secs(120), "the demo ERC-20", || {
        net.assert_running();
        let log = net.log();
        log.contains("minted to //Alice").then_some(log)
    });
    // The demo apps (docs/APPS.md) finish their setup before anything is killed.
    wait_for(Duration::from_secs(300), "the demo apps", || {
        net.assert_running();
        net.log().contains("demo apps (docs/APPS.md)").then_some(())
    });
    let lines: Vec<&str> = log.lines().map(str::trim).collect();
    let env: Vec<&str> = lines
        .iter()
        .find_map(|l| l.strip_prefix("export "))
        .expect("the environment to export")
        .split_whitespace()
        .collect();
    let var = |name: &str| {
        env.iter().find_map(|v| v.strip_prefix(name)).expect("a printed variable").to_string()
    };
    let (rpc, worker) = (var("UMBRA_RPC="), var("UMBRA_WORKER="));
    let call = lines
        .iter()
        .find(|l| l.starts_with("umbra evm call "))
        .expect("a printed `umbra evm call`");
    let mut argv: Vec<&str> = call.split_whitespace().skip(1).collect();
    argv.extend(["--rpc", &rpc, "--worker", &worker]);
    let run = common::umbra(&argv);
    assert_eq!(run.ok().trim(), "250", "Bob's balance through `{call}`");

    // The pids are printed and served; SIGKILL worker-0.
    let pid0 = net.kill_worker(0);
    assert!(net.log().contains(&format!("pid {pid0}")), "worker pids are printed:\n{}", net.log());
    wait_for(Duration::from_secs(30), "umbra dev to report worker-0's death", || {
        net.assert_running();
        net.log().contains("worker-0 exited").then_some(())
    });
    assert!(net.log().contains("restart 0"), "the output says how to restart it:\n{}", net.log());
    let p = net.worker_proc(0).expect("worker-0 in /api/procs");
    assert_eq!(p["running"], json!(false), "{p}");
    assert!(p["exit"].as_str().unwrap_or("").contains('9'), "killed by signal 9: {p}");

    // The rest keep running: blocks go on, worker-1 still answers and is still computing.
    let h = net.head().expect("head");
    wait_for(Duration::from_secs(60), "20 more blocks after the worker died", || {
        net.assert_running();
        (net.head()? >= h + 20).then_some(())
    });
    assert_eq!(net.worker_identity(1).as_deref(), Some(id1.as_str()));
    let pid1 = net.worker_proc(1).and_then(|p| p["pid"].as_u64()).expect("worker-1 pid");

    // Bad input changes nothing: a running worker is not restarted, an unknown one is refused.
    net.type_line("restart 1");
    net.type_line("restart 7");
    net.type_line("restart x");
    wait_for(Duration::from_secs(20), "the refusals", || {
        let log = net.log();
        (log.contains("cannot restart: worker-1 is running")
            && log.contains("cannot restart: no worker 7")
            && log.contains("`restart N` takes a worker number"))
        .then_some(())
    });
    assert_eq!(
        net.worker_proc(1).and_then(|p| p["pid"].as_u64()),
        Some(pid1),
        "worker-1 untouched"
    );
    assert_eq!(net.worker_proc(0).expect("worker-0")["running"], json!(false));

    // `restart 0`: same base path, so the same sealed identity comes back.
    net.type_line("restart 0");
    wait_for(Duration::from_secs(20), "worker-0 restarted", || {
        net.log().contains("worker-0 restarted (pid").then_some(())
    });
    let p = net.worker_proc(0).expect("worker-0");
    assert_eq!(p["running"], json!(true), "{p}");
    assert_eq!(p["restarts"], json!(1), "{p}");
    assert_ne!(p["pid"].as_u64(), Some(pid0 as u64));
    let again =
        wait_for(Duration::from_secs(60), "restarted worker-0 /info", || net.worker_identity(0));
    assert_eq!(again, id0, "the restarted worker unsealed its identity");
    let workers = net.rpc("umbra_workers", json!([])).expect("workers");
    assert_eq!(workers.as_array().map(Vec::len), Some(2), "no new registration: {workers}");

    // Ctrl-C (the setup is done), then start again on the same base path: the chain, the
    // workers, their pools, the gatekeeper and the demo contract all resume; nothing is redone.
    let before = net.head().expect("head");
    let first_run = net.log().len();
    let status = net.terminate();
    assert!(status.success(), "umbra dev exit status {status}:\n{}", net.log());
    net.spawn();
    let resumed = wait_for(Duration::from_secs(60), "the resumed node", || net.head());
    assert!(resumed >= before, "the chain resumed at #{resumed}, it was at #{before}");
    let again = net.wait_all_computing(Duration::from_secs(180));
    let mut a = again.clone();
    let mut b = registered.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the same workers, not new registrations");
    let second = wait_for(Duration::from_secs(120), "setup of the resumed network", || {
        net.assert_running();
        let log = net.log()[first_run..].to_string();
        (log.contains("demo guestbook")
            && log.contains("gatekeepers")
            && log.contains("demo EVM")
            && log.contains("demo apps (docs/APPS.md)"))
        .then_some(log)
    });
    assert_eq!(second.matches("(from an earlier run)").count(), 4, "{second}");
    assert!(!second.contains("deployed at"), "the demo apps are not deployed again: {second}");
    assert!(!second.contains("deployed and initialized"), "{second}");
    assert!(!second.contains("deploying the demo ERC-20"), "{second}");
    assert!(!second.contains(" worker(s) computing"), "no new pools: {second}");
    let h = net.head().expect("head");
    wait_for(Duration::from_secs(60), "blocks on the resumed network", || {
        net.assert_running();
        (net.head()? >= h + 8).then_some(())
    });

    // The node dying stops the network, with an error.
    let node_pid = net
        .procs()
        .and_then(|p| p.as_array()?.iter().find(|p| p["kind"] == "node")?["pid"].as_u64())
        .expect("node pid");
    let worker_pids: Vec<u64> =
        (0..2).filter_map(|i| net.worker_proc(i).and_then(|p| p["pid"].as_u64())).collect();
    assert_eq!(unsafe { libc::kill(node_pid as libc::pid_t, libc::SIGKILL) }, 0);
    let status = net.wait_exit(Duration::from_secs(60));
    assert!(!status.success(), "umbra dev must fail when the node dies:\n{}", net.log());
    assert!(net.log().contains("the node exited unexpectedly"), "{}", net.log());
    for pid in worker_pids {
        wait_for(Duration::from_secs(20), "the workers to stop with the network", || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or a zombie waiting for its parent (which just exited).
            (stat.is_empty() || stat.contains(") Z")).then_some(())
        });
    }
}
