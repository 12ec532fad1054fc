//! `umbra evm` validation: bad input is refused before any connection is made.

use std::{
    io::ErrorKind,
    net::TcpListener,
    path::{Path, PathBuf},
};

use clap::Parser;

use super::*;

/// The `umbra` command line reduced to `evm ...`, parsed as a user types it.
#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Top,
}

#[derive(Debug, clap::Subcommand)]
enum Top {
    #[command(subcommand)]
    Evm(EvmCommand),
}

const CLUSTER: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
const TOKEN_ADDR: &str = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
const BOB: &str = "0x0000000000000000000000000000000000000b0b";
/// A worker endpoint nothing listens on (validation never gets to ask it).
const WORKER: &str = "http://127.0.0.1:1";

fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../solidity/artifacts")
}

fn token() -> String {
    artifacts().join("Token.json").display().to_string()
}

fn parse(args: &[&str]) -> EvmCommand {
    let mut argv = vec!["umbra", "evm"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}")).cmd {
        Top::Evm(cmd) => cmd,
    }
}

fn send(args: &[&str]) -> SendArgs {
    let mut argv = vec![
        "send",
        "--cluster",
        CLUSTER,
        "--to",
        TOKEN_ADDR,
        "--from",
        "//Alice",
        "--worker",
        WORKER,
    ];
    argv.extend_from_slice(args);
    match parse(&argv) {
        EvmCommand::Send(a) => a,
        other => panic!("{other:?}"),
    }
}

fn send_err(args: &[&str]) -> String {
    let e = prepare_send(&send(args)).unwrap_err();
    let line = format!("{e:#}");
    assert!(!line.contains('\n'), "one line: {line}");
    line
}

#[test]
fn send_encodes_a_signature_call_with_value_and_gas() {
    let p = prepare_send(&send(&["transfer(address,uint256)", BOB, "1000", "--gas", "100000"]))
        .unwrap();
    assert_eq!(p.cluster, CLUSTER.parse::<H256>().unwrap());
    assert_eq!(p.to, TOKEN_ADDR.parse::<Address>().unwrap());
    assert_eq!(
        p.data,
        umbra_evm_abi::encode_call("transfer(address,uint256)", &[BOB, "1000"]).unwrap()
    );
    assert_eq!((p.value, p.gas), (0, 100_000));
    let p = prepare_send(&send(&["deposit()", "--value", "1.5"])).unwrap();
    assert_eq!(p.value, 1_500_000_000_000);
    assert_eq!(p.gas, DEFAULT_GAS);
}

#[test]
fn send_with_an_abi_resolves_bare_names_and_negative_numbers_parse_as_arguments() {
    let p = prepare_send(&send(&["transfer", BOB, "7", "--abi", &token()])).unwrap();
    assert_eq!(p.function.signature(), "transfer(address,uint256)");
    assert_eq!(p.function.outputs.len(), 1);
    // An int256 argument may be negative (not taken for a flag).
    let p = prepare_send(&send(&["set(int256)", "-5"])).unwrap();
    let expected = umbra_evm_abi::encode_call("f(int256)", &["-5"]).unwrap();
    assert_eq!(p.data[4..], expected[4..]);
}

#[test]
fn malformed_input_is_one_clear_line() {
    let e = send_err(&["transfer(address,uint256)", "0x1234", "1"]);
    assert!(e.contains("argument 1") && e.contains("address"), "{e}");
    let e = send_err(&["transfer(address,uint256)", BOB, "12abc"]);
    assert!(e.contains("argument 2"), "{e}");
    let e = send_err(&["transfer(address,uint256)", BOB]);
    assert!(e.contains("takes 2 argument(s), 1 given"), "{e}");
    let e = send_err(&["mint", BOB, "1", "--abi", &token()]);
    assert!(e.contains("no function \"mint\""), "{e}");
    let e = send_err(&["mint(address,uint256)", BOB, "1", "--abi", &token()]);
    assert!(e.contains("no function"), "{e}");
    let e = send_err(&["transfer", BOB, "1"]);
    assert!(e.contains("is not a signature"), "{e}");
    let e = send_err(&["transfer(address,uint256", BOB, "1"]);
    assert!(e.contains("bad function signature"), "{e}");
    let e = send_err(&["transfer(address,uint256)", BOB, "1", "--gas", "20999"]);
    assert!(e.contains("--gas"), "{e}");
    let e = send_err(&["transfer(address,uint256)", BOB, "1", "--gas", "30000001"]);
    assert!(e.contains("--gas"), "{e}");
    let e = send_err(&["transfer(address,uint256)", BOB, "1", "--value", "1.2.3"]);
    assert!(e.contains("--value"), "{e}");
    let e = send_err(&["transfer", BOB, "1", "--abi", &token(), "--value", "1"]);
    assert!(e.contains("not payable"), "{e}");
    let e = send_err(&["transfer", BOB, "1", "--abi", "/nonexistent/Token.json"]);
    assert!(e.contains("cannot read"), "{e}");

    let mut a = send(&["transfer(address,uint256)", BOB, "1"]);
    a.cluster = "0x1234".into();
    assert!(format!("{:#}", prepare_send(&a).unwrap_err()).contains("invalid cluster id"));
    a.cluster = CLUSTER.into();
    a.to = "0x5FBDB2315678afecb367f032d93F642f64180aa4".into(); // checksum case, wrong digit
    assert!(format!("{:#}", prepare_send(&a).unwrap_err()).contains("checksum"));
    a.to = "5fbdb2315678afecb367f032d93f642f64180aa3".into();
    assert!(format!("{:#}", prepare_send(&a).unwrap_err()).contains("0x"));
    a.to = TOKEN_ADDR.into();
    a.from = "not a uri".into();
    assert!(prepare_send(&a).is_err());
}

