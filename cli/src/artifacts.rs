//! The artifact bucket and the deployment packages in it.
//!
//! Bucket names are global, and `mb-artifacts-<account>-<region>` is predictable, so
//! another account could create it first (docs/deploy.md, "Artifact bucket"). Every call
//! therefore passes `ExpectedBucketOwner`: S3 answers 403 instead of letting mb upload
//! code into, or read from, someone else's bucket. A bucket mb creates has public access
//! blocked, default encryption and a policy denying requests without TLS; every deploy
//! reads those back and puts back what is missing (`crate::lockdown` decides what).
//!
//! Keys are content-addressed (`<service>/<stage>/<sha256>.zip`): a changed package gets
//! a new key, which is what makes CloudFormation update the function. The upload carries
//! its SHA-256 checksum, which S3 verifies and stores; an upload is skipped only when the
//! object under the key has that same stored checksum, so whatever else sits there is
//! replaced.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, ChecksumAlgorithm, ChecksumMode, CreateBucketConfiguration, Delete,
    ObjectIdentifier, ObjectOwnership, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use base64::Engine;

use crate::aws::failure;
use crate::error::Failure;
use crate::lockdown::{self, Observed, Owner, Step, Target};

/// S3's limit of keys per DeleteObjects call.
const DELETE_BATCH: usize = 1000;
/// Pages of (up to 1,000) versions listed before giving up: a bound, far above what one
/// service's packages reach.
const MAX_PAGES: usize = 1000;

/// The bucket, owner-checked.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub name: String,
    /// The account that must own it.
    pub owner: String,
    /// Whether a bucket mb creates gets the policy denying requests without TLS. Always,
    /// except against an emulator reached over plain HTTP, which that policy would lock
    /// out.
    pub require_tls: bool,
}

/// Whether a bucket exists and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Ours,
    Absent,
    /// Owned by another account, or not readable with these credentials.
    NotOurs,
}

/// What `ensure` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    Existing,
    Created,
}

/// What `upload` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Upload {
    /// The object under the key has the package's SHA-256 checksum: not uploaded again.
    AlreadyThere,
    Uploaded,
    /// An object with other content, or without a SHA-256 checksum, was under the key.
    Replaced,
}

/// Whether the object under the key holds the package (pure): S3 returned a SHA-256
/// checksum (HeadObject with checksum mode) equal to the package's. A composite checksum
/// of a multipart upload (`...-N`) or none at all is not proof, so the package is
/// uploaded again.
pub fn holds_package(stored_sha256: Option<&str>, package_sha256: &str) -> bool {
    stored_sha256 == Some(package_sha256)
}

