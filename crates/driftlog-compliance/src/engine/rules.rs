//! The rule store: the definitions being judged, compiled once, and their durable copies
//! ([`DEFS`], with a [`PENDING`] mark until a put rule has run over the inventory and a
//! [`DELETING`] one while a deleted rule's results end).

use super::{EngineError, Result};
use crate::def::{DefContext, DefError, RuleDef};
use crate::namespaces::{Lenient, DEFS, DELETING, LAST_RUN, PENDING, STATUSES};
use driftlog_log::{Batch, Log};
use driftlog_rules::Judge;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// AWS's limit of rules per account and region.
pub(super) const MAX_RULES: usize = 1000;

/// A rule being judged: its definition compiled once, not per item.
pub(super) struct Active {
    pub(super) def: RuleDef,
    pub(super) judge: Judge,
    /// Which definition of the rule this is: a verdict judged by a replaced definition is
    /// dropped, never recorded under the new one.
    pub(super) generation: u64,
}

/// Source of [`Active::generation`].
static GENERATION: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// A definition written to the store but not judged yet: it becomes active only once the
/// engine has made it durable with its status (see [`RuleStore::activate`]).
pub(super) struct Staged(Active);

impl Staged {
    /// The rule's key.
    pub(super) fn name(&self) -> &str {
        &self.0.def.rule.name
    }
}

/// The rules in memory and in the store. Its one lock is never held while another part's
/// is taken: readers clone the `Arc`s they need and let go.
pub(super) struct RuleStore {
    log: Arc<Log>,
    /// Where the server's own rules are put (see [`RuleStore::def_context`]).
    home: DefContext,
    rules: RwLock<BTreeMap<String, Arc<Active>>>,
}

impl RuleStore {
    /// Loads the stored definitions; one that no longer reads or compiles is skipped (and
    /// said so), so an upgrade never keeps the server from starting.
    pub(super) fn open(log: Arc<Log>, home: DefContext) -> Result<Self> {
        let mut rules = BTreeMap::new();
        for (k, stored) in DEFS.all(&log)? {
            if let Some(reason) = stored.unreadable() {
                tracing::error!(rule = %k, error = %reason, "Stored rule is unreadable; skipped.");
            }
            let Some(def) = stored.into_value() else {
                continue;
            };
            match Judge::new(def.rule.clone()) {
                Ok(judge) => {
                    rules.insert(
                        def.rule.name.clone(),
                        Arc::new(Active {
                            def,
                            judge,
                            generation: next_generation(),
                        }),
                    );
                }
                Err(e) => {
                    tracing::error!(rule = %def.rule.name, error = %e, "Stored rule no longer compiles; skipped.")
                }
            }
        }
        // Rules put but not yet evaluated over the inventory: their marks name this
        // process's definitions, so the run that finishes them removes them.
        for (k, _) in PENDING.all(&log)? {
            if let Some(a) = rules.get(&k) {
                PENDING.put(&log, &k, &a.generation)?;
            }
        }
        Ok(Self {
            log,
            home,
            rules: RwLock::new(rules),
        })
    }

    /// Where the server's own rules are put (account, region, evaluators).
    pub(super) fn def_context(&self) -> DefContext {
        self.home.clone()
    }

    /// Every definition, by key.
    pub(super) fn defs(&self) -> Vec<RuleDef> {
        self.read().values().map(|a| a.def.clone()).collect()
    }

    /// Every active rule, by key: a snapshot, so judging never holds the lock.
    pub(super) fn all(&self) -> Vec<Arc<Active>> {
        self.read().values().cloned().collect()
    }

    /// The rules by key, as one recording sees them from start to end.
    pub(super) fn snapshot(&self) -> BTreeMap<String, Arc<Active>> {
        self.read().clone()
    }

    /// The rule of key `name`.
    pub(super) fn get(&self, name: &str) -> Option<Arc<Active>> {
        self.read().get(name).cloned()
    }

    /// The definition of key `name`.
    pub(super) fn def(&self, name: &str) -> Option<RuleDef> {
        self.get(name).map(|a| a.def.clone())
    }

    /// The name a rule's owner gave it (its key when the rule is gone).
    pub(super) fn display_of(&self, key: &str) -> String {
        self.get(key)
            .map_or_else(|| key.to_string(), |a| a.def.display_name().to_string())
    }

    /// Rules deleted whose results are still being ended; marks written before
    /// definitions were kept in them are left out.
    pub(super) fn deleting(&self) -> Vec<RuleDef> {
        let Ok(marks) = DELETING.all(&self.log) else {
            return Vec::new();
        };
        marks
            .into_iter()
            .filter_map(|(_, mark)| mark.into_value())
            .collect()
    }

    /// A rule of key `name` is still being deleted: its key cannot be reused until its
    /// results have ended, or the new rule's results would be ended with them.
    fn is_deleting(&self, name: &str) -> Result<bool> {
        Ok(DELETING.get(&self.log, name)?.is_some())
    }

