//! Certificates for TLS tests: a test CA and leaves it signs (valid,
//! expired, for another name), and a self-signed one, written as PEM files.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::path::{Path, PathBuf};

/// A certificate and key on disk, with the PEM of the certificate.
pub struct Leaf {
    /// The certificate chain file.
    pub cert_file: PathBuf,
    /// The key file.
    pub key_file: PathBuf,
    /// The certificate's SHA-256 fingerprint.
    pub fingerprint: String,
}

/// A test CA in a temporary directory.
pub struct TestCa {
    /// Where its files are.
    pub dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate (PEM), what clients add as an extra root.
    pub pem: String,
    /// The same in a file (`confer call --ca-file`).
    pub ca_file: PathBuf,
}

/// How a leaf differs from a good one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafKind {
    /// Valid now, for 127.0.0.1 and localhost.
    Good,
    /// Expired in 2021.
    Expired,
    /// Valid, but for another host name only.
    OtherName,
}

impl TestCa {
    /// A fresh CA under the system temp dir (`name` keeps tests apart).
    pub fn new(name: &str) -> TestCa {
        let dir = std::env::temp_dir().join(format!("confer-ca-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Confer Test CA");
        let cert = params.self_signed(&key).expect("CA cert");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, cert.pem()).expect("write CA");
        TestCa {
            dir,
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
            ca_file,
        }
    }

    /// A leaf signed by this CA.
    pub fn leaf(&self, kind: LeafKind) -> Leaf {
        let names: &[&str] = match kind {
            LeafKind::Good | LeafKind::Expired => &["127.0.0.1", "localhost"],
            LeafKind::OtherName => &["other.example"],
        };
        self.leaf_for(names, kind)
    }

    /// A leaf for `names` (host names, IP addresses), `kind` saying whether
    /// it has expired.
    pub fn leaf_for(&self, names: &[&str], kind: LeafKind) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let file_name = format!("{kind:?}-{}", names.join("-"));
        let mut params = CertificateParams::new(names).expect("leaf params");
        if kind == LeafKind::Expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        write(
            &self.dir,
            &file_name,
            &cert.pem(),
            &key.serialize_pem(),
            cert.der(),
        )
    }

    /// A self-signed certificate for 127.0.0.1 and localhost (no CA).
    pub fn self_signed(&self) -> Leaf {
        let key = KeyPair::generate().expect("key");
        let params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("params");
        let cert = params.self_signed(&key).expect("cert");
        write(
            &self.dir,
            "self",
            &cert.pem(),
            &key.serialize_pem(),
            cert.der(),
        )
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write(dir: &Path, name: &str, cert: &str, key: &str, der: &[u8]) -> Leaf {
    let cert_file = dir.join(format!("{name}-cert.pem"));
    let key_file = dir.join(format!("{name}-key.pem"));
    std::fs::write(&cert_file, cert).expect("write cert");
    std::fs::write(&key_file, key).expect("write key");
    Leaf {
        cert_file,
        key_file,
        fingerprint: server::tls::fingerprint(der),
    }
}
