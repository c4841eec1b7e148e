//! `panic-tda info`: what the app found on this machine.

use std::path::PathBuf;

use crate::export::encoders::{self, FfmpegReport};
use crate::models::onnx::runtime::{self, RuntimeInfo};
use crate::paths::AppPaths;

/// Everything `info` reports. Failures are kept as messages so one missing piece does not hide
/// the others.
#[derive(Debug, serde::Serialize)]
pub struct SystemReport {
    pub version: &'static str,
    pub database: PathBuf,
    pub data_dir: PathBuf,
    pub models_dir: PathBuf,
    pub onnxruntime: Result<RuntimeInfo, String>,
    pub ffmpeg: Result<FfmpegReport, String>,
    /// How clustering and t-SNE compute exact distances on this CPU.
    pub distance_kernel: &'static str,
}

pub fn gather(paths: &AppPaths, database: PathBuf) -> SystemReport {
    SystemReport {
        version: env!("CARGO_PKG_VERSION"),
        database,
        data_dir: paths.data_dir.clone(),
        models_dir: paths.models_dir.clone(),
        onnxruntime: runtime::init(paths).cloned().map_err(|e| e.to_string()),
        ffmpeg: encoders::report().map_err(|e| e.to_string()),
        distance_kernel: crate::analysis::knn::distance_kernel_name(),
    }
}

impl std::fmt::Display for SystemReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "panic-tda {}", self.version)?;
        writeln!(f, "database:     {}", self.database.display())?;
        writeln!(f, "data dir:     {}", self.data_dir.display())?;
        writeln!(f, "model cache:  {}", self.models_dir.display())?;
        match &self.onnxruntime {
            Ok(ort) => {
                writeln!(f, "ONNX Runtime: {} ({})", ort.version, ort.path.display())?;
                writeln!(f, "  execution providers: {}", ort.providers.join(", "))?;
            }
            Err(message) => writeln!(f, "ONNX Runtime: NOT AVAILABLE: {message}")?,
        }
        match &self.ffmpeg {
            Ok(ffmpeg) => {
                writeln!(f, "FFmpeg:       libavcodec {}", ffmpeg.libavcodec)?;
                for (codec, encoder) in &ffmpeg.encoders {
                    match encoder {
                        Some(name) => writeln!(f, "  {:<6} encoder: {name}", codec.label())?,
                        None => writeln!(f, "  {:<6} encoder: none", codec.label())?,
                    }
                }
            }
            Err(message) => writeln!(f, "FFmpeg:       NOT AVAILABLE: {message}")?,
        }
        writeln!(f, "distances:    {}", self.distance_kernel)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_the_distance_kernel_and_the_missing_pieces() {
        let report = SystemReport {
            version: "0.0.0",
            database: PathBuf::from("db.sqlite"),
            data_dir: PathBuf::from("data"),
            models_dir: PathBuf::from("models"),
            onnxruntime: Err("no libonnxruntime.so".into()),
            ffmpeg: Err("no libavcodec".into()),
            distance_kernel: "f32 products",
        };
        let text = report.to_string();
        assert!(
            text.contains("ONNX Runtime: NOT AVAILABLE: no libonnxruntime.so"),
            "{text}"
        );
        assert!(text.contains("distances:    f32 products"), "{text}");
    }
}
