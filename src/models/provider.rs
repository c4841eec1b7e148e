//! The real [`ModelProvider`]: every catalog model, dummies built in, ONNX models loaded from
//! their files (downloaded on first use unless offline).

use std::collections::HashMap;
use std::path::PathBuf;

use super::catalog::{self, CatalogEntry, FileSource, ModelKind, Runtime};
use super::dummy::{DummyEmbedder, DummyImageToText, DummyTextToImage};
use super::files::{self, FetchEvent, FetchOptions, ModelLocation};
use super::onnx::{
    ClipEmbedder, DevicePreference, EncoderDecoderCaptioner, Florence2, SessionOptions,
    StableDiffusion, TextEncoder,
};
use super::sketch::{self, SketchImageToText, SketchTextToImage};
use super::{Embedder, GenerativeModel, ModelError, ModelProvider};
use crate::paths::AppPaths;

/// How the provider runs models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProviderOptions {
    pub device: DevicePreference,
    /// Never download; missing files are [`ModelError::MissingFiles`].
    pub offline: bool,
    /// Intra-op threads per ONNX session; 0 = one per core.
    pub threads: usize,
}

pub struct CatalogProvider {
    paths: AppPaths,
    options: ProviderOptions,
    fetch: FetchOptions,
    directories: HashMap<String, PathBuf>,
}

impl CatalogProvider {
    pub fn new(paths: AppPaths, options: ProviderOptions) -> Self {
        Self {
            paths,
            options,
            fetch: FetchOptions {
                offline: options.offline,
                ..FetchOptions::default()
            },
            directories: HashMap::new(),
        }
    }

    /// Reads model `name` from `dir` (same layout as the cache) instead of the cache.
    pub fn with_model_dir(mut self, name: &str, dir: impl Into<PathBuf>) -> Self {
        self.directories.insert(name.to_owned(), dir.into());
        self
    }

    /// Where downloads come from (tests use a local server).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.fetch.endpoint = endpoint.into();
        self
    }

    pub fn paths(&self) -> &AppPaths {
        &self.paths
    }

    pub fn location(&self, entry: &CatalogEntry) -> ModelLocation {
        files::locate(
            &self.paths,
            entry,
            self.directories.get(entry.name).map(PathBuf::as_path),
        )
    }

    fn entry(&self, name: &str) -> Result<&'static CatalogEntry, ModelError> {
        catalog::lookup(name).ok_or_else(|| ModelError::UnknownModel {
            name: name.to_owned(),
            available: catalog::names_list(),
        })
    }

    /// The model's directory with every file present, downloading missing ones when allowed.
    fn ensure_files(&self, entry: &CatalogEntry) -> Result<PathBuf, ModelError> {
        let location = self.location(entry);
        let status = files::status(entry, &location);
        let downloadable = matches!(entry.files.source, FileSource::HuggingFace { .. });
        if !status.is_complete() && (self.options.offline || !downloadable) {
            status.require()?;
        }
        if !status.is_complete() {
            tracing::info!(
                "downloading files for {} into {:?}",
                entry.name,
                location.dir()
            );
            let mut last_percent = 0;
            files::fetch(entry, &location, &self.fetch, &mut |event| {
                if let FetchEvent::Progress {
                    file,
                    bytes,
                    total: Some(total),
                } = event
                {
                    let percent = bytes.saturating_mul(100) / total.max(1);
                    if percent >= last_percent + 10 {
                        last_percent = percent;
                        tracing::info!("{}: {file} {percent}%", entry.name);
                    }
                }
            })
            .map_err(|source| ModelError::Fetch {
                model: entry.name.to_owned(),
                source,
            })?
            .require()?;
        }
        location
            .dir()
            .map(PathBuf::from)
            .ok_or_else(|| ModelError::Inference {
                model: entry.name.to_owned(),
                message: "a built-in model has no files".into(),
            })
    }

    fn session_options(&self) -> SessionOptions {
        SessionOptions {
            device: self.options.device,
            threads: self.options.threads,
        }
    }
}

impl ModelProvider for CatalogProvider {
    fn describe(&self, name: &str) -> Option<ModelKind> {
        catalog::lookup(name).map(|entry| entry.kind)
    }

    fn names(&self) -> Vec<String> {
        catalog::catalog()
            .iter()
            .map(|entry| entry.name.to_owned())
            .collect()
    }

