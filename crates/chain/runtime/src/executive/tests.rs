use std::collections::BTreeMap;

use proptest::prelude::*;
use umbra_primitives::{Pair, UNITS};

use super::*;
use crate::{genesis::GenesisConfig, Event};

fn pair(s: &str) -> Pair {
    Pair::from_suri(s).unwrap()
}

struct Chain {
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    genesis: H256,
    number: u64,
}

impl Chain {
    fn dev() -> Self {
        Chain {
            state: GenesisConfig::dev().build().unwrap().into_iter().collect(),
            genesis: H256::hash(b"test genesis"),
            number: 0,
        }
    }

    fn init(&self) -> BlockInit {
        BlockInit {
            number: self.number.checked_add(1).unwrap(),
            parent_hash: H256::hash(&self.number.to_le_bytes()),
            timestamp: self.number.checked_add(1).unwrap().checked_mul(1000).unwrap(),
            author: pair("//Alice").public(),
            randomness: [7; 32],
        }
    }

    /// Executes a block with `xts`, returning per-extrinsic results and events, and commits it.
    fn block(
        &mut self,
        xts: &[Vec<u8>],
    ) -> (Vec<Result<ApplyOutcome, InvalidTransaction>>, Vec<EventRecord>) {
        let init = self.init();
        let mut exec = BlockExecutor::new(&self.state, self.genesis, &init);
        let results = xts.iter().map(|x| exec.apply(x, SignatureCheck::Verify)).collect();
        let out = exec.finish().unwrap();
        crate::test_utils::apply_changes(&mut self.state, out.changes);
        self.number = self.number.checked_add(1).unwrap();
        (results, out.events)
    }

    fn overlay(&self) -> Overlay<'_> {
        Overlay::new(&self.state)
    }

    fn xt(&self, who: &str, nonce: u64, call: Call) -> Vec<u8> {
        Extrinsic::new_signed(&pair(who), call, nonce, 0, self.genesis).encode()
    }

    fn sum_of_balances(&self) -> Balance {
        crate::test_utils::sum_of_balances(&self.state)
    }
}

fn transfer(to: &str, amount: Balance) -> Call {
    Call::Balances(balances::Call::Transfer { dest: pair(to).public(), amount })
}

#[test]
fn transfer_in_block_charges_fee_and_bumps_nonce() {
    let mut chain = Chain::dev();
    let xt = chain.xt("//Alice", 0, transfer("//Dave", 5 * UNITS));
    let fee = Parameters::dev().fee(xt.len(), 0).unwrap();
    let (results, events) = chain.block(&[xt]);
    assert_eq!(results[0], Ok(ApplyOutcome { index: 0, success: true }));
    let st = chain.overlay();
    let alice = pair("//Alice").public();
    assert_eq!(balances::account(&st, &alice).free, 1_000_000 * UNITS - 5 * UNITS - fee);
    // The treasury holds the fee plus this block's emission (no worker is online to share it).
    let emitted = crate::computation::EMISSION.get_or_default(&st).total_emitted;
    assert_eq!(emitted, crate::computation::ComputationParams::dev().budget_per_block);
    assert_eq!(balances::account(&st, &balances::treasury_account()).free, fee + emitted);
    assert_eq!(system::nonce(&st, &alice), 1);
    assert!(events
        .iter()
        .any(|r| r.event == Event::System(system::Event::ExtrinsicSuccess { index: 0 })));
    assert!(events.iter().all(|r| r.phase == Phase::ApplyExtrinsic(0)));
}

