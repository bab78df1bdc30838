//! Profile pictures: [`process`] turns an upload into a clean, small image on a bounded pool
//! of threads of its own ([`Workers`]), so an upload storm queues there while cheap requests
//! keep flowing; [`Store`] keeps the result in a local directory or an S3 bucket under a new
//! unguessable name, which profiles show as a URL (docs/decisions/0019).

mod process;
mod profile;
mod store;

pub use process::{
    FIT, JPEG_QUALITY, MAX_DECODE_BYTES, MAX_JOB_BYTES, MAX_PICTURE_BYTES, MAX_PIXELS,
    MAX_RESIZE_BYTES, MAX_SIDE, Output, PictureError, Processed, process,
};
pub use profile::change_profile;
pub use store::{CACHE_CONTROL, PREFIX, Store};

use axum::body::Bytes;
use rand::RngCore;

use crate::config::{Config, PictureStorage};
use crate::error::ApiError;
use crate::public_url::PublicUrl;
use crate::workers::Workers;

/// The picture service: the pool, the store and the URL base.
#[derive(Clone)]
pub struct Pictures {
    workers: Workers,
    store: Store,
    /// The URL a stored name is shown under is `{base}/{name}`.
    base: String,
}

impl Pictures {
    pub fn start(config: &Config, public_url: &PublicUrl) -> anyhow::Result<Self> {
        let store = Store::from_config(config)?;
        let workers = Workers::start("kitchen-picture", config.picture_concurrency(), None)?;
        Ok(Self {
            workers,
            store,
            base: base_url(config, public_url),
        })
    }

    /// [`process`] on the picture pool; a picture we do not keep is a `400` on
    /// `profile_picture`.
    pub async fn process(&self, upload: Bytes) -> Result<Processed, ApiError> {
        self.workers
            .run(move || process(&upload))
            .await
            .map_err(|lost| ApiError::internal(anyhow::anyhow!("picture processing: {lost}")))?
            .map_err(|e| match e {
                PictureError::Encode => ApiError::internal(anyhow::anyhow!("{e}")),
                e => ApiError::field("profile_picture", e.to_string()),
            })
    }

    /// Stores `picture` under a new name and answers the name; a store that fails is a `503`.
    pub async fn save(&self, picture: Processed) -> Result<String, ApiError> {
        let name = new_name(picture.output);
        self.store
            .put(&name, picture.output.content_type(), picture.bytes)
            .await
            .map_err(|e| ApiError::Unavailable(anyhow::anyhow!("picture store: {e}")))?;
        Ok(name)
    }

    /// Removes a picture no profile shows any more. A failure leaves an orphan, not an error
    /// for the client: it is logged by name.
    pub async fn discard(&self, name: &str) {
        if let Err(e) = self.store.delete(name).await {
            tracing::warn!(picture = %name, error = %e, "could not remove a replaced picture");
        }
    }

    /// [`Self::discard`] for a name that may be absent.
    pub async fn discard_any(&self, name: Option<&str>) {
        if let Some(name) = name {
            self.discard(name).await;
        }
    }

    /// A stored picture, for serving it; `None` when there is none of that name.
    /// Whether a picture of that name is stored (a revalidation needs no more).
    pub async fn exists(&self, name: &str) -> Result<bool, ApiError> {
        if !is_name(name) {
            return Ok(false);
        }
        self.store
            .exists(name)
            .await
            .map_err(|e| ApiError::Unavailable(anyhow::anyhow!("picture store: {e}")))
    }

    pub async fn get(&self, name: &str) -> Result<Option<Bytes>, ApiError> {
        if !is_name(name) {
            return Ok(None);
        }
        self.store
            .get(name)
            .await
            .map_err(|e| ApiError::Unavailable(anyhow::anyhow!("picture store: {e}")))
    }

    /// The URL profiles show for a stored name.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// Pictures waiting for a thread of the pool.
    pub fn waiting(&self) -> usize {
        self.workers.waiting()
    }

    pub fn running(&self) -> usize {
        self.workers.running()
    }
}

fn base_url(config: &Config, public_url: &PublicUrl) -> String {
    match config.picture_storage {
        PictureStorage::Local => public_url.join(&format!("/media/{PREFIX}")),
        PictureStorage::S3 => {
            let base = match (&config.picture_base_url, &config.s3_endpoint) {
                (Some(base), _) => base.clone(),
                (None, Some(endpoint)) => format!(
                    "{}/{}",
                    endpoint.trim_end_matches('/'),
                    config.s3_bucket.as_deref().unwrap_or_default()
                ),
                (None, None) => format!(
                    "https://{}.s3.{}.amazonaws.com",
                    config.s3_bucket.as_deref().unwrap_or_default(),
                    config.s3_region
                ),
            };
            format!("{}/{PREFIX}", base.trim_end_matches('/'))
        }
    }
}

/// `{32 lowercase hex from the OS CSPRNG}.{jpg|png}`: unguessable, and new on every change.
fn new_name(output: Output) -> String {
    let mut random = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.{}", output.extension())
}

/// Whether `name` has the form of a stored picture's name.
pub fn is_name(name: &str) -> bool {
    let Some((stem, extension)) = name.split_once('.') else {
        return false;
    };
    stem.len() == 32
        && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && Output::from_extension(extension).is_some()
}

/// The S3 secret access key; `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Secret(String);

impl S3Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for S3Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for S3Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_names_are_random_hex_and_recognised() {
        let a = new_name(Output::Jpeg);
        let b = new_name(Output::Png);
        assert!(is_name(&a) && is_name(&b), "{a} {b}");
        assert!(a.ends_with(".jpg") && b.ends_with(".png"));
        assert_ne!(a[..32], b[..32]);
    }

    fn s3(base: Option<&str>, endpoint: Option<&str>) -> String {
        let config = Config {
            picture_storage: PictureStorage::S3,
            s3_bucket: Some("kitchen".into()),
            s3_region: "eu-west-1".into(),
            picture_base_url: base.map(str::to_owned),
            s3_endpoint: endpoint.map(str::to_owned),
            ..Config::default()
        };
        let public: PublicUrl = "https://api.example.com".parse().unwrap();
        base_url(&config, &public)
    }

    #[test]
    fn picture_urls_follow_the_configured_base() {
        assert_eq!(
            s3(None, None),
            "https://kitchen.s3.eu-west-1.amazonaws.com/profile-pictures"
        );
        assert_eq!(
            s3(None, Some("http://127.0.0.1:9000/")),
            "http://127.0.0.1:9000/kitchen/profile-pictures"
        );
        assert_eq!(
            s3(
                Some("https://cdn.example.com/"),
                Some("http://127.0.0.1:9000")
            ),
            "https://cdn.example.com/profile-pictures"
        );
        let local = Config::default();
        let public: PublicUrl = "https://api.example.com/k".parse().unwrap();
        assert_eq!(
            base_url(&local, &public),
            "https://api.example.com/k/media/profile-pictures"
        );
    }

    #[test]
    fn other_names_are_not_pictures() {
        for name in [
            "../etc/passwd",
            "0123456789abcdef0123456789abcdef.gif",
            "0123456789ABCDEF0123456789abcdef.jpg",
            "0123456789abcdef0123456789abcde.jpg",
            "0123456789abcdef0123456789abcdef.jpg.png",
            "",
        ] {
            assert!(!is_name(name), "{name}");
        }
    }
}
