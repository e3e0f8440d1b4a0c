"""Any interleaving of send / claim / complete / fail / release / cancel / rescue / retention keeps the queue's
invariants, checked against a model after every step on a real database:

- every job sent is in exactly the state the model says (nothing disappears unless retention removes it);
- an operation on a job succeeds only from the expected state and, out of ``active``, only for the owner;
- attempts never exceed retry_limit + 1, and every failed job has exactly one dead letter.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from pipeline.config import Config, QueueConfig
from pipeline.db import connect, query
from pipeline.queue import JobState, Queue, Rescuer

WORKERS = ("w1", "w2")
RETRY_LIMIT = 2
QUEUE_CONFIG = QueueConfig(heartbeat_interval=2.5, rescue_after_heartbeats=2, retry_delay=0, retry_backoff=False)


@dataclass
class ModelJob:
    state: JobState
    attempts: int = 0
    owner: str | None = None


def test_queue_operations_keep_the_invariants_in_any_interleaving(config: Config) -> None:
    url, schema = config.database.url, config.database.schema
    rescuer = Rescuer(url, schema, QUEUE_CONFIG)
    with connect(url, schema, autocommit=True) as conn, Queue(url, schema, QUEUE_CONFIG) as queue:
        # the rescuer does not judge heartbeats right after a server restart; make sure that is behind us
        uptime = conn.execute("SELECT extract(epoch FROM now() - pg_postmaster_start_time())::float").fetchone()
        assert uptime is not None
        time.sleep(max(0.0, rescuer.stale_after + 0.5 - uptime[0]))

        class QueueMachine(RuleBasedStateMachine):
            def __init__(self) -> None:
                super().__init__()
                conn.execute("TRUNCATE jobs, job_events, dead_letters, workers")
                self.jobs: dict[uuid.UUID, ModelJob] = {}
                self.sent: list[uuid.UUID] = []  # every job ever sent, in order (retention removes from jobs only)

            def pick(self, data: st.DataObject) -> uuid.UUID | None:
                """Any job ever sent, or (half the time) a running one, where the owner checks matter. By position,
                not by id: ids are random, and what is drawn must not depend on them."""
                running = [i for i in self.sent if i in self.jobs and self.jobs[i].state is JobState.ACTIVE]
                pool = running if running and data.draw(st.booleans()) else self.sent
                if not pool:
                    return None
                return pool[data.draw(st.integers(0, len(pool) - 1))]

            @rule(count=st.integers(1, 3), priority=st.integers(-1, 1))
            def send(self, count: int, priority: int) -> None:
                # one transaction per job, so the claim order (priority, then start_after) never hinges on an id
                for n in range(count):
                    job_id = queue.send("q", {"n": n}, priority=priority, retry_limit=RETRY_LIMIT)
                    self.jobs[job_id] = ModelJob(JobState.CREATED)
                    self.sent.append(job_id)

            @rule(worker=st.sampled_from(WORKERS), limit=st.integers(1, 3))
            def claim(self, worker: str, limit: int) -> None:
                rows = conn.execute(
                    query("job_claim"), {"name": "q", "limit": limit, "worker_id": worker, "stale_after": 60}
                ).fetchall()
                waiting = [i for i, job in self.jobs.items() if job.state in (JobState.CREATED, JobState.RETRY)]
                assert len(rows) == min(limit, len(waiting))
                for row in rows:
                    job = self.jobs[row[0]]
                    assert job.state in (JobState.CREATED, JobState.RETRY), "claimed a job that was not waiting"
                    job.state, job.attempts, job.owner = JobState.ACTIVE, job.attempts + 1, worker
                    assert row[2] == job.attempts

            def owned(self, job_id: uuid.UUID, worker: str) -> bool:
                job = self.jobs.get(job_id)
                return job is not None and job.state is JobState.ACTIVE and job.owner == worker

            def attempt(self, job_id: uuid.UUID, stale: bool) -> int:
                """The job's current attempt, or the one before (a late result of an earlier run); any attempt
                for a job retention deleted."""
                job = self.jobs.get(job_id)
                return (job.attempts if job is not None else 1) - int(stale)

            @rule(data=st.data(), worker=st.sampled_from(WORKERS), stale=st.booleans())
            def complete(self, data: st.DataObject, worker: str, stale: bool) -> None:
                job_id = self.pick(data)
                if job_id is None:
                    return
                params = {"ids": [job_id], "attempts": [self.attempt(job_id, stale)], "outputs": [None]}
                accepted = conn.execute(query("job_complete_many"), {**params, "worker_id": worker}).rowcount
                assert accepted == int(self.owned(job_id, worker) and not stale)
                if accepted:
                    self.jobs[job_id].state = JobState.COMPLETED

            @rule(data=st.data(), worker=st.sampled_from(WORKERS), permanent=st.booleans(), stale=st.booleans())
            def fail(self, data: st.DataObject, worker: str, permanent: bool, stale: bool) -> None:
                job_id = self.pick(data)
                if job_id is None:
                    return
                params = {
                    "ids": [job_id],
                    "attempts": [self.attempt(job_id, stale)],
                    "errors": ["boom"],
                    "delays": [0.0],
                    "permanent": [permanent],
                }
                rows = conn.execute(query("job_fail_many"), {**params, "worker_id": worker}).fetchall()
                assert len(rows) == int(self.owned(job_id, worker) and not stale)
                if rows:
                    job = self.jobs[job_id]
                    retry = not permanent and job.attempts <= RETRY_LIMIT
                    job.state = JobState.RETRY if retry else JobState.FAILED

            @rule(data=st.data(), worker=st.sampled_from(WORKERS), stale=st.booleans())
            def release(self, data: st.DataObject, worker: str, stale: bool) -> None:
                job_id = self.pick(data)
                if job_id is None:
                    return
                params = {"ids": [job_id], "attempts": [self.attempt(job_id, stale)], "worker_id": worker}
                rows = conn.execute(query("job_release_many"), params).fetchall()
                assert len(rows) == int(self.owned(job_id, worker) and not stale)
                if rows:
                    job = self.jobs[job_id]
                    job.state, job.attempts = JobState.RETRY, job.attempts - 1

            @rule(data=st.data())
            def cancel(self, data: st.DataObject) -> None:
                job_id = self.pick(data)
                if job_id is None:
                    return
                job = self.jobs.get(job_id)
                cancelled = queue.cancel(job_id)
                assert cancelled == ([] if job is None or job.state.is_finished else [job_id])
                if job is not None and cancelled:
                    job.state = JobState.CANCELLED

            @rule(data=st.data())
            def worker_dies(self, data: st.DataObject) -> None:
                job_id = self.pick(data)
                if job_id is None:
                    return
                conn.execute("UPDATE jobs SET heartbeat_at = now() - interval '1 hour' WHERE id = %s", [job_id])
                rescued = rescuer.run_once(conn)
                job = self.jobs.get(job_id)
                if job is not None and job.state is JobState.ACTIVE:
                    assert [item.job_id for item in rescued] == [job_id]
                    job.state = JobState.RETRY if job.attempts <= RETRY_LIMIT else JobState.FAILED
                else:
                    assert rescued == []

            @rule()
            def retention(self) -> None:
                conn.execute("UPDATE jobs SET finished_at = now() - interval '2 hours' WHERE finished_at IS NOT NULL")
                conn.execute(
                    query("job_delete_finished"),
                    {"delete_after": 3600, "failed_delete_after": 86400 * 7, "limit": 1000},
                )
                for job_id in [
                    i for i, job in self.jobs.items() if job.state in (JobState.COMPLETED, JobState.CANCELLED)
                ]:
                    del self.jobs[job_id]

            @invariant()
            def database_matches_the_model(self) -> None:
                rows = conn.execute("SELECT id, state, attempts, worker_id, retry_limit FROM jobs").fetchall()
                stored = {row[0]: row for row in rows}
                assert set(stored) == set(self.jobs), "a job appeared or disappeared"
                for job_id, job in self.jobs.items():
                    _, state, attempts, worker_id, retry_limit = stored[job_id]
                    assert (JobState(state), attempts) == (job.state, job.attempts)
                    assert attempts <= retry_limit + 1
                    if job.state is JobState.ACTIVE:
                        assert worker_id == job.owner

            @invariant()
            def every_failed_job_has_one_dead_letter(self) -> None:
                failed = {i for i, job in self.jobs.items() if job.state is JobState.FAILED}
                letters = [row[0] for row in conn.execute("SELECT source_job_id FROM dead_letters")]
                assert sorted(letters) == sorted(failed)

        run_state_machine_as_test(
            QueueMachine,
            settings=settings(
                max_examples=40,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
