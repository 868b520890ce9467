namespace RetailStreaming.Store.Sqlite;

/// <summary>
/// The SQLite schema, as numbered migrations. Append only: a released migration is never
/// edited (its name is checked against the database), a change is a new migration.
/// Tables are STRICT so that a value of the wrong type is an error, not a silent coercion.
/// </summary>
internal static class SqliteMigrations
{
    /// <summary>The bookkeeping table: one row per applied migration.</summary>
    public const string MigrationTable =
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)";

    public static readonly IReadOnlyList<StoreMigration> All =
    [
        new(1, "dead_letters", """
            -- AUTOINCREMENT: an id is never reused, even after a redriven letter is removed,
            -- so that paging by "after id" and ids quoted in tickets stay unambiguous.
            CREATE TABLE dead_letters (
                id                INTEGER PRIMARY KEY AUTOINCREMENT,
                workflow_id       TEXT NOT NULL,
                client_id         TEXT NOT NULL,
                stage             TEXT NOT NULL CHECK (stage IN ('transform', 'delivery')),
                position          TEXT NOT NULL,
                output_index      INTEGER CHECK (output_index >= 0),
                transform_version TEXT,
                reason            TEXT NOT NULL,
                input_json        TEXT NOT NULL,
                output_json       TEXT,
                created_at        TEXT NOT NULL
            ) STRICT;
            CREATE INDEX ix_dead_letters_workflow ON dead_letters (workflow_id, id);
            """),
        new(2, "workflows", """
            CREATE TABLE workflows (
                workflow_id TEXT NOT NULL PRIMARY KEY,
                client_id   TEXT NOT NULL,
                created_at  TEXT NOT NULL,
                deleted_at  TEXT
            ) STRICT;
            CREATE INDEX ix_workflows_client ON workflows (client_id, workflow_id);
            """),
        new(3, "tokens", """
            CREATE TABLE tokens (
                id          TEXT NOT NULL PRIMARY KEY,
                secret_hash BLOB NOT NULL,
                role        TEXT NOT NULL CHECK (role IN ('operator', 'client')),
                client_id   TEXT,
                description TEXT NOT NULL,
                created_at  TEXT NOT NULL,
                revoked_at  TEXT,
                CHECK ((role = 'client') = (client_id IS NOT NULL))
            ) STRICT;
            """),
        new(4, "dead_letter_redrive", """
            -- Delivery attempts (the original ones and every redrive), oldest first per letter.
            CREATE TABLE dead_letter_attempts (
                dead_letter_id INTEGER NOT NULL,
                seq            INTEGER NOT NULL,
                at             TEXT NOT NULL,
                status_code    INTEGER,
                detail         TEXT NOT NULL,
                PRIMARY KEY (dead_letter_id, seq)
            ) STRICT;
            -- The source row a letter is about (table, primary key as compact JSON), so that a later
            -- delivery of the same row can mark it superseded; NULL for letters stored before this.
            ALTER TABLE dead_letters ADD COLUMN row_table TEXT;
            ALTER TABLE dead_letters ADD COLUMN row_key TEXT;
            ALTER TABLE dead_letters ADD COLUMN superseded_by TEXT;
            ALTER TABLE dead_letters ADD COLUMN superseded_at TEXT;
            ALTER TABLE dead_letters ADD COLUMN redriven_at TEXT;
            ALTER TABLE dead_letters ADD COLUMN redrive_outcome TEXT CHECK (redrive_outcome IN ('delivered', 'failed'));
            ALTER TABLE dead_letters ADD COLUMN redrive_transform_version TEXT;
            ALTER TABLE dead_letters ADD COLUMN redrive_count INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX ix_dead_letters_row ON dead_letters (workflow_id, row_table, row_key);
            CREATE INDEX ix_dead_letters_created ON dead_letters (created_at);
            """),
        new(5, "transform_packages", """
            -- A published version is immutable: the key is (id, version) case-insensitively, and
            -- a row is never updated.
            CREATE TABLE transform_packages (
                package_key  TEXT NOT NULL,
                version_key  TEXT NOT NULL,
                package_id   TEXT NOT NULL,
                version      TEXT NOT NULL,
                sha256       TEXT NOT NULL,
                size         INTEGER NOT NULL,
                types        TEXT NOT NULL,
                published_at TEXT NOT NULL,
                published_by TEXT NOT NULL,
                content      BLOB NOT NULL,
                PRIMARY KEY (package_key, version_key)
            ) STRICT;
            """),
        new(6, "health_alerts_sla", """
            -- One row per firing of an alert rule for a workflow; at most one open (unresolved) per
            -- (workflow, rule), which is what makes a firing notified once across the nodes.
            CREATE TABLE alerts (
                id          INTEGER PRIMARY KEY AUTOINCREMENT,
                workflow_id TEXT NOT NULL,
                client_id   TEXT NOT NULL,
                rule        TEXT NOT NULL,
                value       REAL,
                threshold   REAL,
                detail      TEXT NOT NULL,
                node        TEXT NOT NULL,
                fired_at    TEXT NOT NULL,
                resolved_at TEXT,
                resolved_detail TEXT
            ) STRICT;
            CREATE UNIQUE INDEX ux_alerts_open ON alerts (workflow_id, rule) WHERE resolved_at IS NULL;
            CREATE INDEX ix_alerts_fired ON alerts (fired_at);
            -- SLA history per workflow and minute: time healthy (up), unhealthy (down), paused by an
            -- operator, and changes delivered; latency as counts per logarithmic bucket per hour.
            CREATE TABLE sla_minutes (
                workflow_id TEXT NOT NULL,
                minute      TEXT NOT NULL,
                client_id   TEXT NOT NULL,
                up_ms       INTEGER NOT NULL,
                down_ms     INTEGER NOT NULL,
                paused_ms   INTEGER NOT NULL,
                delivered   INTEGER NOT NULL,
                PRIMARY KEY (workflow_id, minute)
            ) STRICT;
            CREATE INDEX ix_sla_minutes_minute ON sla_minutes (minute);
            CREATE TABLE sla_latency (
                workflow_id TEXT NOT NULL,
                hour        TEXT NOT NULL,
                bucket      INTEGER NOT NULL,
                count       INTEGER NOT NULL,
                PRIMARY KEY (workflow_id, hour, bucket)
            ) STRICT;
            """),
        new(7, "regress_samples", """
            -- A bounded sample of what each workflow's transform made of its changes (input and
            -- outputs, the package version that made them), which `rsctl regress` runs again on the
            -- current build. At most Regress:SampleSize rows per (workflow, table, operation): the
            -- recorder deletes the oldest beyond it. Dead-lettered changes are not samples.
            -- id orders the samples as recorded (newest kept); a change recorded again (a replay) replaces its row.
            CREATE TABLE regress_samples (
                id                INTEGER PRIMARY KEY AUTOINCREMENT,
                workflow_id       TEXT NOT NULL,
                position          TEXT NOT NULL,
                client_id         TEXT NOT NULL,
                source_table      TEXT NOT NULL,
                operation         TEXT NOT NULL,
                row_key           TEXT NOT NULL,
                transform_package TEXT NOT NULL,
                transform_version TEXT NOT NULL,
                input_json        TEXT NOT NULL,
                outputs_json      TEXT NOT NULL,
                recorded_at       TEXT NOT NULL,
                UNIQUE (workflow_id, position)
            ) STRICT;
            CREATE INDEX ix_regress_samples_kind ON regress_samples (workflow_id, source_table, operation, id);
            """),
    ];
}
