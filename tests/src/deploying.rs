//! The world of a deploy test that needs no build: moto behind the recorder (so a test can
//! see which AWS operations `mb` called), a folder of its own (where `mb` runs, and looks
//! for `mb.toml`) and the smallest `--artifact` zip `mb` accepts, all for one service in
//! us-east-1.

use std::path::PathBuf;
use std::time::Duration;

use aws_config::SdkConfig;

use crate::mb;
use crate::moto::Moto;
use crate::recorder::Recorder;

/// A deploy (from a cold moto) and every other command finish well within this.
const LIMIT: Duration = Duration::from_secs(180);

pub struct Deploying {
    _moto: Moto,
    pub recorder: Recorder,
    /// SDK configuration for the test's own calls, straight to moto.
    pub config: SdkConfig,
    pub dir: PathBuf,
    /// The zip's path.
    pub artifact: String,
    service: &'static str,
}

impl Deploying {
    /// Starts moto and the recorder for `service`; `None` when moto is missing outside CI.
    pub async fn start(service: &'static str) -> Option<Deploying> {
        let moto = Moto::start()?;
        let recorder = Recorder::start(moto.endpoint.trim_start_matches("http://")).await;
        let config = moto.sdk_config().await;
        let dir = std::env::temp_dir().join(format!(
            "mb-{service}-{}-{}",
            std::process::id(),
            recorder.endpoint.rsplit(':').next().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let artifact = crate::tiny_artifact(&dir).to_string_lossy().into_owned();
        Some(Deploying {
            _moto: moto,
            recorder,
            config,
            dir,
            artifact,
            service,
        })
    }

    /// An S3 client for moto (path-style addressing, as emulators need).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.config)
                .force_path_style(true)
                .build(),
        )
    }

    /// `mb <command> --service S --region us-east-1 --endpoint-url <recorder> <extra>`,
    /// run in the world's folder.
    pub async fn mb(&self, command: &str, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            command,
            "--service",
            self.service,
            "--region",
            "us-east-1",
            "--endpoint-url",
            &self.recorder.endpoint,
        ];
        args.extend_from_slice(extra);
        mb::run_in_async(&self.dir, &args, &mb::loopback_aws_env(), LIMIT).await
    }

    /// `mb deploy` of the zip for x86_64, with `extra`.
    pub async fn deploy(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["--arch", "x86_64", "--artifact", &self.artifact];
        args.extend_from_slice(extra);
        self.mb("deploy", &args).await
    }

    /// [`Deploying::mb`] with the recorder given as `AWS_ENDPOINT_URL` instead of
    /// `--endpoint-url`, and `vars`: a service's own variable there
    /// (`AWS_ENDPOINT_URL_LAMBDA`) sends it elsewhere, which the SDK does not let it do
    /// over a flag's endpoint.
    pub async fn mb_env(
        &self,
        command: &str,
        extra: &[&str],
        vars: &[(&str, &str)],
    ) -> std::process::Output {
        let mut args = vec![command, "--service", self.service, "--region", "us-east-1"];
        args.extend_from_slice(extra);
        let mut env = mb::loopback_aws_env();
        env.push(("AWS_ENDPOINT_URL", &self.recorder.endpoint));
        env.extend_from_slice(vars);
        mb::run_in_async(&self.dir, &args, &env, LIMIT).await
    }

    /// [`Deploying::deploy`], as [`Deploying::mb_env`] runs it.
    pub async fn deploy_env(&self, extra: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
        let mut args = vec!["--arch", "x86_64", "--artifact", &self.artifact];
        args.extend_from_slice(extra);
        self.mb_env("deploy", &args, vars).await
    }
}

impl Drop for Deploying {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
