//! ONNX Runtime implementations of the model traits.

pub mod binding;
pub mod caption;
pub mod clip;
pub mod config;
pub mod diffusion;
pub mod florence;
pub mod pixels;
pub mod runtime;
pub mod scheduler;
pub mod session;
pub mod text;

pub use caption::EncoderDecoderCaptioner;
pub use clip::ClipEmbedder;
pub use diffusion::StableDiffusion;
pub use florence::Florence2;
pub use runtime::{DevicePreference, RuntimeError, RuntimeInfo};
pub use session::SessionOptions;
pub use text::TextEncoder;
