//! [`EvmCluster`]: a confidential EVM world state ([`ContractKind::Evm`]) executed with `revm`
//! inside the assigned enclaves.
//!
//! One cluster holds accounts, code and storage of any number of Solidity contracts that call
//! each other synchronously. Commands ([`EvmCommand`]) arrive encrypted through the chain's
//! command log like any contract's; every assigned worker executes them with the same
//! configuration (Cancun rules, gas price 0 inside the EVM, block number = the chain block that
//! ordered the command) and so reaches the same state and the same gas figures.
//!
//! * Address mapping: [`evm_address`] (last 20 bytes of
//!   `blake2_256("umbra/evm-address" ‖ account)`); the cluster remembers the reverse mapping of
//!   every account that ever sent a command ([`EvmQuery::Account`]).
//! * Results: each command yields one [`EvmReceipt`] as a private event to its sender
//!   (status, gas used, return data or revert data, created address, logs). EVM logs are
//!   therefore private by default.
//! * System addresses (plain accounts intercepted by the executor, see [`PAYOUT_ADDRESS`] and
//!   [`PUBLIC_EVENT_ADDRESS`]): a contract pays UMB out to a chain account, or publishes a
//!   public event. They take effect only if the call frame and the command succeed.
//! * Reverts and out-of-gas roll the state back except the sender's nonce; the gas used is
//!   reported in the receipt.

use core::cell::RefCell;
use core::convert::Infallible;
use std::collections::BTreeMap;

use parity_scale_codec::{Decode, Encode};
use revm::interpreter::analysis::to_analysed;
use revm::interpreter::{CallInputs, CallOutcome, Gas};
use revm::interpreter::{InstructionResult, InterpreterResult};
use revm::primitives::{
    AccountInfo, Address, Bytecode, EVMError, ExecutionResult, Output as EvmOutput, ResultAndState,
    SpecId, TxKind, B256, KECCAK_EMPTY, U256,
};
use std::sync::Arc;

use revm::handler::register::EvmHandler;
use revm::primitives::db::WrapDatabaseRef;
use revm::{DatabaseRef, Evm, EvmContext, FrameOrResult, FrameResult};
use umbra_crypto::blake2_256;
use umbra_primitives::{AccountId, Balance};

use crate::contract::{CommandContext, Contract, Output};
use crate::error::ContractError;

pub mod bench;
pub mod commitment;

use commitment::MerkleMap;

/// Domain prefix of [`evm_address`].
pub const EVM_ADDRESS_DOMAIN: &[u8] = b"umbra/evm-address";
/// The EVM chain id every cluster reports (`CHAINID`): ASCII "UMB".
pub const EVM_CHAIN_ID: u64 = 0x55_4d_42;
/// Upper bound of a read-only query's gas limit (commands are bounded by the chain's
/// governance cap `max_gas_per_command` instead, checked at push).
pub const MAX_GAS_PER_QUERY: u64 = 30_000_000;
/// Lower bound of a command's or query's gas limit (the intrinsic cost of a plain
/// transaction, [`crate::gas::MIN_GAS_LIMIT`]).
pub const MIN_GAS_PER_COMMAND: u64 = crate::gas::MIN_GAS_LIMIT;

/// `0x…0a01`: a plain CALL here (no value, not static) publishes its calldata as a public
/// event of the cluster (`ContractEvent` on chain).
pub const PUBLIC_EVENT_ADDRESS: [u8; 20] = system_address(0x01);
/// `0x…0a02`: a plain CALL here (no value, not static) with calldata
/// `abi.encode(bytes32 to, uint256 amount)` moves `amount` from the caller's EVM balance out of
/// the cluster; the chain pays it from the cluster's account to the sr25519 account `to` when
/// the command's result is accepted. Insufficient balance or malformed calldata reverts.
pub const PAYOUT_ADDRESS: [u8; 20] = system_address(0x02);
/// `0x…0a03`: a call here returns 32 bytes of randomness
/// `blake2_256("umbra/evm-random" ‖ seed ‖ seq LE ‖ n LE)` where `seed` derives from the
/// cluster key ([`random_seed`]), `seq` is the command's log position and `n` counts the calls
/// within the command: identical on every assigned worker, unpredictable without the key.
/// Reverts in read-only queries and where no seed was set.
pub const RANDOM_ADDRESS: [u8; 20] = system_address(0x03);
/// `0x…0a04`: a call here (CALL or STATICCALL, no value) with calldata `abi.encode(uint256
/// target)` pads the command's gas: if the command succeeds, it uses (and its sender pays) at
/// least `target` gas in all, at most its gas limit. Gas is visible on chain (the sender pays
/// gas used × price), so a contract whose paths cost different gas — a private transfer that
/// is accepted or refused, to a new or a known recipient — pads every path to one figure and
/// the fee no longer tells them apart. A padding asked for in a frame that reverts does not
/// count; malformed calldata reverts. (Oasis Sapphire's `padGas` serves the same purpose.)
pub const GAS_PAD_ADDRESS: [u8; 20] = system_address(0x04);
/// HKDF salt of [`random_seed`].
pub const RANDOM_SEED_SALT: &[u8] = b"umbra/evm-random-seed/v1";

