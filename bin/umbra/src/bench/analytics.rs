//! `umbra bench analytics`: how many page views one worker ingests per second through the
//! confidential path of an analytics site (open the collector's sealed batch command, open each
//! browser-sealed view, hash the visitor, update the day aggregates and the incremental state
//! commitment, state hash, seal the outputs), and how long the owner's report query takes once
//! the site holds 1,000,000 views.
//!
//! The views are sealed beforehand exactly as the browser tracker seals them (that work is the
//! visitors' browsers', not the worker's): a deterministic mix of visitors, pages and referrers
//! spread over 30 days, pushed by the collector in batches of 100 whose times advance through
//! those days.

use std::time::Instant;

use umbra_contracts::analytics::{
    seal_view, AnalyticsCommand, AnalyticsQuery, AnalyticsResponse, PageView, DAY_MS,
};
use umbra_contracts::{self as uc, ContractKind, Instance};
use umbra_crypto::{blake2_256, SealedBox};
use umbra_primitives::AccountId;

use super::{bar, ms, percentile, Row};

/// Options of `umbra bench analytics`.
#[derive(Debug, clap::Args)]
pub(crate) struct AnalyticsBenchArgs {
    /// Page views ingested (the report is timed at this many stored views).
    #[arg(long, default_value_t = 1_000_000)]
    views: usize,
    /// Views per collector batch (one command).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Distinct visitors.
    #[arg(long, default_value_t = 20_000)]
    visitors: u32,
    /// Report queries timed.
    #[arg(long, default_value_t = 1_000)]
    queries: usize,
}

const DAYS: u64 = 30;
const START_MS: u64 = 20_000 * DAY_MS;

fn view(i: u64, visitors: u32, time_ms: u64) -> PageView {
    let h = blake2_256(&i.to_le_bytes());
    let visitor = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) % visitors.max(1);
    let page = u16::from_le_bytes([h[4], h[5]]) % 200;
    let referrer = match h[6] % 8 {
        0..=3 => String::new(),
        n => format!("https://ref{}.example/x", u16::from(n) * 7 + u16::from(h[7] % 7)),
    };
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&visitor.to_le_bytes());
    PageView { visitor: id, time_ms, path: format!("/page/{page}"), referrer }
}

