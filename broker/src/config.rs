//! Command line and settings. Every setting is a flag with a matching
//! `DATACOOP_*` environment variable; the flag wins. Values are checked
//! once, at start, and a bad one stops the process with a message naming
//! the variable.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::credentials::MAX_SECRET_VERIFICATIONS;
use crate::http::RateLimitSettings;

const AFTER_HELP: &str = "\
Every flag can also be set through the environment variable shown beside it;
a flag given on the command line wins over the environment.

Other variables:
  OTEL_EXPORTER_OTLP_ENDPOINT  send traces over OTLP/HTTP to this collector
                               (the standard OTEL_* variables apply)
  DATACOOP_LOG                 log filter, such as `info` or `datacoop=debug`

Quick start:  datacoop serve        (SQLite file datacoop.db in this folder)";

/// datacoop: a consent broker for data cooperatives.
#[derive(Debug, Parser)]
#[command(name = "datacoop", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub log: LogSettings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broker: migrate the database, load the policies, serve HTTP.
    Serve(Box<ServeSettings>),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseSettings),
    /// Write a synthetic co-op (members, rules, delegation chains, rings,
    /// personas, third parties) into the database, for benchmarks and
    /// trials; prints what it wrote as JSON.
    Generate(GenerateSettings),
    /// Check the verifiable log: a running broker's signed checkpoints and
    /// proofs (`verify`), or the database's entries (`check-db`).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Aggregate datasets: build a license's dataset now.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Members: a sign-in link to the web pages.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Stewards: a sign-in link to the stewards' pages.
    #[command(subcommand)]
    Steward(StewardCommand),
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Ask the running broker for a link that signs MEMBER_ID in to the web
    /// pages once, within 15 minutes (with an identity provider configured:
    /// that links the account the member signs in with), and print it.
    SignInLink {
        /// The member's id (`mbr_…`).
        member_id: String,
        #[command(flatten)]
        broker: BrokerAddress,
    },
}

#[derive(Debug, Subcommand)]
pub enum StewardCommand {
    /// Ask the running broker for a link that signs a steward in to the
    /// stewards' pages once, within 15 minutes, and print it.
    SignInLink {
        #[command(flatten)]
        broker: BrokerAddress,
    },
}

/// A running broker, and the stewards' token to call it with.
#[derive(Debug, Clone, Args)]
pub struct BrokerAddress {
    /// The broker's base URL.
    #[arg(long, env = "DATACOOP_URL", default_value = "http://127.0.0.1:8080")]
    pub url: url::Url,
    /// The admin token (printed by the broker's first start).
    #[arg(long, env = "DATACOOP_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: SecretString,
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Build LICENSE's dataset from the database, with a progress bar, and
    /// print its manifest (the licensee fetches the rows). The same build
    /// as `POST /v1/licenses/{id}/builds`; on SQLite, stop the broker
    /// first (one process holds the file), or call that endpoint.
    Build(DatasetBuildSettings),
}

#[derive(Debug, Clone, Args)]
pub struct DatasetBuildSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// The license's id (`lic_…`).
    pub license: String,
    /// A folder laid out like `policies/`; default: the built-in policies.
    #[arg(long, env = "DATACOOP_POLICY_DIR")]
    pub policy_dir: Option<PathBuf>,
    /// The longest delegation chain followed.
    #[arg(long, env = "DATACOOP_MAX_DELEGATION_DEPTH", default_value = "16", value_parser = parse_depth)]
    pub max_delegation_depth: usize,
    /// The differential-privacy budget (epsilon) each dataset may spend.
    #[arg(long, env = "DATACOOP_DP_BUDGET", default_value = "10", value_parser = parse_dp_budget)]
    pub dp_budget: f64,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify a broker's log over HTTP: the checkpoint's signature, its
    /// consistency with the last checkpoint this client saw (kept in a
    /// state file), and, with a member's token, that every entry about the
    /// member is in the log. Exits non-zero on any mismatch.
    Verify(VerifySettings),
    /// Recompute the whole log from the stored entries and compare it with
    /// the latest signed checkpoint and the stored tree hashes, so a
    /// changed or deleted row is caught. On SQLite, stop the broker first
    /// (one process holds the file). Exits non-zero on any mismatch.
    CheckDb(CheckDbSettings),
}

