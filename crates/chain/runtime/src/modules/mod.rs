//! Runtime modules. Each module is one file holding its storage items, calls, events, errors,
//! genesis part and tests, in that order. Adding a module means: a new file here, a variant in
//! [`crate::Call`] and [`crate::Event`] with a fresh stable index, and a line in
//! [`crate::dispatch`].

pub mod balances;
pub mod computation;
pub mod contracts;
pub mod gatekeeper;
pub mod governance;
pub mod mq;
pub mod registry;
pub mod stake_pools;
pub mod system;
pub mod vault;

/// The layering of the modules: each module with the modules it may import (name in code),
/// lowest first. A module imports only modules listed before it, so the graph is acyclic; a call
/// that must go the other way (up) is a hook trait the lower module declares (its `Config`:
/// [`mq::Config`], [`computation::Config`], [`vault::Config`]) and the runtime root
/// [`crate::Runtime`] implements, the one place that wires modules together. Enforced by the
/// test below, which reads the modules' sources.
pub const LAYERING: &[(&str, &[&str])] = &[
    ("system", &[]),
    ("governance", &[]),
    ("mq", &[]),
    ("balances", &["governance"]),
    ("registry", &["governance", "mq", "system"]),
    ("gatekeeper", &["governance", "mq", "registry", "system"]),
    ("computation", &["balances", "governance", "mq", "registry", "system"]),
    ("vault", &["balances", "computation", "governance", "system"]),
    ("stake_pools", &["balances", "computation", "registry", "system", "vault"]),
    (
        "contracts",
        &["balances", "computation", "gatekeeper", "governance", "mq", "registry", "system"],
    ),
];

#[cfg(test)]
mod layering_tests {
    use std::collections::BTreeSet;

    use super::LAYERING;

    /// Each module's source file (its tests live in `<module>/tests.rs` or in an inline
    /// `#[cfg(test)] mod tests`, which the check skips: tests may set up any module).
    const SOURCES: &[(&str, &str)] = &[
        ("system", include_str!("system.rs")),
        ("governance", include_str!("governance.rs")),
        ("mq", include_str!("mq.rs")),
        ("balances", include_str!("balances.rs")),
        ("registry", include_str!("registry.rs")),
        ("gatekeeper", include_str!("gatekeeper.rs")),
        ("computation", include_str!("computation.rs")),
        ("vault", include_str!("vault.rs")),
        ("stake_pools", include_str!("stake_pools.rs")),
        ("contracts", include_str!("contracts.rs")),
    ];

    /// The first path segment of each item after a `::` at the start of `rest`: `x` for `x::…`,
    /// every top-level item's first segment for `{a, b::{…}, c}`.
    fn heads(rest: &str) -> Vec<String> {
        let ident = |s: &str| -> String {
            s.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
        };
        let Some(group) = rest.strip_prefix('{') else { return vec![ident(rest)] };
        let mut out = Vec::new();
        let mut depth = 0usize;
        let mut item_start = true;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth = depth.saturating_add(1),
                '}' if depth == 0 => break,
                '}' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => item_start = true,
                c if item_start && !c.is_whitespace() => {
                    item_start = false;
                    out.push(ident(&group[i..]));
                }
                _ => {}
            }
        }
        out
    }

    /// The runtime modules (and root items) `source` names outside comments and its tests:
    /// through `crate::`, `crate::modules::`, `super::`, in paths and `use` groups.
    fn references(source: &str) -> BTreeSet<String> {
        let code = source.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        let code: String = code
            .lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        let mut found = BTreeSet::new();
        for prefix in ["crate::", "modules::", "super::"] {
            for (at, _) in code.match_indices(prefix) {
                found.extend(heads(&code[at.saturating_add(prefix.len())..]));
            }
        }
        found
    }

    #[test]
    fn the_layering_is_acyclic_and_covers_every_module() {
        let names: Vec<&str> = LAYERING.iter().map(|(m, _)| *m).collect();
        for (i, (module, allowed)) in LAYERING.iter().enumerate() {
            for dep in *allowed {
                let pos = names.iter().position(|n| n == dep);
                assert!(pos.is_some_and(|p| p < i), "{module} may import {dep}: not below it");
            }
        }
        let mut all: Vec<&str> = crate::MODULES.to_vec();
        all.sort_unstable();
        let mut listed = names.clone();
        listed.sort_unstable();
        assert_eq!(all, listed, "every module has a place in LAYERING");
        let mut sourced: Vec<&str> = SOURCES.iter().map(|(m, _)| *m).collect();
        sourced.sort_unstable();
        assert_eq!(sourced, listed, "every module's source is checked");
    }

    #[test]
    fn modules_import_only_the_modules_below_them() {
        for (module, source) in SOURCES {
            let (_, allowed) = LAYERING.iter().find(|(m, _)| m == module).unwrap();
            for name in references(source) {
                assert_ne!(
                    name, "Runtime",
                    "{module} names the runtime root: reach other modules through its Config"
                );
                if crate::MODULES.contains(&name.as_str()) && name != *module {
                    assert!(
                        allowed.contains(&name.as_str()),
                        "{module} imports {name}, which is not below it in modules::LAYERING: \
                         declare a hook in {module}'s Config and implement it on crate::Runtime"
                    );
                }
            }
        }
    }

    #[test]
    fn the_check_sees_every_form_of_import() {
        let source = "use crate::{\n    ext::Ext,\n    modules::{balances, computation::{self, \
                      PoolId}, vault::Loan},\n};\nuse super::registry;\nfn f() { \
                      crate::stake_pools::pool_account(0); crate::modules::gatekeeper::leader(); \
                      crate::Runtime::x(); }\n// crate::contracts in a comment\n\
                      #[cfg(test)]\nmod tests {\n    use crate::modules::mq;\n}\n";
        let found = references(source);
        for name in
            ["balances", "computation", "vault", "registry", "stake_pools", "gatekeeper", "Runtime"]
        {
            assert!(found.contains(name), "{name} in {found:?}");
        }
        assert!(!found.contains("contracts"), "comments are skipped");
        assert!(!found.contains("mq"), "tests are skipped");
        assert!(!found.contains("PoolId") && !found.contains("Loan"), "only first segments");
    }
}
