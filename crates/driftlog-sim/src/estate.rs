use crate::config::SimConfig;
use crate::gen;
use crate::ids::{self, DOMAIN_IAM};
use crate::plan::Plan;
use crate::services;
use crate::shapes::iam::IamAccount;
use crate::store::Store;
use crate::topology::{self, Topology};
use crate::SimChange;
use driftlog_model::canonical::merge_volatile;
use driftlog_model::{Observed, ResourceKey, Scope};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, VecDeque};

/// Below this many planned resources generation stays on the calling thread.
const PARALLEL_FROM: usize = 20_000;

/// A simulated AWS estate: every resource's current [`Observed`] state, a simulated clock,
/// and the churn that moves both forward.
///
/// Resources are kept in key order (account, region, type, id), so every listing is
/// deterministic. Only the canonical bytes and ids are kept per resource.
#[derive(Clone)]
pub struct Estate {
    pub(crate) cfg: SimConfig,
    pub(crate) store: Store,
    pub(crate) topo: Topology,
    pub(crate) now_ms: i64,
    pub(crate) ticks: u64,
    /// The size generation reached; churn launches or terminates to stay near it.
    pub(crate) target_len: usize,
    /// Rules opened to the world, oldest first, which churn closes again.
    pub(crate) open_rules: VecDeque<(ResourceKey, u16)>,
    /// The service resources generation built; their churn creates or deletes to stay near.
    pub(crate) service_target: usize,
    /// The EIP associated with each instance, so that terminating it disassociates the EIP.
    pub(crate) eip_by_instance: BTreeMap<ResourceKey, String>,
    /// The flow log of each VPC that has one.
    pub(crate) flow_logs: BTreeMap<ResourceKey, String>,
}

impl Estate {
    /// Generates the estate `cfg` describes. The same configuration always gives the same
    /// estate, byte for byte, whatever the machine's number of threads.
    pub fn new(cfg: SimConfig) -> Estate {
        let accounts = cfg.account_ids();
        let plan = Plan::new(&cfg);
        let mut topo = Topology::new(cfg.seed, &accounts, &cfg.regions);
        let iam: Vec<IamAccount> = accounts
            .iter()
            .zip(&plan.iam)
            .enumerate()
            .map(|(i, (account, counts))| {
                let mut rng = ids::rng_for(cfg.seed, DOMAIN_IAM, i as u64);
                IamAccount::new(&mut rng, account, *counts, cfg.start_ms, &cfg.regions)
            })
            .collect();
        for (t, a) in topo.accounts.iter_mut().zip(&iam) {
            t.profiles = a.profiles();
            t.roles = a.role_refs();
        }
        let (n_iam, n_vpc) = (iam.len(), plan.vpcs.len());
        let units = n_iam + n_vpc + plan.buckets.len();
        let heavy = plan.total() >= PARALLEL_FROM;
        let outputs = gen::run_parallel(units, heavy, |u| {
            if let Some(a) = iam.get(u) {
                (gen::observe(a.documents()), None)
            } else if let Some(v) = plan.vpcs.get(u - n_iam) {
                gen::vpc_unit(cfg.seed, u - n_iam, v, &topo, cfg.start_ms)
            } else {
                let p = u - n_iam - n_vpc;
                let n = plan.buckets.get(p).copied().unwrap_or(0);
                (gen::bucket_unit(cfg.seed, p, n, &topo, cfg.start_ms), None)
            }
        });
        let mut store = Store::default();
        for scope in topology::configured_scopes(&accounts, &cfg.regions) {
            store.declare(scope);
        }
        let mut grouped: BTreeMap<Scope, Vec<Observed>> = BTreeMap::new();
        for (items, vpc) in outputs {
            for o in items {
                grouped.entry(o.key.scope()).or_default().push(o);
            }
            if let Some(v) = vpc {
                topo.add_vpc(v);
            }
        }
        for (scope, items) in grouped {
            store.fill(scope, items);
        }
        let target_len = store.len();
        // The service types, once the original types and the topology are complete.
        let counts = services::plan::per_vpc(plan.total(), topo.vpcs.len());
        let units = gen::run_parallel(counts.len(), heavy, |g| {
            counts
                .get(g)
                .map(|c| services::unit::service_unit(cfg.seed, g, c, &topo, cfg.start_ms))
                .unwrap_or_default()
        });
        let mut grouped: BTreeMap<Scope, Vec<Observed>> = BTreeMap::new();
        let mut eip_by_instance = BTreeMap::new();
        let mut flow_logs = BTreeMap::new();
        for u in units {
            for o in u.docs {
                grouped.entry(o.key.scope()).or_default().push(o);
            }
            eip_by_instance.extend(u.eips);
            flow_logs.extend(u.flow_logs);
        }
        for (scope, items) in grouped {
            store.fill(scope, items);
        }
        Estate {
            now_ms: cfg.start_ms,
            service_target: store.len() - target_len,
            target_len,
            cfg,
            store,
            topo,
            ticks: 0,
            open_rules: VecDeque::new(),
            eip_by_instance,
            flow_logs,
        }
    }

