"""The operator console's metrics over a million pictures: how long they take, which plans
PostgreSQL uses, and whether they agree with the same figures written by hand in raw SQL.

Creates a PostgreSQL database of its own on 127.0.0.1:5432 (user postgres, trust), migrates
it, and loads a deterministic history (generate_series, no randomness) of six months from
2026-01-01: USERS accounts registering at an even pace, a model and a training an hour after
registering for three in five of them (one in ten of those failed), GENERATION_JOBS
generation requests by people already registered (one in 25 failed, one in 101 canceled,
styles, packs and Instant in fixed proportions), four pictures per succeeded request (about a
million), and subscriptions for one account in 25. Then, for the 30 days of PERIOD, it prints:

1. the console's figures (`metrics.compute`) next to the same figures computed by the raw
   SQL in HAND_SQL, and whether each pair agrees (exit status 1 if any does not);
2. the median time of `metrics.compute` over RUNS calls;
3. EXPLAIN ANALYZE of every statement `metrics.compute` sent, with its plan and time.

The database is dropped at the end.

    .venv/bin/python bench/console_metrics.py
"""

import json
import os
import statistics
import sys
import time
from datetime import date
from typing import Any

from bench_db import bench_database
from sqlalchemy import event, text

from photoai import db
from photoai.services.admin import metrics

USERS = 20_000
GENERATION_JOBS = 265_000
DAYS = 181
PERIOD = (date(2026, 3, 1), date(2026, 3, 30))
RUNS = 5

LOAD = (
    """
    INSERT INTO users (id, email, name, password_hash, credit_balance, plan_credits,
                       spending_blocked, is_admin, low_credit_notified, created_at, updated_at)
    SELECT u, 'bench' || u || '@example.com', '', 'x', 0, 0, false, false, false,
           timestamptz '2026-01-01 00:00+00' + u * (:days * interval '1 day') / :users,
           now()
    FROM generate_series(1, :users) AS u
    """,
    """
    INSERT INTO personal_models (id, user_id, name, subject, status, trigger_word, provider,
                                 cost_credits, progress, error, weights_key,
                                 provider_version, created_at, updated_at)
    SELECT id, id, 'Me', 'person', CASE WHEN id % 10 = 0 THEN 'failed' ELSE 'ready' END,
           'TOK', 'fal', 10, 1.0, '', '', '', created_at + interval '1 hour', now()
    FROM users WHERE id % 5 < 3
    """,
    """
    INSERT INTO jobs (kind, user_id, status, progress, attempts, max_attempts, provider,
                      external_id, error, credits_held, hold_reference, payload, claimed_by,
                      created_at, updated_at, started_at, finished_at)
    SELECT 'training', user_id, CASE WHEN status = 'ready' THEN 'succeeded' ELSE 'failed' END,
           1.0, 1, 3, CASE WHEN user_id % 2 = 0 THEN 'fal' ELSE 'replicate' END, 'ext', '', 10,
           '', '{}', '', created_at, now(), created_at + interval '1 minute',
           created_at + (20 + user_id % 40) * interval '1 minute'
    FROM personal_models
    """,
    """
    INSERT INTO jobs (kind, user_id, status, progress, attempts, max_attempts, provider,
                      external_id, error, credits_held, hold_reference, payload, claimed_by,
                      created_at, updated_at, started_at, finished_at)
    SELECT 'generation', owner,
           CASE WHEN g % 25 = 0 THEN 'failed' WHEN g % 101 = 0 THEN 'canceled'
                ELSE 'succeeded' END,
           1.0, 1, 3,
           CASE WHEN g % 25 = 0 OR g % 101 = 0 THEN '' WHEN g % 3 = 0 THEN 'fal'
                ELSE 'together' END,
           '', '', 4, '',
           '{"request_key": "r' || g || '", "model_id": '
             || CASE WHEN g % 4 = 0 THEN 'null' ELSE owner::text END
             || ', "style_id": "' || CASE WHEN g % 3 = 0 THEN '' ELSE 'linkedin' END
             || '", "pack_id": "' || CASE WHEN g % 7 = 0 THEN 'professional' ELSE '' END
             || '", "count": 4}',
           '', made, now(), made + interval '5 seconds',
           made + (5 + g % 20) * interval '1 second'
    FROM (
        -- someone who had registered by then
        SELECT g, 1 + (g::bigint * 7919) % greatest(1, g::bigint * :users / :jobs) AS owner,
               timestamptz '2026-01-01 00:00+00' + g * (:days * interval '1 day') / :jobs
                 AS made
        FROM generate_series(1, :jobs) AS g
    ) AS requests
    """,
    "SET LOCAL session_replication_role = replica",  # a bulk load: skip foreign key triggers
    """
    INSERT INTO generated_images (user_id, model_id, job_id, style_id, prompt, user_prompt,
                                  negative_prompt, width, height, aspect_ratio, provider,
                                  storage_key, thumb_key, favourite, flagged, created_at)
    SELECT j.user_id, NULL, j.id, '', 'p', '', '', 1024, 1024, '1:1', j.provider, 'k', 't',
           false, false, j.finished_at + k * interval '1 second'
    FROM jobs j CROSS JOIN generate_series(0, 3) AS k
    WHERE j.kind = 'generation' AND j.status = 'succeeded'
    """,
    """
    INSERT INTO subscriptions (user_id, stripe_subscription_id, stripe_customer_id, plan,
                               status, cancel_at_period_end, created_at, updated_at)
    SELECT id, 'sub_' || id, 'cus_' || id, CASE WHEN id % 2 = 0 THEN 'creator' ELSE 'pro' END,
           CASE id % 3 WHEN 0 THEN 'active' WHEN 1 THEN 'canceled' ELSE 'past_due' END,
           false, created_at + interval '2 days', now()
    FROM users WHERE id % 25 = 0
    """,
)

