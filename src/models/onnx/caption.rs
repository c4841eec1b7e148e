//! Vision-encoder + autoregressive text-decoder captioners (ViT-GPT2 layout): preprocess →
//! `encoder_model.onnx` → `decoder_model_merged.onnx` one token per step with past key/values →
//! detokenise with special tokens stripped.
//!
//! A batch decodes together: every row feeds one token per step (finished rows keep feeding the
//! end token, which no other row can see), so an item's caption does not depend on its batch.
//! Unseeded items decode greedily; seeded items sample with temperature and top-p from their own
//! ChaCha8 stream, so a seed always gives the same caption.

use std::path::{Path, PathBuf};

use image::RgbImage;
use image::imageops::FilterType;
use ort::session::Session;
use ort::value::{DynValue, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokenizers::Tokenizer;

use super::binding::{BoundOutputs, BoundSession, Placement};
use super::config::GenerationConfig;
use super::pixels::ImagePreprocess;
use super::session::{self, SessionOptions, inference};
use super::text::{open_tokenizer, tokenizer_error};
use crate::models::catalog::{EncoderDecoderSpec, SamplingSpec};
use crate::models::{ImageToText, ModelError, Seed, check_batch};
use crate::paths::AppPaths;

/// Past key/value layout read from the decoder graph.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheLayout {
    pub layers: usize,
    pub heads: usize,
    pub head_dim: usize,
}

pub struct EncoderDecoderCaptioner {
    name: String,
    spec: EncoderDecoderSpec,
    encoder: Session,
    decoder: Session,
    /// Where the decoder's caches stay between tokens.
    decoder_placement: Placement,
    tokenizer: Tokenizer,
    start_id: u32,
    end_id: u32,
    cache: CacheLayout,
    /// Merged decoders take `use_cache_branch`.
    merged: bool,
    max_new_tokens: usize,
    preprocess: ImagePreprocess,
}

impl EncoderDecoderCaptioner {
    pub fn load(
        name: &str,
        dir: &Path,
        spec: EncoderDecoderSpec,
        paths: &AppPaths,
        options: SessionOptions,
    ) -> Result<Self, ModelError> {
        let tokens = CaptionTokenizer::load(name, dir, spec.tokenizer)?;
        let generation = tokens.generation;
        let start_id = tokens.id(name, generation.decoder_start_token_id, spec.start_token)?;
        let end_id = tokens.id(name, generation.eos_token_id, spec.end_token)?;
        // Bilinear, as the ViT processor's resample 2.
        let fallback =
            ImagePreprocess::exact(spec.image_size, FilterType::Triangle, spec.mean, spec.std);
        let preprocess = ImagePreprocess::read(name, dir, fallback)?;
        let encoder = session::open(paths, &dir.join(spec.encoder), options)?;
        if session::input_type(&encoder, "pixel_values").is_none()
            || !session::has_output(&encoder, "last_hidden_state")
        {
            return Err(inference(
                name,
                format!(
                    "{} must map pixel_values to last_hidden_state",
                    spec.encoder
                ),
            ));
        }
        let decoder = session::open(paths, &dir.join(spec.decoder), options)?;
        let cache = cache_layout(&decoder, ".key").ok_or_else(|| {
            inference(
                name,
                format!(
                    "{} has no past_key_values.N.key/value inputs of fixed heads and head size",
                    spec.decoder
                ),
            )
        })?;
        for input in ["input_ids", "encoder_hidden_states"] {
            if session::input_type(&decoder, input).is_none() {
                return Err(inference(
                    name,
                    format!("{} has no {input} input", spec.decoder),
                ));
            }
        }
        let merged = session::input_type(&decoder, "use_cache_branch").is_some();
        Ok(Self {
            name: name.to_owned(),
            spec,
            encoder,
            decoder_placement: Placement::of(&decoder),
            decoder,
            tokenizer: tokens.tokenizer,
            start_id,
            end_id,
            cache,
            merged,
            max_new_tokens: generation.max_new_tokens(spec.sampling.max_new_tokens),
            preprocess,
        })
    }

