use super::*;
use crate::contract::ContractKind;
use crate::instance::Instance;
use crate::keys::contract_secret;
use umbra_crypto::CryptoError;
use umbra_primitives::H256;

const MASTER: [u8; 32] = [42u8; 32];
const OWNER: u8 = 1;
const COLLECTOR: u8 = 2;
const MALLORY: u8 = 3;
/// 2026-11-29 12:00 UTC.
const NOON: u64 = 1_795_953_600_000;
const MIN: u64 = 60_000;

/// Distinct rows of `day` in a table.
fn rows_of(rows: &BTreeMap<(u32, String), Counts>, day: u32) -> usize {
    rows.range((day, String::new())..).take_while(|((d, _), _)| *d == day).count()
}

fn acct(n: u8) -> AccountId {
    AccountId::from([n; 32])
}

fn site_id(n: u8) -> ContractId {
    H256([n; 32])
}

/// An analytics instance driven like the enclave drives it (key set before every command).
struct Site {
    id: ContractId,
    secret: EcdhSecret,
    inst: Instance,
    seq: u64,
}

impl Site {
    fn new(n: u8) -> Site {
        let id = site_id(n);
        let secret = contract_secret(&MASTER, 0, &id);
        Site { id, secret, inst: Instance::new(ContractKind::Analytics), seq: 0 }
    }

    fn registered(k: u32) -> Site {
        let mut s = Site::new(7);
        s.cmd(OWNER, AnalyticsCommand::Init { name: "blog".into(), k, collector: acct(COLLECTOR) })
            .unwrap();
        s
    }

    fn cmd(&mut self, who: u8, cmd: AnalyticsCommand) -> Result<Vec<Output>, ContractError> {
        let ctx = CommandContext {
            contract: self.id,
            origin: acct(who),
            block: self.seq.saturating_add(1),
            seq: self.seq,
            value: 0,
            gas_limit: crate::gas::MAX_GAS_CAP,
        };
        self.seq = self.seq.saturating_add(1);
        self.inst.set_contract_key(&self.id, &self.secret);
        self.inst.execute(&ctx, &cmd.encode())
    }

    fn refused(&mut self, who: u8, cmd: AnalyticsCommand) -> ContractError {
        let (hash, snap) = (self.inst.state_hash(), self.inst.snapshot());
        let err = self.cmd(who, cmd).expect_err("must be refused");
        assert_eq!(self.inst.state_hash(), hash, "a refused command changed the state");
        assert_eq!(self.inst.snapshot(), snap);
        err
    }

    fn seal(&self, v: &PageView) -> SealedBox {
        seal_view(&self.secret.public(), &self.id, v).unwrap()
    }

    /// Pushes a batch as the collector; returns the batch event text.
    fn ingest(&mut self, time_ms: u64, views: Vec<SealedBox>) -> String {
        let out = self.cmd(COLLECTOR, AnalyticsCommand::Ingest { time_ms, views }).unwrap();
        match &out[..] {
            [Output::PublicEvent(e)] => String::from_utf8(e.clone()).unwrap(),
            other => panic!("unexpected outputs {other:?}"),
        }
    }

    fn query(&self, who: u8, q: AnalyticsQuery) -> Result<AnalyticsResponse, ContractError> {
        let bytes = self.inst.query(&acct(who), &q.encode())?;
        Ok(AnalyticsResponse::decode(&mut &bytes[..]).unwrap())
    }

    fn report(&self, day: u32) -> DayReport {
        match self.query(OWNER, AnalyticsQuery::Report { day, top: 20 }).unwrap() {
            AnalyticsResponse::Report(r) => r,
            other => panic!("expected a report, got {other:?}"),
        }
    }
}

fn view(visitor: u8, time_ms: u64, path: &str, referrer: &str) -> PageView {
    PageView { visitor: [visitor; 16], time_ms, path: path.into(), referrer: referrer.into() }
}

fn today() -> u32 {
    (NOON / DAY_MS) as u32
}

