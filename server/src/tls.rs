//! TLS on the server's one listener: https and wss on the same port.
//!
//! rustls with the ring provider. The certificate chain and key come from
//! PEM files (`[tls] cert_file`, `key_file`), or from a self-signed
//! certificate [`self_signed`] keeps in a directory (home and LAN hosting;
//! clients pin its SHA-256 [`fingerprint`] instead of trusting a CA).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{0}: no PEM certificate found")]
    NoCertificate(PathBuf),
    /// The key file holds no PEM private key.
    #[error("{0}: no PEM private key found")]
    NoKey(PathBuf),
    /// rustls refused the certificate and key (they do not match, say).
    #[error("the certificate and key are not usable: {0}")]
    Refused(#[from] rustls::Error),
    /// A self-signed certificate could not be generated.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A loaded server identity: the rustls config the listener uses, and the
/// SHA-256 fingerprint of its leaf certificate (what clients pin).
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    /// The rustls server config (HTTP/1.1 over TLS).
    pub config: Arc<rustls::ServerConfig>,
    /// The leaf certificate's SHA-256, as [`fingerprint`] writes it.
    pub fingerprint: String,
}

/// The SHA-256 of a DER certificate as colon-separated upper-case hex
/// (`AB:CD:...`, 95 characters), the form browsers and `openssl x509
/// -fingerprint -sha256` print.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// The rustls crypto provider the server and the SDK use (ring: no C
/// toolchain beyond what the media crates need).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads a PEM certificate chain and private key.
pub fn load(cert_file: &Path, key_file: &Path) -> Result<TlsIdentity, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(cert_file)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    let Some(leaf) = chain.first() else {
        return Err(TlsError::NoCertificate(cert_file.to_owned()));
    };
    let fingerprint = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_slice(&read(key_file)?)
        .map_err(|_| TlsError::NoKey(key_file.to_owned()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsIdentity {
        config: Arc::new(config),
        fingerprint,
    })
}

/// The self-signed certificate kept in `dir` (`tls-cert.pem`,
/// `tls-key.pem`, and `tls-names.txt`: the names it carries), made on first
/// use for `names` (host names and IP addresses) and valid until 2036;
/// returns the two PEM files. An existing one is kept as long as it names
/// every one of `names`, so its fingerprint (which clients pin) stays the
/// same across restarts.
pub fn self_signed(dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert_file = dir.join("tls-cert.pem");
    let key_file = dir.join("tls-key.pem");
    let names_file = dir.join("tls-names.txt");
    let kept = std::fs::read_to_string(&names_file).unwrap_or_default();
    let covered = names.iter().all(|n| kept.lines().any(|k| k == n));
    if covered && cert_file.is_file() && key_file.is_file() {
        return Ok((cert_file, key_file));
    }
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Confer self-signed");
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|source| TlsError::Write {
            path: path.to_owned(),
            source,
        })
    };
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_owned(),
        source,
    })?;
    write(&key_file, key.serialize_pem())?;
    restrict(&key_file);
    write(&cert_file, cert.pem())?;
    write(&names_file, names.join("\n"))?;
    Ok((cert_file, key_file))
}

/// Makes a private key readable by its owner only.
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_made_once_and_kept_while_it_covers_the_names() {
        let dir = std::env::temp_dir().join(format!("confer-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let (cert, key) = self_signed(&dir, &names).expect("generates");
        let first = load(&cert, &key).expect("loads");
        assert_eq!(first.fingerprint.len(), 95);
        let (cert, key) = self_signed(&dir, &names[..1]).expect("kept");
        assert_eq!(
            load(&cert, &key).expect("loads").fingerprint,
            first.fingerprint
        );
        // A new address: a new certificate (and fingerprint).
        let more = vec!["localhost".to_owned(), "192.0.2.7".to_owned()];
        let (cert, key) = self_signed(&dir, &more).expect("regenerates");
        assert_ne!(
            load(&cert, &key).expect("loads").fingerprint,
            first.fingerprint
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_files_are_typed_errors() {
        let dir = std::env::temp_dir().join(format!("confer-tls-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate").expect("write");
        assert!(matches!(
            load(&junk, &junk),
            Err(TlsError::NoCertificate(_))
        ));
        assert!(matches!(
            load(&dir.join("missing.pem"), &junk),
            Err(TlsError::Read { .. })
        ));
        let (cert, _) = self_signed(&dir, &["localhost".to_owned()]).expect("generates");
        assert!(matches!(load(&cert, &junk), Err(TlsError::NoKey(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
