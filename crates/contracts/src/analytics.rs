//! `analytics`: privacy-first web analytics. One contract per site.
//!
//! * The first command must be [`AnalyticsCommand::Init`]; its origin becomes the site owner,
//!   who names the site's collector account and the suppression threshold `k`.
//! * Visitors' browsers seal each page view ([`PageView`]) to the contract's public key with the
//!   view envelope ([`seal_view`]: ephemeral X25519 + HKDF-SHA256 + ChaCha20-Poly1305, the CLI's
//!   sealed box with its own associated data `"umbra/analytics-view/v1" ‖ contract id`). A view
//!   is bound to no chain account (visitors have none) but to this site: it cannot be opened as
//!   a contract command, nor counted by another site.
//! * The collector batches sealed views into [`AnalyticsCommand::Ingest`] commands (which it
//!   seals to the contract like any command); it cannot open the views.
//! * Inside the contract a view is opened, its visitor id hashed with a per-site secret derived
//!   from the contract key ([`visitor_key`]), and only per-day aggregates are kept: page views,
//!   unique visitors, sessions (30 minutes of inactivity end one), bounces (one-view sessions),
//!   and per page and per referrer host their views and unique visitors. Raw events are never
//!   stored. What is kept per visitor is its hash, the time of its last view and its current
//!   session's length; per day the set of visitor hashes seen (to count uniques).
//! * Retention: as soon as no view can still land on a day (batch times only move forward and a
//!   view is at most an hour older than its batch), that day's visitor hashes are forgotten (its
//!   counts are final); a visitor whose session can no longer continue is forgotten; day
//!   aggregates are kept for [`RETENTION_DAYS`] days; each day keeps at most
//!   [`MAX_ROWS_PER_DAY`] pages and referrers (the rest under [`OTHER`]). So the state grows
//!   with a day's traffic, not with the site's history.
//! * Time: a view's timestamp comes from the browser and is not trusted. Each batch carries the
//!   collector's time, kept non-decreasing by the contract; a view later than its batch is
//!   clamped to the batch time, and a view more than [`MAX_VIEW_AGE_MS`] older than its batch
//!   is refused (stale). So a view's time lies in `[batch - 1 h, batch]`.
//! * A view is counted at most once: the contract remembers the ephemeral keys of the views it
//!   accepted while they are within the age window, and older replays are stale.
//! * Only the owner may read the report ([`AnalyticsQuery::Report`]); every group (a day, a
//!   page, a referrer) with fewer than `k` unique visitors is suppressed.
//!
//! Every command checks everything before it changes anything; a refused view inside a batch is
//! counted as refused and changes nothing ([`Contract::VALIDATES_BEFORE_MUTATING`]).

use std::collections::{btree_map, BTreeMap, BTreeSet};

use parity_scale_codec::{Decode, DecodeAll, Encode};
use serde::{Deserialize, Serialize};
use umbra_crypto::kdf::hkdf_sha256;
use umbra_crypto::{blake2_256, EcdhPublic, EcdhSecret, SealedBox};
use umbra_primitives::serde_helpers::account_ss58;
use umbra_primitives::AccountId;
use zeroize::Zeroizing;

use crate::contract::{CommandContext, Contract, ContractId, Output};
use crate::error::ContractError;
use crate::evm::commitment::MerkleMap;