    /// Checks and compiles a put rule and writes it, with a pending full run naming this
    /// definition (a run of an older one leaves the mark). Unflushed: the caller flushes
    /// once it has written the rule's status too.
    pub(super) fn stage(&self, config_rule: &Value, ctx: &DefContext, now: i64) -> Result<Staged> {
        let shown = config_rule
            .get("ConfigRuleName")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (name, ctx) = self.key_and_place(shown, ctx)?;
        if self.is_deleting(&name)? {
            return Err(EngineError::InUse(shown.to_string()));
        }
        let existing = self.def(&name);
        let mut def = RuleDef::from_api(config_rule, existing.as_ref(), &ctx, now)?;
        def.rule.name.clone_from(&name);
        if existing.is_none() && self.read().len() >= MAX_RULES {
            return Err(EngineError::TooMany);
        }
        let judge = Judge::new(def.rule.clone()).map_err(|e| DefError {
            code: "InvalidParameterValueException",
            message: e.to_string(),
        })?;
        let generation = next_generation();
        let mut batch = Batch::default();
        batch.put(&DEFS, &name, &Lenient::new(def.clone()))?;
        batch.put(&PENDING, &name, &generation)?;
        batch.apply(&self.log)?;
        Ok(Staged(Active {
            def,
            judge,
            generation,
        }))
    }

    /// Makes a staged rule the one judged under its key (replacing any older definition).
    pub(super) fn activate(&self, staged: Staged) -> RuleDef {
        let def = staged.0.def.clone();
        self.write()
            .insert(def.rule.name.clone(), Arc::new(staged.0));
        def
    }

    /// Removes a rule, durably: its definition, pending run, status and last run go, and
    /// a [`DELETING`] mark keeping the definition takes their place, so
    /// DescribeConfigRules shows the rule DELETING until its results have ended.
    pub(super) fn delete(&self, name: &str) -> Result<()> {
        let Some(active) = self.get(name) else {
            if self.is_deleting(name)? {
                return Err(EngineError::InUse(name.to_string()));
            }
            return Err(EngineError::NoSuchRule(name.to_string()));
        };
        let mut batch = Batch::default();
        batch.put(&DELETING, name, &Lenient::new(active.def.clone()))?;
        batch.remove(&DEFS, name);
        batch.remove(&PENDING, name);
        batch.remove(&STATUSES, name);
        batch.remove(&LAST_RUN, name);
        batch.apply(&self.log)?;
        self.log.flush()?;
        self.write().remove(name);
        Ok(())
    }

    /// The key a rule named `shown` is put under from `ctx`, and the place it judges:
    /// * a rule an older store kept under its plain name (before names were per region)
    ///   stays there when the same place puts it again;
    /// * a server-wide rule (the CLI's, judging every region) is seen by every region's
    ///   caller under its name: another region cannot put a rule of that name beside it,
    ///   and the server's own region updates it in place, server-wide still;
    /// * a name that spells another place's key (`ssh@eu-west-1` put in us-east-1) never
    ///   takes that place's rule over (the CLI may widen any rule).
    fn key_and_place(&self, shown: &str, ctx: &DefContext) -> Result<(String, DefContext)> {
        let taken = |by: &RuleDef, what: &str| -> EngineError {
            DefError {
                code: "InvalidParameterValueException",
                message: format!(
                    "The name {shown:?} is taken by {what} ({}); choose another name.",
                    by.arn
                ),
            }
            .into()
        };
        let mut name = ctx.rule_key(shown);
        let mut ctx = ctx.clone();
        let plain = self.def(shown);
        if name != shown && self.def(&name).is_none() {
            if let Some(old) = plain.as_ref().filter(|old| {
                old.rule.scope.region == ctx.scope_region
                    && old.rule.scope.account == ctx.scope_account
            }) {
                name = old.rule.name.clone();
            }
        }
        if ctx.scope_region.is_some() {
            if let Some(wide) = plain.as_ref().filter(|d| d.rule.scope.region.is_none()) {
                if name != shown {
                    return Err(taken(
                        wide,
                        &format!(
                            "a server-wide rule (added with `driftlog rules add`, judging every region; update it from {})",
                            self.home.region
                        ),
                    ));
                }
                ctx.scope_region.clone_from(&wide.rule.scope.region);
                ctx.scope_account.clone_from(&wide.rule.scope.account);
            }
        }
        if let Some(old) = self.def(&name) {
            let theirs = (&old.rule.scope.region, &old.rule.scope.account);
            let mine = (&ctx.scope_region, &ctx.scope_account);
            if theirs.0.is_some() && mine.0.is_some() && theirs != mine {
                return Err(taken(&old, "a rule of another region or account"));
            }
        }
        Ok((name, ctx))
    }

    /// A panic elsewhere must not stop the rules from being read: a poisoned lock is
    /// used as is (every change under it is one insert or remove).
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Active>>> {
        self.rules.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Active>>> {
        self.rules.write().unwrap_or_else(|p| p.into_inner())
    }
}
