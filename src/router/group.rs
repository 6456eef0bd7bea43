//! A model group and its load-balancing strategies. `order` returns the deployments in the order
//! attempts should try them: the strategy's pick first, then the others in rotation, so a retry
//! moves to another deployment whenever there is one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Semaphore;

use std::borrow::Cow;

use super::quota::Quota;
use super::state::DeploymentState;
use crate::config::pattern;
use crate::config::schema::Strategy;
use crate::providers::Provider;
use crate::telemetry::ids::random_u64;

/// A deployment's `max_concurrency` slots.
#[derive(Debug, Clone)]
pub struct Limit {
    /// One permit per request in flight to the deployment.
    pub slots: Arc<Semaphore>,
    /// How many there are.
    pub size: usize,
}

impl Limit {
    /// `size` fresh slots.
    pub fn new(size: usize) -> Self {
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            slots: Arc::new(Semaphore::new(size)),
            size,
        }
    }
}

/// One deployment of a model group.
pub struct Deployment {
    /// The provider serving it.
    pub provider: Arc<dyn Provider>,
    /// The model name sent upstream.
    pub upstream_model: String,
    /// Relative share of traffic.
    pub weight: u32,
    /// `max_concurrency` of the deployment, when set.
    pub limit: Option<Limit>,
    /// The upstream's rpm/tpm quota, to steer away from before it answers 429.
    pub quota: Quota,
    /// Breaker, in-flight count, latency, health.
    pub state: Arc<DeploymentState>,
}

impl Deployment {
    /// Whether the router may pick it now: healthy, breaker not open, a free slot.
    pub fn available(&self) -> bool {
        self.state.available()
            && self
                .limit
                .as_ref()
                .is_none_or(|l| l.slots.available_permits() > 0)
    }

    /// Whether one more request of `tokens` stays within the upstream quota.
    pub fn has_headroom(&self, tokens: u64) -> bool {
        self.state.window.fits(&self.quota, tokens, Instant::now())
    }

    /// Counts a request of `tokens` against the upstream quota (when one is set).
    pub fn charge_quota(&self, tokens: u64) {
        if self.quota.is_set() {
            self.state.window.record(tokens, Instant::now());
        }
    }

    /// `provider/model`, as the `x-llm-deployment` header and logs show it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.provider.name(), self.upstream_model)
    }
}

/// A client-facing model name and its deployments.
pub struct Group {
    /// The client-facing name.
    pub name: String,
    /// Where it is served.
    pub deployments: Vec<Deployment>,
    /// Model names to fall back to.
    pub fallbacks: Vec<String>,
    /// Model names with larger context windows for `context_length_exceeded`.
    pub context_window_fallbacks: Vec<String>,
    strategy: Strategy,
    next: AtomicUsize,
    /// Smooth weighted round robin's current weights.
    current: Mutex<Vec<i64>>,
}

impl Group {
    /// A group of `deployments` picked by `strategy`.
    pub fn new(
        name: String,
        strategy: Strategy,
        deployments: Vec<Deployment>,
        fallbacks: Vec<String>,
        context_window_fallbacks: Vec<String>,
    ) -> Self {
        let current = Mutex::new(vec![0; deployments.len()]);
        Self {
            name,
            deployments,
            fallbacks,
            context_window_fallbacks,
            strategy,
            next: AtomicUsize::new(0),
            current,
        }
    }