const fn system_address(n: u8) -> [u8; 20] {
    let mut a = [0u8; 20];
    a[18] = 0x0a;
    a[19] = n;
    a
}

/// The cluster's randomness seed: `HKDF(contract secret, salt "umbra/evm-random-seed/v1", id)`.
/// The enclave sets it on the instance ([`crate::Instance::set_random_seed`]).
pub fn random_seed(secret: &umbra_crypto::EcdhSecret, id: &crate::ContractId) -> [u8; 32] {
    let ikm = zeroize::Zeroizing::new(secret.to_bytes());
    umbra_crypto::kdf::hkdf_sha256(ikm.as_slice(), RANDOM_SEED_SALT, id.as_bytes())
}

/// The EVM address of a chain account: the last 20 bytes of
/// `blake2_256("umbra/evm-address" ‖ account)`. It is `msg.sender` of the account's commands
/// and read-only calls.
pub fn evm_address(account: &AccountId) -> [u8; 20] {
    let h = umbra_state_tree::hashing::blake2_256(&[EVM_ADDRESS_DOMAIN, account.as_bytes()]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&h[12..]);
    out
}

/// A command to a cluster (sealed with [`crate::seal_command`] like any contract command).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum EvmCommand {
    /// Deploys init code (creation bytecode followed by ABI-encoded constructor arguments);
    /// `value` moves from the sender's EVM balance to the new contract.
    #[codec(index = 0)]
    Deploy {
        /// Creation bytecode ‖ constructor arguments.
        code: Vec<u8>,
        /// Value (in the smallest UMB unit) sent to the constructor.
        value: Balance,
        /// Gas limit: the command runs under the smaller of this and the limit prepaid on
        /// chain (`CommandContext::gas_limit`); clients set both to the same value.
        gas_limit: u64,
    },
    /// Calls `to` with `data`, sending `value` from the sender's EVM balance.
    #[codec(index = 1)]
    Call {
        /// The callee.
        to: [u8; 20],
        /// Calldata.
        data: Vec<u8>,
        /// Value (in the smallest UMB unit).
        value: Balance,
        /// Gas limit: the command runs under the smaller of this and the limit prepaid on
        /// chain (`CommandContext::gas_limit`); clients set both to the same value.
        gas_limit: u64,
    },
}

/// A read-only query, sent over the encrypted, origin-authenticated query channel.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum EvmQuery {
    /// `eth_call`: runs `data` against `to` with `msg.sender = evm_address(origin)` and
    /// discards every state change.
    #[codec(index = 0)]
    Call {
        /// The callee.
        to: [u8; 20],
        /// Calldata.
        data: Vec<u8>,
        /// Gas limit, `MIN_GAS_PER_COMMAND..=MAX_GAS_PER_QUERY`.
        gas_limit: u64,
    },
    /// The EVM balance of the querying account's own address.
    #[codec(index = 1)]
    MyBalance,
    /// The chain account behind an EVM address, if it ever sent a command.
    #[codec(index = 2)]
    Account([u8; 20]),
}

/// How a command or call ended.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum EvmStatus {
    /// Executed; state changes kept.
    #[codec(index = 0)]
    Success,
    /// `REVERT`: state rolled back (except the sender's nonce); `output` holds the revert
    /// data (decode the reason with the ABI helpers).
    #[codec(index = 1)]
    Revert,
    /// Halted (out of gas, invalid opcode, ...): state rolled back except the nonce.
    #[codec(index = 2)]
    Halt(String),
}

/// One EVM log record.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct EvmLog {
    /// The emitting contract.
    pub address: [u8; 20],
    /// Topics (the first is the event signature hash for non-anonymous events).
    pub topics: Vec<[u8; 32]>,
    /// Non-indexed data.
    pub data: Vec<u8>,
}

/// The result of one command: delivered to its sender only, as a private event.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct EvmReceipt {
    /// The command's position in the cluster's log.
    pub seq: u64,
    /// How it ended.
    pub status: EvmStatus,
    /// Gas used (identical on every worker).
    pub gas_used: u64,
    /// Return data, or revert data.
    pub output: Vec<u8>,
    /// The address of the contract a successful `Deploy` created.
    pub created: Option<[u8; 20]>,
    /// The logs (empty unless `Success`).
    pub logs: Vec<EvmLog>,
}

/// The answer to an [`EvmQuery`].
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum EvmResponse {
    /// The result of [`EvmQuery::Call`].
    #[codec(index = 0)]
    Call {
        /// How the call ended.
        status: EvmStatus,
        /// Gas it used.
        gas_used: u64,
        /// Return or revert data.
        output: Vec<u8>,
    },
    /// A balance as a big-endian 256-bit integer.
    #[codec(index = 1)]
    Balance([u8; 32]),
    /// The chain account behind an address.
    #[codec(index = 2)]
    Account(Option<AccountId>),
}

/// One account of the world state.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct EvmAccount {
    /// Nonce.
    pub nonce: u64,
    /// Balance, big-endian 256-bit.
    pub balance: [u8; 32],
    /// keccak256 of the code (`KECCAK_EMPTY` for none).
    pub code_hash: [u8; 32],
    /// Non-zero storage slots (key and value big-endian 256-bit).
    pub storage: BTreeMap<[u8; 32], [u8; 32]>,
}

