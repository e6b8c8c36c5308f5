//! Shared pieces of the natural-scene-statistics metrics (NIQE, BRISQUE): the gamma
//! function, a Gaussian window, and the little readers of their model files (`.npy`
//! float64 arrays inside `.npz`, the numbers of OpenCV's YAML).

use std::{io::Read, path::Path};

use anyhow::{bail, ensure, Context, Result};

/// Γ(x) for x > 0 (Lanczos approximation, g = 7, 9 terms; relative error about 1e-15),
/// with the reflection formula below 0.5.
pub fn gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return std::f64::consts::PI / ((std::f64::consts::PI * x).sin() * gamma(1.0 - x));
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * a
}

/// A float64 array from a `.npy` file's bytes, in C (row-major) order, with its shape.
pub fn parse_npy_f64(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f64>)> {
    ensure!(bytes.len() > 10 && &bytes[..6] == b"\x93NUMPY", "not a .npy array");
    let (header_len, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
    };
    let header = std::str::from_utf8(bytes.get(start..start + header_len).context("truncated .npy header")?)?;
    ensure!(header.contains("'<f8'"), "a .npy of float64 expected, header {header}");
    let fortran = header.contains("'fortran_order': True");
    let shape_text = header.split("'shape': (").nth(1).and_then(|s| s.split(')').next()).context("no shape")?;
    let shape: Vec<usize> =
        shape_text.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse()).collect::<Result<_, _>>()?;
    let count: usize = shape.iter().product();
    let raw = &bytes[start + header_len..];
    ensure!(raw.len() == 8 * count, "{} bytes of data for shape {shape:?}, expected {}", raw.len(), 8 * count);
    let data: Vec<f64> = raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
    if !fortran || shape.len() < 2 {
        return Ok((shape, data));
    }
    ensure!(shape.len() == 2, "Fortran-order arrays of {} dimensions are not supported", shape.len());
    let (rows, cols) = (shape[0], shape[1]);
    let mut c_order = vec![0.0; count];
    for r in 0..rows {
        for c in 0..cols {
            c_order[r * cols + c] = data[c * rows + r];
        }
    }
    Ok((shape, c_order))
}

/// Reads the named arrays of a `.npz` file.
pub fn read_npz(path: &Path, names: &[&str]) -> Result<Vec<(Vec<usize>, Vec<f64>)>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}; run scripts/setup", path.display()))?;
    let mut zip = zip::ZipArchive::new(file).with_context(|| format!("{} is not a .npz file", path.display()))?;
    names
        .iter()
        .map(|name| {
            let mut entry =
                zip.by_name(&format!("{name}.npy")).with_context(|| format!("{}: no {name}", path.display()))?;
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            parse_npy_f64(&bytes).with_context(|| format!("{}: {name}", path.display()))
        })
        .collect()
}

/// The numbers of a bracketed list `[ a, b, … ]` that starts after `key` in OpenCV YAML text.
pub fn yaml_list(text: &str, key: &str) -> Result<Vec<f64>> {
    let at = text.find(key).with_context(|| format!("no {key:?} in the YAML"))?;
    let rest = &text[at + key.len()..];
    let open = rest.find('[').context("no list after the key")?;
    let close = rest[open..].find(']').context("an unclosed list")? + open;
    numbers(&rest[open + 1..close])
}

/// A scalar `key: value` of OpenCV YAML text (the first occurrence).
pub fn yaml_scalar(text: &str, key: &str) -> Result<f64> {
    let at = text.find(key).with_context(|| format!("no {key:?} in the YAML"))?;
    let line = text[at + key.len()..].lines().next().unwrap_or_default();
    let value = line.trim().trim_end_matches(['}', ' ']);
    value.parse::<f64>().with_context(|| format!("{key} {value:?} is not a number"))
}

/// Comma/whitespace separated numbers.
pub fn numbers(text: &str) -> Result<Vec<f64>> {
    text.split([',', ' ', '\n', '\r', '\t'])
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<f64>().with_context(|| format!("{s:?} is not a number")))
        .collect()
}

/// Errors when `n` is not the expected count.
pub fn expect_len<T>(what: &str, v: &[T], n: usize) -> Result<()> {
    if v.len() != n {
        bail!("{what}: {} values, expected {n}", v.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_matches_known_values() {
        for (x, want) in [(1.0, 1.0), (0.5, std::f64::consts::PI.sqrt()), (5.0, 24.0), (0.1, 9.513507698668732)] {
            let got = gamma(x);
            assert!(((got - want) / want).abs() < 1e-13, "Γ({x}) = {got}, expected {want}");
        }
    }

    #[test]
    fn npy_reads_fortran_order_as_c_order() {
        let header = "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        // Column-major storage of [[1, 2, 3], [4, 5, 6]].
        for v in [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let (shape, data) = parse_npy_f64(&bytes).unwrap();
        assert_eq!((shape, data), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    }

    #[test]
    fn yaml_numbers() {
        let text = "kernel:\n   gamma: 5.0e-02\n   rho: -1.5e+02\n   alpha: [ -1024., 3.5,\n 1024. ]\n";
        assert_eq!(yaml_scalar(text, "gamma:").unwrap(), 0.05);
        assert_eq!(yaml_scalar(text, "rho:").unwrap(), -150.0);
        assert_eq!(yaml_list(text, "alpha:").unwrap(), vec![-1024.0, 3.5, 1024.0]);
    }
}