# The same figures, written independently of the service: [start, end) is bound as :since
# and :until (UTC midnights).
HAND_SQL: dict[str, str] = {
    "registrations": """SELECT count(*) FROM users
        WHERE created_at >= :since AND created_at < :until""",
    "models_created": """SELECT count(*) FROM personal_models
        WHERE created_at >= :since AND created_at < :until""",
    "models_trained": """SELECT count(*) FROM personal_models WHERE status = 'ready'
        AND created_at >= :since AND created_at < :until""",
    "images": """SELECT count(*) FROM generated_images
        WHERE created_at >= :since AND created_at < :until""",
    "image_users": """SELECT count(DISTINCT user_id) FROM generated_images
        WHERE created_at >= :since AND created_at < :until""",
    "generations_succeeded": """SELECT count(*) FROM jobs WHERE kind = 'generation'
        AND status = 'succeeded' AND created_at >= :since AND created_at < :until""",
    "generations_failed": """SELECT count(*) FROM jobs WHERE kind = 'generation'
        AND status = 'failed' AND created_at >= :since AND created_at < :until""",
    "trainings_succeeded": """SELECT count(*) FROM jobs WHERE kind = 'training'
        AND status = 'succeeded' AND created_at >= :since AND created_at < :until""",
    "trainings_failed": """SELECT count(*) FROM jobs WHERE kind = 'training'
        AND status = 'failed' AND created_at >= :since AND created_at < :until""",
    "new_subscribers": """SELECT count(*) FROM users u WHERE u.created_at >= :since
        AND u.created_at < :until AND EXISTS (SELECT 1 FROM subscriptions s
        WHERE s.user_id = u.id)""",
    "mrr_cents": """SELECT coalesce(sum(CASE plan WHEN 'creator' THEN 1200 WHEN 'pro' THEN 3500
        ELSE 0 END), 0) FROM subscriptions WHERE status IN ('active', 'past_due')""",
    "active_subscriptions": """SELECT count(*) FROM subscriptions
        WHERE status IN ('active', 'past_due')""",
    "median_seconds_to_first_image": """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY
        extract(epoch FROM first_image - joined)) FROM (SELECT u.created_at AS joined,
        (SELECT min(g.created_at) FROM generated_images g WHERE g.user_id = u.id)
        AS first_image FROM users u WHERE u.created_at >= :since AND u.created_at < :until)
        AS t WHERE first_image IS NOT NULL""",
    "median_training_seconds": """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY
        extract(epoch FROM finished_at - created_at)) FROM jobs WHERE kind = 'training'
        AND status = 'succeeded' AND created_at >= :since AND created_at < :until""",
    "generating_users": """SELECT count(DISTINCT user_id) FROM jobs WHERE kind = 'generation'
        AND created_at >= :since AND created_at < :until""",
    "style_users": """SELECT count(DISTINCT user_id) FROM jobs WHERE kind = 'generation'
        AND created_at >= :since AND created_at < :until
        AND (payload::json ->> 'style_id') <> ''""",
    "pack_users": """SELECT count(DISTINCT user_id) FROM jobs WHERE kind = 'generation'
        AND created_at >= :since AND created_at < :until
        AND (payload::json ->> 'pack_id') <> ''""",
    "instant_users": """SELECT count(DISTINCT user_id) FROM jobs WHERE kind = 'generation'
        AND created_at >= :since AND created_at < :until
        AND (payload::json ->> 'model_id') IS NULL""",
}


