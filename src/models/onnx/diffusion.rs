//! Stable Diffusion style text→image (SD-Turbo, SDXL-Turbo): CLIP BPE tokenisation → CLIP text
//! encoder(s) → seeded latents → Euler(-ancestral) UNet loop, no guidance → VAE decoder → RGB,
//! resized to the requested size. A batch of N prompts is one run of each text encoder, one UNet
//! run per step, and VAE runs of a few images each.
//!
//! Every random draw of an item (initial latents, ancestral noise) comes from that item's own
//! ChaCha8 stream, seeded by its seed (or a fresh random seed when unseeded), so an item's image
//! does not depend on the rest of its batch. Reference checks can supply the draws instead
//! ([`StableDiffusion::generate_with_noise`]).
//!
//! The directory's `scheduler/scheduler_config.json`, `vae_decoder/config.json` and tokenizer
//! configs override the catalog's scheduler, VAE scaling and pad token (`config.rs`).

use std::path::Path;

use image::RgbImage;
use image::imageops::{self, FilterType};
use ort::session::Session;
use ort::value::{DynValue, Tensor, TensorElementType};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tokenizers::{PaddingStrategy, Tokenizer};

use super::binding::{BoundSession, Placement};
use super::config::{ConfigFile, DeclaredToken, declared_added_tokens};
use super::scheduler::{SCHEDULER_CONFIG, Schedule, SchedulerConfig, euler_update};
use super::session::{self, Inputs, SessionOptions, inference, int_input};
use super::text::{self, open_tokenizer, set_padding_and_truncation, tokenizer_error};
use crate::models::catalog::{DiffusionSpec, DiffusionTextEncoder, TextStates};
use crate::models::{ModelError, Seed, TextToImage, check_batch};
use crate::paths::AppPaths;

const LATENT_CHANNELS: usize = 4;
/// Images per VAE decoder run.
const VAE_BATCH: usize = 4;

/// The text conditioning of a batch.
struct Conditioning {
    /// `[batch, max_length, hidden]`.
    states: Vec<f32>,
    hidden: usize,
    /// `[batch, pooled_width]` (SDXL's `text_embeds`; empty otherwise).
    pooled: Vec<f32>,
    pooled_width: usize,
}

/// How the graph wants `timestep`: exporters differ (onnx-signatures.md §1.2).
#[derive(Debug, Clone, Copy)]
struct TimestepInput {
    ty: TensorElementType,
    rank: usize,
}

struct TextEncoderStage {
    spec: DiffusionTextEncoder,
    session: Session,
    tokenizer: Tokenizer,
    ids_type: TensorElementType,
    /// Output holding the conditioning token states.
    states_output: String,
}

pub struct StableDiffusion {
    name: String,
    spec: DiffusionSpec,
    encoders: Vec<TextEncoderStage>,
    unet: Session,
    /// Where the UNet's outputs go (the host-side scheduler reads them).
    unet_placement: Placement,
    vae: Session,
    timestep: TimestepInput,
    /// The UNet takes SDXL's `text_embeds` and `time_ids`.
    micro_conditioning: bool,
    schedule: Schedule,
    vae_scaling: f32,
}

/// Standard normal draws to use instead of seeded ones, so a run can be compared with a
/// reference implementation given the same noise. Each array is `[batch, 4, side/8, side/8]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferenceNoise {
    /// The initial latents before scaling by the schedule's initial σ (diffusers' `latents`).
    pub initial: Vec<f32>,
    /// The ancestral scheduler's draw at each step (may be empty for plain Euler).
    pub per_step: Vec<Vec<f32>>,
}

/// Where a generation's random draws come from.
enum Noise<'a> {
    /// Each item's own ChaCha8 stream.
    Seeded(Vec<ChaCha8Rng>),
    Given(&'a ReferenceNoise),
}

