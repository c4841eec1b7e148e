//! Embedding stage: every output is embedded by every configured model that accepts its
//! modality, in batches; initial prompts are embedded too and kept on their runs.

use std::sync::mpsc::Sender;

use super::{CancelToken, EngineError, EngineOptions, ProgressEvent, Stage};
use crate::config::ValidatedConfig;
use crate::models::{Embedder, Input, Modality, ModelError, ModelKind, ModelProvider};
use crate::store::{self, EmbeddingRecord, Store, derived_id};

fn produced_modalities(
    config: &ValidatedConfig,
    models: &dyn ModelProvider,
    network_index: Option<u32>,
) -> Vec<Modality> {
    let mut produced = Vec::new();
    for (index, network) in config.networks().iter().enumerate() {
        if network_index.is_some_and(|wanted| wanted as usize != index) {
            continue;
        }
        for model in network {
            if let Some(output) = models
                .describe(model)
                .and_then(|kind| kind.generative_output())
                && !produced.contains(&output)
            {
                produced.push(output);
            }
        }
    }
    produced
}

fn check_vectors(
    model: &str,
    dimension: usize,
    expected: usize,
    vectors: &[Vec<f32>],
) -> Result<(), EngineError> {
    let bad = |message: String| EngineError::Embedding {
        model: model.to_owned(),
        source: ModelError::Inference {
            model: model.to_owned(),
            message,
        },
    };
    if vectors.len() != expected {
        return Err(bad(format!(
            "returned {} vectors for {expected} inputs",
            vectors.len()
        )));
    }
    for vector in vectors {
        if vector.len() != dimension {
            return Err(bad(format!(
                "returned a {}-d vector, expected {dimension}-d",
                vector.len()
            )));
        }
        if vector.iter().any(|value| !value.is_finite()) {
            return Err(bad("returned a vector with NaN or infinite values".into()));
        }
    }
    Ok(())
}

/// Announces the embedding stage of `model` and loads it.
fn load_embedder(
    models: &dyn ModelProvider,
    model: &str,
    progress: &Sender<ProgressEvent>,
) -> Result<Box<dyn Embedder>, EngineError> {
    let _ = progress.send(ProgressEvent::Stage(Stage::Embedding {
        model: model.to_owned(),
    }));
    models
        .load_embedder(model)
        .map_err(|source| EngineError::Embedding {
            model: model.to_owned(),
            source,
        })
}

/// Embeds `inputs` and checks that every input got one finite vector of the model's dimension.
fn embed_checked(
    embedder: &mut dyn Embedder,
    model: &str,
    inputs: &[Input<'_>],
) -> Result<Vec<Vec<f32>>, EngineError> {
    let vectors = embedder
        .embed(inputs)
        .map_err(|source| EngineError::Embedding {
            model: model.to_owned(),
            source,
        })?;
    check_vectors(model, embedder.info().dimension, inputs.len(), &vectors)?;
    Ok(vectors)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn embed_outputs(
    store: &mut Store,
    models: &dyn ModelProvider,
    experiment_id: &str,
    config: &ValidatedConfig,
    network_index: Option<u32>,
    options: EngineOptions,
    progress: &Sender<ProgressEvent>,
    cancel: &CancelToken,
) -> Result<(), EngineError> {
    let produced = produced_modalities(config, models, network_index);
    for model_name in config.embedding_models() {
        let Some(kind @ ModelKind::Embedding { .. }) = models.describe(model_name) else {
            continue;
        };
        let modalities: Vec<Modality> = produced
            .iter()
            .copied()
            .filter(|m| kind.embeds(*m))
            .collect();
        let mut embedder: Option<Box<dyn Embedder>> = None;
        for modality in modalities {
            loop {
                if cancel.is_cancelled() {
                    return Ok(());
                }
                let pending = store.pending_embeddings(
                    experiment_id,
                    network_index,
                    model_name,
                    modality,
                    options.embedding_batch_size.max(1),
                )?;
                if pending.is_empty() {
                    break;
                }
                let embedder = match &mut embedder {
                    Some(embedder) => embedder,
                    None => embedder.insert(load_embedder(models, model_name, progress)?),
                };
                let inputs: Vec<Input<'_>> = pending
                    .iter()
                    .map(|item| Input::from(&item.output))
                    .collect();
                let started_at = store::now();
                let vectors = embed_checked(embedder.as_mut(), model_name, &inputs)?;
                let completed_at = store::now();
                let records: Vec<EmbeddingRecord> = pending
                    .iter()
                    .zip(vectors)
                    .map(|(item, vector)| EmbeddingRecord {
                        id: derived_id(&item.invocation_id, &format!("embedding/{model_name}")),
                        invocation_id: item.invocation_id.clone(),
                        embedding_model: model_name.clone(),
                        vector,
                        started_at,
                        completed_at,
                    })
                    .collect();
                store.insert_embeddings(&records)?;
                let (total, done) =
                    store.embedding_progress(experiment_id, model_name, modality)?;
                let _ = progress.send(ProgressEvent::Embeddings {
                    model: model_name.clone(),
                    done,
                    total,
                });
            }
        }
    }
    Ok(())
}

/// Embeds each run's initial prompt with every text-capable embedding model.
pub(super) fn embed_prompts(
    store: &mut Store,
    models: &dyn ModelProvider,
    experiment_id: &str,
    config: &ValidatedConfig,
    progress: &Sender<ProgressEvent>,
) -> Result<(), EngineError> {
    for model_name in config.embedding_models() {
        if !models
            .describe(model_name)
            .is_some_and(|kind| kind.embeds(Modality::Text))
        {
            continue;
        }
        let missing = store.runs_missing_prompt_embedding(experiment_id, model_name)?;
        if missing.is_empty() {
            continue;
        }
        let mut embedder = load_embedder(models, model_name, progress)?;
        // Runs share prompts: embed each distinct prompt once.
        let mut prompts: Vec<&str> = missing.iter().map(|(_, prompt)| prompt.as_str()).collect();
        prompts.sort_unstable();
        prompts.dedup();
        let inputs: Vec<Input<'_>> = prompts.iter().map(|prompt| Input::Text(prompt)).collect();
        let vectors = embed_checked(embedder.as_mut(), model_name, &inputs)?;
        let rows: Vec<(String, String, Vec<f32>)> = missing
            .iter()
            .filter_map(|(run_id, prompt)| {
                let index = prompts.binary_search(&prompt.as_str()).ok()?;
                Some((run_id.clone(), model_name.clone(), vectors[index].clone()))
            })
            .collect();
        store.insert_prompt_embeddings(&rows)?;
    }
    Ok(())
}
