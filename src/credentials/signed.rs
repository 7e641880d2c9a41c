//! Signing and reading C2PA manifests with the c2pa crate (pure-Rust
//! crypto, no network: no timestamp authority, no remote manifests).

use super::{Credentials, CredentialsError, SOFT_BINDING_ALG};
use crate::watermark::Payload;
use c2pa::assertions::{Actions, SoftBinding, SoftBindingBlock, SoftBindingScope};
use c2pa::{create_signer, BoxedSigner, Builder, BuilderIntent, ClaimGeneratorInfo, Context, DigitalSourceType, Reader};
use c2pa::{Settings, SigningAlg, ValidationState};
use std::io::Cursor;
use std::path::Path;

/// A certificate chain and private key that sign pictures.
pub struct Signer {
    inner: Compact,
}

/// The crate's signer with less room kept for the signature: its built-in
/// signers reserve 10 kB for a timestamp that an offline device never gets,
/// zero padding in every picture (a 128x128 PNG grew by 12.8 kB).
struct Compact(BoxedSigner);

impl c2pa::Signer for Compact {
    fn sign(&self, data: &[u8]) -> c2pa::Result<Vec<u8>> {
        self.0.sign(data)
    }
    fn alg(&self) -> SigningAlg {
        self.0.alg()
    }
    fn certs(&self) -> c2pa::Result<Vec<Vec<u8>>> {
        self.0.certs()
    }
    fn reserve_size(&self) -> usize {
        // The COSE structure, the chain and the signature (RSA-4096: 512 bytes).
        2048 + self.0.certs().map(|c| c.iter().map(Vec::len).sum()).unwrap_or(8192)
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({:?})", c2pa::Signer::alg(&self.inner))
    }
}

impl Signer {
    /// `cert`: PEM certificates, the signing one first (X.509 v3, not a CA,
    /// key usage digitalSignature, an extended key usage such as
    /// emailProtection, an O= in its subject); `key`: its private key as
    /// PKCS#8 PEM (`BEGIN PRIVATE KEY`); `alg`: es256 (P-256), es384,
    /// es512, ps256..ps512 (RSA) or ed25519.
    pub fn from_pem_files(cert: &Path, key: &Path, alg: &str) -> Result<Signer, CredentialsError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| CredentialsError::File { path: p.display().to_string(), message: e.to_string() })
        };
        let (chain, private) = (read(cert)?, read(key)?);
        let alg: SigningAlg = alg.to_ascii_lowercase().parse().map_err(|_| CredentialsError::File {
            path: key.display().to_string(),
            message: format!("unknown signing algorithm `{alg}` (es256, es384, es512, ps256, ps384, ps512, ed25519)"),
        })?;
        if private.windows(b"BEGIN EC PRIVATE KEY".len()).any(|w| w == b"BEGIN EC PRIVATE KEY") {
            return Err(CredentialsError::File {
                path: key.display().to_string(),
                message: "a SEC1 EC key; convert it to PKCS#8: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY8".into(),
            });
        }
        let inner = create_signer::from_keys(&chain, &private, alg, None).map_err(|e| CredentialsError::File {
            path: format!("{} + {}", cert.display(), key.display()),
            message: format!("{e} (is `{alg}` the key's algorithm? es256/es384/es512 for EC P-256/384/521 keys, ps256.. for RSA, ed25519)"),
        })?;
        Ok(Signer { inner: Compact(inner) })
    }

    /// `png` (already watermarked, with all its metadata: every byte is
    /// hashed) with a signed manifest added.
    pub fn sign_png(&self, png: &[u8], payload: &Payload) -> Result<Vec<u8>, CredentialsError> {
        let sign = || -> c2pa::Result<Vec<u8>> {
            let mut builder = Builder::from_context(Context::new());
            // The intent adds c2pa.created with this digital source type.
            builder.set_intent(BuilderIntent::Create(DigitalSourceType::TrainedAlgorithmicMedia));
            let mut generator = ClaimGeneratorInfo::new("edgepaint");
            generator.set_version(env!("CARGO_PKG_VERSION"));
            builder.set_claim_generator_info(generator);
            let mut binding = SoftBinding::default();
            binding.alg = Some(SOFT_BINDING_ALG.to_string());
            binding.blocks =
                vec![SoftBindingBlock { scope: SoftBindingScope::default(), value: hex::encode(payload.to_bytes()) }];
            builder.add_assertion(SoftBinding::LABEL, &binding)?;
            let mut out = Cursor::new(Vec::new());
            builder.sign(&self.inner, "image/png", &mut Cursor::new(png), &mut out)?;
            Ok(out.into_inner())
        };
        sign().map_err(|e| {
            CredentialsError::Sign(format!(
                "{e} (C2PA asks of a signing certificate: not a CA, key usage digitalSignature, an extended key \
                 usage such as emailProtection, an O= in its subject, and valid now by this device's clock)"
            ))
        })
    }
}

/// The manifest of `png`, if it has one. `trust_anchors`: PEM CA
/// certificates whose signers count as trusted.
pub fn read_png(png: &[u8], trust_anchors: Option<&str>) -> Result<Option<Credentials>, CredentialsError> {
    let fail = |e: c2pa::Error| CredentialsError::Read(e.to_string());
    let mut settings = Settings::new();
    if let Some(pem) = trust_anchors {
        settings = settings.with_value("trust.user_anchors", pem).map_err(fail)?;
    }
    let context = Context::new().with_settings(settings).map_err(fail)?;
    let reader = match Reader::from_context(context).with_stream("image/png", Cursor::new(png)) {
        Ok(r) => r,
        Err(c2pa::Error::JumbfNotFound) => return Ok(None),
        Err(e) => return Err(fail(e)),
    };
    let Some(manifest) = reader.active_manifest() else { return Ok(None) };
    let generator = manifest.claim_generator_info.as_ref().and_then(|g| g.first()).map(|g| {
        let version = g.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
        format!("{}{version}", g.name)
    });
    let actions = manifest
        .find_assertion::<Actions>(Actions::LABEL)
        .map(|a| {
            a.actions().iter().map(|x| (x.action().to_string(), x.source_type().map(|s| s.to_string()))).collect()
        })
        .unwrap_or_default();
    let soft_binding = manifest.find_assertion::<SoftBinding>(SoftBinding::LABEL).ok().and_then(|b| {
        let value = b.blocks.first().map(|x| x.value.clone())?;
        Some((b.alg.unwrap_or_default(), value))
    });
    let signature = manifest.signature_info();
    let signed_by = signature.map(|s| {
        [s.issuer.as_deref(), s.common_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(", ")
    });
    let algorithm = signature.and_then(|s| s.alg).map(|a| a.to_string());
    let state = match reader.validation_state() {
        ValidationState::Trusted => "trusted",
        ValidationState::Valid => "valid",
        ValidationState::Invalid => "invalid",
    };
    let failures = reader.validation_status().unwrap_or_default().iter().map(|s| s.code().to_string()).collect();
    Ok(Some(Credentials { generator, actions, soft_binding, signed_by, algorithm, state, failures }))
}
