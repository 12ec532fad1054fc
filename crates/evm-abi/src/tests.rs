//! Tests against the committed artifacts in `solidity/artifacts` (compiled by `solidity/build.js`).

use super::*;
use alloy_json_abi::Error as AbiErrorItem;
use alloy_primitives::{address, keccak256};
use alloy_sol_types::SolValue;
use proptest::prelude::*;

fn artifact_json(name: &str) -> String {
    let path = format!("{}/../../solidity/artifacts/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn artifact(name: &str) -> Artifact {
    Artifact::from_json(&artifact_json(name)).unwrap()
}

const ALICE: Address = address!("00000000000000000000000000000000000a11ce");
const BOB: Address = address!("0000000000000000000000000000000000000b0b");

#[test]
fn every_committed_artifact_loads_with_abi_and_both_codes() {
    for name in ["Token", "Counter", "CounterCaller", "Reverter", "GasBurner", "Raffle"] {
        let a = artifact(name);
        assert!(!a.bytecode.is_empty(), "{name}");
        let runtime = a.deployed_bytecode.as_ref().expect(name);
        assert!(!runtime.is_empty() && runtime.len() < a.bytecode.len(), "{name}");
        assert!(a.abi.functions().next().is_some(), "{name} has functions");
    }
    let token = artifact("Token");
    let ctor = token.abi.constructor.as_ref().unwrap();
    let types: Vec<&str> = ctor.inputs.iter().map(|p| p.ty.as_str()).collect();
    assert_eq!(types, ["string", "string", "uint256"]);
}

#[test]
fn foundry_object_form_and_missing_prefix_are_accepted() {
    let hardhat = artifact("Counter");
    let v: serde_json::Value = serde_json::from_str(&artifact_json("Counter")).unwrap();
    let code = v["bytecode"].as_str().unwrap();
    let foundry = serde_json::json!({
        "abi": v["abi"],
        "bytecode": {"object": code},
        "deployedBytecode": {"object": v["deployedBytecode"]},
    });
    // deployedBytecode as {"object": "0x.."} (the inner value is a string)
    let foundry = serde_json::json!({
        "abi": foundry["abi"],
        "bytecode": foundry["bytecode"],
        "deployedBytecode": {"object": v["deployedBytecode"].as_str().unwrap()},
    });
    assert_eq!(Artifact::from_json(&foundry.to_string()).unwrap(), hardhat);
    let bare = serde_json::json!({"abi": v["abi"], "bytecode": code.trim_start_matches("0x")});
    let a = Artifact::from_json(&bare.to_string()).unwrap();
    assert_eq!(a.bytecode, hardhat.bytecode);
    assert_eq!(a.deployed_bytecode, None);
}

#[test]
fn bad_artifacts_are_refused_with_a_clear_error() {
    let v: serde_json::Value = serde_json::from_str(&artifact_json("Counter")).unwrap();
    let with_code = |code: serde_json::Value| {
        Artifact::from_json(&serde_json::json!({"abi": v["abi"], "bytecode": code}).to_string())
    };
    let e = with_code("0x60zz".into()).unwrap_err();
    assert!(matches!(e, AbiError::BadBytecodeHex { what: "bytecode", .. }), "{e}");
    let e = with_code("0x600".into()).unwrap_err();
    assert!(matches!(e, AbiError::BadBytecodeHex { .. }), "{e}");
    let e = with_code("0x73__$1234$__".into()).unwrap_err();
    assert!(e.to_string().contains("unlinked library"), "{e}");
    let e = with_code("0x".into()).unwrap_err();
    assert!(e.to_string().contains("empty bytecode"), "{e}");
    let e = with_code(serde_json::json!(42)).unwrap_err();
    assert!(matches!(e, AbiError::BadArtifact(_)), "{e}");
    assert!(matches!(Artifact::from_json("not json"), Err(AbiError::BadArtifact(_))));
    assert!(matches!(
        Artifact::from_json("{\"bytecode\":\"0x00\"}"),
        Err(AbiError::BadArtifact(_))
    ));
    let e = Artifact::from_json(r#"{"abi": [{"type": "function"}], "bytecode": "0x00"}"#);
    assert!(matches!(e, Err(AbiError::BadArtifact(_))), "{e:?}");
    let e = e.unwrap_err();
    assert!(!e.to_string().contains('\n'), "one line: {e}");
}

#[test]
fn oversize_code_is_refused_at_the_eip_limits() {
    let abi = "[]";
    let json = |field: &str, len: usize| {
        let code = format!("0x{}", "00".repeat(len));
        if field == "bytecode" {
            format!(r#"{{"abi": {abi}, "bytecode": "{code}"}}"#)
        } else {
            format!(r#"{{"abi": {abi}, "bytecode": "0x00", "deployedBytecode": "{code}"}}"#)
        }
    };
    assert!(Artifact::from_json(&json("bytecode", MAX_INITCODE_SIZE)).is_ok());
    let e = Artifact::from_json(&json("bytecode", MAX_INITCODE_SIZE + 1)).unwrap_err();
    assert_eq!(
        e,
        AbiError::CodeTooLarge { what: "initcode", size: 49_153, limit: 49_152, eip: "EIP-3860" }
    );
    assert!(Artifact::from_json(&json("deployedBytecode", MAX_CODE_SIZE)).is_ok());
    let e = Artifact::from_json(&json("deployedBytecode", MAX_CODE_SIZE + 1)).unwrap_err();
    assert_eq!(
        e,
        AbiError::CodeTooLarge {
            what: "runtime code",
            size: 24_577,
            limit: 24_576,
            eip: "EIP-170"
        }
    );
    // Constructor arguments count towards the initcode limit.
    let mut big = artifact("Token");
    big.bytecode = Bytes::from(vec![0u8; MAX_INITCODE_SIZE - 200]);
    let long_name = "x".repeat(300);
    let e = encode_constructor(&big, &[long_name.as_str(), "T", "1"]).unwrap_err();
    assert!(matches!(e, AbiError::CodeTooLarge { what: "initcode", .. }), "{e}");
}

#[test]
fn encode_call_matches_the_known_erc20_transfer_encoding() {
    let data = encode_call(
        "transfer(address,uint256)",
        &["0x0000000000000000000000000000000000000b0b", "1000"],
    )
    .unwrap();
    // transfer(address,uint256) = 0xa9059cbb
    let mut expected = hex::decode("a9059cbb").unwrap();
    expected.extend_from_slice(&(BOB, U256::from(1000u64)).abi_encode_params());
    assert_eq!(data, expected);
    // Hex integers, `function` prefix and parameter names parse too.
    let same =
        encode_call("function transfer(address to, uint256 v)", &[BOB.to_string(), "0x3e8".into()])
            .unwrap();
    assert_eq!(same, expected);
}

#[test]
fn call_with_the_artifact_abi_by_name_and_by_signature() {
    let token = artifact("Token");
    let by_name = resolve_function(Some(&token.abi), "balanceOf").unwrap();
    let by_sig = resolve_function(Some(&token.abi), "balanceOf(address)").unwrap();
    assert_eq!(by_name, by_sig);
    assert_eq!(by_name.outputs.len(), 1, "the ABI's entry knows the outputs");
    let data = encode_function_call(&by_name, &[ALICE.to_string()]).unwrap();
    assert_eq!(data[..4], keccak256("balanceOf(address)")[..4]);

    let e = resolve_function(Some(&token.abi), "mint").unwrap_err();
    assert!(matches!(e, AbiError::UnknownFunction { .. }), "{e}");
    assert!(e.to_string().contains("transfer(address,uint256)"), "lists what exists: {e}");
    let e = resolve_function(Some(&token.abi), "mint(address,uint256)").unwrap_err();
    assert!(matches!(e, AbiError::UnknownFunction { .. }), "{e}");
    let e = resolve_function(None, "transfer").unwrap_err();
    assert!(matches!(e, AbiError::NeedSignature { .. }), "{e}");
    let e = resolve_function(None, "transfer(address,uint257)").unwrap_err();
    assert!(matches!(e, AbiError::BadSignature { .. }), "{e}");
    assert!(!e.to_string().contains('\n'), "{e}");
    let e = resolve_function(None, "transfer(address").unwrap_err();
    assert!(matches!(e, AbiError::BadSignature { .. }), "{e}");
}

#[test]
fn overloaded_names_need_the_signature() {
    let abi: JsonAbi = serde_json::from_str(
        r#"[{"type":"function","name":"f","inputs":[{"name":"a","type":"uint256"}],"outputs":[],"stateMutability":"nonpayable"},
            {"type":"function","name":"f","inputs":[{"name":"a","type":"address"}],"outputs":[],"stateMutability":"nonpayable"}]"#,
    )
    .unwrap();
    let e = resolve_function(Some(&abi), "f").unwrap_err();
    assert!(matches!(e, AbiError::AmbiguousFunction { .. }), "{e}");
    assert!(e.to_string().contains("f(uint256)") && e.to_string().contains("f(address)"));
    assert_eq!(resolve_function(Some(&abi), "f(address)").unwrap().inputs[0].ty, "address");
}

#[test]
fn malformed_arguments_and_wrong_counts_are_refused() {
    let sig = "transfer(address,uint256)";
    let e = encode_call(sig, &["0x1234", "1"]).unwrap_err();
    match &e {
        AbiError::BadArgument { position, ty, value, .. } => {
            assert_eq!((*position, ty.as_str(), value.as_str()), (1, "address", "0x1234"));
        }
        other => panic!("{other}"),
    }
    assert!(!e.to_string().contains('\n'), "{e}");
    let e = encode_call(sig, &[BOB.to_string().as_str(), "ten"]).unwrap_err();
    assert!(matches!(e, AbiError::BadArgument { position: 2, .. }), "{e}");
    let e = encode_call(sig, &[BOB.to_string().as_str(), "-1"]).unwrap_err();
    assert!(matches!(e, AbiError::BadArgument { position: 2, .. }), "{e}");
    let too_big = format!("{}0", U256::MAX);
    let e = encode_call(sig, &[BOB.to_string(), too_big]).unwrap_err();
    assert!(matches!(e, AbiError::BadArgument { position: 2, .. }), "{e}");
    let e = encode_call("f(uint8)", &["256"]).unwrap_err();
    assert!(matches!(e, AbiError::BadArgument { .. }), "{e}");
    let e = encode_call("f(bytes)", &["0xabc"]).unwrap_err();
    assert!(matches!(e, AbiError::BadArgument { .. }), "{e}");
    let e = encode_call(sig, &[BOB.to_string()]).unwrap_err();
    assert_eq!(e, AbiError::ArgCount { function: sig.into(), expected: 2, got: 1 }, "wrong count");
    let e = encode_constructor(&artifact("Token"), &["Umbra"]).unwrap_err();
    assert!(matches!(e, AbiError::ArgCount { expected: 3, got: 1, .. }), "{e}");
    let e = encode_constructor(&artifact("Counter"), &["1"]).unwrap_err();
    assert!(matches!(e, AbiError::ArgCount { expected: 0, got: 1, .. }), "{e}");
}

#[test]
fn constructor_encoding_appends_the_abi_encoded_arguments() {
    let token = artifact("Token");
    let data = encode_constructor(&token, &["Umbra Token", "UMB", "1000000"]).unwrap();
    assert_eq!(&data[..token.bytecode.len()], token.bytecode.as_ref());
    let args = &data[token.bytecode.len()..];
    let expected = (String::from("Umbra Token"), String::from("UMB"), U256::from(1_000_000u64))
        .abi_encode_params();
    assert_eq!(args, expected.as_slice());
    let counter = artifact("Counter");
    assert_eq!(encode_constructor::<&str>(&counter, &[]).unwrap(), counter.bytecode.to_vec());
    let caller = artifact("CounterCaller");
    let data = encode_constructor(&caller, &[BOB.to_string()]).unwrap();
    assert_eq!(&data[caller.bytecode.len()..], BOB.abi_encode().as_slice());
}

#[test]
fn return_values_decode_to_printable_strings() {
    let token = artifact("Token");
    let f = resolve_function(Some(&token.abi), "balanceOf").unwrap();
    let out = decode_return(&f, &U256::from(12345u64).abi_encode()).unwrap();
    assert_eq!(out, ["12345"]);
    let f = resolve_function(Some(&token.abi), "name").unwrap();
    assert_eq!(
        decode_return(&f, &"Umbra Token".to_string().abi_encode()).unwrap(),
        ["Umbra Token"]
    );
    let f = resolve_function(Some(&token.abi), "decimals").unwrap();
    assert_eq!(decode_return(&f, &U256::from(18u8).abi_encode()).unwrap(), ["18"]);
    let f = resolve_function(Some(&artifact("CounterCaller").abi), "counter").unwrap();
    assert_eq!(decode_return(&f, &ALICE.abi_encode()).unwrap(), [ALICE.to_checksum(None)]);
    // cast-style outputs in the signature
    let f = parse_signature("pair()(uint256,string[],bool)").unwrap();
    let data =
        (U256::from(7u8), vec!["a".to_string(), "b,c".to_string()], true).abi_encode_params();
    assert_eq!(decode_return(&f, &data).unwrap(), ["7", "[\"a\", \"b,c\"]", "true"]);
    // No declared outputs: raw hex.
    let f = parse_signature("f()").unwrap();
    assert_eq!(decode_return(&f, &[0xab]).unwrap(), ["0xab"]);
    assert!(decode_return(&f, &[]).unwrap().is_empty());
    // Truncated data is an error, not a guess.
    let f = resolve_function(Some(&token.abi), "balanceOf").unwrap();
    let e = decode_return(&f, &[0u8; 31]).unwrap_err();
    assert!(matches!(e, AbiError::Decode { .. }), "{e}");
}

#[test]
fn reverts_decode_reason_panic_and_custom_errors() {
    let reverter = artifact("Reverter");
    let data = RevertString::from("value must be non-zero").abi_encode();
    assert_eq!(decode_revert(&data, None).to_string(), "reverted: value must be non-zero");
    let data = Panic::from(0x12u64).abi_encode();
    let r = decode_revert(&data, None);
    assert_eq!(
        r,
        RevertReason::Panic { code: U256::from(0x12u8), meaning: Some(PanicKindStr::DIV.into()) }
    );
    assert_eq!(r.to_string(), "panic 0x12: division or modulo by zero");
    assert_eq!(
        decode_revert(&Panic::from(0x11u64).abi_encode(), None).to_string(),
        "panic 0x11: arithmetic underflow or overflow"
    );
    assert_eq!(
        decode_revert(&Panic::from(0x99u64).abi_encode(), None).to_string(),
        "panic 0x99: unknown code"
    );
    // Custom error from the ABI.
    let unauthorized: &AbiErrorItem = &reverter.abi.error("Unauthorized").unwrap()[0];
    let data = unauthorized
        .abi_encode_input(&[DynSolValue::Address(ALICE), DynSolValue::String("restricted".into())])
        .unwrap();
    let r = decode_revert(&data, Some(&reverter.abi));
    assert_eq!(
        r.to_string(),
        format!(
            "reverted with Unauthorized(caller: {}, why: \"restricted\")",
            ALICE.to_checksum(None)
        )
    );
    // The same data without the ABI (or with another contract's) stays hex.
    assert!(matches!(decode_revert(&data, None), RevertReason::Unknown(_)));
    assert!(matches!(
        decode_revert(&data, Some(&artifact("Counter").abi)),
        RevertReason::Unknown(_)
    ));
    let token = artifact("Token");
    let not_owner = &token.abi.error("NotOwner").unwrap()[0];
    let data = not_owner
        .abi_encode_input(&[DynSolValue::Address(BOB), DynSolValue::Address(ALICE)])
        .unwrap();
    assert_eq!(
        decode_revert(&data, Some(&token.abi)),
        RevertReason::Custom {
            name: "NotOwner".into(),
            args: vec![
                ("caller".into(), BOB.to_checksum(None)),
                ("account".into(), ALICE.to_checksum(None))
            ]
        }
    );
    assert_eq!(decode_revert(&[], None), RevertReason::Empty);
    assert_eq!(decode_revert(&[1, 2], None).to_string(), "reverted with undecoded data 0x0102");
}

struct PanicKindStr;
impl PanicKindStr {
    const DIV: &'static str = "division or modulo by zero";
}

#[test]
fn logs_decode_with_the_abi() {
    let token = artifact("Token");
    let transfer = &token.abi.event("Transfer").unwrap()[0];
    let topics = [transfer.selector(), ALICE.into_word(), BOB.into_word()];
    let data = U256::from(250u64).abi_encode();
    let log = decode_log(&token.abi, &topics, &data).unwrap();
    assert_eq!(
        log.to_string(),
        format!(
            "Transfer(from: {}, to: {}, value: 250)",
            ALICE.to_checksum(None),
            BOB.to_checksum(None)
        )
    );
    // Field order follows the declaration even with indexed fields in between.
    let counter = artifact("Counter");
    let inc = &counter.abi.event("Incremented").unwrap()[0];
    let log = decode_log(
        &counter.abi,
        &[inc.selector(), ALICE.into_word()],
        &U256::from(3u8).abi_encode(),
    )
    .unwrap();
    assert_eq!(log.fields, [("by".into(), ALICE.to_checksum(None)), ("count".into(), "3".into())]);
    // Unknown topic, missing topic, missing indexed topic, short data: errors.
    let e = decode_log(&token.abi, &[B256::ZERO], &data).unwrap_err();
    assert!(matches!(e, AbiError::UnknownEvent { .. }), "{e}");
    assert!(matches!(decode_log(&token.abi, &[], &data), Err(AbiError::UnknownEvent { .. })));
    let e = decode_log(&token.abi, &topics[..2], &data).unwrap_err();
    assert!(matches!(e, AbiError::Decode { .. }), "{e}");
    let e = decode_log(&token.abi, &topics, &data[..16]).unwrap_err();
    assert!(matches!(e, AbiError::Decode { .. }), "{e}");
}

#[test]
fn string_arguments_are_taken_verbatim() {
    let f = parse_signature("f(string,string[])").unwrap();
    let data = encode_function_call(&f, &["\"quoted\", with comma", "[\"a\",\"b\"]"]).unwrap();
    let values = f.abi_decode_input(&data[4..], true).unwrap();
    assert_eq!(values[0], DynSolValue::String("\"quoted\", with comma".into()));
    assert_eq!(
        values[1],
        DynSolValue::Array(vec![DynSolValue::String("a".into()), DynSolValue::String("b".into())])
    );
}

fn any_address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address::from)
}

fn any_u256() -> impl Strategy<Value = U256> {
    any::<[u8; 32]>().prop_map(U256::from_be_bytes)
}

proptest! {
    #[test]
    fn call_arguments_round_trip(
        n in any_u256(),
        who in any_address(),
        s in ".*",
        b in proptest::collection::vec(any::<u8>(), 0..200),
        hex_int in any::<bool>(),
    ) {
        let f = parse_signature("f(uint256,address,string,bytes)(uint256,address,string,bytes)").unwrap();
        let n_arg = if hex_int { format!("{n:#x}") } else { n.to_string() };
        let who_arg = if hex_int { who.to_checksum(None) } else { format!("{who:?}").to_lowercase() };
        let args = [n_arg, who_arg, s.clone(), hex::encode_prefixed(&b)];
        let data = encode_function_call(&f, &args).unwrap();
        let selector = f.selector();
        prop_assert_eq!(&data[..4], selector.as_slice());
        let values = f.abi_decode_input(&data[4..], true).unwrap();
        prop_assert_eq!(
            values,
            vec![
                DynSolValue::Uint(n, 256),
                DynSolValue::Address(who),
                DynSolValue::String(s.clone()),
                DynSolValue::Bytes(b.clone()),
            ]
        );
        // The same values as return data decode to the printed forms.
        let ret = (n, who, s.clone(), Bytes::from(b.clone())).abi_encode_params();
        let printed = decode_return(&f, &ret).unwrap();
        prop_assert_eq!(printed, vec![n.to_string(), who.to_checksum(None), s, hex::encode_prefixed(&b)]);
    }

    #[test]
    fn reason_strings_round_trip(reason in ".*") {
        let data = RevertString::from(reason.clone()).abi_encode();
        prop_assert_eq!(decode_revert(&data, None), RevertReason::Message(reason));
    }

    #[test]
    fn random_return_data_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let token = artifact("Token");
        for f in token.abi.functions() {
            let _ = decode_return(f, &data);
        }
        let _ = decode_revert(&data, Some(&token.abi));
        let _ = decode_log(&token.abi, &[token.abi.event("Transfer").unwrap()[0].selector()], &data);
    }
}
