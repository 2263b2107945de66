//! The school's local certificate authority, for TLS inspection: made on
//! first run, its key kept with mode 0600, and leaf certificates minted per
//! server name in memory only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

/// Leaf certificates and their TLS configs kept at most.
const LEAF_CACHE: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a usable CA key or certificate: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("minting a certificate for {name}: {reason}")]
    Mint { name: String, reason: String },
}

/// The CA's subject. Fixed, so a CA reloaded from disk issues under the
/// same name it was made with.
fn ca_name() -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Tutela school filtering CA");
    dn.push(DnType::OrganizationName, "Tutela");
    dn
}

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = ca_name();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// The local CA: its certificate (for devices to trust) and what it takes to
/// sign leaves.
pub struct LocalCa {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    /// One key for every leaf, made at start and never written down:
    /// minting is then one signature.
    leaf_key: KeyPair,
    leaf_signer: Arc<dyn rustls::sign::SigningKey>,
    configs: quick_cache::sync::Cache<String, Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa").finish_non_exhaustive()
    }
}

impl LocalCa {
    /// Loads `dir/ca.pem` and `dir/ca.key`, or makes them when neither
    /// exists. The key file is created with mode 0600.
    pub fn load_or_create(dir: &Path) -> Result<LocalCa, CaError> {
        let cert_path = dir.join("ca.pem");
        let key_path = dir.join("ca.key");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CaError::Io { path, source }
        };
        let invalid = |path: &Path, reason: String| CaError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        if !cert_path.exists() && !key_path.exists() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let key = KeyPair::generate().map_err(|e| invalid(&key_path, e.to_string()))?;
            let mut params = ca_params().map_err(|e| invalid(&cert_path, e.to_string()))?;
            params.not_before = day(-1);
            params.not_after = day(10 * 365);
            let cert = params
                .self_signed(&key)
                .map_err(|e| invalid(&cert_path, e.to_string()))?;
            write_private(&key_path, key.serialize_pem().as_bytes()).map_err(io(&key_path))?;
            std::fs::write(&cert_path, cert.pem()).map_err(io(&cert_path))?;
            tracing::info!(certificate = %cert_path.display(), "made the local CA for TLS inspection");
        }
        let key_pem = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
        let cert_pem = std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| invalid(&key_path, e.to_string()))?;
        let cert_der = {
            use rustls::pki_types::pem::PemObject;
            CertificateDer::from_pem_slice(cert_pem.as_bytes())
                .map_err(|e| invalid(&cert_path, e.to_string()))?
        };
        Self::from_parts(cert_pem, cert_der, key)
    }

    fn from_parts(
        cert_pem: String,
        cert_der: CertificateDer<'static>,
        key: KeyPair,
    ) -> Result<LocalCa, CaError> {
        let params = ca_params().map_err(|e| CaError::Invalid {
            path: PathBuf::new(),
            reason: e.to_string(),
        })?;
        let issuer = Issuer::new(params, key);
        let mint_error = |reason: String| CaError::Mint {
            name: "(leaf key)".into(),
            reason,
        };
        let leaf_key = KeyPair::generate().map_err(|e| mint_error(e.to_string()))?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let leaf_signer = rustls::crypto::ring::sign::any_supported_type(&der)
            .map_err(|e| mint_error(e.to_string()))?;
        Ok(LocalCa {
            cert_pem,
            cert_der,
            issuer,
            leaf_key,
            leaf_signer,
            configs: quick_cache::sync::Cache::new(LEAF_CACHE),
        })
    }

    /// The CA certificate, PEM, for devices to install.
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A TLS server config presenting a certificate for `name` (a host name
    /// or an IP address), minted on first use and cached.
    pub fn server_config(&self, name: &str) -> Result<Arc<rustls::ServerConfig>, CaError> {
        if let Some(config) = self.configs.get(name) {
            return Ok(config);
        }
        let config = Arc::new(self.mint(name)?);
        self.configs.insert(name.to_string(), config.clone());
        Ok(config)
    }

    /// How many leaf configs are cached.
    pub fn cached(&self) -> usize {
        self.configs.len()
    }

    fn mint(&self, name: &str) -> Result<rustls::ServerConfig, CaError> {
        let fail = |reason: String| CaError::Mint {
            name: name.to_string(),
            reason,
        };
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| fail(e.to_string()))?;
        let san = match name.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                name.to_string()
                    .try_into()
                    .map_err(|e: rcgen::Error| fail(e.to_string()))?,
            ),
        };
        params.subject_alt_names = vec![san];
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = day(-1);
        params.not_after = day(30);
        let leaf = params
            .signed_by(&self.leaf_key, &self.issuer)
            .map_err(|e| fail(e.to_string()))?;
        let certified = CertifiedKey::new(
            vec![leaf.der().clone(), self.cert_der.clone()],
            self.leaf_signer.clone(),
        );
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(OneCertificate(Arc::new(certified))));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Midnight UTC, `days` from today. Whole days, so leaves minted on one day
/// agree, and a clock a little off still accepts them.
fn day(days: i64) -> time::OffsetDateTime {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let date = today
        .checked_add(jiff::Span::new().days(days))
        .unwrap_or(today);
    rcgen::date_time_ymd(
        i32::from(date.year()),
        date.month().unsigned_abs(),
        date.day().unsigned_abs(),
    )
}

/// A resolver with one answer: each minted config serves one name.
#[derive(Debug)]
struct OneCertificate(Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for OneCertificate {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Writes a secret readable by its owner only, from the moment it exists.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_made_once_with_a_private_key_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalCa::load_or_create(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("ca.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = LocalCa::load_or_create(dir.path()).unwrap();
        assert_eq!(first.certificate_pem(), again.certificate_pem());
        let a = again.server_config("www.example.com").unwrap();
        let b = again.server_config("www.example.com").unwrap();
        assert!(Arc::ptr_eq(&a, &b), "cached");
        again.server_config("192.0.2.7").unwrap();
        assert_eq!(again.cached(), 2);
        assert!(again.server_config("bad name with spaces").is_err() || again.cached() == 3);
    }

    #[test]
    fn a_half_written_ca_is_an_error_not_a_new_ca() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "not a certificate").unwrap();
        let e = LocalCa::load_or_create(dir.path()).unwrap_err();
        assert!(e.to_string().contains("ca.key"), "{e}");
    }
}