/// Associated-data prefix of sealed page views (followed by the contract id).
pub const VIEW_AAD: &[u8] = b"umbra/analytics-view/v1";
/// HKDF salt of the per-site visitor hashing key.
pub const VISITOR_SALT: &[u8] = b"umbra/analytics-visitor/v1";
/// Default suppression threshold.
pub const DEFAULT_K: u32 = 5;
/// Smallest and largest suppression threshold a site may set.
pub const K_RANGE: core::ops::RangeInclusive<u32> = 2..=1000;
/// Longest site name, in bytes.
pub const MAX_NAME_LEN: usize = 100;
/// Longest page path, in bytes.
pub const MAX_PATH_LEN: usize = 200;
/// Longest referrer (as sent, before it is reduced to its host), in bytes.
pub const MAX_REFERRER_LEN: usize = 300;
/// Most views in one `Ingest` command.
pub const MAX_BATCH: usize = 500;
/// Largest sealed view ciphertext (a view's plaintext is at most about 530 bytes).
pub const MAX_VIEW_CIPHERTEXT: usize = 600;
/// Inactivity that ends a session.
pub const SESSION_GAP_MS: u64 = 30 * 60 * 1000;
/// A view older than its batch by more than this is refused as stale.
pub const MAX_VIEW_AGE_MS: u64 = 60 * 60 * 1000;
/// One day, in milliseconds (days are UTC days since 1970-01-01).
pub const DAY_MS: u64 = 86_400_000;
/// Most rows of each table in a report.
pub const MAX_TOP: u32 = 100;
/// The referrer row of views without a (foreign) referrer.
pub const DIRECT: &str = "(direct)";
/// Most distinct rows of each table (pages, referrers) per day; later new paths or hosts of
/// that day are counted under [`OTHER`] (so a visitor sending made-up paths cannot grow the
/// state without bound).
pub const MAX_ROWS_PER_DAY: usize = 1_000;
/// The row that counts a day's views beyond [`MAX_ROWS_PER_DAY`] distinct pages or referrers.
pub const OTHER: &str = "(other)";
/// Days of aggregates kept (about 13 months); older days are forgotten as batches move on.
pub const RETENTION_DAYS: u32 = 400;

/// A page view as the browser seals it (SCALE; the tracker encodes exactly this).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct PageView {
    /// A random per-browser id (kept in the visitor's localStorage); hashed inside the contract.
    pub visitor: [u8; 16],
    /// The browser's clock, milliseconds since 1970 (clamped inside, see the module docs).
    pub time_ms: u64,
    /// `location.pathname` (no query string), at most [`MAX_PATH_LEN`] bytes, starting with `/`.
    pub path: String,
    /// `document.referrer` when it is another origin, else empty; reduced to its host inside.
    pub referrer: String,
}

/// Commands (SCALE indices stable).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum AnalyticsCommand {
    /// Registers the site; must be the first command. The origin becomes the owner.
    #[codec(index = 0)]
    Init {
        /// The site's name (1 to [`MAX_NAME_LEN`] bytes).
        name: String,
        /// Suppression threshold ([`K_RANGE`]).
        k: u32,
        /// The account allowed to push batches of views (may be the owner).
        collector: AccountId,
    },
    /// A batch of sealed views; collector or owner only.
    #[codec(index = 1)]
    Ingest {
        /// The collector's clock when it sent the batch (ms since 1970).
        time_ms: u64,
        /// At most [`MAX_BATCH`] sealed views.
        views: Vec<SealedBox>,
    },
    /// Names another collector; owner only.
    #[codec(index = 2)]
    SetCollector {
        /// The new collector account.
        collector: AccountId,
    },
    /// Changes the suppression threshold; owner only.
    #[codec(index = 3)]
    SetK {
        /// The new threshold ([`K_RANGE`]).
        k: u32,
    },
}

/// Queries (SCALE indices stable; JSON form for clients).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
pub enum AnalyticsQuery {
    /// Name, owner, collector and k (anyone).
    #[codec(index = 0)]
    Info,
    /// The days that have views (owner only).
    #[codec(index = 1)]
    Days,
    /// One day's report (owner only).
    #[codec(index = 2)]
    Report {
        /// UTC day number (days since 1970-01-01).
        day: u32,
        /// At most this many rows per table (at most [`MAX_TOP`]).
        top: u32,
    },
}

/// The answer to [`AnalyticsQuery::Info`].
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
pub struct SiteInfo {
    /// The site's name.
    pub name: String,
    /// The owner (the only reader of reports).
    #[serde(with = "account_ss58")]
    pub owner: AccountId,
    /// The account that pushes batches.
    #[serde(with = "account_ss58")]
    pub collector: AccountId,
    /// The suppression threshold.
    pub k: u32,
}

/// One row of a report table.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
pub struct Row {
    /// The page path or referrer host.
    pub key: String,
    /// Page views.
    pub views: u64,
    /// Unique visitors (at least k, or the row is suppressed).
    pub visitors: u64,
}