#[test]
fn view_envelope_is_as_documented_and_bound_to_the_site() {
    let s = Site::new(7);
    let v = view(1, NOON, "/", "");
    let sealed = s.seal(&v);
    assert_eq!(open_view(&s.secret, &s.id, &sealed), Ok(v.clone()));
    // The documented AAD and the sealed box's HKDF/ChaCha20-Poly1305.
    let aad = [b"umbra/analytics-view/v1".as_slice(), &[7u8; 32]].concat();
    assert_eq!(sealed.open(&s.secret, &aad).unwrap().0, v.encode());
    // The plaintext layout the tracker writes by hand: visitor, time LE, compact-len strings.
    assert_eq!(v.encode(), [&[1u8; 16][..], &NOON.to_le_bytes(), &[4, b'/'], &[0]].concat());
    // Not openable as another site's view (even with the same key), nor as a command.
    assert_eq!(
        open_view(&s.secret, &site_id(8), &sealed),
        Err(ContractError::Crypto(CryptoError::DecryptionFailed))
    );
    assert!(crate::open_command(&s.secret, &s.id, &acct(COLLECTOR), &sealed).is_err());
    // A command sealed for the collector does not open as a view.
    let cmd =
        crate::seal_command(&s.secret.public(), &s.id, &acct(COLLECTOR), &v.encode()).unwrap();
    assert!(open_view(&s.secret, &s.id, &cmd).is_err());
}

#[test]
fn referrer_hosts() {
    assert_eq!(referrer_host("https://News.Example.com/a/b?c#d"), "news.example.com");
    assert_eq!(referrer_host("http://user:pw@host.org:8080/x"), "host.org");
    assert_eq!(referrer_host("android-app://com.foo/"), "com.foo");
    assert_eq!(referrer_host(""), "");
}

#[test]
fn init_rules() {
    let mut s = Site::new(7);
    let init = |k| AnalyticsCommand::Init { name: "blog".into(), k, collector: acct(COLLECTOR) };
    assert_eq!(
        s.refused(OWNER, init(1)),
        ContractError::InvalidArgument("k must be between 2 and 1000")
    );
    assert_eq!(
        s.refused(OWNER, init(1001)),
        ContractError::InvalidArgument("k must be between 2 and 1000")
    );
    let long = AnalyticsCommand::Init { name: "x".repeat(101), k: 5, collector: acct(2) };
    assert!(matches!(s.refused(OWNER, long), ContractError::TextTooLong { .. }));
    let views = vec![s.seal(&view(1, NOON, "/", ""))];
    assert_eq!(
        s.refused(COLLECTOR, AnalyticsCommand::Ingest { time_ms: NOON, views }),
        ContractError::NotInitialized
    );
    s.cmd(OWNER, init(5)).unwrap();
    assert_eq!(s.refused(OWNER, init(5)), ContractError::AlreadyInitialized);
    assert_eq!(
        s.query(MALLORY, AnalyticsQuery::Info).unwrap(),
        AnalyticsResponse::Info(SiteInfo {
            name: "blog".into(),
            owner: acct(OWNER),
            collector: acct(COLLECTOR),
            k: 5
        })
    );
}

#[test]
fn counts_views_visitors_sessions_bounces_pages_and_referrers() {
    let mut s = Site::registered(2);
    let mut views = Vec::new();
    // Visitor 1: three views within 30 minutes (one session, not a bounce), from news.
    for (i, p) in ["/", "/a", "/b"].iter().enumerate() {
        views.push(s.seal(&view(1, NOON + i as u64 * 10 * MIN, p, "https://news.org/x")));
    }
    // Visitor 2: one view (a bounce), then another 40 minutes later (a second session, also
    // a bounce).
    views.push(s.seal(&view(2, NOON, "/", "")));
    views.push(s.seal(&view(2, NOON + 40 * MIN, "/a", "")));
    // Visitor 3: one view of /.
    views.push(s.seal(&view(3, NOON + MIN, "/", "https://news.org/y")));
    let ev = s.ingest(NOON + 50 * MIN, views);
    assert_eq!(ev, "analytics batch: 6 views counted, 0 invalid, 0 stale, 0 replayed");
    let r = s.report(today());
    assert!(!r.suppressed);
    assert_eq!((r.views, r.visitors, r.sessions, r.bounces), (6, 3, 4, 3));
    assert_eq!(
        r.pages,
        vec![
            Row { key: "/".into(), views: 3, visitors: 3 },
            Row { key: "/a".into(), views: 2, visitors: 2 },
        ]
    );
    assert_eq!(r.suppressed_pages, 1, "/b had one visitor");
    assert_eq!(r.referrers, vec![Row { key: "news.org".into(), views: 4, visitors: 2 }]);
    assert_eq!(r.suppressed_referrers, 1);
    assert_eq!(
        s.query(OWNER, AnalyticsQuery::Days).unwrap(),
        AnalyticsResponse::Days(vec![today()])
    );
    // A later view of visitor 1 within 30 minutes of its last one continues its session.
    let v = s.seal(&view(1, NOON + 45 * MIN, "/", ""));
    s.ingest(NOON + 50 * MIN, vec![v]);
    let r = s.report(today());
    assert_eq!((r.views, r.visitors, r.sessions, r.bounces), (7, 3, 4, 3));
}

