//! The WebAuthn relying party, from the settings, built once at start: who passkeys are bound
//! to (`KITCHEN_API_WEBAUTHN_RP_ID`), which origins may run a ceremony (the web origins of
//! `KITCHEN_API_WEBAUTHN_ORIGINS` and the Android apps of `KITCHEN_API_ANDROID_APPS`), and the
//! two association files the iOS and Android apps need to use this relying party's passkeys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use url::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::config::{Config, ConfigError, defaults};

/// The built relying party and the association files (pre-serialised; `None`: not set).
pub struct Passkeys {
    pub webauthn: Webauthn,
    /// `/.well-known/apple-app-site-association`.
    pub apple_app_site_association: Option<String>,
    /// `/.well-known/assetlinks.json`.
    pub asset_links: Option<String>,
}

/// One Android app: its package and its signing certificate's SHA-256.
struct AndroidApp {
    package: String,
    /// As Android prints it, `AB:CD:…` (upper case).
    fingerprint: String,
    digest: Vec<u8>,
}

fn bad(setting: &'static str, reason: String) -> ConfigError {
    ConfigError { setting, reason }
}

impl Passkeys {
    /// Everything from `config`, or the setting that cannot work.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let public = config
            .public_url
            .as_ref()
            .and_then(|u| Url::parse(&u.to_string()).ok());
        let rp_id = match (&config.webauthn_rp_id, &public) {
            (Some(id), _) => id.trim().to_ascii_lowercase(),
            (None, Some(url)) => url.host_str().unwrap_or_default().to_owned(),
            (None, None) => defaults::WEBAUTHN_RP_ID.to_owned(),
        };
        let valid_domain = Url::parse(&format!("https://{rp_id}/"))
            .ok()
            .is_some_and(|u| u.domain() == Some(rp_id.as_str()));
        if !valid_domain {
            return Err(bad(
                "KITCHEN_API_WEBAUTHN_RP_ID",
                format!("{rp_id:?} is not a domain like example.com"),
            ));
        }
        let origins: Vec<String> = match (config.webauthn_origins.is_empty(), &public) {
            (false, _) => config.webauthn_origins.clone(),
            (true, Some(url)) => vec![url.origin().ascii_serialization()],
            (true, None) => vec![defaults::WEBAUTHN_ORIGIN.to_owned()],
        };
        let origins = web_origins(&rp_id, &origins)?;
        let apps = android_apps(&config.android_apps)?;
        let mut builder = WebauthnBuilder::new(&rp_id, &origins[0])
            .map_err(|e| bad("KITCHEN_API_WEBAUTHN_ORIGINS", e.to_string()))?
            .rp_name(&config.webauthn_rp_name);
        for origin in &origins[1..] {
            builder = builder.append_allowed_origin(origin);
        }
        // An Android app's ceremonies carry its signing key as their origin; webauthn-rs
        // compares origins as URLs, and `android:apk-key-hash:…` is one.
        for app in &apps {
            let origin = format!(
                "android:apk-key-hash:{}",
                URL_SAFE_NO_PAD.encode(&app.digest)
            );
            let origin = Url::parse(&origin)
                .map_err(|e| bad("KITCHEN_API_ANDROID_APPS", format!("{origin}: {e}")))?;
            builder = builder.append_allowed_origin(&origin);
        }
        let webauthn = builder
            .build()
            .map_err(|e| bad("KITCHEN_API_WEBAUTHN_RP_ID", e.to_string()))?;
        Ok(Self {
            webauthn,
            apple_app_site_association: apple_file(&config.apple_app_ids)?,
            asset_links: asset_links(&apps),
        })
    }
}

/// The web origins, each an `http(s)` origin within `rp_id` (as browsers require).
fn web_origins(rp_id: &str, given: &[String]) -> Result<Vec<Url>, ConfigError> {
    let setting = "KITCHEN_API_WEBAUTHN_ORIGINS";
    let mut origins = Vec::with_capacity(given.len());
    for text in given.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        let url = Url::parse(text)
            .map_err(|e| bad(setting, format!("{text:?} is not an origin ({e})")))?;
        let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
        if !matches!(url.scheme(), "http" | "https") || !bare {
            return Err(bad(
                setting,
                format!("{text:?} is not an origin like https://app.example.com"),
            ));
        }
        if WebauthnBuilder::new(rp_id, &url).is_err() {
            return Err(bad(
                setting,
                format!("{text:?} is not within the RP ID {rp_id:?} (KITCHEN_API_WEBAUTHN_RP_ID)"),
            ));
        }
        origins.push(url);
    }
    if origins.is_empty() {
        return Err(bad(setting, "names no origin".into()));
    }
    Ok(origins)
}

