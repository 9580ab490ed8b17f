"""PostgreSQL store: the hot-path statements, built once per store (per schema).

Each statement is rendered to a plain string when the store opens, so a call costs no
``sql.Composed`` work and psycopg prepares it server-side after a few uses (the same
query text every time). The write paths are single statements so an autocommit
connection runs each in one round trip:

* enqueue: ``WITH ins AS (INSERT ... ) SELECT pg_notify(...)``: the rows and the wake-up
  in one statement (one implicit transaction, so a failed insert notifies nobody). A
  bulk enqueue (a :class:`~rocketjob.store.base.JobBatch`: jobs that differ only in id
  and arguments) sends the shared values once and a JSON array of ``{id, arguments}``,
  ``INSERT ... SELECT FROM json_to_recordset(...)``; other lists of documents go as one
  JSON array through ``json_populate_recordset``. Either is one prepared statement
  whatever the size.
* outcomes: every destroyed job of a batch in one ``DELETE ... USING unnest(ids,
  workers)``; other outcomes one ``UPDATE`` each, in the same transaction.
* finish and claim: the batch's deletes and the claim of the next jobs in one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from psycopg import sql

from rocketjob import state
from rocketjob.store.base import JobBatch, JobDoc
from rocketjob.store.postgres.schema import JOB_COLUMN_TYPES, JOB_COLUMNS, to_param

#: The columns a bulk enqueue sends per job; the others are the batch's template.
_PER_JOB = frozenset({"id", "arguments"})

#: The state the claim writes (``start``'s target in rocketjob.state), as a literal; the
#: other fields of rocketjob.state.start_changes are the claim's parameters.
STARTED = sql.Literal(state.start_changes(None, None, None)["state"])

#: The claim walks the partial claim index ``(priority, id) WHERE state = 'queued'`` in
#: order and stops after ``limit`` rows: 0.05 ms whatever the queue's length. The pick
#: is the schema's function ``rocketjob_claimable`` (migration 4), whose SELECT runs with
#: ``enable_sort`` and ``enable_bitmapscan`` off, so that walk is the only plan left:
#: without planner statistics (a table never analyzed, or analyzed while empty, then a
#: burst of jobs) the planner guesses that almost no row is queued and of the claimable
#: classes, and the plain SELECT read and sorted the whole queue on every claim instead
#: (bitmap scan + sort: 4 ms at 10k queued, 36 ms at 100k; ``bench/pg_explain.py``). No
#: shape of the statement avoided that once the guess fell below the LIMIT (a CASE that
#: hides the filter's selectivity, ``LIMIT (SELECT n)``: both tried), and a per-class
#: LATERAL would lock ``limit`` rows per class. The function's plan is cached per
#: connection (PL/pgSQL), and the rows it locks stay locked until the statement ends.
#: Its LIMIT is the parameter ``n``: with statistics, a custom plan for ``n`` = 10 looks
#: far cheaper than the generic plan (which expects an unknown LIMIT to take 10 % of the
#: queue), so the plan cache re-planned the pick on every claim (server CPU 43 against
#: 34 µs per job, ``bench.drain_cost store``); migration 8 sets ``plan_cache_mode =
#: force_generic_plan`` on the function, and the generic plan is the same index walk.
#:
#: The LIMIT is a literal, one statement text per claim size (at most ``threads`` of
#: them, each prepared).
_PICK = (
    'picked AS (SELECT c.id COLLATE "C" AS id, c.priority'
    " FROM {schema}.rocketjob_claimable(%(classes)s::text[], %(now)s, {limit}) AS c),"
    " numbered AS (SELECT id, row_number() OVER (ORDER BY priority, id) AS n FROM picked),"
    " claimed AS (UPDATE {jobs} AS j SET state = {started}, started_at = %(now)s,"
    " server_name = %(server)s, worker_name = (%(workers)s::text[])[numbered.n]"
    " FROM numbered WHERE j.id = numbered.id RETURNING {cols}, numbered.n)"
)
#: Two kinds of places claiming at once (``Store.claim_kinds``: idle threads and free
#: slots of the event loop) in one statement: a pick per kind (their classes do not
#: overlap, so no row is picked twice), numbered per kind, each row named after its
#: kind's worker. The limits are parameters: one statement text (one prepared statement)
#: for every pair of sizes.
_PICK_TWO = (
    'picked AS (SELECT c.id COLLATE "C" AS id, c.priority, 1 AS kind'
    " FROM {schema}.rocketjob_claimable(%(classes)s::text[], %(now)s, %(limit)s::integer) AS c"
    ' UNION ALL SELECT c.id COLLATE "C", c.priority, 2'
    " FROM {schema}.rocketjob_claimable(%(classes2)s::text[], %(now)s, %(limit2)s::integer)"
    " AS c),"
    " numbered AS (SELECT id, kind, row_number() OVER (PARTITION BY kind ORDER BY priority, id)"
    " AS n FROM picked),"
    " claimed AS (UPDATE {jobs} AS j SET state = {started}, started_at = %(now)s,"
    " server_name = %(server)s, worker_name = CASE numbered.kind"
    " WHEN 1 THEN (%(workers)s::text[])[numbered.n] ELSE (%(workers2)s::text[])[numbered.n] END"
    " FROM numbered WHERE j.id = numbered.id RETURNING {cols}, numbered.n, numbered.kind)"
)
_DESTROY = (
    "DELETE FROM {jobs} AS j USING unnest(%(ids)s::text[], %(owners)s::text[]) AS f(id, owner)"
    " WHERE j.id = f.id AND j.worker_name = f.owner AND j.state = 'running' RETURNING j.id"
)


def _requeue(jobs: sql.Composable) -> sql.Composed:
    """The bulk requeue of a server's running jobs, rendered from the transition table
    (rocketjob.state.requeue_changes): ``state = 'queued', worker_name = NULL, ...``."""
    sets = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Literal(value))
        for name, value in state.requeue_changes().items()
    )
    (source,) = state.sources("requeue")
    return sql.SQL("UPDATE {} SET {} WHERE state = {} AND server_name = %s").format(
        jobs, sets, sql.Literal(str(source))
    )


@dataclass(frozen=True)
class Statements:
    """The hot-path statements of one schema, as query strings. ``claim`` and
    ``destroy_and_claim`` hold a ``{limit}`` slot: use :meth:`claim_for` and
    :meth:`destroy_and_claim_for`."""

    insert_one: str
    insert_many: str
    insert_batch: str
    get_one: str
    claim: str
    claim_two: str
    destroy: str
    destroy_and_claim: str
    requeue: str
    _sized: dict[tuple[str, int], str] = field(default_factory=dict, compare=False, repr=False)

    def insert(self, docs: Sequence[JobDoc]) -> tuple[str, list[Any]]:
        """The one statement (rows + NOTIFY) storing ``docs``, and its parameters: run
        by the blocking store on a pooled connection (or the caller's, in its
        transaction) and by the async side (:mod:`.aio`) on its event loop's own."""
        if len(docs) == 1:
            doc = docs[0]
            return self.insert_one, [to_param(n, doc.get(n)) for n in JOB_COLUMNS]
        if isinstance(docs, JobBatch):
            template = docs.template
            params = [to_param(n, template.get(n)) for n in JOB_COLUMNS if n not in _PER_JOB]
            per_job = [
                {"id": job_id, "arguments": arguments}
                for job_id, arguments in zip(docs.ids, docs.arguments, strict=True)
            ]
            params.append(orjson.dumps(per_job).decode())
            return self.insert_batch, params
        return self.insert_many, [orjson.dumps(list(docs)).decode()]

    def claim_for(self, limit: int) -> str:
        """The claim of ``limit`` jobs."""
        return self._with_limit(self.claim, limit)

    def destroy_and_claim_for(self, limit: int) -> str:
        """The batch's deletes and the claim of ``limit`` jobs."""
        return self._with_limit(self.destroy_and_claim, limit)

    def _with_limit(self, template: str, limit: int) -> str:
        key = (template, int(limit))
        text = self._sized.get(key)
        if text is None:
            text = self._sized[key] = template.replace("{limit}", str(int(limit)))
        return text