/// An EVM cluster's world state. Its SCALE encoding is canonical (ordered maps, zero slots and
/// empty accounts never stored).
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct EvmCluster {
    accounts: BTreeMap<[u8; 20], EvmAccount>,
    codes: BTreeMap<[u8; 32], Vec<u8>>,
    senders: BTreeMap<[u8; 20], AccountId>,
    /// The randomness seed (never part of the state or its hash; set by the enclave).
    #[codec(skip)]
    seed: Option<[u8; 32]>,
    /// Jump-table-analysed code by hash (a cache, never part of the state).
    #[codec(skip)]
    analysed: BTreeMap<[u8; 32], Bytecode>,
    /// The incremental state commitment (built from the state on first use after a restore,
    /// then updated with the entries changed since the last root).
    #[codec(skip)]
    tree: RefCell<Option<MerkleMap>>,
    /// Entries changed since the commitment was last brought up to date (applied in one batch
    /// when the root is asked for, so a replay that asks once hashes each node once).
    #[codec(skip)]
    pending: RefCell<Vec<Key>>,
    /// Tree paths of recently changed entries (each a hash of the entry's key; the same
    /// balances and nonces change again and again).
    #[codec(skip)]
    paths: PathCache,
}

/// A bounded cache of [`Key::path`]; never part of the state, so it never makes two clusters
/// differ (`PartialEq` ignores it).
#[derive(Clone, Default)]
struct PathCache(RefCell<std::collections::HashMap<Key, [u8; 32]>>);

/// Paths kept before [`PathCache`] starts over.
const PATH_CACHE_ENTRIES: usize = 1 << 16;

impl PathCache {
    fn path(&self, key: &Key) -> [u8; 32] {
        let mut paths = self.0.borrow_mut();
        if paths.len() >= PATH_CACHE_ENTRIES {
            paths.clear();
        }
        *paths.entry(*key).or_insert_with(|| key.path())
    }
}

impl PartialEq for PathCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for PathCache {}

impl core::fmt::Debug for PathCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PathCache")
    }
}

/// Changed entries kept before the commitment is brought up to date anyway (bounds memory in
/// long replays).
const MAX_PENDING_KEYS: usize = 1 << 16;

/// A key of the state commitment.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
enum Key {
    Account([u8; 20]),
    Slot([u8; 20], [u8; 32]),
    Code([u8; 32]),
    Sender([u8; 20]),
}

impl Key {
    /// The tree path of the entry: `key_path(prefix ‖ ...)`, hashed without a buffer.
    fn path(&self) -> [u8; 32] {
        use umbra_state_tree::hashing::blake2_256 as parts;
        match self {
            Key::Account(a) => parts(&[b"a", a]),
            Key::Slot(a, k) => parts(&[b"s", a, k]),
            Key::Code(h) => parts(&[b"c", h]),
            Key::Sender(a) => parts(&[b"o", a]),
        }
    }
}

fn u256(b: &[u8; 32]) -> U256 {
    U256::from_be_bytes(*b)
}

/// The read-only view revm executes against: the cluster's accounts and code.
#[derive(Clone, Copy)]
struct View<'a> {
    accounts: &'a BTreeMap<[u8; 20], EvmAccount>,
    codes: &'a BTreeMap<[u8; 32], Vec<u8>>,
    analysed: &'a BTreeMap<[u8; 32], Bytecode>,
}

impl View<'_> {
    /// The code with hash `hash`, analysed if the cache has it.
    fn code(&self, hash: &[u8; 32]) -> Option<Bytecode> {
        if let Some(code) = self.analysed.get(hash) {
            return Some(code.clone());
        }
        self.codes.get(hash).map(|c| Bytecode::new_raw(c.clone().into()))
    }
}