    /// The configuration the estate was built from.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Every (account, region, type) scope that can hold resources, sorted, including
    /// scopes that are empty right now: a poller must poll them all, since an empty
    /// complete snapshot is what tells the diff stage that the last resource is gone.
    /// IAM types appear once per account under the region `global`.
    pub fn scopes(&self) -> Vec<Scope> {
        self.store.scopes().map(|(s, _)| s.clone()).collect()
    }

    /// Every current resource of `scope`, sorted by key: what a complete poll of that scope
    /// returns. Cheap: the bytes are shared, not copied.
    pub fn snapshot(&self, scope: &Scope) -> Vec<Observed> {
        self.store.scope(scope).cloned().collect()
    }

    /// The current state of one resource, as a targeted describe call returns it.
    pub fn describe(&self, key: &ResourceKey) -> Option<Observed> {
        self.store.get(key).cloned()
    }

    /// Number of resources now.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// True when the estate holds no resource.
    pub fn is_empty(&self) -> bool {
        self.store.len() == 0
    }

    /// All current resources in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Observed> {
        self.store.iter()
    }

    /// The simulated clock, epoch milliseconds: `start_ms` plus `tick_ms` per tick. Pollers
    /// use it as the capture time so that recorded histories are reproducible.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// How many ticks have run.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Advances the clock by `tick_ms` and applies `round(churn * len)` churn operations
    /// (at least one when `churn > 0`), drawn from the seed and the tick number.
    ///
    /// Returns each touched resource's net change over the tick, sorted by key; a resource
    /// touched and restored within the tick is not listed.
    pub fn tick(&mut self) -> Vec<SimChange> {
        self.run_tick()
    }

    /// The keys of every resource of `resource_type`, sorted, so tests can pick resources
    /// to look at or edit.
    pub fn keys_of_type(&self, resource_type: &str) -> Vec<ResourceKey> {
        self.store
            .scopes()
            .filter(|(s, _)| s.resource_type == resource_type)
            .flat_map(|(s, _)| self.store.scope(s).map(|o| (*o.key).clone()))
            .collect()
    }

    /// A resource's document with its volatile values merged back: what AWS Config would
    /// show as the resource's `configuration` and neighbours. `None` if absent or if the
    /// stored bytes were not JSON (they always are, unless a test stored otherwise).
    pub fn document(&self, key: &ResourceKey) -> Option<Value> {
        parse(self.store.get(key)?)
    }

    /// Test hook: changes a resource's whole stored document (`arn`, `resourceName`,
    /// `availabilityZone`, `resourceCreationTime`, `tags`, `relationships`,
    /// `configuration`, `supplementaryConfiguration`) and canonicalizes it again.
    /// Returns false, without calling `f`, when the resource does not exist.
    pub fn edit(&mut self, key: &ResourceKey, f: impl FnOnce(&mut Value)) -> bool {
        let Some(mut doc) = self.document(key) else {
            return false;
        };
        f(&mut doc);
        self.store.put(Observed::from_value(key.clone(), doc));
        true
    }

    /// Test hook: deletes a resource, as if removed behind the simulator's back (nothing
    /// that refers to it is updated). Returns false when it did not exist.
    pub fn remove(&mut self, key: &ResourceKey) -> bool {
        self.store.take(key).is_some()
    }

    /// Test hook: adds or replaces a resource with document `doc` (the stored document's
    /// members, as in [`Estate::edit`]). A key outside the configured scopes adds its scope.
    pub fn insert(&mut self, key: ResourceKey, doc: Value) {
        self.store.put(Observed::from_value(key, doc));
    }
}

impl std::fmt::Debug for Estate {
    /// A summary: printing a million documents helps nobody.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Estate")
            .field("seed", &self.cfg.seed)
            .field("len", &self.len())
            .field("scopes", &self.store.scopes().count())
            .field("now_ms", &self.now_ms)
            .field("ticks", &self.ticks)
            .finish()
    }
}

/// Parses a stored resource back into its document, volatile values merged.
pub(crate) fn parse(obs: &Observed) -> Option<Value> {
    let mut doc: Value = serde_json::from_slice(&obs.doc).ok()?;
    if obs.volatile.len() > 2 {
        if let Ok(vol) = serde_json::from_slice::<Map<String, Value>>(&obs.volatile) {
            merge_volatile(&mut doc, &vol);
        }
    }
    Some(doc)
}
