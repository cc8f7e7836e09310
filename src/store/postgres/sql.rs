//! The SQL text of every statement the engine sends, with the schema name in it, built once
//! per store.

use super::NUMBER_BLOCK;
use super::committer::COMMIT_LOG_RETENTION;
use super::migrate::LAYOUT_VERSION;
use crate::store::Order;

/// The SQL statements, with the schema name in them.
pub(super) struct Statements {
    pub(super) take_runner_id: String,
    pub(super) runner_alive: String,
    pub(super) begin_snapshot: String,
    pub(super) begin_read_only_snapshot: String,
    pub(super) begin_exclusive: String,
    pub(super) commit_lock: String,
    pub(super) apply_commit: String,
    pub(super) prune_log: String,
    pub(super) prune_keys: String,
    pub(super) backfill_entries: String,
    pub(super) create_meta: String,
    pub(super) layout: String,
    pub(super) create_tables: String,
    pub(super) create_apply_commit: String,
    pub(super) stored_indexes: String,
    pub(super) drop_index_entries: String,
    pub(super) forget_indexes: String,
    pub(super) record_index: String,
    pub(super) documents_after: String,
    pub(super) get: String,
    /// By `[lower inclusive][upper inclusive][descending]`.
    pub(super) scans: [[[String; 2]; 2]; 2],
    pub(super) next_block: String,
    pub(super) lock: String,
}

