//! Rendering and writing: the [`Drawing`] trait (PNG, SVG and PDF from one routine), the
//! image formats, the bundled font, atomic file writes and SVG-to-PDF conversion.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{ChartError, FONT, FONT_BYTES};

/// Something drawn with plotters at a fixed size: one drawing routine gives the PNG, the SVG
/// and (converted from the SVG) the PDF, so the formats never disagree.
pub trait Drawing {
    /// Names the drawing in errors.
    fn name(&self) -> &str;

    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);

    /// Pixels per inch of the PDF page: 96 gives the size a browser shows the SVG at.
    fn pdf_dpi(&self) -> f32 {
        96.0
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), ChartError>;

    /// Renders to an RGB image.
    fn to_image(&self) -> Result<image::RgbImage, ChartError> {
        register_font()?;
        let (width, height) = self.size();
        let mut buffer = vec![255u8; width as usize * height as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
            self.draw_on(&root)?;
            root.present().map_err(|e| draw_error(self.name(), e))?;
        }
        image::RgbImage::from_raw(width, height, buffer).ok_or_else(|| ChartError::Draw {
            chart: self.name().to_owned(),
            detail: "pixel buffer has the wrong size".into(),
        })
    }

    fn to_svg(&self) -> Result<String, ChartError> {
        register_font()?;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size()).into_drawing_area();
            self.draw_on(&root)?;
            root.present().map_err(|e| draw_error(self.name(), e))?;
        }
        Ok(svg)
    }

    /// The SVG rendering converted to PDF (vector, with the chart font embedded).
    fn to_pdf(&self) -> Result<Vec<u8>, ChartError> {
        svg_to_pdf(&self.to_svg()?, self.pdf_dpi())
    }

    fn save_png(&self, path: &Path) -> Result<(), ChartError> {
        write_file(path, &png_bytes(&self.to_image()?, path)?)
    }

    fn save_svg(&self, path: &Path) -> Result<(), ChartError> {
        write_file(path, self.to_svg()?.as_bytes())
    }

    fn save_pdf(&self, path: &Path) -> Result<(), ChartError> {
        write_file(path, &self.to_pdf()?)
    }

    /// Saves in the format `path`'s extension names (.png, .svg or .pdf).
    fn save(&self, path: &Path) -> Result<(), ChartError> {
        match ImageFormat::from_path(path)? {
            ImageFormat::Png => self.save_png(path),
            ImageFormat::Svg => self.save_svg(path),
            ImageFormat::Pdf => self.save_pdf(path),
        }
    }
}

pub(crate) fn draw_error(name: &str, error: impl std::fmt::Debug) -> ChartError {
    ChartError::Draw {
        chart: name.to_owned(),
        detail: format!("{error:?}"),
    }
}

pub(crate) fn register_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok { Ok(()) } else { Err(ChartError::Font) }
}

/// The file formats charts and figures are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Svg,
    Pdf,
}

impl ImageFormat {
    /// The format a file name's extension names (any case).
    pub fn from_path(path: &Path) -> Result<Self, ChartError> {
        let extension = path
            .extension()
            .and_then(|ext| ext.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("png") => Ok(Self::Png),
            Some("svg") => Ok(Self::Svg),
            Some("pdf") => Ok(Self::Pdf),
            _ => Err(ChartError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Writes a finished file atomically, so a failed export never leaves half a file.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ChartError> {
    crate::atomic_file::write(path, bytes).map_err(|e| ChartError::Write {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// PNG-encodes an image in memory (`path` only names the file in errors).
pub(crate) fn png_bytes(image: &image::RgbImage, path: &Path) -> Result<Vec<u8>, ChartError> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| ChartError::Write {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    Ok(bytes.into_inner())
}

/// The family name inside the bundled font file; SVG text asks for the generic
/// `sans-serif`, which the PDF converter's font database maps to it.
const FONT_FAMILY: &str = "DejaVu Sans";

/// Parsing options whose font database holds only the bundled chart font, so PDFs look the
/// same on every machine and their text never silently disappears for want of a system font.
fn svg_options() -> &'static usvg::Options<'static> {
    static OPTIONS: OnceLock<usvg::Options<'static>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut options = usvg::Options {
            font_family: FONT_FAMILY.to_owned(),
            ..usvg::Options::default()
        };
        let fonts = options.fontdb_mut();
        fonts.load_font_data(FONT_BYTES.to_vec());
        fonts.set_sans_serif_family(FONT_FAMILY);
        options
    })
}

/// Converts an SVG document (as the charts render it) to a one-page PDF, `dpi` SVG pixels to
/// the inch.
pub fn svg_to_pdf(svg: &str, dpi: f32) -> Result<Vec<u8>, ChartError> {
    let options = svg_options();
    if options.fontdb.is_empty() {
        return Err(ChartError::Font);
    }
    let tree = usvg::Tree::from_str(svg, options).map_err(|e| ChartError::Pdf {
        detail: e.to_string(),
    })?;
    svg2pdf::to_pdf(
        &tree,
        svg2pdf::ConversionOptions::default(),
        svg2pdf::PageOptions { dpi },
    )
    .map_err(|e| ChartError::Pdf {
        detail: e.to_string(),
    })
}
