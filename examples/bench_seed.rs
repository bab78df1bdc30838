//! Benchmark helper: fills a database fast with `--users` accounts
//! `user<ID>@bench.example.com`, one token each, for `bench/run` and `bench/ab`. It reads the
//! same settings as `kitchen-api` and migrates through the crate's own [`Db`]. Every user
//! shares ONE Argon2id hash of `--password` made with the configured parameters, so a login
//! costs what a real one does. Up to `--tokens-in-file` token texts, spread over the whole
//! table, go to `--tokens-file`; the last line on stdout is a JSON summary.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use clap::Parser;
use kitchen_api::auth::{Argon2Hasher, PasswordHasher, PlainToken};
use kitchen_api::config::Config;
use kitchen_api::db::Db;
use kitchen_api::domain::Password;
use sqlx::{Connection, QueryBuilder, Sqlite};

#[derive(Debug, Parser)]
#[command(name = "bench_seed", about = "Bulk-insert benchmark users and tokens")]
struct Args {
    /// How many users (each with one token) to add.
    #[arg(long, default_value_t = 1000)]
    users: u64,

    /// The password every seeded user has.
    #[arg(long, default_value = "correct-horse-battery-staple-42")]
    password: String,

    /// Where to write token texts, one per line.
    #[arg(long)]
    tokens_file: PathBuf,

    /// At most this many tokens go to the file, taken evenly across all users.
    #[arg(long, default_value_t = 100_000)]
    tokens_in_file: u64,

    /// Rows per transaction (SQLite splits them into INSERTs of 1000 rows).
    #[arg(long, default_value_t = 10_000)]
    batch: u64,

    #[command(flatten)]
    config: Config,
}

/// Rows per multi-row INSERT on SQLite: 5 bound values each stays far below SQLite's limit of
/// 32766 variables per statement.
const SQLITE_ROWS_PER_STATEMENT: usize = 1000;

/// One batch of users `first..first + count` and their freshly generated tokens.
struct Batch {
    ids: Vec<i64>,
    emails: Vec<String>,
    digests: Vec<Vec<u8>>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.config.validate()?;
    let started = Instant::now();

    let hasher = Argon2Hasher::new(args.config.argon2_params()?);
    let password = Password::new(args.password.clone());
    let phc = tokio::task::spawn_blocking(move || hasher.hash(&password)).await??;

    let db = Db::connect(&args.config).await?;
    db.migrate().await?;

