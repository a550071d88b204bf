"""How fast a gallery page is for a heavy user among a million images, and which plan it uses.

Creates a PostgreSQL database of its own on 127.0.0.1:5432 (user postgres, trust), migrates
it with Alembic, loads 1,000 users and 1,000,000 generated images in one INSERT ... SELECT
from generate_series (user 1 has 100,000 of them, the rest about 900 each, interleaved in
time as real traffic would be, 20 images per timestamp so ties are common), runs ANALYZE,
then times `gallery.page()` for user 1: the first page and a deep one (cursor at image
50,000), each unfiltered, by model, by style and favourites only, plus `gallery.filters()`.
Timings are the median of RUNS calls, links included; the plan is PostgreSQL's EXPLAIN
ANALYZE of the exact SQL the call sent. The database is dropped at the end.

    .venv/bin/python bench/gallery_queries.py
"""

import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench_db import bench_database
from sqlalchemy import ColumnElement, event, func, select, text, update
from sqlmodel import col

from photoai import db
from photoai.models import GeneratedImage
from photoai.services import gallery

USERS = 1_000
IMAGES = 1_000_000
HEAVY_USER = 1
HEAVY_SHARE = 10  # every 10th image is the heavy user's: 100,000 of them
MODELS_PER_USER = 5
PER_TIMESTAMP = 20
DEEP = 50_000
RUNS = 31
STYLE = "style-7"
RARE_STYLE = "rare"

Cases = list[tuple[str, Callable[[], object]]]

# Each statement takes the constants above as bind parameters (see `load`).
LOAD_STATEMENTS = (
    """
    INSERT INTO users (id, email, name, password_hash, credit_balance, spending_blocked,
                       is_admin, low_credit_notified, created_at, updated_at)
    SELECT u, 'bench' || u || '@example.com', 'Bench ' || u, 'x', 0, false, false, false,
           now(), now()
    FROM generate_series(1, :users) AS u
    """,
    """
    INSERT INTO personal_models (id, user_id, name, subject, status, trigger_word, provider,
                                 cost_credits, progress, error, weights_key, created_at,
                                 updated_at)
    SELECT (u - 1) * :models + k + 1, u, 'Model ' || k, 'person', 'ready', 'TOK', 'demo',
           0, 1.0, '', '', now(), now()
    FROM generate_series(1, :users) AS u, generate_series(0, :models - 1) AS k
    """,
    # A bulk load: skip the per-row foreign key triggers.
    "SET LOCAL session_replication_role = replica",
    """
    INSERT INTO generated_images (id, user_id, model_id, job_id, style_id, prompt,
                                  negative_prompt, seed, width, height, aspect_ratio, provider,
                                  storage_key, thumb_key, favourite, flagged, created_at)
    SELECT g, owner,
           CASE WHEN n % 7 = 0 THEN NULL ELSE (owner - 1) * :models + n % 5 + 1 END,
           NULL,
           CASE WHEN n % 24 = 0 THEN '' ELSE 'style-' || n % 24 END,
           'a portrait of TOK, photo number ' || g, '', g, 1024, 1024, '1:1', 'demo',
           'users/' || owner || '/images/' || g || '.jpg',
           'users/' || owner || '/images/' || g || '-thumb.webp',
           n % 50 = 3, n % 997 = 5,
           timestamptz '2024-01-01 00:00:00+00' + (g / :per_timestamp) * interval '30 seconds'
    FROM (
        SELECT g, g / :heavy_share AS n,
               CASE WHEN g % :heavy_share = 0 THEN :heavy_user
                    ELSE 2 + (g::bigint * 7919) % (:users - 1) END AS owner
        FROM generate_series(1, :images) AS g
    ) AS numbered
    """,
    """
    UPDATE generated_images SET style_id = 'rare'
    WHERE id = (SELECT min(id) FROM generated_images WHERE user_id = :heavy_user)
    """,
)


class LastQuery:
    """Keeps the last SELECT on generated_images that photoai sent, to EXPLAIN it as sent."""

    def __init__(self) -> None:
        self.sql = ""
        self.params: Any = None
        event.listen(db.get_engine(), "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT") and "generated_images" in sql:
            self.sql, self.params = sql, params


def load() -> None:
    started = time.perf_counter()
    params = {
        "users": USERS,
        "models": MODELS_PER_USER,
        "images": IMAGES,
        "heavy_user": HEAVY_USER,
        "heavy_share": HEAVY_SHARE,
        "per_timestamp": PER_TIMESTAMP,
    }
    with db.get_engine().begin() as conn:
        for statement in LOAD_STATEMENTS:
            conn.execute(text(statement), params)
    vacuum()
    print(f"loaded {IMAGES:,} images for {USERS:,} users in {time.perf_counter() - started:.1f} s")


def cursor_at(position: int, *conditions: ColumnElement[bool]) -> str:
    """The cursor a user would hold after scrolling `position` images (found once, untimed)."""
    query = (
        select(col(GeneratedImage.created_at), col(GeneratedImage.id))
        .where(col(GeneratedImage.user_id) == HEAVY_USER, *conditions)
        .order_by(col(GeneratedImage.created_at).desc(), col(GeneratedImage.id).desc())
        .offset(position - 1)
        .limit(1)
    )
    with db.get_engine().connect() as conn:
        created_at, image_id = conn.execute(query).one()
    assert image_id is not None
    return gallery.encode_cursor(created_at, image_id)