def load() -> None:
    started = time.perf_counter()
    params = {"users": USERS, "jobs": GENERATION_JOBS, "days": DAYS}
    with db.get_engine().begin() as conn:
        for statement in LOAD:
            conn.execute(text(statement), params)
    with db.get_engine().connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        images = conn.execute(text("SELECT count(*) FROM generated_images")).scalar_one()
        jobs = conn.execute(text("SELECT count(*) FROM jobs")).scalar_one()
    print(
        f"loaded {USERS:,} users, {jobs:,} jobs, {images:,} pictures "
        f"in {time.perf_counter() - started:.1f} s"
    )


def compare(found: metrics.ConsoleMetrics, period: metrics.Period) -> bool:
    bounds = {"since": period.since, "until": period.until}
    agree = True
    print(f"\n{'figure':32} {'console':>16} {'raw SQL':>16}  same")
    with db.get_engine().connect() as conn:
        for name, sql in HAND_SQL.items():
            by_hand = conn.execute(text(sql), bounds).scalar_one()
            ours = getattr(found, name)
            same = (ours is None and by_hand is None) or (
                ours is not None
                and by_hand is not None
                and abs(float(ours) - float(by_hand)) < 1e-6
            )
            agree &= same
            print(f"{name:32} {_show(ours):>16} {_show(by_hand):>16}  {'yes' if same else 'NO'}")
    print(
        f"\nrates: generation success {_pct(found.generation_success)}, training completion "
        f"{_pct(found.training_completion)}, model completion {_pct(found.model_completion)}, "
        f"subscription conversion {_pct(found.subscription_conversion)}; adoption: styles "
        f"{_pct(found.adoption(found.style_users))}, packs {_pct(found.adoption(found.pack_users))}"
        f", Instant {_pct(found.adoption(found.instant_users))}; images per user "
        f"{_show(found.images_per_user)}"
    )
    return agree


def _show(value: Any) -> str:
    if value is None:
        return "—"
    number = float(value)
    return f"{int(number):,}" if number.is_integer() else f"{number:,.1f}"


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.2f} %"


class Statements:
    """Every statement photoai sends while it is listening, to EXPLAIN them as sent."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.on = False
        event.listen(db.get_engine(), "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if self.on and sql.lstrip().upper().startswith("SELECT"):
            self.seen.append((sql, params))


def plan_summary(node: dict[str, Any]) -> str:
    label = node["Node Type"]
    if "Index Name" in node:
        label += f" ({node['Index Name']})"
    if "Relation Name" in node and "Index Name" not in node:
        label += f" ({node['Relation Name']})"
    children = [plan_summary(child) for child in node.get("Plans", [])]
    if not children:
        return label
    return f"{label} > " + (children[0] if len(children) == 1 else f"[{'; '.join(children)}]")


def explain_all(statements: Statements) -> None:
    print("\nEXPLAIN ANALYZE of each statement metrics.compute sent:")
    with db.get_engine().connect() as conn:
        for sql, params in statements.seen:
            raw = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params
            ).scalar_one()
            result = (raw if isinstance(raw, list) else json.loads(raw))[0]
            first_line = " ".join(sql.split())[:90]
            print(f"- {result['Execution Time']:8.1f} ms  {first_line}")
            print(f"    {plan_summary(result['Plan'])}")


def main() -> int:
    with bench_database("console_bench"):
        load()
        period = metrics.period(*PERIOD)
        statements = Statements()
        statements.on = True
        found = metrics.compute(period)
        statements.on = False
        agree = compare(found, period)
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            metrics.compute(period)
            times.append((time.perf_counter() - started) * 1000)
        print(
            f"\nmetrics.compute for {PERIOD[0]}..{PERIOD[1]}: "
            f"median {statistics.median(times):.0f} ms over {RUNS} runs "
            f"(min {min(times):.0f}, max {max(times):.0f}); "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        explain_all(statements)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
