//! Summary of repeated timings.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Samples {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub runs: usize,
}

impl Samples {
    /// `values` must not be empty.
    pub fn new(mut values: Vec<f64>) -> Samples {
        assert!(!values.is_empty(), "no samples");
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
        Samples { min: values[0], median, max: values[n - 1], runs: n }
    }
}

#[cfg(test)]
mod tests {
    use super::Samples;

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = Samples::new(vec![3.0, 1.0, 2.0]);
        assert_eq!((s.min, s.median, s.max, s.runs), (1.0, 2.0, 3.0, 3));
        let s = Samples::new(vec![4.0, 1.0, 3.0, 2.0]);
        assert_eq!(s.median, 2.5);
    }
}
