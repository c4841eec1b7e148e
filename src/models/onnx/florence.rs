//! Florence-2 captioning (`<CAPTION>` task): image → `vision_encoder` → image features ++ the
//! embedded task prompt → `encoder_model` → `decoder_model_merged` one token per step, with the
//! decoder's self-attention cache fed back every step and the cross-attention cache computed at
//! step 0 and reused. Token choice is shared with the other captioners (`caption.rs`).

use std::borrow::Cow;
use std::path::Path;

use image::RgbImage;
use image::imageops::FilterType;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor, TensorElementType};
use tokenizers::Tokenizer;

use super::binding::{BoundSession, Placement};
use super::caption::{
    CacheLayout, CaptionTokenizer, States, TokenPolicy, cache_layout, cache_name, caption_text,
    decode_loop, empty_cache, last_logits, states, take_output, use_cache_flag,
};
use super::pixels::ImagePreprocess;
use super::session::{self, SessionOptions, inference, int_input, int_value};
use super::text::tokenizer_error;
use crate::models::catalog::Florence2Spec;
use crate::models::{ImageToText, ModelError, Seed, check_batch};
use crate::paths::AppPaths;

pub struct Florence2 {
    name: String,
    spec: Florence2Spec,
    vision: Session,
    embed: Session,
    encoder: Session,
    decoder: Session,
    /// Where the decoder's caches stay between tokens.
    decoder_placement: Placement,
    tokenizer: Tokenizer,
    prompt_ids: Vec<i64>,
    start_id: u32,
    forced_id: u32,
    end_id: u32,
    cache: CacheLayout,
    mask_type: TensorElementType,
    max_new_tokens: usize,
    preprocess: ImagePreprocess,
}