/// `package:AB:CD:…` entries: the package up to the first colon, then 32 hex pairs.
fn android_apps(given: &[String]) -> Result<Vec<AndroidApp>, ConfigError> {
    let setting = "KITCHEN_API_ANDROID_APPS";
    let mut apps = Vec::with_capacity(given.len());
    for entry in given.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let refuse = || {
            bad(
                setting,
                format!(
                    "{entry:?} is not package:FINGERPRINT (the package name, a colon, then the \
                     SHA-256 certificate fingerprint as 32 hex pairs AB:CD:…)"
                ),
            )
        };
        let (package, fingerprint) = entry.split_once(':').ok_or_else(refuse)?;
        let package_ok = !package.is_empty()
            && package
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
        let pairs: Vec<&str> = fingerprint.split(':').collect();
        let digest: Option<Vec<u8>> = pairs
            .iter()
            .map(|p| match p.len() {
                2 => u8::from_str_radix(p, 16).ok(),
                _ => None,
            })
            .collect();
        match digest {
            Some(digest) if package_ok && digest.len() == 32 => apps.push(AndroidApp {
                package: package.to_owned(),
                fingerprint: fingerprint.to_ascii_uppercase(),
                digest,
            }),
            _ => return Err(refuse()),
        }
    }
    Ok(apps)
}

/// `{"webcredentials": {"apps": [...]}}`, or `None` without apps.
fn apple_file(ids: &[String]) -> Result<Option<String>, ConfigError> {
    let ids: Vec<&str> = ids
        .iter()
        .map(|i| i.trim())
        .filter(|i| !i.is_empty())
        .collect();
    if let Some(bad_id) = ids.iter().find(|id| {
        let (team, bundle) = id.split_once('.').unwrap_or(("", ""));
        team.is_empty()
            || !team.chars().all(|c| c.is_ascii_alphanumeric())
            || bundle.is_empty()
            || !bundle
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    }) {
        return Err(bad(
            "KITCHEN_API_APPLE_APP_IDS",
            format!("{bad_id:?} is not TEAMID.bundle.id"),
        ));
    }
    Ok((!ids.is_empty()).then(|| json!({"webcredentials": {"apps": ids}}).to_string()))
}

/// Digital Asset Links: each app may handle this site's links and use its login credentials.
fn asset_links(apps: &[AndroidApp]) -> Option<String> {
    if apps.is_empty() {
        return None;
    }
    let statements: Vec<serde_json::Value> = apps
        .iter()
        .map(|app| {
            json!({
                "relation": [
                    "delegate_permission/common.handle_all_urls",
                    "delegate_permission/common.get_login_creds",
                ],
                "target": {
                    "namespace": "android_app",
                    "package_name": app.package,
                    "sha256_cert_fingerprints": [app.fingerprint],
                },
            })
        })
        .collect();
    Some(serde_json::Value::Array(statements).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(configure: impl FnOnce(&mut Config)) -> Result<Passkeys, ConfigError> {
        let mut config = Config::default();
        configure(&mut config);
        Passkeys::from_config(&config)
    }

    #[test]
    fn the_defaults_are_localhost() {
        let passkeys = config(|_| {}).unwrap();
        let origins: Vec<String> = passkeys
            .webauthn
            .get_allowed_origins()
            .iter()
            .map(|o| o.to_string())
            .collect();
        assert_eq!(origins, ["http://localhost:8000/"]);
        assert!(passkeys.asset_links.is_none());
        assert!(passkeys.apple_app_site_association.is_none());
    }

    #[test]
    fn the_public_url_gives_the_rp_id_and_origin() {
        let passkeys = config(|c| c.public_url = Some("https://api.example.com".parse().unwrap()));
        let origins: Vec<String> = passkeys
            .unwrap()
            .webauthn
            .get_allowed_origins()
            .iter()
            .map(|o| o.to_string())
            .collect();
        assert_eq!(origins, ["https://api.example.com/"]);
    }

    #[test]
    fn an_origin_outside_the_rp_id_is_refused_by_name() {
        let err = config(|c| {
            c.webauthn_rp_id = Some("example.com".into());
            c.webauthn_origins = vec!["https://example.org".into()];
        })
        .err()
        .unwrap();
        assert_eq!(err.setting, "KITCHEN_API_WEBAUTHN_ORIGINS");
        let err = config(|c| c.webauthn_rp_id = Some("https://x".into()))
            .err()
            .unwrap();
        assert_eq!(err.setting, "KITCHEN_API_WEBAUTHN_RP_ID");
    }

    #[test]
    fn android_apps_need_a_32_byte_fingerprint_and_become_origins() {
        let print = vec!["AB"; 32].join(":");
        let passkeys = config(|c| c.android_apps = vec![format!("com.example.app:{print}")]);
        let origins = passkeys.unwrap().webauthn.get_allowed_origins().to_vec();
        assert_eq!(
            origins[1].as_str(),
            format!(
                "android:apk-key-hash:{}",
                URL_SAFE_NO_PAD.encode([0xAB; 32])
            )
        );
        let short = vec!["AB"; 31].join(":");
        let err = config(|c| c.android_apps = vec![format!("com.example.app:{short}")]);
        assert_eq!(err.err().unwrap().setting, "KITCHEN_API_ANDROID_APPS");
        let err = config(|c| c.android_apps = vec![format!("com.example.app:{print}:ZZ")]);
        assert_eq!(err.err().unwrap().setting, "KITCHEN_API_ANDROID_APPS");
    }
}
