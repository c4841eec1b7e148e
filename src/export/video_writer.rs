//! Streams RGB frames into a video file through libavcodec/libavformat (no temp images, no
//! ffmpeg CLI). The file is written under a temporary name and renamed on `finish`, so a
//! cancelled or failed export never leaves a half-written video behind.

use std::path::{Path, PathBuf};

use ffmpeg::format::Pixel;
use ffmpeg_next as ffmpeg;
use image::RgbImage;
use thiserror::Error;

use super::encoders::{self, EncoderError, VideoCodec};

#[derive(Debug, Error)]
pub enum VideoError {
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    #[error("video size {width}×{height} must be positive and even (YUV 4:2:0)")]
    BadSize { width: u32, height: u32 },
    #[error("frame {index} is {got_w}×{got_h}, the video is {width}×{height}")]
    FrameSize {
        index: u64,
        got_w: u32,
        got_h: u32,
        width: u32,
        height: u32,
    },
    #[error("FFmpeg failed while {action} {path}: {source}")]
    Ffmpeg {
        action: &'static str,
        path: PathBuf,
        source: ffmpeg::Error,
    },
    #[error("could not move the finished video to {path}: {source}")]
    Rename {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Encoding settings.
#[derive(Debug, Clone, Copy)]
pub struct VideoSettings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub codec: VideoCodec,
    /// Constant rate factor (lower is better quality); passed to encoders that take one.
    pub crf: u8,
}

/// An open video file that accepts frames in order.
pub struct VideoWriter {
    output: ffmpeg::format::context::Output,
    encoder: ffmpeg::encoder::Video,
    scaler: ffmpeg::software::scaling::Context,
    rgb_frame: ffmpeg::frame::Video,
    yuv_frame: ffmpeg::frame::Video,
    settings: VideoSettings,
    encoder_time_base: ffmpeg::Rational,
    frames_written: u64,
    temp_path: PathBuf,
    final_path: PathBuf,
    finished: bool,
}

impl VideoWriter {
    pub fn create(path: &Path, settings: VideoSettings) -> Result<Self, VideoError> {
        let VideoSettings {
            width, height, fps, ..
        } = settings;
        if width == 0 || height == 0 || width % 2 == 1 || height % 2 == 1 || fps == 0 {
            return Err(VideoError::BadSize { width, height });
        }
        let encoder_name = encoders::require_encoder(settings.codec)?;
        let temp_path = temp_name(path);
        let ff = |action: &'static str| {
            let temp_path = temp_path.clone();
            move |source| VideoError::Ffmpeg {
                action,
                path: temp_path.clone(),
                source,
            }
        };
        // The container is chosen from the final file's extension, not the temp name's.
        let format_name = match path.extension().and_then(|ext| ext.to_str()) {
            Some("mkv") => "matroska",
            Some("webm") => "webm",
            Some("mov") => "mov",
            _ => "mp4",
        };
        let mut output =
            ffmpeg::format::output_as(&temp_path, format_name).map_err(ff("creating"))?;
        let codec = ffmpeg::encoder::find_by_name(encoder_name).ok_or(VideoError::Encoder(
            EncoderError::Init(format!("encoder {encoder_name} disappeared")),
        ))?;
        let global_header = output
            .format()
            .flags()
            .contains(ffmpeg::format::Flags::GLOBAL_HEADER);
        let mut stream = output.add_stream(codec).map_err(ff("adding a stream to"))?;
        let stream_index = stream.index();
        let mut context = ffmpeg::codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(ff("configuring the encoder for"))?;
        let encoder_time_base = ffmpeg::Rational::new(1, fps as i32);
        context.set_width(width);
        context.set_height(height);
        context.set_format(Pixel::YUV420P);
        context.set_time_base(encoder_time_base);
        context.set_frame_rate(Some(ffmpeg::Rational::new(fps as i32, 1)));
        // No B-frames: every frame is shown exactly once at its own timestamp, so players and
        // our own decoder count the same frames as were pushed.
        context.set_max_b_frames(0);
        if global_header {
            context.set_flags(ffmpeg::codec::Flags::GLOBAL_HEADER);
        }
        let mut options = ffmpeg::Dictionary::new();
        options.set("crf", &settings.crf.to_string());
        if encoder_name == "libx264" || encoder_name == "libx265" {
            options.set("preset", "medium");
        }
        let encoder = context
            .open_as_with(codec, options)
            .map_err(ff("opening the encoder for"))?;
        stream.set_parameters(&encoder);
        stream.set_time_base(encoder_time_base);
        let _ = stream_index;
        output.write_header().map_err(ff("writing the header of"))?;
        let scaler = ffmpeg::software::scaling::Context::get(
            Pixel::RGB24,
            width,
            height,
            Pixel::YUV420P,
            width,
            height,
            ffmpeg::software::scaling::Flags::BICUBIC,
        )
        .map_err(ff("creating the colour converter for"))?;
        Ok(Self {
            output,
            encoder,
            scaler,
            rgb_frame: ffmpeg::frame::Video::new(Pixel::RGB24, width, height),
            yuv_frame: ffmpeg::frame::Video::new(Pixel::YUV420P, width, height),
            settings,
            encoder_time_base,
            frames_written: 0,
            temp_path,
            final_path: path.to_path_buf(),
            finished: false,
        })
    }

