//! BERT-style sentence encoders (MiniLM, nomic-embed-text): tokenize with padding to the batch's
//! longest input and truncation at the model maximum, run the graph, mean-pool the token states
//! over the attention mask, L2-normalise.

use std::path::Path;

use ort::session::Session;
use ort::value::TensorElementType;
use tokenizers::{
    AddedToken, PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection,
    TruncationParams, TruncationStrategy,
};

use super::config::declared_pad_token;
use super::session::{self, Inputs, SessionOptions, inference, int_input, l2_normalise};
use crate::models::catalog::{Pooling, TextEncoderSpec};
use crate::models::{Embedder, EmbedderInfo, Input, Modality, ModelError};
use crate::paths::AppPaths;

/// Inputs per session run; bigger batches are split so padded tensors stay bounded.
pub const MAX_RUN_BATCH: usize = 256;

/// Most texts per session run. A batch is sorted by length before it is split, so each run pads
/// its texts to a length close to their own instead of to the batch's longest: with captions of
/// mixed lengths most of the padded tokens (and their attention cost) disappear.
pub const TEXT_RUN_BATCH: usize = 64;

/// A run stops growing once padding would make it this much bigger than its texts. On CPU one
/// run per text costs little more per text than a large run, so it is cheaper to split a batch
/// than to pad short texts to a long one (MiniLM, batches of 32 mixed captions: 245 → 354–370
/// sentences/s, BENCHMARKS.md).
const PADDING_SLACK: f64 = 1.25;

/// Runs `embed` over `texts` in length-sorted runs (see [`length_runs`]) and returns the
/// vectors in the order of `texts`.
pub fn embed_in_length_order(
    texts: &[&str],
    mut embed: impl FnMut(&[&str]) -> Result<Vec<Vec<f32>>, ModelError>,
) -> Result<Vec<Vec<f32>>, ModelError> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let sorted_lengths: Vec<usize> = order.iter().map(|&i| texts[i].len()).collect();
    let mut vectors = vec![Vec::new(); texts.len()];
    for run in length_runs(&sorted_lengths) {
        let chunk = &order[run];
        let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
        for (&i, vector) in chunk.iter().zip(embed(&batch)?) {
            vectors[i] = vector;
        }
    }
    Ok(vectors)
}

/// Splits ascending `lengths` into consecutive runs of at most [`TEXT_RUN_BATCH`] whose padded
/// size (count × longest) stays within [`PADDING_SLACK`] of their total length. Character
/// counts stand in for token counts: close enough to group texts without tokenising twice.
pub fn length_runs(lengths: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut total = 0usize;
    for (i, &length) in lengths.iter().enumerate() {
        let count = i - start + 1;
        let padded = (count * length.max(1)) as f64;
        let fits = padded <= PADDING_SLACK * (total + length.max(1)) as f64;
        if i > start && (count > TEXT_RUN_BATCH || !fits) {
            runs.push(start..i);
            start = i;
            total = 0;
        }
        total += length.max(1);
    }
    if start < lengths.len() {
        runs.push(start..lengths.len());
    }
    runs
}

/// The pad token of the tokenizer in `dir`: what `tokenizer_config.json` /
/// `special_tokens_map.json` declare, else what `tokenizer` already pads with, else `fallback`
/// (the catalog's). A declared token missing from the vocabulary is an error naming its file.
pub fn pad_token(
    model: &str,
    dir: &Path,
    tokenizer: &Tokenizer,
    fallback: &str,
) -> Result<String, ModelError> {
    if let Some((token, file)) = declared_pad_token(model, dir)? {
        if tokenizer.token_to_id(&token).is_none() {
            return Err(ModelError::config(
                model,
                file,
                "pad_token",
                format!("{token} is not in the tokenizer's vocabulary"),
            ));
        }
        return Ok(token);
    }
    if let Some(padding) = tokenizer.get_padding()
        && tokenizer.token_to_id(&padding.pad_token).is_some()
    {
        return Ok(padding.pad_token.clone());
    }
    Ok(fallback.to_owned())
}

