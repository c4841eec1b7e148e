//! Models: the traits the engine calls (text→image, image→text, embedding), the model catalog,
//! model files on disk, ONNX Runtime implementations, the dummy models used by tests and the
//! procedural Sketch models used by the demo.
//!
//! Every call is batched: N inputs and N seeds in, N outputs out, in the same order.

pub mod catalog;
pub mod dummy;
pub mod files;
pub mod onnx;
pub mod provider;
pub mod sketch;

use image::RgbImage;
use thiserror::Error;

pub use catalog::{CatalogEntry, ModelKind, catalog, lookup};
pub use provider::{CatalogProvider, ProviderOptions};

/// What a model consumes or produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Text,
    Image,
}

impl std::fmt::Display for Modality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Modality::Text => "text",
            Modality::Image => "image",
        })
    }
}

/// The output of one generative invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Text(String),
    Image(RgbImage),
}

impl Output {
    pub fn modality(&self) -> Modality {
        match self {
            Output::Text(_) => Modality::Text,
            Output::Image(_) => Modality::Image,
        }
    }
}

/// A borrowed input to a generative model or an embedder.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Text(&'a str),
    Image(&'a RgbImage),
}

impl<'a> Input<'a> {
    pub fn modality(&self) -> Modality {
        match self {
            Input::Text(_) => Modality::Text,
            Input::Image(_) => Modality::Image,
        }
    }

    /// The text, if this is one.
    pub fn text(&self) -> Option<&'a str> {
        match self {
            Input::Text(text) => Some(text),
            Input::Image(_) => None,
        }
    }

    /// The image, if this is one.
    pub fn image(&self) -> Option<&'a RgbImage> {
        match self {
            Input::Image(image) => Some(image),
            Input::Text(_) => None,
        }
    }
}

impl<'a> From<&'a Output> for Input<'a> {
    fn from(output: &'a Output) -> Self {
        match output {
            Output::Text(text) => Input::Text(text),
            Output::Image(image) => Input::Image(image),
        }
    }
}

/// A per-invocation seed. `None` is "unseeded" (the config's `-1`): a fresh random draw each call.
pub type Seed = Option<u64>;

/// [`ModelError::BatchMismatch`] unless there is one seed per input.
pub(crate) fn check_batch(model: &str, inputs: usize, seeds: usize) -> Result<(), ModelError> {
    if inputs == seeds {
        Ok(())
    } else {
        Err(ModelError::BatchMismatch {
            model: model.to_owned(),
            inputs,
            seeds,
        })
    }
}

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("unknown model '{name}'; available models: {available}")]
    UnknownModel { name: String, available: String },
    #[error("model '{model}' expects {expected} input but was given {given}")]
    WrongInput {
        model: String,
        expected: Modality,
        given: Modality,
    },
    #[error("model '{model}' was given {inputs} inputs but {seeds} seeds")]
    BatchMismatch {
        model: String,
        inputs: usize,
        seeds: usize,
    },
    #[error(
        "model file(s) missing for '{model}': {}\nfetch them with: panic-tda models fetch {model}",
        .missing.join(", ")
    )]
    MissingFiles { model: String, missing: Vec<String> },
    #[error(
        "model file(s) damaged for '{model}' (present, but not the size the catalog expects): {}{}\nreplace them with: panic-tda models fetch {model}",
        .damaged.join(", "),
        if .absent.is_empty() { String::new() } else { format!("; missing: {}", .absent.join(", ")) }
    )]
    DamagedFiles {
        model: String,
        damaged: Vec<String>,
        absent: Vec<String>,
    },
    #[error(transparent)]
    Runtime(#[from] onnx::RuntimeError),
    #[error("model '{model}' failed: {message}")]
    Inference { model: String, message: String },
    #[error("tokenizer for '{model}' failed: {message}")]
    Tokenizer { model: String, message: String },
    #[error(transparent)]
    Config(Box<ConfigError>),
    #[error("model '{model}' produced an empty caption")]
    EmptyOutput { model: String },
    #[error("model '{model}' is a {actual} model, not a {expected} model")]
    WrongKind {
        model: String,
        expected: &'static str,
        actual: &'static str,
    },
    #[error("could not get the files of '{model}': {source}")]
    Fetch {
        model: String,
        #[source]
        source: files::FetchError,
    },
}

