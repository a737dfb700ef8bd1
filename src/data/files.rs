//! Datasets from files: the shipped digits, CSV, MNIST-style IDX. Every error names the file
//! and, where there is one, the row and column.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use super::{DataError, Dataset, LabelPlace, MAX_CLASSES, Task};
use crate::analysis::human_bytes;

/// The 8x8 digits (see assets/README.md for the credit), compiled in so the app works from
/// any folder and offline.
const DIGITS_GZ: &[u8] = include_bytes!("../../assets/digits.csv.gz");

/// How many images `digits` has.
pub const DIGITS: usize = 1797;

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
        u64::MAX,
    )?;
    for v in &mut d.features {
        *v /= 16.0;
    }
    d.name = "digits 8x8".into();
    d.image = Some((8, 8));
    // Its rows are no file of the student's: name samples by number.
    d.labels_from = None;
    d.task = Task::Classification {
        classes: 10,
        names: (0..10).map(|c| c.to_string()).collect(),
    };
    Ok(d)
}

/// A CSV file: `features` and `label` are header names (or 0-based column numbers without
/// a header); no features means every column but the label. A file larger than `budget`
/// bytes is refused before it is read, and rows are read one at a time, so the samples are
/// refused at the row where they pass the budget.
pub fn csv(
    path: &Path,
    features: &[String],
    label: &str,
    header: bool,
    classification: bool,
    budget: u64,
) -> Result<Dataset, DataError> {
    let shown = path.display().to_string();
    let read_err = |e: std::io::Error| DataError::Read {
        path: shown.clone(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    if size > budget {
        return Err(DataError::Invalid {
            path: shown,
            message: too_big(size, budget),
        });
    }
    csv_from_reader(
        file,
        &shown,
        features,
        label,
        header,
        classification,
        budget,
    )
}

fn too_big(size: u64, budget: u64) -> String {
    format!(
        "the file is {}, more than the memory budget of {}: use a smaller file (or raise \
         NODEGRAD_MEMORY_MB)",
        human_bytes(size),
        human_bytes(budget)
    )
}

/// A number cell of row `row`: it must parse, be finite, and stay finite in f32.
fn number(cell: &str, row: usize, column: &str) -> Result<f32, String> {
    let at = format!("row {row}, column `{column}`");
    let v: f64 = cell
        .parse()
        .map_err(|_| format!("{at}: `{cell}` is not a number"))?;
    if !v.is_finite() {
        return Err(format!(
            "{at}: `{cell}` is not a finite number: fill in the missing value or drop the row"
        ));
    }
    let f = v as f32;
    if !f.is_finite() {
        return Err(format!(
            "{at}: `{cell}` is outside the range of f32 (about ±3.4e38): scale the column"
        ));
    }
    Ok(f)
}

fn csv_from_reader<R: Read>(
    reader: R,
    shown: &str,
    features: &[String],
    label: &str,
    header: bool,
    classification: bool,
    budget: u64,
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
    let first_row = if header { 2 } else { 1 };
    let mut records = rdr
        .records()
        .enumerate()
        .map(|(i, rec)| rec.map_err(|e| invalid(format!("row {}: {e}", i + first_row))));
    let first = records.next().transpose()?;
    let width = first.as_ref().map(|r| r.len()).unwrap_or(names.len());
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
    let sample_bytes = super::dataset_bytes(1, feature_cols.len()).unwrap_or(u64::MAX);
    let mut used: u64 = 0;
    let mut feats = Vec::new();
    let mut labels = Vec::new();
    for (i, rec) in first.into_iter().map(Ok).chain(records).enumerate() {
        let rec = rec?;
        let row = i + first_row;
        // The sample, plus its label text until the labels become numbers.
        used = used
            .saturating_add(sample_bytes)
            .saturating_add(rec.get(label_col).map_or(0, |l| l.len() as u64 + 24));
        if used > budget {
            return Err(invalid(format!(
                "row {row}: {i} samples of {} feature(s) already fill the memory budget of \
                 {}: use fewer rows or columns (or raise NODEGRAD_MEMORY_MB)",
                feature_cols.len(),
                human_bytes(budget)
            )));
        }
        for &c in &feature_cols {
            let cell = rec.get(c).ok_or_else(|| {
                invalid(format!(
                    "row {row}: has {} columns, no column {c}",
                    rec.len()
                ))
            })?;
            feats.push(number(cell, row, &col_name(c)).map_err(invalid)?);
        }
        let cell = rec.get(label_col).ok_or_else(|| {
            invalid(format!(
                "row {row}: has {} columns, no label column {label_col}",
                rec.len()
            ))
        })?;
        // A label that reads as NaN or infinity is a missing value, not a class name.
        if cell.parse::<f64>().is_ok_and(|v| !v.is_finite()) || !classification {
            number(cell, row, &col_name(label_col)).map_err(invalid)?;
        }
        labels.push(cell.to_string());
    }
    let (targets, task) = if classification {
        classes_of(&labels, &col_name(label_col)).map_err(invalid)?
    } else {
        // Every label was checked above.
        let t = labels.iter().map(|l| l.parse::<f32>().unwrap_or(f32::NAN));
        (t.collect(), Task::Regression)
    };
    Ok(Dataset {
        name: shown.to_string(),
        features: feats,
        feature_shape: vec![feature_cols.len()],
        targets,
        task,
        image: None,
        labels_from: Some(LabelPlace::Csv {
            path: shown.to_string(),
            column: col_name(label_col),
            first_row,
        }),
    })
}

/// Labels to class indices: whole numbers 0..n keep their value; anything else is a name,
/// numbered in sorted order. More than `MAX_CLASSES` classes is refused.
fn classes_of(labels: &[String], column: &str) -> Result<(Vec<f32>, Task), String> {
    let numeric: Option<Vec<usize>> = labels.iter().map(|l| l.parse::<usize>().ok()).collect();
    if let Some(ns) = numeric.filter(|ns| ns.iter().all(|&n| n < MAX_CLASSES)) {
        let classes = ns.iter().max().map_or(1, |m| m + 1);
        return Ok((
            ns.iter().map(|&n| n as f32).collect(),
            Task::Classification {
                classes,
                names: (0..classes).map(|c| c.to_string()).collect(),
            },
        ));
    }
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for l in labels {
        index.entry(l.as_str()).or_insert(0);
        if index.len() > MAX_CLASSES {
            return Err(format!(
                "column `{column}` has more than {MAX_CLASSES} different labels: is it the \
                 label column? For values to fit, set `classification: false`"
            ));
        }
    }
    // Sorted names get sorted indices.
    for (i, v) in index.values_mut().enumerate() {
        *v = i;
    }
    let targets = labels.iter().map(|l| index[l.as_str()] as f32).collect();
    let names: Vec<String> = index.keys().map(|k| k.to_string()).collect();
    Ok((
        targets,
        Task::Classification {
            classes: names.len(),
            names,
        },
    ))
}

/// The file's bytes, gunzipped when it starts with gzip's magic number. A file, or its
/// decompressed content, larger than `budget` is refused before it is held.
fn read_maybe_gz(path: &Path, budget: u64) -> Result<Vec<u8>, DataError> {
    let shown = path.display().to_string();
    let err = |e: std::io::Error| DataError::Read {
        path: shown.clone(),
        message: e.to_string(),
    };
    let size = std::fs::metadata(path).map_err(err)?.len();
    if size > budget {
        return Err(DataError::Invalid {
            path: shown,
            message: too_big(size, budget),
        });
    }
    let raw = std::fs::read(path).map_err(err)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .take(budget.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(err)?;
        if out.len() as u64 > budget {
            return Err(DataError::Invalid {
                path: shown,
                message: format!(
                    "decompresses to more than the memory budget of {}: use a smaller file \
                     (or raise NODEGRAD_MEMORY_MB)",
                    human_bytes(budget)
                ),
            });
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// An IDX header: the element type must be unsigned bytes; returns the dimensions. The
/// announced size is computed with checked arithmetic and must be the file's size.
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
    let shown_dims = dims
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" x ");
    let want = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_add(head));
    let Some(want) = want else {
        return Err(invalid(format!(
            "its header announces {shown_dims} bytes, more than 64 bits can count: the \
             header is damaged"
        )));
    };
    if bytes.len() != want {
        return Err(invalid(format!(
            "{} bytes, but its header announces {shown_dims} (+ {head} header bytes) = {want}",
            bytes.len()
        )));
    }
    Ok(dims)
}

/// MNIST-style IDX images (n x h x w bytes) and labels (n bytes), plain or gzipped;
/// pixels scaled to [0, 1]. Refused when the f32 pixels would pass `budget` bytes.
pub fn idx(images: &Path, labels: &Path, budget: u64) -> Result<Dataset, DataError> {
    let (si, sl) = (images.display().to_string(), labels.display().to_string());
    let ib = read_maybe_gz(images, budget)?;
    let lb = read_maybe_gz(labels, budget)?;
    let idims = idx_dims(&ib, &si, 3)?;
    let ldims = idx_dims(&lb, &sl, 1)?;
    if idims[0] != ldims[0] {
        return Err(DataError::Invalid {
            path: sl,
            message: format!("{} labels for {} images in {si}", ldims[0], idims[0]),
        });
    }
    let (n, h, w) = (idims[0], idims[1], idims[2]);
    // idx_dims checked that h * w * n bytes fit (they are in the file).
    let pixels = h * w;
    if let Some(why) = super::over_budget(n, pixels, budget) {
        return Err(DataError::Invalid {
            path: si,
            message: format!("{n} images of {h} x {w} pixels: {why}"),
        });
    }
    let features = ib[16..].iter().map(|&b| b as f32 / 255.0).collect();
    let targets: Vec<f32> = lb[8..].iter().map(|&b| b as f32).collect();
    let classes = lb[8..].iter().max().map_or(1, |&m| m as usize + 1);
    Ok(Dataset {
        name: si,
        features,
        feature_shape: vec![pixels],
        targets,
        task: Task::Classification {
            classes,
            names: (0..classes).map(|c| c.to_string()).collect(),
        },
        image: Some((h, w)),
        labels_from: Some(LabelPlace::Idx { path: sl }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = u64::MAX;

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
        let d = csv_from_reader(text.as_bytes(), "pets.csv", &[], "kind", true, true, MAX).unwrap();
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
            MAX,
        )
        .unwrap();
        assert_eq!(d.features, vec![2.0, 4.0, 6.0]);
    }

    #[test]
    fn csv_errors_name_the_file_row_and_column() {
        let text = "a,b,y\n1,2,0\n3,x,1\n";
        let e = csv_from_reader(text.as_bytes(), "bad.csv", &[], "y", true, true, MAX)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "bad.csv: row 3, column `b`: `x` is not a number");
        let e = csv_from_reader(text.as_bytes(), "bad.csv", &[], "label", true, true, MAX)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no column `label`") && e.contains("a, b, y"),
            "{e}"
        );
        let e = csv_from_reader(
            "1,2\n3\n".as_bytes(),
            "short.csv",
            &[],
            "1",
            false,
            false,
            MAX,
        )
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
        let d = idx(&pi, &pl, MAX).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.image, Some((2, 2)));
        assert_eq!(d.sample(0), &[0.0, 1.0, 1.0, 0.0]);
        assert_eq!(d.targets, vec![7.0, 3.0]);
        std::fs::write(&pi, &img[..18]).unwrap();
        let e = idx(&pi, &pl, MAX).unwrap_err().to_string();
        assert!(e.contains("i.idx") && e.contains("header announces"), "{e}");
    }

    #[test]
    fn an_idx_header_past_64_bits_or_past_the_budget_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (pi, pl) = (dir.path().join("i.idx"), dir.path().join("l.idx"));
        // 4294967295 x 4294967295 x 4294967295 images: wraps to a small number unchecked.
        let mut img = vec![0, 0, 8, 3];
        img.extend([0xff; 12]);
        img.extend([0; 8]);
        std::fs::write(&pi, &img).unwrap();
        std::fs::write(&pl, [0, 0, 8, 1, 0, 0, 0, 1, 0]).unwrap();
        let e = idx(&pi, &pl, MAX).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: its header announces 4294967295 x 4294967295 x 4294967295 bytes, more than 64 bits", pi.display())),
            "{e}"
        );
        // 2 images of 2 x 2 bytes, but 6 data bytes in the file.
        let mut img = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
        img.extend([0; 6]);
        std::fs::write(&pi, &img).unwrap();
        std::fs::write(&pl, [0, 0, 8, 1, 0, 0, 0, 2, 0, 1]).unwrap();
        let e = idx(&pi, &pl, MAX).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: 22 bytes, but its header announces 2 x 2 x 2 (+ 16 header bytes) = 24",
                pi.display()
            )
        );
        // The right size, but 2 images of 2 x 2 pixels as f32 (and their labels) pass a
        // 60-byte budget (2 x (5 x 4 + 16) = 72 bytes).
        img.extend([0; 2]);
        std::fs::write(&pi, &img).unwrap();
        let e = idx(&pi, &pl, 60).unwrap_err().to_string();
        assert!(
            e.contains("i.idx: 2 images of 2 x 2 pixels: 2 samples of 4 feature(s) need 72 B, but the memory budget is 60 B: use at most 1 samples"),
            "{e}"
        );
        // A gzip bomb: 1 MiB of zeros from a file of about 1 KiB, with a 64 KiB budget.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &vec![0u8; 1 << 20]).unwrap();
        std::fs::write(&pi, gz.finish().unwrap()).unwrap();
        let e = idx(&pi, &pl, 1 << 16).unwrap_err().to_string();
        assert!(
            e.contains("i.idx: decompresses to more than the memory budget of 64.0 KiB"),
            "{e}"
        );
    }

    #[test]
    fn csv_non_finite_cells_are_named_at_their_row_and_column() {
        let cases = [
            (
                "x,y\n1,0\nNaN,1\n",
                true,
                "nan.csv: row 3, column `x`: `NaN` is not a finite number: fill in the missing value or drop the row",
            ),
            (
                "x,y\n1,0\n2,inf\n",
                false,
                "nan.csv: row 3, column `y`: `inf` is not a finite number: fill in the missing value or drop the row",
            ),
            (
                "x,y\n1,0\n2,NaN\n",
                true,
                "nan.csv: row 3, column `y`: `NaN` is not a finite number: fill in the missing value or drop the row",
            ),
            (
                "x,y\n1e39,0\n",
                true,
                "nan.csv: row 2, column `x`: `1e39` is outside the range of f32 (about ±3.4e38): scale the column",
            ),
        ];
        for (text, classification, want) in cases {
            let e = csv_from_reader(
                text.as_bytes(),
                "nan.csv",
                &[],
                "y",
                true,
                classification,
                MAX,
            )
            .unwrap_err()
            .to_string();
            assert_eq!(e, want);
        }
    }

    #[test]
    fn csv_rows_past_the_budget_are_refused_at_their_row() {
        // Each sample of 2 features takes 3 x 4 + 16 = 28 bytes, its label text 1 + 24.
        let text = "a,b,y\n1,2,0\n3,4,1\n5,6,0\n";
        let e = csv_from_reader(text.as_bytes(), "big.csv", &[], "y", true, true, 120)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "big.csv: row 4: 2 samples of 2 feature(s) already fill the memory budget of 120 B: \
             use fewer rows or columns (or raise NODEGRAD_MEMORY_MB)"
        );
        assert_eq!(
            csv_from_reader(text.as_bytes(), "big.csv", &[], "y", true, true, 159)
                .unwrap()
                .len(),
            3
        );
        let many: String = (0..=MAX_CLASSES).map(|i| format!("0,c{i}\n")).collect();
        let e = csv_from_reader(many.as_bytes(), "names.csv", &[], "1", false, true, MAX)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "names.csv: column `1` has more than 10000 different labels: is it the label \
             column? For values to fit, set `classification: false`"
        );
    }
}
