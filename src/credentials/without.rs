//! A build without the c2pa crate (the board builds: README "Content
//! Credentials" gives the size it costs): signing is refused with a clear
//! error; reading finds nothing to check.

use super::{Credentials, CredentialsError};
use crate::watermark::Payload;
use std::path::Path;

/// Never made in this build: [`Signer::from_pem_files`] says why.
#[derive(Debug)]
pub struct Signer(());

impl Signer {
    pub fn from_pem_files(_cert: &Path, _key: &Path, _alg: &str) -> Result<Signer, CredentialsError> {
        Err(CredentialsError::Unsupported)
    }

    pub fn sign_png(&self, _png: &[u8], _payload: &Payload) -> Result<Vec<u8>, CredentialsError> {
        Err(CredentialsError::Unsupported)
    }
}

/// Nothing is read in this build (`verify` says so when a manifest is
/// there: `has_manifest`).
pub fn read_png(_png: &[u8], _trust_anchors: Option<&str>) -> Result<Option<Credentials>, CredentialsError> {
    Ok(None)
}
