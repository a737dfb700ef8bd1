//! Datasets from files: the shipped digits, CSV, MNIST-style IDX. Every error names the file
//! and, where there is one, the row and column.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use super::{DataError, Dataset, Task};

/// The 8x8 digits (see assets/README.md for the credit), compiled in so the app works from
/// any folder and offline.
const DIGITS_GZ: &[u8] = include_bytes!("../../assets/digits.csv.gz");

/// 1,797 images of 8x8 pixels scaled to [0, 1] (the file holds 0..16), labels 0..9.
pub fn digits() -> Result<Dataset, DataError> {
    let mut text = String::new();
    GzDecoder::new(DIGITS_GZ)
        .read_to_string(&mut text)
        .map_err(|e| DataError::Read {
            path: "assets/digits.csv.gz".into(),
            message: e.to_string(),
        })?;
    let mut d = csv_from_reader(
        text.as_bytes(),
        "assets/digits.csv.gz",
        &[],
        "64",
        false,
        true,
    )?;
    for v in &mut d.features {
        *v /= 16.0;
    }
    d.name = "digits 8x8".into();
    d.image = Some((8, 8));
    d.task = Task::Classification {
        classes: 10,
        names: (0..10).map(|c| c.to_string()).collect(),
    };
    Ok(d)
}

/// A CSV file: `features` and `label` are header names (or 0-based column numbers without
/// a header); no features means every column but the label.
pub fn csv(
    path: &Path,
    features: &[String],
    label: &str,
    header: bool,
    classification: bool,
) -> Result<Dataset, DataError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| DataError::Read {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    csv_from_reader(file, &shown, features, label, header, classification)
}

