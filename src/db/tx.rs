//! A transaction on whichever engine [`Db`] holds, and [`On`], which lets one query function
//! run either on the pools or inside a transaction.

use super::Db;
use super::pools::WriterHealth;

/// An open transaction on our database (on SQLite, on the writer).
pub struct Tx {
    pub(super) conn: TxConn,
    health: Option<WriterHealth>,
}

pub(super) enum TxConn {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl TxConn {
    async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            TxConn::Sqlite(tx) => tx.commit().await,
            TxConn::Postgres(tx) => tx.commit().await,
        }
    }
}

/// Where a query runs: on the pools, or inside an open transaction.
pub enum On<'a> {
    Db(&'a Db),
    Tx(&'a mut Tx),
}

impl<'a> From<&'a Db> for On<'a> {
    fn from(db: &'a Db) -> Self {
        On::Db(db)
    }
}

impl<'a> From<&'a mut Tx> for On<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        On::Tx(tx)
    }
}

/// Runs the expression on the connection of whichever transaction `tx` (a `&mut Tx`) holds.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match &mut $tx.conn {
            $crate::db::tx::TxConn::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::db::tx::TxConn::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

/// [`on_db!`](super::on_db) or [`on_tx!`] for an `impl Into<On>`: a statement that writes.
macro_rules! on {
    (write $on:expr, $conn:ident => $body:expr) => {
        match ::std::convert::Into::<$crate::db::On<'_>>::into($on) {
            $crate::db::On::Db(db) => $crate::db::on_db!(write db, $conn => $body),
            $crate::db::On::Tx(tx) => $crate::db::on_tx!(tx, $conn => $body),
        }
    };
}
pub(crate) use on;

impl Tx {
    pub async fn begin(db: &Db) -> Result<Tx, sqlx::Error> {
        Ok(match db {
            Db::Sqlite(pools) => {
                let begun = pools.write().begin().await;
                if begun.is_err() {
                    pools.note_write(&begun);
                }
                Tx {
                    conn: TxConn::Sqlite(begun?),
                    health: Some(pools.health.clone()),
                }
            }
            Db::Postgres(pool) => Tx {
                conn: TxConn::Postgres(pool.begin().await?),
                health: None,
            },
        })
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.conn.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.conn {
            TxConn::Sqlite(tx) => tx.rollback().await,
            TxConn::Postgres(tx) => tx.rollback().await,
        }
    }

    /// Commits if `done` is `Ok`, else rolls back, and notes how the write ended for `/readyz`.
    pub async fn finish<T>(self, done: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        let Tx { conn, health } = self;
        let result = match done {
            Ok(value) => conn.commit().await.map(|()| value),
            Err(e) => Err(e),
        };
        if let Some(health) = health {
            health.note_result(&result);
        }
        result
    }

    pub(super) fn is_postgres(&self) -> bool {
        matches!(self.conn, TxConn::Postgres(_))
    }
}
