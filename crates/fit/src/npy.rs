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
    let file = npyz::NpyFile::new(&bytes[..])
        .with_context(|| format!("{} is not a valid .npy file", path.display()))?;
    if file.order() != npyz::Order::C {
        bail!(
            "{}: Fortran-ordered arrays are not supported; save with C order",
            path.display()
        );
    }
    let shape: Vec<usize> = file.shape().iter().map(|&s| s as usize).collect();
    let dtype = file.dtype();
    let values = match file.into_vec::<f64>() {
        Ok(v) => v,
        Err(_) => {
            let file = npyz::NpyFile::new(&bytes[..])?;
            file.into_vec::<f32>()
                .map(|v| v.into_iter().map(f64::from).collect())
                .map_err(|_| {
                    anyhow::anyhow!(
                        "{}: dtype {dtype:?} is not supported; use float64",
                        path.display()
                    )
                })?
        }
    };
    Ok((values, shape))
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