    /// Caps the tokens generated per caption (otherwise the catalog's, within the directory's
    /// `generation_config.json` `max_length`), as `max_new_tokens` does in Hugging Face.
    pub fn with_max_new_tokens(mut self, max_new_tokens: usize) -> Self {
        self.max_new_tokens = max_new_tokens.max(1);
        self
    }

    /// Tokens generated per caption at most.
    pub fn max_new_tokens(&self) -> usize {
        self.max_new_tokens
    }

    /// The token fed first and the end token.
    pub fn start_and_end_ids(&self) -> (u32, u32) {
        (self.start_id, self.end_id)
    }

    /// How images become `pixel_values`.
    pub fn preprocess(&self) -> &ImagePreprocess {
        &self.preprocess
    }

    /// The generated token ids of each image, end token excluded.
    pub fn generate_ids(
        &mut self,
        images: &[&RgbImage],
        seeds: &[Seed],
    ) -> Result<Vec<Vec<u32>>, ModelError> {
        check_batch(&self.name, images.len(), seeds.len())?;
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let (states, states_shape) = self.encode(images)?;
        self.decode(&states, states_shape, seeds)
    }

    /// The caption of one generated sequence: detokenised, special tokens stripped, trimmed. An
    /// empty result is [`ModelError::EmptyOutput`].
    pub fn caption_from_ids(&self, ids: &[u32]) -> Result<String, ModelError> {
        caption_text(&self.name, &self.tokenizer, ids)
    }

    fn encode(&mut self, images: &[&RgbImage]) -> Result<States, ModelError> {
        let name = self.name.as_str();
        let input = self.preprocess.batch(name, images)?;
        let outputs = self
            .encoder
            .run(vec![("pixel_values", input)])
            .map_err(|e| inference(name, format!("encoder: {e}")))?;
        states(name, &outputs, "last_hidden_state", images.len())
    }

    fn decode(
        &mut self,
        states: &[f32],
        states_shape: [usize; 3],
        seeds: &[Seed],
    ) -> Result<Vec<Vec<u32>>, ModelError> {
        let batch = seeds.len();
        let name = self.name.clone();
        let fail = |what: &str, e: ort::Error| inference(&name, format!("{what}: {e}"));
        let CacheLayout {
            layers,
            heads,
            head_dim,
        } = self.cache;
        // Step 0 starts from empty caches [B, heads, 0, head_dim].
        let mut past: Vec<(String, DynValue)> = Vec::with_capacity(2 * layers);
        for i in 0..2 * layers {
            past.push((
                cache_name("past_key_values", None, i),
                empty_cache(&name, batch, heads, head_dim)?,
            ));
        }
        let policy = TokenPolicy {
            start: self.start_id,
            forced_first: None,
            end: self.end_id,
            max_new_tokens: self.max_new_tokens,
            sampling: self.spec.sampling,
        };
        let decoder = &mut self.decoder;
        let (merged, placement) = (self.merged, self.decoder_placement);
        let presents: Vec<String> = (0..2 * layers)
            .map(|i| cache_name("present", None, i))
            .collect();
        let mut bound = BoundSession::new(&name, decoder, &["logits"], presents, placement)?;
        // Fed unchanged at every step: bound (and copied to the device) once.
        let states = Tensor::from_array((states_shape, states.to_vec()))
            .map_err(|e| fail("building encoder_hidden_states", e))?;
        bound.bind("encoder_hidden_states", &states)?;
        decode_loop(seeds, &policy, |next, step| {
            let ids = Tensor::from_array(([batch, 1], next.to_vec()))
                .map_err(|e| fail("building input_ids", e))?;
            bound.bind("input_ids", &ids)?;
            if merged {
                bound.bind("use_cache_branch", &use_cache_flag(&name, step)?)?;
            }
            bound.bind_all(&past)?;
            let mut outputs = bound.run(decoder)?;
            let logits = last_logits(&name, &outputs, batch)?;
            past = (0..2 * layers)
                .map(|i| {
                    let value = take_output(&name, &mut outputs, &cache_name("present", None, i))?;
                    Ok((cache_name("past_key_values", None, i), value))
                })
                .collect::<Result<_, ModelError>>()?;
            Ok(logits)
        })
    }
}