#[test]
fn failed_call_pays_fee_uses_nonce_and_changes_nothing_else() {
    let mut chain = Chain::dev();
    let xt = chain.xt("//Bob", 0, transfer("//Zed", 2_000_000 * UNITS));
    let fee = Parameters::dev().fee(xt.len(), 0).unwrap();
    let (results, events) = chain.block(&[xt]);
    assert_eq!(results[0], Ok(ApplyOutcome { index: 0, success: false }));
    let st = chain.overlay();
    assert_eq!(balances::account(&st, &pair("//Bob").public()).free, 1_000_000 * UNITS - fee);
    assert!(!balances::exists(&st, &pair("//Zed").public()));
    assert_eq!(system::nonce(&st, &pair("//Bob").public()), 1);
    assert!(events.iter().any(|r| matches!(
        &r.event,
        Event::System(system::Event::ExtrinsicFailed { error, .. })
            if *error == crate::DispatchError::from(balances::Error::InsufficientBalance)
    )));
    // The committed event carries the two indices, not a string.
    let failed = events
        .iter()
        .find(|r| matches!(r.event, Event::System(system::Event::ExtrinsicFailed { .. })))
        .unwrap();
    let encoded = failed.event.encode();
    let error_index = balances::Error::InsufficientBalance.encode()[0];
    // Event::System (0), ExtrinsicFailed (variant 1), index 0 (u32 LE), module 1, error.
    assert_eq!(encoded, vec![0, 1, 0, 0, 0, 0, 1, error_index]);
    assert!(!events
        .iter()
        .any(|r| matches!(r.event, Event::Balances(balances::Event::Transfer { .. }))));
}

#[test]
fn each_bad_input_is_refused_with_its_own_error() {
    let chain = Chain::dev();
    let st = chain.overlay();
    let v = |bytes: &[u8]| validate_transaction(&st, &chain.genesis, bytes, SignatureCheck::Verify);

    let good = chain.xt("//Alice", 0, transfer("//Bob", UNITS));
    assert!(v(&good).is_ok());

    assert!(matches!(v(&[1, 2, 3]), Err(InvalidTransaction::Malformed { .. })));
    assert!(matches!(v(&[]), Err(InvalidTransaction::Malformed { .. })));
    let mut truncated = good.clone();
    truncated.truncate(good.len() - 3);
    assert!(matches!(v(&truncated), Err(InvalidTransaction::Malformed { .. })));
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(v(&trailing), Err(InvalidTransaction::Malformed { .. })));

    let mut version = good.clone();
    version[0] = 9;
    assert!(matches!(v(&version), Err(InvalidTransaction::UnsupportedVersion { version: 9 })));

    let mut bad_sig = good.clone();
    bad_sig[40] ^= 1; // inside the signature
    assert_eq!(v(&bad_sig).unwrap_err(), InvalidTransaction::BadSignature);

    let other_chain =
        Extrinsic::new_signed(&pair("//Alice"), transfer("//Bob", 1), 0, 0, H256::hash(b"x"))
            .encode();
    assert!(matches!(v(&other_chain), Err(InvalidTransaction::WrongGenesis { .. })));

    let far = chain.xt("//Alice", MAX_FUTURE_NONCES + 1, transfer("//Bob", 1));
    assert!(matches!(v(&far), Err(InvalidTransaction::FutureNonce { .. })));
    assert!(v(&chain.xt("//Alice", MAX_FUTURE_NONCES, transfer("//Bob", 1))).is_ok());

    let poor = chain.xt("//Nobody", 0, transfer("//Bob", 1));
    assert!(matches!(v(&poor), Err(InvalidTransaction::InsufficientBalance { free: 0, .. })));

    let mut unknown = good[..good.len()].to_vec();
    // Replace the call with module 1, call 7 (does not exist); signature check comes later.
    let head_len = good.len() - transfer("//Bob", UNITS).encode().len();
    unknown.truncate(head_len);
    unknown.extend_from_slice(&[1, 7, 0, 0]);
    assert_eq!(v(&unknown).unwrap_err(), InvalidTransaction::UnknownCall { module: 1, call: 7 });

    let big = chain.xt("//Alice", 0, Call::System(system::Call::Remark { data: vec![0; 70_000] }));
    assert!(matches!(v(&big), Err(InvalidTransaction::Oversize { .. })));
}

#[test]
fn stale_and_gapped_nonces_are_not_applied() {
    let mut chain = Chain::dev();
    let first = chain.xt("//Alice", 0, transfer("//Bob", UNITS));
    chain.block(std::slice::from_ref(&first));
    let (results, _) = chain.block(&[first, chain.xt("//Alice", 2, transfer("//Bob", UNITS))]);
    assert!(matches!(results[0], Err(InvalidTransaction::StaleNonce { nonce: 0, expected: 1 })));
    assert!(matches!(results[1], Err(InvalidTransaction::FutureNonce { nonce: 2, expected: 1 })));
    assert_eq!(system::nonce(&chain.overlay(), &pair("//Alice").public()), 1);
}

