//! Exports: video encoding (FFmpeg through `ffmpeg-next`), mosaic layout and frames, images and data.

pub mod encoders;
pub mod video_writer;
