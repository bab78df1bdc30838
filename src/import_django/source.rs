//! Reading the Django 4.2 service's database, read-only, in batches by id: the tables
//! `authentication_user`, and where present `authentication_userprofile` and `authtoken_token`
//! (`authentication_useraddress` is read by [`super::addresses`]).

use std::str::FromStr;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::db::{Db, SqlitePools, on_db};

/// One Django user with its profile and its DRF token, as stored there.
#[derive(Debug, Clone)]
pub struct DjangoUser {
    pub id: i64,
    pub email: String,
    pub password: Secret,
    pub is_superuser: bool,
    pub is_staff: bool,
    pub is_active: bool,
    pub date_joined: DateTime<Utc>,
    pub name: Option<String>,
    pub date_of_birth: Option<String>,
    pub profile_picture: Option<String>,
    pub bio: Option<String>,
    pub phone_number: Option<String>,
    pub token_key: Option<Secret>,
}

/// A password hash or a token read from Django; `Debug` prints nothing.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A row that could not be read (a broken value in a column), with the column and cause.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub id: i64,
    pub reason: String,
}

/// The Django database, opened read-only, and which optional tables it has.
pub struct Source {
    db: Db,
    select: String,
}

impl Source {
    /// Opens `url`; a SQLite file read-only: the import never writes to the service it replaces.
    pub async fn open(url: &str) -> anyhow::Result<Source> {
        let db = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .context("--from is not a valid sqlite: URL")?
                .read_only(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .context("cannot open the Django SQLite database")?;
            Db::Sqlite(SqlitePools::single(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .context("cannot connect to the Django PostgreSQL database")?;
            Db::Postgres(pool)
        } else {
            anyhow::bail!("--from must be a sqlite: or postgres:// URL");
        };
        let has_profiles = has_table(&db, "authentication_userprofile").await;
        let has_tokens = has_table(&db, "authtoken_token").await;
        if !has_table(&db, "authentication_user").await {
            anyhow::bail!("the --from database has no authentication_user table");
        }
        Ok(Source {
            select: select_sql(has_profiles, has_tokens),
            db,
        })
    }

    /// The Django database itself, for the readers of the other tables.
    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    pub fn engine(&self) -> &'static str {
        self.db.engine()
    }

    pub async fn count_users(&self) -> anyhow::Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM authentication_user";
        let n: i64 = on_db!(&self.db, pool => sqlx::query_scalar(SQL).fetch_one(pool).await)?;
        Ok(n)
    }

    /// Up to `limit` users with an id above `after_id`, by id.
    pub async fn batch(
        &self,
        after_id: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<Result<DjangoUser, Unreadable>>> {
        let sql = self.select.as_str();
        on_db!(&self.db, pool => {
            let rows = sqlx::query(sql)
                .bind(after_id)
                .bind(limit)
                .fetch_all(pool)
                .await
                .context("cannot read users from the Django database")?;
            rows.iter()
                .map(|row| {
                    let id: i64 = row.try_get("id")?;
                    let get_text = |c: &str| row.try_get::<Option<String>, _>(c);
                    let user = (|| -> Result<DjangoUser, (String, sqlx::Error)> {
                        let col = |c: &'static str| move |e| (c.to_owned(), e);
                        Ok(DjangoUser {
                            id,
                            email: row.try_get("email").map_err(col("email"))?,
                            password: Secret(row.try_get("password").map_err(col("password"))?),
                            is_superuser: row.try_get("is_superuser").map_err(col("is_superuser"))?,
                            is_staff: row.try_get("is_staff").map_err(col("is_staff"))?,
                            is_active: row.try_get("is_active").map_err(col("is_active"))?,
                            date_joined: row.try_get("date_joined").map_err(col("date_joined"))?,
                            name: get_text("name").map_err(col("name"))?,
                            date_of_birth: get_text("date_of_birth").map_err(col("date_of_birth"))?,
                            profile_picture: get_text("profile_picture")
                                .map_err(col("profile_picture"))?,
                            bio: get_text("bio").map_err(col("bio"))?,
                            phone_number: get_text("phone_number").map_err(col("phone_number"))?,
                            token_key: get_text("token_key").map_err(col("token_key"))?.map(Secret),
                        })
                    })();
                    Ok(user.map_err(|(column, e)| Unreadable {
                        id,
                        reason: format!("unreadable value in column {column}: {}", short(&e)),
                    }))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .context("a Django user row has no readable id")
        })
    }

    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// The cause of a decoding error without the value itself (it could be a secret).
pub(super) fn short(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::ColumnDecode { .. } => "not of the expected type".to_owned(),
        other => other.to_string(),
    }
}

/// Whether `table` exists, asked in SQL that both engines accept.
pub(super) async fn has_table(db: &Db, table: &str) -> bool {
    let sql = format!("SELECT 1 FROM {table} WHERE 1 = 0");
    on_db!(db, pool => sqlx::query(&sql).fetch_optional(pool).await.is_ok())
}

/// The batch query; strings cast to TEXT, so a value SQLite stored with another type is read.
fn select_sql(has_profiles: bool, has_tokens: bool) -> String {
    let profile = if has_profiles {
        "CAST(p.name AS TEXT) AS name, CAST(p.date_of_birth AS TEXT) AS date_of_birth, \
         CAST(p.profile_picture AS TEXT) AS profile_picture, CAST(p.bio AS TEXT) AS bio, \
         CAST(p.phone_number AS TEXT) AS phone_number"
    } else {
        "CAST(NULL AS TEXT) AS name, CAST(NULL AS TEXT) AS date_of_birth, \
         CAST(NULL AS TEXT) AS profile_picture, CAST(NULL AS TEXT) AS bio, \
         CAST(NULL AS TEXT) AS phone_number"
    };
    let token = if has_tokens {
        "CAST(t.key AS TEXT) AS token_key"
    } else {
        "CAST(NULL AS TEXT) AS token_key"
    };
    let mut sql = format!(
        "SELECT CAST(u.id AS BIGINT) AS id, CAST(u.email AS TEXT) AS email, \
         CAST(u.password AS TEXT) AS password, u.is_superuser, u.is_staff, u.is_active, \
         u.date_joined, {profile}, {token} FROM authentication_user u "
    );
    if has_profiles {
        sql.push_str("LEFT JOIN authentication_userprofile p ON p.user_id = u.id ");
    }
    if has_tokens {
        sql.push_str("LEFT JOIN authtoken_token t ON t.user_id = u.id ");
    }
    sql.push_str("WHERE u.id > $1 ORDER BY u.id LIMIT $2");
    sql
}
