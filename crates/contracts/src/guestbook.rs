//! `guestbook`: the smallest real contract, proving the whole pipeline (encrypted commands,
//! public and private events, transfers out of the contract account, authenticated queries).
//!
//! * The first command must be [`GuestbookCommand::Init`]; its origin becomes the owner.
//! * Anyone may [`GuestbookCommand::Post`] up to [`MAX_TEXT_LEN`] bytes of text. Ids count
//!   from 1 and are never reused, even after a delete. A post emits the public event
//!   `post #<id> by <ss58>` and a private event to its author confirming the id.
//! * A post can be deleted by its author or by the owner.
//! * The owner can pay out of the contract's on-chain account ([`crate::contract_account`]).
//!
//! Every command checks everything before it changes anything, so a refused command leaves
//! the state exactly as it was ([`Contract::VALIDATES_BEFORE_MUTATING`]).

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use umbra_primitives::serde_helpers::{account_ss58, balance_str};
use umbra_primitives::{AccountId, Balance};

use crate::contract::{CommandContext, Contract, Output};
use crate::error::ContractError;
use crate::evm::commitment::MerkleMap;

/// Longest post, in bytes of UTF-8.
pub const MAX_TEXT_LEN: usize = 280;
/// Longest guestbook title, in bytes of UTF-8.
pub const MAX_TITLE_LEN: usize = 100;
/// Largest page [`GuestbookQuery::Posts`] returns.
pub const MAX_PAGE: u32 = 100;

/// One post.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
pub struct Post {
    /// Its id (1, 2, 3, ...; never reused).
    pub id: u64,
    /// Who posted it.
    #[serde(with = "account_ss58")]
    pub author: AccountId,
    /// The text (at most [`MAX_TEXT_LEN`] bytes).
    pub text: String,
    /// The block that included the command.
    pub block: u64,
}

/// Commands (SCALE indices stable; JSON form for clients).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
pub enum GuestbookCommand {
    /// Opens the guestbook; must be the first command. The origin becomes the owner.
    #[codec(index = 0)]
    Init {
        /// The title (1 to [`MAX_TITLE_LEN`] bytes).
        title: String,
    },
    /// Adds a post by the origin.
    #[codec(index = 1)]
    Post {
        /// The text (1 to [`MAX_TEXT_LEN`] bytes, not only whitespace).
        text: String,
    },
    /// Removes a post; only its author or the owner may.
    #[codec(index = 2)]
    Delete {
        /// The post's id.
        id: u64,
    },
    /// Pays `amount` from the contract's on-chain account to `to`; owner only.
    #[codec(index = 3)]
    Payout {
        /// The receiver.
        #[serde(with = "account_ss58")]
        to: AccountId,
        /// The amount in the smallest unit (must not be zero).
        #[serde(with = "balance_str")]
        amount: Balance,
    },
}

/// Queries (SCALE indices stable; JSON form for clients).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
pub enum GuestbookQuery {
    /// Title, owner and number of posts.
    #[codec(index = 0)]
    Info,
    /// Up to `limit` posts with id ≥ `from`, in id order.
    #[codec(index = 1)]
    Posts {
        /// The smallest id to return.
        from: u64,
        /// At most this many posts (at most [`MAX_PAGE`]).
        limit: u32,
    },
    /// All posts whose author is the query's origin, in id order.
    #[codec(index = 2)]
    MyPosts,
}

/// The answer to [`GuestbookQuery::Info`].
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
pub struct GuestbookInfo {
    /// The title given at `Init`.
    pub title: String,
    /// The origin of `Init`.
    #[serde(with = "account_ss58")]
    pub owner: AccountId,
    /// How many posts exist now (deleted ones excluded).
    pub post_count: u64,
}

/// Answers to [`GuestbookQuery`].
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
pub enum GuestbookResponse {
    /// Answer to [`GuestbookQuery::Info`].
    #[codec(index = 0)]
    Info(GuestbookInfo),
    /// Answer to [`GuestbookQuery::Posts`] and [`GuestbookQuery::MyPosts`].
    #[codec(index = 1)]
    Posts(Vec<Post>),
}

/// Title and owner, set once by `Init`.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
struct Meta {
    title: String,
    owner: AccountId,
}