impl Bucket {
    /// Makes sure the bucket exists and is ours; creates and locks it down if missing.
    /// `partition` (`aws`, `aws-cn`, `aws-us-gov`) goes into the policy's ARNs.
    pub async fn ensure(
        &self,
        s3: &Client,
        region: &str,
        partition: &str,
    ) -> Result<Found, Failure> {
        match self.presence(s3).await? {
            Presence::Ours => return Ok(Found::Existing),
            Presence::NotOurs => return Err(self.not_ours()),
            Presence::Absent => {}
        }
        let mut create = s3
            .create_bucket()
            .bucket(&self.name)
            .object_ownership(ObjectOwnership::BucketOwnerEnforced);
        // us-east-1 is the default location and must not be named (S3 rejects it).
        if region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        match create.send().await {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_bucket_already_owned_by_you()) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_bucket_already_exists()) =>
            {
                return Err(self.not_ours());
            }
            Err(err) => return Err(failure(&err, "S3 CreateBucket")),
        }
        self.lock_down(s3, partition).await?;
        Ok(Found::Created)
    }

    /// Whether the bucket exists and is ours: HeadBucket with the expected owner, which S3
    /// answers 403 for a bucket of another account (or one these credentials may not
    /// read).
    pub async fn presence(&self, s3: &Client) -> Result<Presence, Failure> {
        let head = s3
            .head_bucket()
            .bucket(&self.name)
            .expected_bucket_owner(&self.owner)
            .send()
            .await;
        match head {
            Ok(_) => Ok(Presence::Ours),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {
                Ok(Presence::Absent)
            }
            Err(err)
                if err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 403) =>
            {
                Ok(Presence::NotOurs)
            }
            Err(err) => Err(failure(&err, "S3 HeadBucket")),
        }
    }

    /// Public access blocked, SSE-S3 by default, TLS required.
    async fn lock_down(&self, s3: &Client, partition: &str) -> Result<(), Failure> {
        self.block_public_access(s3).await?;
        self.encrypt(s3).await?;
        if self.require_tls {
            self.put_policy(s3, &lockdown::tls_only_policy(&self.name, partition))
                .await?;
        }
        Ok(())
    }

    /// Reads the lock-down of an existing bucket back and puts back what is missing, as
    /// `crate::lockdown::plan` decides for `owner`; returns what to tell the user.
    pub async fn verify_lock_down(
        &self,
        s3: &Client,
        owner: Owner,
        partition: &str,
    ) -> Result<Vec<String>, Failure> {
        let observed = self.observe(s3).await?;
        let target = Target {
            bucket: &self.name,
            partition,
            owner,
            require_tls: self.require_tls,
        };
        let mut said = Vec::new();
        for step in lockdown::plan(&observed, target) {
            match &step {
                Step::BlockPublicAccess(_) => self.block_public_access(s3).await?,
                Step::Encrypt(_) => self.encrypt(s3).await?,
                Step::PutPolicy { policy, .. } => self.put_policy(s3, policy).await?,
                Step::Warn(_) => {}
            }
            said.push(step.said().to_owned());
        }
        Ok(said)
    }

    /// GetPublicAccessBlock, GetBucketEncryption and (when TLS is required)
    /// GetBucketPolicy; "not configured" answers are absences, not failures.
    async fn observe(&self, s3: &Client) -> Result<Observed, Failure> {
        let block = s3
            .get_public_access_block()
            .bucket(&self.name)
            .expected_bucket_owner(&self.owner)
            .send()
            .await;
        let public_access_block = match block {
            Ok(out) => {
                let c = out.public_access_block_configuration();
                let on = |v: Option<Option<bool>>| v.flatten() == Some(true);
                Some([
                    on(c.map(|c| c.block_public_acls())),
                    on(c.map(|c| c.ignore_public_acls())),
                    on(c.map(|c| c.block_public_policy())),
                    on(c.map(|c| c.restrict_public_buckets())),
                ])
            }
            Err(err) if err.code() == Some("NoSuchPublicAccessBlockConfiguration") => None,
            Err(err) => return Err(failure(&err, "S3 GetPublicAccessBlock")),
        };
        let encryption = s3
            .get_bucket_encryption()
            .bucket(&self.name)
            .expected_bucket_owner(&self.owner)
            .send()
            .await;
        let encrypted = match encryption {
            Ok(out) => out.server_side_encryption_configuration().is_some_and(|c| {
                c.rules()
                    .iter()
                    .any(|r| r.apply_server_side_encryption_by_default().is_some())
            }),
            Err(err) if err.code() == Some("ServerSideEncryptionConfigurationNotFoundError") => {
                false
            }
            Err(err) => return Err(failure(&err, "S3 GetBucketEncryption")),
        };
        let policy = if self.require_tls {
            let policy = s3
                .get_bucket_policy()
                .bucket(&self.name)
                .expected_bucket_owner(&self.owner)
                .send()
                .await;
            match policy {
                Ok(out) => out.policy().map(str::to_owned),
                Err(err) if err.code() == Some("NoSuchBucketPolicy") => None,
                Err(err) => return Err(failure(&err, "S3 GetBucketPolicy")),
            }
        } else {
            None
        };
        Ok(Observed {
            public_access_block,
            encrypted,
            policy,
        })
    }

    async fn block_public_access(&self, s3: &Client) -> Result<(), Failure> {
        let block = PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        s3.put_public_access_block()
            .bucket(&self.name)
            .expected_bucket_owner(&self.owner)
            .public_access_block_configuration(block)
            .send()
            .await
            .map_err(|e| failure(&e, "S3 PutPublicAccessBlock"))?;
        Ok(())
    }

    async fn encrypt(&self, s3: &Client) -> Result<(), Failure> {
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::Aes256)
            .build()
            .map_err(|e| Failure::new(format!("cannot describe the bucket encryption: {e}")))?;
        let encryption = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(default)
                    .build(),
            )
            .build()
            .map_err(|e| Failure::new(format!("cannot describe the bucket encryption: {e}")))?;
        s3.put_bucket_encryption()
            .bucket(&self.name)
            .expected_bucket_owner(&self.owner)
            .server_side_encryption_configuration(encryption)
            .send()
            .await
            .map_err(|e| failure(&e, "S3 PutBucketEncryption"))?;
        Ok(())
    }

    async fn put_policy(&self, s3: &Client, policy: &str) -> Result<(), Failure> {
        s3.put_bucket_policy()
            .bucket(&self.name)
            .expected_bucket_owner(&self.owner)
            .policy(policy)
            .send()
            .await
            .map_err(|e| failure(&e, "S3 PutBucketPolicy"))?;
        Ok(())
    }

    /// Uploads `zip` under `key` with its SHA-256 checksum, which S3 checks and keeps,
    /// unless the object there already has that checksum (HeadObject in checksum mode).
    pub async fn upload(
        &self,
        s3: &Client,
        key: &str,
        zip: &[u8],
        sha256_hex: &str,
    ) -> Result<Upload, Failure> {
        let checksum = hex_to_base64(sha256_hex).ok_or_else(|| {
            Failure::new(format!("the artifact's sha256 `{sha256_hex}` is not hex"))
        })?;
        let head = s3
            .head_object()
            .bucket(&self.name)
            .key(key)
            .expected_bucket_owner(&self.owner)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        let stored = match &head {
            Ok(out) => Some(out.checksum_sha256().map(str::to_owned)),
            Err(_) => None,
        };
        let there = self.exists(head, |e| e.is_not_found(), "S3 HeadObject")?;
        let outcome = match stored {
            Some(stored) if holds_package(stored.as_deref(), &checksum) => {
                return Ok(Upload::AlreadyThere);
            }
            _ if there => Upload::Replaced,
            _ => Upload::Uploaded,
        };
        s3.put_object()
            .bucket(&self.name)
            .key(key)
            .expected_bucket_owner(&self.owner)
            .content_type("application/zip")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(checksum)
            .body(ByteStream::from(zip.to_vec()))
            .send()
            .await
            .map_err(|e| failure(&e, "S3 PutObject"))?;
        Ok(outcome)
    }

    /// Every object version and delete marker under `prefix` (paginated). A missing bucket
    /// holds nothing.
    pub async fn versions(
        &self,
        s3: &Client,
        prefix: &str,
    ) -> Result<Vec<ObjectIdentifier>, Failure> {
        // ListObjectVersions has no SDK paginator: it pages by key and version markers.
        let mut doomed = Vec::new();
        let mut markers: (Option<String>, Option<String>) = (None, None);
        for _ in 0..MAX_PAGES {
            let listed = s3
                .list_object_versions()
                .bucket(&self.name)
                .prefix(prefix)
                .expected_bucket_owner(&self.owner)
                .set_key_marker(markers.0.take())
                .set_version_id_marker(markers.1.take())
                .send()
                .await;
            let page = match listed {
                Ok(page) => page,
                Err(err) if is_no_such_bucket(err.code()) => return Ok(Vec::new()),
                Err(err) => return Err(failure(&err, "S3 ListObjectVersions")),
            };
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let deleted = page
                .delete_markers()
                .iter()
                .map(|m| (m.key(), m.version_id()));
            for (key, version) in versions.chain(deleted) {
                let Some(key) = key else { continue };
                let id = ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.map(str::to_owned))
                    .build()
                    .map_err(|e| Failure::new(format!("cannot name the object `{key}`: {e}")))?;
                doomed.push(id);
            }
            if page.is_truncated() != Some(true) {
                return Ok(doomed);
            }
            markers = (
                page.next_key_marker().map(str::to_owned),
                page.next_version_id_marker().map(str::to_owned),
            );
            if markers.0.is_none() {
                return Ok(doomed);
            }
        }
        Err(Failure::new(format!(
            "s3://{}/{prefix} holds over {MAX_PAGES} pages of versions; delete them with the \
             S3 console or a lifecycle rule",
            self.name
        )))
    }

    /// Deletes these object versions, 1,000 per call.
    pub async fn delete(&self, s3: &Client, doomed: &[ObjectIdentifier]) -> Result<(), Failure> {
        for batch in doomed.chunks(DELETE_BATCH) {
            let delete = Delete::builder()
                .set_objects(Some(batch.to_vec()))
                .quiet(true)
                .build()
                .map_err(|e| Failure::new(format!("cannot list the objects to delete: {e}")))?;
            let out = s3
                .delete_objects()
                .bucket(&self.name)
                .expected_bucket_owner(&self.owner)
                .delete(delete)
                .send()
                .await
                .map_err(|e| failure(&e, "S3 DeleteObjects"))?;
            if let Some(error) = out.errors().first() {
                return Err(Failure::new(format!(
                    "S3 did not delete {} of the artifacts, for example `{}`: {} {}",
                    out.errors().len(),
                    error.key().unwrap_or_default(),
                    error.code().unwrap_or_default(),
                    error.message().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    /// What a HEAD call answered: there, not there (`missing`), or a failure. A bare 403
    /// means the bucket belongs to another account (`ExpectedBucketOwner`) or cannot be
    /// read with these credentials.
    fn exists<T, E>(
        &self,
        head: Result<T, SdkError<E, HttpResponse>>,
        missing: impl Fn(&E) -> bool,
        call: &str,
    ) -> Result<bool, Failure>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match head {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(&missing) => Ok(false),
            Err(err)
                if err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 403) =>
            {
                Err(self.not_ours())
            }
            Err(err) => Err(failure(&err, call)),
        }
    }

    fn not_ours(&self) -> Failure {
        Failure::new(format!(
            "the S3 bucket `{}` exists but is not owned by account {} (or these credentials \
             cannot read it); pass --bucket NAME with a bucket of your own",
            self.name, self.owner
        ))
    }
}

fn is_no_such_bucket(code: Option<&str>) -> bool {
    code == Some("NoSuchBucket")
}

/// A hex digest as the base64 S3 checksums use (pure).
fn hex_to_base64(hex: &str) -> Option<String> {
    let bytes = hex::decode(hex).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_packages_own_checksum_skips_the_upload() {
        let package = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        assert!(holds_package(Some(package), package));
        assert!(!holds_package(None, package), "no checksum is no proof");
        assert!(!holds_package(
            Some("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="),
            package
        ));
        assert!(!holds_package(Some(&format!("{package}-2")), package));
    }

    #[test]
    fn sha256_hex_becomes_the_base64_s3_expects() {
        // sha256("") in hex and in base64.
        assert_eq!(
            hex_to_base64("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                .as_deref(),
            Some("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        );
        assert_eq!(hex_to_base64("abc"), None);
        assert_eq!(hex_to_base64("zz"), None);
    }
}
