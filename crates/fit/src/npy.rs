//! Reading and writing `.npy` arrays (f64, C order), so results move to numpy without glue.

use crate::run_dir::write_atomic;
use anyhow::{Context, Result, bail};
use npyz::WriterBuilder;
use std::path::Path;

/// Encodes `data` with `shape` as an `.npy` byte buffer.
pub fn encode_npy(data: &[f64], shape: &[usize]) -> Result<Vec<u8>> {
    let expected: usize = shape.iter().product();
    if expected != data.len() {
        bail!("array of {} values cannot have shape {shape:?}", data.len());
    }
    let mut buf = Vec::new();
    {
        let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut buf)
            .begin_nd()?;
        w.extend(data.iter().copied())?;
        w.finish()?;
    }
    Ok(buf)
}

/// Writes an f64 array atomically (temporary file + rename).
pub fn write_npy(path: &Path, data: &[f64], shape: &[usize]) -> Result<()> {
    write_atomic(path, &encode_npy(data, shape)?)
}

/// Reads an `.npy` array of f64 (or f32, widened) in C order; returns values and shape.
pub fn read_npy(path: &Path) -> Result<(Vec<f64>, Vec<usize>)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    decode_npy(&bytes, path)
}

/// Decodes the bytes of an `.npy` file (`path` names it in messages): f64 or f32 (widened),
/// C order, and exactly as many values as the shape says — a truncated or padded file is an
/// error, never a short array.
pub fn decode_npy(bytes: &[u8], path: &Path) -> Result<(Vec<f64>, Vec<usize>)> {
    check_header_shape(bytes, path)?;
    let file = npyz::NpyFile::new(bytes)
        .with_context(|| format!("{} is not a valid .npy file", path.display()))?;
    if file.order() != npyz::Order::C {
        bail!(
            "{}: Fortran-ordered arrays are not supported; save with C order",
            path.display()
        );
    }
    let shape: Vec<usize> = file.shape().iter().map(|&s| s as usize).collect();
    let count = shape
        .iter()
        .try_fold(1u64, |acc, &s| acc.checked_mul(s as u64))
        .filter(|&c| c <= bytes.len() as u64)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: shape {shape:?} needs more values than the file's {} bytes hold",
                path.display(),
                bytes.len()
            )
        })?;
    let dtype = file.dtype();
    let values = match file.into_vec::<f64>() {
        Ok(v) => v,
        Err(e64) => {
            let file = npyz::NpyFile::new(bytes)
                .with_context(|| format!("{} is not a valid .npy file", path.display()))?;
            file.into_vec::<f32>()
                .map(|v| v.into_iter().map(f64::from).collect())
                .map_err(|_| {
                    anyhow::anyhow!(
                        "{}: cannot read the data as float64 ({e64}): dtype {dtype:?} is not \
                         supported (use float64) or the file is truncated",
                        path.display()
                    )
                })?
        }
    };
    if values.len() as u64 != count {
        bail!(
            "{}: shape {shape:?} needs {count} values but the file holds {} (truncated?)",
            path.display(),
            values.len()
        );
    }
    Ok((values, shape))
}

/// Refuses a header whose shape multiplies out beyond 64 bits before npyz computes that product
/// (which overflows) — a corrupt or hostile file must be an error, not a panic.
fn check_header_shape(bytes: &[u8], path: &Path) -> Result<()> {
    if bytes.len() < 10 || !bytes.starts_with(b"\x93NUMPY") {
        return Ok(());
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        _ if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Ok(()),
    };
    let header = String::from_utf8_lossy(&bytes[start..bytes.len().min(start.saturating_add(len))]);
    let Some(at) = header.find("'shape'") else {
        return Ok(());
    };
    let rest = &header[at..];
    let (Some(open), Some(close)) = (rest.find('('), rest.find(')')) else {
        return Ok(());
    };
    if close <= open {
        return Ok(());
    }
    let mut total: u64 = 16;
    for dim in rest[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        let Ok(d) = dim.parse::<u64>() else {
            bail!(
                "{}: .npy header shape ({}) is not a list of sizes",
                path.display(),
                &rest[open + 1..close]
            );
        };
        total = total.checked_mul(d).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: .npy header shape ({}) is too large to be a real array",
                path.display(),
                &rest[open + 1..close]
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("neurodyn-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.npy");
        let data: Vec<f64> = (0..24).map(|x| x as f64 * 0.5).collect();
        write_npy(&p, &data, &[2, 3, 4]).unwrap();
        let (back, shape) = read_npy(&p).unwrap();
        assert_eq!(back, data);
        assert_eq!(shape, vec![2, 3, 4]);
        assert!(write_npy(&p, &data, &[5]).is_err());
    }
}
