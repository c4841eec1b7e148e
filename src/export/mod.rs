//! Exports: video encoding (FFmpeg through `ffmpeg-next`), mosaic layout and frames, timeline
//! stills, charts and the map figure (PNG, SVG and PDF).

pub mod analysis_charts;
pub mod analysis_files;
pub mod charts;
pub mod encoders;
pub mod figure;
pub mod frames;
pub mod mosaic;
pub mod report_html;
pub mod text;
pub mod timeline;
pub mod video;
pub mod video_writer;