#[derive(Debug, Clone, Args)]
pub struct VerifySettings {
    /// The broker's base URL, such as `http://127.0.0.1:8080`.
    #[arg(long, env = "DATACOOP_URL")]
    pub url: String,

    /// A member's token: also check that every entry about the member is
    /// included in the log.
    #[arg(long, env = "DATACOOP_TOKEN", hide_env_values = true)]
    pub token: Option<SecretString>,

    /// The verifier key the checkpoints must be signed with, obtained out
    /// of band (`<name>+<id>+<base64>`). Without it, the key is trusted on
    /// first use and kept in the state file.
    #[arg(long)]
    pub key: Option<String>,

    /// Where to keep the last checkpoint seen. Default:
    /// `$XDG_STATE_HOME/datacoop/audit/<origin>.json` (or under
    /// `~/.local/state`).
    #[arg(long, env = "DATACOOP_AUDIT_STATE")]
    pub state: Option<PathBuf>,

    /// Seconds to wait for a checkpoint that covers the newest entry about
    /// the member (the broker signs a new one at most every 100 ms).
    #[arg(long, default_value = "10")]
    pub wait_secs: u64,
}

impl VerifySettings {
    pub fn wait(&self) -> Duration {
        Duration::from_secs(self.wait_secs)
    }
}

#[derive(Debug, Clone, Args)]
pub struct CheckDbSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,

    /// The verifier key the stored checkpoint must be signed with. Default:
    /// the key of `--log-signing-key-file`, else the key the database keeps.
    #[arg(long)]
    pub key: Option<String>,

    /// The signing key file the broker runs with, if it does.
    #[arg(long, env = "DATACOOP_LOG_SIGNING_KEY_FILE")]
    pub log_signing_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct GenerateSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// How many members.
    #[arg(long, default_value = "10000")]
    pub members: usize,
    /// Share of members with rules of their own.
    #[arg(long, default_value = "0.3", value_parser = parse_share)]
    pub own_rules: f64,
    /// Share of members delegating to other members.
    #[arg(long, default_value = "0.4", value_parser = parse_share)]
    pub delegating: f64,
    /// Share of members delegating to a persona.
    #[arg(long, default_value = "0.2", value_parser = parse_share)]
    pub on_personas: f64,
    /// How many members delegate to the one hub proxy.
    #[arg(long, default_value = "100000")]
    pub hub_delegators: usize,
    /// Hops of the longest chain (the broker's depth limit).
    #[arg(long, env = "DATACOOP_MAX_DELEGATION_DEPTH", default_value = "16", value_parser = parse_depth)]
    pub max_delegation_depth: usize,
    /// The same seed writes the same co-op (but new ids).
    #[arg(long, default_value = "1")]
    pub seed: u64,
    /// Also store data for every member (`health.heart`: `resting_bpm`,
    /// `age_band`), for dataset builds.
    #[arg(long)]
    pub data: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// Log line format.
    #[arg(
        long,
        global = true,
        env = "DATACOOP_LOG_FORMAT",
        value_enum,
        default_value = "human"
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "DATACOOP_DATABASE_URL",
        default_value = "sqlite://datacoop.db",
        hide_env_values = true,
        value_parser = parse_database_url
    )]
    pub database_url: DatabaseUrl,

    /// Connections this process keeps to the database (PostgreSQL; on
    /// SQLite, the readers beside the one writer). With several replicas,
    /// keep replicas times this under the server's `max_connections`.
    #[arg(long, env = "DATACOOP_DATABASE_MAX_CONNECTIONS", default_value = "16", value_parser = parse_max_connections)]
    pub database_max_connections: u32,

    /// Seconds a query waits for a free connection before the request is
    /// answered 503.
    #[arg(long, env = "DATACOOP_DATABASE_ACQUIRE_TIMEOUT_SECS", default_value = "10", value_parser = parse_acquire_timeout)]
    pub database_acquire_timeout_secs: u64,
}