    fn load_generative(&self, name: &str) -> Result<GenerativeModel, ModelError> {
        let entry = self.entry(name)?;
        let wrong_kind = || ModelError::WrongKind {
            model: name.to_owned(),
            expected: "generative",
            actual: entry.kind.label(),
        };
        match (entry.runtime, entry.name) {
            (Runtime::Dummy, "DummyT2I") => Ok(GenerativeModel::TextToImage(Box::new(
                DummyTextToImage::cyan(),
            ))),
            (Runtime::Dummy, "DummyT2I2") => Ok(GenerativeModel::TextToImage(Box::new(
                DummyTextToImage::magenta(),
            ))),
            (Runtime::Dummy, "DummyI2T") => Ok(GenerativeModel::ImageToText(Box::new(
                DummyImageToText::v1(),
            ))),
            (Runtime::Dummy, "DummyI2T2") => Ok(GenerativeModel::ImageToText(Box::new(
                DummyImageToText::v2(),
            ))),
            (Runtime::Sketch, "SketchT2I") => Ok(GenerativeModel::TextToImage(Box::new(
                SketchTextToImage::new(sketch::SKETCH_T2I),
            ))),
            (Runtime::Sketch, "SketchT2I2") => Ok(GenerativeModel::TextToImage(Box::new(
                SketchTextToImage::new(sketch::SKETCH_T2I2),
            ))),
            (Runtime::Sketch, "SketchI2T") => Ok(GenerativeModel::ImageToText(Box::new(
                SketchImageToText::new(sketch::SKETCH_I2T),
            ))),
            (Runtime::Sketch, "SketchI2T2") => Ok(GenerativeModel::ImageToText(Box::new(
                SketchImageToText::new(sketch::SKETCH_I2T2),
            ))),
            (Runtime::Diffusion(spec), _) => {
                let (dir, options) = (self.ensure_files(entry)?, self.session_options());
                let model = StableDiffusion::load(entry.name, &dir, spec, &self.paths, options)?;
                Ok(GenerativeModel::TextToImage(Box::new(model)))
            }
            (Runtime::EncoderDecoder(spec), _) => {
                let (dir, options) = (self.ensure_files(entry)?, self.session_options());
                let model =
                    EncoderDecoderCaptioner::load(entry.name, &dir, spec, &self.paths, options)?;
                Ok(GenerativeModel::ImageToText(Box::new(model)))
            }
            (Runtime::Florence2(spec), _) => {
                let (dir, options) = (self.ensure_files(entry)?, self.session_options());
                let model = Florence2::load(entry.name, &dir, spec, &self.paths, options)?;
                Ok(GenerativeModel::ImageToText(Box::new(model)))
            }
            _ => Err(wrong_kind()),
        }
    }

    fn load_embedder(&self, name: &str) -> Result<Box<dyn Embedder>, ModelError> {
        let entry = self.entry(name)?;
        let ModelKind::Embedding { dimension, .. } = entry.kind else {
            return Err(ModelError::WrongKind {
                model: name.to_owned(),
                expected: "embedding",
                actual: entry.kind.label(),
            });
        };
        let embedder: Box<dyn Embedder> = match (entry.runtime, entry.name) {
            (Runtime::Dummy, "DummyText") => Box::new(DummyEmbedder::text()),
            (Runtime::Dummy, "DummyImage") => Box::new(DummyEmbedder::image()),
            (Runtime::TextEncoder(spec), _) => {
                let (dir, options) = (self.ensure_files(entry)?, self.session_options());
                let model = TextEncoder::load(entry.name, &dir, spec, &self.paths, options)?;
                Box::new(model)
            }
            (Runtime::Clip(spec), _) => {
                let dir = self.ensure_files_clip(entry, spec.combined_model)?;
                let options = self.session_options();
                Box::new(ClipEmbedder::load(
                    entry.name,
                    &dir,
                    spec,
                    &self.paths,
                    options,
                )?)
            }
            (
                Runtime::Dummy
                | Runtime::Sketch
                | Runtime::Diffusion(_)
                | Runtime::EncoderDecoder(_)
                | Runtime::Florence2(_),
                _,
            ) => {
                return Err(ModelError::WrongKind {
                    model: name.to_owned(),
                    expected: "embedding",
                    actual: entry.kind.label(),
                });
            }
        };
        let got = embedder.info().dimension;
        if got != dimension {
            return Err(ModelError::Inference {
                model: name.to_owned(),
                message: format!(
                    "the graph gives {got}-d vectors but the catalog says {dimension}-d"
                ),
            });
        }
        Ok(embedder)
    }
}

