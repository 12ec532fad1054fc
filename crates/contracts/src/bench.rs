//! Deterministic workloads for timing contract execution and replay (`umbra bench contracts`).

use parity_scale_codec::Encode;
use umbra_crypto::blake2_256;
use umbra_primitives::AccountId;

use crate::contract::{CommandContext, ContractKind};
use crate::guestbook::{GuestbookCommand, MAX_TEXT_LEN};
use crate::keys::contract_id;

/// How many distinct authors post in [`guestbook_commands`].
pub const BENCH_AUTHORS: u64 = 64;
/// How many commands [`guestbook_commands`] puts in one block.
pub const BENCH_COMMANDS_PER_BLOCK: u64 = 50;

const WORDS: &[&str] = &[
    "hello",
    "from",
    "the",
    "enclave",
    "umbra",
    "confidential",
    "compute",
    "worker",
    "block",
    "chain",
    "private",
    "visitor",
    "greetings",
    "nice",
    "place",
    "see",
    "you",
    "again",
    "soon",
    "thanks",
    "for",
    "hosting",
    "this",
    "guestbook",
    "was",
    "here",
    "today",
    "with",
    "friends",
    "lovely",
    "weather",
    "coffee",
    "zero",
    "knowledge",
    "attested",
    "sealed",
    "state",
    "ordered",
];

/// A deterministic benchmark account (no key behind it; contracts only see account ids).
pub fn bench_account(n: u64) -> AccountId {
    AccountId::from(blake2_256(&("umbra/bench/account", n).encode()))
}

/// Deterministic text of 12 to 280 bytes for post `n`.
fn post_text(n: u64) -> String {
    let h = blake2_256(&("umbra/bench/text", n).encode());
    // At most 12 + 255 * 268 / 255 = 280: no overflow.
    let span = usize::from(h[0]).saturating_mul(MAX_TEXT_LEN.saturating_sub(12)) / 255;
    let target = span.saturating_add(12);
    let mut text = format!("#{n}");
    for (i, byte) in h.iter().cycle().enumerate().skip(1) {
        let word = WORDS[usize::from(*byte).wrapping_add(i).checked_rem(WORDS.len()).unwrap_or(0)];
        if text.len().saturating_add(1).saturating_add(word.len()) > target {
            break;
        }
        text.push(' ');
        text.push_str(word);
    }
    text
}

/// A guestbook workload: an `Init` by [`bench_account(0)`](bench_account) followed by `n`
/// `Post` commands (so `n + 1` commands in all) from [`BENCH_AUTHORS`] rotating authors, with
/// texts of 12 to 280 bytes, [`BENCH_COMMANDS_PER_BLOCK`] commands per block, `seq` counting
/// from 0. Every command succeeds when replayed in order on a fresh
/// [`crate::Instance::new(ContractKind::Guestbook)`](crate::Instance::new).
///
/// The contract id is `contract_id(bench_account(0), Guestbook, b"umbra/bench")`.
pub fn guestbook_commands(n: usize) -> Vec<(CommandContext, Vec<u8>)> {
    let owner = bench_account(0);
    let contract = contract_id(&owner, ContractKind::Guestbook, b"umbra/bench");
    let ctx = |seq: u64, origin: AccountId| CommandContext {
        contract,
        origin,
        block: (seq / BENCH_COMMANDS_PER_BLOCK).saturating_add(1),
        seq,
        value: 0,
        gas_limit: crate::gas::MAX_GAS_CAP,
    };
    let mut commands = Vec::with_capacity(n.saturating_add(1));
    let init = GuestbookCommand::Init { title: "Umbra benchmark guestbook".into() };
    commands.push((ctx(0, owner), init.encode()));
    for (i, seq) in (0..n as u64).zip(1u64..) {
        let author = bench_account((i % BENCH_AUTHORS).saturating_add(1));
        let post = GuestbookCommand::Post { text: post_text(i) };
        commands.push((ctx(seq, author), post.encode()));
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Output;
    use crate::guestbook::{GuestbookInfo, GuestbookQuery, GuestbookResponse};
    use crate::Instance;
    use parity_scale_codec::Decode;

    #[test]
    fn workload_is_deterministic_and_replays_cleanly() {
        let cmds = guestbook_commands(300);
        assert_eq!(cmds.len(), 301);
        assert_eq!(cmds, guestbook_commands(300));
        assert_eq!(guestbook_commands(0).len(), 1);

        let mut inst = Instance::new(ContractKind::Guestbook);
        for (i, (ctx, cmd)) in cmds.iter().enumerate() {
            assert_eq!(ctx.seq, i as u64);
            let out = inst.execute(ctx, cmd).expect("bench command succeeds");
            if i > 0 {
                assert!(matches!(out[..], [Output::PublicEvent(_), Output::PrivateEvent { .. }]));
            }
        }
        let info = inst.query(&bench_account(5), &GuestbookQuery::Info.encode()).unwrap();
        assert_eq!(
            GuestbookResponse::decode(&mut &info[..]).unwrap(),
            GuestbookResponse::Info(GuestbookInfo {
                title: "Umbra benchmark guestbook".into(),
                owner: bench_account(0),
                post_count: 300,
            })
        );
        assert_eq!(cmds[300].0.block, 1 + 300 / BENCH_COMMANDS_PER_BLOCK);
    }

    #[test]
    fn texts_are_varied_and_within_limits() {
        let lens: Vec<usize> = (0..500).map(|i| post_text(i).len()).collect();
        assert!(lens.iter().all(|l| (2..=MAX_TEXT_LEN).contains(l)), "{lens:?}");
        assert!(lens.iter().any(|l| *l > 200) && lens.iter().any(|l| *l < 60), "{lens:?}");
        assert_ne!(post_text(1), post_text(2));
    }
}