impl DatabaseSettings {
    /// The default `Limits` with this process's connection pool.
    pub fn store_limits(&self) -> crate::store::Limits {
        crate::store::Limits {
            max_connections: self.database_max_connections,
            acquire_timeout: Duration::from_secs(self.database_acquire_timeout_secs),
            ..crate::store::Limits::default()
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,

    /// Apply pending migrations before serving (`true`), or only check that
    /// the database has every migration this binary carries and refuse to
    /// start otherwise (`false`: when `datacoop migrate` runs apart, as the
    /// Helm chart's hook does).
    #[arg(long, env = "DATACOOP_MIGRATE_ON_START", default_value = "true", action = clap::ArgAction::Set, value_parser = parse_migrate_flag)]
    pub migrate_on_start: bool,

    /// On SIGTERM or Ctrl-C, seconds to keep serving with `/readyz`
    /// answering 503 (so a load balancer stops sending new requests)
    /// before in-flight requests finish and the process exits.
    #[arg(long, env = "DATACOOP_SHUTDOWN_DRAIN_SECS", default_value = "0", value_parser = parse_drain)]
    pub shutdown_drain_secs: u64,

    /// Address to bind; port 0 picks a free port (printed at start).
    #[arg(long, env = "DATACOOP_LISTEN", default_value = "127.0.0.1:8080", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// The stewards' bearer token. When unset, the first start generates
    /// one, prints it once and stores only its hash.
    #[arg(long, env = "DATACOOP_ADMIN_TOKEN", hide_env_values = true, value_parser = parse_admin_token)]
    pub admin_token: Option<SecretString>,

    /// A folder laid out like `policies/` replacing the built-in schema,
    /// vocabulary and co-op policies.
    #[arg(long, env = "DATACOOP_POLICY_DIR")]
    pub policy_dir: Option<PathBuf>,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "DATACOOP_MAX_BODY_BYTES", default_value = "1048576", value_parser = parse_body_limit)]
    pub max_body_bytes: usize,

    /// Most hops a delegation chain may take before a decision is denied
    /// `delegation_too_deep`.
    #[arg(long, env = "DATACOOP_MAX_DELEGATION_DEPTH", default_value = "16", value_parser = parse_depth)]
    pub max_delegation_depth: usize,

    /// Seconds a third party's OAuth2 access token lives.
    #[arg(long, env = "DATACOOP_ACCESS_TOKEN_TTL_SECS", default_value = "900", value_parser = parse_token_ttl)]
    pub access_token_ttl_secs: u64,

    /// Seconds a request may take before it is answered 408.
    #[arg(long, env = "DATACOOP_REQUEST_TIMEOUT_SECS", default_value = "30", value_parser = parse_timeout)]
    pub request_timeout_secs: u64,

    /// Most client secrets verified at once at `POST /oauth2/token` (each
    /// Argon2 verification holds about 19 MiB); as many more may wait, and
    /// further requests are answered 503 at once. Default: one per CPU core.
    #[arg(long, env = "DATACOOP_MAX_SECRET_VERIFICATIONS", value_parser = parse_secret_verifications)]
    pub max_secret_verifications: Option<NonZeroUsize>,

    /// `POST /oauth2/token` requests a minute from one client address
    /// (the TCP peer; IPv6 by /64), then 429; 0 turns the limit off.
    #[arg(long, env = "DATACOOP_RATE_LIMIT_TOKEN_PER_ADDRESS", default_value = "60", value_parser = parse_token_per_address)]
    pub rate_limit_token_per_address: u32,

    /// `POST /oauth2/token` requests a minute naming one client id, then
    /// 429; 0 turns the limit off.
    #[arg(long, env = "DATACOOP_RATE_LIMIT_TOKEN_PER_CLIENT", default_value = "60", value_parser = parse_token_per_client)]
    pub rate_limit_token_per_client: u32,

    /// Bearer tokens a minute that fail to authenticate (401) from one
    /// client address; past it, that address's tokens are answered 429
    /// without being looked up (the admin token still works); 0 turns the
    /// limit off.
    #[arg(long, env = "DATACOOP_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS", default_value = "30", value_parser = parse_failed_auth_per_address)]
    pub rate_limit_failed_auth_per_address: u32,