#[test]
fn groups_smaller_than_k_are_suppressed() {
    let mut s = Site::registered(5);
    // Four visitors: the whole day is suppressed.
    let views = (1..=4).map(|v| s.seal(&view(v, NOON, "/", ""))).collect();
    s.ingest(NOON, views);
    let r = s.report(today());
    assert!(r.suppressed);
    assert_eq!((r.views, r.visitors, r.sessions, r.bounces), (0, 0, 0, 0));
    assert!(r.pages.is_empty() && r.referrers.is_empty());
    // A fifth visitor: the day shows; "/" has 5 visitors, "/secret" has 1 and is hidden
    // (also from the top list), though it had many views.
    let mut views = vec![s.seal(&view(5, NOON, "/", ""))];
    for i in 0..10 {
        views.push(s.seal(&view(5, NOON + i, "/secret", "https://tiny.example/")));
    }
    s.ingest(NOON, views);
    let r = s.report(today());
    assert!(!r.suppressed);
    assert_eq!((r.views, r.visitors), (15, 5));
    assert_eq!(r.pages, vec![Row { key: "/".into(), views: 5, visitors: 5 }]);
    assert_eq!(r.suppressed_pages, 1);
    assert!(!r.referrers.iter().any(|r| r.key == "tiny.example"));
    // Raising k hides the day again; lowering it to 1 is refused.
    s.cmd(OWNER, AnalyticsCommand::SetK { k: 6 }).unwrap();
    assert!(s.report(today()).suppressed);
    assert!(matches!(
        s.refused(OWNER, AnalyticsCommand::SetK { k: 1 }),
        ContractError::InvalidArgument(_)
    ));
    // An empty day is suppressed too.
    assert!(s.report(today() + 1).suppressed);
}

#[test]
fn only_the_owner_reads_reports() {
    let mut s = Site::registered(2);
    let views = (1..=3).map(|v| s.seal(&view(v, NOON, "/", ""))).collect();
    s.ingest(NOON, views);
    for who in [COLLECTOR, MALLORY] {
        for q in [AnalyticsQuery::Report { day: today(), top: 10 }, AnalyticsQuery::Days] {
            assert_eq!(
                s.query(who, q),
                Err(ContractError::NotAllowed("only the site owner may do this"))
            );
        }
    }
    assert_eq!(
        s.query(OWNER, AnalyticsQuery::Report { day: today(), top: 101 }),
        Err(ContractError::LimitTooLarge { limit: 101, max: 100 })
    );
    assert_eq!(s.report(today()).views, 3);
}

#[test]
fn only_the_collector_or_owner_pushes_and_only_the_owner_configures() {
    let mut s = Site::registered(2);
    let views = vec![s.seal(&view(1, NOON, "/", ""))];
    assert_eq!(
        s.refused(MALLORY, AnalyticsCommand::Ingest { time_ms: NOON, views: views.clone() }),
        ContractError::NotAllowed("only the site's collector may push views")
    );
    assert_eq!(
        s.refused(COLLECTOR, AnalyticsCommand::SetCollector { collector: acct(MALLORY) }),
        ContractError::NotAllowed("only the site owner may do this")
    );
    assert_eq!(
        s.refused(MALLORY, AnalyticsCommand::SetK { k: 2 }),
        ContractError::NotAllowed("only the site owner may do this")
    );
    assert!(matches!(
        s.refused(COLLECTOR, AnalyticsCommand::Ingest { time_ms: NOON, views: vec![] }),
        ContractError::InvalidArgument(_)
    ));
    let many = vec![views[0].clone(); MAX_BATCH + 1];
    assert!(matches!(
        s.refused(COLLECTOR, AnalyticsCommand::Ingest { time_ms: NOON, views: many }),
        ContractError::InvalidArgument(_)
    ));
    s.cmd(OWNER, AnalyticsCommand::SetCollector { collector: acct(MALLORY) }).unwrap();
    s.cmd(MALLORY, AnalyticsCommand::Ingest { time_ms: NOON, views }).unwrap();
    assert_eq!(
        s.refused(COLLECTOR, AnalyticsCommand::Ingest { time_ms: NOON, views: vec![] }),
        ContractError::NotAllowed("only the site's collector may push views")
    );
}