#[test]
fn evm_addresses_accept_checksums_and_plain_case_only() {
    let checksummed = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    let lower = TOKEN_ADDR;
    assert_eq!(parse_evm_address(checksummed).unwrap(), parse_evm_address(lower).unwrap());
    assert_eq!(
        parse_evm_address(&lower.to_uppercase().replacen("0X", "0x", 1)).unwrap(),
        parse_evm_address(lower).unwrap()
    );
    assert!(parse_evm_address("0x5FbDB2315678afecb367f032d93F642f64180aA3").is_err());
    assert!(parse_evm_address("0x5fbdb2315678afecb367f032d93f642f64180aa").is_err());
    assert!(parse_evm_address("0x5fbdb2315678afecb367f032d93f642f64180aag").is_err());
}

#[test]
fn deploy_encodes_constructor_arguments_from_the_artifact() {
    let cmd = parse(&[
        "deploy",
        "--cluster",
        CLUSTER,
        &token(),
        "Umbra Token",
        "UMB",
        "1000000",
        "--from",
        "//Alice",
        "--worker",
        WORKER,
    ]);
    let EvmCommand::Deploy(args) = cmd else { panic!() };
    let p = prepare_deploy(&args).unwrap();
    let artifact = load_artifact(&args.artifact).unwrap();
    assert_eq!(
        p.initcode,
        umbra_evm_abi::encode_constructor(&artifact, &["Umbra Token", "UMB", "1000000"]).unwrap()
    );
    let cmd = parse(&[
        "deploy",
        "--cluster",
        CLUSTER,
        &token(),
        "Umbra Token",
        "--from",
        "//Alice",
        "--worker",
        WORKER,
    ]);
    let EvmCommand::Deploy(args) = cmd else { panic!() };
    let e = format!("{:#}", prepare_deploy(&args).unwrap_err());
    assert!(e.contains("constructor takes 3 argument(s), 1 given"), "{e}");

    // A bad artifact: non-hex bytecode.
    let dir = std::env::temp_dir().join(format!("umbra-evm-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("Bad.json");
    std::fs::write(&bad, r#"{"abi": [], "bytecode": "0x60zz"}"#).unwrap();
    let cmd = parse(&[
        "deploy",
        "--cluster",
        CLUSTER,
        bad.to_str().unwrap(),
        "--from",
        "//Alice",
        "--worker",
        WORKER,
    ]);
    let EvmCommand::Deploy(args) = cmd else { panic!() };
    let e = format!("{:#}", prepare_deploy(&args).unwrap_err());
    assert!(e.contains("Bad.json") && e.contains("bad bytecode hex"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn call_and_logs_validate_their_options() {
    let cmd = parse(&[
        "call",
        "--cluster",
        CLUSTER,
        "--to",
        TOKEN_ADDR,
        "balanceOf(address)(uint256)",
        BOB,
        "--worker",
        WORKER,
    ]);
    let EvmCommand::Call(args) = cmd else { panic!() };
    let p = prepare_call(&args).unwrap();
    assert_eq!(p.function.outputs.len(), 1);
    let cmd = parse(&[
        "logs",
        "--cluster",
        CLUSTER,
        "--address",
        "0x12",
        "--abi",
        &token(),
        "--worker",
        WORKER,
    ]);
    let EvmCommand::Logs(args) = cmd else { panic!() };
    assert!(format!("{:#}", prepare_logs(&args).unwrap_err()).contains("invalid EVM address"));
    let cmd = parse(&["logs", "--cluster", CLUSTER, "--abi", &token(), "--worker", WORKER]);
    let EvmCommand::Logs(args) = cmd else { panic!() };
    assert_eq!(prepare_logs(&args).unwrap().abis.len(), 1);
}

#[test]
fn outcomes_and_logs_format_with_the_abi() {
    let abi = load_abi(&artifacts().join("Token.json")).unwrap();
    let f = umbra_evm_abi::resolve_function(Some(&abi), "balanceOf").unwrap();
    let mut word = [0u8; 32];
    word[31] = 42;
    assert_eq!(
        format_outcome(Some(&f), Some(&abi), &Outcome::Success(word.to_vec())),
        Ok(vec!["42".into()])
    );
    // Error(string) "no" = 0x08c379a0 ++ offset ++ len ++ data
    let mut revert = hex::decode("08c379a0").unwrap();
    revert.extend_from_slice(&[[0u8; 31].as_slice(), &[0x20]].concat());
    revert.extend_from_slice(&[[0u8; 31].as_slice(), &[2]].concat());
    revert.extend_from_slice(&[b"no".as_slice(), &[0u8; 30]].concat());
    assert_eq!(
        format_outcome(Some(&f), None, &Outcome::Revert(revert)),
        Err("reverted: no".into())
    );
    assert_eq!(
        format_outcome(None, None, &Outcome::Halt("out of gas".into())),
        Err("halted: out of gas".into())
    );
    let transfer = abi.event("Transfer").unwrap()[0].selector();
    let mut from = [0u8; 32];
    from[31] = 1;
    let mut to = [0u8; 32];
    to[31] = 2;
    let addr = parse_evm_address(TOKEN_ADDR).unwrap();
    let line = format_log(std::slice::from_ref(&abi), &addr, &[transfer.0, from, to], &word);
    assert_eq!(
        line,
        format!(
            "{addr} Transfer(from: 0x0000000000000000000000000000000000000001, to: 0x0000000000000000000000000000000000000002, value: 42)"
        )
    );
    // No ABI matches: raw topics and data.
    let raw = format_log(&[], &addr, &[from], &[0xab]);
    assert!(raw.ends_with("data 0xab"), "{raw}");
}

/// A listener standing in for the node's RPC port: bad input must not even connect to it.
fn watched_rpc() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    (listener, url)
}

fn assert_never_connected(listener: &TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the command connected to the node ({peer}) despite bad input"),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn bad_input_fails_before_anything_is_sent() {
    let (listener, url) = watched_rpc();
    let token = token();
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "send",
            "--cluster",
            CLUSTER,
            "--to",
            TOKEN_ADDR,
            "--from",
            "//Alice",
            "--worker",
            WORKER,
            "transfer(address,uint256)",
            "0xzz",
            "1",
            "--rpc",
            &url,
        ],
        vec![
            "send",
            "--cluster",
            CLUSTER,
            "--to",
            TOKEN_ADDR,
            "--from",
            "//Alice",
            "--worker",
            WORKER,
            "burn",
            "1",
            "--abi",
            &token,
            "--rpc",
            &url,
        ],
        vec![
            "send",
            "--cluster",
            CLUSTER,
            "--to",
            TOKEN_ADDR,
            "--from",
            "//Alice",
            "--worker",
            WORKER,
            "transfer(address,uint256)",
            BOB,
            "--rpc",
            &url,
        ],
        vec![
            "deploy",
            "--cluster",
            CLUSTER,
            &token,
            "x",
            "--from",
            "//Alice",
            "--worker",
            WORKER,
            "--rpc",
            &url,
        ],
        vec![
            "call",
            "--cluster",
            CLUSTER,
            "--to",
            "0x1",
            "name()(string)",
            "--worker",
            WORKER,
            "--rpc",
            &url,
        ],
        vec!["logs", "--cluster", "nope", "--worker", WORKER, "--rpc", &url],
        vec!["cluster", "create", "--from", "//Alice", "--quorum", "0", "--rpc", &url],
    ];
    for case in cases {
        let e = evm(parse(&case)).await.unwrap_err();
        let line = format!("{e:#}");
        assert!(!line.contains('\n'), "{case:?}: {line}");
        assert!(!line.contains("nothing sent"), "{case:?} must fail validation: {line}");
        assert_never_connected(&listener);
    }
}

#[test]
fn account_addresses_map_like_the_executor() {
    let eve = umbra_primitives::Pair::from_suri("//Eve").unwrap().public();
    let expected = Address::from(umbra_contracts::evm::evm_address(&eve));
    assert_eq!(account_evm_address("//Eve").unwrap(), expected);
    assert_eq!(account_evm_address(&eve.to_ss58()).unwrap(), expected);
    assert!(account_evm_address("not-an-account").is_err());
}
