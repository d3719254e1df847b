//! `datacoop`: parse the command line, start telemetry, build, run.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use datacoop_broker::config::{AuditCommand, Cli, Command, ServeSettings};
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
        Command::Serve(settings) => serve(settings).await,
        Command::Migrate(settings) => startup::migrate(&settings).await,
        Command::Generate(settings) => generate(&settings).await,
        Command::Audit(AuditCommand::Verify(settings)) => checks::verify(&settings)
            .await
            .and_then(|verified| report(&verified)),
        Command::Audit(AuditCommand::CheckDb(settings)) => checks::check_db(&settings)
            .await
            .and_then(|checked| report(&checked)),
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

/// Prints a checker's report on standard output.
fn report(report: &impl std::fmt::Display) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{report}")?;
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
