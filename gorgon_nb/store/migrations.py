"""Numbered schema migrations, recorded in sqlite-utils' migrations table.

Each migration is a function named ``mNNNN_what``; a migration, once released, is never
edited: changes come as a new one.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

__all__ = ["migrations"]

migrations = Migrations("gorgon_nb")


def _run(db: Database, script: str) -> None:
    # sqlite3's executescript() commits first, which would break the migration's transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


@migrations()
def m0001_runs_steps_events_usage(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            workflow_id TEXT NOT NULL,
            workflow_name TEXT,
            workflow_hash TEXT,
            source TEXT,
            source_format TEXT,
            source_path TEXT,
            inputs TEXT,
            options TEXT,
            status TEXT NOT NULL,
            error TEXT,
            error_type TEXT,
            outputs TEXT,
            notices TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            calls INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            unpriced_calls INTEGER NOT NULL DEFAULT 0,
            parent_run_id TEXT,
            pid INTEGER,
            host TEXT,
            created_at REAL NOT NULL,
            started_at REAL,
            ended_at REAL
        );
        CREATE INDEX runs_created_at ON runs (created_at);
        CREATE INDEX runs_status ON runs (status);

        CREATE TABLE steps (
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            step_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            role TEXT,
            status TEXT NOT NULL,
            output TEXT,
            error TEXT,
            error_type TEXT,
            model TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            calls INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            unpriced_calls INTEGER NOT NULL DEFAULT 0,
            position INTEGER NOT NULL DEFAULT 0,
            started_at REAL,
            ended_at REAL,
            PRIMARY KEY (run_id, key)
        ) WITHOUT ROWID;

        CREATE TABLE events (
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            ts REAL NOT NULL,
            kind TEXT NOT NULL,
            step TEXT,
            data TEXT NOT NULL,
            PRIMARY KEY (run_id, seq)
        ) WITHOUT ROWID;

        CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step_key TEXT,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL,
            cost_usd REAL,
            ts REAL NOT NULL
        );
        CREATE INDEX usage_ts ON usage (ts);
        CREATE INDEX usage_run ON usage (run_id);
        """
    )


@migrations()
def m0002_approvals_ownership_recorded_calls(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE approvals (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step_key TEXT NOT NULL,
            round INTEGER NOT NULL DEFAULT 1,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            preview TEXT,
            approvers TEXT,
            status TEXT NOT NULL,
            requested_at REAL NOT NULL,
            timeout_at REAL,
            on_timeout TEXT NOT NULL DEFAULT 'reject',
            decided_by TEXT,
            decided_at REAL,
            comment TEXT,
            timed_out INTEGER NOT NULL DEFAULT 0,
            UNIQUE (run_id, step_key, round)
        );
        CREATE INDEX approvals_status ON approvals (status);

        ALTER TABLE runs ADD COLUMN heartbeat_at REAL;
        ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN replay_of TEXT;
        ALTER TABLE runs ADD COLUMN fork_of TEXT;
        ALTER TABLE runs ADD COLUMN budget TEXT;

        ALTER TABLE usage ADD COLUMN item INTEGER;
        ALTER TABLE usage ADD COLUMN request_hash TEXT;
        ALTER TABLE usage ADD COLUMN response TEXT;
        ALTER TABLE usage ADD COLUMN finish_reason TEXT;
        CREATE INDEX usage_run_step ON usage (run_id, step_key)
        """,
    )


@migrations()
def m0003_steps_as_a_rowid_table(db: Database) -> None:
    # Step rows hold whole outputs; SQLite stores large rows far better in rowid tables.
    _run(
        db,
        """
        CREATE TABLE steps_new (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            step_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            role TEXT,
            status TEXT NOT NULL,
            output TEXT,
            error TEXT,
            error_type TEXT,
            model TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            calls INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            unpriced_calls INTEGER NOT NULL DEFAULT 0,
            position INTEGER NOT NULL DEFAULT 0,
            started_at REAL,
            ended_at REAL,
            UNIQUE (run_id, key)
        );
        INSERT INTO steps_new (run_id, key, step_id, kind, role, status, output, error, error_type, model, attempts,
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, calls, cost_usd, unpriced_calls,
            position, started_at, ended_at)
        SELECT run_id, key, step_id, kind, role, status, output, error, error_type, model, attempts,
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, calls, cost_usd, unpriced_calls,
            position, started_at, ended_at FROM steps;
        DROP TABLE steps;
        ALTER TABLE steps_new RENAME TO steps
        """,
    )


@migrations()
def m0004_chat(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE chat_sessions (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE chat_messages (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            agent TEXT,
            content TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            parent_id TEXT,
            run_id TEXT,
            meta TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            UNIQUE (session_id, seq)
        );
        CREATE INDEX chat_sessions_updated ON chat_sessions (updated_at)
        """,
    )