#[test]
fn non_council_cannot_change_parameters_in_a_block() {
    let mut chain = Chain::dev();
    let mut p = Parameters::dev();
    p.base_fee = 1;
    let call = Call::Governance(governance::Call::SetParameters { parameters: p.clone() });
    let (r, _) = chain.block(&[chain.xt("//Bob", 0, call.clone())]);
    assert_eq!(r[0], Ok(ApplyOutcome { index: 0, success: false }));
    assert_eq!(governance::parameters(&chain.overlay()), Parameters::dev());
    let (r, _) = chain.block(&[chain.xt("//Alice", 0, call)]);
    assert_eq!(r[0], Ok(ApplyOutcome { index: 0, success: true }));
    assert_eq!(governance::parameters(&chain.overlay()), p);
}

#[test]
fn block_stops_at_max_extrinsics() {
    let mut chain = Chain::dev();
    let mut p = Parameters::dev();
    p.max_block_extrinsics = 2;
    chain.state.insert(governance::PARAMETERS.key().to_vec(), p.encode());
    let xts: Vec<_> = (0..3).map(|n| chain.xt("//Alice", n, transfer("//Bob", UNITS))).collect();
    let (r, _) = chain.block(&xts);
    assert!(r[0].is_ok() && r[1].is_ok());
    assert_eq!(r[2], Err(InvalidTransaction::ExhaustsResources));
}

const ACCTS: [&str; 4] = ["//Alice", "//Bob", "//Charlie", "//Dave"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever transfers are attempted (affordable or not, to new accounts or not), total
    /// issuance equals the sum of all balances, and nonces count exactly the included extrinsics.
    #[test]
    fn issuance_is_conserved(ops in prop::collection::vec((0usize..4, 0usize..4, 0u128..3_000_000 * UNITS), 1..24)) {
        let mut chain = Chain::dev();
        let mut nonces = [0u64; 4];
        let mut xts = Vec::new();
        for (from, to, amount) in ops {
            xts.push(chain.xt(ACCTS[from], nonces[from], transfer(ACCTS[to], amount)));
            nonces[from] = nonces[from].checked_add(1).unwrap();
        }
        let (results, _) = chain.block(&xts);
        let st = chain.overlay();
        prop_assert_eq!(balances::total_issuance(&st), chain.sum_of_balances());
        let emitted = crate::computation::EMISSION.get_or_default(&st).total_emitted;
        prop_assert_eq!(balances::total_issuance(&st), (6_000_000 * UNITS).checked_add(emitted).unwrap());
        let included = results.iter().filter(|r| r.is_ok()).count() as u64;
        let total_nonces: u64 = ACCTS.iter().map(|a| system::nonce(&st, &pair(a).public())).sum();
        prop_assert_eq!(total_nonces, included);
    }

    /// SCALE round trip of calls and events.
    #[test]
    fn call_and_event_round_trip(amount in any::<u128>(), data in prop::collection::vec(any::<u8>(), 0..64), idx in any::<u32>()) {
        let who = pair("//Bob").public();
        for call in [
            transfer("//Alice", amount),
            Call::System(system::Call::Remark { data: data.clone() }),
            Call::Governance(governance::Call::SetKey { new: who }),
        ] {
            prop_assert_eq!(Call::decode(&mut &call.encode()[..]).unwrap(), call);
        }
        for ev in [
            Event::Balances(balances::Event::Transfer { from: who, to: who, amount }),
            Event::System(system::Event::ExtrinsicFailed {
                index: idx,
                error: crate::DispatchError { module: 9, error: 3 },
            }),
        ] {
            let rec = EventRecord { phase: Phase::ApplyExtrinsic(idx), event: ev };
            prop_assert_eq!(EventRecord::decode(&mut &rec.encode()[..]).unwrap(), rec);
        }
    }
}