impl CatalogProvider {
    /// A user directory holding only the combined CLIP graph (plus tokenizer) is complete too.
    fn ensure_files_clip(
        &self,
        entry: &CatalogEntry,
        combined: &str,
    ) -> Result<PathBuf, ModelError> {
        if let ModelLocation::Directory(dir) = self.location(entry) {
            let tokenizer = match entry.runtime {
                Runtime::Clip(spec) => spec.tokenizer,
                _ => "tokenizer.json",
            };
            if dir.join(combined).is_file() && dir.join(tokenizer).is_file() {
                return Ok(dir);
            }
        }
        self.ensure_files(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Input, Modality, Output};

    fn provider() -> (tempfile::TempDir, CatalogProvider) {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = AppPaths::rooted_at(dir.path());
        let provider = CatalogProvider::new(
            paths,
            ProviderOptions {
                offline: true,
                ..ProviderOptions::default()
            },
        );
        (dir, provider)
    }

    #[test]
    fn every_dummy_loads_without_onnx_runtime() {
        let (_dir, provider) = provider();
        for name in ["DummyT2I", "DummyT2I2"] {
            let mut model = provider.load_generative(name).expect(name);
            assert_eq!(model.input_modality(), Modality::Text);
            let out = model
                .invoke_batch(&[Input::Text("a"), Input::Text("b")], &[Some(1), None], 16)
                .expect("invoke");
            assert!(matches!(&out[0], Output::Image(image) if image.dimensions() == (16, 16)));
        }
        for name in ["SketchT2I", "SketchT2I2"] {
            let mut model = provider.load_generative(name).expect(name);
            let out = model
                .invoke_batch(&[Input::Text("a red ball")], &[Some(1)], 64)
                .expect("invoke");
            assert!(matches!(&out[0], Output::Image(image) if image.dimensions() == (64, 64)));
        }
        for name in ["SketchI2T", "SketchI2T2", "DummyI2T", "DummyI2T2"] {
            let model = provider.load_generative(name).expect(name);
            assert_eq!(model.output_modality(), Modality::Text);
        }
        for name in ["DummyText", "DummyImage"] {
            let embedder = provider.load_embedder(name).expect(name);
            assert_eq!(embedder.info().dimension, 768);
        }
        assert_eq!(provider.names().len(), catalog::catalog().len());
        assert_eq!(provider.describe("DummyT2I"), Some(ModelKind::TextToImage));
        assert_eq!(provider.describe("Nope"), None);
    }

    #[test]
    fn wrong_kinds_and_unknown_names_are_errors() {
        let (_dir, provider) = provider();
        assert!(matches!(
            provider.load_embedder("DummyT2I"),
            Err(ModelError::WrongKind { .. })
        ));
        assert!(matches!(
            provider.load_generative("MiniLM"),
            Err(ModelError::WrongKind { .. })
        ));
        let err = provider.load_embedder("Nope").err().expect("unknown");
        assert!(err.to_string().contains("MiniLM"), "{err}");
    }

    #[test]
    fn missing_files_offline_name_the_files_and_the_fetch_command() {
        let (_dir, provider) = provider();
        for name in ["MiniLM", "NomicText", "ClipB32"] {
            let err = provider.load_embedder(name).err().expect("missing");
            let message = err.to_string();
            assert!(matches!(err, ModelError::MissingFiles { .. }), "{message}");
            assert!(
                message.contains(&format!("panic-tda models fetch {name}")),
                "{message}"
            );
            assert!(message.contains("tokenizer.json"), "{message}");
        }
        for (name, file) in [
            ("SDTurbo", "unet/model.onnx_data"),
            ("SDXLTurbo", "tokenizer_2/merges.txt"),
            ("VitGpt2", "onnx/decoder_model_merged.onnx"),
            ("Florence2", "onnx/embed_tokens.onnx"),
        ] {
            let err = provider.load_generative(name).err().expect("missing");
            let message = err.to_string();
            assert!(matches!(err, ModelError::MissingFiles { .. }), "{message}");
            assert!(message.contains(file), "{message}");
            assert!(
                message.contains(&format!("panic-tda models fetch {name}")),
                "{message}"
            );
        }
    }
}
