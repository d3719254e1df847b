//! `datacoop`: parse the command line, start telemetry, build, run.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use datacoop_broker::config::{
    AuditCommand, BrokerAddress, Cli, Command, DatasetCommand, MemberCommand, ServeSettings,
    StewardCommand,
};
use datacoop_broker::{Application, checks, startup, telemetry};
use secrecy::ExposeSecret;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = match telemetry::init(cli.log.log_format) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("datacoop: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        Command::Serve(settings) => serve(*settings).await,
        Command::Migrate(settings) => startup::migrate(&settings).await,
        Command::Generate(settings) => generate(&settings).await,
        Command::Audit(AuditCommand::Verify(settings)) => checks::verify(&settings)
            .await
            .and_then(|verified| report(&verified)),
        Command::Audit(AuditCommand::CheckDb(settings)) => checks::check_db(&settings)
            .await
            .and_then(|checked| report(&checked)),
        Command::Dataset(DatasetCommand::Build(settings)) => build_dataset(&settings).await,
        Command::Member(MemberCommand::SignInLink { member_id, broker }) => {
            let path = format!("v1/members/{member_id}/sign-in-links");
            sign_in_link(&broker, &path).await
        }
        Command::Steward(StewardCommand::SignInLink { broker }) => {
            sign_in_link(&broker, "v1/stewards/sign-in-links").await
        }
    };
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("datacoop: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `datacoop member|steward sign-in-link`: asks the running broker for a
/// link (so it works while the broker holds an SQLite file), prints the
/// link on standard output and when it stops working on standard error.
async fn sign_in_link(broker: &BrokerAddress, path: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let url = broker
        .url
        .join(path)
        .context("the path does not make a URL with DATACOOP_URL")?;
    let answer = reqwest::Client::new()
        .post(url)
        .bearer_auth(broker.admin_token.expose_secret())
        .send()
        .await
        .with_context(|| format!("cannot reach the broker at {} (DATACOOP_URL)", broker.url))?;
    let status = answer.status();
    if !status.is_success() {
        let problem: serde_json::Value = answer.json().await.unwrap_or_default();
        let detail = problem
            .get("detail")
            .or_else(|| problem.get("title"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("no detail");
        anyhow::bail!("the broker refused: {status}: {detail}");
    }
    let link: datacoop_wire::SignInLink = answer
        .json()
        .await
        .context("the broker's answer is not a sign-in link")?;
    report(&link.url)?;
    let mut stderr = std::io::stderr().lock();
    writeln!(
        stderr,
        "It works once, until {} (15 minutes).",
        link.expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )?;
    Ok(())
}

/// Prints a checker's report on standard output.
fn report(report: &impl std::fmt::Display) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{report}")?;
    Ok(())
}

/// `datacoop dataset build`: a progress bar on standard error, the
/// manifest as JSON on standard output.
async fn build_dataset(
    settings: &datacoop_broker::config::DatasetBuildSettings,
) -> anyhow::Result<()> {
    use datacoop_broker::consent::cohort::CohortProgress;
    use datacoop_broker::dataset::Stage;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message("loading the consent engine");
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let categories = std::sync::atomic::AtomicU64::new(0);
    let progress = |stage: Stage| match stage {
        Stage::Cohort(CohortProgress::Candidates(count)) => {
            bar.set_length(count);
            bar.set_position(0);
            bar.set_message("deciding consent for every candidate");
        }
        Stage::Cohort(CohortProgress::Category) => {
            let done = categories.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            bar.set_message(format!("{done} categories decided"));
            bar.set_position(bar.length().unwrap_or(0));
        }
        Stage::Counted(count) => {
            bar.set_length(count);
            bar.set_position(0);
            bar.set_message(format!("{count} members counted; reading their data"));
        }
        Stage::Grouped(values) => bar.set_message(format!("{values} values grouped")),
        Stage::Suppressing => bar.set_message("suppressing small cells"),
        Stage::Noising => bar.set_message("adding noise"),
        Stage::Recording => bar.set_message("recording the build"),
    };
    let release = startup::build_dataset(settings, &progress).await;
    bar.finish_and_clear();
    let release = release?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{}",
        serde_json::to_string_pretty(&release.manifest)?
    )?;
    Ok(())
}

async fn generate(settings: &datacoop_broker::config::GenerateSettings) -> anyhow::Result<()> {
    let report = startup::generate(settings).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", serde_json::to_string_pretty(&report)?)?;
    Ok(())
}

async fn serve(settings: ServeSettings) -> anyhow::Result<()> {
    let application = Application::build(settings).await?;
    let address = application.local_addr()?;
    // Standard output carries exactly these lines, for people and scripts;
    // logs go to standard error.
    let mut stdout = std::io::stdout().lock();
    if let Some(token) = application.generated_admin_token() {
        writeln!(
            stdout,
            "admin token (shown once; only its hash is stored): {}",
            token.expose_secret()
        )?;
    }
    writeln!(stdout, "datacoop listening on http://{address}")?;
    stdout.flush()?;
    drop(stdout);
    tracing::info!(%address, "serving");
    application.run_until(startup::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}