/// The answer to [`AnalyticsQuery::Report`].
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
pub struct DayReport {
    /// The UTC day.
    pub day: u32,
    /// The threshold applied.
    pub k: u32,
    /// The whole day had fewer than k unique visitors: every number below is zero.
    pub suppressed: bool,
    /// Page views.
    pub views: u64,
    /// Unique visitors.
    pub visitors: u64,
    /// Sessions started that day.
    pub sessions: u64,
    /// Sessions of one view.
    pub bounces: u64,
    /// Top pages by views (only those with at least k visitors).
    pub pages: Vec<Row>,
    /// Top referrer hosts by views (only those with at least k visitors).
    pub referrers: Vec<Row>,
    /// Pages left out because they had fewer than k visitors.
    pub suppressed_pages: u32,
    /// Referrers left out because they had fewer than k visitors.
    pub suppressed_referrers: u32,
}

/// Answers to [`AnalyticsQuery`].
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
pub enum AnalyticsResponse {
    /// Answer to [`AnalyticsQuery::Info`].
    #[codec(index = 0)]
    Info(SiteInfo),
    /// Answer to [`AnalyticsQuery::Days`].
    #[codec(index = 1)]
    Days(Vec<u32>),
    /// Answer to [`AnalyticsQuery::Report`].
    #[codec(index = 2)]
    Report(DayReport),
}

/// `"umbra/analytics-view/v1" ‖ contract id`.
pub fn view_aad(id: &ContractId) -> Vec<u8> {
    [VIEW_AAD, id.as_bytes()].concat()
}

/// Seals a page view for site `id` (what the browser tracker does, byte for byte).
///
/// Fails with [`ContractError::Crypto`] if `contract_pub` is a low-order point.
pub fn seal_view(
    contract_pub: &EcdhPublic,
    id: &ContractId,
    view: &PageView,
) -> Result<SealedBox, ContractError> {
    let (sealed, key) = SealedBox::seal(contract_pub, &view_aad(id), &view.encode())?;
    let _key = Zeroizing::new(key);
    Ok(sealed)
}

/// Opens a sealed view of site `id` with the contract's secret.
pub fn open_view(
    secret: &EcdhSecret,
    id: &ContractId,
    sealed: &SealedBox,
) -> Result<PageView, ContractError> {
    if sealed.ciphertext.len() > MAX_VIEW_CIPHERTEXT {
        return Err(ContractError::InvalidArgument("sealed view too large"));
    }
    let (plain, key) = sealed.open(secret, &view_aad(id))?;
    let _key = Zeroizing::new(key);
    Ok(PageView::decode_all(&mut &plain[..])?)
}

/// The per-site key visitor ids are hashed with:
/// `HKDF(ikm = contract secret, salt = "umbra/analytics-visitor/v1", info = id)`.
pub fn visitor_key(secret: &EcdhSecret, id: &ContractId) -> [u8; 32] {
    let ikm = Zeroizing::new(secret.to_bytes());
    hkdf_sha256(ikm.as_slice(), VISITOR_SALT, id.as_bytes())
}