/// A captioner's tokenizer with its directory's `generation_config.json`, whose token ids win
/// over the catalog's token names.
pub(crate) struct CaptionTokenizer {
    pub tokenizer: Tokenizer,
    pub generation: GenerationConfig,
    path: PathBuf,
}

impl CaptionTokenizer {
    pub fn load(model: &str, dir: &Path, file: &str) -> Result<Self, ModelError> {
        let path = dir.join(file);
        let tokenizer = open_tokenizer(model, &path)?;
        let generation = GenerationConfig::read(model, dir, tokenizer.get_vocab_size(true))?;
        Ok(Self {
            tokenizer,
            generation,
            path,
        })
    }

    /// `configured` when the directory gives it, else the id of the catalog's `token`.
    pub fn id(&self, model: &str, configured: Option<u32>, token: &str) -> Result<u32, ModelError> {
        match configured {
            Some(id) => Ok(id),
            None => self.tokenizer.token_to_id(token).ok_or_else(|| {
                tokenizer_error(
                    model,
                    format!("{} has no token {token}", self.path.display()),
                )
            }),
        }
    }
}

/// A `[rows, width, hidden]` f32 tensor as (data, shape).
pub(crate) type States = (Vec<f32>, [usize; 3]);

/// Output `name` as `[rows, length, hidden]` f32.
pub(crate) fn states(
    model: &str,
    outputs: &ort::session::SessionOutputs<'_>,
    name: &str,
    rows: usize,
) -> Result<States, ModelError> {
    let value = outputs
        .get(name)
        .ok_or_else(|| inference(model, format!("no output {name}")))?;
    let (shape, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| inference(model, format!("{name}: {e}")))?;
    match **shape {
        [b, length, hidden] if b == rows as i64 && length > 0 && hidden > 0 => {
            Ok((data.to_vec(), [rows, length as usize, hidden as usize]))
        }
        ref other => Err(inference(
            model,
            format!("{name} has shape {other:?}, expected [{rows}, length, hidden]"),
        )),
    }
}

/// A decoder cache's name: `{prefix}.{layer}[.{part}].key` for even `index`, `.value` for odd
/// (`part` is Florence-2's `decoder` / `encoder`).
pub(crate) fn cache_name(prefix: &str, part: Option<&str>, index: usize) -> String {
    let kind = if index.is_multiple_of(2) {
        "key"
    } else {
        "value"
    };
    match part {
        Some(part) => format!("{prefix}.{}.{part}.{kind}", index / 2),
        None => format!("{prefix}.{}.{kind}", index / 2),
    }
}