/// Pads on the right with `pad_token` by `strategy` and truncates on the right at `max_length`.
/// The pad token becomes a special token if it is not one yet, as Hugging Face tokenizers make
/// every special token: text containing it (SD 2.x pads with "!") then splits it out whole.
pub fn set_padding_and_truncation(
    tokenizer: &mut Tokenizer,
    strategy: PaddingStrategy,
    pad_token: &str,
    max_length: usize,
) -> Result<(), String> {
    let pad_id = tokenizer
        .token_to_id(pad_token)
        .ok_or_else(|| format!("no pad token {pad_token}"))?;
    let added = tokenizer
        .get_added_tokens_decoder()
        .values()
        .any(|token| token.content == pad_token);
    if !added {
        tokenizer.add_special_tokens(&[AddedToken::from(pad_token, true).normalized(false)]);
    }
    tokenizer.with_padding(Some(PaddingParams {
        strategy,
        direction: PaddingDirection::Right,
        pad_to_multiple_of: None,
        pad_id,
        pad_type_id: 0,
        pad_token: pad_token.to_owned(),
    }));
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction: TruncationDirection::Right,
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A tokenizer failure of `model`.
pub(crate) fn tokenizer_error(model: &str, message: impl Into<String>) -> ModelError {
    ModelError::Tokenizer {
        model: model.to_owned(),
        message: message.into(),
    }
}

/// Reads a `tokenizer.json` as it is.
pub(crate) fn open_tokenizer(model: &str, path: &Path) -> Result<Tokenizer, ModelError> {
    Tokenizer::from_file(path)
        .map_err(|e| tokenizer_error(model, format!("loading {}: {e}", path.display())))
}

/// Loads `tokenizer.json` and sets the app's padding and truncation (overriding whatever the file
/// says, e.g. MiniLM's fixed 128-token padding), padding with the token the directory declares
/// ([`pad_token`]; `pad_token` here is the fallback).
pub fn load_tokenizer(
    model: &str,
    path: &Path,
    max_length: usize,
    pad_token: &str,
) -> Result<Tokenizer, ModelError> {
    let mut tokenizer = open_tokenizer(model, path)?;
    let pad_token = self::pad_token(
        model,
        path.parent().unwrap_or(Path::new(".")),
        &tokenizer,
        pad_token,
    )?;
    set_padding_and_truncation(
        &mut tokenizer,
        PaddingStrategy::BatchLongest,
        &pad_token,
        max_length,
    )
    .map_err(|message| tokenizer_error(model, format!("{}: {message}", path.display())))?;
    Ok(tokenizer)
}

/// A tokenized batch as row-major `[batch, sequence]` matrices.
pub struct Tokenized {
    pub batch: usize,
    pub sequence: usize,
    pub ids: Vec<i64>,
    pub mask: Vec<i64>,
    pub type_ids: Vec<i64>,
}

impl Tokenized {
    /// `input_ids` as `ids_type`, and `attention_mask` when the graph takes one (`mask_type`).
    pub fn id_and_mask_inputs(
        &self,
        model: &str,
        ids_type: TensorElementType,
        mask_type: Option<TensorElementType>,
    ) -> Result<Inputs, ModelError> {
        let shape = [self.batch, self.sequence];
        let mut inputs: Inputs = vec![int_input(
            model,
            "input_ids",
            ids_type,
            shape,
            self.ids.clone(),
        )?];
        if let Some(ty) = mask_type {
            inputs.push(int_input(
                model,
                "attention_mask",
                ty,
                shape,
                self.mask.clone(),
            )?);
        }
        Ok(inputs)
    }
}

pub fn tokenize(
    model: &str,
    tokenizer: &Tokenizer,
    texts: Vec<String>,
) -> Result<Tokenized, ModelError> {
    let encodings = tokenizer
        .encode_batch(texts, true)
        .map_err(|e| tokenizer_error(model, e.to_string()))?;
    let batch = encodings.len();
    let sequence = encodings.first().map_or(0, |e| e.len());
    let mut tokenized = Tokenized {
        batch,
        sequence,
        ids: Vec::with_capacity(batch * sequence),
        mask: Vec::with_capacity(batch * sequence),
        type_ids: Vec::with_capacity(batch * sequence),
    };
    for encoding in &encodings {
        if encoding.len() != sequence {
            return Err(inference(
                model,
                "tokenizer did not pad the batch to one length",
            ));
        }
        tokenized
            .ids
            .extend(encoding.get_ids().iter().map(|&id| i64::from(id)));
        tokenized
            .mask
            .extend(encoding.get_attention_mask().iter().map(|&m| i64::from(m)));
        tokenized
            .type_ids
            .extend(encoding.get_type_ids().iter().map(|&t| i64::from(t)));
    }
    Ok(tokenized)
}

/// A loaded sentence encoder; one session, reused for every call.
pub struct TextEncoder {
    info: EmbedderInfo,
    spec: TextEncoderSpec,
    session: Session,
    tokenizer: Tokenizer,
    ids_type: TensorElementType,
    mask_type: Option<TensorElementType>,
    token_type: Option<TensorElementType>,
}

impl TextEncoder {
    /// Opens `dir/spec.model` and `dir/spec.tokenizer`. The dimension is read from the graph.
    pub fn load(
        name: &str,
        dir: &Path,
        spec: TextEncoderSpec,
        paths: &AppPaths,
        options: SessionOptions,
    ) -> Result<Self, ModelError> {
        let tokenizer = load_tokenizer(
            name,
            &dir.join(spec.tokenizer),
            spec.max_length,
            spec.pad_token,
        )?;
        let session = session::open(paths, &dir.join(spec.model), options)?;
        let ids_type = session::input_type(&session, "input_ids")
            .ok_or_else(|| inference(name, "the graph has no input_ids input"))?;
        let mask_type = session::input_type(&session, "attention_mask");
        let token_type = session::input_type(&session, "token_type_ids");
        let dimension = session
            .outputs()
            .iter()
            .find(|output| output.name() == spec.output)
            .and_then(|output| output.dtype().tensor_shape())
            .and_then(|shape| shape.last().copied())
            .and_then(|dim| usize::try_from(dim).ok())
            .ok_or_else(|| {
                inference(
                    name,
                    format!(
                        "the graph has no output {} with a fixed last dimension",
                        spec.output
                    ),
                )
            })?;
        Ok(Self {
            info: EmbedderInfo {
                name: name.to_owned(),
                modalities: vec![Modality::Text],
                dimension,
                normalised: spec.normalise,
            },
            spec,
            session,
            tokenizer,
            ids_type,
            mask_type,
            token_type,
        })
    }

    /// One vector per text, in order.
    pub fn embed_texts(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        embed_in_length_order(texts, |batch| self.embed_chunk(batch))
    }

    fn embed_chunk(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let name = self.info.name.as_str();
        let prefixed = texts
            .iter()
            .map(|text| format!("{}{text}", self.spec.prefix))
            .collect();
        let tokenized = tokenize(name, &self.tokenizer, prefixed)?;
        let mut inputs = tokenized.id_and_mask_inputs(name, self.ids_type, self.mask_type)?;
        let Tokenized {
            batch,
            sequence,
            mask,
            type_ids,
            ..
        } = tokenized;
        if let Some(ty) = self.token_type {
            inputs.push(int_input(
                name,
                "token_type_ids",
                ty,
                [batch, sequence],
                type_ids,
            )?);
        }
        let outputs = self
            .session
            .run(inputs)
            .map_err(|e| inference(name, e.to_string()))?;
        let states = outputs
            .get(self.spec.output)
            .ok_or_else(|| inference(name, format!("no output {}", self.spec.output)))?;
        let (out_shape, data) = states
            .try_extract_tensor::<f32>()
            .map_err(|e| inference(name, format!("{}: {e}", self.spec.output)))?;
        let hidden = self.info.dimension;
        if **out_shape != [batch as i64, sequence as i64, hidden as i64] {
            return Err(inference(
                name,
                format!(
                    "{} has shape {out_shape:?}, expected [{batch}, {sequence}, {hidden}]",
                    self.spec.output
                ),
            ));
        }
        let mut vectors = Vec::with_capacity(batch);
        for row in 0..batch {
            let mut vector = match self.spec.pooling {
                Pooling::Mean => mean_pool(
                    &data[row * sequence * hidden..(row + 1) * sequence * hidden],
                    &mask[row * sequence..(row + 1) * sequence],
                    hidden,
                ),
            };
            if self.spec.normalise {
                l2_normalise(&mut vector);
            }
            vectors.push(vector);
        }
        Ok(vectors)
    }
}

/// Mean of the `hidden`-wide rows of `states` whose mask is 1.
fn mean_pool(states: &[f32], mask: &[i64], hidden: usize) -> Vec<f32> {
    let mut sum = vec![0f32; hidden];
    let mut count = 0f32;
    for (token, &m) in states.chunks_exact(hidden).zip(mask) {
        if m != 0 {
            sum.iter_mut().zip(token).for_each(|(s, t)| *s += t);
            count += 1.0;
        }
    }
    if count > 0.0 {
        sum.iter_mut().for_each(|s| *s /= count);
    }
    sum
}

impl Embedder for TextEncoder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    fn embed(&mut self, inputs: &[Input<'_>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let texts = inputs
            .iter()
            .map(|input| match input {
                Input::Text(text) => Ok(*text),
                Input::Image(_) => Err(ModelError::WrongInput {
                    model: self.info.name.clone(),
                    expected: Modality::Text,
                    given: Modality::Image,
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.embed_texts(&texts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_runs_cover_everything_in_order_with_bounded_padding() {
        let lengths: Vec<usize> = (0..200).map(|i| 10 + i / 3).collect();
        let runs = length_runs(&lengths);
        let mut next = 0;
        for run in &runs {
            assert_eq!(run.start, next);
            assert!(!run.is_empty() && run.len() <= TEXT_RUN_BATCH);
            let padded = run.len() * lengths[run.end - 1];
            let total: usize = lengths[run.clone()].iter().sum();
            assert!(run.len() == 1 || padded as f64 <= PADDING_SLACK * total as f64);
            next = run.end;
        }
        assert_eq!(next, lengths.len());
        // Equal lengths fill whole runs; one very long text gets a run of its own.
        assert_eq!(length_runs(&[5; 130]), vec![0..64, 64..128, 128..130]);
        assert_eq!(length_runs(&[4, 4, 4, 400]), vec![0..3, 3..4]);
        assert!(length_runs(&[]).is_empty());
    }

    #[test]
    fn mean_pool_ignores_masked_tokens() {
        let states = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0];
        assert_eq!(mean_pool(&states, &[1, 1, 0], 2), vec![2.0, 3.0]);
    }
}