#[test]
fn replayed_foreign_tampered_and_stale_views_are_not_counted() {
    let mut s = Site::registered(2);
    let mut other = Site::new(8);
    other
        .cmd(OWNER, AnalyticsCommand::Init { name: "b".into(), k: 2, collector: acct(2) })
        .unwrap();
    let good = s.seal(&view(1, NOON, "/", ""));
    assert_eq!(
        s.ingest(NOON, vec![good.clone()]),
        "analytics batch: 1 views counted, 0 invalid, 0 stale, 0 replayed"
    );
    // The same ciphertext again (in a later batch and twice in one batch): not counted.
    assert_eq!(
        s.ingest(NOON + MIN, vec![good.clone(), good.clone()]),
        "analytics batch: 0 views counted, 0 invalid, 0 stale, 2 replayed"
    );
    // Into another site: it does not open there.
    assert_eq!(
        other.ingest(NOON, vec![good.clone()]),
        "analytics batch: 0 views counted, 1 invalid, 0 stale, 0 replayed"
    );
    // A view sealed for the other site, a tampered one, a command envelope, garbage plaintext,
    // a path without '/', an oversize ciphertext.
    let foreign = other.seal(&view(2, NOON, "/", ""));
    let mut tampered = s.seal(&view(3, NOON, "/", ""));
    tampered.ciphertext[0] ^= 1;
    let cmd = crate::seal_command(&s.secret.public(), &s.id, &acct(COLLECTOR), b"x").unwrap();
    let garbage = SealedBox::seal(&s.secret.public(), &view_aad(&s.id), b"garbage").unwrap().0;
    let no_slash = s.seal(&view(4, NOON, "x", ""));
    let mut huge = s.seal(&view(5, NOON, "/", ""));
    huge.ciphertext.resize(MAX_VIEW_CIPHERTEXT + 1, 0);
    let ev = s.ingest(NOON + MIN, vec![foreign, tampered, cmd, garbage, no_slash, huge]);
    assert_eq!(ev, "analytics batch: 0 views counted, 6 invalid, 0 stale, 0 replayed");
    // Stale: more than an hour before its batch. A view from the future is clamped to the batch.
    let old = s.seal(&view(6, NOON - 61 * MIN, "/", ""));
    let future = s.seal(&view(7, NOON + 1000 * DAY_MS, "/", ""));
    assert_eq!(
        s.ingest(NOON, vec![old, future]),
        "analytics batch: 1 views counted, 0 invalid, 1 stale, 0 replayed"
    );
    // Batch times never go backwards: an old batch time is raised to the latest one.
    let back = s.seal(&view(8, NOON - 2 * DAY_MS, "/", ""));
    assert_eq!(
        s.ingest(NOON - 2 * DAY_MS, vec![back]),
        "analytics batch: 0 views counted, 0 invalid, 1 stale, 0 replayed"
    );
    let r = s.report(today());
    assert_eq!((r.views, r.visitors), (2, 2));
    assert_eq!(
        s.query(OWNER, AnalyticsQuery::Days).unwrap(),
        AnalyticsResponse::Days(vec![today()])
    );
    // Two hours later the first view is forgotten, and its replay is stale.
    assert_eq!(
        s.ingest(NOON + 120 * MIN, vec![good]),
        "analytics batch: 0 views counted, 0 invalid, 1 stale, 0 replayed"
    );
}

#[test]
fn visitor_ids_are_hashed_with_a_per_site_secret() {
    let a = Site::new(7);
    let b = Site::new(8);
    assert_ne!(visitor_key(&a.secret, &a.id), visitor_key(&b.secret, &b.id));
    assert_eq!(
        visitor_key(&a.secret, &a.id),
        hkdf_sha256(&a.secret.to_bytes(), b"umbra/analytics-visitor/v1", &[7u8; 32])
    );
    // The snapshot (what checkpoints encrypt) holds the hash, never the browser's id.
    let mut s = Site::registered(2);
    let v = s.seal(&view(0xAB, NOON, "/", ""));
    s.ingest(NOON, vec![v]);
    let snap = s.inst.snapshot();
    assert!(!snap.windows(16).any(|w| w == [0xAB; 16]));
}