@migrations()
def m0005_schedules_jobs_leases(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE schedules (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            root TEXT NOT NULL,
            notebook TEXT NOT NULL,
            parameters TEXT NOT NULL DEFAULT '{}',
            cron TEXT,
            timezone TEXT NOT NULL DEFAULT 'UTC',
            every REAL,
            at REAL,
            retries INTEGER NOT NULL DEFAULT 0,
            backoff REAL NOT NULL DEFAULT 60,
            timeout REAL,
            missed TEXT NOT NULL DEFAULT 'skip',
            overlap TEXT NOT NULL DEFAULT 'skip',
            keep INTEGER NOT NULL DEFAULT 20,
            paused INTEGER NOT NULL DEFAULT 0,
            next_run_at REAL,
            created_at REAL NOT NULL
        );
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            schedule_id TEXT REFERENCES schedules (id) ON DELETE SET NULL,
            root TEXT NOT NULL,
            notebook TEXT NOT NULL,
            parameters TEXT NOT NULL DEFAULT '{}',
            state TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            max_attempts INTEGER NOT NULL DEFAULT 1,
            backoff REAL NOT NULL DEFAULT 60,
            timeout REAL,
            scheduled_for REAL NOT NULL,
            not_before REAL NOT NULL DEFAULT 0,
            queued_at REAL NOT NULL,
            started_at REAL,
            ended_at REAL,
            owner TEXT,
            heartbeat_at REAL,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            output_path TEXT,
            error TEXT,
            failed_cell INTEGER,
            exception TEXT,
            run_ids TEXT NOT NULL DEFAULT '[]',
            cost_usd REAL
        );
        CREATE INDEX jobs_state ON jobs (state, not_before);
        CREATE INDEX jobs_schedule ON jobs (schedule_id, queued_at);
        CREATE INDEX jobs_queued_at ON jobs (queued_at);
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at REAL NOT NULL
        )
        """,
    )


@migrations()
def m0006_writes(db: Database) -> None:
    # The journal of writes to GitHub, Notion and Slack: a resumed run never repeats one.
    _run(
        db,
        """
        CREATE TABLE writes (
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step_key TEXT NOT NULL,
            item INTEGER NOT NULL DEFAULT -1,
            service TEXT NOT NULL,
            action TEXT NOT NULL,
            state TEXT NOT NULL,
            result TEXT,
            started_at REAL NOT NULL,
            ended_at REAL,
            PRIMARY KEY (run_id, step_key, item)
        )
        """,
    )


@migrations()
def m0007_tool_calls(db: Database) -> None:
    # Each tool call of a step and its result, as it happens: a resumed run never repeats a
    # finished one, a replay serves them all. A model answer that asked for tools keeps the
    # calls it asked for beside its text.
    _run(
        db,
        """
        CREATE TABLE tool_calls (
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            step_key TEXT NOT NULL,
            item INTEGER NOT NULL DEFAULT -1,
            conversation TEXT NOT NULL DEFAULT '',
            idx INTEGER NOT NULL,
            tool TEXT NOT NULL,
            arguments TEXT NOT NULL,
            writes INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL,
            result TEXT,
            is_error INTEGER NOT NULL DEFAULT 0,
            started_at REAL NOT NULL,
            ended_at REAL,
            PRIMARY KEY (run_id, step_key, item, conversation, idx)
        );
        ALTER TABLE usage ADD COLUMN tool_calls TEXT
        """,
    )


@migrations()
def m0008_webhooks(db: Database) -> None:
    # Webhooks keep where their secret is read from, never the secret. Deliveries are the
    # POSTs whose signature was good; a bad signature leaves no row.
    _run(
        db,
        """
        CREATE TABLE webhooks (
            name TEXT PRIMARY KEY,
            workflow TEXT NOT NULL,
            root TEXT NOT NULL,
            inputs TEXT NOT NULL DEFAULT '{}',
            payload_mappings TEXT NOT NULL DEFAULT '[]',
            secret_env TEXT NOT NULL DEFAULT '',
            rate INTEGER NOT NULL DEFAULT 60,
            description TEXT NOT NULL DEFAULT '',
            paused INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        );
        CREATE TABLE webhook_deliveries (
            id TEXT PRIMARY KEY,
            webhook TEXT NOT NULL,
            delivery_id TEXT NOT NULL,
            received_at REAL NOT NULL,
            status TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            event TEXT NOT NULL DEFAULT '',
            job_id TEXT,
            inputs TEXT,
            payload TEXT NOT NULL DEFAULT '',
            payload_size INTEGER NOT NULL DEFAULT 0,
            replay_of TEXT,
            original TEXT
        );
        CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook, received_at);
        CREATE INDEX webhook_deliveries_delivery ON webhook_deliveries (webhook, delivery_id)
        """,
    )


@migrations()
def m0009_notifications(db: Database) -> None:
    # The outbox of notifications: each message to each target, sent once, retried with
    # backoff while its target fails. A schedule keeps the targets its jobs notify.
    _run(
        db,
        """
        CREATE TABLE notifications (
            id TEXT PRIMARY KEY,
            target TEXT NOT NULL,
            event TEXT NOT NULL,
            run_id TEXT,
            job_id TEXT,
            title TEXT NOT NULL,
            message TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try_at REAL NOT NULL DEFAULT 0,
            error TEXT,
            created_at REAL NOT NULL,
            sent_at REAL
        );
        CREATE INDEX notifications_due ON notifications (state, next_try_at);
        CREATE INDEX notifications_created ON notifications (created_at);
        ALTER TABLE schedules ADD COLUMN notify TEXT NOT NULL DEFAULT '[]'
        """,
    )


@migrations()
def m0010_workflow_schedules(db: Database) -> None:
    # Schedules and jobs of workflows: the caller's consent to a workflow's code-running
    # steps travels with the schedule to each job, and an imported schedule keeps its
    # description. Whether a job is a notebook's or a workflow's follows from its target.
    _run(
        db,
        """
        ALTER TABLE schedules ADD COLUMN allow_code INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE schedules ADD COLUMN description TEXT NOT NULL DEFAULT '';
        ALTER TABLE jobs ADD COLUMN allow_code INTEGER NOT NULL DEFAULT 0
        """,
    )