def plan_summary(node: dict[str, Any]) -> str:
    """`Limit > Index Scan Backward (ix_...)` and so on, children in brackets."""
    label = node["Node Type"]
    if node.get("Scan Direction") == "Backward":
        label += " Backward"
    if "Index Name" in node:
        label += f" ({node['Index Name']})"
    if node.get("Rows Removed by Filter"):
        label += f" [filtered out {node['Rows Removed by Filter']:,}]"
    children = [plan_summary(child) for child in node.get("Plans", [])]
    if not children:
        return label
    return f"{label} > " + (children[0] if len(children) == 1 else f"[{'; '.join(children)}]")


def explain(last: LastQuery) -> tuple[str, float, int]:
    with db.get_engine().connect() as conn:
        raw = conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + last.sql, last.params
        ).scalar_one()
    result = (raw if isinstance(raw, list) else json.loads(raw))[0]
    plan = result["Plan"]
    buffers = plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
    return plan_summary(plan), result["Execution Time"], buffers


def measure_all(cases: Cases, last: LastQuery) -> None:
    """Median wall time of each call (links included), then the plan of the SQL it sent."""
    for label, call in cases:
        call()  # warm caches and the connection pool
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        plan, sql_ms, buffers = explain(last)
        median = statistics.median(times)
        print(f"{label:<32} {median:7.2f} ms  (SQL {sql_ms:7.2f} ms, {buffers:>6,} buffers)")
        print(f"    {plan}")


def counts(model_id: int) -> str:
    with db.get_engine().connect() as conn:
        total, of_model, favourites, of_style = conn.execute(
            select(
                func.count(),
                func.count().filter(col(GeneratedImage.model_id) == model_id),
                func.count().filter(col(GeneratedImage.favourite)),
                func.count().filter(col(GeneratedImage.style_id) == STYLE),
            ).where(col(GeneratedImage.user_id) == HEAVY_USER)
        ).one()
    return (
        f"user {HEAVY_USER}: {total:,} images, {of_model:,} of model {model_id}, "
        f"{favourites:,} favourites, {of_style:,} in {STYLE}, 1 in {RARE_STYLE}"
    )


@contextmanager
def only_oldest_favourite() -> Iterator[None]:
    """The favourites filter's worst case: one favourite, at the far end of 100,000 images.

    Only the rows that change are written, and a VACUUM afterwards clears their old versions,
    so the rounds after this one see the table as loaded.
    """
    mine = col(GeneratedImage.user_id) == HEAVY_USER
    is_favourite = col(GeneratedImage.favourite).is_(True)
    images = update(GeneratedImage)
    with db.get_engine().begin() as conn:
        saved = conn.scalars(select(col(GeneratedImage.id)).where(mine, is_favourite)).all()
        oldest = conn.scalar(select(func.min(col(GeneratedImage.id))).where(mine))
        conn.execute(images.where(mine, is_favourite).values(favourite=False))
        conn.execute(images.where(col(GeneratedImage.id) == oldest).values(favourite=True))
    try:
        yield
    finally:
        with db.get_engine().begin() as conn:
            conn.execute(images.where(col(GeneratedImage.id) == oldest).values(favourite=False))
            conn.execute(images.where(col(GeneratedImage.id).in_(saved)).values(favourite=True))
        vacuum()


def vacuum() -> None:
    with db.get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE generated_images")


def main() -> None:
    with bench_database("photoai_bench"):
        load()
        last = LastQuery()
        user = HEAVY_USER
        model_id = (HEAVY_USER - 1) * MODELS_PER_USER + 2
        deep = cursor_at(DEEP)
        model_deep = cursor_at(DEEP // 5, col(GeneratedImage.model_id) == model_id)
        fav_deep = cursor_at(1_000, col(GeneratedImage.favourite).is_(True))
        style_deep = cursor_at(2_000, col(GeneratedImage.style_id) == STYLE)
        print(f"{counts(model_id)}; pages of 50, median of {RUNS} calls")

        feed: Cases = [
            ("first page", lambda: gallery.page(user)),
            (f"deep page (after {DEEP:,})", lambda: gallery.page(user, cursor=deep)),
            ("model: first page", lambda: gallery.page(user, model_id=model_id)),
            (
                f"model: deep (after {DEEP // 5:,})",
                lambda: gallery.page(user, model_id=model_id, cursor=model_deep),
            ),
        ]
        sparse: Cases = [
            ("favourites: first page", lambda: gallery.page(user, favourites=True)),
            (
                "favourites: deep (after 1,000)",
                lambda: gallery.page(user, favourites=True, cursor=fav_deep),
            ),
            ("style: first page", lambda: gallery.page(user, style_id=STYLE)),
            (
                "style: deep (after 2,000)",
                lambda: gallery.page(user, style_id=STYLE, cursor=style_deep),
            ),
            ("style: used once, long ago", lambda: gallery.page(user, style_id=RARE_STYLE)),
            ("filters() (styles query)", lambda: gallery.filters(user)),
        ]
        only_one: Cases = [
            ("favourites: one, the oldest", lambda: gallery.page(user, favourites=True)),
        ]

        print("\n-- the migrated schema")
        measure_all([*feed, *sparse], last)
        with only_oldest_favourite():
            measure_all(only_one, last)


if __name__ == "__main__":
    main()