impl StableDiffusion {
    pub fn load(
        name: &str,
        dir: &Path,
        spec: DiffusionSpec,
        paths: &AppPaths,
        options: SessionOptions,
    ) -> Result<Self, ModelError> {
        let scheduler = SchedulerConfig::read(name, &dir.join(SCHEDULER_CONFIG), spec.scheduler)?;
        let schedule =
            Schedule::new(&scheduler, spec.steps).map_err(|message| inference(name, message))?;
        let vae_scaling = vae_scaling(name, &dir.join(spec.vae_decoder), spec.vae_scaling)?;
        let mut encoders = Vec::with_capacity(spec.text_encoders.len());
        for encoder in spec.text_encoders {
            let tokenizer = clip_tokenizer(
                name,
                &dir.join(encoder.tokenizer),
                spec.max_length,
                encoder.pad_token,
            )?;
            let session = session::open(paths, &dir.join(encoder.model), options)?;
            let ids_type = session::input_type(&session, "input_ids").ok_or_else(|| {
                inference(name, format!("{} has no input_ids input", encoder.model))
            })?;
            let states_output = states_output(&session, encoder.states).ok_or_else(|| {
                inference(
                    name,
                    format!(
                        "{} has no {} output",
                        encoder.model,
                        match encoder.states {
                            TextStates::Last => "last_hidden_state",
                            TextStates::Penultimate => "hidden_states.N",
                        }
                    ),
                )
            })?;
            if let Some(pooled) = encoder.pooled
                && !session::has_output(&session, pooled)
            {
                return Err(inference(
                    name,
                    format!("{} has no {pooled} output", encoder.model),
                ));
            }
            encoders.push(TextEncoderStage {
                spec: *encoder,
                session,
                tokenizer,
                ids_type,
                states_output,
            });
        }
        let unet = session::open(paths, &dir.join(spec.unet), options)?;
        let timestep = unet
            .inputs()
            .iter()
            .find(|input| input.name() == "timestep")
            .and_then(|input| {
                Some(TimestepInput {
                    ty: input.dtype().tensor_type()?,
                    rank: input.dtype().tensor_shape()?.len(),
                })
            })
            .ok_or_else(|| inference(name, "the UNet has no timestep input"))?;
        if !matches!(
            timestep.ty,
            TensorElementType::Float32 | TensorElementType::Int64
        ) || timestep.rank > 1
        {
            return Err(inference(
                name,
                format!(
                    "the UNet's timestep is {:?} of rank {}; only float32 or int64 of rank 0 or 1 are supported (fp16 exports are not)",
                    timestep.ty, timestep.rank
                ),
            ));
        }
        let micro_conditioning = session::input_type(&unet, "text_embeds").is_some()
            && session::input_type(&unet, "time_ids").is_some();
        let pooled = spec.text_encoders.iter().any(|e| e.pooled.is_some());
        if micro_conditioning != pooled {
            return Err(inference(
                name,
                "the UNet's text_embeds/time_ids inputs do not match the catalog's text encoders",
            ));
        }
        let vae = session::open(paths, &dir.join(spec.vae_decoder), options)?;
        Ok(Self {
            name: name.to_owned(),
            spec,
            encoders,
            unet_placement: Placement::of(&unet),
            unet,
            vae,
            timestep,
            micro_conditioning,
            schedule,
            vae_scaling,
        })
    }

    /// The denoising steps (from `scheduler/scheduler_config.json` when the directory has it).
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// What latents are divided by before the VAE decoder (`vae_decoder/config.json`'s
    /// `scaling_factor` when present).
    pub fn vae_scaling(&self) -> f32 {
        self.vae_scaling
    }

    /// The UNet conditioning of `prompts`: `encoder_hidden_states` `[batch, max_length, hidden]`
    /// and, for SDXL, the pooled `text_embeds` `[batch, width]` (empty otherwise).
    pub fn encode_prompts(&mut self, prompts: &[&str]) -> Result<(Vec<f32>, Vec<f32>), ModelError> {
        let conditioning = self.encode_text(prompts)?;
        Ok((conditioning.states, conditioning.pooled))
    }

