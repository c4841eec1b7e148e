//! ONNX Runtime implementations of the model traits.

pub mod clip;
pub mod runtime;
pub mod session;
pub mod text;

pub use clip::ClipEmbedder;
pub use runtime::{DevicePreference, RuntimeError, RuntimeInfo};
pub use session::SessionOptions;
pub use text::TextEncoder;