    let first_id: i64 = match &db {
        Db::Sqlite(pools) => {
            sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) FROM users")
                .fetch_one(pools.read())
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0)::BIGINT FROM users")
                .fetch_one(pool)
                .await?
        }
    } + 1;
    let total = i64::try_from(args.users)?;
    let batch_size = i64::try_from(args.batch)?.max(1);
    // Every `stride`-th user's token goes to the file, so the file spans the whole table.
    let stride = i64::try_from((args.users / args.tokens_in_file.max(1)).max(1))?;

    let mut file = BufWriter::new(File::create(&args.tokens_file)?);
    let now = kitchen_api::auth::SystemClock;
    let now = kitchen_api::auth::Clock::now(&now);
    let mut written = 0u64;
    let mut sqlite_conn = match &db {
        Db::Sqlite(pools) => {
            let mut conn = pools.write().acquire().await?;
            // This connection only: the unique indexes are written in random order, and a
            // benchmark database that a power cut breaks is simply seeded again.
            for pragma in ["PRAGMA cache_size = -262144", "PRAGMA synchronous = OFF"] {
                sqlx::query(pragma).execute(&mut *conn).await?;
            }
            Some(conn)
        }
        Db::Postgres(_) => None,
    };

    let mut start = 0i64;
    while start < total {
        let count = batch_size.min(total - start);
        let mut batch = Batch {
            ids: Vec::with_capacity(usize::try_from(count)?),
            emails: Vec::with_capacity(usize::try_from(count)?),
            digests: Vec::with_capacity(usize::try_from(count)?),
        };
        for offset in start..start + count {
            let id = first_id + offset;
            let token = PlainToken::generate();
            if offset % stride == 0 && written < args.tokens_in_file {
                writeln!(file, "{}", token.expose())?;
                written += 1;
            }
            batch.ids.push(id);
            batch.emails.push(format!("user{id}@bench.example.com"));
            batch.digests.push(token.digest().as_bytes().to_vec());
        }
        match (&db, sqlite_conn.as_mut()) {
            (Db::Sqlite(_), Some(conn)) => insert_sqlite(conn, &batch, &phc, now).await?,
            (Db::Postgres(pool), _) => insert_postgres(pool, &batch, &phc, now).await?,
            (Db::Sqlite(_), None) => anyhow::bail!("no SQLite connection"),
        }
        start += count;
    }
    file.flush()?;
    drop(sqlite_conn);

    if let Db::Postgres(pool) = &db {
        // Explicit ids do not advance the identity sequence; registrations must not collide.
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('users', 'id'), \
             (SELECT COALESCE(MAX(id), 1) FROM users))",
        )
        .execute(pool)
        .await?;
        // So every run starts with the plans autovacuum would soon make anyway.
        sqlx::query("ANALYZE users").execute(pool).await?;
        sqlx::query("ANALYZE tokens").execute(pool).await?;
    }
    if let Db::Sqlite(pools) = &db {
        // No ANALYZE: the service never runs it, and with STAT4 statistics SQLite prepares
        // a query comparing an indexed column to a parameter again on every execution.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(pools.write())
            .await?;
    }
    let version: String = match &db {
        Db::Sqlite(pools) => {
            sqlx::query_scalar("SELECT sqlite_version()")
                .fetch_one(pools.read())
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar("SHOW server_version")
                .fetch_one(pool)
                .await?
        }
    };
    db.close().await;

    let summary = serde_json::json!({
        "engine": db.engine(),
        "engine_version": version,
        "users": total,
        "first_id": first_id,
        "last_id": first_id + total - 1,
        "email_pattern": "user{id}@bench.example.com",
        "tokens_file": args.tokens_file,
        "tokens_written": written,
        "token_stride": stride,
        "batch": batch_size,
        "seconds": started.elapsed().as_secs_f64(),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{summary}")?;
    out.flush()?;
    Ok(())
}

/// One transaction: a multi-row INSERT of the users, then one of their tokens.
async fn insert_sqlite(
    conn: &mut sqlx::SqliteConnection,
    batch: &Batch,
    phc: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    let rows: Vec<(i64, &str, &[u8])> = batch
        .ids
        .iter()
        .zip(&batch.emails)
        .zip(&batch.digests)
        .map(|((id, email), digest)| (*id, email.as_str(), digest.as_slice()))
        .collect();
    for chunk in rows.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let mut users: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO users (id, email, email_key, password_hash, date_joined) ",
        );
        users.push_values(chunk, |mut row, (id, email, _)| {
            row.push_bind(*id)
                .push_bind(*email)
                .push_bind(email.to_lowercase())
                .push_bind(phc)
                .push_bind(now);
        });
        users.build().execute(&mut *tx).await?;
        let mut tokens: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO tokens (user_id, digest, created_at) ");
        tokens.push_values(chunk, |mut row, (id, _, digest)| {
            row.push_bind(*id).push_bind(*digest).push_bind(now);
        });
        tokens.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One transaction: users and tokens each inserted from arrays with `UNNEST`.
async fn insert_postgres(
    pool: &sqlx::PgPool,
    batch: &Batch,
    phc: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let keys: Vec<String> = batch.emails.iter().map(|e| e.to_lowercase()).collect();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO users (id, email, email_key, password_hash, date_joined) \
         SELECT id, email, email_key, $4, $5 \
         FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[]) AS t(id, email, email_key)",
    )
    .bind(&batch.ids)
    .bind(&batch.emails)
    .bind(&keys)
    .bind(phc)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO tokens (user_id, digest, created_at) \
         SELECT id, digest, $3 FROM UNNEST($1::BIGINT[], $2::BYTEA[]) AS t(id, digest)",
    )
    .bind(&batch.ids)
    .bind(&batch.digests)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