/// A config file in a model's directory that is unreadable or declares something the pipeline
/// does not support.
#[derive(Debug, Error)]
#[error("model '{model}': {}: {field}: {message}", .file.display())]
pub struct ConfigError {
    pub model: String,
    pub file: std::path::PathBuf,
    pub field: String,
    pub message: String,
}

impl ModelError {
    pub fn config(
        model: &str,
        file: impl Into<std::path::PathBuf>,
        field: &str,
        message: impl Into<String>,
    ) -> Self {
        ModelError::Config(Box::new(ConfigError {
            model: model.to_owned(),
            file: file.into(),
            field: field.to_owned(),
            message: message.into(),
        }))
    }
}

/// A text→image model.
pub trait TextToImage: Send {
    fn name(&self) -> &str;
    /// One image per prompt, `size`×`size` pixels. `seeds[i]` seeds `prompts[i]`.
    fn generate(
        &mut self,
        prompts: &[&str],
        seeds: &[Seed],
        size: u32,
    ) -> Result<Vec<RgbImage>, ModelError>;
}

/// An image→text (captioning) model.
pub trait ImageToText: Send {
    fn name(&self) -> &str;
    /// One caption per image. `seeds[i]` seeds `images[i]`.
    fn caption(&mut self, images: &[&RgbImage], seeds: &[Seed]) -> Result<Vec<String>, ModelError>;
}

/// A loaded generative model of either direction; what a network step calls.
pub enum GenerativeModel {
    TextToImage(Box<dyn TextToImage>),
    ImageToText(Box<dyn ImageToText>),
}

impl GenerativeModel {
    pub fn name(&self) -> &str {
        match self {
            GenerativeModel::TextToImage(model) => model.name(),
            GenerativeModel::ImageToText(model) => model.name(),
        }
    }

    pub fn input_modality(&self) -> Modality {
        match self {
            GenerativeModel::TextToImage(_) => Modality::Text,
            GenerativeModel::ImageToText(_) => Modality::Image,
        }
    }

    pub fn output_modality(&self) -> Modality {
        match self {
            GenerativeModel::TextToImage(_) => Modality::Image,
            GenerativeModel::ImageToText(_) => Modality::Text,
        }
    }

    /// Runs one batch; every input must be of the model's input modality.
    pub fn invoke_batch(
        &mut self,
        inputs: &[Input<'_>],
        seeds: &[Seed],
        image_size: u32,
    ) -> Result<Vec<Output>, ModelError> {
        check_batch(self.name(), inputs.len(), seeds.len())?;
        let expected = self.input_modality();
        if let Some(bad) = inputs.iter().find(|input| input.modality() != expected) {
            return Err(ModelError::WrongInput {
                model: self.name().to_owned(),
                expected,
                given: bad.modality(),
            });
        }
        match self {
            GenerativeModel::TextToImage(model) => {
                let prompts: Vec<&str> = inputs.iter().filter_map(Input::text).collect();
                Ok(model
                    .generate(&prompts, seeds, image_size)?
                    .into_iter()
                    .map(Output::Image)
                    .collect())
            }
            GenerativeModel::ImageToText(model) => {
                let images: Vec<&RgbImage> = inputs.iter().filter_map(Input::image).collect();
                Ok(model
                    .caption(&images, seeds)?
                    .into_iter()
                    .map(Output::Text)
                    .collect())
            }
        }
    }
}

/// What an embedding model accepts and returns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EmbedderInfo {
    pub name: String,
    /// Modalities it can embed; a joint text/image model lists both.
    pub modalities: Vec<Modality>,
    pub dimension: usize,
    /// Whether returned vectors are L2-normalised.
    pub normalised: bool,
}

/// An embedding model.
pub trait Embedder: Send {
    fn info(&self) -> &EmbedderInfo;
    /// One vector of `info().dimension` floats per input, in input order.
    fn embed(&mut self, inputs: &[Input<'_>]) -> Result<Vec<Vec<f32>>, ModelError>;
}

/// Where the engine gets its models from. The real provider loads catalog models (ONNX files
/// from the model cache); tests inject counting or failing models through this trait.
pub trait ModelProvider: Send + Sync {
    /// The catalog description of `name` (used by config validation), `None` when unknown.
    fn describe(&self, name: &str) -> Option<ModelKind>;
    /// Every model name this provider knows, in catalog order.
    fn names(&self) -> Vec<String>;
    fn load_generative(&self, name: &str) -> Result<GenerativeModel, ModelError>;
    fn load_embedder(&self, name: &str) -> Result<Box<dyn Embedder>, ModelError>;
}