    pub fn frames_written(&self) -> u64 {
        self.frames_written
    }

    /// Encodes one frame; it must have the video's size.
    pub fn push(&mut self, frame: &RgbImage) -> Result<(), VideoError> {
        let (width, height) = (self.settings.width, self.settings.height);
        if frame.width() != width || frame.height() != height {
            return Err(VideoError::FrameSize {
                index: self.frames_written,
                got_w: frame.width(),
                got_h: frame.height(),
                width,
                height,
            });
        }
        let stride = self.rgb_frame.stride(0);
        let row_bytes = width as usize * 3;
        let data = self.rgb_frame.data_mut(0);
        for (y, row) in frame.as_raw().chunks_exact(row_bytes).enumerate() {
            data[y * stride..y * stride + row_bytes].copy_from_slice(row);
        }
        let path = self.temp_path.clone();
        self.scaler
            .run(&self.rgb_frame, &mut self.yuv_frame)
            .map_err(|source| VideoError::Ffmpeg {
                action: "converting a frame for",
                path: path.clone(),
                source,
            })?;
        self.yuv_frame.set_pts(Some(self.frames_written as i64));
        self.encoder
            .send_frame(&self.yuv_frame)
            .map_err(|source| VideoError::Ffmpeg {
                action: "encoding a frame of",
                path,
                source,
            })?;
        self.frames_written += 1;
        self.drain_packets()
    }