/// Reduces a referrer URL to its lower-case host (`""` stays `""`).
pub fn referrer_host(referrer: &str) -> String {
    let rest = match referrer.find("://") {
        Some(i) => &referrer[i.saturating_add(3)..],
        None => referrer,
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let end = rest.find(['/', '?', '#', ':']).unwrap_or(rest.len());
    rest[..end].to_ascii_lowercase()
}

/// Counts one more row of table `kind` on `day` in the derived row index.
fn count_row(counts: &mut BTreeMap<(u8, u32), usize>, kind: u8, day: u32) {
    let n = counts.entry((kind, day)).or_default();
    *n = n.saturating_add(1);
}

/// Whether `host` (from [`referrer_host`]) can be a host name: not empty, only ASCII letters,
/// digits, `.`, `-` and `_` (IDN hosts arrive in their `xn--` form). Anything else counts as a
/// view without a referrer, so no referrer can pose as the [`DIRECT`] or [`OTHER`] rows.
pub fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The day number of a time in ms.
fn day_of(ms: u64) -> u32 {
    u32::try_from(ms / DAY_MS).unwrap_or(u32::MAX)
}

/// Site settings.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
struct Site {
    name: String,
    owner: AccountId,
    collector: AccountId,
    k: u32,
}

/// What is kept per (hashed) visitor.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
struct Visitor {
    /// Time of its latest view.
    last_ms: u64,
    /// Day its current session started.
    session_day: u32,
    /// Views in its current session (saturating).
    session_views: u32,
}

/// Counters of a page or referrer on one day.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug, Encode, Decode)]
struct Counts {
    views: u64,
    visitors: u64,
}

/// Counters of one day.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug, Encode, Decode)]
struct DayTotals {
    views: u64,
    visitors: u64,
    sessions: u64,
    bounces: u64,
}

/// What a unique-visitor marker counts: the day, or a page or referrer (by hash) on that day.
type Tag = u64;
const TAG_DAY: Tag = 0;

/// Key material handed in by the enclave ([`Contract::set_contract_key`]); never in the state.
#[derive(Clone)]
struct Keys {
    id: ContractId,
    secret: EcdhSecret,
    visitor: Zeroizing<[u8; 32]>,
}

/// The analytics state.
#[derive(Clone, Default, Encode, Decode)]
pub struct Analytics {
    site: Option<Site>,
    /// The latest batch time (batch times never go backwards).
    last_batch_ms: u64,
    days: BTreeMap<u32, DayTotals>,
    pages: BTreeMap<(u32, String), Counts>,
    referrers: BTreeMap<(u32, String), Counts>,
    visitors: BTreeMap<[u8; 16], Visitor>,
    /// `(day, tag, visitor hash)`: the visitor was counted for that day / page / referrer.
    uniques: BTreeSet<(u32, Tag, [u8; 16])>,
    /// Ephemeral keys of accepted views, by the batch time they arrived in (for pruning).
    seen: BTreeSet<(u64, [u8; 32])>,
    seen_keys: BTreeSet<[u8; 32]>,
    /// `(last view time, visitor hash)` of every visitor (derived from `visitors`, to forget
    /// ended sessions in time order; not part of the state; rebuilt after a restore).
    #[codec(skip)]
    idle: Option<BTreeSet<(u64, [u8; 16])>>,
    /// The incremental state commitment (not part of the state; rebuilt after a restore).
    #[codec(skip)]
    tree: Option<MerkleMap>,
    /// Distinct rows per `(table, day)` (`b'p'` pages, `b'r'` referrers; derived from the
    /// tables, so a new path on a full day is not a scan of the day's rows; not part of the
    /// state; rebuilt after a restore).
    #[codec(skip)]
    row_counts: Option<BTreeMap<(u8, u32), usize>>,
    #[codec(skip)]
    keys: Option<Keys>,
}

impl core::fmt::Debug for Analytics {
    /// Shows only sizes, never the confidential aggregates or keys.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Analytics")
            .field("days", &self.days.len())
            .field("visitors", &self.visitors.len())
            .finish_non_exhaustive()
    }
}

/// A key of the state commitment.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Site,
    LastBatch,
    Day(u32),
    Page(u32, String),
    Referrer(u32, String),
    Visitor([u8; 16]),
    Unique(u32, Tag, [u8; 16]),
    Seen(u64, [u8; 32]),
}

impl Key {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Key::Site => b"s".to_vec(),
            Key::LastBatch => b"b".to_vec(),
            Key::Day(d) => (b'd', d).encode(),
            Key::Page(d, p) => (b'p', d, p).encode(),
            Key::Referrer(d, r) => (b'r', d, r).encode(),
            Key::Visitor(v) => (b'v', v).encode(),
            Key::Unique(d, t, v) => (b'u', d, t, v).encode(),
            Key::Seen(t, e) => (b'n', t, e).encode(),
        }
    }
}

/// Why a view in a batch was not counted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Refused {
    /// It does not open (wrong key, another site, not a view, tampered) or is malformed.
    Invalid,
    /// Its time is more than an hour before its batch.
    Stale,
    /// Already counted.
    Replayed,
}

fn check_k(k: u32) -> Result<(), ContractError> {
    if !K_RANGE.contains(&k) {
        return Err(ContractError::InvalidArgument("k must be between 2 and 1000"));
    }
    Ok(())
}

fn tag_of(kind: u8, key: &str) -> Tag {
    let h = blake2_256(&(kind, key).encode());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    // Never TAG_DAY.
    u64::from_le_bytes(b).max(1)
}

fn top(rows: &BTreeMap<(u32, String), Counts>, day: u32, k: u32, n: u32) -> (Vec<Row>, u32) {
    let mut shown = Vec::new();
    let mut hidden = 0u32;
    let lo = (day, String::new());
    for ((d, key), c) in rows.range(lo..) {
        if *d != day {
            break;
        }
        if c.visitors < u64::from(k) {
            hidden = hidden.saturating_add(1);
        } else {
            shown.push(Row { key: key.clone(), views: c.views, visitors: c.visitors });
        }
    }
    shown.sort_by(|a, b| b.views.cmp(&a.views).then_with(|| a.key.cmp(&b.key)));
    shown.truncate(n as usize);
    (shown, hidden)
}