def build(jobs: sql.Composable, channel: str, schema: sql.Composable) -> Statements:
    """Render the statements for the jobs table ``jobs`` (in ``schema``) and NOTIFY
    channel ``channel``."""
    names = sql.SQL(", ").join(map(sql.Identifier, JOB_COLUMNS))
    cols = sql.SQL(", ").join(sql.Identifier("j", name) for name in JOB_COLUMNS)
    notify = sql.SQL("SELECT pg_notify({}, '')").format(sql.Literal(channel))
    one = sql.SQL("WITH ins AS (INSERT INTO {} ({}) VALUES ({})) {}").format(
        jobs, names, sql.SQL(", ").join(sql.Placeholder() * len(JOB_COLUMNS)), notify
    )
    many = sql.SQL(
        "WITH ins AS (INSERT INTO {jobs} ({names}) SELECT {names}"
        " FROM json_populate_recordset(NULL::{jobs}, %s::json)) {notify}"
    ).format(jobs=jobs, names=names, notify=notify)
    # The template's values, cast to their columns' types, then one JSON array of
    # {"id", "arguments"} objects (psycopg's text arrays escape every element in Python).
    shared = sql.SQL(", ").join(
        sql.SQL("u.id")
        if name == "id"
        else sql.SQL("u.arguments")
        if name == "arguments"
        else sql.SQL("%s::{}").format(sql.SQL(JOB_COLUMN_TYPES[name]))
        for name in JOB_COLUMNS
    )
    batch = sql.SQL(
        "WITH ins AS (INSERT INTO {jobs} ({names}) SELECT {shared}"
        " FROM json_to_recordset(%s::json) AS u(id text, arguments json)) {notify}"
    ).format(jobs=jobs, names=names, shared=shared, notify=notify)
    limit = sql.SQL("{limit}")  # kept as a slot in the rendered text
    claim = sql.SQL("WITH " + _PICK + " SELECT * FROM claimed").format(
        jobs=jobs, cols=cols, limit=limit, schema=schema, started=STARTED
    )
    claim_two = sql.SQL("WITH " + _PICK_TWO + " SELECT * FROM claimed").format(
        jobs=jobs, cols=cols, schema=schema, started=STARTED
    )
    destroy = sql.SQL(_DESTROY).format(jobs=jobs)
    # Done ids come back as rows with n = 0 and only the id set (UNION ALL: json has no
    # equality operator, and nothing needs de-duplicating).
    nulls = sql.SQL(", ").join(
        sql.SQL("d.id") if name == "id" else sql.SQL("NULL") for name in JOB_COLUMNS
    )
    both = sql.SQL(
        "WITH done AS (" + _DESTROY + "), " + _PICK + " SELECT * FROM claimed"
        " UNION ALL SELECT {nulls}, 0 FROM done AS d"
    ).format(jobs=jobs, cols=cols, nulls=nulls, limit=limit, schema=schema, started=STARTED)
    get_one = sql.SQL("SELECT {} FROM {} WHERE id = %s").format(names, jobs)
    return Statements(
        insert_one=one.as_string(),
        insert_many=many.as_string(),
        insert_batch=batch.as_string(),
        get_one=get_one.as_string(),
        claim=claim.as_string(),
        claim_two=claim_two.as_string(),
        destroy=destroy.as_string(),
        destroy_and_claim=both.as_string(),
        requeue=_requeue(jobs).as_string(),
    )