    /// For checks against a reference implementation: [`TextToImage::generate`] from the given
    /// standard normal draws instead of seeded ones.
    pub fn generate_with_noise(
        &mut self,
        prompts: &[&str],
        noise: &ReferenceNoise,
        size: u32,
    ) -> Result<Vec<RgbImage>, ModelError> {
        if size == 0 {
            return Err(inference(&self.name, "the image size must be at least 1"));
        }
        if prompts.is_empty() {
            return Ok(Vec::new());
        }
        let per_batch = prompts.len() * self.latent_len();
        let steps = self.schedule.steps.len();
        let ancestral = self.schedule.steps.iter().any(|step| step.sigma_up > 0.0);
        if noise.initial.len() != per_batch
            || (ancestral && noise.per_step.len() != steps)
            || noise.per_step.iter().any(|step| step.len() != per_batch)
        {
            return Err(inference(
                &self.name,
                format!(
                    "reference noise must be {per_batch} initial values and, for an ancestral schedule, {steps} steps of as many"
                ),
            ));
        }
        self.generate_batch(prompts, Noise::Given(noise), size)
    }

    /// Latent values per item.
    fn latent_len(&self) -> usize {
        let side = (self.spec.native_size / 8) as usize;
        LATENT_CHANNELS * side * side
    }

    /// Token ids of each prompt for encoder `index`, `[batch, max_length]` row-major.
    pub fn token_ids(&self, index: usize, prompts: &[&str]) -> Result<Vec<i64>, ModelError> {
        let encoder = self
            .encoders
            .get(index)
            .ok_or_else(|| inference(&self.name, format!("no text encoder {index}")))?;
        let encodings = encoder
            .tokenizer
            .encode_batch(prompts.to_vec(), true)
            .map_err(|e| tokenizer_error(&self.name, e.to_string()))?;
        let mut ids = Vec::with_capacity(prompts.len() * self.spec.max_length);
        for encoding in &encodings {
            if encoding.len() != self.spec.max_length {
                return Err(inference(
                    &self.name,
                    format!(
                        "the tokenizer gave {} tokens, not {}",
                        encoding.len(),
                        self.spec.max_length
                    ),
                ));
            }
            ids.extend(encoding.get_ids().iter().map(|&id| i64::from(id)));
        }
        Ok(ids)
    }

    /// `encoder_hidden_states` `[B, S, ΣD]` and, for SDXL, the pooled `text_embeds` `[B, P]`.
    fn encode_text(&mut self, prompts: &[&str]) -> Result<Conditioning, ModelError> {
        let batch = prompts.len();
        let sequence = self.spec.max_length;
        let mut parts: Vec<(Vec<f32>, usize)> = Vec::new();
        let mut pooled = (Vec::new(), 0);
        for index in 0..self.encoders.len() {
            let ids = self.token_ids(index, prompts)?;
            let name = self.name.as_str();
            let encoder = &mut self.encoders[index];
            let inputs: Inputs = vec![int_input(
                name,
                "input_ids",
                encoder.ids_type,
                [batch, sequence],
                ids,
            )?];
            let outputs = encoder
                .session
                .run(inputs)
                .map_err(|e| inference(name, format!("{}: {e}", encoder.spec.model)))?;
            let (shape, data) = extract(
                name,
                outputs.get(encoder.states_output.as_str()),
                &encoder.states_output,
            )?;
            let width = match shape.as_slice() {
                [b, s, d] if *b == batch as i64 && *s == sequence as i64 && *d > 0 => *d as usize,
                other => {
                    return Err(inference(
                        name,
                        format!(
                            "{} has shape {other:?}, expected [{batch}, {sequence}, hidden]",
                            encoder.states_output
                        ),
                    ));
                }
            };
            parts.push((data, width));
            if let Some(output) = encoder.spec.pooled {
                let (shape, data) = extract(name, outputs.get(output), output)?;
                let width = match shape.as_slice() {
                    [b, d] if *b == batch as i64 && *d > 0 => *d as usize,
                    other => {
                        return Err(inference(
                            name,
                            format!("{output} has shape {other:?}, expected [{batch}, width]"),
                        ));
                    }
                };
                pooled = (data, width);
            }
        }
        // Concatenate the encoders' states along the hidden axis (SDXL: 768 + 1280 = 2048).
        let total: usize = parts.iter().map(|(_, width)| width).sum();
        let mut states = Vec::with_capacity(batch * sequence * total);
        for token in 0..batch * sequence {
            for (data, width) in &parts {
                states.extend_from_slice(&data[token * width..(token + 1) * width]);
            }
        }
        Ok(Conditioning {
            states,
            hidden: total,
            pooled: pooled.0,
            pooled_width: pooled.1,
        })
    }

