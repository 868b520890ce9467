namespace RetailStreaming.Store.Postgres;

/// <summary>
/// The PostgreSQL schema, as numbered migrations with the same versions and names as the
/// SQLite ones. Append only: a released migration is never edited (its name is checked
/// against the database), a change is a new migration. Tables are created in the store's
/// schema (the connection's search_path), never in <c>public</c>.
/// </summary>
/// <remarks>
/// Ids and keys are <c>COLLATE "C"</c>: they are machine identifiers, and byte order keeps
/// <c>ORDER BY</c> the same as on SQLite whatever the database's default collation is.
/// JSON is kept as <c>text</c>, not <c>jsonb</c>: a dead letter holds the input exactly as
/// it was written (jsonb would reorder keys and drop duplicates).
/// </remarks>
internal static class PostgresMigrations
{
    /// <summary>The bookkeeping table: one row per applied migration.</summary>
    public const string MigrationTable =
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)";

    public static readonly IReadOnlyList<StoreMigration> All =
    [
        new(1, "dead_letters", """
            -- An identity never hands out an id twice, so that paging by "after id" and ids
            -- quoted in tickets stay unambiguous.
            CREATE TABLE dead_letters (
                id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                workflow_id       text COLLATE "C" NOT NULL,
                client_id         text COLLATE "C" NOT NULL,
                stage             text NOT NULL CHECK (stage IN ('transform', 'delivery')),
                position          text COLLATE "C" NOT NULL,
                output_index      integer CHECK (output_index >= 0),
                transform_version text,
                reason            text NOT NULL,
                input_json        text NOT NULL,
                output_json       text,
                created_at        timestamptz NOT NULL
            );
            CREATE INDEX ix_dead_letters_workflow ON dead_letters (workflow_id, id);
            """),
        new(2, "workflows", """
            CREATE TABLE workflows (
                workflow_id text COLLATE "C" NOT NULL PRIMARY KEY,
                client_id   text COLLATE "C" NOT NULL,
                created_at  timestamptz NOT NULL,
                deleted_at  timestamptz
            );
            CREATE INDEX ix_workflows_client ON workflows (client_id, workflow_id);
            """),
        new(3, "tokens", """
            CREATE TABLE tokens (
                id          text COLLATE "C" NOT NULL PRIMARY KEY,
                secret_hash bytea NOT NULL,
                role        text NOT NULL CHECK (role IN ('operator', 'client')),
                client_id   text COLLATE "C",
                description text NOT NULL,
                created_at  timestamptz NOT NULL,
                revoked_at  timestamptz,
                CHECK ((role = 'client') = (client_id IS NOT NULL))
            );
            """),
        new(4, "dead_letter_redrive", """
            CREATE TABLE dead_letter_attempts (
                dead_letter_id bigint NOT NULL,
                seq            integer NOT NULL,
                at             timestamptz NOT NULL,
                status_code    integer,
                detail         text NOT NULL,
                PRIMARY KEY (dead_letter_id, seq)
            );
            ALTER TABLE dead_letters
                ADD COLUMN row_table text COLLATE "C",
                ADD COLUMN row_key text COLLATE "C",
                ADD COLUMN superseded_by text COLLATE "C",
                ADD COLUMN superseded_at timestamptz,
                ADD COLUMN redriven_at timestamptz,
                ADD COLUMN redrive_outcome text CHECK (redrive_outcome IN ('delivered', 'failed')),
                ADD COLUMN redrive_transform_version text,
                ADD COLUMN redrive_count integer NOT NULL DEFAULT 0;
            CREATE INDEX ix_dead_letters_row ON dead_letters (workflow_id, row_table, row_key);
            CREATE INDEX ix_dead_letters_created ON dead_letters (created_at);
            """),
        new(5, "transform_packages", """
            -- A published version is immutable: the key is (id, version) case-insensitively, and
            -- a row is never updated.
            CREATE TABLE transform_packages (
                package_key  text COLLATE "C" NOT NULL,
                version_key  text COLLATE "C" NOT NULL,
                package_id   text NOT NULL,
                version      text NOT NULL,
                sha256       text NOT NULL,
                size         bigint NOT NULL,
                types        text NOT NULL,
                published_at timestamptz NOT NULL,
                published_by text NOT NULL,
                content      bytea NOT NULL,
                PRIMARY KEY (package_key, version_key)
            );
            """),
        new(6, "health_alerts_sla", """
            -- One row per firing of an alert rule for a workflow; at most one open (unresolved) per
            -- (workflow, rule), which is what makes a firing notified once across the nodes.
            CREATE TABLE alerts (
                id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                workflow_id text COLLATE "C" NOT NULL,
                client_id   text COLLATE "C" NOT NULL,
                rule        text COLLATE "C" NOT NULL,
                value       double precision,
                threshold   double precision,
                detail      text NOT NULL,
                node        text NOT NULL,
                fired_at    timestamptz NOT NULL,
                resolved_at timestamptz,
                resolved_detail text
            );
            CREATE UNIQUE INDEX ux_alerts_open ON alerts (workflow_id, rule) WHERE resolved_at IS NULL;
            CREATE INDEX ix_alerts_fired ON alerts (fired_at);
            -- SLA history per workflow and minute: time healthy (up), unhealthy (down), paused by an
            -- operator, and changes delivered; latency as counts per logarithmic bucket per hour.
            CREATE TABLE sla_minutes (
                workflow_id text COLLATE "C" NOT NULL,
                minute      timestamptz NOT NULL,
                client_id   text COLLATE "C" NOT NULL,
                up_ms       bigint NOT NULL,
                down_ms     bigint NOT NULL,
                paused_ms   bigint NOT NULL,
                delivered   bigint NOT NULL,
                PRIMARY KEY (workflow_id, minute)
            );
            CREATE INDEX ix_sla_minutes_minute ON sla_minutes (minute);
            CREATE TABLE sla_latency (
                workflow_id text COLLATE "C" NOT NULL,
                hour        timestamptz NOT NULL,
                bucket      integer NOT NULL,
                count       bigint NOT NULL,
                PRIMARY KEY (workflow_id, hour, bucket)
            );
            """),
        new(7, "regress_samples", """
            -- A bounded sample of what each workflow's transform made of its changes (input and
            -- outputs, the package version that made them), which `rsctl regress` runs again on the
            -- current build. At most Regress:SampleSize rows per (workflow, table, operation): the
            -- recorder deletes the oldest beyond it. Dead-lettered changes are not samples.
            -- id orders the samples as recorded (newest kept); a change recorded again (a replay) replaces its row.
            CREATE TABLE regress_samples (
                id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                workflow_id       text COLLATE "C" NOT NULL,
                position          text COLLATE "C" NOT NULL,
                client_id         text COLLATE "C" NOT NULL,
                source_table      text COLLATE "C" NOT NULL,
                operation         text COLLATE "C" NOT NULL,
                row_key           text NOT NULL,
                transform_package text NOT NULL,
                transform_version text NOT NULL,
                input_json        text NOT NULL,
                outputs_json      text NOT NULL,
                recorded_at       timestamptz NOT NULL,
                UNIQUE (workflow_id, position)
            );
            CREATE INDEX ix_regress_samples_kind ON regress_samples (workflow_id, source_table, operation, id);
            """),
    ];
}
