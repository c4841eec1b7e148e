//! Sharding one experiment's runs over several machines: a deterministic, balanced split of the
//! plan. Every shard plans the same runs with the same ids and keeps its own part.

use std::str::FromStr;

use thiserror::Error;

use crate::store::RunRecord;

/// Part `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("'{0}' is not a shard; write I/N with 0 ≤ I < N, e.g. 0/4 (Slurm: $SLURM_ARRAY_TASK_ID/N)")]
pub struct ShardParseError(String);

impl FromStr for Shard {
    type Err = ShardParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ShardParseError(text.to_owned());
        let (index, count) = text.split_once('/').ok_or_else(error)?;
        let index: u32 = index.trim().parse().map_err(|_| error())?;
        let count: u32 = count.trim().parse().map_err(|_| error())?;
        if count == 0 || index >= count {
            return Err(error());
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether `run` belongs to this shard. Within each network the runs are dealt round-robin
    /// (so every shard gets an equal share of every network's cost, and its runs of a network
    /// still advance in lock step), starting one shard further for each network so remainders
    /// do not pile up on the first shard.
    pub fn contains(&self, run: &RunRecord, position_in_network: usize) -> bool {
        (position_in_network as u64 + u64::from(run.network_index)) % u64::from(self.count)
            == u64::from(self.index)
    }

    /// Keeps this shard's runs of a plan (`plan_runs` order).
    pub fn select(&self, plan: Vec<RunRecord>) -> Vec<RunRecord> {
        let mut position = 0;
        let mut network = None;
        plan.into_iter()
            .filter(|run| {
                if network != Some(run.network_index) {
                    network = Some(run.network_index);
                    position = 0;
                }
                let keep = self.contains(run, position);
                position += 1;
                keep
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_reject_nonsense() {
        assert_eq!("2/5".parse(), Ok(Shard { index: 2, count: 5 }));
        for bad in ["5/5", "1/0", "x/2", "3", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
