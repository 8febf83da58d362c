//! `wss://` for the signaling connection: the rustls client config an
//! engine connects with, and the error code each TLS failure reports.
//!
//! Trust is the system's roots plus an optional extra CA
//! ([`TlsOptions::extra_ca_pem`]); or, with a pinned SHA-256 fingerprint
//! ([`TlsOptions::pinned_cert_sha256`]), exactly that certificate and no CA
//! at all (a self-signed host, as invite links carry it).

use protocol::ErrorCode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio_tungstenite::tungstenite;

/// How the engine trusts a `wss://` server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// A CA certificate (PEM) trusted beside the system's roots: a company
    /// or test CA.
    pub extra_ca_pem: Option<String>,
    /// The SHA-256 fingerprint of the one certificate to accept (64 hex
    /// digits; colons and case do not matter): no CA, no name check. What
    /// `confer serve --tls-self-signed` prints and invite links carry.
    pub pinned_cert_sha256: Option<String>,
}

/// The certificate did not match the pin (carried inside rustls' error).
#[derive(Debug, thiserror::Error)]
#[error("the certificate's SHA-256 is not the pinned one")]
struct PinMismatch;

/// The rustls client config for `options`; `InvalidTlsConfig` when the CA is
/// not PEM or the pin is not a SHA-256.
pub(crate) fn client_config(options: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, ErrorCode> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|_| ErrorCode::InvalidTlsConfig)?;
    let mut config = match &options.pinned_cert_sha256 {
        Some(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedCertificate {
                sha256: parse_pin(pin)?,
                provider,
            }))
            .with_no_client_auth(),
        None => builder
            .with_root_certificates(roots(options.extra_ca_pem.as_deref())?)
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The system's roots, plus `extra` (PEM) when given.
fn roots(extra: Option<&str>) -> Result<rustls::RootCertStore, ErrorCode> {
    let mut store = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _) = store.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::debug!("no system root certificates found");
    }
    if let Some(pem) = extra {
        let mut any = false;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|_| ErrorCode::InvalidTlsConfig)?;
            store.add(cert).map_err(|_| ErrorCode::InvalidTlsConfig)?;
            any = true;
        }
        if !any {
            return Err(ErrorCode::InvalidTlsConfig);
        }
    }
    Ok(store)
}

/// 32 bytes from 64 hex digits (colons, spaces and case ignored).
fn parse_pin(pin: &str) -> Result<[u8; 32], ErrorCode> {
    let hex: Vec<u8> = pin.bytes().filter(|b| !matches!(b, b':' | b' ')).collect();
    if hex.len() != 64 {
        return Err(ErrorCode::InvalidTlsConfig);
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks(2)) {
        let text = std::str::from_utf8(pair).map_err(|_| ErrorCode::InvalidTlsConfig)?;
        *byte = u8::from_str_radix(text, 16).map_err(|_| ErrorCode::InvalidTlsConfig)?;
    }
    Ok(out)
}

/// Accepts exactly the certificate whose SHA-256 is pinned.
#[derive(Debug)]
struct PinnedCertificate {
    sha256: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest = Sha256::digest(end_entity.as_ref());
        if digest.as_slice() == self.sha256 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(PinMismatch)),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The code of a connect failure that retrying cannot fix (the certificate,
/// the pin, the wrong scheme for the port); `None` for the transient ones
/// (refused, unreachable, reset, a full server), which the session retries.
pub(crate) fn fatal_connect_error(error: &tungstenite::Error) -> Option<ErrorCode> {
    match error {
        tungstenite::Error::Io(io) => {
            let rustls = io.get_ref()?.downcast_ref::<rustls::Error>()?;
            Some(rustls_code(rustls))
        }
        tungstenite::Error::Tls(tungstenite::error::TlsError::Rustls(e)) => Some(rustls_code(e)),
        tungstenite::Error::Tls(_) => Some(ErrorCode::TlsFailed),
        tungstenite::Error::Http(response) => {
            let body = response.body().as_deref()?;
            let code = serde_json::from_slice::<serde_json::Value>(body)
                .ok()?
                .get("code")?
                .as_u64()?;
            (code == u64::from(ErrorCode::PlainToTlsPort.code()))
                .then_some(ErrorCode::PlainToTlsPort)
        }
        _ => None,
    }
}

/// The code of a failed TLS handshake on a raw stream (`tokio-rustls`).
pub(crate) fn tls_io_code(error: &std::io::Error) -> ErrorCode {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map_or(ErrorCode::TlsFailed, rustls_code)
}

fn rustls_code(error: &rustls::Error) -> ErrorCode {
    use CertificateError as C;
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => ErrorCode::TlsExpired,
            C::NotValidForName | C::NotValidForNameContext { .. } => ErrorCode::TlsNameMismatch,
            C::Other(other) if other.0.downcast_ref::<PinMismatch>().is_some() => {
                ErrorCode::TlsPinMismatch
            }
            _ => ErrorCode::TlsUntrusted,
        },
        // Not a TLS record: the port speaks plain HTTP.
        rustls::Error::InvalidMessage(_) => ErrorCode::TlsToPlainPort,
        _ => ErrorCode::TlsFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_with_or_without_colons() {
        let plain = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_pin(&plain), parse_pin(&colons));
        assert!(parse_pin(&plain).is_ok());
        for bad in ["", "ab", &"zz".repeat(32), &"ab".repeat(33)] {
            assert_eq!(parse_pin(bad), Err(ErrorCode::InvalidTlsConfig), "{bad}");
        }
    }

    fn validate(options: &TlsOptions) -> Result<(), ErrorCode> {
        client_config(options).map(|_| ())
    }

    #[test]
    fn a_bad_extra_ca_or_pin_is_invalid_config() {
        let bad_ca = TlsOptions {
            extra_ca_pem: Some("not pem".into()),
            pinned_cert_sha256: None,
        };
        assert_eq!(validate(&bad_ca), Err(ErrorCode::InvalidTlsConfig));
        let bad_pin = TlsOptions {
            extra_ca_pem: None,
            pinned_cert_sha256: Some("12:34".into()),
        };
        assert_eq!(validate(&bad_pin), Err(ErrorCode::InvalidTlsConfig));
        assert_eq!(validate(&TlsOptions::default()), Ok(()));
    }

    #[test]
    fn certificate_errors_map_to_their_codes() {
        use CertificateError as C;
        for (error, code) in [
            (C::UnknownIssuer, ErrorCode::TlsUntrusted),
            (C::BadSignature, ErrorCode::TlsUntrusted),
            (C::Expired, ErrorCode::TlsExpired),
            (C::NotValidYet, ErrorCode::TlsExpired),
            (C::NotValidForName, ErrorCode::TlsNameMismatch),
            (
                C::Other(rustls::OtherError(Arc::new(PinMismatch))),
                ErrorCode::TlsPinMismatch,
            ),
        ] {
            assert_eq!(rustls_code(&rustls::Error::InvalidCertificate(error)), code);
        }
        assert_eq!(
            rustls_code(&rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
            )),
            ErrorCode::TlsToPlainPort
        );
    }
}