    /// Most rules one owner (a member, a persona, the co-op) may hold;
    /// past it, a new rule is refused 422.
    #[arg(long, env = "DATACOOP_MAX_RULES_PER_OWNER", default_value = "1000", value_parser = parse_rules_per_owner)]
    pub max_rules_per_owner: u64,

    /// Most delegations one member may hold; past it, 422.
    #[arg(long, env = "DATACOOP_MAX_DELEGATIONS_PER_MEMBER", default_value = "100", value_parser = parse_delegations_per_member)]
    pub max_delegations_per_member: u64,

    /// Most bytes of data (serialized values, all categories together) one
    /// member may store; past it, 422.
    #[arg(long, env = "DATACOOP_MAX_DATA_BYTES_PER_MEMBER", default_value = "1048576", value_parser = parse_data_bytes_per_member)]
    pub max_data_bytes_per_member: u64,

    /// A file holding the key that signs the verifiable log's checkpoints,
    /// as a signed-note private key (`PRIVATE+KEY+<name>+<id>+<base64>`).
    /// When unset, the database's first start generates one and keeps it
    /// in the database.
    #[arg(long, env = "DATACOOP_LOG_SIGNING_KEY_FILE")]
    pub log_signing_key_file: Option<PathBuf>,

    /// The origin line of the log's checkpoints. Default: the signing
    /// key's name; a generated key's is `datacoop/log/<random id>`, drawn
    /// once, so the origin stays the same whatever the listen address.
    #[arg(long, env = "DATACOOP_LOG_ORIGIN", value_parser = parse_origin)]
    pub log_origin: Option<String>,

    /// Accept `http` webhook URLs to loopback hosts, and send to loopback
    /// addresses (development only; never private or link-local ones).
    #[arg(long, env = "DATACOOP_ALLOW_INSECURE_WEBHOOKS", default_value = "false", action = clap::ArgAction::Set, value_parser = parse_flag)]
    pub allow_insecure_webhooks: bool,

    /// Seconds one webhook request may take, connection included.
    #[arg(long, env = "DATACOOP_WEBHOOK_TIMEOUT_SECS", default_value = "10", value_parser = parse_webhook_timeout)]
    pub webhook_timeout_secs: u64,

    /// Seconds after which an undelivered webhook event is given up and
    /// recorded as failed (default: 3 days).
    #[arg(long, env = "DATACOOP_WEBHOOK_HORIZON_SECS", default_value = "259200", value_parser = parse_webhook_horizon)]
    pub webhook_horizon_secs: u64,

    /// Seconds a third party has to confirm a withdrawal's deletion before
    /// the receipt is overdue (default: 7 days).
    #[arg(long, env = "DATACOOP_DELETION_GRACE_SECS", default_value = "604800", value_parser = parse_deletion_grace)]
    pub deletion_grace_secs: u64,

    /// The differential-privacy budget (epsilon) each dataset may spend,
    /// summed over every build of every license of it.
    #[arg(long, env = "DATACOOP_DP_BUDGET", default_value = "10", value_parser = parse_dp_budget)]
    pub dp_budget: f64,

    #[command(flatten)]
    pub web: WebSettings,
}

/// The web pages: where they are reached, how long a session lasts, and
/// the co-op's identity provider.
#[derive(Debug, Clone, Args)]
pub struct WebSettings {
    /// The address members and stewards reach the broker at, such as
    /// `https://coop.example`: sign-in links and the identity provider's
    /// redirect use it. Default: `http://` and the address it listens on.
    #[arg(long, env = "DATACOOP_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<url::Url>,

    /// Seconds a web session lasts without a request.
    #[arg(long, env = "DATACOOP_SESSION_IDLE_SECS", default_value = "1800", value_parser = parse_session_idle)]
    pub session_idle_secs: u64,

    /// Seconds a web session lasts at most, however busy.
    #[arg(long, env = "DATACOOP_SESSION_MAX_SECS", default_value = "43200", value_parser = parse_session_max)]
    pub session_max_secs: u64,

