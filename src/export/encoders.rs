//! Which video encoders the linked FFmpeg libraries provide.

use thiserror::Error;

/// A codec the exporter can write.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    H264,
    Hevc,
    Av1,
}

impl VideoCodec {
    pub const ALL: [VideoCodec; 3] = [VideoCodec::H264, VideoCodec::Hevc, VideoCodec::Av1];

    /// Encoder implementations in order of preference (software first: always present when
    /// FFmpeg was built with them, and deterministic).
    pub fn encoder_names(self) -> &'static [&'static str] {
        match self {
            VideoCodec::H264 => &["libx264", "h264_nvenc", "h264_vaapi", "libopenh264"],
            VideoCodec::Hevc => &["libx265", "hevc_nvenc", "hevc_vaapi"],
            VideoCodec::Av1 => &["libsvtav1", "libaom-av1", "librav1e", "av1_nvenc"],
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            VideoCodec::H264 => "H.264",
            VideoCodec::Hevc => "HEVC",
            VideoCodec::Av1 => "AV1",
        }
    }
}

#[derive(Debug, Error)]
pub enum EncoderError {
    #[error("FFmpeg libraries failed to initialise: {0}")]
    Init(String),
    #[error(
        "no {codec} encoder in the FFmpeg libraries this app uses (tried {tried}); install an FFmpeg built with one (on Debian/Ubuntu: `apt install libavcodec-extra`) or choose another codec with --codec ({available})"
    )]
    Missing {
        codec: &'static str,
        tried: String,
        available: String,
    },
}

/// The FFmpeg libraries found at run time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FfmpegReport {
    /// libavcodec version, e.g. "59.37.100".
    pub libavcodec: String,
    /// For each codec, the encoder that would be used, if any.
    pub encoders: Vec<(VideoCodec, Option<&'static str>)>,
}

pub fn init() -> Result<(), EncoderError> {
    ffmpeg_next::init().map_err(|e| EncoderError::Init(e.to_string()))
}

/// The first available encoder for `codec`.
pub fn find_encoder(codec: VideoCodec) -> Option<&'static str> {
    codec
        .encoder_names()
        .iter()
        .copied()
        .find(|name| ffmpeg_next::encoder::find_by_name(name).is_some())
}

/// Like [`find_encoder`], but a missing encoder is an error that says what to do.
pub fn require_encoder(codec: VideoCodec) -> Result<&'static str, EncoderError> {
    init()?;
    find_encoder(codec).ok_or_else(|| EncoderError::Missing {
        codec: codec.label(),
        tried: codec.encoder_names().join(", "),
        available: VideoCodec::ALL
            .iter()
            .filter(|other| find_encoder(**other).is_some())
            .map(|other| format!("{other:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

pub fn report() -> Result<FfmpegReport, EncoderError> {
    init()?;
    let version = ffmpeg_next::codec::version();
    Ok(FfmpegReport {
        libavcodec: format!(
            "{}.{}.{}",
            version >> 16,
            (version >> 8) & 0xff,
            version & 0xff
        ),
        encoders: VideoCodec::ALL
            .iter()
            .map(|codec| (*codec, find_encoder(*codec)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_ffmpeg_has_an_h264_encoder() {
        let report = report().expect("ffmpeg initialises");
        assert!(report.libavcodec.split('.').count() == 3);
        let h264 = report
            .encoders
            .iter()
            .find(|(codec, _)| *codec == VideoCodec::H264)
            .and_then(|(_, encoder)| *encoder);
        assert_eq!(h264, Some("libx264"));
    }
}