/// The guestbook state.
#[derive(Clone, Default, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Guestbook {
    /// `None` until `Init`.
    meta: Option<Meta>,
    /// The posts by id.
    posts: BTreeMap<u64, Post>,
    /// The last id given out (0: none yet).
    last_id: u64,
    /// The incremental state commitment (not part of the state; rebuilt after a restore).
    #[codec(skip)]
    tree: Option<MerkleMap>,
}

/// A key of the guestbook's state commitment.
#[derive(Clone, Copy)]
enum Key {
    Meta,
    LastId,
    Post(u64),
}

impl Key {
    fn bytes(self) -> Vec<u8> {
        match self {
            Key::Meta => b"m".to_vec(),
            Key::LastId => b"l".to_vec(),
            Key::Post(id) => [b"p".as_slice(), &id.to_le_bytes()].concat(),
        }
    }
}

/// Checks a text field: not blank, not longer than `max` bytes.
fn check_text(text: &str, max: usize) -> Result<(), ContractError> {
    if text.len() > max {
        return Err(ContractError::TextTooLong { len: text.len(), max });
    }
    if text.trim().is_empty() {
        return Err(ContractError::EmptyText);
    }
    Ok(())
}

impl Guestbook {
    fn value_of(&self, key: Key) -> Option<Vec<u8>> {
        match key {
            Key::Meta => self.meta.as_ref().map(Encode::encode),
            Key::LastId => Some(self.last_id.encode()),
            Key::Post(id) => self.posts.get(&id).map(Encode::encode),
        }
    }

    fn build_tree(&self) -> MerkleMap {
        let mut tree = MerkleMap::default();
        let keys =
            [Key::Meta, Key::LastId].into_iter().chain(self.posts.keys().map(|id| Key::Post(*id)));
        for key in keys {
            if let Some(v) = self.value_of(key) {
                tree.set(&key.bytes(), &v);
            }
        }
        tree
    }

    /// Brings the commitment up to date after `keys` changed.
    fn update_tree(&mut self, keys: &[Key]) {
        let Some(mut tree) = self.tree.take() else {
            self.tree = Some(self.build_tree());
            return;
        };
        for key in keys {
            match self.value_of(*key) {
                Some(v) => tree.set(&key.bytes(), &v),
                None => tree.remove(&key.bytes()),
            }
        }
        self.tree = Some(tree);
    }

    fn meta(&self) -> Result<&Meta, ContractError> {
        self.meta.as_ref().ok_or(ContractError::NotInitialized)
    }

    fn init(&mut self, ctx: &CommandContext, title: String) -> Result<Vec<Output>, ContractError> {
        if self.meta.is_some() {
            return Err(ContractError::AlreadyInitialized);
        }
        check_text(&title, MAX_TITLE_LEN)?;
        // Public events carry no command plaintext: the title stays inside the contract.
        let event = format!("guestbook opened by {}", ctx.origin);
        self.meta = Some(Meta { title, owner: ctx.origin });
        self.update_tree(&[Key::Meta]);
        Ok(vec![Output::PublicEvent(event.into_bytes())])
    }

    fn post(&mut self, ctx: &CommandContext, text: String) -> Result<Vec<Output>, ContractError> {
        self.meta()?;
        check_text(&text, MAX_TEXT_LEN)?;
        let id = self.last_id.checked_add(1).ok_or(ContractError::IdsExhausted)?;
        self.last_id = id;
        self.posts.insert(id, Post { id, author: ctx.origin, text, block: ctx.block });
        self.update_tree(&[Key::LastId, Key::Post(id)]);
        Ok(vec![
            Output::PublicEvent(format!("post #{id} by {}", ctx.origin).into_bytes()),
            Output::PrivateEvent {
                to: ctx.origin,
                payload: format!("your post #{id} was recorded in block {}", ctx.block)
                    .into_bytes(),
            },
        ])
    }