#[test]
fn without_the_key_a_batch_is_refused() {
    let s = Site::registered(2);
    let mut inst = Instance::restore(ContractKind::Analytics, &s.inst.snapshot()).unwrap();
    let views = vec![s.seal(&view(1, NOON, "/", ""))];
    let ctx = CommandContext {
        contract: s.id,
        origin: acct(COLLECTOR),
        block: 9,
        seq: 9,
        value: 0,
        gas_limit: crate::gas::MAX_GAS_CAP,
    };
    let cmd = AnalyticsCommand::Ingest { time_ms: NOON, views }.encode();
    assert!(matches!(inst.execute(&ctx, &cmd), Err(ContractError::NotAllowed(_))));
}

#[test]
fn snapshot_restore_and_incremental_root_match_a_rebuild() {
    let mut s = Site::registered(2);
    for batch in 0..5u64 {
        let views = (0..20u64)
            .map(|i| {
                let v = ((batch * 7 + i) % 9) as u8;
                let p = format!("/p{}", i % 4);
                s.seal(&view(v, NOON + batch * 20 * MIN + i * MIN, &p, "https://r.org/"))
            })
            .collect();
        s.ingest(NOON + batch * 20 * MIN + 30 * MIN, views);
    }
    let restored = Instance::restore(ContractKind::Analytics, &s.inst.snapshot()).unwrap();
    assert_eq!(restored.state_hash(), s.inst.state_hash());
    assert_eq!(restored.snapshot(), s.inst.snapshot());
    let q = AnalyticsQuery::Report { day: today(), top: 10 }.encode();
    assert_eq!(restored.query(&acct(OWNER), &q), s.inst.query(&acct(OWNER), &q));
    // Garbage snapshots are refused.
    assert!(Instance::restore(ContractKind::Analytics, &[1, 2, 3]).is_err());
}

/// The analytics state inside a site's instance (tests only: decoded from its snapshot).
fn state_of(s: &Site) -> Analytics {
    Analytics::decode_all(&mut &s.inst.snapshot()[..]).unwrap()
}

/// Checks that the incrementally kept root equals one rebuilt from a restored snapshot.
fn assert_root_matches_a_rebuild(s: &Site) {
    let restored = Instance::restore(ContractKind::Analytics, &s.inst.snapshot()).unwrap();
    assert_eq!(restored.state_hash(), s.inst.state_hash());
}

/// Retention: once no view can land on a day any more, its visitor hashes are forgotten and its
/// counts stay final; visitors whose session ended are forgotten; a visitor coming back counts
/// as a new unique and a new session, exactly as if nothing had been forgotten.
#[test]
fn a_closed_day_forgets_its_visitors_and_keeps_its_counts() {
    let mut s = Site::registered(2);
    let views = (1..=3).map(|v| s.seal(&view(v, NOON, "/a", "https://news.org/"))).collect();
    s.ingest(NOON + MIN, views);
    let before = s.report(today());
    assert_eq!((before.views, before.visitors, before.sessions), (3, 3, 3));
    assert_eq!(state_of(&s).uniques.len(), 9, "day, page and referrer per visitor");
    assert_eq!(state_of(&s).visitors.len(), 3);

    // The next day at noon: day `today()` can no longer receive views (a view is at most an
    // hour older than its batch).
    let next = NOON + DAY_MS;
    let views = (1..=2).map(|v| s.seal(&view(v, next, "/a", ""))).collect();
    assert_eq!(
        s.ingest(next, views),
        "analytics batch: 2 views counted, 0 invalid, 0 stale, 0 replayed"
    );
    assert_eq!(s.report(today()), before, "a closed day's report does not change");
    let st = state_of(&s);
    assert!(st.uniques.iter().all(|(d, _, _)| *d == today() + 1), "closed day forgotten");
    assert_eq!(st.uniques.len(), 6);
    assert_eq!(st.visitors.len(), 2, "visitor 3's session ended and is forgotten");
    let r = s.report(today() + 1);
    assert_eq!((r.views, r.visitors, r.sessions, r.bounces), (2, 2, 2, 2));
    assert_root_matches_a_rebuild(&s);
    // A view for the closed day is stale, whatever the browser's clock says.
    let late = s.seal(&view(4, NOON + 2 * MIN, "/a", ""));
    assert_eq!(
        s.ingest(next, vec![late]),
        "analytics batch: 0 views counted, 0 invalid, 1 stale, 0 replayed"
    );
}