    /// Web sign-in attempts (a link used, an identity provider's answer) a
    /// minute from one client address, then 429; `0` turns it off.
    #[arg(long, env = "DATACOOP_RATE_LIMIT_SIGN_IN_PER_ADDRESS", default_value = "20", value_parser = parse_sign_in_per_address)]
    pub rate_limit_sign_in_per_address: u32,

    /// The co-op's OpenID Connect provider, such as
    /// `https://id.coop.example/realms/coop`. Unset: sign-in links only.
    #[arg(long, env = "DATACOOP_OIDC_ISSUER", requires_all = ["oidc_client_id", "oidc_client_secret"], value_parser = parse_oidc_issuer)]
    pub oidc_issuer: Option<url::Url>,

    /// The broker's client id at the identity provider.
    #[arg(long, env = "DATACOOP_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,

    /// The broker's client secret at the identity provider.
    #[arg(
        long,
        env = "DATACOOP_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        requires = "oidc_issuer"
    )]
    pub oidc_client_secret: Option<SecretString>,

    /// Scopes asked for beside `openid`, separated by spaces (the groups
    /// claim is often released only for a scope of its own).
    #[arg(long, env = "DATACOOP_OIDC_SCOPES", default_value = "profile groups", value_parser = parse_oidc_scopes)]
    pub oidc_scopes: OidcScopes,

    /// The ID token claim listing the groups of the person signing in.
    #[arg(long, env = "DATACOOP_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,

    /// The group whose members are stewards.
    #[arg(
        long,
        env = "DATACOOP_OIDC_STEWARD_GROUP",
        default_value = "datacoop-stewards"
    )]
    pub oidc_steward_group: String,
}

/// The scopes of `DATACOOP_OIDC_SCOPES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcScopes(pub Vec<String>);

fn parse_oidc_scopes(raw: &str) -> Result<OidcScopes, String> {
    let scopes: Vec<String> = raw
        .split_whitespace()
        .filter(|scope| *scope != "openid")
        .map(str::to_owned)
        .collect();
    // RFC 6749 §3.3: printable ASCII but space, `"` and `\`.
    let valid = |scope: &str| {
        scope.bytes().all(|byte| {
            byte == 0x21 || (0x23..=0x5b).contains(&byte) || (0x5d..=0x7e).contains(&byte)
        })
    };
    if scopes.len() > 20 || !scopes.iter().all(|scope| valid(scope)) {
        return Err(format!(
            "DATACOOP_OIDC_SCOPES must be OAuth 2.0 scopes separated by spaces, not `{raw}`"
        ));
    }
    Ok(OidcScopes(scopes))
}

impl WebSettings {
    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_secs)
    }

    pub fn session_max(&self) -> Duration {
        Duration::from_secs(self.session_max_secs)
    }
}

impl ServeSettings {
    /// What one member (or owner) may hold at most.
    pub fn store_limits(&self) -> crate::store::Limits {
        crate::store::Limits {
            rules_per_owner: self.max_rules_per_owner,
            delegations_per_member: self.max_delegations_per_member,
            data_bytes_per_member: self.max_data_bytes_per_member,
            ..self.database.store_limits()
        }
    }

