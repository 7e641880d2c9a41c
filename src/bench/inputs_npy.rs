//! Write the bench's fixed inputs as .npy, so `scripts/bench/bench_compare.py`
//! feeds onnxruntime exactly the tensors edgepaint ran on.

use npyz::WriterBuilder;
use std::io::BufWriter;
use std::path::Path;

pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> std::io::Result<()> {
    write(path, shape, data.iter().copied())
}

pub fn write_i64(path: &Path, shape: &[usize], data: &[i64]) -> std::io::Result<()> {
    write(path, shape, data.iter().copied())
}

fn write<T: npyz::AutoSerialize>(path: &Path, shape: &[usize], data: impl IntoIterator<Item = T>) -> std::io::Result<()> {
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let file = BufWriter::new(std::fs::File::create(path)?);
    let mut writer = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(file).begin_nd()?;
    writer.extend(data)?;
    writer.finish()
}
