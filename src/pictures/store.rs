//! Where pictures live, behind `object_store`: a local directory or an S3-compatible bucket,
//! one interface, one object path `profile-pictures/{name}` in both.
//!
//! The S3 client answers within seconds or fails: its defaults (30 s timeouts, long retries)
//! would let an upload take effect after the client was already answered `503`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, ClientOptions, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
    RetryConfig,
};

use crate::config::{Config, PictureStorage};

/// The folder of profile pictures in the store and in their URLs.
pub const PREFIX: &str = "profile-pictures";

/// A stored picture never changes: its name is new on every change.
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// The picture store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// S3 serves the objects itself, so they carry their type and caching; a local
    /// directory keeps no attributes (the service sets the headers when it serves).
    attributes: bool,
}

impl Store {
    /// The store the settings name; the local directory is created if missing.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let attributes = config.picture_storage == PictureStorage::S3;
        let inner: Arc<dyn ObjectStore> = match config.picture_storage {
            PictureStorage::Local => {
                let dir = &config.picture_dir;
                std::fs::create_dir_all(dir.join(PREFIX))
                    .with_context(|| format!("cannot create the picture directory {dir:?}"))?;
                Arc::new(
                    LocalFileSystem::new_with_prefix(dir)
                        .with_context(|| format!("cannot open the picture directory {dir:?}"))?,
                )
            }
            PictureStorage::S3 => Arc::new(s3(config)?),
        };
        Ok(Self { inner, attributes })
    }

    pub async fn put(
        &self,
        name: &str,
        content_type: &'static str,
        bytes: Vec<u8>,
    ) -> object_store::Result<()> {
        let mut options = PutOptions::default();
        if self.attributes {
            options.attributes = Attributes::from_iter([
                (Attribute::ContentType, content_type),
                (Attribute::CacheControl, CACHE_CONTROL),
            ]);
        }
        self.inner
            .put_opts(&path(name), PutPayload::from(bytes), options)
            .await
            .map(drop)
    }

    /// Removes a stored picture; one already gone counts as removed.
    pub async fn delete(&self, name: &str) -> object_store::Result<()> {
        match self.inner.delete(&path(name)).await {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// A stored picture's bytes, or `None` if there is no such picture.
    /// Whether the object is there, without reading it.
    pub async fn exists(&self, name: &str) -> object_store::Result<bool> {
        match self.inner.head(&path(name)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn get(&self, name: &str) -> object_store::Result<Option<Bytes>> {
        match self.inner.get(&path(name)).await {
            Ok(found) => found.bytes().await.map(Some),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn path(name: &str) -> Path {
    Path::from(format!("{PREFIX}/{name}"))
}

fn s3(config: &Config) -> anyhow::Result<object_store::aws::AmazonS3> {
    // reqwest is built without a bundled TLS provider; ring is the one the binary already has.
    // An error only means a provider is installed already.
    rustls::crypto::ring::default_provider()
        .install_default()
        .ok();
    let bucket = config
        .s3_bucket
        .as_deref()
        .context("KITCHEN_API_S3_BUCKET is required when the picture storage is s3")?;
    let options = ClientOptions::new()
        .with_timeout(Duration::from_secs(5))
        .with_connect_timeout(Duration::from_secs(2));
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
        ..RetryConfig::default()
    };
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_region(&config.s3_region)
        .with_client_options(options)
        .with_retry(retry);
    if let Some(endpoint) = &config.s3_endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    if let Some(key) = &config.s3_access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &config.s3_secret_access_key {
        builder = builder.with_secret_access_key(secret.expose());
    }
    builder
        .build()
        .context("cannot set up the S3 picture store")
}