    pub fn shutdown_drain(&self) -> Duration {
        Duration::from_secs(self.shutdown_drain_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    pub fn webhooks(&self) -> crate::webhook::DeliverySettings {
        crate::webhook::DeliverySettings {
            timeout: Duration::from_secs(self.webhook_timeout_secs),
            horizon: Duration::from_secs(self.webhook_horizon_secs),
            allow_loopback: self.allow_insecure_webhooks,
        }
    }

    pub fn deletion_grace(&self) -> Duration {
        Duration::from_secs(self.deletion_grace_secs)
    }

    pub fn rate_limits(&self) -> RateLimitSettings {
        RateLimitSettings {
            token_per_address: self.rate_limit_token_per_address,
            token_per_client: self.rate_limit_token_per_client,
            failed_auth_per_address: self.rate_limit_failed_auth_per_address,
            sign_in_per_address: self.web.rate_limit_sign_in_per_address,
        }
    }
}

/// A database URL. It may carry a password, so it never prints.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }

    /// `sqlite` or `postgres`: safe to log.
    pub fn scheme(&self) -> &str {
        self.expose().split(':').next().unwrap_or_default()
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({}://…)", self.scheme())
    }
}

fn parse_flag(raw: &str) -> Result<bool, String> {
    match raw {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(format!(
            "DATACOOP_ALLOW_INSECURE_WEBHOOKS must be `true` or `false`, not `{raw}`"
        )),
    }
}

fn parse_max_connections(raw: &str) -> Result<u32, String> {
    parse_bounded(
        "DATACOOP_DATABASE_MAX_CONNECTIONS",
        "connections",
        1,
        1000,
        raw,
    )
    .and_then(|value| u32::try_from(value).map_err(|error| error.to_string()))
}

fn parse_acquire_timeout(raw: &str) -> Result<u64, String> {
    parse_bounded(
        "DATACOOP_DATABASE_ACQUIRE_TIMEOUT_SECS",
        "seconds",
        1,
        300,
        raw,
    )
}

fn parse_drain(raw: &str) -> Result<u64, String> {
    parse_bounded("DATACOOP_SHUTDOWN_DRAIN_SECS", "seconds", 0, 300, raw)
}

fn parse_migrate_flag(raw: &str) -> Result<bool, String> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!(
            "DATACOOP_MIGRATE_ON_START must be `true` or `false`, not `{raw}`"
        )),
    }
}

fn parse_webhook_timeout(raw: &str) -> Result<u64, String> {
    parse_bounded("DATACOOP_WEBHOOK_TIMEOUT_SECS", "seconds", 1, 300, raw)
}

fn parse_webhook_horizon(raw: &str) -> Result<u64, String> {
    parse_bounded(
        "DATACOOP_WEBHOOK_HORIZON_SECS",
        "seconds",
        1,
        90 * 24 * 3600,
        raw,
    )
}

fn parse_deletion_grace(raw: &str) -> Result<u64, String> {
    parse_bounded(
        "DATACOOP_DELETION_GRACE_SECS",
        "seconds",
        1,
        365 * 24 * 3600,
        raw,
    )
}

fn parse_dp_budget(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(budget) if budget.is_finite() && (0.0..=1_000_000.0).contains(&budget) => Ok(budget),
        _ => Err(format!(
            "DATACOOP_DP_BUDGET must be a number from 0 to 1000000, not `{raw}`"
        )),
    }
}

fn parse_database_url(raw: &str) -> Result<DatabaseUrl, String> {
    let supported = ["sqlite:", "postgres://", "postgresql://"];
    if supported.iter().any(|prefix| raw.starts_with(prefix)) {
        Ok(DatabaseUrl(SecretString::from(raw.to_owned())))
    } else {
        Err("DATACOOP_DATABASE_URL must start with `sqlite:` or `postgres://`".to_owned())
    }
}

fn parse_listen(raw: &str) -> Result<SocketAddr, String> {
    raw.parse().map_err(|_| {
        format!(
            "DATACOOP_LISTEN must be an IP address and port such as 127.0.0.1:8080, not `{raw}`"
        )
    })
}

fn parse_admin_token(raw: &str) -> Result<SecretString, String> {
    if raw.len() < 32 {
        return Err("DATACOOP_ADMIN_TOKEN must be at least 32 characters".to_owned());
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            "DATACOOP_ADMIN_TOKEN must not contain spaces or control characters".to_owned(),
        );
    }
    Ok(SecretString::from(raw.to_owned()))
}

fn parse_body_limit(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(bytes) if (1024..=64 * 1024 * 1024).contains(&bytes) => Ok(bytes),
        _ => Err(format!(
            "DATACOOP_MAX_BODY_BYTES must be a number of bytes from 1024 to 67108864, not `{raw}`"
        )),
    }
}

fn parse_origin(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.chars().any(char::is_control) {
        return Err("must be non-empty, without newlines or other control characters".into());
    }
    Ok(raw.to_owned())
}

fn parse_share(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("a share must be a number from 0 to 1, not `{raw}`")),
    }
}