impl Analytics {
    fn site(&self) -> Result<&Site, ContractError> {
        self.site.as_ref().ok_or(ContractError::NotInitialized)
    }

    fn value_of(&self, key: &Key) -> Option<Vec<u8>> {
        match key {
            Key::Site => self.site.as_ref().map(Encode::encode),
            Key::LastBatch => Some(self.last_batch_ms.encode()),
            Key::Day(d) => self.days.get(d).map(Encode::encode),
            Key::Page(d, p) => self.pages.get(&(*d, p.clone())).map(Encode::encode),
            Key::Referrer(d, r) => self.referrers.get(&(*d, r.clone())).map(Encode::encode),
            Key::Visitor(v) => self.visitors.get(v).map(Encode::encode),
            Key::Unique(d, t, v) => self.uniques.contains(&(*d, *t, *v)).then(Vec::new),
            Key::Seen(t, e) => self.seen.contains(&(*t, *e)).then(Vec::new),
        }
    }

    fn all_keys(&self) -> Vec<Key> {
        let mut keys = vec![Key::Site, Key::LastBatch];
        keys.extend(self.days.keys().map(|d| Key::Day(*d)));
        keys.extend(self.pages.keys().map(|(d, p)| Key::Page(*d, p.clone())));
        keys.extend(self.referrers.keys().map(|(d, r)| Key::Referrer(*d, r.clone())));
        keys.extend(self.visitors.keys().map(|v| Key::Visitor(*v)));
        keys.extend(self.uniques.iter().map(|(d, t, v)| Key::Unique(*d, *t, *v)));
        keys.extend(self.seen.iter().map(|(t, e)| Key::Seen(*t, *e)));
        keys
    }

    fn build_tree(&self) -> MerkleMap {
        let mut tree = MerkleMap::default();
        for key in self.all_keys() {
            if let Some(v) = self.value_of(&key) {
                tree.set(&key.bytes(), &v);
            }
        }
        tree
    }

    fn update_tree(&mut self, keys: &BTreeSet<Key>) {
        let Some(mut tree) = self.tree.take() else {
            self.tree = Some(self.build_tree());
            return;
        };
        for key in keys {
            match self.value_of(key) {
                Some(v) => tree.set(&key.bytes(), &v),
                None => tree.remove(&key.bytes()),
            }
        }
        self.tree = Some(tree);
    }

    fn require_owner(&self, origin: &AccountId) -> Result<&Site, ContractError> {
        let site = self.site()?;
        if site.owner != *origin {
            return Err(ContractError::NotAllowed("only the site owner may do this"));
        }
        Ok(site)
    }

    fn init(
        &mut self,
        ctx: &CommandContext,
        name: String,
        k: u32,
        collector: AccountId,
    ) -> Result<Vec<Output>, ContractError> {
        if self.site.is_some() {
            return Err(ContractError::AlreadyInitialized);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(ContractError::TextTooLong { len: name.len(), max: MAX_NAME_LEN });
        }
        if name.trim().is_empty() {
            return Err(ContractError::EmptyText);
        }
        check_k(k)?;
        self.site = Some(Site { name, owner: ctx.origin, collector, k });
        self.update_tree(&[Key::Site].into());
        Ok(vec![Output::PublicEvent(format!("analytics site registered by {}", ctx.origin).into())])
    }

    /// Opens and checks one view; `Ok` carries the view with its time clamped.
    fn check_view(
        &self,
        keys: &Keys,
        batch_ms: u64,
        sealed: &SealedBox,
    ) -> Result<(PageView, [u8; 16]), Refused> {
        if self.seen_keys.contains(&sealed.ephemeral.0) {
            return Err(Refused::Replayed);
        }
        let mut view = open_view(&keys.secret, &keys.id, sealed).map_err(|_| Refused::Invalid)?;
        if view.path.len() > MAX_PATH_LEN
            || !view.path.starts_with('/')
            || view.referrer.len() > MAX_REFERRER_LEN
        {
            return Err(Refused::Invalid);
        }
        view.time_ms = view.time_ms.min(batch_ms);
        if view.time_ms < batch_ms.saturating_sub(MAX_VIEW_AGE_MS) {
            return Err(Refused::Stale);
        }
        let mut input = Vec::with_capacity(48);
        input.extend_from_slice(keys.visitor.as_slice());
        input.extend_from_slice(&view.visitor);
        let mut hash = [0u8; 16];
        hash.copy_from_slice(&blake2_256(&input)[..16]);
        Ok((view, hash))
    }