    fn timestep_input(&self, t: f64) -> Result<DynValue, ModelError> {
        let fail = |e: ort::Error| inference(&self.name, format!("building timestep: {e}"));
        let shape: Vec<usize> = if self.timestep.rank == 0 {
            vec![]
        } else {
            vec![1]
        };
        Ok(match self.timestep.ty {
            TensorElementType::Int64 => Tensor::from_array((shape, vec![t.round() as i64]))
                .map_err(fail)?
                .into_dyn(),
            _ => Tensor::from_array((shape, vec![t as f32]))
                .map_err(fail)?
                .into_dyn(),
        })
    }

    fn generate_batch(
        &mut self,
        prompts: &[&str],
        mut noise: Noise<'_>,
        size: u32,
    ) -> Result<Vec<RgbImage>, ModelError> {
        let batch = prompts.len();
        let Conditioning {
            states,
            hidden,
            pooled,
            pooled_width,
        } = self.encode_text(prompts)?;
        let latent_side = (self.spec.native_size / 8) as usize;
        let per_item = self.latent_len();
        let init = self.schedule.init_noise_sigma as f32;
        let mut latents: Vec<f32> = match &mut noise {
            Noise::Seeded(rngs) => rngs
                .iter_mut()
                .flat_map(|rng| gaussian(rng, per_item))
                .collect(),
            Noise::Given(given) => given.initial.clone(),
        };
        latents.iter_mut().for_each(|v| *v *= init);
        let latent_shape = [batch, LATENT_CHANNELS, latent_side, latent_side];
        let side = f64::from(self.spec.native_size);
        let time_ids: Vec<f32> = (0..batch)
            .flat_map(|_| [side, side, 0.0, 0.0, side, side].map(|v| v as f32))
            .collect();
        let name = self.name.clone();
        let fail = |what: &str, e: ort::Error| inference(&name, format!("building {what}: {e}"));
        let states = Tensor::from_array(([batch, self.spec.max_length, hidden], states))
            .map_err(|e| fail("encoder_hidden_states", e))?;
        let micro = if self.micro_conditioning {
            Some((
                Tensor::from_array(([batch, pooled_width], pooled))
                    .map_err(|e| fail("text_embeds", e))?,
                Tensor::from_array(([batch, 6], time_ids)).map_err(|e| fail("time_ids", e))?,
            ))
        } else {
            None
        };
        // The conditioning is the same at every step: bound (copied to the device) once.
        let mut bound = BoundSession::new(
            &name,
            &self.unet,
            &["out_sample"],
            Vec::new(),
            self.unet_placement,
        )?;
        bound.bind("encoder_hidden_states", &states)?;
        if let Some((text_embeds, time_ids)) = &micro {
            bound.bind("text_embeds", text_embeds)?;
            bound.bind("time_ids", time_ids)?;
        }
        let steps = self.schedule.steps.clone();
        for (index, step) in steps.iter().enumerate() {
            let scale = step.input_scale() as f32;
            let scaled: Vec<f32> = latents.iter().map(|v| v * scale).collect();
            let sample =
                Tensor::from_array((latent_shape, scaled)).map_err(|e| fail("sample", e))?;
            bound.bind("sample", &sample)?;
            bound.bind("timestep", &self.timestep_input(step.timestep)?)?;
            let outputs = bound.run(&mut self.unet)?;
            let (shape, eps) = extract(&name, outputs.get("out_sample"), "out_sample")?;
            if shape != latent_shape.map(|d| d as i64) {
                return Err(inference(
                    &name,
                    format!("out_sample has shape {shape:?}, expected {latent_shape:?}"),
                ));
            }
            let fresh: Vec<f32> = match &mut noise {
                _ if step.sigma_up <= 0.0 => Vec::new(),
                Noise::Seeded(rngs) => rngs
                    .iter_mut()
                    .flat_map(|rng| gaussian(rng, per_item))
                    .collect(),
                Noise::Given(given) => given.per_step.get(index).cloned().unwrap_or_default(),
            };
            euler_update(&mut latents, &eps, &fresh, step);
        }
        let inverse = 1.0 / self.vae_scaling;
        let mut images = Vec::with_capacity(batch);
        // The VAE decoder's activations at full resolution dominate memory (around a GB per
        // 512² image in fp32), so it decodes a few images at a time.
        for chunk in latents.chunks(VAE_BATCH * per_item) {
            let rows = chunk.len() / per_item;
            let scaled: Vec<f32> = chunk.iter().map(|v| v * inverse).collect();
            let input =
                Tensor::from_array(([rows, LATENT_CHANNELS, latent_side, latent_side], scaled))
                    .map_err(|e| fail("latent_sample", e))?;
            let outputs = self
                .vae
                .run(vec![("latent_sample", input)])
                .map_err(|e| inference(&name, format!("VAE decoder: {e}")))?;
            let (shape, pixels) = extract(&name, outputs.get("sample"), "sample")?;
            let (height, width) = match shape.as_slice() {
                [b, 3, h, w] if *b == rows as i64 && *h > 0 && *w > 0 => (*h as usize, *w as usize),
                other => {
                    return Err(inference(
                        &name,
                        format!("the VAE's sample has shape {other:?}, expected [{rows}, 3, H, W]"),
                    ));
                }
            };
            let plane = height * width;
            images.extend(pixels.chunks_exact(3 * plane).map(|item| {
                let image = RgbImage::from_fn(width as u32, height as u32, |x, y| {
                    let index = y as usize * width + x as usize;
                    image::Rgb(std::array::from_fn(|c| to_byte(item[c * plane + index])))
                });
                if image.dimensions() == (size, size) {
                    image
                } else {
                    imageops::resize(&image, size, size, FilterType::Lanczos3)
                }
            }));
        }
        Ok(images)
    }
}