    fn drain_packets(&mut self) -> Result<(), VideoError> {
        let stream_time_base = self
            .output
            .stream(0)
            .map(|stream| stream.time_base())
            .unwrap_or(self.encoder_time_base);
        let mut packet = ffmpeg::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(0);
            // Each frame lasts one tick. Without it the muxer gives the last frame no duration and
            // the MP4 edit list then hides it from players.
            packet.set_duration(1);
            packet.rescale_ts(self.encoder_time_base, stream_time_base);
            packet
                .write_interleaved(&mut self.output)
                .map_err(|source| VideoError::Ffmpeg {
                    action: "writing a packet to",
                    path: self.temp_path.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Flushes the encoder, writes the trailer and moves the file into place.
    pub fn finish(mut self) -> Result<PathBuf, VideoError> {
        let path = self.temp_path.clone();
        self.encoder
            .send_eof()
            .map_err(|source| VideoError::Ffmpeg {
                action: "flushing the encoder for",
                path: path.clone(),
                source,
            })?;
        self.drain_packets()?;
        self.output
            .write_trailer()
            .map_err(|source| VideoError::Ffmpeg {
                action: "finishing",
                path: path.clone(),
                source,
            })?;
        std::fs::rename(&self.temp_path, &self.final_path).map_err(|source| {
            VideoError::Rename {
                path: self.final_path.clone(),
                source,
            }
        })?;
        self.finished = true;
        Ok(self.final_path.clone())
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.temp_path);
        }
    }
}

fn temp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// What a decoded video contains; used by tests and `export` checks.
#[derive(Debug)]
pub struct DecodedVideo {
    pub width: u32,
    pub height: u32,
    pub frames: Vec<RgbImage>,
}

/// Decodes every frame of a video to RGB.
pub fn decode_all(path: &Path) -> Result<DecodedVideo, VideoError> {
    encoders::init()?;
    let ff = |action: &'static str| {
        let path = path.to_path_buf();
        move |source| VideoError::Ffmpeg {
            action,
            path: path.clone(),
            source,
        }
    };
    let mut input = ffmpeg::format::input(path).map_err(ff("opening"))?;
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or(ffmpeg::Error::StreamNotFound)
        .map_err(ff("finding a video stream in"))?;
    let stream_index = stream.index();
    let mut context = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .map_err(ff("reading codec parameters of"))?;
    context.set_threading(ffmpeg::codec::threading::Config {
        kind: ffmpeg::codec::threading::Type::None,
        count: 1,
        ..Default::default()
    });
    let mut decoder = context
        .decoder()
        .video()
        .map_err(ff("opening a decoder for"))?;
    let (width, height) = (decoder.width(), decoder.height());
    let mut scaler = ffmpeg::software::scaling::Context::get(
        decoder.format(),
        width,
        height,
        Pixel::RGB24,
        width,
        height,
        ffmpeg::software::scaling::Flags::BILINEAR,
    )
    .map_err(ff("creating the colour converter for"))?;
    let mut frames = Vec::new();
    let mut decoded = ffmpeg::frame::Video::empty();
    let mut rgb = ffmpeg::frame::Video::empty();
    let mut receive = |decoder: &mut ffmpeg::decoder::Video,
                       frames: &mut Vec<RgbImage>|
     -> Result<(), VideoError> {
        while decoder.receive_frame(&mut decoded).is_ok() {
            scaler
                .run(&decoded, &mut rgb)
                .map_err(ff("converting a frame of"))?;
            let stride = rgb.stride(0);
            let row_bytes = width as usize * 3;
            let mut pixels = Vec::with_capacity(row_bytes * height as usize);
            for y in 0..height as usize {
                pixels.extend_from_slice(&rgb.data(0)[y * stride..y * stride + row_bytes]);
            }
            if let Some(image) = RgbImage::from_raw(width, height, pixels) {
                frames.push(image);
            }
        }
        Ok(())
    };
    for (stream, packet) in input.packets() {
        if stream.index() == stream_index {
            decoder.send_packet(&packet).map_err(ff("decoding"))?;
            receive(&mut decoder, &mut frames)?;
        }
    }
    decoder.send_eof().map_err(ff("flushing the decoder for"))?;
    receive(&mut decoder, &mut frames)?;
    Ok(DecodedVideo {
        width,
        height,
        frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(codec: VideoCodec) -> VideoSettings {
        VideoSettings {
            width: 64,
            height: 48,
            fps: 10,
            codec,
            crf: 18,
        }
    }

    #[test]
    fn encoded_frames_decode_back_with_their_colours() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.mp4");
        let colours = [[200u8, 30, 30], [30, 200, 30], [30, 30, 200]];
        let mut writer = VideoWriter::create(&path, settings(VideoCodec::H264)).expect("create");
        for colour in colours.iter().cycle().take(12) {
            writer
                .push(&RgbImage::from_pixel(64, 48, image::Rgb(*colour)))
                .expect("push");
        }
        assert!(
            !path.exists(),
            "nothing appears under the final name before finish"
        );
        writer.finish().expect("finish");
        let video = decode_all(&path).expect("decode");
        assert_eq!((video.width, video.height), (64, 48));
        assert_eq!(video.frames.len(), 12);
        for (frame, colour) in video.frames.iter().zip(colours.iter().cycle()) {
            let pixel = frame.get_pixel(32, 24).0;
            for channel in 0..3 {
                let diff = (pixel[channel] as i32 - colour[channel] as i32).abs();
                assert!(diff <= 12, "pixel {pixel:?} vs {colour:?}");
            }
        }
    }

    #[test]
    fn an_abandoned_export_leaves_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cancelled.mp4");
        let mut writer = VideoWriter::create(&path, settings(VideoCodec::H264)).expect("create");
        writer.push(&RgbImage::new(64, 48)).expect("push");
        drop(writer);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn odd_sizes_and_wrong_frames_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut odd = settings(VideoCodec::H264);
        odd.width = 63;
        assert!(matches!(
            VideoWriter::create(&dir.path().join("a.mp4"), odd),
            Err(VideoError::BadSize { .. })
        ));
        let mut writer = VideoWriter::create(&dir.path().join("b.mp4"), settings(VideoCodec::H264))
            .expect("create");
        let err = writer.push(&RgbImage::new(10, 10)).expect_err("wrong size");
        assert!(err.to_string().contains("10×10"), "{err}");
    }
}