    /// The visitors-by-last-view index, built from `visitors` when missing (after a restore).
    fn idle_index(&mut self) -> &mut BTreeSet<(u64, [u8; 16])> {
        let visitors = &self.visitors;
        self.idle.get_or_insert_with(|| visitors.iter().map(|(h, v)| (v.last_ms, *h)).collect())
    }

    /// Distinct rows of `day` in table `kind` (`b'p'` or `b'r'`), from the derived index.
    fn rows_today(&mut self, kind: u8, day: u32) -> usize {
        let (pages, referrers) = (&self.pages, &self.referrers);
        let counts = self.row_counts.get_or_insert_with(|| {
            let mut counts = BTreeMap::new();
            for (kind, map) in [(b'p', pages), (b'r', referrers)] {
                for (d, _) in map.keys() {
                    count_row(&mut counts, kind, *d);
                }
            }
            counts
        });
        counts.get(&(kind, day)).copied().unwrap_or(0)
    }

    /// Forgets what no view at or after `horizon` (the earliest time a view of this or a later
    /// batch can have) can change: the unique-visitor markers of earlier days (those days'
    /// counts are final), visitors whose session ended before it, and days older than
    /// [`RETENTION_DAYS`].
    fn forget_before(&mut self, horizon: u64, changed: &mut BTreeSet<Key>) {
        let first_open_day = day_of(horizon);
        while let Some(&(d, t, v)) = self.uniques.first() {
            if d >= first_open_day {
                break;
            }
            self.uniques.pop_first();
            changed.insert(Key::Unique(d, t, v));
        }
        // A view at t >= horizon continues a session only if t - last_ms <= SESSION_GAP_MS.
        while let Some(&(last, h)) = self.idle_index().first() {
            if last.saturating_add(SESSION_GAP_MS) >= horizon {
                break;
            }
            self.idle_index().pop_first();
            self.visitors.remove(&h);
            changed.insert(Key::Visitor(h));
        }
        let keep_from = first_open_day.saturating_sub(RETENTION_DAYS);
        while let Some((&d, _)) = self.days.first_key_value() {
            if d >= keep_from {
                break;
            }
            self.days.pop_first();
            changed.insert(Key::Day(d));
        }
        if let Some(counts) = &mut self.row_counts {
            counts.retain(|(_, d), _| *d >= keep_from);
        }
        for (kind, map) in [(b'p', &mut self.pages), (b'r', &mut self.referrers)] {
            while let Some(((d, _), _)) = map.first_key_value() {
                if *d >= keep_from {
                    break;
                }
                if let Some(((d, key), _)) = map.pop_first() {
                    changed.insert(if kind == b'p' {
                        Key::Page(d, key)
                    } else {
                        Key::Referrer(d, key)
                    });
                }
            }
        }
    }

    /// Counts `visitor` once for `(day, tag)`; returns whether it is new.
    fn mark(&mut self, changed: &mut BTreeSet<Key>, day: u32, tag: Tag, v: [u8; 16]) -> bool {
        let new = self.uniques.insert((day, tag, v));
        if new {
            changed.insert(Key::Unique(day, tag, v));
        }
        new
    }

