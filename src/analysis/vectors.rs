//! Bring-your-own vectors: read a matrix of vectors from a file, write labels or a 2-D layout
//! back. Inputs are `.npy` (float32 or float64, 2-D, either byte order or memory order) or raw
//! little-endian float32 with a given dimension; outputs are `.npy` or `.csv`, chosen by the
//! file name. An output is written beside its final name and renamed into place, so a failed
//! or cancelled run leaves no file behind.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum VectorFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is empty: it holds no vectors")]
    Empty { path: PathBuf },
    #[error("{path} is not a valid .npy file ({detail}); save it with numpy.save")]
    NotNpy { path: PathBuf, detail: String },
    #[error(
        "{path} holds {dtype} values; give float32 or float64 (in numpy: arr.astype('float32'))"
    )]
    DType { path: PathBuf, dtype: String },
    #[error("{path} is a {ndim}-D array; give a 2-D array of one vector per row")]
    Shape { path: PathBuf, ndim: usize },
    #[error("{path} holds {rows} rows of dimension {dim}: nothing to work on")]
    NoColumns {
        path: PathBuf,
        rows: usize,
        dim: usize,
    },
    #[error("{path}: row {row} has a NaN or infinite value; remove or repair that row")]
    NonFinite { path: PathBuf, row: usize },
    #[error(
        "{path} is {bytes} bytes, not a whole number of {dim}-d float32 rows ({row_bytes} bytes \
         each); check --dim"
    )]
    RaggedRaw {
        path: PathBuf,
        bytes: usize,
        dim: usize,
        row_bytes: usize,
    },
    #[error("{path} is raw float32 (not .npy): give its dimension with --dim D")]
    MissingDim { path: PathBuf },
    #[error("--dim must be at least 1")]
    ZeroDim,
    #[error("output {path}: name it .npy or .csv")]
    OutputKind { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Row-major vectors read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Vectors {
    pub data: Vec<f32>,
    pub dim: usize,
}

impl Vectors {
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.dim)
    }

    /// Each row scaled to unit length (zero rows stay zero), for cosine geometry.
    pub fn normalised(mut self) -> Self {
        for row in self.data.chunks_exact_mut(self.dim) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|x| *x /= norm);
            }
        }
        self
    }
}

