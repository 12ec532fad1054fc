//! The application contracts of docs/APPS.md (`PrivateAssets`, `SecretVault`, `MysteryBoxes`)
//! run in-process with their real compiled artifacts: each user story, each refusal, and the
//! properties (supply conservation, commitments that verify, assignment by the cluster's key).

use super::*;
use crate::contract::ContractKind;
use crate::instance::Instance;
use parity_scale_codec::DecodeAll;
use proptest::prelude::*;
use umbra_evm_abi::{
    alloy_sol_types::{SolCall, SolInterface},
    apps::{
        box_commitment, MysteryBoxes as Mb, PrivateAssets as Pa, SecretVault as Sv,
        MYSTERY_BOXES_ARTIFACT, PRIVATE_ASSETS_ARTIFACT, SECRET_VAULT_ARTIFACT,
    },
    Address, Artifact, B256,
};
use umbra_primitives::H256;

fn acct(n: u8) -> AccountId {
    AccountId::from([n; 32])
}

fn who(n: u8) -> Address {
    Address::from(evm_address(&acct(n)))
}

/// A cluster with one app deployed, a log position and a block that advance per command.
struct App {
    inst: Instance,
    seq: u64,
    block: u64,
    at: [u8; 20],
    /// Public events and payouts of the last command.
    public: Vec<Output>,
}

impl App {
    fn new(artifact: &str, seed: [u8; 32]) -> App {
        let mut inst = Instance::new(ContractKind::Evm);
        inst.set_random_seed(seed);
        let code = Artifact::from_json(artifact).unwrap().bytecode.to_vec();
        let mut app = App { inst, seq: 0, block: 1, at: [0; 20], public: Vec::new() };
        let r = app.run(1, EvmCommand::Deploy { code, value: 0, gas_limit: 10_000_000 }, 0);
        assert_eq!(r.status, EvmStatus::Success, "{r:?}");
        app.at = r.created.unwrap();
        app
    }

    fn run(&mut self, from: u8, cmd: EvmCommand, value: u128) -> EvmReceipt {
        let ctx = CommandContext {
            contract: H256([9; 32]),
            origin: acct(from),
            block: self.block,
            seq: self.seq,
            value,
            gas_limit: crate::gas::MAX_GAS_CAP,
        };
        self.inst.receive_value(&ctx).unwrap();
        let out = self.inst.execute(&ctx, &cmd.encode()).unwrap();
        self.seq = self.seq.saturating_add(1);
        self.block = self.block.saturating_add(1);
        let Output::PrivateEvent { to, payload } = &out[0] else { panic!("no receipt") };
        assert_eq!(*to, acct(from), "the receipt goes to the sender only");
        let receipt = EvmReceipt::decode_all(&mut &payload[..]).unwrap();
        self.public = out[1..].to_vec();
        receipt
    }

    /// A transaction from `from`: the decoded return, or the revert data.
    fn send<C: SolCall>(&mut self, from: u8, call: C, value: u128) -> Result<C::Return, Vec<u8>> {
        let cmd =
            EvmCommand::Call { to: self.at, data: call.abi_encode(), value, gas_limit: 5_000_000 };
        let r = self.run(from, cmd, value);
        match r.status {
            EvmStatus::Success => Ok(C::abi_decode_returns(&r.output, true).unwrap()),
            EvmStatus::Revert => Err(r.output),
            EvmStatus::Halt(h) => panic!("halted: {h}"),
        }
    }

    /// A read-only call signed by `from` (msg.sender).
    fn call<C: SolCall>(&self, from: u8, call: C) -> Result<C::Return, Vec<u8>> {
        let q = EvmQuery::Call { to: self.at, data: call.abi_encode(), gas_limit: 5_000_000 };
        let bytes = self.inst.query(&acct(from), &q.encode()).unwrap();
        match EvmResponse::decode_all(&mut &bytes[..]).unwrap() {
            EvmResponse::Call { status: EvmStatus::Success, output, .. } => {
                Ok(C::abi_decode_returns(&output, true).unwrap())
            }
            EvmResponse::Call { status: EvmStatus::Revert, output, .. } => Err(output),
            other => panic!("{other:?}"),
        }
    }