/// Runs the benchmark.
pub(crate) fn run(args: &AnalyticsBenchArgs) -> anyhow::Result<Vec<Row>> {
    anyhow::ensure!(args.batch >= 1 && args.batch <= 500, "--batch must be 1..=500");
    anyhow::ensure!(args.views >= args.batch, "--views must be at least --batch");
    let master = blake2_256(b"umbra/bench/master");
    let owner: AccountId = umbra_primitives::Public(blake2_256(b"umbra/bench/owner"));
    let collector: AccountId = umbra_primitives::Public(blake2_256(b"umbra/bench/collector"));
    let id = uc::contract_id(&owner, ContractKind::Analytics, b"bench-site");
    let secret = uc::contract_secret(&master, 0, &id);
    let public = secret.public();

    // The browsers' part: seal every view (two threads).
    let batches = args.views / args.batch;
    let step = (DAYS * DAY_MS) / batches as u64;
    let pb = bar(batches, "sealing views");
    let sealed: Vec<Vec<SealedBox>> = std::thread::scope(|s| {
        let half = batches / 2;
        let work = |range: std::ops::Range<usize>| {
            let pb = pb.clone();
            move || -> anyhow::Result<Vec<Vec<SealedBox>>> {
                let mut out = Vec::with_capacity(range.len());
                for b in range {
                    let batch_ms = START_MS + b as u64 * step;
                    let mut views = Vec::with_capacity(args.batch);
                    for j in 0..args.batch {
                        let i = (b * args.batch + j) as u64;
                        let t = batch_ms.saturating_sub((j as u64 * 7_919) % 600_000);
                        views.push(seal_view(&public, &id, &view(i, args.visitors, t))?);
                    }
                    out.push(views);
                    pb.inc(1);
                }
                Ok(out)
            }
        };
        let a = s.spawn(work(0..half));
        let b = s.spawn(work(half..batches));
        let mut all = a.join().expect("sealing thread")?;
        all.extend(b.join().expect("sealing thread")?);
        Ok::<_, anyhow::Error>(all)
    })?;
    pb.finish_and_clear();
    // The collector's part: one sealed command per batch.
    let mut commands = Vec::with_capacity(batches);
    for (b, views) in sealed.into_iter().enumerate() {
        let time_ms = START_MS + b as u64 * step;
        let cmd = AnalyticsCommand::Ingest { time_ms, views };
        commands.push(uc::seal_command(
            &public,
            &id,
            &collector,
            &parity_scale_codec::Encode::encode(&cmd),
        )?);
    }

    let ctx = |seq: u64, origin: AccountId| uc::CommandContext {
        contract: id,
        origin,
        block: seq,
        seq,
        value: 0,
        gas_limit: uc::gas::MAX_GAS_CAP,
    };
    let mut inst = Instance::new(ContractKind::Analytics);
    inst.set_contract_key(&id, &secret);
    let init = AnalyticsCommand::Init { name: "bench".into(), k: 5, collector };
    inst.execute(&ctx(0, owner), &parity_scale_codec::Encode::encode(&init))?;

    // The worker's part, timed: what it does per command of the log.
    let pb = bar(commands.len(), "ingesting");
    let mut per_batch = Vec::with_capacity(commands.len());
    let start = Instant::now();
    for (i, sealed) in commands.iter().enumerate() {
        let t = Instant::now();
        let c = ctx(i as u64 + 1, collector);
        inst.set_contract_key(&id, &secret);
        let plain = uc::open_command(&secret, &id, &collector, sealed)?;
        let outputs = inst.execute(&c, &plain)?;
        std::hint::black_box(inst.state_hash());
        std::hint::black_box(uc::seal_outputs(&secret, &id, c.seq, outputs));
        per_batch.push(t.elapsed());
        if i % 100 == 0 {
            pb.set_position(i as u64);
        }
    }
    let ingest = start.elapsed();
    pb.finish_and_clear();
    let total_views = batches * args.batch;
    per_batch.sort();

    // The owner's report query at this many stored views (the contract's part of the query:
    // the signed encrypted channel around it is timed by `umbra bench worker`).
    let mut lat = Vec::with_capacity(args.queries);
    let mut shown = 0u64;
    for q in 0..args.queries {
        let day = (START_MS / DAY_MS + q as u64 % DAYS) as u32;
        let query = parity_scale_codec::Encode::encode(&AnalyticsQuery::Report { day, top: 10 });
        let t = Instant::now();
        let answer = inst.query(&owner, &query)?;
        lat.push(t.elapsed());
        if let AnalyticsResponse::Report(r) =
            <AnalyticsResponse as parity_scale_codec::Decode>::decode(&mut &answer[..])?
        {
            shown = shown.max(r.views);
        }
    }
    lat.sort();
    let snapshot = inst.snapshot().len();
    let t = Instant::now();
    let restored = Instance::restore(ContractKind::Analytics, &inst.snapshot())?;
    let rebuild_root = restored.state_hash();
    let restore_time = t.elapsed();
    anyhow::ensure!(rebuild_root == inst.state_hash(), "restored state hash differs");
    anyhow::ensure!(shown > 0, "the report showed no views");

    Ok(vec![
        Row(
            format!(
                "page views ingested/s, one worker ({total_views} views in batches of {})",
                args.batch
            ),
            format!("{:.0}", total_views as f64 / ingest.as_secs_f64()),
        ),
        Row("  batch command, median".into(), ms(percentile(&per_batch, 0.5))),
        Row("  batch command, p99".into(), ms(percentile(&per_batch, 0.99))),
        Row(
            format!("report query at {total_views} stored views, median"),
            ms(percentile(&lat, 0.5)),
        ),
        Row(format!("report query at {total_views} stored views, p99"), ms(percentile(&lat, 0.99))),
        Row("largest day in the report (views)".into(), format!("{shown}")),
        Row("state snapshot (MiB)".into(), format!("{:.1}", snapshot as f64 / 1048576.0)),
        Row("restore + rebuild the state commitment".into(), ms(restore_time)),
    ])
}