/// The VAE's `scaling_factor` from the `config.json` beside its graph, `fallback` without one.
/// Latent statistics or a shift (SD3/Flux-style VAEs) are not implemented, so they are errors.
fn vae_scaling(model: &str, graph: &Path, fallback: f32) -> Result<f32, ModelError> {
    let Some(config) = ConfigFile::open(model, &graph.with_file_name("config.json"))? else {
        return Ok(fallback);
    };
    config.require_default("shift_factor", &[serde_json::json!(0.0)])?;
    config.require_default("latents_mean", &[])?;
    config.require_default("latents_std", &[])?;
    match config.f64("scaling_factor")? {
        None => Ok(fallback),
        Some(factor) if factor.is_finite() && factor > 0.0 => Ok(factor as f32),
        Some(factor) => Err(config.error("scaling_factor", format!("{factor} is not positive"))),
    }
}

/// A VAE output value in [-1, 1] to a byte, as diffusers: clamp(x/2 + 0.5, 0, 1)·255, rounded.
fn to_byte(value: f32) -> u8 {
    ((value / 2.0 + 0.5).clamp(0.0, 1.0) * 255.0).round() as u8
}

fn gaussian(rng: &mut ChaCha8Rng, count: usize) -> Vec<f32> {
    (0..count).map(|_| rng.sample(StandardNormal)).collect()
}