fn parse_token_ttl(raw: &str) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(seconds) if (60..=86_400).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "DATACOOP_ACCESS_TOKEN_TTL_SECS must be a whole number of seconds from 60 to 86400, not `{raw}`"
        )),
    }
}

fn parse_secret_verifications(raw: &str) -> Result<NonZeroUsize, String> {
    match raw.parse::<NonZeroUsize>() {
        Ok(count) if count.get() <= MAX_SECRET_VERIFICATIONS => Ok(count),
        _ => Err(format!(
            "DATACOOP_MAX_SECRET_VERIFICATIONS must be a whole number from 1 to {MAX_SECRET_VERIFICATIONS}, not `{raw}`"
        )),
    }
}

/// Requests a minute: 0 (off) to 1,000,000.
fn parse_per_minute(variable: &str, raw: &str) -> Result<u32, String> {
    match raw.parse::<u32>() {
        Ok(count) if count <= 1_000_000 => Ok(count),
        _ => Err(format!(
            "{variable} must be a whole number of requests a minute from 0 (off) to 1000000, not `{raw}`"
        )),
    }
}

fn parse_token_per_address(raw: &str) -> Result<u32, String> {
    parse_per_minute("DATACOOP_RATE_LIMIT_TOKEN_PER_ADDRESS", raw)
}

fn parse_token_per_client(raw: &str) -> Result<u32, String> {
    parse_per_minute("DATACOOP_RATE_LIMIT_TOKEN_PER_CLIENT", raw)
}

fn parse_failed_auth_per_address(raw: &str) -> Result<u32, String> {
    parse_per_minute("DATACOOP_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS", raw)
}

fn parse_bounded(
    variable: &str,
    what: &str,
    low: u64,
    high: u64,
    raw: &str,
) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(value) if (low..=high).contains(&value) => Ok(value),
        _ => Err(format!(
            "{variable} must be a whole number of {what} from {low} to {high}, not `{raw}`"
        )),
    }
}

fn parse_session_idle(raw: &str) -> Result<u64, String> {
    parse_bounded("DATACOOP_SESSION_IDLE_SECS", "seconds", 1, 86_400, raw)
}

fn parse_session_max(raw: &str) -> Result<u64, String> {
    parse_bounded("DATACOOP_SESSION_MAX_SECS", "seconds", 1, 30 * 86_400, raw)
}

fn parse_sign_in_per_address(raw: &str) -> Result<u32, String> {
    parse_per_minute("DATACOOP_RATE_LIMIT_SIGN_IN_PER_ADDRESS", raw)
}

fn parse_public_url(raw: &str) -> Result<url::Url, String> {
    parse_base_url("DATACOOP_PUBLIC_URL", raw)
}

fn parse_oidc_issuer(raw: &str) -> Result<url::Url, String> {
    parse_base_url("DATACOOP_OIDC_ISSUER", raw)
}

/// An `http` or `https` URL with a host and nothing after its path.
fn parse_base_url(variable: &str, raw: &str) -> Result<url::Url, String> {
    match url::Url::parse(raw) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && url.query().is_none()
                && url.fragment().is_none()
                && url.path() == "/"
                && url.username().is_empty()
                && url.password().is_none() =>
        {
            Ok(url)
        }
        _ => Err(format!(
            "{variable} must be an http or https URL such as https://coop.example, without path, query or credentials, not `{raw}`"
        )),
    }
}

fn parse_rules_per_owner(raw: &str) -> Result<u64, String> {
    parse_bounded("DATACOOP_MAX_RULES_PER_OWNER", "rules", 1, 1_000_000, raw)
}

fn parse_delegations_per_member(raw: &str) -> Result<u64, String> {
    parse_bounded(
        "DATACOOP_MAX_DELEGATIONS_PER_MEMBER",
        "delegations",
        1,
        100_000,
        raw,
    )
}

fn parse_data_bytes_per_member(raw: &str) -> Result<u64, String> {
    parse_bounded(
        "DATACOOP_MAX_DATA_BYTES_PER_MEMBER",
        "bytes",
        1024,
        1 << 34,
        raw,
    )
}

