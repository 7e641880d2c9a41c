//! Content Credentials (C2PA): `generate` and the kiosk sign pictures with a
//! certificate from the command line or the board file, `verify` reads the
//! manifest (created by a trained model, soft-bound to the watermark),
//! trusts a given CA, and notices an edit; bad credentials are clear errors
//! before any work. The chain is made by openssl per test run
//! (scripts/test_deps.sh installs it).
#![cfg(feature = "c2pa")]

mod common;
use common::fixture;
use edgepaint::board::Board;
use edgepaint::credentials::{read_png, SOFT_BINDING_ALG};
use edgepaint::image::RgbImage;
use edgepaint::kiosk::{Kiosk, ModelInfo, Painter};
use edgepaint::pipeline::{Generated, PipelineError, Progress, Request, Timings};
use edgepaint::watermark::Payload;
use serde_json::Value;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A test root CA and a signing certificate under it (EC P-256, PKCS#8 key):
/// the profile C2PA asks of a signer (not a CA, digitalSignature,
/// emailProtection, an O= in the subject, key identifiers).
struct Chain {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &str) {
    let out = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .expect("openssl (Debian package openssl; scripts/test.sh installs it)");
    assert!(out.status.success(), "openssl {args}: {}", String::from_utf8_lossy(&out.stderr));
}

fn make_chain(dir: &Path) -> Chain {
    std::fs::write(
        dir.join("ca.ext"),
        "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n\
         subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("ee.ext"),
        "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n\
         extendedKeyUsage = emailProtection\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n",
    )
    .unwrap();
    openssl(dir, "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key");
    openssl(dir, "req -new -key ca.key -subj /CN=edgepaint-test-root/O=edgepaint-test -out ca.csr");
    openssl(dir, "x509 -req -in ca.csr -signkey ca.key -sha256 -days 30 -extfile ca.ext -out ca.pem");
    openssl(dir, "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out signer.key");
    openssl(dir, "req -new -key signer.key -subj /CN=edgepaint-test-signer/O=edgepaint-test -out signer.csr");
    openssl(
        dir,
        "x509 -req -in signer.csr -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 30 -extfile ee.ext -out signer.pem",
    );
    Chain { ca: dir.join("ca.pem"), cert: dir.join("signer.pem"), key: dir.join("signer.key") }
}

fn edgepaint(args: &[&std::ffi::OsStr]) -> std::process::Output {
    common::edgepaint_command().args(args).env_remove("EDGEPAINT_MODEL").output().expect("runs")
}

fn generate(out: &Path, extra: &[&std::ffi::OsStr]) -> std::process::Output {
    let model = fixture("bundles/tiny-flow");
    let mut args: Vec<&std::ffi::OsStr> =
        vec!["generate".as_ref(), "a red house".as_ref(), "--seed".as_ref(), "3".as_ref()];
    args.extend(["--model".as_ref(), model.as_os_str(), "--output".as_ref(), out.as_os_str()]);
    args.extend(extra);
    edgepaint(&args)
}

fn verify(file: &Path, anchors: Option<&Path>) -> Value {
    let mut args: Vec<&std::ffi::OsStr> = vec!["verify".as_ref(), "--json".as_ref(), file.as_os_str()];
    if let Some(a) = anchors {
        args.extend(["--trust-anchors".as_ref(), a.as_os_str()]);
    }
    let out = edgepaint(&args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn generate_signs_and_verify_reads_trusts_and_notices_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let chain = make_chain(dir.path());
    let png = dir.path().join("signed.png");
    let out = generate(&png, &["--c2pa-cert".as_ref(), chain.cert.as_os_str(), "--c2pa-key".as_ref(), chain.key.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let v = verify(&png, None);
    assert_eq!(v["watermark"], true);
    let c = &v["c2pa"];
    assert_eq!(c["state"], "valid", "{c}");
    assert_eq!(c["failures"], serde_json::json!(["signingCredential.untrusted"]), "an unknown signer is not trusted");
    assert_eq!(c["actions"][0]["action"], "c2pa.created");
    assert_eq!(
        c["actions"][0]["digital_source_type"],
        "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    );
    assert_eq!(c["soft_binding"]["alg"], SOFT_BINDING_ALG);
    assert_eq!(c["soft_binding"]["matches_watermark"], true, "{c}");
    assert!(c["generator"].as_str().unwrap().starts_with("edgepaint"), "{c}");
    assert!(c["signed_by"].as_str().unwrap().contains("edgepaint-test"), "{c}");

    let trusted = verify(&png, Some(&chain.ca));
    assert_eq!(trusted["c2pa"]["state"], "trusted", "{}", trusted["c2pa"]);

    // The prompt in the PNG's text changed (chunk CRC fixed, so the file
    // still reads): the manifest's hash no longer matches.
    let edited = dir.path().join("edited.png");
    std::fs::write(&edited, edit_prompt(&std::fs::read(&png).unwrap())).unwrap();
    let e = verify(&edited, Some(&chain.ca));
    assert_eq!(e["watermark"], true);
    assert_eq!(e["c2pa"]["state"], "invalid", "{}", e["c2pa"]);
    assert!(e["c2pa"]["failures"].to_string().contains("assertion.dataHash.mismatch"), "{}", e["c2pa"]);

    // A certificate C2PA refuses (no extended key usage): the picture is
    // saved all the same, unsigned, and --json says why.
    std::fs::write(
        dir.path().join("noeku.ext"),
        "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n\
         subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n",
    )
    .unwrap();
    openssl(
        dir.path(),
        "x509 -req -in signer.csr -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 30 -extfile noeku.ext -out noeku.pem",
    );
    let unsigned = dir.path().join("unsigned.png");
    let noeku = dir.path().join("noeku.pem");
    let out = generate(&unsigned, &["--c2pa-cert".as_ref(), noeku.as_os_str(), "--c2pa-key".as_ref(), chain.key.as_os_str(), "--json".as_ref()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["c2pa"]["signed"], false);
    assert!(reply["c2pa"]["error"].as_str().unwrap().contains("extended key usage"), "{reply}");
    let v = verify(&unsigned, None);
    assert_eq!((v["watermark"].clone(), v["c2pa"].clone()), (Value::Bool(true), Value::Null));

    // Unsigned pictures have none, and say nothing about them.
    let plain = dir.path().join("plain.png");
    assert!(generate(&plain, &[]).status.success());
    assert_eq!(verify(&plain, None)["c2pa"], Value::Null);
}

/// `png` with one letter of its `prompt` text chunk changed.
fn edit_prompt(png: &[u8]) -> Vec<u8> {
    let mut out = png.to_vec();
    let mut at = 8;
    while at + 12 <= out.len() {
        let len = u32::from_be_bytes(out[at..at + 4].try_into().unwrap()) as usize;
        let (kind, data) = (at + 4, at + 8);
        if &out[kind..kind + 4] == b"iTXt" && out[data..].starts_with(b"prompt\0") {
            let text = data + len - 1; // the last letter of the prompt
            out[text] = if out[text] == b'x' { b'y' } else { b'x' };
            let crc = crc32(&out[kind..data + len]);
            out[data + len..data + len + 4].copy_from_slice(&crc.to_be_bytes());
            return out;
        }
        at += 12 + len;
    }
    panic!("no prompt chunk");
}

/// PNG's CRC-32 (flate2 carries the same one).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

#[test]
fn bad_credentials_are_clear_errors_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let chain = make_chain(dir.path());
    let png = dir.path().join("x.png");
    // A SEC1 key (what `openssl ecparam -genkey` writes).
    openssl(dir.path(), "ec -in signer.key -out sec1.key");
    let sec1 = dir.path().join("sec1.key");
    let missing = dir.path().join("nope.pem");
    let cases: [(&[&std::ffi::OsStr], &str); 4] = [
        (&["--c2pa-cert".as_ref(), chain.cert.as_os_str(), "--c2pa-key".as_ref(), sec1.as_os_str()], "PKCS#8"),
        (&["--c2pa-cert".as_ref(), missing.as_os_str(), "--c2pa-key".as_ref(), chain.key.as_os_str()], "nope.pem"),
        (&["--c2pa-cert".as_ref(), chain.cert.as_os_str()], "--c2pa-key"),
        (
            &["--c2pa-cert".as_ref(), chain.cert.as_os_str(), "--c2pa-key".as_ref(), chain.key.as_os_str(), "--c2pa-alg".as_ref(), "md5".as_ref()],
            "unknown signing algorithm",
        ),
    ];
    for (args, says) in cases {
        let out = generate(&png, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{args:?}: {err}");
        assert!(!png.exists(), "{args:?}: no picture is made with bad credentials");
    }
}

const MODEL_SHA: &str = "3fa2000000000000000000000000000000000000000000000000000000000000";

struct Fake;

impl Painter for Fake {
    fn describe(&self) -> ModelInfo {
        ModelInfo { name: "fake".into(), model_sha256: MODEL_SHA.into(), steps: vec![1], default_steps: 1, scorer: false }
    }
    fn paint(&mut self, request: &Request, _: &mut dyn FnMut(Progress) -> ControlFlow<()>) -> Result<Generated, PipelineError> {
        let pixels = (0..96 * 96 * 3).map(|i| ((i / 3 % 96) * 2 + (i / 288) + i % 3 * 40) as u8).collect();
        let image = RgbImage { width: 96, height: 96, pixels };
        Ok(Generated { image, seed: request.seed, steps: 1, prompt_truncated: false, timings: Timings::default() })
    }
    fn metadata(&self, prompt: &str, _seed: u64, _steps: usize) -> Vec<(String, String)> {
        vec![("prompt".into(), prompt.into())]
    }
}

#[test]
fn the_kiosk_signs_with_the_board_files_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let chain = make_chain(dir.path());
    let text = format!(
        "name = \"hall-3\"\n[output]\ndir = {:?}\n[provenance]\ndevice_id = 77\nc2pa_cert = {:?}\nc2pa_key = {:?}\n",
        dir.path().join("pictures").display().to_string(),
        chain.cert.display().to_string(),
        chain.key.display().to_string()
    );
    let board = Board::parse(&text, "test.toml").unwrap();
    let mut kiosk = Kiosk::new(&board, Box::new(Fake), None).unwrap();
    let (reader, mut input) = std::io::pipe().unwrap();
    let replies = common::Replies::default();
    kiosk.add_source("test", reader, Box::new(replies.clone()));
    let handle = std::thread::spawn(move || kiosk.run().unwrap());
    input.write_all(b"a quiet lake\n").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !String::from_utf8_lossy(&replies.0.lock().unwrap()).contains("\"done\"") {
        assert!(std::time::Instant::now() < deadline, "no picture");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drop(input);
    handle.join().unwrap();
    let text = String::from_utf8(replies.0.lock().unwrap().clone()).unwrap();
    let done: Value = text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|v| v["event"] == "done").unwrap();
    let bytes = std::fs::read(done["path"].as_str().unwrap()).unwrap();
    let c = read_png(&bytes, None).unwrap().expect("the kiosk's picture carries Content Credentials");
    assert_eq!(c.state, "valid");
    let (alg, value) = c.soft_binding.expect("a soft binding");
    assert_eq!((alg.as_str(), value), (SOFT_BINDING_ALG, hex::encode(Payload::new(MODEL_SHA, 77).to_bytes())));

    // Half a pair in the board file is refused when the kiosk starts.
    let half = format!("name = \"x\"\n[output]\ndir = {:?}\n[provenance]\nc2pa_cert = \"a.pem\"\n", dir.path().display().to_string());
    let err = Kiosk::new(&Board::parse(&half, "t.toml").unwrap(), Box::new(Fake), None).err().expect("refused");
    assert!(err.to_string().contains("c2pa_cert and c2pa_key go together"), "{err}");
}
