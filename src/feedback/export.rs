//! The feedback log as a table for preference fine-tuning: one row per
//! rated picture, or (DPO-style) pairs of a liked and a disliked picture of
//! the same prompt and model.

use super::{Entry, Rating};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub prompt: String,
    pub seed: u64,
    pub steps: usize,
    pub model_sha256: String,
    pub image_sha256: String,
    pub ups: u32,
    pub downs: u32,
    /// More ups than downs: up; more downs: down; a tie: the latest vote.
    pub rating: Rating,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    pub prompt: String,
    pub model_sha256: String,
    pub chosen_seed: u64,
    pub chosen_steps: usize,
    pub chosen_image_sha256: String,
    pub rejected_seed: u64,
    pub rejected_steps: usize,
    pub rejected_image_sha256: String,
}

/// One row per picture, in the order pictures were first rated.
pub fn rows(entries: &[Entry]) -> Vec<Row> {
    let mut order: Vec<String> = Vec::new();
    let mut by_image: BTreeMap<String, (Row, Rating)> = BTreeMap::new();
    for e in entries {
        let slot = by_image.entry(e.image_sha256.clone()).or_insert_with(|| {
            order.push(e.image_sha256.clone());
            let row = Row {
                prompt: e.prompt.clone(),
                seed: e.seed,
                steps: e.steps,
                model_sha256: e.model_sha256.clone(),
                image_sha256: e.image_sha256.clone(),
                ups: 0,
                downs: 0,
                rating: e.rating,
            };
            (row, e.rating)
        });
        match e.rating {
            Rating::Up => slot.0.ups += 1,
            Rating::Down => slot.0.downs += 1,
        }
        slot.1 = e.rating;
    }
    order
        .iter()
        .map(|k| {
            let (mut row, latest) = by_image.remove(k).expect("every key is ordered once");
            row.rating = match row.ups.cmp(&row.downs) {
                std::cmp::Ordering::Greater => Rating::Up,
                std::cmp::Ordering::Less => Rating::Down,
                std::cmp::Ordering::Equal => latest,
            };
            row
        })
        .collect()
}

/// Every (liked, disliked) combination of pictures of the same prompt and model.
pub fn pairs(rows: &[Row]) -> Vec<Pair> {
    let mut out = Vec::new();
    for up in rows.iter().filter(|r| r.rating == Rating::Up) {
        for down in rows.iter().filter(|r| r.rating == Rating::Down) {
            if up.prompt == down.prompt && up.model_sha256 == down.model_sha256 {
                out.push(Pair {
                    prompt: up.prompt.clone(),
                    model_sha256: up.model_sha256.clone(),
                    chosen_seed: up.seed,
                    chosen_steps: up.steps,
                    chosen_image_sha256: up.image_sha256.clone(),
                    rejected_seed: down.seed,
                    rejected_steps: down.steps,
                    rejected_image_sha256: down.image_sha256.clone(),
                });
            }
        }
    }
    out
}

/// RFC 4180 CSV of serializable flat records (header from the first one).
/// Written here: a flat record of strings and numbers needs only quoting.
pub fn to_csv<T: Serialize>(records: &[T], header: &[&str]) -> String {
    let mut out = header.join(",");
    out.push('\n');
    for r in records {
        let v = serde_json::to_value(r).expect("records serialize");
        let cells: Vec<String> = header
            .iter()
            .map(|h| match &v[*h] {
                serde_json::Value::String(s) => quote(s),
                other => other.to_string(),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

pub const ROW_COLUMNS: &[&str] = &["prompt", "seed", "steps", "model_sha256", "image_sha256", "ups", "downs", "rating"];
pub const PAIR_COLUMNS: &[&str] = &[
    "prompt",
    "model_sha256",
    "chosen_seed",
    "chosen_steps",
    "chosen_image_sha256",
    "rejected_seed",
    "rejected_steps",
    "rejected_image_sha256",
];

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(prompt: &str, image: &str, rating: Rating) -> Entry {
        Entry {
            time: "2026-01-01T00:00:00Z".into(),
            kiosk: "k".into(),
            prompt: prompt.into(),
            seed: image.len() as u64,
            steps: 4,
            model_sha256: "m".into(),
            image_sha256: image.into(),
            rating,
        }
    }

    #[test]
    fn one_row_per_picture_and_pairs_per_prompt() {
        let log = [
            e("a house", "h1", Rating::Up),
            e("a house", "h2", Rating::Down),
            e("a house", "h1", Rating::Up),
            e("a tree", "t1", Rating::Up),
            e("a house", "h3", Rating::Down),
            e("a tree", "t1", Rating::Down),
        ];
        let rows = rows(&log);
        assert_eq!(rows.iter().map(|r| r.image_sha256.as_str()).collect::<Vec<_>>(), ["h1", "h2", "t1", "h3"]);
        assert_eq!((rows[0].ups, rows[0].downs, rows[0].rating), (2, 0, Rating::Up));
        assert_eq!(rows[2].rating, Rating::Down, "a tie goes to the latest vote");
        let pairs = pairs(&rows);
        let got: Vec<_> = pairs.iter().map(|p| (p.chosen_image_sha256.as_str(), p.rejected_image_sha256.as_str())).collect();
        assert_eq!(got, [("h1", "h2"), ("h1", "h3")]);
        let csv = to_csv(&rows[..1], ROW_COLUMNS);
        assert_eq!(csv, "prompt,seed,steps,model_sha256,image_sha256,ups,downs,rating\na house,2,4,m,h1,2,0,up\n");
        assert_eq!(quote("a \"red\", house"), "\"a \"\"red\"\", house\"");
    }
}