fn parse_depth(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(depth) if (1..=256).contains(&depth) => Ok(depth),
        _ => Err(format!(
            "DATACOOP_MAX_DELEGATION_DEPTH must be a whole number of hops from 1 to 256, not `{raw}`"
        )),
    }
}

fn parse_timeout(raw: &str) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(seconds) if (1..=3600).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "DATACOOP_REQUEST_TIMEOUT_SECS must be a whole number of seconds from 1 to 3600, not `{raw}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert!(
            parse_listen("nope")
                .unwrap_err()
                .contains("DATACOOP_LISTEN")
        );
        assert!(
            parse_database_url("mysql://x")
                .unwrap_err()
                .contains("DATACOOP_DATABASE_URL")
        );
        assert!(
            parse_admin_token("short")
                .unwrap_err()
                .contains("DATACOOP_ADMIN_TOKEN")
        );
        assert!(
            parse_body_limit("0")
                .unwrap_err()
                .contains("DATACOOP_MAX_BODY_BYTES")
        );
        assert!(
            parse_timeout("-1")
                .unwrap_err()
                .contains("DATACOOP_REQUEST_TIMEOUT_SECS")
        );
        assert!(
            parse_token_ttl("59")
                .unwrap_err()
                .contains("DATACOOP_ACCESS_TOKEN_TTL_SECS")
        );
        assert!(
            parse_secret_verifications("0")
                .unwrap_err()
                .contains("DATACOOP_MAX_SECRET_VERIFICATIONS")
        );
        assert!(
            parse_secret_verifications("257")
                .unwrap_err()
                .contains("DATACOOP_MAX_SECRET_VERIFICATIONS")
        );
        for (parse, variable) in [
            (
                parse_token_per_address as fn(&str) -> Result<u32, String>,
                "DATACOOP_RATE_LIMIT_TOKEN_PER_ADDRESS",
            ),
            (
                parse_token_per_client,
                "DATACOOP_RATE_LIMIT_TOKEN_PER_CLIENT",
            ),
            (
                parse_failed_auth_per_address,
                "DATACOOP_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS",
            ),
        ] {
            assert!(parse("-1").unwrap_err().contains(variable));
            assert!(parse("1000001").unwrap_err().contains(variable));
            assert_eq!(parse("0"), Ok(0));
        }
    }

    #[test]
    fn bad_limits_name_their_variable() {
        for (parse, variable) in [
            (
                parse_rules_per_owner as fn(&str) -> Result<u64, String>,
                "DATACOOP_MAX_RULES_PER_OWNER",
            ),
            (
                parse_delegations_per_member,
                "DATACOOP_MAX_DELEGATIONS_PER_MEMBER",
            ),
            (
                parse_data_bytes_per_member,
                "DATACOOP_MAX_DATA_BYTES_PER_MEMBER",
            ),
        ] {
            for bad in ["0", "-1", "many", "99999999999999999999"] {
                assert!(
                    parse(bad).unwrap_err().contains(variable),
                    "{variable}={bad}"
                );
            }
        }
        assert_eq!(parse_rules_per_owner("5"), Ok(5));
        assert_eq!(parse_data_bytes_per_member("2048"), Ok(2048));
    }

    #[test]
    fn database_urls_never_print_their_password() {
        let url = parse_database_url("postgres://u:hunter2@db/coop").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.scheme(), "postgres");
    }

    #[test]
    fn flags_parse_into_settings() {
        let cli = Cli::try_parse_from([
            "datacoop",
            "serve",
            "--listen",
            "0.0.0.0:9000",
            "--database-url",
            "sqlite://x.db",
            "--log-format",
            "json",
        ])
        .unwrap();
        let Command::Serve(settings) = cli.command else {
            panic!("expected serve");
        };
        assert_eq!(settings.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(settings.database.database_url.expose(), "sqlite://x.db");
        assert_eq!(settings.max_body_bytes, 1024 * 1024);
        assert_eq!(settings.access_token_ttl(), Duration::from_secs(900));
        assert_eq!(settings.max_secret_verifications, None);
        assert_eq!(settings.rate_limits(), RateLimitSettings::default());
        assert_eq!(cli.log.log_format, LogFormat::Json);
    }
}
