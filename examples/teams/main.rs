//! The teams example (the shape of kitcn's and Convex's own examples): procedures in two modules composed through generated callers.
//!
//! - `cargo run --example teams` runs a tour of the procedures in-process, on the durable
//!   embedded store in `data/teams` (`-- --data <dir>` for another directory,
//!   `-- --postgres <url>` for a PostgreSQL database instead).
//! - `cargo run --example teams -- serve` serves them with the Convex HTTP API on
//!   `127.0.0.1:3210` (`--addr <host:port>` for another address, `--data <dir>` for the
//!   data directory, `--postgres <url>` for a PostgreSQL database, which several servers
//!   may share, `--dev` for development mode). Auth providers come from the environment,
//!   see `auth_from_env`.

mod auth;
mod teams;
mod users;

use convoke::http::{AuthConfig, AuthProvider, Server, shutdown_signal};
use std::time::Duration;

use convoke::store::{PostgresStore, SqliteStore};
use convoke::testing::TestRuntime;
use convoke::{Runtime, RuntimeBuilder, UserIdentity};

/// Where the app keeps its data unless `--data <dir>` says otherwise.
const DEFAULT_DATA_DIR: &str = "data/teams";

/// Where the app keeps its data.
enum Storage {
    /// The durable embedded store, in this directory.
    Dir(String),
    /// A PostgreSQL database, at this URL.
    Postgres(String),
}

impl Storage {
    fn builder(&self) -> convoke::Result<RuntimeBuilder> {
        Ok(match self {
            Storage::Dir(dir) => Runtime::builder().storage(SqliteStore::open(dir)?),
            Storage::Postgres(url) => Runtime::builder().storage(PostgresStore::connect(url)?),
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]).await,
        None => Ok(tour(&Storage::Dir(DEFAULT_DATA_DIR.to_owned())).await?),
        Some("--data") => match args.get(1) {
            Some(dir) => Ok(tour(&Storage::Dir(dir.clone())).await?),
            None => Err("--data needs <dir>".into()),
        },
        Some("--postgres") => match args.get(1) {
            Some(url) => Ok(tour(&Storage::Postgres(url.clone())).await?),
            None => Err("--postgres needs <url>".into()),
        },
        Some(other) => Err(format!(
            "unknown command {other:?}: expected `serve`, `--data <dir>`, `--postgres <url>` or nothing"
        )
        .into()),
    }
}

/// Serves the app's public procedures over HTTP until Ctrl-C or SIGTERM.
async fn serve(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = "127.0.0.1:3210".to_owned();
    let mut storage = Storage::Dir(DEFAULT_DATA_DIR.to_owned());
    let mut development = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--addr" => addr = rest.next().ok_or("--addr needs <host:port>")?.clone(),
            "--data" => storage = Storage::Dir(rest.next().ok_or("--data needs <dir>")?.clone()),
            "--postgres" => {
                storage = Storage::Postgres(rest.next().ok_or("--postgres needs <url>")?.clone())
            }
            "--dev" => development = true,
            other => {
                return Err(format!(
                    "unknown option {other:?}: expected --addr, --data, --postgres or --dev"
                )
                .into());
            }
        }
    }
    // The durable embedded store (every acknowledged commit is in the data directory on
    // disk), or a PostgreSQL database that other servers of the app may share.
    let runtime = storage.builder()?.build()?;
    // Scheduled functions run on the scheduler's worker while the server runs.
    let _scheduler = runtime.start_scheduler();
    let auth = auth_from_env()?;
    let providers = auth.providers().len();
    let server = Server::builder(runtime)
        .auth(auth)
        .development(development)
        .build()
        .await?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "convoke: serving the teams app on http://{} ({} auth provider(s){})",
        listener.local_addr()?,
        providers,
        if development {
            ", development mode"
        } else {
            ""
        }
    );
    println!("  POST /api/query | /api/mutation | /api/action  {{\"path\", \"args\", \"format\"}}");
    println!("  GET  /api/query?path=..&args=..   POST /api/run/{{module}}/{{function}}");
    println!("public procedures:");
    for p in convoke::procedures() {
        if p.visibility == convoke::Visibility::Public {
            println!("  {:<8} {}", p.kind, p.path);
        }
    }
    server.serve(listener, shutdown_signal()).await?;
    println!("convoke: stopped");
    Ok(())
}