/// The output giving the conditioning states: `last_hidden_state`, or the second-highest
/// `hidden_states.N`.
fn states_output(session: &Session, states: TextStates) -> Option<String> {
    match states {
        TextStates::Last => session::has_output(session, "last_hidden_state")
            .then(|| "last_hidden_state".to_owned()),
        TextStates::Penultimate => {
            let last = session
                .outputs()
                .iter()
                .filter_map(|output| {
                    output
                        .name()
                        .strip_prefix("hidden_states.")?
                        .parse::<usize>()
                        .ok()
                })
                .max()?;
            let index = last.checked_sub(1)?;
            Some(format!("hidden_states.{index}"))
        }
    }
}

/// An f32 output as (shape, data).
/// Output `name` (`value`, `None` when the run gave none) as shape and f32 data.
fn extract(
    model: &str,
    value: Option<&DynValue>,
    name: &str,
) -> Result<(Vec<i64>, Vec<f32>), ModelError> {
    let value = value.ok_or_else(|| inference(model, format!("no output {name}")))?;
    let (shape, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| inference(model, format!("{name}: {e}")))?;
    Ok((shape.to_vec(), data.to_vec()))
}

/// The merges of a `merges.txt`, each as "left right", read as Python's CLIP tokenizer reads them:
/// split on any whitespace, the `#version` header and blank lines left out. Lines that are not
/// exactly two symbols (which Python keeps as tuples no pair ever equals) are skipped and
/// counted.
fn merge_pairs(text: &str) -> (Vec<String>, usize) {
    let mut skipped = 0;
    let merges = text
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with("#version"))
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(left), Some(right), None) => Some(format!("{left} {right}")),
                _ => {
                    skipped += 1;
                    None
                }
            }
        })
        .collect();
    (merges, skipped)
}

/// The CLIP BPE tokenizer of a diffusion pipeline: `dir/tokenizer.json` when present, else built
/// from the diffusers layout's `vocab.json` + `merges.txt` with CLIP's normalisation and
/// pre-tokenisation (lower-case, whitespace collapsed, `</w>` word ends, BOS/EOS added) and the
/// added tokens `tokenizer_config.json` declares. Padded with the pad token the directory declares
/// (`pad_token` when it declares none) and truncated to exactly `max_length` tokens.
pub fn clip_tokenizer(
    model: &str,
    dir: &Path,
    max_length: usize,
    pad_token: &str,
) -> Result<Tokenizer, ModelError> {
    let error = |message: String| tokenizer_error(model, message);
    let json = dir.join("tokenizer.json");
    let mut tokenizer = if json.is_file() {
        open_tokenizer(model, &json)?
    } else {
        let vocab_path = dir.join("vocab.json");
        let merges_path = dir.join("merges.txt");
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| error(format!("reading {}: {e}", path.display())))
        };
        let vocab: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&read(&vocab_path)?)
                .map_err(|e| error(format!("parsing {}: {e}", vocab_path.display())))?;
        let merges_text = read(&merges_path)?;
        let (merges, skipped) = merge_pairs(&merges_text);
        if skipped > 0 {
            tracing::warn!(
                "{}: {skipped} lines are not a pair of symbols and are skipped (Python's CLIP tokenizer never applies them either)",
                merges_path.display()
            );
        }
        let merges: Vec<&str> = merges.iter().map(String::as_str).collect();
        let added = declared_added_tokens(model, dir)?;
        let definition = clip_tokenizer_json(vocab, &merges, &added)
            .map_err(|message| error(format!("{}: {message}", vocab_path.display())))?;
        definition.parse::<Tokenizer>().map_err(|e| {
            error(format!(
                "building the CLIP tokenizer from {}: {e}",
                dir.display()
            ))
        })?
    };
    let pad_token = text::pad_token(model, dir, &tokenizer, pad_token)?;
    set_padding_and_truncation(
        &mut tokenizer,
        PaddingStrategy::Fixed(max_length),
        &pad_token,
        max_length,
    )
    .map_err(|message| error(format!("the tokenizer in {}: {message}", dir.display())))?;
    Ok(tokenizer)
}