/// Detokenised with special tokens stripped and trimmed; empty is [`ModelError::EmptyOutput`].
pub(crate) fn caption_text(
    model: &str,
    tokenizer: &Tokenizer,
    ids: &[u32],
) -> Result<String, ModelError> {
    let text = tokenizer
        .decode(ids, true)
        .map_err(|e| tokenizer_error(model, e.to_string()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(ModelError::EmptyOutput {
            model: model.to_owned(),
        });
    }
    Ok(text.to_owned())
}

/// How a decoder's tokens are chosen.
pub(crate) struct TokenPolicy {
    /// Fed at step 0.
    pub start: u32,
    /// Emitted at step 0 whatever the logits say (Florence-2's forced BOS).
    pub forced_first: Option<u32>,
    pub end: u32,
    pub max_new_tokens: usize,
    pub sampling: SamplingSpec,
}

/// The token loop shared by the captioners: `step(next_tokens, step)` runs the decoder on one
/// token per row and returns each row's next-token logits. Rows stop at the end token (which is
/// not included) or after `max_new_tokens`; finished rows keep feeding the end token.
pub(crate) fn decode_loop(
    seeds: &[Seed],
    policy: &TokenPolicy,
    mut step: impl FnMut(&[i64], usize) -> Result<Vec<Vec<f32>>, ModelError>,
) -> Result<Vec<Vec<u32>>, ModelError> {
    let batch = seeds.len();
    let mut rngs: Vec<Option<ChaCha8Rng>> = seeds
        .iter()
        .map(|seed| seed.map(ChaCha8Rng::seed_from_u64))
        .collect();
    // Each row's decoder input so far (start token included), for the repeated n-gram rule.
    let mut sequences: Vec<Vec<u32>> = vec![vec![policy.start]; batch];
    let mut generated: Vec<Vec<u32>> = vec![Vec::new(); batch];
    let mut finished = vec![false; batch];
    let mut next: Vec<i64> = vec![i64::from(policy.start); batch];
    for index in 0..policy.max_new_tokens {
        let mut logits = step(&next, index)?;
        if logits.len() != batch {
            return Err(inference(
                "decoder",
                format!("{} rows of logits for {batch} rows", logits.len()),
            ));
        }
        for row in 0..batch {
            if finished[row] {
                next[row] = i64::from(policy.end);
                continue;
            }
            let token = match (index, policy.forced_first) {
                (0, Some(forced)) => forced,
                _ => {
                    ban_repeated_ngrams(
                        &mut logits[row],
                        &sequences[row],
                        policy.sampling.no_repeat_ngram,
                    );
                    match rngs[row].as_mut() {
                        None => greedy(&logits[row]),
                        Some(rng) => sample(
                            &logits[row],
                            policy.sampling.temperature,
                            policy.sampling.top_p,
                            rng,
                        ),
                    }
                }
            };
            sequences[row].push(token);
            if token == policy.end {
                finished[row] = true;
            } else {
                generated[row].push(token);
            }
            next[row] = i64::from(token);
        }
        if finished.iter().all(|&done| done) {
            break;
        }
    }
    Ok(generated)
}

/// Forbids every token that would repeat an `n`-gram already in `sequence` (Hugging Face's
/// `no_repeat_ngram_size`; 0 turns it off).
fn ban_repeated_ngrams(logits: &mut [f32], sequence: &[u32], n: usize) {
    if n == 0 || sequence.len() + 1 < n {
        return;
    }
    let prefix = &sequence[sequence.len() + 1 - n..];
    for window in sequence.windows(n) {
        if window[..n - 1] == *prefix
            && let Some(logit) = logits.get_mut(window[n - 1] as usize)
        {
            *logit = f32::NEG_INFINITY;
        }
    }
}

/// An empty past key/value `[batch, heads, 0, head_dim]` for step 0.
pub(crate) fn empty_cache(
    model: &str,
    batch: usize,
    heads: usize,
    head_dim: usize,
) -> Result<DynValue, ModelError> {
    Tensor::from_array(([batch, heads, 0, head_dim], Vec::<f32>::new()))
        .map(Tensor::into_dyn)
        .map_err(|e| inference(model, format!("building an empty past: {e}")))
}

/// The `use_cache_branch` flag: false at step 0 (no past yet), true afterwards.
pub(crate) fn use_cache_flag(model: &str, step: usize) -> Result<Tensor<bool>, ModelError> {
    Tensor::from_array(([1], vec![step > 0]))
        .map_err(|e| inference(model, format!("building use_cache_branch: {e}")))
}

/// Removes output `name`, keeping it (on whatever device) to feed back in.
pub(crate) fn take_output(
    model: &str,
    outputs: &mut BoundOutputs,
    name: &str,
) -> Result<DynValue, ModelError> {
    outputs
        .remove(name)
        .ok_or_else(|| inference(model, format!("the decoder gave no {name}")))
}

/// Each row's logits at the last position of `logits` `[batch, sequence, vocabulary]`.
pub(crate) fn last_logits(
    model: &str,
    outputs: &BoundOutputs,
    batch: usize,
) -> Result<Vec<Vec<f32>>, ModelError> {
    let value = outputs
        .get("logits")
        .ok_or_else(|| inference(model, "the decoder gave no logits"))?;
    let (shape, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| inference(model, format!("logits: {e}")))?;
    let (sequence, vocabulary) = match **shape {
        [b, s, v] if b == batch as i64 && s >= 1 && v > 0 => (s as usize, v as usize),
        ref other => {
            return Err(inference(
                model,
                format!("logits have shape {other:?}, expected [{batch}, 1, vocabulary]"),
            ));
        }
    };
    Ok((0..batch)
        .map(|row| {
            let start = (row * sequence + sequence - 1) * vocabulary;
            data[start..start + vocabulary].to_vec()
        })
        .collect())
}

/// The decoder's cache layout from its `past_key_values.N{key_suffix}` inputs
/// `[batch, heads, past, head]` (`.key`; Florence-2's self-attention caches: `.decoder.key`).
pub(crate) fn cache_layout(decoder: &Session, key_suffix: &str) -> Option<CacheLayout> {
    let mut layers = 0;
    let mut dims = None;
    for input in decoder.inputs() {
        let Some(layer) = input
            .name()
            .strip_prefix("past_key_values.")
            .and_then(|rest| rest.strip_suffix(key_suffix))
            .and_then(|layer| layer.parse::<usize>().ok())
        else {
            continue;
        };
        layers = layers.max(layer + 1);
        if let [_, heads, _, head_dim] = **input.dtype().tensor_shape()? {
            dims = Some((
                usize::try_from(heads).ok()?,
                usize::try_from(head_dim).ok()?,
            ));
        }
    }
    let (heads, head_dim) = dims?;
    (layers > 0 && heads > 0 && head_dim > 0).then_some(CacheLayout {
        layers,
        heads,
        head_dim,
    })
}

/// Index of the largest logit (the first on ties).
pub(crate) fn greedy(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (index, &value) in logits.iter().enumerate() {
        if value > logits[best] {
            best = index;
        }
    }
    best as u32
}

/// Nucleus sampling: softmax at `temperature`, keep the most likely tokens up to `top_p` of the
/// mass, draw one.
pub(crate) fn sample(logits: &[f32], temperature: f32, top_p: f32, rng: &mut ChaCha8Rng) -> u32 {
    let temperature = f64::from(temperature.max(1e-4));
    let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut weighted: Vec<(usize, f64)> = logits
        .iter()
        .enumerate()
        .map(|(index, &value)| (index, (f64::from(value - top) / temperature).exp()))
        .collect();
    weighted.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let total: f64 = weighted.iter().map(|(_, w)| w).sum();
    let mut kept = 0.0;
    let mut cut = weighted.len();
    for (position, (_, weight)) in weighted.iter().enumerate() {
        kept += weight;
        if kept >= f64::from(top_p) * total {
            cut = position + 1;
            break;
        }
    }
    weighted.truncate(cut.max(1));
    let mut draw = rng.random::<f64>() * kept.min(total);
    for &(index, weight) in &weighted {
        if draw < weight {
            return index as u32;
        }
        draw -= weight;
    }
    weighted.last().map_or(0, |&(index, _)| index as u32)
}

/// Resize straight to `size`² with `filter` in Pillow's pass order (no crop, as the ViT and
/// Florence-2 image processors), scale to [0, 1], normalise per channel; CHW f32.
pub fn resized_pixels(
    image: &RgbImage,
    size: u32,
    filter: FilterType,
    mean: [f32; 3],
    std: [f32; 3],
) -> Result<Vec<f32>, String> {
    ImagePreprocess::exact(size, filter, mean, std).pixels(image)
}

impl ImageToText for EncoderDecoderCaptioner {
    fn name(&self) -> &str {
        &self.name
    }

    fn caption(&mut self, images: &[&RgbImage], seeds: &[Seed]) -> Result<Vec<String>, ModelError> {
        self.generate_ids(images, seeds)?
            .iter()
            .map(|ids| self.caption_from_ids(ids))
            .collect()
    }
}