fn csv_from_reader<R: Read>(
    reader: R,
    shown: &str,
    features: &[String],
    label: &str,
    header: bool,
    classification: bool,
) -> Result<Dataset, DataError> {
    let invalid = |message: String| DataError::Invalid {
        path: shown.to_string(),
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(header)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let names: Vec<String> = if header {
        rdr.headers()
            .map_err(|e| invalid(e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect()
    } else {
        Vec::new()
    };
    let column = |c: &str, width: usize| -> Result<usize, DataError> {
        if let Some(i) = names.iter().position(|n| n == c) {
            return Ok(i);
        }
        match c.parse::<usize>() {
            Ok(i) if i < width || width == 0 => Ok(i),
            _ if header => Err(invalid(format!(
                "no column `{c}`: the header has {}",
                names.join(", ")
            ))),
            _ => Err(invalid(format!(
                "column `{c}`: without a header, name columns by number (0 to {})",
                width.saturating_sub(1)
            ))),
        }
    };
    let mut rows = rdr.records();
    let mut data_rows = Vec::new();
    let first_row = if header { 2 } else { 1 };
    for (i, rec) in rows.by_ref().enumerate() {
        let rec = rec.map_err(|e| invalid(format!("row {}: {e}", i + first_row)))?;
        data_rows.push(rec);
    }
    let width = data_rows.first().map(|r| r.len()).unwrap_or(names.len());
    let label_col = column(label, width)?;
    let feature_cols: Vec<usize> = if features.is_empty() {
        (0..width).filter(|&c| c != label_col).collect()
    } else {
        features
            .iter()
            .map(|f| column(f, width))
            .collect::<Result<_, _>>()?
    };
    if feature_cols.is_empty() {
        return Err(invalid("no feature columns".into()));
    }
    let col_name = |c: usize| names.get(c).cloned().unwrap_or_else(|| c.to_string());
    let mut feats = Vec::with_capacity(data_rows.len() * feature_cols.len());
    let mut labels = Vec::with_capacity(data_rows.len());
    for (i, rec) in data_rows.iter().enumerate() {
        let row = i + first_row;
        for &c in &feature_cols {
            let cell = rec.get(c).ok_or_else(|| {
                invalid(format!(
                    "row {row}: has {} columns, no column {c}",
                    rec.len()
                ))
            })?;
            let v: f32 = cell.parse().map_err(|_| {
                invalid(format!(
                    "row {row}, column `{}`: `{cell}` is not a number",
                    col_name(c)
                ))
            })?;
            feats.push(v);
        }
        let cell = rec.get(label_col).ok_or_else(|| {
            invalid(format!(
                "row {row}: has {} columns, no label column {label_col}",
                rec.len()
            ))
        })?;
        labels.push(cell.to_string());
    }
    let (targets, task) = if classification {
        classes_of(&labels)
    } else {
        let mut t = Vec::with_capacity(labels.len());
        for (i, l) in labels.iter().enumerate() {
            t.push(l.parse::<f32>().map_err(|_| {
                invalid(format!(
                    "row {}, column `{}`: `{l}` is not a number",
                    i + first_row,
                    col_name(label_col)
                ))
            })?);
        }
        (t, Task::Regression)
    };
    Ok(Dataset {
        name: shown.to_string(),
        features: feats,
        feature_shape: vec![feature_cols.len()],
        targets,
        task,
        image: None,
    })
}

/// Labels to class indices: whole numbers 0..n keep their value; anything else is a name,
/// numbered in sorted order.
fn classes_of(labels: &[String]) -> (Vec<f32>, Task) {
    let numeric: Option<Vec<usize>> = labels.iter().map(|l| l.parse::<usize>().ok()).collect();
    if let Some(ns) = numeric.filter(|ns| ns.iter().all(|&n| n < 10_000)) {
        let classes = ns.iter().max().map_or(1, |m| m + 1);
        return (
            ns.iter().map(|&n| n as f32).collect(),
            Task::Classification {
                classes,
                names: (0..classes).map(|c| c.to_string()).collect(),
            },
        );
    }
    let mut index = BTreeMap::new();
    for l in labels {
        let next = index.len();
        index.entry(l.clone()).or_insert(next);
    }
    // Sorted names get sorted indices.
    let names: Vec<String> = index.keys().cloned().collect();
    let targets = labels
        .iter()
        .map(|l| names.iter().position(|n| n == l).unwrap_or(0) as f32)
        .collect();
    (
        targets,
        Task::Classification {
            classes: names.len(),
            names,
        },
    )
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let shown = path.display().to_string();
    let err = |e: std::io::Error| DataError::Read {
        path: shown.clone(),
        message: e.to_string(),
    };
    let raw = std::fs::read(path).map_err(err)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(err)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// An IDX header: the element type must be unsigned bytes; returns the dimensions.
fn idx_dims(bytes: &[u8], shown: &str, rank: u8) -> Result<Vec<usize>, DataError> {
    let invalid = |message: String| DataError::Invalid {
        path: shown.to_string(),
        message,
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(invalid("not an IDX file (bad magic number)".into()));
    }
    if bytes[2] != 0x08 {
        return Err(invalid(format!(
            "IDX element type 0x{:02x}: only unsigned bytes (0x08) are read",
            bytes[2]
        )));
    }
    if bytes[3] != rank {
        return Err(invalid(format!(
            "has {} dimensions, expected {rank}",
            bytes[3]
        )));
    }
    let head = 4 + 4 * rank as usize;
    if bytes.len() < head {
        return Err(invalid("truncated header".into()));
    }
    let dims: Vec<usize> = (0..rank as usize)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let want = head + dims.iter().product::<usize>();
    if bytes.len() != want {
        return Err(invalid(format!(
            "{} bytes, but its header announces {want}",
            bytes.len()
        )));
    }
    Ok(dims)
}

/// MNIST-style IDX images (n x h x w bytes) and labels (n bytes), plain or gzipped;
/// pixels scaled to [0, 1].
pub fn idx(images: &Path, labels: &Path) -> Result<Dataset, DataError> {
    let (si, sl) = (images.display().to_string(), labels.display().to_string());
    let ib = read_maybe_gz(images)?;
    let lb = read_maybe_gz(labels)?;
    let idims = idx_dims(&ib, &si, 3)?;
    let ldims = idx_dims(&lb, &sl, 1)?;
    if idims[0] != ldims[0] {
        return Err(DataError::Invalid {
            path: sl,
            message: format!("{} labels for {} images in {si}", ldims[0], idims[0]),
        });
    }
    let (h, w) = (idims[1], idims[2]);
    let features = ib[16..].iter().map(|&b| b as f32 / 255.0).collect();
    let targets: Vec<f32> = lb[8..].iter().map(|&b| b as f32).collect();
    let classes = lb[8..].iter().max().map_or(1, |&m| m as usize + 1);
    Ok(Dataset {
        name: si,
        features,
        feature_shape: vec![h * w],
        targets,
        task: Task::Classification {
            classes,
            names: (0..classes).map(|c| c.to_string()).collect(),
        },
        image: Some((h, w)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_has_1797_images_of_64_pixels_in_ten_classes() {
        let d = digits().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.feature_shape, vec![64]);
        assert_eq!(d.classes(), Some(10));
        assert!(d.features.iter().all(|&v| (0.0..=1.0).contains(&v)));
        // The first row of the file: 0,0,5,13,... label 0.
        assert_eq!(&d.sample(0)[..4], &[0.0, 0.0, 5.0 / 16.0, 13.0 / 16.0]);
        assert_eq!(d.targets[0], 0.0);
        assert_eq!(d.targets[1], 1.0);
    }

    #[test]
    fn csv_reads_named_columns_and_names_classes() {
        let text = "a,b,kind\n1,2,cat\n3,4,dog\n5,6,cat\n";
        let d = csv_from_reader(text.as_bytes(), "pets.csv", &[], "kind", true, true).unwrap();
        assert_eq!(d.features, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(d.targets, vec![0.0, 1.0, 0.0]);
        assert_eq!(
            d.task,
            Task::Classification {
                classes: 2,
                names: vec!["cat".into(), "dog".into()]
            }
        );
        let d = csv_from_reader(
            text.as_bytes(),
            "pets.csv",
            &["b".into()],
            "kind",
            true,
            true,
        )
        .unwrap();
        assert_eq!(d.features, vec![2.0, 4.0, 6.0]);
    }

    #[test]
    fn csv_errors_name_the_file_row_and_column() {
        let text = "a,b,y\n1,2,0\n3,x,1\n";
        let e = csv_from_reader(text.as_bytes(), "bad.csv", &[], "y", true, true)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "bad.csv: row 3, column `b`: `x` is not a number");
        let e = csv_from_reader(text.as_bytes(), "bad.csv", &[], "label", true, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no column `label`") && e.contains("a, b, y"),
            "{e}"
        );
        let e = csv_from_reader("1,2\n3\n".as_bytes(), "short.csv", &[], "1", false, false)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("short.csv: row 2"), "{e}");
    }

    #[test]
    fn idx_files_round_trip_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
        img.extend([0, 255, 255, 0, 51, 0, 0, 51]);
        let lab = vec![0, 0, 8, 1, 0, 0, 0, 2, 7, 3];
        let (pi, pl) = (dir.path().join("i.idx"), dir.path().join("l.idx"));
        std::fs::write(&pi, &img).unwrap();
        std::fs::write(&pl, &lab).unwrap();
        let d = idx(&pi, &pl).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.image, Some((2, 2)));
        assert_eq!(d.sample(0), &[0.0, 1.0, 1.0, 0.0]);
        assert_eq!(d.targets, vec![7.0, 3.0]);
        std::fs::write(&pi, &img[..18]).unwrap();
        let e = idx(&pi, &pl).unwrap_err().to_string();
        assert!(e.contains("i.idx") && e.contains("header announces"), "{e}");
    }
}