    fn delete(&mut self, ctx: &CommandContext, id: u64) -> Result<Vec<Output>, ContractError> {
        let owner = self.meta()?.owner;
        let post = self.posts.get(&id).ok_or(ContractError::NotFound(id))?;
        if post.author != ctx.origin && owner != ctx.origin {
            return Err(ContractError::NotAllowed(
                "only the author or the owner may delete a post",
            ));
        }
        self.posts.remove(&id);
        self.update_tree(&[Key::Post(id)]);
        Ok(vec![Output::PublicEvent(format!("post #{id} deleted by {}", ctx.origin).into_bytes())])
    }

    fn payout(
        &self,
        ctx: &CommandContext,
        to: AccountId,
        amount: Balance,
    ) -> Result<Vec<Output>, ContractError> {
        if self.meta()?.owner != ctx.origin {
            return Err(ContractError::NotAllowed("only the owner may pay out"));
        }
        if amount == 0 {
            return Err(ContractError::ZeroAmount);
        }
        Ok(vec![Output::Transfer { to, amount }])
    }
}

impl Contract for Guestbook {
    type Command = GuestbookCommand;
    type Query = GuestbookQuery;
    type Response = GuestbookResponse;

    const VALIDATES_BEFORE_MUTATING: bool = true;

    fn handle_command(
        &mut self,
        ctx: &CommandContext,
        cmd: GuestbookCommand,
    ) -> Result<Vec<Output>, ContractError> {
        match cmd {
            GuestbookCommand::Init { title } => self.init(ctx, title),
            GuestbookCommand::Post { text } => self.post(ctx, text),
            GuestbookCommand::Delete { id } => self.delete(ctx, id),
            GuestbookCommand::Payout { to, amount } => self.payout(ctx, to, amount),
        }
    }

    /// `compute_root` over `"m"` → SCALE(meta), `"l"` → SCALE(last id), `"p" ‖ id LE` →
    /// SCALE(post), maintained per changed entry.
    fn state_root(&self) -> Option<[u8; 32]> {
        Some(match &self.tree {
            Some(t) => t.root(),
            None => self.build_tree().root(),
        })
    }