    fn count_view(
        &mut self,
        changed: &mut BTreeSet<Key>,
        view: PageView,
        vhash: [u8; 16],
        ephemeral: [u8; 32],
        batch_ms: u64,
    ) {
        let day = day_of(view.time_ms);
        self.seen.insert((batch_ms, ephemeral));
        self.seen_keys.insert(ephemeral);
        changed.insert(Key::Seen(batch_ms, ephemeral));

        // Sessions: a view within 30 minutes of the visitor's previous one continues its
        // session (times may arrive slightly out of order: both directions count).
        let (start, prev_day) = match self.visitors.get(&vhash) {
            Some(v) if view.time_ms.abs_diff(v.last_ms) <= SESSION_GAP_MS => {
                (false, Some((v.session_day, v.session_views)))
            }
            _ => (true, None),
        };
        let visitor = match (start, prev_day) {
            (false, Some((sday, n))) => {
                if n == 1 {
                    // Its session is no longer a bounce.
                    let t = self.days.entry(sday).or_default();
                    t.bounces = t.bounces.saturating_sub(1);
                    changed.insert(Key::Day(sday));
                }
                let last = self.visitors.get(&vhash).map_or(0, |v| v.last_ms);
                Visitor {
                    last_ms: last.max(view.time_ms),
                    session_day: sday,
                    session_views: n.saturating_add(1),
                }
            }
            _ => {
                let t = self.days.entry(day).or_default();
                t.sessions = t.sessions.saturating_add(1);
                t.bounces = t.bounces.saturating_add(1);
                Visitor { last_ms: view.time_ms, session_day: day, session_views: 1 }
            }
        };
        if let Some(old) = self.visitors.insert(vhash, visitor) {
            self.idle_index().remove(&(old.last_ms, vhash));
        }
        self.idle_index().insert((visitor.last_ms, vhash));
        changed.insert(Key::Visitor(vhash));

        let new_today = self.mark(changed, day, TAG_DAY, vhash);
        let t = self.days.entry(day).or_default();
        t.views = t.views.saturating_add(1);
        if new_today {
            t.visitors = t.visitors.saturating_add(1);
        }
        changed.insert(Key::Day(day));

        let host = referrer_host(&view.referrer);
        let host = if is_host_name(&host) { host } else { DIRECT.to_string() };
        for (kind, key) in [(b'p', view.path), (b'r', host)] {
            let map = if kind == b'p' { &self.pages } else { &self.referrers };
            let known = map.contains_key(&(day, key.clone()));
            let key = if known || self.rows_today(kind, day) < MAX_ROWS_PER_DAY {
                key
            } else {
                OTHER.to_string()
            };
            let new = self.mark(changed, day, tag_of(kind, &key), vhash);
            let map = if kind == b'p' { &mut self.pages } else { &mut self.referrers };
            let c = match map.entry((day, key.clone())) {
                btree_map::Entry::Occupied(row) => row.into_mut(),
                btree_map::Entry::Vacant(row) => {
                    if let Some(counts) = &mut self.row_counts {
                        count_row(counts, kind, day);
                    }
                    row.insert(Counts::default())
                }
            };
            c.views = c.views.saturating_add(1);
            if new {
                c.visitors = c.visitors.saturating_add(1);
            }
            changed.insert(if kind == b'p' {
                Key::Page(day, key)
            } else {
                Key::Referrer(day, key)
            });
        }
    }

    fn ingest(
        &mut self,
        ctx: &CommandContext,
        time_ms: u64,
        views: Vec<SealedBox>,
    ) -> Result<Vec<Output>, ContractError> {
        let site = self.site()?;
        if ctx.origin != site.collector && ctx.origin != site.owner {
            return Err(ContractError::NotAllowed("only the site's collector may push views"));
        }
        if views.is_empty() || views.len() > MAX_BATCH {
            return Err(ContractError::InvalidArgument("a batch holds 1 to 500 views"));
        }
        let keys = self.keys.clone().ok_or(ContractError::NotAllowed(
            "the contract key is not available to this instance",
        ))?;
        // Validation done: from here on nothing fails.
        let batch_ms = time_ms.max(self.last_batch_ms);
        let mut changed = BTreeSet::new();
        if batch_ms != self.last_batch_ms {
            self.last_batch_ms = batch_ms;
            changed.insert(Key::LastBatch);
        }
        // Forget accepted views that are now past the age window (their replays are stale).
        let horizon = batch_ms.saturating_sub(MAX_VIEW_AGE_MS);
        while let Some(&(t, e)) = self.seen.first() {
            if t >= horizon {
                break;
            }
            self.seen.pop_first();
            self.seen_keys.remove(&e);
            changed.insert(Key::Seen(t, e));
        }
        self.forget_before(horizon, &mut changed);
        let (mut accepted, mut invalid, mut stale, mut replayed) = (0u32, 0u32, 0u32, 0u32);
        for sealed in &views {
            match self.check_view(&keys, batch_ms, sealed) {
                Ok((view, vhash)) => {
                    self.count_view(&mut changed, view, vhash, sealed.ephemeral.0, batch_ms);
                    accepted = accepted.saturating_add(1);
                }
                Err(Refused::Invalid) => invalid = invalid.saturating_add(1),
                Err(Refused::Stale) => stale = stale.saturating_add(1),
                Err(Refused::Replayed) => replayed = replayed.saturating_add(1),
            }
        }
        self.update_tree(&changed);
        Ok(vec![Output::PublicEvent(
            format!(
                "analytics batch: {accepted} views counted, {invalid} invalid, {stale} stale, \
                 {replayed} replayed"
            )
            .into_bytes(),
        )])
    }