    fn advance(&mut self, blocks: u64) {
        self.block = self.block.saturating_add(blocks);
    }
}

fn vault_error(data: Result<impl std::fmt::Debug, Vec<u8>>) -> Sv::SecretVaultErrors {
    Sv::SecretVaultErrors::abi_decode(&data.expect_err("expected a revert"), true).unwrap()
}

fn box_error(data: Result<impl std::fmt::Debug, Vec<u8>>) -> Mb::MysteryBoxesErrors {
    Mb::MysteryBoxesErrors::abi_decode(&data.expect_err("expected a revert"), true).unwrap()
}

fn asset_error(data: Result<impl std::fmt::Debug, Vec<u8>>) -> Pa::PrivateAssetsErrors {
    Pa::PrivateAssetsErrors::abi_decode(&data.expect_err("expected a revert"), true).unwrap()
}

fn u(v: u128) -> U256 {
    U256::from(v)
}

fn balance(app: &App, from: u8, asset: u128) -> U256 {
    app.call(from, Pa::balanceOfCall { asset: u(asset) }).unwrap()._0
}

// ---------------------------------------------------------------------------------------------
// Private assets

#[test]
fn private_assets_deposit_transfer_withdraw_and_issue() {
    let mut app = App::new(PRIVATE_ASSETS_ARTIFACT, [1; 32]);
    // Deposit 1,000 public units into //1's private UMB balance.
    let r = app.send(1, Pa::depositCall {}, 1_000).unwrap();
    assert_eq!(r.balance, u(1_000));
    assert_eq!(
        asset_error(app.send(1, Pa::depositCall {}, 0)),
        Pa::PrivateAssetsErrors::ZeroAmount(Pa::ZeroAmount {})
    );

    // A private transfer: the result is two words, no log, whatever the outcome.
    let at = app.at;
    let cmd = |to: u8, amount: u128| EvmCommand::Call {
        to: at,
        data: Pa::transferCall { asset: u(0), to: who(to), amount: u(amount) }.abi_encode(),
        value: 0,
        gas_limit: 200_000,
    };
    let (ok_cmd, refused_cmd) = (cmd(2, 300), cmd(2, 5_000));
    assert_eq!(ok_cmd.encode().len(), refused_cmd.encode().len(), "same command size");
    let ok = app.run(1, ok_cmd, 0);
    let refused = app.run(1, refused_cmd, 0);
    assert_eq!(
        (ok.status.clone(), refused.status.clone()),
        (EvmStatus::Success, EvmStatus::Success)
    );
    // The same gas (what the chain charges, in the clear) for an accepted transfer to a new
    // recipient, a refused one and an accepted one to a known recipient: padded to one figure.
    let known = app.run(1, cmd(2, 1), 0);
    assert_eq!(known.status, EvmStatus::Success);
    assert_eq!((ok.gas_used, refused.gas_used, known.gas_used), (80_000, 80_000, 80_000));
    assert_eq!(ok.output.len(), refused.output.len(), "a refused transfer looks the same size");
    assert!(ok.logs.is_empty() && refused.logs.is_empty(), "transfers emit no logs");
    assert!(app.public.is_empty(), "nothing public");
    let refused = Pa::transferCall::abi_decode_returns(&refused.output, true).unwrap();
    assert_eq!((refused.ok, refused.balance), (false, u(700)), "nothing moved");
    assert_eq!(balance(&app, 1, 0), u(699));
    assert_eq!(balance(&app, 2, 0), u(301));
    assert_eq!(balance(&app, 3, 0), u(0), "a stranger sees only its own (empty) balance");

    // Withdraw back to a chain account: a payout the chain executes.
    let r =
        app.send(2, Pa::withdrawCall { amount: u(100), to: B256::from(*acct(7).as_bytes()) }, 0);
    assert_eq!(r.unwrap().balance, u(201));
    assert_eq!(app.public, vec![Output::Transfer { to: acct(7), amount: 100 }]);
    let err =
        app.send(2, Pa::withdrawCall { amount: u(202), to: B256::from(*acct(7).as_bytes()) }, 0);
    assert_eq!(
        asset_error(err),
        Pa::PrivateAssetsErrors::InsufficientPrivateBalance(Pa::InsufficientPrivateBalance {
            balance: u(201),
            needed: u(202)
        })
    );
    assert!(app.public.is_empty(), "a refused withdrawal pays nothing");

    // Issue a token and move it privately.
    let asset =
        app.send(3, Pa::issueCall { name: "Gold".into(), symbol: "GLD".into(), supply: u(50) }, 0);
    let asset = asset.unwrap().asset;
    assert_eq!(asset, u(1));
    assert_eq!(balance(&app, 3, 1), u(50));
    let r = app.send(3, Pa::transferCall { asset, to: who(1), amount: u(20) }, 0).unwrap();
    assert!(r.ok);
    assert_eq!(balance(&app, 1, 1), u(20));
    let info = app.call(9, Pa::assetInfoCall { asset }).unwrap();
    assert_eq!((info.symbol.as_str(), info.supply, info.issuer), ("GLD", u(50), who(3)));
    assert_eq!(
        asset_error(app.call(1, Pa::balanceOfCall { asset: u(2) })),
        Pa::PrivateAssetsErrors::NoSuchAsset(Pa::NoSuchAsset { asset: u(2) })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Supply is conserved: after any sequence of deposits, transfers (accepted or refused),
    /// withdrawals and issues, the private UMB balances sum to the contract's EVM balance and
    /// to asset 0's supply, and to what came in minus what was paid out; an issued asset's
    /// balances sum to its supply.
    #[test]
    fn private_asset_supply_is_conserved(
        ops in proptest::collection::vec((0u8..4, 1u8..5, 1u8..5, 0u128..2_000, 0u128..2), 1..30)
    ) {
        let mut app = App::new(PRIVATE_ASSETS_ARTIFACT, [1; 32]);
        let (mut came_in, mut paid_out) = (0u128, 0u128);
        let mut issued: Vec<u128> = vec![0];
        for (op, from, to, amount, asset) in ops {
            match op {
                0 => {
                    if app.send(from, Pa::depositCall {}, amount).is_ok() {
                        came_in = came_in.checked_add(amount).unwrap();
                    } else {
                        // A refused deposit (zero) keeps its value in the sender's EVM balance.
                        prop_assert_eq!(amount, 0);
                    }
                }
                1 => {
                    let asset = asset.min(u128::try_from(issued.len()).unwrap().saturating_sub(1));
                    let r = app.send(from, Pa::transferCall { asset: u(asset), to: who(to), amount: u(amount) }, 0);
                    prop_assert!(r.is_ok());
                }
                2 => {
                    let to = B256::from(*acct(to).as_bytes());
                    if app.send(from, Pa::withdrawCall { amount: u(amount), to }, 0).is_ok() {
                        paid_out = paid_out.checked_add(amount).unwrap();
                    }
                }
                _ => {
                    let supply = amount.saturating_add(1);
                    let r = app.send(from, Pa::issueCall { name: "T".into(), symbol: "T".into(), supply: u(supply) }, 0);
                    prop_assert!(r.is_ok());
                    issued.push(supply);
                }
            }
            for o in &app.public {
                if let Output::Transfer { amount, .. } = o {
                    prop_assert!(*amount > 0);
                }
            }
            let state = EvmCluster::decode_all(&mut &app.inst.snapshot()[..]).unwrap();
            let contract = state.balance(&app.at);
            for (asset, supply) in issued.iter().enumerate() {
                let asset = u128::try_from(asset).unwrap();
                let sum = (1u8..5).fold(U256::ZERO, |s, a| s.checked_add(balance(&app, a, asset)).unwrap());
                let info = app.call(1, Pa::assetInfoCall { asset: u(asset) }).unwrap();
                prop_assert_eq!(sum, info.supply);
                if asset == 0 {
                    prop_assert_eq!(sum, contract);
                    prop_assert_eq!(sum, u(came_in.checked_sub(paid_out).unwrap()));
                } else {
                    prop_assert_eq!(sum, u(*supply));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Secret vault

const SECRET: &[u8] = b"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

/// //1 owns a vault: guardians //4 //5 //6 with threshold 2, a time lock of 5 blocks,
/// release-once, //2 allowed.
fn vault(app: &mut App) -> U256 {
    let create = Sv::createCall {
        secret: SECRET.to_vec().into(),
        guardians: vec![who(4), who(5), who(6)],
        threshold: 2,
        delay: 5,
        once: true,
        allowed: vec![who(2)],
    };
    app.send(1, create, 0).unwrap().id
}

#[test]
fn secret_vault_releases_only_under_the_owners_policy() {
    let mut app = App::new(SECRET_VAULT_ARTIFACT, [2; 32]);
    let id = vault(&mut app);
    use Sv::SecretVaultErrors as E;
    // A stranger: not allowed, not a guardian, not the owner.
    assert_eq!(
        vault_error(app.send(3, Sv::claimCall { id }, 0)),
        E::NotAllowed(Sv::NotAllowed { caller: who(3) })
    );
    assert_eq!(
        vault_error(app.send(3, Sv::requestCall { id }, 0)),
        E::NotAllowed(Sv::NotAllowed { caller: who(3) })
    );
    assert_eq!(
        vault_error(app.send(3, Sv::approveCall { id, account: who(3) }, 0)),
        E::NotGuardian(Sv::NotGuardian { caller: who(3) })
    );
    assert_eq!(
        vault_error(app.call(3, Sv::secretOfCall { id })),
        E::NotOwner(Sv::NotOwner { caller: who(3) })
    );
    assert_eq!(
        vault_error(app.call(2, Sv::releaseLogCall { id })),
        E::NotOwner(Sv::NotOwner { caller: who(2) })
    );
    assert_eq!(
        vault_error(app.send(2, Sv::rotateCall { id, secret: b"x".to_vec().into() }, 0)),
        E::NotOwner(Sv::NotOwner { caller: who(2) })
    );
    assert_eq!(
        vault_error(app.send(3, Sv::revokeCall { id }, 0)),
        E::NotOwner(Sv::NotOwner { caller: who(3) })
    );

    // The allowed account: request, time lock, guardians.
    assert_eq!(
        vault_error(app.send(2, Sv::claimCall { id }, 0)),
        E::NotRequested(Sv::NotRequested { account: who(2) })
    );
    let requested_in = app.block;
    let unlock = app.send(2, Sv::requestCall { id }, 0).unwrap().unlockBlock;
    assert_eq!(unlock, u(u128::from(requested_in + 5)));
    assert!(matches!(vault_error(app.send(2, Sv::claimCall { id }, 0)), E::TimeLocked(_)));
    app.advance(5);
    assert_eq!(
        vault_error(app.send(2, Sv::claimCall { id }, 0)),
        E::ApprovalsMissing(Sv::ApprovalsMissing { have: u(0), need: u(2) })
    );
    assert_eq!(app.send(4, Sv::approveCall { id, account: who(2) }, 0).unwrap().count, u(1));
    assert_eq!(
        vault_error(app.send(4, Sv::approveCall { id, account: who(2) }, 0)),
        E::AlreadyApproved(Sv::AlreadyApproved { guardian: who(4) })
    );
    // An approval for someone else does not count for //2.
    app.send(5, Sv::approveCall { id, account: who(3) }, 0).unwrap();
    assert_eq!(
        vault_error(app.send(2, Sv::claimCall { id }, 0)),
        E::ApprovalsMissing(Sv::ApprovalsMissing { have: u(1), need: u(2) })
    );
    app.send(6, Sv::approveCall { id, account: who(2) }, 0).unwrap();
    let released_in = app.block;
    assert_eq!(app.send(2, Sv::claimCall { id }, 0).unwrap().secret.to_vec(), SECRET);
    assert!(app.public.is_empty(), "a release publishes nothing");
    // Release-once.
    assert_eq!(
        vault_error(app.send(2, Sv::claimCall { id }, 0)),
        E::AlreadyReleased(Sv::AlreadyReleased { vault: id })
    );
    // The log, for the owner only.
    let log = app.call(1, Sv::releaseLogCall { id }).unwrap()._0;
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].to, log[0].blockNumber, log[0].recovery), (who(2), released_in, false));

    // Rotation: the new secret, old requests and approvals no longer count.
    app.send(1, Sv::rotateCall { id, secret: b"rotated".to_vec().into() }, 0).unwrap();
    assert_eq!(app.call(1, Sv::secretOfCall { id }).unwrap()._0.to_vec(), b"rotated");
    assert_eq!(
        vault_error(app.send(2, Sv::claimCall { id }, 0)),
        E::NotRequested(Sv::NotRequested { account: who(2) })
    );
    app.send(2, Sv::requestCall { id }, 0).unwrap();
    app.advance(5);
    assert_eq!(
        vault_error(app.send(2, Sv::claimCall { id }, 0)),
        E::ApprovalsMissing(Sv::ApprovalsMissing { have: u(0), need: u(2) })
    );
    app.send(4, Sv::approveCall { id, account: who(2) }, 0).unwrap();
    app.send(5, Sv::approveCall { id, account: who(2) }, 0).unwrap();
    assert_eq!(app.send(2, Sv::claimCall { id }, 0).unwrap().secret.to_vec(), b"rotated");

    // Disallowing, then revoking: the secret is gone from the state.
    app.send(1, Sv::allowCall { id, account: who(2), yes: false }, 0).unwrap();
    assert_eq!(
        vault_error(app.send(2, Sv::requestCall { id }, 0)),
        E::NotAllowed(Sv::NotAllowed { caller: who(2) })
    );
    let needle = b"rotated";
    assert!(app.inst.snapshot().windows(needle.len()).any(|w| w == needle), "positive control");
    app.send(1, Sv::revokeCall { id }, 0).unwrap();
    assert_eq!(
        vault_error(app.call(1, Sv::secretOfCall { id })),
        E::Revoked(Sv::Revoked { vault: id })
    );
    assert!(!app.inst.snapshot().windows(needle.len()).any(|w| w == needle), "deleted for good");
    // A bad policy is refused with its reason.
    let bad = Sv::createCall {
        secret: b"s".to_vec().into(),
        guardians: vec![who(4)],
        threshold: 2,
        delay: 0,
        once: false,
        allowed: vec![],
    };
    assert!(matches!(vault_error(app.send(1, bad, 0)), E::BadPolicy(_)));
}

#[test]
fn a_lost_owner_key_is_recovered_through_the_guardians() {
    let mut app = App::new(SECRET_VAULT_ARTIFACT, [2; 32]);
    let id = vault(&mut app);
    use Sv::SecretVaultErrors as E;
    // //8 is the owner's new account.
    assert_eq!(
        vault_error(app.send(8, Sv::recoverCall { id }, 0)),
        E::NotRequested(Sv::NotRequested { account: who(8) })
    );
    app.send(8, Sv::requestRecoveryCall { id }, 0).unwrap();
    app.send(4, Sv::approveRecoveryCall { id, newOwner: who(8) }, 0).unwrap();
    // Claim approvals do not count for a recovery.
    app.send(5, Sv::approveCall { id, account: who(8) }, 0).unwrap();
    app.advance(5);
    assert_eq!(
        vault_error(app.send(8, Sv::recoverCall { id }, 0)),
        E::ApprovalsMissing(Sv::ApprovalsMissing { have: u(1), need: u(2) })
    );
    // A stranger who requested too gets nothing from //8's approvals.
    app.send(3, Sv::requestRecoveryCall { id }, 0).unwrap();
    app.send(6, Sv::approveRecoveryCall { id, newOwner: who(8) }, 0).unwrap();
    app.advance(5);
    assert_eq!(
        vault_error(app.send(3, Sv::recoverCall { id }, 0)),
        E::ApprovalsMissing(Sv::ApprovalsMissing { have: u(0), need: u(2) })
    );
    assert_eq!(app.send(8, Sv::recoverCall { id }, 0).unwrap().secret.to_vec(), SECRET);
    // //8 is the owner now; the old key is not.
    assert_eq!(app.call(8, Sv::myVaultsCall {}).unwrap().ids, vec![id]);
    assert_eq!(
        vault_error(app.call(1, Sv::secretOfCall { id })),
        E::NotOwner(Sv::NotOwner { caller: who(1) })
    );
    let log = app.call(8, Sv::releaseLogCall { id }).unwrap()._0;
    assert_eq!((log.len(), log[0].to, log[0].recovery), (1, who(8), true));

    // A vault without guardians cannot be recovered.
    let lone = Sv::createCall {
        secret: b"s".to_vec().into(),
        guardians: vec![],
        threshold: 0,
        delay: 0,
        once: false,
        allowed: vec![who(2)],
    };
    let lone = app.send(1, lone, 0).unwrap().id;
    assert_eq!(
        vault_error(app.send(8, Sv::requestRecoveryCall { id: lone }, 0)),
        E::NoRecovery(Sv::NoRecovery { vault: lone })
    );
    // ... but with neither guardians nor a time lock, an allowed account claims at once.
    assert_eq!(app.send(2, Sv::claimCall { id: lone }, 0).unwrap().secret.to_vec(), b"s");
}

// ---------------------------------------------------------------------------------------------
// Mystery boxes

const ITEMS: [&str; 8] = [
    "Golden Dragon",
    "Silver Fox",
    "Bronze Owl",
    "Iron Wolf",
    "Jade Tiger",
    "Ruby Crane",
    "Onyx Bear",
    "Pearl Swan",
];

fn mint(app: &mut App) -> (U256, Vec<[u8; 32]>) {
    let items = ITEMS.iter().map(|s| s.to_string()).collect();
    let c = app.send(1, Mb::mintCall { name: "Zoo".into(), items }, 0).unwrap().c;
    // The commitments are public from the start: a public event of the mint.
    let [Output::PublicEvent(data)] = &app.public[..] else { panic!("{:?}", app.public) };
    let (tag, cid, commitments) =
        <(String, U256, Vec<B256>) as umbra_evm_abi::alloy_sol_types::SolValue>::abi_decode_params(
            data, true,
        )
        .unwrap();
    assert_eq!((tag.as_str(), cid), ("mystery-boxes-minted", c));
    (c, commitments.iter().map(|b| b.0).collect())
}

/// Opens every box (as its owner //1) and returns the item each holds.
fn open_all(app: &mut App, c: U256) -> Vec<String> {
    (0..ITEMS.len())
        .map(|b| app.send(1, Mb::openCall { c, r#box: u(b as u128) }, 0).unwrap().item)
        .collect()
}

#[test]
fn mystery_boxes_trade_open_and_verify_against_the_commitments() {
    let mut app = App::new(MYSTERY_BOXES_ARTIFACT, [3; 32]);
    let (c, commitments) = mint(&mut app);
    use Mb::MysteryBoxesErrors as E;
    let info = app.call(9, Mb::collectionInfoCall { c }).unwrap();
    assert_eq!(info.commitments.iter().map(|b| b.0).collect::<Vec<_>>(), commitments);
    assert_eq!(info.opened, vec![false; ITEMS.len()]);
    assert_eq!(app.call(1, Mb::myBoxesCall { c }).unwrap().boxes.len(), ITEMS.len());

    // //1 lists box 3 for 500, //2 buys it with exactly that value; //1's chain account is paid.
    let pay_to = B256::from(*acct(1).as_bytes());
    assert_eq!(
        box_error(app.send(2, Mb::listCall { c, r#box: u(3), price: u(500), payTo: pay_to }, 0)),
        E::NotBoxOwner(Mb::NotBoxOwner { caller: who(2) })
    );
    app.send(1, Mb::listCall { c, r#box: u(3), price: u(500), payTo: pay_to }, 0).unwrap();
    assert_eq!(app.call(9, Mb::priceOfCall { c, r#box: u(3) }).unwrap()._0, u(500));
    assert_eq!(
        box_error(app.send(2, Mb::buyCall { c, r#box: u(3) }, 400)),
        E::WrongPrice(Mb::WrongPrice { price: u(500), paid: u(400) })
    );
    app.send(2, Mb::buyCall { c, r#box: u(3) }, 500).unwrap();
    assert_eq!(app.public, vec![Output::Transfer { to: acct(1), amount: 500 }]);
    assert_eq!(app.call(2, Mb::myBoxesCall { c }).unwrap().boxes, vec![u(3)]);
    assert_eq!(
        box_error(app.send(3, Mb::buyCall { c, r#box: u(3) }, 500)),
        E::NotListed(Mb::NotListed { collection: c, r#box: u(3) })
    );

    // Nobody but its owner opens it or reads it.
    assert_eq!(
        box_error(app.send(1, Mb::openCall { c, r#box: u(3) }, 0)),
        E::NotBoxOwner(Mb::NotBoxOwner { caller: who(1) })
    );
    assert_eq!(
        box_error(app.call(1, Mb::contentsCall { c, r#box: u(3) })),
        E::NotBoxOwner(Mb::NotBoxOwner { caller: who(1) })
    );
    assert_eq!(
        box_error(app.call(2, Mb::contentsCall { c, r#box: u(3) })),
        E::NotOpened(Mb::NotOpened { collection: c, r#box: u(3) })
    );
    let opened = app.send(2, Mb::openCall { c, r#box: u(3) }, 0).unwrap();
    // The public learns that box 3 is opened, nothing of its contents.
    let [Output::PublicEvent(data)] = &app.public[..] else { panic!("{:?}", app.public) };
    assert!(!data.windows(opened.item.len()).any(|w| w == opened.item.as_bytes()));
    assert!(!data.windows(32).any(|w| w == opened.salt.0));
    let info = app.call(9, Mb::collectionInfoCall { c }).unwrap();
    assert_eq!(info.opened.iter().filter(|o| **o).count(), 1);
    assert!(info.opened[3]);
    assert_eq!(
        box_error(app.send(2, Mb::openCall { c, r#box: u(3) }, 0)),
        E::AlreadyOpened(Mb::AlreadyOpened { collection: c, r#box: u(3) })
    );
    assert_eq!(
        box_error(app.send(2, Mb::listCall { c, r#box: u(3), price: u(1), payTo: pay_to }, 0)),
        E::AlreadyOpened(Mb::AlreadyOpened { collection: c, r#box: u(3) })
    );

    // Anyone verifies the reveal against the public commitments; a forged one does not verify.
    let verifies = |item: &str, salt: &[u8; 32]| commitments.contains(&box_commitment(item, salt));
    assert!(ITEMS.contains(&opened.item.as_str()));
    assert!(verifies(&opened.item, &opened.salt.0));
    let other = ITEMS.iter().find(|i| **i != opened.item).unwrap();
    assert!(!verifies(other, &opened.salt.0), "another item with the revealed salt");
    let mut salt = opened.salt.0;
    salt[0] ^= 1;
    assert!(!verifies(&opened.item, &salt), "the item with another salt");
    // The contract's own commitment function agrees with the one computed here.
    let on_chain = app
        .call(9, Mb::commitmentCall { item: opened.item.clone(), salt: opened.salt })
        .unwrap()
        ._0;
    assert_eq!(on_chain.0, box_commitment(&opened.item, &opened.salt.0));
    assert_eq!(app.call(2, Mb::contentsCall { c, r#box: u(3) }).unwrap().item, opened.item);

    // Transfers of a box; a box that does not exist.
    app.send(1, Mb::transferCall { c, r#box: u(0), to: who(3) }, 0).unwrap();
    assert_eq!(app.call(3, Mb::myBoxesCall { c }).unwrap().boxes, vec![u(0)]);
    assert_eq!(
        box_error(app.send(1, Mb::openCall { c, r#box: u(8) }, 0)),
        E::NoSuchBox(Mb::NoSuchBox { collection: c, r#box: u(8) })
    );
}

#[test]
fn which_box_holds_what_depends_on_the_cluster_key_only() {
    let contents = |seed: [u8; 32]| {
        let mut app = App::new(MYSTERY_BOXES_ARTIFACT, seed);
        let (c, commitments) = mint(&mut app);
        (open_all(&mut app, c), commitments)
    };
    let (a, ca) = contents([3; 32]);
    let (b, cb) = contents([3; 32]);
    assert_eq!(a, b, "every worker with the cluster key assigns the same way");
    assert_eq!(ca, cb);
    let mut sorted = a.clone();
    sorted.sort();
    let mut items: Vec<String> = ITEMS.iter().map(|s| s.to_string()).collect();
    items.sort();
    assert_eq!(sorted, items, "each item is in exactly one box");
    // Another cluster key: other salts, another assignment (the creator's input is the same).
    let (c, cc) = contents([4; 32]);
    assert_ne!(a, c);
    assert!(ca.iter().all(|x| !cc.contains(x)));
    assert_ne!(a, ITEMS.to_vec(), "not in minting order");
}