    fn handle_query(
        &self,
        origin: &AccountId,
        query: GuestbookQuery,
    ) -> Result<GuestbookResponse, ContractError> {
        let meta = self.meta()?;
        match query {
            GuestbookQuery::Info => Ok(GuestbookResponse::Info(GuestbookInfo {
                title: meta.title.clone(),
                owner: meta.owner,
                post_count: self.posts.len() as u64,
            })),
            GuestbookQuery::Posts { from, limit } => {
                if limit > MAX_PAGE {
                    return Err(ContractError::LimitTooLarge { limit, max: MAX_PAGE });
                }
                Ok(GuestbookResponse::Posts(
                    self.posts.range(from..).take(limit as usize).map(|(_, p)| p.clone()).collect(),
                ))
            }
            GuestbookQuery::MyPosts => Ok(GuestbookResponse::Posts(
                self.posts.values().filter(|p| p.author == *origin).cloned().collect(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ContractKind;
    use crate::instance::Instance;
    use proptest::prelude::*;
    use umbra_primitives::H256;

    fn acct(n: u8) -> AccountId {
        AccountId::from([n; 32])
    }

    const OWNER: u8 = 1;
    const ALICE: u8 = 2;
    const BOB: u8 = 3;

    /// A guestbook instance plus a running sequence number.
    struct Book {
        inst: Instance,
        seq: u64,
    }

    impl Book {
        fn new() -> Book {
            Book { inst: Instance::new(ContractKind::Guestbook), seq: 0 }
        }

        fn opened() -> Book {
            let mut b = Book::new();
            b.cmd(OWNER, GuestbookCommand::Init { title: "Visitors".into() }).unwrap();
            b
        }

        fn cmd(&mut self, who: u8, cmd: GuestbookCommand) -> Result<Vec<Output>, ContractError> {
            let ctx = CommandContext {
                contract: H256([7; 32]),
                origin: acct(who),
                block: self.seq.saturating_add(10),
                seq: self.seq,
                value: 0,
                gas_limit: crate::gas::MAX_GAS_CAP,
            };
            self.seq = self.seq.saturating_add(1);
            self.inst.execute(&ctx, &cmd.encode())
        }

        /// Runs a command that must fail and checks it changed nothing.
        fn refused(&mut self, who: u8, cmd: GuestbookCommand) -> ContractError {
            let before = self.inst.state_hash();
            let snapshot = self.inst.snapshot();
            let err = self.cmd(who, cmd).expect_err("command must be refused");
            assert_eq!(self.inst.state_hash(), before, "refused command changed the state");
            assert_eq!(self.inst.snapshot(), snapshot);
            err
        }

        fn query(&self, who: u8, q: GuestbookQuery) -> Result<GuestbookResponse, ContractError> {
            let bytes = self.inst.query(&acct(who), &q.encode())?;
            Ok(GuestbookResponse::decode(&mut &bytes[..]).expect("valid response"))
        }

        fn posts(&self, who: u8, q: GuestbookQuery) -> Vec<Post> {
            match self.query(who, q).unwrap() {
                GuestbookResponse::Posts(p) => p,
                other => panic!("expected posts, got {other:?}"),
            }
        }

        fn info(&self) -> GuestbookInfo {
            match self.query(BOB, GuestbookQuery::Info).unwrap() {
                GuestbookResponse::Info(i) => i,
                other => panic!("expected info, got {other:?}"),
            }
        }

        fn post(&mut self, who: u8, text: &str) -> Result<Vec<Output>, ContractError> {
            self.cmd(who, GuestbookCommand::Post { text: text.into() })
        }
    }

    #[test]
    fn init_sets_owner_and_title_once() {
        let mut b = Book::new();
        let out = b.cmd(OWNER, GuestbookCommand::Init { title: "Visitors".into() }).unwrap();
        assert_eq!(
            out,
            vec![Output::PublicEvent(
                format!("guestbook opened by {}", acct(OWNER).to_ss58()).into_bytes()
            )]
        );
        assert_eq!(
            b.info(),
            GuestbookInfo { title: "Visitors".into(), owner: acct(OWNER), post_count: 0 }
        );
        assert_eq!(
            b.refused(ALICE, GuestbookCommand::Init { title: "Mine".into() }),
            ContractError::AlreadyInitialized
        );
        assert_eq!(
            b.refused(OWNER, GuestbookCommand::Init { title: "Again".into() }),
            ContractError::AlreadyInitialized
        );
        assert_eq!(b.info().owner, acct(OWNER));
    }

    #[test]
    fn init_checks_title() {
        let mut b = Book::new();
        assert_eq!(
            b.refused(OWNER, GuestbookCommand::Init { title: "x".repeat(MAX_TITLE_LEN + 1) }),
            ContractError::TextTooLong { len: MAX_TITLE_LEN + 1, max: MAX_TITLE_LEN }
        );
        assert_eq!(
            b.refused(OWNER, GuestbookCommand::Init { title: " \n".into() }),
            ContractError::EmptyText
        );
        // Still uninitialized, so the next Init (by anyone) decides the owner.
        b.cmd(ALICE, GuestbookCommand::Init { title: "x".repeat(MAX_TITLE_LEN) }).unwrap();
        assert_eq!(b.info().owner, acct(ALICE));
    }

    #[test]
    fn everything_needs_init_first() {
        let mut b = Book::new();
        let fresh = b.inst.state_hash();
        assert_eq!(
            b.refused(ALICE, GuestbookCommand::Post { text: "hi".into() }),
            ContractError::NotInitialized
        );
        assert_eq!(
            b.refused(ALICE, GuestbookCommand::Delete { id: 1 }),
            ContractError::NotInitialized
        );
        assert_eq!(
            b.refused(ALICE, GuestbookCommand::Payout { to: acct(ALICE), amount: 1 }),
            ContractError::NotInitialized
        );
        for q in [
            GuestbookQuery::Info,
            GuestbookQuery::MyPosts,
            GuestbookQuery::Posts { from: 0, limit: 1 },
        ] {
            assert_eq!(b.query(ALICE, q), Err(ContractError::NotInitialized));
        }
        assert_eq!(b.inst.state_hash(), fresh);
    }

    #[test]
    fn post_emits_public_and_private_events() {
        let mut b = Book::opened();
        let seq = b.seq;
        let out = b.post(ALICE, "hello from alice").unwrap();
        assert_eq!(
            out,
            vec![
                Output::PublicEvent(format!("post #1 by {}", acct(ALICE).to_ss58()).into_bytes()),
                Output::PrivateEvent {
                    to: acct(ALICE),
                    payload: format!("your post #1 was recorded in block {}", 10 + seq)
                        .into_bytes(),
                },
            ]
        );
        let out = b.post(BOB, "bob was here").unwrap();
        assert_eq!(out[0], Output::PublicEvent(format!("post #2 by {}", acct(BOB)).into_bytes()));
        assert_eq!(b.info().post_count, 2);
        let all = b.posts(OWNER, GuestbookQuery::Posts { from: 0, limit: 10 });
        assert_eq!(
            all,
            vec![
                Post {
                    id: 1,
                    author: acct(ALICE),
                    text: "hello from alice".into(),
                    block: 10 + seq
                },
                Post { id: 2, author: acct(BOB), text: "bob was here".into(), block: 11 + seq },
            ]
        );
    }

    #[test]
    fn post_checks_text() {
        let mut b = Book::opened();
        assert_eq!(
            b.refused(ALICE, GuestbookCommand::Post { text: "a".repeat(MAX_TEXT_LEN + 1) }),
            ContractError::TextTooLong { len: MAX_TEXT_LEN + 1, max: MAX_TEXT_LEN }
        );
        // The limit counts bytes, not characters: 141 two-byte characters are 282 bytes.
        assert_eq!(
            b.refused(ALICE, GuestbookCommand::Post { text: "é".repeat(141) }),
            ContractError::TextTooLong { len: 282, max: MAX_TEXT_LEN }
        );
        assert_eq!(
            b.refused(ALICE, GuestbookCommand::Post { text: String::new() }),
            ContractError::EmptyText
        );
        assert_eq!(
            b.refused(ALICE, GuestbookCommand::Post { text: "\t ".into() }),
            ContractError::EmptyText
        );
        b.post(ALICE, &"a".repeat(MAX_TEXT_LEN)).unwrap();
        b.post(ALICE, &"é".repeat(140)).unwrap();
        assert_eq!(b.info().post_count, 2);
    }

    #[test]
    fn delete_by_author_or_owner_only() {
        let mut b = Book::opened();
        b.post(ALICE, "one").unwrap();
        b.post(BOB, "two").unwrap();
        b.post(ALICE, "three").unwrap();

        assert_eq!(
            b.refused(BOB, GuestbookCommand::Delete { id: 1 }),
            ContractError::NotAllowed("only the author or the owner may delete a post")
        );
        assert_eq!(
            b.refused(BOB, GuestbookCommand::Delete { id: 99 }),
            ContractError::NotFound(99)
        );

        // The author deletes their own post.
        let out = b.cmd(ALICE, GuestbookCommand::Delete { id: 1 }).unwrap();
        assert_eq!(
            out,
            vec![Output::PublicEvent(format!("post #1 deleted by {}", acct(ALICE)).into_bytes())]
        );
        // The owner deletes someone else's.
        b.cmd(OWNER, GuestbookCommand::Delete { id: 2 }).unwrap();
        // Deleting twice fails.
        assert_eq!(
            b.refused(ALICE, GuestbookCommand::Delete { id: 1 }),
            ContractError::NotFound(1)
        );

        let left = b.posts(OWNER, GuestbookQuery::Posts { from: 0, limit: 100 });
        assert_eq!(left.iter().map(|p| p.id).collect::<Vec<_>>(), vec![3]);
        assert_eq!(b.info().post_count, 1);

        // Ids are never reused.
        b.post(BOB, "four").unwrap();
        let ids: Vec<u64> = b
            .posts(OWNER, GuestbookQuery::Posts { from: 0, limit: 100 })
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, vec![3, 4]);
    }

    #[test]
    fn payout_is_owner_only_and_non_zero() {
        let mut b = Book::opened();
        assert_eq!(
            b.refused(ALICE, GuestbookCommand::Payout { to: acct(ALICE), amount: 5 }),
            ContractError::NotAllowed("only the owner may pay out")
        );
        assert_eq!(
            b.refused(OWNER, GuestbookCommand::Payout { to: acct(ALICE), amount: 0 }),
            ContractError::ZeroAmount
        );
        let before = b.inst.state_hash();
        let out =
            b.cmd(OWNER, GuestbookCommand::Payout { to: acct(ALICE), amount: u128::MAX }).unwrap();
        assert_eq!(out, vec![Output::Transfer { to: acct(ALICE), amount: u128::MAX }]);
        // A payout does not change the contract's state (the chain moves the funds).
        assert_eq!(b.inst.state_hash(), before);
    }

    #[test]
    fn posts_pagination() {
        let mut b = Book::opened();
        for i in 0..250 {
            b.post(if i % 2 == 0 { ALICE } else { BOB }, &format!("post {i}")).unwrap();
        }
        let page = b.posts(BOB, GuestbookQuery::Posts { from: 0, limit: MAX_PAGE });
        assert_eq!(page.len(), 100);
        assert_eq!(page[0].id, 1);
        assert_eq!(page[99].id, 100);
        let page = b.posts(BOB, GuestbookQuery::Posts { from: 101, limit: MAX_PAGE });
        assert_eq!((page[0].id, page[99].id), (101, 200));
        let page = b.posts(BOB, GuestbookQuery::Posts { from: 201, limit: MAX_PAGE });
        assert_eq!(page.len(), 50);
        assert!(b.posts(BOB, GuestbookQuery::Posts { from: 251, limit: 10 }).is_empty());
        assert!(b.posts(BOB, GuestbookQuery::Posts { from: 1, limit: 0 }).is_empty());
        assert!(b.posts(BOB, GuestbookQuery::Posts { from: u64::MAX, limit: 100 }).is_empty());
        assert_eq!(
            b.query(BOB, GuestbookQuery::Posts { from: 0, limit: MAX_PAGE + 1 }),
            Err(ContractError::LimitTooLarge { limit: 101, max: 100 })
        );
        assert_eq!(
            b.query(BOB, GuestbookQuery::Posts { from: 0, limit: u32::MAX }),
            Err(ContractError::LimitTooLarge { limit: u32::MAX, max: 100 })
        );
    }

    #[test]
    fn my_posts_returns_only_the_origins() {
        let mut b = Book::opened();
        b.post(ALICE, "a1").unwrap();
        b.post(BOB, "b1").unwrap();
        b.post(ALICE, "a2").unwrap();
        let mine = b.posts(ALICE, GuestbookQuery::MyPosts);
        assert_eq!(mine.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(), vec!["a1", "a2"]);
        assert!(mine.iter().all(|p| p.author == acct(ALICE)));
        assert_eq!(b.posts(BOB, GuestbookQuery::MyPosts).len(), 1);
        assert!(b.posts(OWNER, GuestbookQuery::MyPosts).is_empty());
    }

    #[test]
    fn malformed_messages_are_refused() {
        let mut b = Book::opened();
        let before = b.inst.state_hash();
        let ctx = CommandContext {
            contract: H256([7; 32]),
            origin: acct(ALICE),
            block: 1,
            seq: 1,
            value: 0,
            gas_limit: crate::gas::MAX_GAS_CAP,
        };
        for bad in [
            vec![],
            vec![9],                               // unknown command index
            vec![1, 8, 0xff, 0xfe, 0xfd, 0xfc],    // Post with invalid UTF-8
            vec![1, 0xfc, 0xff, 0xff, 0xff, 0xff], // Post with a huge length prefix
            vec![2, 1, 0, 0],                      // Delete with a truncated id
            [GuestbookCommand::Delete { id: 1 }.encode(), vec![0]].concat(), // trailing byte
        ] {
            assert!(
                matches!(b.inst.execute(&ctx, &bad), Err(ContractError::Decode(_))),
                "accepted {bad:?}"
            );
        }
        assert_eq!(b.inst.state_hash(), before);
        for bad in
            [vec![], vec![3], vec![1, 0, 0], [GuestbookQuery::Info.encode(), vec![1]].concat()]
        {
            assert!(matches!(b.inst.query(&acct(ALICE), &bad), Err(ContractError::Decode(_))));
        }
    }

    #[test]
    fn message_indices_are_stable() {
        assert_eq!(GuestbookCommand::Init { title: String::new() }.encode(), vec![0, 0]);
        assert_eq!(GuestbookCommand::Post { text: "a".into() }.encode(), vec![1, 4, b'a']);
        assert_eq!(GuestbookCommand::Delete { id: 1 }.encode(), vec![2, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(GuestbookCommand::Payout { to: acct(0), amount: 0 }.encode()[0], 3);
        assert_eq!(GuestbookQuery::Info.encode(), vec![0]);
        assert_eq!(GuestbookQuery::Posts { from: 0, limit: 0 }.encode().len(), 13);
        assert_eq!(GuestbookQuery::MyPosts.encode(), vec![2]);
    }

    #[test]
    fn json_forms_for_clients() {
        let cmd = GuestbookCommand::Payout { to: acct(ALICE), amount: 10u128.pow(20) };
        let json = serde_json::to_string(&cmd).unwrap();
        assert_eq!(
            json,
            format!(r#"{{"Payout":{{"to":"{}","amount":"100000000000000000000"}}}}"#, acct(ALICE))
        );
        assert_eq!(serde_json::from_str::<GuestbookCommand>(&json).unwrap(), cmd);
        let q: GuestbookQuery = serde_json::from_str(r#"{"Posts":{"from":3,"limit":10}}"#).unwrap();
        assert_eq!(q, GuestbookQuery::Posts { from: 3, limit: 10 });
        let resp = GuestbookResponse::Posts(vec![Post {
            id: 1,
            author: acct(BOB),
            text: "t".into(),
            block: 2,
        }]);
        assert_eq!(
            serde_json::from_str::<GuestbookResponse>(&serde_json::to_string(&resp).unwrap())
                .unwrap(),
            resp
        );
    }

    fn command_strategy() -> impl Strategy<Value = GuestbookCommand> {
        prop_oneof![
            ".{0,120}".prop_map(|title| GuestbookCommand::Init { title }),
            ".{0,300}".prop_map(|text| GuestbookCommand::Post { text }),
            any::<u64>().prop_map(|id| GuestbookCommand::Delete { id }),
            (any::<[u8; 32]>(), any::<u128>()).prop_map(|(to, amount)| GuestbookCommand::Payout {
                to: AccountId::from(to),
                amount
            }),
        ]
    }

    proptest! {
        #[test]
        fn command_scale_round_trip(cmd in command_strategy()) {
            let bytes = cmd.encode();
            prop_assert_eq!(GuestbookCommand::decode(&mut &bytes[..]), Ok(cmd));
        }

        #[test]
        fn query_and_response_scale_round_trip(
            from in any::<u64>(),
            limit in any::<u32>(),
            title in ".{0,40}",
            owner in any::<[u8; 32]>(),
            post_count in any::<u64>(),
            texts in proptest::collection::vec(".{0,40}", 0..5),
        ) {
            for q in [GuestbookQuery::Info, GuestbookQuery::MyPosts, GuestbookQuery::Posts { from, limit }] {
                let bytes = q.encode();
                prop_assert_eq!(GuestbookQuery::decode(&mut &bytes[..]), Ok(q));
            }
            let info = GuestbookResponse::Info(GuestbookInfo { title, owner: AccountId::from(owner), post_count });
            prop_assert_eq!(GuestbookResponse::decode(&mut &info.encode()[..]), Ok(info));
            let posts = GuestbookResponse::Posts(
                texts
                    .into_iter()
                    .enumerate()
                    .map(|(i, text)| Post { id: i as u64, author: AccountId::from(owner), text, block: from })
                    .collect(),
            );
            prop_assert_eq!(GuestbookResponse::decode(&mut &posts.encode()[..]), Ok(posts));
        }

        /// Arbitrary bytes never panic the decoder or the contract, and a refused command
        /// changes nothing.
        #[test]
        fn arbitrary_command_bytes_are_safe(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut b = Book::opened();
            b.post(ALICE, "existing").unwrap();
            let before = b.inst.state_hash();
            let ctx = CommandContext { contract: H256([7; 32]), origin: acct(BOB), block: 1, seq: 9, value: 0 , gas_limit: crate::gas::MAX_GAS_CAP};
            if b.inst.execute(&ctx, &bytes).is_err() {
                prop_assert_eq!(b.inst.state_hash(), before);
            }
            let _ = b.inst.query(&acct(BOB), &bytes);
        }
    }
}
