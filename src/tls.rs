//! Native TLS with rustls. The certificate sits behind an atomic pointer, so `SIGHUP` can load
//! a renewed one: new handshakes use it, open connections are untouched.

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::Arc;

/// The server's certificate and key, reloadable from their files.
#[derive(Debug)]
pub struct ReloadableCert {
    cert_path: String,
    key_path: String,
    current: ArcSwap<CertifiedKey>,
}

impl ReloadableCert {
    pub fn load(cert_path: &str, key_path: &str) -> Result<Arc<ReloadableCert>, String> {
        let key = read(cert_path, key_path)?;
        Ok(Arc::new(ReloadableCert { cert_path: cert_path.into(), key_path: key_path.into(), current: ArcSwap::from_pointee(key) }))
    }

    /// Reads the files again; on error the current certificate stays in use.
    pub fn reload(&self) -> Result<(), String> {
        let key = read(&self.cert_path, &self.key_path)?;
        self.current.store(Arc::new(key));
        Ok(())
    }

    /// The rustls configuration for the listener (HTTP/1.1 only: WebSockets upgrade over it).
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Ok(config)
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read(cert_path: &str, key_path: &str) -> Result<CertifiedKey, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| format!("cannot read `tls_cert` {cert_path}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`tls_cert` {cert_path} is not a PEM certificate chain: {e}"))?;
    if certs.is_empty() {
        return Err(format!("`tls_cert` {cert_path} holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| format!("`tls_key` {key_path} is not a PEM private key: {e}"))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("`tls_key` {key_path} is not a usable key (RSA, ECDSA or Ed25519): {e}"))?;
    Ok(CertifiedKey::new(certs, signing_key))
}
