//! Shared helpers for ONNX Runtime sessions: opening a graph on the chosen device, reading its
//! declared inputs, and building integer tensors in whatever dtype the graph declares.

use std::borrow::Cow;
use std::path::Path;

use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor, TensorElementType};

use super::runtime::{self, DevicePreference, RuntimeError};
use crate::models::ModelError;
use crate::paths::AppPaths;

/// Device and threading for a model's sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionOptions {
    pub device: DevicePreference,
    /// Intra-op threads per session; 0 lets ONNX Runtime choose (one per core).
    pub threads: usize,
}

/// Loads ONNX Runtime if needed and opens `file` on the preferred device.
pub fn open(paths: &AppPaths, file: &Path, options: SessionOptions) -> Result<Session, ModelError> {
    let info = runtime::init(paths)?;
    let device = runtime::choose_device(info, options.device)?;
    let session_error = |message: String| RuntimeError::Session {
        file: file.to_owned(),
        message,
    };
    let mut builder = runtime::session_builder(&device, options.threads).map_err(session_error)?;
    let session = builder
        .commit_from_file(file)
        .map_err(|e| session_error(e.to_string()))?;
    tracing::debug!(file = %file.display(), provider = %device.provider, "opened ONNX session");
    Ok(session)
}

/// The element type of input `name`, `None` when the graph has no such input.
pub fn input_type(session: &Session, name: &str) -> Option<TensorElementType> {
    session
        .inputs()
        .iter()
        .find(|input| input.name() == name)
        .and_then(|input| input.dtype().tensor_type())
}

/// Whether the graph has output `name`.
pub fn has_output(session: &Session, name: &str) -> bool {
    session.outputs().iter().any(|output| output.name() == name)
}

/// Named session inputs, built up one by one.
pub type Inputs = Vec<(Cow<'static, str>, SessionInputValue<'static>)>;

/// An integer matrix as int64 or int32, as the graph's input declares (exporters differ).
pub fn int_input(
    model: &str,
    name: &'static str,
    ty: TensorElementType,
    shape: [usize; 2],
    values: Vec<i64>,
) -> Result<(Cow<'static, str>, SessionInputValue<'static>), ModelError> {
    let value = int_value(model, name, ty, shape, values)?;
    Ok((Cow::Borrowed(name), value.into()))
}

/// [`int_input`]'s tensor alone, e.g. to bind it.
pub fn int_value(
    model: &str,
    name: &str,
    ty: TensorElementType,
    shape: [usize; 2],
    values: Vec<i64>,
) -> Result<DynValue, ModelError> {
    let fail = |e: ort::Error| inference(model, format!("building input {name}: {e}"));
    match ty {
        TensorElementType::Int64 => Ok(Tensor::from_array((shape, values))
            .map_err(fail)?
            .into_dyn()),
        TensorElementType::Int32 => {
            let narrowed = values
                .into_iter()
                .map(|v| {
                    i32::try_from(v).map_err(|_| {
                        inference(model, format!("{name} value {v} does not fit int32"))
                    })
                })
                .collect::<Result<Vec<i32>, _>>()?;
            Ok(Tensor::from_array((shape, narrowed))
                .map_err(fail)?
                .into_dyn())
        }
        other => Err(inference(
            model,
            format!("input {name} has element type {other:?}; expected int64 or int32"),
        )),
    }
}

pub fn inference(model: &str, message: impl Into<String>) -> ModelError {
    ModelError::Inference {
        model: model.to_owned(),
        message: message.into(),
    }
}

/// Scales `vector` to unit length (left as is when it is all zeros).
pub fn l2_normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
}