/// A visitor is kept as long as a later view can still continue its session (the boundary: its
/// last view 30 minutes before the earliest time a view of the batch may have).
#[test]
fn a_session_that_can_still_continue_is_not_forgotten() {
    let mut s = Site::registered(2);
    let v = s.seal(&view(1, NOON, "/", ""));
    s.ingest(NOON, vec![v]);
    // Batch 90 minutes later: the earliest view time is NOON + 30 min, exactly the gap.
    let later = NOON + 90 * MIN;
    let v = s.seal(&view(9, later, "/", ""));
    s.ingest(later, vec![v]);
    assert_eq!(state_of(&s).visitors.len(), 2, "visitor 1 may still continue");
    let v = s.seal(&view(1, NOON + 30 * MIN, "/b", ""));
    s.ingest(later, vec![v]);
    let r = s.report(today());
    assert_eq!((r.views, r.sessions, r.bounces), (3, 2, 1), "visitor 1's session continued");
    // Its last view is now NOON + 30 min: a batch at NOON + 120 min keeps it, one a millisecond
    // later forgets it.
    let v = s.seal(&view(9, NOON + 120 * MIN, "/", ""));
    s.ingest(NOON + 120 * MIN, vec![v]);
    assert_eq!(state_of(&s).visitors.len(), 2);
    let v = s.seal(&view(9, NOON + 120 * MIN + 1, "/", ""));
    s.ingest(NOON + 120 * MIN + 1, vec![v]);
    assert_eq!(state_of(&s).visitors.len(), 1, "only visitor 9 is left");
    assert_root_matches_a_rebuild(&s);
}

/// A visitor (or a collector) sending made-up paths and referrers cannot grow a day beyond
/// MAX_ROWS_PER_DAY rows per table: the rest is counted under "(other)".
#[test]
fn made_up_paths_beyond_the_row_limit_are_counted_under_other() {
    let mut s = Site::registered(2);
    let extra = 5;
    let all: Vec<SealedBox> = (0..MAX_ROWS_PER_DAY + extra)
        .map(|i| {
            let p = format!("/made-up/{i}");
            s.seal(&view((i % 200) as u8, NOON, &p, &format!("https://r{i}.example/")))
        })
        .collect();
    for chunk in all.chunks(MAX_BATCH) {
        s.ingest(NOON, chunk.to_vec());
    }
    let st = state_of(&s);
    assert_eq!(rows_of(&st.pages, today()), MAX_ROWS_PER_DAY + 1);
    assert_eq!(rows_of(&st.referrers, today()), MAX_ROWS_PER_DAY + 1);
    let other = st.pages[&(today(), OTHER.to_string())];
    assert_eq!(other.views, extra as u64);
    assert_eq!(st.referrers[&(today(), OTHER.to_string())].views, extra as u64);
    // Existing rows keep counting after the limit.
    let v = s.seal(&view(1, NOON + MIN, "/made-up/0", ""));
    s.ingest(NOON + MIN, vec![v]);
    assert_eq!(state_of(&s).pages[&(today(), "/made-up/0".to_string())].views, 2);
    assert_root_matches_a_rebuild(&s);
}

/// The row limit holds across a restore (the per-day row counts are derived, not stored): a new
/// path on a full day still goes to `(other)`, and one on the next day gets a row of its own.
#[test]
fn the_row_limit_holds_after_a_restore() {
    let mut s = Site::registered(2);
    let all: Vec<SealedBox> = (0..MAX_ROWS_PER_DAY)
        .map(|i| s.seal(&view((i % 200) as u8, NOON, &format!("/p/{i}"), "")))
        .collect();
    for chunk in all.chunks(MAX_BATCH) {
        s.ingest(NOON, chunk.to_vec());
    }
    s.inst = Instance::restore(ContractKind::Analytics, &s.inst.snapshot()).unwrap();
    let late = NOON + MIN;
    let v = s.seal(&view(1, late, "/after-restore", ""));
    s.ingest(late, vec![v]);
    let st = state_of(&s);
    assert!(!st.pages.contains_key(&(today(), "/after-restore".to_string())));
    assert_eq!(st.pages[&(today(), OTHER.to_string())].views, 1);
    let tomorrow = NOON + DAY_MS;
    let v = s.seal(&view(1, tomorrow, "/after-restore", ""));
    s.ingest(tomorrow, vec![v]);
    assert_eq!(state_of(&s).pages[&(today() + 1, "/after-restore".to_string())].views, 1);
    assert_root_matches_a_rebuild(&s);
}