impl Statements {
    pub(super) fn new(schema: &str) -> Self {
        let s = format!("\"{schema}\"");
        let scan = |lower: bool, upper: bool, desc: bool| {
            format!(
                "SELECT d.num, d.creation_time, d.fields FROM {s}.index_entries e \
                 JOIN {s}.documents d ON d.tbl = e.tbl AND d.num = e.num \
                 WHERE e.tbl = $1 AND e.idx = $2 AND e.key {} $3 AND e.key {} $4 \
                 ORDER BY e.key {} LIMIT $5",
                if lower { ">=" } else { ">" },
                if upper { "<=" } else { "<" },
                if desc { "DESC" } else { "ASC" },
            )
        };
        let by_bounds = |lower: bool| {
            [
                [scan(lower, false, false), scan(lower, false, true)],
                [scan(lower, true, false), scan(lower, true, true)],
            ]
        };
        // Runner locks: the two-key form, keyed by the schema, so that schemas do not share
        // runner ids.
        let runner_key = "hashtext($1 || '/runners')";
        Statements {
            take_runner_id: format!(
                "SELECT id FROM (SELECT nextval('{s}.runner_ids') AS id) n \
                 WHERE pg_try_advisory_lock({runner_key}, n.id::int)"
            ),
            runner_alive: format!(
                "SELECT CASE WHEN pg_try_advisory_lock({runner_key}, ($2::bigint)::int) \
                 THEN NOT pg_advisory_unlock({runner_key}, ($2::bigint)::int) ELSE true END"
            ),
            begin_snapshot: format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT value FROM {s}.meta WHERE key = 'commit_seq'"
            ),
            begin_read_only_snapshot: format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT value FROM {s}.meta WHERE key = 'commit_seq'"
            ),
            // The commit lock first (as `commit_lock` takes it), then the latest commit
            // number: in READ COMMITTED every later statement sees every commit up to it,
            // and no other commit can be made until this transaction ends.
            begin_exclusive: format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED; \
                 SELECT pg_advisory_xact_lock(hashtext('convoke'), hashtext('{schema}'))::text, \
                 set_config('convoke.commit_lock', '{schema}', true); \
                 SELECT value FROM {s}.meta WHERE key = 'commit_seq'"
            ),
            // Also marks the transaction as holding the lock, for `apply_commit`'s check.
            commit_lock: "SELECT pg_advisory_xact_lock(hashtext('convoke'), hashtext($1)), \
                          set_config('convoke.commit_lock', $1, true)"
                .to_owned(),
            apply_commit: format!(
                "SELECT {s}.apply_commit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
                 $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
            ),
            prune_log: format!(
                "WITH gone AS (DELETE FROM {s}.commit_log \
                 WHERE committed_at < now() - interval '{COMMIT_LOG_RETENTION}' RETURNING seq) \
                 UPDATE {s}.meta SET value = GREATEST(value, (SELECT coalesce(max(seq), 0) FROM gone)) \
                 WHERE key = 'pruned_through'"
            ),
            prune_keys: format!(
                "DELETE FROM {s}.commit_keys \
                 WHERE seq <= (SELECT value FROM {s}.meta WHERE key = 'pruned_through')"
            ),
            backfill_entries: format!(
                "INSERT INTO {s}.index_entries (tbl, idx, key, num) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[])"
            ),
            create_meta: format!(
                "CREATE SCHEMA IF NOT EXISTS {s};
                 CREATE TABLE IF NOT EXISTS {s}.meta (key text PRIMARY KEY, value bigint NOT NULL);"
            ),
            layout: format!("SELECT value FROM {s}.meta WHERE key = 'layout'"),
            create_tables: format!(
                "CREATE TABLE {s}.documents (
                     tbl text NOT NULL,
                     num bigint NOT NULL,
                     creation_time double precision NOT NULL,
                     fields text NOT NULL,
                     PRIMARY KEY (tbl, num)
                 );
                 CREATE TABLE {s}.index_entries (
                     tbl text NOT NULL,
                     idx text NOT NULL,
                     key bytea NOT NULL,
                     num bigint NOT NULL,
                     PRIMARY KEY (tbl, idx, key)
                 );
                 CREATE INDEX index_entries_by_document ON {s}.index_entries (tbl, num);
                 CREATE TABLE {s}.indexes (
                     tbl text NOT NULL,
                     idx text NOT NULL,
                     definition text NOT NULL,
                     PRIMARY KEY (tbl, idx)
                 );
                 CREATE TABLE {s}.commit_log (
                     seq bigint PRIMARY KEY,
                     committed_at timestamptz NOT NULL DEFAULT now()
                 );
                 CREATE TABLE {s}.commit_keys (
                     seq bigint NOT NULL,
                     tbl text NOT NULL,
                     idx text NOT NULL,
                     key bytea NOT NULL
                 );
                 CREATE INDEX commit_keys_by_commit ON {s}.commit_keys (seq);
                 CREATE INDEX commit_log_by_time ON {s}.commit_log (committed_at);
                 CREATE SEQUENCE {s}.document_numbers INCREMENT BY {NUMBER_BLOCK};
                 CREATE SEQUENCE {s}.runner_ids AS integer CYCLE;
                 INSERT INTO {s}.meta (key, value) VALUES
                     ('layout', {LAYOUT_VERSION}), ('commit_seq', 0), ('pruned_through', 0);"
            ),
            // Replaced at every start (it is code, not data), under the commit lock.
            create_apply_commit: format!(
                "CREATE OR REPLACE FUNCTION {s}.apply_commit(
                     snapshot bigint,
                     r_tbl text[], r_idx text[], r_low bytea[], r_high bytea[],
                     w_tbl text[], w_num bigint[],
                     d_tbl text[], d_num bigint[],
                     u_tbl text[], u_num bigint[], u_time double precision[], u_fields text[],
                     i_tbl text[], i_num bigint[], i_time double precision[], i_fields text[],
                     e_tbl text[], e_idx text[], e_key bytea[], e_num bigint[]
                 ) RETURNS text LANGUAGE plpgsql
                 -- The conflict check must read `commit_keys` through its index on `seq`
                 -- (the commits since the snapshot: a few rows), never scan the whole
                 -- table (every key committed in the retention window). PL/pgSQL switches
                 -- to generic plans after a few calls, and a generic or unanalyzed
                 -- estimate of `seq > snapshot` can pick a full scan: sequential scans are
                 -- counted out (every statement here has an index to use).
                 SET enable_seqscan = off
                 AS $apply$
                 DECLARE
                     hit text;
                     this_commit bigint;
                 BEGIN
                     -- Only inside the committer's transaction, after its commit lock.
                     IF current_setting('convoke.commit_lock', true) IS DISTINCT FROM '{schema}' THEN
                         RAISE EXCEPTION 'apply_commit runs only under the commit lock';
                     END IF;
                     IF array_length(r_tbl, 1) IS NOT NULL THEN
                         IF (SELECT value FROM {s}.meta WHERE key = 'pruned_through') > snapshot THEN
                             RETURN '';
                         END IF;
                         SELECT c.tbl INTO hit FROM {s}.commit_keys c
                             JOIN unnest(r_tbl, r_idx, r_low, r_high) AS r(tbl, idx, low, high)
                             ON c.tbl = r.tbl AND c.idx = r.idx AND c.key >= r.low AND c.key < r.high
                             WHERE c.seq > snapshot LIMIT 1;
                         IF hit IS NOT NULL THEN
                             RETURN hit;
                         END IF;
                     END IF;
                     UPDATE {s}.meta SET value = value + 1 WHERE key = 'commit_seq'
                         RETURNING value INTO this_commit;
                     INSERT INTO {s}.commit_log (seq) VALUES (this_commit);
                     IF array_length(w_tbl, 1) IS NOT NULL THEN
                         WITH gone AS (
                             DELETE FROM {s}.index_entries e USING unnest(w_tbl, w_num) AS w(tbl, num)
                             WHERE e.tbl = w.tbl AND e.num = w.num RETURNING e.tbl, e.idx, e.key
                         )
                         INSERT INTO {s}.commit_keys (seq, tbl, idx, key)
                             SELECT this_commit, gone.tbl, gone.idx, gone.key FROM gone;
                     END IF;
                     IF array_length(d_tbl, 1) IS NOT NULL THEN
                         DELETE FROM {s}.documents d USING unnest(d_tbl, d_num) AS w(tbl, num)
                             WHERE d.tbl = w.tbl AND d.num = w.num;
                     END IF;
                     IF array_length(u_tbl, 1) IS NOT NULL THEN
                         UPDATE {s}.documents d SET creation_time = w.created, fields = w.body
                             FROM unnest(u_tbl, u_num, u_time, u_fields) AS w(tbl, num, created, body)
                             WHERE d.tbl = w.tbl AND d.num = w.num;
                     END IF;
                     IF array_length(i_tbl, 1) IS NOT NULL THEN
                         INSERT INTO {s}.documents (tbl, num, creation_time, fields)
                             SELECT * FROM unnest(i_tbl, i_num, i_time, i_fields);
                     END IF;
                     IF array_length(e_tbl, 1) IS NOT NULL THEN
                         INSERT INTO {s}.index_entries (tbl, idx, key, num)
                             SELECT * FROM unnest(e_tbl, e_idx, e_key, e_num);
                         INSERT INTO {s}.commit_keys (seq, tbl, idx, key)
                             SELECT this_commit, * FROM unnest(e_tbl, e_idx, e_key);
                     END IF;
                     RETURN NULL;
                 END
                 $apply$;"
            ),
            stored_indexes: format!("SELECT tbl, idx, definition FROM {s}.indexes"),
            drop_index_entries: format!(
                "DELETE FROM {s}.index_entries WHERE tbl = $1 AND idx = $2"
            ),
            forget_indexes: format!("DELETE FROM {s}.indexes WHERE tbl = $1"),
            record_index: format!(
                "INSERT INTO {s}.indexes (tbl, idx, definition) VALUES ($1, $2, $3)"
            ),
            documents_after: format!(
                "SELECT num, creation_time, fields FROM {s}.documents \
                 WHERE tbl = $1 AND num > $2 ORDER BY num LIMIT $3"
            ),
            get: format!(
                "SELECT creation_time, fields FROM {s}.documents WHERE tbl = $1 AND num = $2"
            ),
            scans: [by_bounds(false), by_bounds(true)],
            next_block: format!("SELECT nextval('{s}.document_numbers')"),
            // An advisory lock, not a row lock: it never blocks a commit writing the
            // document (a row lock would, while the commit holds the commit lock).
            lock: format!(
                "SELECT pg_try_advisory_xact_lock(hashtext('{schema}/locks/' || $1), \
                 ($2 % 2147483648)::int)"
            ),
        }
    }

    pub(super) fn scan(&self, lower_inclusive: bool, upper_inclusive: bool, order: Order) -> &str {
        &self.scans[usize::from(lower_inclusive)][usize::from(upper_inclusive)]
            [usize::from(order == Order::Desc)]
    }
}