/// Auth providers from the environment, all optional:
///
/// - `CONVOKE_AUTH_ISSUER` and `CONVOKE_AUTH_APPLICATION_ID`, with the keys from
///   `CONVOKE_AUTH_JWKS_URL`, `CONVOKE_AUTH_JWKS_FILE` or `CONVOKE_AUTH_JWKS` (inline JSON);
/// - or, with `--dev` only, `CONVOKE_AUTH_HS256_SECRET` (HS256 with a shared secret).
fn auth_from_env() -> Result<AuthConfig, Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(issuer) = var("CONVOKE_AUTH_ISSUER") else {
        return Ok(AuthConfig::new());
    };
    let app = var("CONVOKE_AUTH_APPLICATION_ID").ok_or("CONVOKE_AUTH_APPLICATION_ID is not set")?;
    let provider = if let Some(url) = var("CONVOKE_AUTH_JWKS_URL") {
        AuthProvider::jwks_url(issuer, app, url)
    } else if let Some(path) = var("CONVOKE_AUTH_JWKS_FILE") {
        AuthProvider::jwks_file(issuer, app, path)
    } else if let Some(json) = var("CONVOKE_AUTH_JWKS") {
        AuthProvider::jwks(issuer, app, &json)?
    } else if let Some(secret) = var("CONVOKE_AUTH_HS256_SECRET") {
        AuthProvider::hs256_for_development(issuer, app, secret)
    } else {
        return Err("set CONVOKE_AUTH_JWKS_URL, CONVOKE_AUTH_JWKS_FILE, CONVOKE_AUTH_JWKS or CONVOKE_AUTH_HS256_SECRET".into());
    };
    Ok(AuthConfig::new().provider(provider))
}

/// A tour of the procedures, in-process.
async fn tour(storage: &Storage) -> convoke::Result<()> {
    // The durable embedded store, in a data directory, or PostgreSQL (run the tour again:
    // the data of the earlier runs is still there). The tour runs as a `TestRuntime`, whose
    // scheduler runs on a virtual clock, so it can skip ahead instead of waiting.
    let test = TestRuntime::from_builder(storage.builder()?)?;
    let rt = test
        .runtime()
        .with_identity(UserIdentity::new("https://auth.example", "ada"));

    // Typed entry points take the procedure function itself.
    let owner = rt
        .mutation(users::create_user, users::CreateUser { name: "Ada".into() })
        .await?;
    let team = rt
        .mutation(
            teams::create_team,
            teams::CreateTeam {
                name: "Analytical Engines".into(),
                owner_id: owner,
            },
        )
        .await?;
    println!("created team {team} owned by {owner}");

    // A query that composes two other queries through the module callers.
    let both = rt
        .query(teams::get_team_and_owner, teams::GetTeam { team_id: team })
        .await?;
    println!("{} is owned by {}", both.team.name, both.owner.name);

    // A mutation calling a query (same transaction) and a mutation (savepoint).
    let renamed = rt
        .mutation(
            teams::rename_team,
            teams::RenameTeam {
                team_id: team,
                name: "Difference Engines".into(),
            },
        )
        .await?;
    println!("renamed; the team now has {} member(s)", renamed.members);

    // A procedure behind the `Authed` middleware: the signed-in user joins; an anonymous
    // call is refused before the handler runs.
    let members = rt
        .mutation(teams::join_team, teams::JoinTeam { team_id: team })
        .await?;
    println!("ada joined: {members} member(s)");
    let refused = rt
        .without_identity()
        .mutation(teams::join_team, teams::JoinTeam { team_id: team })
        .await
        .unwrap_err();
    println!("anonymous join -> {refused}");

    // An action reaching the database through queries and mutations, and other actions.
    let report = rt
        .action(
            teams::onboard,
            teams::Onboard {
                team_id: team,
                name: "Charles".into(),
            },
        )
        .await?;
    println!("onboarding: {report}");

    // Scheduled functions: `onboard` scheduled `teams:notify` for now, `rename_team` for a
    // minute from now. Run what is due, then skip a minute ahead (`serve` runs them on the
    // system clock, with the worker from `start_scheduler`).
    let ran = rt.run_due_scheduled_functions().await?;
    println!("scheduled functions due now: {ran} ran");
    let ran = test.advance_time(Duration::from_secs(60)).await?;
    println!("a minute later: {ran} more ran; _scheduled_functions holds:");
    for (path, state) in rt.query(teams::scheduled_jobs, ()).await? {
        println!("  {path:<14} {state}");
    }

    // By-name dispatch, as the HTTP layer and the scheduler use it.
    let json = rt
        .run(
            "teams:getTeam",
            serde_json::json!({ "team_id": team.to_string() }),
        )
        .await?;
    println!("teams:getTeam -> {json}");

    // Bad input is a clear error, never a crash.
    let err = rt
        .run("teams:getTeam", serde_json::json!({ "team_id": 5 }))
        .await
        .unwrap_err();
    println!("bad arguments -> {err}");
    let err = rt
        .run("teams:nope", serde_json::json!({}))
        .await
        .unwrap_err();
    println!("unknown path -> {err}");

    println!("\nregistered procedures:");
    for p in convoke::procedures() {
        println!("  {:<8} {:<28} {:?}", p.kind, p.path, p.visibility);
    }
    Ok(())
}
