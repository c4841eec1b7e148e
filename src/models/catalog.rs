//! The model catalog: every model the app knows, what it consumes and produces, and its files.

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
}

/// One catalog model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CatalogEntry {
    pub name: &'static str,
    pub kind: ModelKind,
    pub description: &'static str,
}

const TEXT: &[Modality] = &[Modality::Text];
const IMAGE: &[Modality] = &[Modality::Image];

static CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        name: "DummyT2I",
        kind: ModelKind::TextToImage,
        description: "test model: seed-deterministic cyan-tinted solid colour",
    },
    CatalogEntry {
        name: "DummyT2I2",
        kind: ModelKind::TextToImage,
        description: "test model: seed-deterministic magenta-tinted solid colour",
    },
    CatalogEntry {
        name: "DummyI2T",
        kind: ModelKind::ImageToText,
        description: "test model: \"dummy text caption (seed S)\"",
    },
    CatalogEntry {
        name: "DummyI2T2",
        kind: ModelKind::ImageToText,
        description: "test model: \"dummy text caption v2 (seed S)\"",
    },
    CatalogEntry {
        name: "DummyText",
        kind: ModelKind::Embedding {
            modalities: TEXT,
            dimension: 768,
            normalised: false,
        },
        description: "test embedder for text",
    },
    CatalogEntry {
        name: "DummyImage",
        kind: ModelKind::Embedding {
            modalities: IMAGE,
            dimension: 768,
            normalised: false,
        },
        description: "test embedder for images",
    },
    CatalogEntry {
        name: "MiniLM",
        kind: ModelKind::Embedding {
            modalities: TEXT,
            dimension: 384,
            normalised: true,
        },
        description: "sentence-transformers/all-MiniLM-L6-v2 (int8 ONNX), mean pooled, L2-normalised",
    },
];

/// Every catalog model, in display order.
pub fn catalog() -> &'static [CatalogEntry] {
    CATALOG
}

pub fn lookup(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|entry| entry.name == name)
}