impl Florence2 {
    pub fn load(
        name: &str,
        dir: &Path,
        spec: Florence2Spec,
        paths: &AppPaths,
        options: SessionOptions,
    ) -> Result<Self, ModelError> {
        let tokens = CaptionTokenizer::load(name, dir, spec.tokenizer)?;
        let generation = tokens.generation;
        let start_id = tokens.id(name, generation.decoder_start_token_id, spec.start_token)?;
        let forced_id = tokens.id(
            name,
            generation.forced_bos_token_id,
            spec.forced_first_token,
        )?;
        let end_id = tokens.id(name, generation.eos_token_id, spec.end_token)?;
        let tokenizer = tokens.tokenizer;
        // Bicubic, as the Florence-2 processor.
        let fallback =
            ImagePreprocess::exact(spec.image_size, FilterType::CatmullRom, spec.mean, spec.std);
        let preprocess = ImagePreprocess::read(name, dir, fallback)?;
        let prompt_ids: Vec<i64> = tokenizer
            .encode(spec.prompt, true)
            .map_err(|e| tokenizer_error(name, e.to_string()))?
            .get_ids()
            .iter()
            .map(|&id| i64::from(id))
            .collect();
        let open = |file: &str| session::open(paths, &dir.join(file), options);
        let vision = open(spec.vision_encoder)?;
        let embed = open(spec.embed_tokens)?;
        let encoder = open(spec.encoder)?;
        let decoder = open(spec.decoder)?;
        let require = |session: &Session, file: &str, inputs: &[&str], output: &str| {
            for input in inputs {
                if session::input_type(session, input).is_none() {
                    return Err(inference(name, format!("{file} has no {input} input")));
                }
            }
            if !session::has_output(session, output) {
                return Err(inference(name, format!("{file} has no {output} output")));
            }
            Ok(())
        };
        require(
            &vision,
            spec.vision_encoder,
            &["pixel_values"],
            "image_features",
        )?;
        require(&embed, spec.embed_tokens, &["input_ids"], "inputs_embeds")?;
        require(
            &encoder,
            spec.encoder,
            &["inputs_embeds", "attention_mask"],
            "last_hidden_state",
        )?;
        require(
            &decoder,
            spec.decoder,
            &[
                "inputs_embeds",
                "encoder_hidden_states",
                "encoder_attention_mask",
                "use_cache_branch",
            ],
            "logits",
        )?;
        let mask_type =
            session::input_type(&encoder, "attention_mask").unwrap_or(TensorElementType::Int64);
        let cache = cache_layout(&decoder, ".decoder.key").ok_or_else(|| {
            inference(
                name,
                format!(
                    "{} has no past_key_values.N.decoder.key inputs of fixed heads and head size",
                    spec.decoder
                ),
            )
        })?;
        Ok(Self {
            name: name.to_owned(),
            spec,
            vision,
            embed,
            encoder,
            decoder_placement: Placement::of(&decoder),
            decoder,
            tokenizer,
            prompt_ids,
            start_id,
            forced_id,
            end_id,
            cache,
            mask_type,
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

    /// Tokens generated per caption at most (the forced first token included).
    pub fn max_new_tokens(&self) -> usize {
        self.max_new_tokens
    }

    /// The decoder start, forced first and end token ids.
    pub fn special_ids(&self) -> (u32, u32, u32) {
        (self.start_id, self.forced_id, self.end_id)
    }

    /// The token ids of the task prompt (BOS and EOS included).
    pub fn prompt_ids(&self) -> &[i64] {
        &self.prompt_ids
    }

    /// The generated token ids of each image (the forced first token included, the end token not).
    pub fn generate_ids(
        &mut self,
        images: &[&RgbImage],
        seeds: &[Seed],
    ) -> Result<Vec<Vec<u32>>, ModelError> {
        check_batch(&self.name, images.len(), seeds.len())?;
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let features = self.image_features(images)?;
        let prompt = self.embed_tokens(&vec![self.prompt_ids.clone(); images.len()])?;
        let states = self.encode(&features, &prompt)?;
        self.decode(&states, seeds)
    }

    /// Detokenised with special tokens stripped and trimmed; empty is [`ModelError::EmptyOutput`].
    pub fn caption_from_ids(&self, ids: &[u32]) -> Result<String, ModelError> {
        caption_text(&self.name, &self.tokenizer, ids)
    }

    fn image_features(&mut self, images: &[&RgbImage]) -> Result<States, ModelError> {
        let input = self.preprocess.batch(&self.name, images)?;
        let outputs = self
            .vision
            .run(vec![("pixel_values", input)])
            .map_err(|e| inference(&self.name, format!("vision encoder: {e}")))?;
        states(&self.name, &outputs, "image_features", images.len())
    }

    /// `inputs_embeds` of equally long rows of token ids.
    fn embed_tokens(&mut self, rows: &[Vec<i64>]) -> Result<States, ModelError> {
        let width = rows.first().map_or(0, Vec::len);
        let ids: Vec<i64> = rows.concat();
        let ty = session::input_type(&self.embed, "input_ids").unwrap_or(TensorElementType::Int64);
        let input = int_input(&self.name, "input_ids", ty, [rows.len(), width], ids)?;
        let outputs = self
            .embed
            .run(vec![input])
            .map_err(|e| inference(&self.name, format!("embed_tokens: {e}")))?;
        states(&self.name, &outputs, "inputs_embeds", rows.len())
    }

    /// Image features then prompt embeddings, through the text encoder.
    fn encode(&mut self, features: &States, prompt: &States) -> Result<States, ModelError> {
        let ([batch, image_len, hidden], [_, prompt_len, prompt_hidden]) = (features.1, prompt.1);
        if prompt_hidden != hidden {
            return Err(inference(
                &self.name,
                format!("image features are {hidden} wide but token embeddings {prompt_hidden}"),
            ));
        }
        let total = image_len + prompt_len;
        let mut merged = Vec::with_capacity(batch * total * hidden);
        for row in 0..batch {
            merged.extend_from_slice(
                &features.0[row * image_len * hidden..(row + 1) * image_len * hidden],
            );
            merged.extend_from_slice(
                &prompt.0[row * prompt_len * hidden..(row + 1) * prompt_len * hidden],
            );
        }
        let name = self.name.as_str();
        let embeds = Tensor::from_array(([batch, total, hidden], merged))
            .map_err(|e| inference(name, format!("building inputs_embeds: {e}")))?;
        let mask = int_input(
            name,
            "attention_mask",
            self.mask_type,
            [batch, total],
            vec![1; batch * total],
        )?;
        let inputs: Vec<(Cow<'static, str>, SessionInputValue<'static>)> =
            vec![("inputs_embeds".into(), embeds.into()), mask];
        let outputs = self
            .encoder
            .run(inputs)
            .map_err(|e| inference(name, format!("encoder: {e}")))?;
        states(name, &outputs, "last_hidden_state", batch)
    }

    fn decode(&mut self, encoded: &States, seeds: &[Seed]) -> Result<Vec<Vec<u32>>, ModelError> {
        let batch = seeds.len();
        let [_, encoded_len, _] = encoded.1;
        let name = self.name.clone();
        let CacheLayout {
            layers,
            heads,
            head_dim,
        } = self.cache;
        let cache = |prefix: &str, part: &str, index: usize| cache_name(prefix, Some(part), index);
        // Self-attention caches grow from empty; cross-attention caches are empty at step 0,
        // then the ones step 0 computed.
        let mut past: Vec<(String, DynValue)> = Vec::with_capacity(2 * layers);
        let mut cross: Vec<(String, DynValue)> = Vec::with_capacity(2 * layers);
        for i in 0..2 * layers {
            past.push((
                cache("past_key_values", "decoder", i),
                empty_cache(&name, batch, heads, head_dim)?,
            ));
            cross.push((
                cache("past_key_values", "encoder", i),
                empty_cache(&name, batch, heads, head_dim)?,
            ));
        }
        let policy = TokenPolicy {
            start: self.start_id,
            forced_first: Some(self.forced_id),
            end: self.end_id,
            max_new_tokens: self.max_new_tokens,
            sampling: self.spec.sampling,
        };
        let presents: Vec<String> = (0..2 * layers)
            .flat_map(|i| {
                [
                    cache("present", "decoder", i),
                    cache("present", "encoder", i),
                ]
            })
            .collect();
        let mut bound = BoundSession::new(
            &name,
            &self.decoder,
            &["logits"],
            presents,
            self.decoder_placement,
        )?;
        // Fed unchanged at every step: bound (and copied to the device) once.
        let states = Tensor::from_array((encoded.1, encoded.0.clone()))
            .map_err(|e| inference(&name, format!("building encoder_hidden_states: {e}")))?;
        bound.bind("encoder_hidden_states", &states)?;
        let mask = int_value(
            &name,
            "encoder_attention_mask",
            self.mask_type,
            [batch, encoded_len],
            vec![1; batch * encoded_len],
        )?;
        bound.bind("encoder_attention_mask", &mask)?;
        decode_loop(seeds, &policy, |next, step| {
            let rows: Vec<Vec<i64>> = next.iter().map(|&token| vec![token]).collect();
            let (embeds, shape) = self.embed_tokens(&rows)?;
            let embeds = Tensor::from_array((shape, embeds))
                .map_err(|e| inference(&name, format!("building inputs_embeds: {e}")))?;
            bound.bind("inputs_embeds", &embeds)?;
            bound.bind("use_cache_branch", &use_cache_flag(&name, step)?)?;
            bound.bind_all(&past)?;
            bound.bind_all(&cross)?;
            let mut outputs = bound.run(&mut self.decoder)?;
            let logits = last_logits(&name, &outputs, batch)?;
            let mut take = |prefix_part: &str, i: usize| {
                take_output(&name, &mut outputs, &cache("present", prefix_part, i))
                    .map(|value| (cache("past_key_values", prefix_part, i), value))
            };
            past = (0..2 * layers)
                .map(|i| take("decoder", i))
                .collect::<Result<_, _>>()?;
            if step == 0 {
                cross = (0..2 * layers)
                    .map(|i| take("encoder", i))
                    .collect::<Result<_, _>>()?;
            }
            Ok(logits)
        })
    }
}

impl ImageToText for Florence2 {
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