const BOS: &str = "<|startoftext|>";
const EOS: &str = "<|endoftext|>";

/// The `tokenizer.json` of a CLIP BPE tokenizer with the given vocabulary and merges, configured as
/// the Hugging Face CLIP fast tokenizer is.
fn clip_tokenizer_json(
    vocab: serde_json::Map<String, serde_json::Value>,
    merges: &[&str],
    declared: &[DeclaredToken],
) -> Result<String, String> {
    use serde_json::json;
    let id = |token: &str| {
        vocab
            .get(token)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format!("the vocabulary has no {token}"))
    };
    let (bos, eos) = (id(BOS)?, id(EOS)?);
    let mut added_tokens = Vec::new();
    for token in declared {
        if let Some(in_vocab) = vocab
            .get(&token.content)
            .and_then(serde_json::Value::as_u64)
            && in_vocab != u64::from(token.id)
        {
            return Err(format!(
                "tokenizer_config.json gives {} id {}, the vocabulary {in_vocab}",
                token.content, token.id
            ));
        }
        added_tokens.push(json!({"id": token.id, "content": token.content,
            "single_word": token.single_word, "lstrip": token.lstrip, "rstrip": token.rstrip,
            "normalized": token.normalized, "special": token.special}));
    }
    for (token, id) in [(BOS, bos), (EOS, eos)] {
        if !declared.iter().any(|d| d.content == token) {
            added_tokens.push(json!({"id": id, "content": token, "single_word": false,
                "lstrip": false, "rstrip": false, "normalized": false, "special": true}));
        }
    }
    let split = r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";
    let definition = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFC"},
            {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
            {"type": "Lowercase"}
        ]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": split}, "behavior": "Removed", "invert": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
        ]},
        "post_processor": {"type": "RobertaProcessing", "sep": [EOS, eos], "cls": [BOS, bos],
                           "trim_offsets": false, "add_prefix_space": false},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
                    "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": EOS,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "</w>",
                  "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": merges}
    });
    Ok(definition.to_string())
}

impl TextToImage for StableDiffusion {
    fn name(&self) -> &str {
        &self.name
    }

    fn generate(
        &mut self,
        prompts: &[&str],
        seeds: &[Seed],
        size: u32,
    ) -> Result<Vec<RgbImage>, ModelError> {
        check_batch(&self.name, prompts.len(), seeds.len())?;
        if size == 0 {
            return Err(inference(&self.name, "the image size must be at least 1"));
        }
        if prompts.is_empty() {
            return Ok(Vec::new());
        }
        let rngs = seeds
            .iter()
            .map(|seed| ChaCha8Rng::seed_from_u64(seed.unwrap_or_else(|| rand::rng().random())))
            .collect();
        self.generate_batch(prompts, Noise::Seeded(rngs), size)
    }
}

#[cfg(test)]
mod tests {
    use super::merge_pairs;

    #[test]
    fn merges_lines_are_read_as_python_reads_them() {
        let text = "#version: 0.2\nt h\n\nth  e</w>\r\na\tb\nlonely\nx y z\n";
        let (merges, skipped) = merge_pairs(text);
        assert_eq!(merges, ["t h", "th e</w>", "a b"]);
        assert_eq!(skipped, 2, "a single symbol and a triple are skipped");
    }
}