/// Reads `path`: `.npy` by its magic bytes, otherwise raw little-endian f32 rows of `dim`.
pub fn read_vectors(path: &Path, dim: Option<usize>) -> Result<Vectors, VectorFileError> {
    let bytes = fs::read(path).map_err(|source| VectorFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    if bytes.is_empty() {
        return Err(VectorFileError::Empty {
            path: path.to_owned(),
        });
    }
    let vectors = if bytes.starts_with(b"\x93NUMPY") {
        read_npy_matrix(path, &bytes)?
    } else if path.extension().is_some_and(|ext| ext == "npy") {
        return Err(VectorFileError::NotNpy {
            path: path.to_owned(),
            detail: "it does not start with the .npy magic bytes".into(),
        });
    } else {
        read_raw_f32(path, &bytes, dim)?
    };
    if vectors.is_empty() {
        return Err(VectorFileError::Empty {
            path: path.to_owned(),
        });
    }
    if let Some(row) = vectors
        .rows()
        .position(|row| row.iter().any(|x| !x.is_finite()))
    {
        return Err(VectorFileError::NonFinite {
            path: path.to_owned(),
            row,
        });
    }
    Ok(vectors)
}

fn read_npy_matrix(path: &Path, bytes: &[u8]) -> Result<Vectors, VectorFileError> {
    let matrix = match Array2::<f32>::read_npy(Cursor::new(bytes)) {
        Ok(matrix) => matrix,
        Err(ReadNpyError::WrongDescriptor(_)) => {
            match Array2::<f64>::read_npy(Cursor::new(bytes)) {
                Ok(matrix) => matrix.mapv(|x| x as f32),
                Err(error) => return Err(npy_error(path, error)),
            }
        }
        Err(error) => return Err(npy_error(path, error)),
    };
    let (rows, dim) = matrix.dim();
    if rows == 0 {
        return Err(VectorFileError::Empty {
            path: path.to_owned(),
        });
    }
    if dim == 0 {
        return Err(VectorFileError::NoColumns {
            path: path.to_owned(),
            rows,
            dim,
        });
    }
    // Fortran-order files come back column-major; the rest of the crate wants rows.
    let data = matrix.as_standard_layout().iter().copied().collect();
    Ok(Vectors { data, dim })
}

fn npy_error(path: &Path, error: ReadNpyError) -> VectorFileError {
    let path = path.to_owned();
    match error {
        ReadNpyError::WrongDescriptor(descriptor) => VectorFileError::DType {
            path,
            dtype: descriptor.to_string(),
        },
        ReadNpyError::WrongNdim(_, ndim) => VectorFileError::Shape { path, ndim },
        other => VectorFileError::NotNpy {
            path,
            detail: other.to_string(),
        },
    }
}

fn read_raw_f32(path: &Path, bytes: &[u8], dim: Option<usize>) -> Result<Vectors, VectorFileError> {
    let dim = match dim {
        None => {
            return Err(VectorFileError::MissingDim {
                path: path.to_owned(),
            });
        }
        Some(0) => return Err(VectorFileError::ZeroDim),
        Some(dim) => dim,
    };
    let row_bytes = dim * 4;
    if !bytes.len().is_multiple_of(row_bytes) {
        return Err(VectorFileError::RaggedRaw {
            path: path.to_owned(),
            bytes: bytes.len(),
            dim,
            row_bytes,
        });
    }
    let data = bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect();
    Ok(Vectors { data, dim })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputKind {
    Npy,
    Csv,
}

fn output_kind(path: &Path) -> Result<OutputKind, VectorFileError> {
    match path.extension().and_then(|ext| ext.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("npy") => Ok(OutputKind::Npy),
        Some(ext) if ext.eq_ignore_ascii_case("csv") => Ok(OutputKind::Csv),
        _ => Err(VectorFileError::OutputKind {
            path: path.to_owned(),
        }),
    }
}

/// Checks that `path` names an output this module can write, before any long computation.
pub fn check_output(path: &Path) -> Result<(), VectorFileError> {
    output_kind(path).map(|_| ())
}

/// Writes one int32 label per row (−1 = outlier): `.npy` as a 1-D int32 array, `.csv` with a
/// `row,label` header.
pub fn write_labels(path: &Path, labels: &[i32]) -> Result<(), VectorFileError> {
    let bytes = match output_kind(path)? {
        OutputKind::Npy => npy_bytes(path, &Array1::from(labels.to_vec()))?,
        OutputKind::Csv => {
            let mut text = String::from("row,label\n");
            for (row, label) in labels.iter().enumerate() {
                text.push_str(&format!("{row},{label}\n"));
            }
            text.into_bytes()
        }
    };
    write_atomically(path, &bytes)
}

/// Writes a 2-D layout: `.npy` as an n × 2 float32 array, `.csv` with a `row,x,y` header.
pub fn write_layout(path: &Path, layout: &[[f32; 2]]) -> Result<(), VectorFileError> {
    let bytes = match output_kind(path)? {
        OutputKind::Npy => {
            let flat: Vec<f32> = layout.iter().flatten().copied().collect();
            match Array2::from_shape_vec((layout.len(), 2), flat) {
                Ok(matrix) => npy_bytes(path, &matrix)?,
                Err(error) => {
                    return Err(VectorFileError::Write {
                        path: path.to_owned(),
                        source: std::io::Error::other(error),
                    });
                }
            }
        }
        OutputKind::Csv => {
            let mut text = String::from("row,x,y\n");
            for (row, [x, y]) in layout.iter().enumerate() {
                text.push_str(&format!("{row},{x},{y}\n"));
            }
            text.into_bytes()
        }
    };
    write_atomically(path, &bytes)
}

fn npy_bytes<A: WriteNpyExt>(path: &Path, array: &A) -> Result<Vec<u8>, VectorFileError> {
    let mut bytes = Vec::new();
    array
        .write_npy(&mut bytes)
        .map_err(|error| VectorFileError::Write {
            path: path.to_owned(),
            source: std::io::Error::other(error),
        })?;
    Ok(bytes)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), VectorFileError> {
    crate::atomic_file::write(path, bytes).map_err(|source| VectorFileError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy_of<A: WriteNpyExt>(array: &A) -> Vec<u8> {
        let mut bytes = Vec::new();
        array.write_npy(&mut bytes).expect("npy");
        bytes
    }

    #[test]
    fn reads_npy_float32_float64_fortran_and_raw() {
        let dir = tempfile::tempdir().expect("dir");
        let matrix =
            Array2::from_shape_vec((3, 2), vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).expect("matrix");
        let expected = Vectors {
            data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            dim: 2,
        };
        let f32_path = dir.path().join("a.npy");
        fs::write(&f32_path, npy_of(&matrix)).expect("write");
        assert_eq!(read_vectors(&f32_path, None).expect("f32"), expected);
        let f64_path = dir.path().join("b.npy");
        fs::write(&f64_path, npy_of(&matrix.mapv(f64::from))).expect("write");
        assert_eq!(read_vectors(&f64_path, None).expect("f64"), expected);
        let fortran_path = dir.path().join("c.npy");
        fs::write(
            &fortran_path,
            npy_of(&matrix.t().to_owned().reversed_axes()),
        )
        .expect("write");
        assert_eq!(
            read_vectors(&fortran_path, None).expect("fortran"),
            expected
        );
        let raw_path = dir.path().join("d.f32");
        let raw: Vec<u8> = expected.data.iter().flat_map(|x| x.to_le_bytes()).collect();
        fs::write(&raw_path, raw).expect("write");
        assert_eq!(read_vectors(&raw_path, Some(2)).expect("raw"), expected);
        let three = read_vectors(&raw_path, Some(3)).expect("raw as 3-d");
        assert_eq!(three.len(), 2);
    }

    #[test]
    fn bad_files_name_the_problem() {
        let dir = tempfile::tempdir().expect("dir");
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            fs::write(&path, bytes).expect("write");
            path
        };
        let empty = write("empty.npy", b"");
        assert!(matches!(
            read_vectors(&empty, None),
            Err(VectorFileError::Empty { .. })
        ));
        let ints = write("ints.npy", &npy_of(&Array2::<i32>::zeros((2, 2))));
        let error = read_vectors(&ints, None).expect_err("ints");
        assert!(matches!(error, VectorFileError::DType { .. }), "{error}");
        assert!(error.to_string().contains("float32"), "{error}");
        let one_d = write("flat.npy", &npy_of(&Array1::<f32>::zeros(4)));
        assert!(matches!(
            read_vectors(&one_d, None),
            Err(VectorFileError::Shape { ndim: 1, .. })
        ));
        let no_rows = write("rows0.npy", &npy_of(&Array2::<f32>::zeros((0, 3))));
        assert!(matches!(
            read_vectors(&no_rows, None),
            Err(VectorFileError::Empty { .. })
        ));
        let no_cols = write("cols0.npy", &npy_of(&Array2::<f32>::zeros((3, 0))));
        assert!(matches!(
            read_vectors(&no_cols, None),
            Err(VectorFileError::NoColumns { .. })
        ));
        let nan = Array2::from_shape_vec((2, 2), vec![0.0f32, 1.0, f32::NAN, 1.0]).expect("nan");
        let nan = write("nan.npy", &npy_of(&nan));
        assert!(matches!(
            read_vectors(&nan, None),
            Err(VectorFileError::NonFinite { row: 1, .. })
        ));
        let infinite: Vec<u8> = [0.0f32, f32::INFINITY]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let infinite = write("inf.f32", &infinite);
        assert!(matches!(
            read_vectors(&infinite, Some(1)),
            Err(VectorFileError::NonFinite { row: 1, .. })
        ));
        let truncated = npy_of(&Array2::<f32>::zeros((4, 4)));
        let truncated = write("short.npy", &truncated[..truncated.len() - 3]);
        assert!(matches!(
            read_vectors(&truncated, None),
            Err(VectorFileError::NotNpy { .. })
        ));
        let not_npy = write("text.npy", b"hello");
        assert!(matches!(
            read_vectors(&not_npy, None),
            Err(VectorFileError::NotNpy { .. })
        ));
        let raw = write("raw.bin", &[0u8; 12]);
        assert!(matches!(
            read_vectors(&raw, None),
            Err(VectorFileError::MissingDim { .. })
        ));
        assert!(matches!(
            read_vectors(&raw, Some(0)),
            Err(VectorFileError::ZeroDim)
        ));
        assert!(matches!(
            read_vectors(&raw, Some(2)),
            Err(VectorFileError::RaggedRaw { bytes: 12, .. })
        ));
        let missing = dir.path().join("missing.npy");
        assert!(matches!(
            read_vectors(&missing, None),
            Err(VectorFileError::Read { .. })
        ));
    }

    #[test]
    fn outputs_round_trip_and_bad_names_write_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let labels = [0, -1, 2];
        let npy = dir.path().join("labels.npy");
        write_labels(&npy, &labels).expect("npy");
        let back = Array1::<i32>::read_npy(fs::File::open(&npy).expect("open")).expect("read");
        assert_eq!(back.to_vec(), labels);
        let csv = dir.path().join("labels.CSV");
        write_labels(&csv, &labels).expect("csv");
        assert_eq!(
            fs::read_to_string(&csv).expect("csv"),
            "row,label\n0,0\n1,-1\n2,2\n"
        );
        let layout = [[0.5f32, -1.0], [2.0, 3.25]];
        let npy = dir.path().join("layout.npy");
        write_layout(&npy, &layout).expect("layout");
        let back = Array2::<f32>::read_npy(fs::File::open(&npy).expect("open")).expect("read");
        assert_eq!(back.dim(), (2, 2));
        assert_eq!(back[[1, 1]], 3.25);
        let csv = dir.path().join("layout.csv");
        write_layout(&csv, &layout).expect("csv");
        assert_eq!(
            fs::read_to_string(&csv).expect("csv"),
            "row,x,y\n0,0.5,-1\n1,2,3.25\n"
        );
        let bad = dir.path().join("labels.txt");
        assert!(matches!(
            check_output(&bad),
            Err(VectorFileError::OutputKind { .. })
        ));
        assert!(write_labels(&bad, &labels).is_err());
        let in_missing_dir = dir.path().join("no/such/dir/labels.npy");
        assert!(matches!(
            write_labels(&in_missing_dir, &labels),
            Err(VectorFileError::Write { .. })
        ));
        let names: Vec<String> = fs::read_dir(dir.path())
            .expect("dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert!(
            names.iter().all(|name| !name.contains("partial")),
            "{names:?}"
        );
        assert!(!bad.exists());
    }
}