    /// The upstream model `deployment` gets for a client's `model`: as configured, or in a
    /// pattern group (`anthropic/*`) with the `*` replaced by what the pattern matched.
    pub fn upstream<'d>(&self, deployment: &'d Deployment, model: &str) -> Cow<'d, str> {
        let rest = pattern::prefix(&self.name).and_then(|p| pattern::capture(p, model));
        match rest {
            Some(rest) => Cow::Owned(pattern::substitute(&deployment.upstream_model, rest)),
            None => Cow::Borrowed(&deployment.upstream_model),
        }
    }

    /// Deployment indexes in attempt order for a request of `tokens` (estimated): the
    /// strategy's pick among the available ones with quota headroom first, then every other
    /// deployment in rotation — those with headroom, then those near their upstream quota (still
    /// worth a try: the quota is this replica's estimate), then unavailable ones.
    pub fn order(&self, tokens: u64) -> Vec<usize> {
        let n = self.deployments.len();
        if n == 0 {
            return Vec::new();
        }
        let available: Vec<usize> = (0..n)
            .filter(|&i| self.deployments[i].available())
            .collect();
        let roomy: Vec<usize> = available
            .iter()
            .copied()
            .filter(|&i| self.deployments[i].has_headroom(tokens))
            .collect();
        let pool = if roomy.is_empty() { &available } else { &roomy };
        let first = match self.strategy {
            Strategy::RoundRobin => self.round_robin(pool),
            Strategy::Weighted => self.weighted(pool),
            Strategy::LeastInflight => self.least_inflight(pool),
            Strategy::LowestLatency => self.lowest_latency(pool),
        };
        let start = first.unwrap_or_else(|| self.next.fetch_add(1, Ordering::Relaxed) % n);
        let mut order: Vec<usize> = (0..n).map(|k| (start + k) % n).collect();
        // Stable: keeps the rotation within each rank.
        let rank = |i: usize| match (i == start, roomy.contains(&i), available.contains(&i)) {
            (true, _, _) | (false, true, _) => 0,
            (false, false, true) => 1,
            (false, false, false) => 2,
        };
        order.sort_by_key(|&i| rank(i));
        order
    }

    fn round_robin(&self, available: &[usize]) -> Option<usize> {
        (!available.is_empty())
            .then(|| available[self.next.fetch_add(1, Ordering::Relaxed) % available.len()])
    }

    /// Smooth weighted round robin (nginx's): each pick adds every weight to its current value,
    /// takes the largest, and subtracts the total from it — an even interleaving.
    fn weighted(&self, available: &[usize]) -> Option<usize> {
        let mut current = self.current.lock().ok()?;
        let total: i64 = available
            .iter()
            .map(|&i| i64::from(self.deployments[i].weight))
            .sum();
        let mut best: Option<usize> = None;
        for &i in available {
            current[i] += i64::from(self.deployments[i].weight);
            if best.is_none_or(|b| current[i] > current[b]) {
                best = Some(i);
            }
        }
        if let Some(b) = best {
            current[b] -= total;
        }
        best
    }

    fn least_inflight(&self, available: &[usize]) -> Option<usize> {
        let offset = self.next.fetch_add(1, Ordering::Relaxed);
        // Start the scan at a rotating offset so ties spread instead of piling on the first.
        (0..available.len())
            .map(|k| available[(offset + k) % available.len()])
            .min_by_key(|&i| self.deployments[i].state.inflight())
    }

    /// Power of two choices: of two random available deployments, the one with the lower cost
    /// (latency average × (in flight + 1)); one fast node is not stampeded because it is only
    /// sometimes among the two. Unknown latency costs nothing, so new deployments get tried.
    fn lowest_latency(&self, available: &[usize]) -> Option<usize> {
        match available.len() {
            0 => None,
            1 => Some(available[0]),
            len => {
                let a = available[(random_u64() as usize) % len];
                let mut b = available[(random_u64() as usize) % (len - 1)];
                if b == a {
                    b = available[len - 1];
                }
                let cost = |i: usize| {
                    let state = &self.deployments[i].state;
                    let latency = state.latency().map_or(0, |d| d.as_micros());
                    latency * (u128::from(state.inflight()) + 1)
                };
                Some(if cost(b) < cost(a) { b } else { a })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema::BreakerConfig;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    fn group(strategy: Strategy, weights: &[u32]) -> Group {
        let config =
            crate::config::parse("providers:\n  - {name: p, type: mock, models: [m]}\n", None)
                .unwrap();
        let provider: Arc<dyn Provider> = Arc::from(
            crate::providers::build(
                &config.raw.providers[0],
                Arc::new(crate::providers::endpoint(&config.raw.providers[0]).unwrap()),
            )
            .unwrap(),
        );
        let deployments = weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Deployment {
                provider: Arc::clone(&provider),
                upstream_model: format!("m{i}"),
                weight,
                limit: None,
                quota: Quota::default(),
                state: Arc::new(DeploymentState::new(
                    &BreakerConfig::default(),
                    "p",
                    &format!("m{i}"),
                    Arc::new(AtomicBool::new(true)),
                )),
            })
            .collect();
        Group::new("g".into(), strategy, deployments, vec![], vec![])
    }

    fn firsts(g: &Group, n: usize) -> Vec<usize> {
        (0..n).map(|_| g.order(0)[0]).collect()
    }

    #[test]
    fn round_robin_and_orders_cover_every_deployment() {
        let g = group(Strategy::RoundRobin, &[1, 1, 1]);
        assert_eq!(firsts(&g, 6), [0, 1, 2, 0, 1, 2]);
        let mut order = g.order(0);
        order.sort_unstable();
        assert_eq!(order, [0, 1, 2]);
    }

    #[test]
    fn smooth_weighted_interleaves_by_weight() {
        let g = group(Strategy::Weighted, &[5, 1, 1]);
        let picks = firsts(&g, 7);
        assert_eq!(
            picks,
            [0, 0, 1, 0, 2, 0, 0],
            "nginx's smooth sequence for 5:1:1"
        );
        let g = group(Strategy::Weighted, &[3, 1]);
        let counts = firsts(&g, 400).iter().fold([0; 2], |mut c, &i| {
            c[i] += 1;
            c
        });
        assert_eq!(counts, [300, 100]);
    }

    #[test]
    fn least_inflight_prefers_the_idle_deployment() {
        let g = group(Strategy::LeastInflight, &[1, 1, 1]);
        let _busy0 = g.deployments[0].state.start();
        let _busy1 = g.deployments[1].state.start();
        assert_eq!(firsts(&g, 3), [2, 2, 2]);
    }

    #[test]
    fn lowest_latency_favours_the_fast_without_stampeding() {
        let g = group(Strategy::LowestLatency, &[1, 1, 1]);
        g.deployments[0].state.observe(Duration::from_millis(10));
        g.deployments[1].state.observe(Duration::from_millis(100));
        g.deployments[2].state.observe(Duration::from_millis(100));
        let picks = firsts(&g, 3000);
        let fast = picks.iter().filter(|&&i| i == 0).count();
        // Power of two choices: the fast node wins whenever it is drawn (2 of 3 pairs), not always.
        assert!((1700..2300).contains(&fast), "{fast}");
    }

    #[test]
    fn deployments_near_their_upstream_quota_are_tried_after_the_others() {
        let mut g = group(Strategy::RoundRobin, &[1, 1, 1]);
        g.deployments[0].quota = Quota {
            rpm: Some(1),
            tpm: None,
        };
        g.deployments[1].quota = Quota {
            rpm: None,
            tpm: Some(100),
        };
        g.deployments[0].charge_quota(0);
        // 0 is out of requests; 1 has room for 60 tokens but not for 200.
        assert!(firsts(&g, 4).iter().all(|&i| i != 0));
        for _ in 0..4 {
            let order = g.order(200);
            assert_eq!(order[0], 2);
            assert!(order[1..].contains(&0) && order[1..].contains(&1));
        }
        // All near their quotas: still served, by the strategy, rather than refused.
        g.deployments[2].quota = Quota {
            rpm: Some(1),
            tpm: None,
        };
        g.deployments[2].charge_quota(0);
        assert_eq!(g.order(200).len(), 3);
    }

    #[test]
    fn unavailable_deployments_are_skipped_first_and_tried_last() {
        let g = group(Strategy::RoundRobin, &[1, 1, 1]);
        for _ in 0..5 {
            g.deployments[1]
                .state
                .breaker
                .try_acquire()
                .unwrap()
                .record(false);
        }
        for _ in 0..6 {
            let order = g.order(0);
            assert_ne!(order[0], 1);
            assert_eq!(order[2], 1);
        }
    }
}
