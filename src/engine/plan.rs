//! Run enumeration: networks × prompts × seeds, in that order, with ids derived from the
//! experiment id and the run's position so every machine plans the same runs.

use crate::config::ValidatedConfig;
use crate::store::{RunRecord, derived_id};

pub fn plan_runs(experiment_id: &str, config: &ValidatedConfig) -> Vec<RunRecord> {
    let mut runs = Vec::with_capacity(config.run_count());
    for (network_index, network) in config.networks().iter().enumerate() {
        for (prompt_index, prompt) in config.prompts().iter().enumerate() {
            for (seed_index, seed) in config.seeds().iter().enumerate() {
                runs.push(RunRecord {
                    id: derived_id(
                        experiment_id,
                        &format!("run/{network_index}/{prompt_index}/{seed_index}"),
                    ),
                    experiment_id: experiment_id.to_owned(),
                    network_index: network_index as u32,
                    network: network.clone(),
                    prompt_index: prompt_index as u32,
                    initial_prompt: prompt.clone(),
                    seed_index: seed_index as u32,
                    seed: *seed,
                    max_length: config.max_length(),
                    stop: None,
                });
            }
        }
    }
    runs
}