    fn report(&self, day: u32, n: u32) -> Result<DayReport, ContractError> {
        let k = self.site()?.k;
        if n > MAX_TOP {
            return Err(ContractError::LimitTooLarge { limit: n, max: MAX_TOP });
        }
        let totals = self.days.get(&day).copied().unwrap_or_default();
        let mut r = DayReport {
            day,
            k,
            suppressed: totals.visitors < u64::from(k),
            views: 0,
            visitors: 0,
            sessions: 0,
            bounces: 0,
            pages: vec![],
            referrers: vec![],
            suppressed_pages: 0,
            suppressed_referrers: 0,
        };
        if r.suppressed {
            return Ok(r);
        }
        (r.views, r.visitors, r.sessions, r.bounces) =
            (totals.views, totals.visitors, totals.sessions, totals.bounces);
        (r.pages, r.suppressed_pages) = top(&self.pages, day, k, n);
        (r.referrers, r.suppressed_referrers) = top(&self.referrers, day, k, n);
        Ok(r)
    }
}

impl Contract for Analytics {
    type Command = AnalyticsCommand;
    type Query = AnalyticsQuery;
    type Response = AnalyticsResponse;

    const VALIDATES_BEFORE_MUTATING: bool = true;

    fn handle_command(
        &mut self,
        ctx: &CommandContext,
        cmd: AnalyticsCommand,
    ) -> Result<Vec<Output>, ContractError> {
        match cmd {
            AnalyticsCommand::Init { name, k, collector } => self.init(ctx, name, k, collector),
            AnalyticsCommand::Ingest { time_ms, views } => self.ingest(ctx, time_ms, views),
            AnalyticsCommand::SetCollector { collector } => {
                self.require_owner(&ctx.origin)?;
                if let Some(site) = self.site.as_mut() {
                    site.collector = collector;
                }
                self.update_tree(&[Key::Site].into());
                Ok(vec![Output::PublicEvent(b"analytics collector changed".to_vec())])
            }
            AnalyticsCommand::SetK { k } => {
                self.require_owner(&ctx.origin)?;
                check_k(k)?;
                if let Some(site) = self.site.as_mut() {
                    site.k = k;
                }
                self.update_tree(&[Key::Site].into());
                Ok(vec![Output::PublicEvent(b"analytics threshold changed".to_vec())])
            }
        }
    }

    /// `compute_root` over every entry of the state (site, last batch time, day totals, page
    /// and referrer counters, visitors, unique-visitor markers, remembered views), maintained
    /// per changed entry.
    fn state_root(&self) -> Option<[u8; 32]> {
        Some(match &self.tree {
            Some(t) => t.root(),
            None => self.build_tree().root(),
        })
    }

    fn set_contract_key(&mut self, id: &ContractId, secret: &EcdhSecret) {
        if self.keys.as_ref().is_some_and(|k| k.id == *id) {
            return;
        }
        self.keys = Some(Keys {
            id: *id,
            secret: secret.clone(),
            visitor: Zeroizing::new(visitor_key(secret, id)),
        });
    }

    fn handle_query(
        &self,
        origin: &AccountId,
        query: AnalyticsQuery,
    ) -> Result<AnalyticsResponse, ContractError> {
        match query {
            AnalyticsQuery::Info => {
                let s = self.site()?;
                Ok(AnalyticsResponse::Info(SiteInfo {
                    name: s.name.clone(),
                    owner: s.owner,
                    collector: s.collector,
                    k: s.k,
                }))
            }
            AnalyticsQuery::Days => {
                self.require_owner(origin)?;
                Ok(AnalyticsResponse::Days(self.days.keys().copied().collect()))
            }
            AnalyticsQuery::Report { day, top } => {
                self.require_owner(origin)?;
                Ok(AnalyticsResponse::Report(self.report(day, top)?))
            }
        }
    }
}

#[cfg(test)]
mod tests;
