//! Charges a replica settled on its local store while Redis was away (`store.on_error: open`),
//! kept so they reach Redis when it is back: without them a budget shared by many replicas would
//! forget whatever was spent during the outage.
//!
//! Charges are summed per (scopes, budget periods), so the backlog grows with the number of
//! distinct callers, not with traffic, and is bounded by [`MAX_ENTRIES`]. Token-bucket
//! corrections are not kept: a rate bucket refills within its window, so a correction replayed
//! minutes later would only distort the current one.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::store::{Charge, Counters};

/// Distinct (scopes, periods) the backlog holds at most; charges for new ones beyond it are
/// dropped (and counted in the log line of the replay).
pub const MAX_ENTRIES: usize = 10_000;

/// Where a charge rolls up to.
type Destination = (Vec<String>, Vec<(String, Duration)>);

/// Summed charges waiting for Redis.
#[derive(Debug, Default)]
pub struct Backlog {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    pending: HashMap<Destination, Counters>,
    dropped: u64,
}

impl Backlog {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Counters are added whole under the lock; a panic elsewhere cannot leave half a sum.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `charge` for Redis.
    pub fn record(&self, charge: &Charge) {
        let mut state = self.lock();
        let destination = (charge.scopes.clone(), charge.periods.clone());
        let full = state.pending.len() >= MAX_ENTRIES;
        match state.pending.get_mut(&destination) {
            Some(sum) => sum.add(&charge.counters),
            None if full => state.dropped += 1,
            None => {
                state.pending.insert(destination, charge.counters.clone());
            }
        }
    }

    /// Everything kept so far, as charges, and how many charges were dropped; the backlog is
    /// empty afterwards.
    pub fn take(&self) -> (Vec<Charge>, u64) {
        let mut state = self.lock();
        let charges = state
            .pending
            .drain()
            .map(|((scopes, periods), counters)| Charge {
                scopes,
                counters,
                periods,
                corrections: Vec::new(),
            })
            .collect();
        (charges, std::mem::take(&mut state.dropped))
    }

    /// Puts back charges that could not be replayed.
    pub fn restore(&self, charges: Vec<Charge>) {
        for charge in charges {
            self.record(&charge);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge(scope: &str, requests: u64, spend_micros: u64) -> Charge {
        Charge {
            scopes: vec![format!("key:{scope}"), "team:t".to_owned()],
            counters: Counters {
                requests,
                spend_micros,
                ..Counters::default()
            },
            periods: vec![(format!("key:{scope}"), Duration::from_secs(86_400))],
            corrections: Vec::new(),
        }
    }

    #[test]
    fn charges_sum_per_destination_and_drain_once() {
        let backlog = Backlog::default();
        for (scope, requests, spend) in [("a", 1, 10), ("b", 1, 5), ("a", 2, 30)] {
            backlog.record(&charge(scope, requests, spend));
        }
        let (mut charges, dropped) = backlog.take();
        charges.sort_by(|x, y| x.scopes.cmp(&y.scopes));
        assert_eq!(dropped, 0);
        assert_eq!(charges, [charge("a", 3, 40), charge("b", 1, 5)]);
        assert_eq!(backlog.take().0, []);
    }

    #[test]
    fn new_destinations_beyond_the_bound_are_dropped_and_counted() {
        let backlog = Backlog::default();
        for i in 0..MAX_ENTRIES {
            backlog.record(&charge(&i.to_string(), 1, 1));
        }
        backlog.record(&charge("late", 1, 1));
        backlog.record(&charge("0", 1, 1));
        let (charges, dropped) = backlog.take();
        assert_eq!((charges.len(), dropped), (MAX_ENTRIES, 1));
        let first = charges.iter().find(|c| c.scopes[0] == "key:0");
        assert_eq!(first.map(|c| c.counters.requests), Some(2));
    }
}
