//! The artifact bucket and the deployment packages in it.
//!
//! Bucket names are global, and `mb-artifacts-<account>-<region>` is predictable, so
//! another account could create it first ("bucket namesquatting", aws-facts.md). Every
//! call therefore passes `ExpectedBucketOwner`: S3 answers 403 instead of letting mb
//! upload code into, or read from, someone else's bucket. A bucket mb creates has public
//! access blocked, default encryption and a policy denying requests without TLS.
//!
//! Keys are content-addressed (`<service>/<stage>/<sha256>.zip`): an unchanged package is
//! never uploaded twice, and a changed one gets a new key, which is what makes
//! CloudFormation update the function.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier, ObjectOwnership,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use base64::Engine;

use crate::aws::failure;
use crate::error::Failure;

/// S3's limit of keys per DeleteObjects call.
const DELETE_BATCH: usize = 1000;
/// Pages of (up to 1,000) versions listed before giving up: a bound, far above what one
/// service's packages reach.
const MAX_PAGES: usize = 1000;

/// The actions the bucket policy denies without TLS: everything mb or a person would do
/// with the bucket and its objects. Listed, because no policy mb writes uses `*`.
const TLS_ONLY_ACTIONS: [&str; 12] = [
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutEncryptionConfiguration",
    "s3:DeleteBucket",
];

/// The bucket policy denying requests without TLS (pure).
pub fn tls_only_policy(bucket: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyWithoutTls",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": TLS_ONLY_ACTIONS,
            "Resource": [
                format!("arn:aws:s3:::{bucket}"),
                format!("arn:aws:s3:::{bucket}/*"),
            ],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    })
    .to_string()
}

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
    /// The object was already there (same content, same key).
    AlreadyThere,
    Uploaded,
}

impl Bucket {
    /// Makes sure the bucket exists and is ours; creates and locks it down if missing.
    pub async fn ensure(&self, s3: &Client, region: &str) -> Result<Found, Failure> {
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
        self.lock_down(s3).await?;
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
    async fn lock_down(&self, s3: &Client) -> Result<(), Failure> {
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
        if self.require_tls {
            s3.put_bucket_policy()
                .bucket(&self.name)
                .expected_bucket_owner(&self.owner)
                .policy(tls_only_policy(&self.name))
                .send()
                .await
                .map_err(|e| failure(&e, "S3 PutBucketPolicy"))?;
        }
        Ok(())
    }

    /// Uploads `zip` under `key` unless an object is already there (HeadObject). The key
    /// is the content's sha256, so an object under it has this content; S3 checks the
    /// upload against the same sha256.
    pub async fn upload(
        &self,
        s3: &Client,
        key: &str,
        zip: &[u8],
        sha256_hex: &str,
    ) -> Result<Upload, Failure> {
        let head = s3
            .head_object()
            .bucket(&self.name)
            .key(key)
            .expected_bucket_owner(&self.owner)
            .send()
            .await;
        if self.exists(head, |e| e.is_not_found(), "S3 HeadObject")? {
            return Ok(Upload::AlreadyThere);
        }
        let checksum = hex_to_base64(sha256_hex).ok_or_else(|| {
            Failure::new(format!("the artifact's sha256 `{sha256_hex}` is not hex"))
        })?;
        s3.put_object()
            .bucket(&self.name)
            .key(key)
            .expected_bucket_owner(&self.owner)
            .content_type("application/zip")
            .checksum_sha256(checksum)
            .body(ByteStream::from(zip.to_vec()))
            .send()
            .await
            .map_err(|e| failure(&e, "S3 PutObject"))?;
        Ok(Upload::Uploaded)
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

    /// Deletes the bucket if nothing (no object, no version) is left in it; true if it did.
    pub async fn delete_if_empty(&self, s3: &Client) -> Result<bool, Failure> {
        let listed = s3
            .list_object_versions()
            .bucket(&self.name)
            .expected_bucket_owner(&self.owner)
            .max_keys(1)
            .send()
            .await;
        let page = match listed {
            Ok(page) => page,
            Err(err) if is_no_such_bucket(err.code()) => return Ok(false),
            Err(err) => return Err(failure(&err, "S3 ListObjectVersions")),
        };
        if !page.versions().is_empty() || !page.delete_markers().is_empty() {
            return Ok(false);
        }
        match s3
            .delete_bucket()
            .bucket(&self.name)
            .expected_bucket_owner(&self.owner)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            // Another deploy uploaded in between: the bucket stays, which is right.
            Err(err) if err.code() == Some("BucketNotEmpty") => Ok(false),
            Err(err) => Err(failure(&err, "S3 DeleteBucket")),
        }
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
    fn the_policy_denies_plain_http_without_a_wildcard_action() {
        let policy: serde_json::Value =
            serde_json::from_str(&tls_only_policy("mb-artifacts-123456789012-us-east-1"))
                .expect("json");
        let statement = &policy["Statement"][0];
        assert_eq!(statement["Effect"], "Deny");
        assert_eq!(
            statement["Condition"]["Bool"]["aws:SecureTransport"],
            "false"
        );
        let actions = statement["Action"].as_array().expect("a list");
        assert!(
            actions
                .iter()
                .all(|a| !a.as_str().unwrap_or("*").contains('*'))
        );
        assert!(actions.contains(&"s3:PutObject".into()));
        assert_eq!(
            statement["Resource"][1],
            "arn:aws:s3:::mb-artifacts-123456789012-us-east-1/*"
        );
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