impl DatabaseRef for View<'_> {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Infallible> {
        Ok(self.accounts.get(&address.0 .0).map(|a| {
            let code = self.code(&a.code_hash);
            AccountInfo {
                balance: u256(&a.balance),
                nonce: a.nonce,
                code_hash: B256::from(a.code_hash),
                code,
            }
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Infallible> {
        Ok(self.code(&code_hash.0).unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Infallible> {
        Ok(self
            .accounts
            .get(&address.0 .0)
            .and_then(|a| a.storage.get(&index.to_be_bytes::<32>()))
            .map(u256)
            .unwrap_or_default())
    }

    fn block_hash_ref(&self, _number: u64) -> Result<B256, Infallible> {
        // Block hashes are not part of the ordered input; every worker sees zero.
        Ok(B256::ZERO)
    }
}

/// The cluster's accounts and code, moved into the kept EVM for one command and back out
/// (moving a map moves its root pointer only).
#[derive(Default)]
struct Db {
    accounts: BTreeMap<[u8; 20], EvmAccount>,
    codes: BTreeMap<[u8; 32], Vec<u8>>,
    analysed: BTreeMap<[u8; 32], Bytecode>,
}

impl Db {
    fn view(&self) -> View<'_> {
        View { accounts: &self.accounts, codes: &self.codes, analysed: &self.analysed }
    }
}

impl DatabaseRef for Db {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Infallible> {
        self.view().basic_ref(address)
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Infallible> {
        self.view().code_by_hash_ref(code_hash)
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Infallible> {
        self.view().storage_ref(address, index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Infallible> {
        self.view().block_hash_ref(number)
    }
}

/// The EVM commands run in: built once per thread (handler, instruction table, the system
/// address hooks) and reused, as a node reuses one EVM for the transactions of a block. Nothing
/// carries over between commands: revm clears its journal after every transaction, and every
/// environment field the cluster uses is set again for each command.
type KeptEvm = Evm<'static, SystemCalls, WrapDatabaseRef<Db>>;

thread_local! {
    static KEPT_EVM: RefCell<Option<Box<KeptEvm>>> = const { RefCell::new(None) };
}

fn new_kept_evm() -> Box<KeptEvm> {
    Box::new(
        Evm::builder()
            .with_ref_db(Db::default())
            .with_external_context(SystemCalls::default())
            .with_spec_id(SpecId::CANCUN)
            .modify_cfg_env(|c| c.chain_id = EVM_CHAIN_ID)
            .append_handler_register(system_register)
            .build(),
    )
}

/// Sets the block and transaction environment of `tx` (every field the cluster relies on).
fn set_env(env: &mut revm::primitives::Env, tx: Tx) {
    let b = &mut env.block;
    b.number = U256::from(tx.block);
    b.timestamp = U256::from(tx.block);
    b.gas_limit = U256::from(tx.gas_limit);
    b.basefee = U256::ZERO;
    b.prevrandao = Some(B256::ZERO);
    let t = &mut env.tx;
    t.caller = Address::from(tx.caller);
    t.transact_to = match tx.to {
        Some(to) => TxKind::Call(Address::from(to)),
        None => TxKind::Create,
    };
    t.data = tx.data.into();
    t.value = U256::from(tx.value);
    t.gas_limit = tx.gas_limit;
    t.gas_price = U256::ZERO;
    t.nonce = None;
}

fn evm_error<E: core::fmt::Debug>(e: EVMError<E>) -> ContractError {
    match e {
        EVMError::Transaction(e) => ContractError::Rejected(format!("transaction invalid: {e}")),
        other => ContractError::Rejected(format!("evm: {other:?}")),
    }
}

/// What the system addresses recorded during one execution.
#[derive(Default)]
struct SystemCalls {
    /// Start indexes into `records` and `pads` of every open frame.
    frames: Vec<(usize, usize)>,
    records: Vec<Output>,
    /// Gas paddings asked for ([`GAS_PAD_ADDRESS`]) by frames that have not failed.
    pads: Vec<u64>,
    /// The output of the system call being closed (recorded in `call_end` if it succeeded).
    pending: Option<Output>,
    /// The padding asked for by the system call being closed.
    pending_pad: Option<u64>,
    /// `(seed, seq)` for the randomness address; `None` in queries.
    random: Option<([u8; 32], u64)>,
    /// Randomness calls so far in this command.
    random_calls: u64,
}

impl SystemCalls {
    fn open_frame(&mut self) {
        self.frames.push((self.records.len(), self.pads.len()));
    }

    fn close(&mut self, ok: bool) {
        let (records, pads) = self.frames.pop().unwrap_or((0, 0));
        if !ok {
            self.records.truncate(records);
            self.pads.truncate(pads);
        }
    }

    /// The gas the command uses at least (the largest padding asked for by frames that did
    /// not fail; 0 for none).
    fn gas_floor(&self) -> u64 {
        self.pads.iter().copied().max().unwrap_or(0)
    }
}

fn outcome(inputs: &CallInputs, result: InstructionResult, output: Vec<u8>) -> CallOutcome {
    CallOutcome::new(
        InterpreterResult { result, output: output.into(), gas: Gas::new(inputs.gas_limit) },
        inputs.return_memory_offset.clone(),
    )
}

fn revert(inputs: &CallInputs, msg: &str) -> Option<CallOutcome> {
    Some(outcome(inputs, InstructionResult::Revert, msg.as_bytes().to_vec()))
}

/// A plain, non-static CALL without value to `address` itself (not DELEGATECALL/CALLCODE).
fn plain_call(inputs: &CallInputs, address: [u8; 20]) -> bool {
    inputs.target_address.0 .0 == address
        && !inputs.is_static
        && inputs.transfer_value().unwrap_or_default() == U256::ZERO
}

impl SystemCalls {
    fn payout<DB: revm::Database>(
        &mut self,
        context: &mut EvmContext<DB>,
        inputs: &CallInputs,
    ) -> Option<CallOutcome> {
        if !plain_call(inputs, PAYOUT_ADDRESS) || inputs.input.len() != 64 {
            return revert(inputs, "payout: plain CALL with abi.encode(bytes32, uint256)");
        }
        let mut to = [0u8; 32];
        to.copy_from_slice(&inputs.input[..32]);
        let amount = U256::from_be_slice(&inputs.input[32..]);
        let Ok(amount_u128) = Balance::try_from(amount) else {
            return revert(inputs, "payout: amount too large");
        };
        if amount_u128 > 0 {
            let inner = &mut context.inner;
            let moved = inner.journaled_state.transfer(
                &inputs.caller,
                &Address::from(PAYOUT_ADDRESS),
                amount,
                &mut inner.db,
            );
            match moved {
                Ok(None) => {}
                _ => return revert(inputs, "payout: insufficient balance"),
            }
            self.pending = Some(Output::Transfer { to: AccountId::from(to), amount: amount_u128 });
        }
        Some(outcome(inputs, InstructionResult::Return, Vec::new()))
    }

    fn pad_gas(&mut self, inputs: &CallInputs) -> Option<CallOutcome> {
        let value = inputs.transfer_value().unwrap_or_default();
        if inputs.target_address.0 .0 != GAS_PAD_ADDRESS || value != U256::ZERO {
            return revert(inputs, "gas padding: CALL or STATICCALL without value");
        }
        if inputs.input.len() != 32 {
            return revert(inputs, "gas padding: abi.encode(uint256 target)");
        }
        let target = U256::from_be_slice(&inputs.input);
        self.pending_pad = Some(u64::try_from(target).unwrap_or(u64::MAX));
        Some(outcome(inputs, InstructionResult::Return, Vec::new()))
    }

    fn random(&mut self, inputs: &CallInputs) -> Option<CallOutcome> {
        let Some((seed, seq)) = self.random else {
            return revert(inputs, "randomness: not available here");
        };
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(b"umbra/evm-random");
        buf.extend_from_slice(&seed);
        buf.extend_from_slice(&seq.to_le_bytes());
        buf.extend_from_slice(&self.random_calls.to_le_bytes());
        self.random_calls = self.random_calls.saturating_add(1);
        Some(outcome(inputs, InstructionResult::Return, blake2_256(&buf).to_vec()))
    }
}

impl SystemCalls {
    /// Before a call frame: opens the frame; answers calls to the system addresses.
    fn on_call<DB: revm::Database>(
        &mut self,
        context: &mut EvmContext<DB>,
        inputs: &CallInputs,
    ) -> Option<CallOutcome> {
        self.open_frame();
        self.pending = None;
        self.pending_pad = None;
        match inputs.bytecode_address.0 .0 {
            PUBLIC_EVENT_ADDRESS => {
                if !plain_call(inputs, PUBLIC_EVENT_ADDRESS) {
                    return revert(inputs, "public event: plain CALL without value");
                }
                self.pending = Some(Output::PublicEvent(inputs.input.to_vec()));
                Some(outcome(inputs, InstructionResult::Return, Vec::new()))
            }
            PAYOUT_ADDRESS => self.payout(context, inputs),
            RANDOM_ADDRESS => self.random(inputs),
            GAS_PAD_ADDRESS => self.pad_gas(inputs),
            _ => None,
        }
    }

    /// After a call frame: closes it, dropping its records if it failed.
    fn on_call_end(&mut self, outcome: &CallOutcome) {
        let ok = outcome.result.result.is_ok();
        self.close(ok);
        if let Some(record) = self.pending.take() {
            if ok {
                self.records.push(record);
            }
        }
        if let Some(pad) = self.pending_pad.take() {
            if ok {
                self.pads.push(pad);
            }
        }
    }
}

/// Hooks [`SystemCalls`] into revm's frame handling (calls, creates and their outcomes) —
/// and nothing else: unlike revm's inspector register it leaves the instruction table alone.
fn system_register<DB: revm::Database>(handler: &mut EvmHandler<'_, SystemCalls, DB>) {
    let prev = handler.execution.call.clone();
    handler.execution.call = Arc::new(move |ctx, inputs| {
        if let Some(outcome) = ctx.external.on_call(&mut ctx.evm, &inputs) {
            return Ok(FrameOrResult::Result(FrameResult::Call(outcome)));
        }
        prev(ctx, inputs)
    });
    let prev = handler.execution.insert_call_outcome.clone();
    handler.execution.insert_call_outcome = Arc::new(move |ctx, frame, memory, outcome| {
        ctx.external.on_call_end(&outcome);
        prev(ctx, frame, memory, outcome)
    });
    let prev = handler.execution.create.clone();
    handler.execution.create = Arc::new(move |ctx, inputs| {
        ctx.external.open_frame();
        prev(ctx, inputs)
    });
    let prev = handler.execution.insert_create_outcome.clone();
    handler.execution.insert_create_outcome = Arc::new(move |ctx, frame, outcome| {
        ctx.external.close(outcome.result.result.is_ok());
        prev(ctx, frame, outcome)
    });
    let prev = handler.execution.last_frame_return.clone();
    handler.execution.last_frame_return = Arc::new(move |ctx, result| {
        match result {
            FrameResult::Call(outcome) => ctx.external.on_call_end(outcome),
            FrameResult::Create(outcome) => ctx.external.close(outcome.result.result.is_ok()),
            FrameResult::EOFCreate(_) => {}
        }
        prev(ctx, result)
    });
}

fn check_gas(gas_limit: u64, max: u64) -> Result<(), ContractError> {
    if !(MIN_GAS_PER_COMMAND..=max).contains(&gas_limit) {
        return Err(ContractError::InvalidArgument("gas limit out of bounds"));
    }
    Ok(())
}

/// A transaction to run.
struct Tx {
    caller: [u8; 20],
    to: Option<[u8; 20]>,
    data: Vec<u8>,
    value: Balance,
    gas_limit: u64,
    block: u64,
}

impl EvmCluster {
    fn view(&self) -> View<'_> {
        View { accounts: &self.accounts, codes: &self.codes, analysed: &self.analysed }
    }

    /// Runs `tx` (a query) against the current state without changing it.
    fn run(&self, tx: Tx) -> Result<ResultAndState, ContractError> {
        let mut evm = Evm::builder()
            .with_ref_db(self.view())
            .with_external_context(SystemCalls::default())
            .with_spec_id(SpecId::CANCUN)
            .modify_cfg_env(|c| c.chain_id = EVM_CHAIN_ID)
            .modify_env(|env| set_env(env, tx))
            .append_handler_register(system_register)
            .build();
        evm.transact().map_err(evm_error)
    }

    /// Runs command `seq`'s `tx` in the kept EVM: the state moves in, revm executes (reads
    /// only), the state moves back; the changes are returned for [`EvmCluster::commit`], with
    /// the outputs of the system addresses and the gas floor a successful transaction asked for
    /// ([`GAS_PAD_ADDRESS`]).
    fn run_command(
        &mut self,
        tx: Tx,
        seq: u64,
    ) -> Result<(ResultAndState, Vec<Output>, u64), ContractError> {
        let mut evm = KEPT_EVM.with(|k| k.borrow_mut().take()).unwrap_or_else(new_kept_evm);
        let db = &mut evm.db_mut().0;
        db.accounts = core::mem::take(&mut self.accounts);
        db.codes = core::mem::take(&mut self.codes);
        db.analysed = core::mem::take(&mut self.analysed);
        evm.context.external =
            SystemCalls { random: self.seed.map(|s| (s, seq)), ..SystemCalls::default() };
        set_env(&mut evm.context.evm.inner.env, tx);
        let result = evm.transact();
        let db = &mut evm.db_mut().0;
        self.accounts = core::mem::take(&mut db.accounts);
        self.codes = core::mem::take(&mut db.codes);
        self.analysed = core::mem::take(&mut db.analysed);
        let calls = core::mem::take(&mut evm.context.external.records);
        let floor = evm.context.external.gas_floor();
        evm.context.evm.inner.env.tx.data = Default::default();
        KEPT_EVM.with(|k| *k.borrow_mut() = Some(evm));
        let result = result.map_err(evm_error)?;
        if result.result.is_success() {
            Ok((result, calls, floor))
        } else {
            Ok((result, Vec::new(), 0))
        }
    }

    /// Applies revm's state changes (after a transaction that was valid).
    fn commit(&mut self, state: revm::primitives::EvmState) {
        let mut touched = Vec::new();
        for (address, account) in state {
            let key = address.0 .0;
            if !account.is_touched() {
                continue;
            }
            let before = self.accounts.get(&key).map(|a| (a.nonce, a.balance, a.code_hash));
            if let Some(old) = self.accounts.get(&key) {
                if account.is_selfdestructed() || account.is_created() {
                    touched.extend(old.storage.keys().map(|k| Key::Slot(key, *k)));
                }
            }
            if account.is_selfdestructed() {
                self.accounts.remove(&key);
                touched.push(Key::Account(key));
                continue;
            }
            let entry = self.accounts.entry(key).or_default();
            if account.is_created() {
                entry.storage.clear();
            }
            entry.nonce = account.info.nonce;
            entry.balance = account.info.balance.to_be_bytes::<32>();
            entry.code_hash = account.info.code_hash.0;
            if let Some(code) = &account.info.code {
                if account.info.code_hash != KECCAK_EMPTY && !code.is_empty() {
                    self.codes
                        .entry(account.info.code_hash.0)
                        .or_insert_with(|| code.original_bytes().to_vec());
                    touched.push(Key::Code(account.info.code_hash.0));
                }
            }
            for (slot, value) in account.storage {
                if !value.is_changed() {
                    continue;
                }
                let slot = slot.to_be_bytes::<32>();
                touched.push(Key::Slot(key, slot));
                if value.present_value.is_zero() {
                    entry.storage.remove(&slot);
                } else {
                    entry.storage.insert(slot, value.present_value.to_be_bytes::<32>());
                }
            }
            // Value paid out leaves the cluster (the chain pays it from the cluster account).
            if key == PAYOUT_ADDRESS {
                entry.balance = [0; 32];
            }
            let empty = entry.nonce == 0
                && entry.balance == [0; 32]
                && (entry.code_hash == KECCAK_EMPTY.0 || entry.code_hash == [0; 32])
                && entry.storage.is_empty();
            let after = (entry.nonce, entry.balance, entry.code_hash);
            if empty {
                self.accounts.remove(&key);
            }
            // The account's entry changed unless it keeps its fields (an unchanged callee is
            // touched by every call) or it was and stays absent.
            let changed = match (before, empty) {
                (None, true) => false,
                (Some(_), true) => true,
                (before, false) => before != Some(after),
            };
            if changed {
                touched.push(Key::Account(key));
            }
        }
        self.update_tree(touched);
    }

    /// Fills the analysed-code cache for code deployed since the last call (or restored).
    fn analyse_codes(&mut self) {
        if self.analysed.len() == self.codes.len() {
            return;
        }
        for (hash, code) in &self.codes {
            if !self.analysed.contains_key(hash) {
                let analysed = to_analysed(Bytecode::new_raw(code.clone().into()));
                self.analysed.insert(*hash, analysed);
            }
        }
    }

    /// The current value of a commitment key, `None` if absent.
    fn value_of(&self, key: &Key) -> Option<Vec<u8>> {
        match key {
            Key::Account(a) => {
                self.accounts.get(a).map(|x| (x.nonce, x.balance, x.code_hash).encode())
            }
            Key::Slot(a, k) => self.accounts.get(a)?.storage.get(k).map(|v| v.to_vec()),
            Key::Code(h) => self.codes.get(h).cloned(),
            Key::Sender(a) => self.senders.get(a).map(|x| x.as_bytes().to_vec()),
        }
    }

    /// Every commitment key of the state.
    fn all_keys(&self) -> Vec<Key> {
        let mut keys = Vec::new();
        for (a, acc) in &self.accounts {
            keys.push(Key::Account(*a));
            keys.extend(acc.storage.keys().map(|k| Key::Slot(*a, *k)));
        }
        keys.extend(self.codes.keys().map(|h| Key::Code(*h)));
        keys.extend(self.senders.keys().map(|a| Key::Sender(*a)));
        keys
    }

    /// The tree changes of `keys`: path and new value hash (`None`: removed).
    /// (`path` gives an entry's tree path: cached for a command's changes, not for a build.)
    fn updates(
        &self,
        keys: impl IntoIterator<Item = Key>,
        path: impl Fn(&Key) -> [u8; 32],
    ) -> Vec<commitment::Update> {
        keys.into_iter()
            .map(|k| (path(&k), self.value_of(&k).map(|v| umbra_state_tree::value_hash(&v))))
            .collect()
    }

    fn build_tree(&self) -> MerkleMap {
        let mut tree = MerkleMap::default();
        tree.apply(self.updates(self.all_keys(), Key::path));
        tree
    }

    /// Notes that the entries `keys` changed; the commitment takes them in when the root is
    /// asked for next (or when many are pending).
    fn update_tree(&mut self, keys: impl IntoIterator<Item = Key>) {
        if self.tree.get_mut().is_none() {
            // Not built yet (fresh or restored): building it from the maps covers every key.
            return;
        }
        let pending = self.pending.get_mut();
        pending.extend(keys);
        if pending.len() >= MAX_PENDING_KEYS {
            self.state_root();
        }
    }

    /// The root of the state commitment: `umbra_state_tree::compute_root` over the entries
    /// `"a" ‖ address → SCALE(nonce, balance, code_hash)`, `"s" ‖ address ‖ slot → value`,
    /// `"c" ‖ code_hash → code`, `"o" ‖ address → account id`.
    pub fn state_root(&self) -> [u8; 32] {
        let mut tree = self.tree.borrow_mut();
        let mut pending = self.pending.borrow_mut();
        match tree.as_mut() {
            None => {
                pending.clear();
                tree.insert(self.build_tree()).root()
            }
            Some(t) => {
                if !pending.is_empty() {
                    let mut keys = core::mem::take(&mut *pending);
                    keys.sort_unstable();
                    keys.dedup();
                    t.apply(self.updates(keys, |k| self.paths.path(k)));
                }
                t.root()
            }
        }
    }

    /// Credits `amount` to `address` (value the chain moved into the cluster's account).
    pub fn credit(&mut self, address: [u8; 20], amount: Balance) -> Result<(), ContractError> {
        let entry = self
            .accounts
            .entry(address)
            .or_insert_with(|| EvmAccount { code_hash: KECCAK_EMPTY.0, ..EvmAccount::default() });
        let sum =
            u256(&entry.balance).checked_add(U256::from(amount)).ok_or(ContractError::Overflow)?;
        entry.balance = sum.to_be_bytes::<32>();
        self.update_tree([Key::Account(address)]);
        Ok(())
    }

    /// The sum of every balance in the cluster (for conservation checks).
    pub fn total_balance(&self) -> U256 {
        self.accounts.values().fold(U256::ZERO, |acc, a| acc.saturating_add(u256(&a.balance)))
    }

    /// The balance of `address`.
    pub fn balance(&self, address: &[u8; 20]) -> U256 {
        self.accounts.get(address).map(|a| u256(&a.balance)).unwrap_or_default()
    }

    /// Storage slot `slot` of `address` (zero if unset).
    pub fn storage(&self, address: &[u8; 20], slot: [u8; 32]) -> [u8; 32] {
        self.accounts.get(address).and_then(|a| a.storage.get(&slot).copied()).unwrap_or([0; 32])
    }
}

fn convert(result: ExecutionResult) -> (EvmStatus, u64, Vec<u8>, Option<[u8; 20]>, Vec<EvmLog>) {
    match result {
        ExecutionResult::Success { gas_used, logs, output, .. } => {
            let (out, created) = match output {
                EvmOutput::Call(b) => (b.to_vec(), None),
                EvmOutput::Create(b, addr) => (b.to_vec(), addr.map(|a| a.0 .0)),
            };
            let logs = logs
                .into_iter()
                .map(|l| EvmLog {
                    address: l.address.0 .0,
                    topics: l.data.topics().iter().map(|t| t.0).collect(),
                    data: l.data.data.to_vec(),
                })
                .collect();
            (EvmStatus::Success, gas_used, out, created, logs)
        }
        ExecutionResult::Revert { gas_used, output } => {
            (EvmStatus::Revert, gas_used, output.to_vec(), None, Vec::new())
        }
        ExecutionResult::Halt { reason, gas_used } => {
            (EvmStatus::Halt(format!("{reason:?}")), gas_used, Vec::new(), None, Vec::new())
        }
    }
}

impl Contract for EvmCluster {
    type Command = EvmCommand;
    type Query = EvmQuery;
    type Response = EvmResponse;

    /// Execution happens against a read-only view; the state changes only after a valid
    /// transaction, in [`EvmCluster::commit`].
    const VALIDATES_BEFORE_MUTATING: bool = true;

    const RECEIVES_VALUE: bool = true;

    /// Credits the value to the sender's mapped EVM address and records the address's owner
    /// (so the payout precompile can pay it back out on chain).
    fn receive_value(&mut self, ctx: &CommandContext) -> Result<(), ContractError> {
        let address = evm_address(&ctx.origin);
        self.credit(address, ctx.value)?;
        if self.senders.insert(address, ctx.origin).is_none() {
            self.update_tree([Key::Sender(address)]);
        }
        Ok(())
    }

    fn handle_command(
        &mut self,
        ctx: &CommandContext,
        cmd: EvmCommand,
    ) -> Result<Vec<Output>, ContractError> {
        self.handle_metered(ctx, cmd).map(|(outputs, _)| outputs)
    }

    const METERED: bool = true;

    /// Runs under the smaller of the command's own gas limit and the one prepaid on chain
    /// (`ctx.gas_limit`, which the chain bounded by its governance cap); the gas used is revm's
    /// (the receipt's), identical on every worker.
    fn handle_metered(
        &mut self,
        ctx: &CommandContext,
        cmd: EvmCommand,
    ) -> Result<(Vec<Output>, u64), ContractError> {
        self.analyse_codes();
        let caller = evm_address(&ctx.origin);
        let tx = match cmd {
            EvmCommand::Deploy { code, value, gas_limit } => {
                let gas_limit = gas_limit.min(ctx.gas_limit);
                check_gas(gas_limit, u64::MAX)?;
                Tx { caller, to: None, data: code, value, gas_limit, block: ctx.block }
            }
            EvmCommand::Call { to, data, value, gas_limit } => {
                let gas_limit = gas_limit.min(ctx.gas_limit);
                check_gas(gas_limit, u64::MAX)?;
                Tx { caller, to: Some(to), data, value, gas_limit, block: ctx.block }
            }
        };
        let gas_limit = tx.gas_limit;
        let (ResultAndState { result, state }, calls, floor) = self.run_command(tx, ctx.seq)?;
        self.commit(state);
        if self.senders.insert(caller, ctx.origin).is_none() {
            self.update_tree([Key::Sender(caller)]);
        }
        let (status, gas_used, output, created, logs) = convert(result);
        // A successful command pays at least the padding it asked for, never above its limit.
        let gas_used = gas_used.max(floor.min(gas_limit));
        let receipt = EvmReceipt { seq: ctx.seq, status, gas_used, output, created, logs };
        let mut outputs = Vec::with_capacity(calls.len().saturating_add(1));
        outputs.push(Output::PrivateEvent { to: ctx.origin, payload: receipt.encode() });
        outputs.extend(calls);
        Ok((outputs, gas_used))
    }

    fn set_random_seed(&mut self, seed: [u8; 32]) {
        self.seed = Some(seed);
    }

    fn state_root(&self) -> Option<[u8; 32]> {
        Some(EvmCluster::state_root(self))
    }

    fn handle_query(
        &self,
        origin: &AccountId,
        query: EvmQuery,
    ) -> Result<EvmResponse, ContractError> {
        match query {
            EvmQuery::Call { to, data, gas_limit } => {
                check_gas(gas_limit, MAX_GAS_PER_QUERY)?;
                let tx = Tx {
                    caller: evm_address(origin),
                    to: Some(to),
                    data,
                    value: 0,
                    gas_limit,
                    block: 0,
                };
                let ResultAndState { result, .. } = self.run(tx)?;
                let (status, gas_used, output, _, _) = convert(result);
                Ok(EvmResponse::Call { status, gas_used, output })
            }
            EvmQuery::MyBalance => {
                Ok(EvmResponse::Balance(self.balance(&evm_address(origin)).to_be_bytes::<32>()))
            }
            EvmQuery::Account(address) => {
                Ok(EvmResponse::Account(self.senders.get(&address).copied()))
            }
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod solidity_tests;

#[cfg(test)]
mod app_tests;