/// A referrer cannot pose as the `(direct)` or `(other)` rows (or smuggle anything but a host
/// name into the report): a host that is not a host name counts as a direct view.
#[test]
fn a_referrer_cannot_pose_as_a_special_row() {
    let mut s = Site::registered(2);
    let views: Vec<SealedBox> =
        ["(other)", "https://(other)/x", "(direct)", "https://a b/", "https://News.Example.org/a"]
            .iter()
            .enumerate()
            .map(|(i, r)| s.seal(&view(i as u8, NOON, "/", r)))
            .collect();
    s.ingest(NOON, views);
    let st = state_of(&s);
    let rows: Vec<_> = st.referrers.iter().map(|((_, r), c)| (r.as_str(), c.views)).collect();
    assert_eq!(rows, vec![(DIRECT, 4), ("news.example.org", 1)]);
    assert!(is_host_name("xn--bcher-kva.example"));
    assert!(!is_host_name("") && !is_host_name("(other)") && !is_host_name("a/b"));
}

/// Day aggregates older than RETENTION_DAYS are forgotten as batches move on.
#[test]
fn days_older_than_the_retention_are_forgotten() {
    let mut s = Site::registered(2);
    let v = s.seal(&view(1, NOON, "/", "https://a.org/"));
    s.ingest(NOON, vec![v]);
    let kept = NOON + u64::from(RETENTION_DAYS) * DAY_MS;
    let v = s.seal(&view(1, kept, "/", ""));
    s.ingest(kept, vec![v]);
    let days = |s: &Site| match s.query(OWNER, AnalyticsQuery::Days).unwrap() {
        AnalyticsResponse::Days(d) => d,
        other => panic!("{other:?}"),
    };
    assert_eq!(days(&s), vec![today(), today() + RETENTION_DAYS], "exactly the retention");
    let gone = kept + DAY_MS;
    let v = s.seal(&view(1, gone, "/", ""));
    s.ingest(gone, vec![v]);
    assert_eq!(days(&s), vec![today() + RETENTION_DAYS, today() + RETENTION_DAYS + 1]);
    let st = state_of(&s);
    assert!(st.pages.keys().chain(st.referrers.keys()).all(|(d, _)| *d > today()));
    assert_root_matches_a_rebuild(&s);
}

/// A view sealed by the browser tracker (tracker/src/tracker.js, `sealView`, run under node with
/// the pinned @noble libraries) to the key of secret `[3; 32]` for site `[7; 32]`: the JS
/// envelope is byte-compatible with the contract's.
#[test]
fn a_view_sealed_by_the_javascript_tracker_opens() {
    let b = |s: &str| hex_bytes(s);
    let sealed = SealedBox {
        ephemeral: EcdhPublic(
            b("984576a115c4da46bcc8d397322b75f8e2959f6239df2a77225c2f1ecaae575a")
                .try_into()
                .unwrap(),
        ),
        nonce: b("6b77ace6667d15d90d2ba71e").try_into().unwrap(),
        ciphertext: b("5b7dfb893a6615e6ff2764a8d05cd8ab49710ab4efeb867f9ec86db2b7542313717b65afc9b7a333749292ccc5e66a24c724433871f7cb1ef1"),
    };
    let secret = EcdhSecret::from_bytes([3; 32]);
    assert_eq!(
        open_view(&secret, &site_id(7), &sealed),
        Ok(PageView {
            visitor: [9; 16],
            time_ms: 1_795_953_600_000,
            path: "/héllo".into(),
            referrer: "news.org".into()
        })
    );
    assert!(open_view(&secret, &site_id(8), &sealed).is_err());
}

fn hex_bytes(s: &str) -> Vec<u8> {
    s.as_bytes()
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}
