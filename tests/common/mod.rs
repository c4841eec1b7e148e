//! Test doubles shared by the integration tests: a model provider over the dummy models that
//! counts calls and can be told to fail.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use image::RgbImage;
use panic_tda::models::dummy::{DummyEmbedder, DummyImageToText, DummyTextToImage};
use panic_tda::models::{
    Embedder, GenerativeModel, ImageToText, ModelError, ModelKind, ModelProvider, Seed,
    TextToImage, catalog,
};

/// Every call a model received: (model name, batch size).
pub type CallLog = Arc<Mutex<Vec<(String, usize)>>>;

#[derive(Default, Clone)]
pub struct TestProvider {
    pub calls: CallLog,
    /// Models whose loading fails.
    pub fail_load: Vec<String>,
    /// Models whose calls fail.
    pub fail_call: Vec<String>,
    /// (model, text): the text-to-image model fails any batch with a prompt containing the text.
    pub fail_prompt: Option<(String, String)>,
    pub loads: Arc<AtomicUsize>,
}

struct Counting<M> {
    inner: M,
    name: String,
    calls: CallLog,
    fail: bool,
    fail_prompt: Option<String>,
}

impl<M: TextToImage> TextToImage for Counting<M> {
    fn name(&self) -> &str {
        &self.name
    }
    fn generate(
        &mut self,
        prompts: &[&str],
        seeds: &[Seed],
        size: u32,
    ) -> Result<Vec<RgbImage>, ModelError> {
        self.calls
            .lock()
            .expect("lock")
            .push((self.name.clone(), prompts.len()));
        if self.fail {
            return Err(ModelError::Inference {
                model: self.name.clone(),
                message: "planted failure".into(),
            });
        }
        if let Some(text) = &self.fail_prompt
            && prompts.iter().any(|prompt| prompt.contains(text.as_str()))
        {
            return Err(ModelError::Inference {
                model: self.name.clone(),
                message: format!("planted failure on '{text}'"),
            });
        }
        self.inner.generate(prompts, seeds, size)
    }
}

impl<M: ImageToText> ImageToText for Counting<M> {
    fn name(&self) -> &str {
        &self.name
    }
    fn caption(&mut self, images: &[&RgbImage], seeds: &[Seed]) -> Result<Vec<String>, ModelError> {
        self.calls
            .lock()
            .expect("lock")
            .push((self.name.clone(), images.len()));
        if self.fail {
            return Err(ModelError::Inference {
                model: self.name.clone(),
                message: "planted failure".into(),
            });
        }
        self.inner.caption(images, seeds)
    }
}

impl ModelProvider for TestProvider {
    fn describe(&self, name: &str) -> Option<ModelKind> {
        catalog::lookup(name).map(|entry| entry.kind)
    }
    fn names(&self) -> Vec<String> {
        catalog::catalog()
            .iter()
            .map(|entry| entry.name.to_string())
            .collect()
    }
    fn load_generative(&self, name: &str) -> Result<GenerativeModel, ModelError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        if self.fail_load.iter().any(|failing| failing == name) {
            return Err(ModelError::MissingFiles {
                model: name.into(),
                missing: vec!["planted.onnx".into()],
            });
        }
        let fail = self.fail_call.iter().any(|failing| failing == name);
        let fail_prompt = self
            .fail_prompt
            .as_ref()
            .filter(|(model, _)| model == name)
            .map(|(_, text)| text.clone());
        let calls = self.calls.clone();
        let name_owned = name.to_owned();
        Ok(match name {
            "DummyT2I" => GenerativeModel::TextToImage(Box::new(Counting {
                inner: DummyTextToImage::cyan(),
                name: name_owned,
                calls,
                fail,
                fail_prompt: fail_prompt.clone(),
            })),
            "DummyT2I2" => GenerativeModel::TextToImage(Box::new(Counting {
                inner: DummyTextToImage::magenta(),
                name: name_owned,
                calls,
                fail,
                fail_prompt: fail_prompt.clone(),
            })),
            "DummyI2T" => GenerativeModel::ImageToText(Box::new(Counting {
                inner: DummyImageToText::v1(),
                name: name_owned,
                calls,
                fail,
                fail_prompt: fail_prompt.clone(),
            })),
            "DummyI2T2" => GenerativeModel::ImageToText(Box::new(Counting {
                inner: DummyImageToText::v2(),
                name: name_owned,
                calls,
                fail,
                fail_prompt: fail_prompt.clone(),
            })),
            other => {
                return Err(ModelError::UnknownModel {
                    name: other.into(),
                    available: "dummy models only in tests".into(),
                });
            }
        })
    }
    fn load_embedder(&self, name: &str) -> Result<Box<dyn Embedder>, ModelError> {
        match name {
            "DummyText" => Ok(Box::new(DummyEmbedder::text())),
            "DummyImage" => Ok(Box::new(DummyEmbedder::image())),
            other => Err(ModelError::UnknownModel {
                name: other.into(),
                available: "DummyText, DummyImage".into(),
            }),
        }
    }
}

pub fn calls_of(log: &CallLog, model: &str) -> Vec<usize> {
    log.lock()
        .expect("lock")
        .iter()
        .filter(|(name, _)| name == model)
        .map(|(_, batch)| *batch)
        .collect()
}

mod store_fixtures;
#[allow(unused_imports)]
pub use store_fixtures::*;
