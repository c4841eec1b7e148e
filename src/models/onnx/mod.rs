//! ONNX Runtime implementations of the model traits.

pub mod runtime;

pub use runtime::{DevicePreference, RuntimeError, RuntimeInfo};
