"""pytest-xdist: one PostgreSQL, one Redis and one Kafka for the whole run, shared by workers.

Each scenario runs a small suite with ``pytest -n 2 --dist each`` (every test on both
workers) in a subprocess, with a runtime directory of its own so that the servers it
starts can be counted (process-group leaders whose working directory lies in it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from integration_kit.config import load_settings
from integration_kit.services.backends.local import LocalBackend
from integration_kit.services.process import DEFAULT_SPECS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

pytest_plugins = ["pytester"]

PROC_HELPERS = '''
import os
from pathlib import Path


def server_leaders(runtime_dir):
    """The servers working inside ``runtime_dir``: processes there whose parent is not."""
    inside = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if fields[0] != "Z" and cwd.startswith(str(runtime_dir)):
            inside[int(entry.name)] = (int(fields[1]), comm)
    return sorted((pid, comm) for pid, (ppid, comm) in inside.items() if ppid not in inside)
'''

CONFTEST = """
import os

import pytest

KINDS = os.environ["IK_TEST_KINDS"].split(",")


@pytest.fixture(scope="session")
def endpoints(request):
    \"\"\"The plugin's endpoint fixtures (ik_postgres, ik_redis, ik_kafka) the suite needs.\"\"\"
    return {kind: request.getfixturevalue(f"ik_{kind}") for kind in KINDS}
"""

SHARED_SUITE = '''
import asyncio
import json
import os
import time
from pathlib import Path

import asyncpg
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from integration_kit.services.namespace import Namespace
from proc_helpers import server_leaders

OUT = Path(os.environ["IK_TEST_OUT"])
RUNTIME = os.environ["INTEGRATION_KIT_RUNTIME_DIR"]


def barrier(name):
    """Wait until both workers reached ``name``."""
    worker = Namespace.current().worker
    (OUT / f"{name}-{worker}").write_text("")
    deadline = time.monotonic() + 120
    while len(list(OUT.glob(f"{name}-gw*"))) < 2:
        assert time.monotonic() < deadline, f"the other worker never reached {name}"
        time.sleep(0.01)


async def postgres_isolation(endpoint, ns):
    admin = await asyncpg.connect(endpoint.dsn)
    db = ns.database("ik_xdist")
    await admin.execute(f'DROP DATABASE IF EXISTS "{db}"')
    await admin.execute(f'CREATE DATABASE "{db}"')
    conn = await asyncpg.connect(endpoint.dsn.rsplit("/", 1)[0] + "/" + db)
    await conn.execute("CREATE TABLE owners (worker text)")
    await conn.execute("INSERT INTO owners VALUES ($1)", ns.worker)
    barrier("pg-written")
    rows = [r["worker"] for r in await conn.fetch("SELECT worker FROM owners")]
    started = str(await conn.fetchval("SELECT pg_postmaster_start_time()"))
    await conn.close()
    await admin.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
    await admin.close()
    return rows, started


async def kafka_isolation(endpoint, ns):
    topic = ns.topic("ik-xdist-events")
    admin = AIOKafkaAdminClient(bootstrap_servers=endpoint.bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])  # the kit's brokers never auto-create
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=endpoint.bootstrap_servers)
    await producer.start()
    await producer.send_and_wait(topic, ns.worker.encode())
    await producer.stop()
    barrier("kafka-written")
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=endpoint.bootstrap_servers,
        group_id=f"ik-xdist-{ns.worker}", auto_offset_reset="earliest",
    )
    await consumer.start()
    batch = await consumer.getmany(timeout_ms=30000, max_records=10)
    values = [r.value.decode() for records in batch.values() for r in records]
    await consumer.stop()
    return values


def test_one_set_of_services_shared_and_isolated(endpoints):
    ns = Namespace.current()
    leaders = server_leaders(RUNTIME)
    rows, pg_started = asyncio.run(postgres_isolation(endpoints["postgres"], ns))
    assert rows == [ns.worker], rows

    client = redis.Redis(host=endpoints["redis"].host, port=endpoints["redis"].port, db=ns.redis_db)
    client.flushdb()
    client.set("owner", ns.worker)
    barrier("redis-written")
    assert client.get("owner") == ns.worker.encode()
    assert client.dbsize() == 1
    redis_run_id = client.info("server")["run_id"]
    client.flushdb()

    values = asyncio.run(kafka_isolation(endpoints["kafka"], ns))
    assert values == [ns.worker], values

    facts = {
        "worker": ns.worker,
        "leaders": [comm for _, comm in leaders],
        "endpoints": {kind: [e.host, e.port] for kind, e in endpoints.items()},
        "pg_started": pg_started,
        "redis_run_id": redis_run_id,
    }
    (OUT / f"facts-{ns.worker}.json").write_text(json.dumps(facts))
'''

CRASH_SUITE = """
import asyncio
import os
import time
from pathlib import Path

import asyncpg
import redis

from integration_kit.services.namespace import Namespace

OUT = Path(os.environ["IK_TEST_OUT"])


def test_services_survive_a_crashed_worker(endpoints):
    worker = Namespace.current().worker
    (OUT / f"pid-{worker}.tmp").write_text(str(os.getpid()))
    os.replace(OUT / f"pid-{worker}.tmp", OUT / f"pid-{worker}")  # never seen half-written
    if worker == "gw0":
        os._exit(1)  # a crash: no teardown, no release
    deadline = time.monotonic() + 60
    while not (OUT / "pid-gw0").exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    crashed = int((OUT / "pid-gw0").read_text())
    while Path(f"/proc/{crashed}").exists() and "Z" not in _state(crashed):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.5)  # give a wrong implementation the chance to stop the services
    client = redis.Redis(host=endpoints["redis"].host, port=endpoints["redis"].port)
    assert client.ping()

    async def select_one():
        conn = await asyncpg.connect(endpoints["postgres"].dsn)
        try:
            return await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    assert asyncio.run(select_one()) == 1
    (OUT / "survived").write_text("yes")


def _state(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "Z"
"""


def _leaders(runtime_dir: Path) -> list[tuple[int, str]]:
    namespace: dict[str, object] = {}
    exec(PROC_HELPERS, namespace)
    return namespace["server_leaders"](runtime_dir)  # type: ignore[operator,no-any-return]


def _prepare(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    runtime_dir: Path,
    suite: str,
    kinds: list[str],
) -> tuple[Path, Path]:
    backend = LocalBackend(load_settings())
    for kind in kinds:
        ok, why = backend.can_run(DEFAULT_SPECS[kind]())
        if not ok:
            pytest.skip(f"local {kind} not installed here: {why}")
    out = pytester.path / "out"
    out.mkdir()
    pytester.makepyfile(proc_helpers=PROC_HELPERS, conftest=CONFTEST, test_suite=suite)
    monkeypatch.setenv("INTEGRATION_KIT_RUNTIME_DIR", str(runtime_dir))
    monkeypatch.setenv("IK_TEST_OUT", str(out))
    monkeypatch.setenv("IK_TEST_KINDS", ",".join(kinds))
    for name in ("INTEGRATION_KIT_POSTGRES_URL", "INTEGRATION_KIT_REDIS_URL", "INTEGRATION_KIT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    return runtime_dir, out


def _assert_all_stopped(runtime_dir: Path) -> None:
    assert _leaders(runtime_dir) == [], "servers outlived the run"
    assert not list((runtime_dir / "services").iterdir()), "server directories left behind"
    assert [p.name for p in (runtime_dir / "runs").iterdir()] == [], "run state left behind"


def test_one_postgres_redis_and_kafka_for_two_workers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, runtime_dir: Path
) -> None:
    kinds = ["postgres", "redis", "kafka"]
    runtime_dir, out = _prepare(pytester, monkeypatch, runtime_dir, SHARED_SUITE, kinds)
    result = pytester.runpytest_subprocess(
        "-n", "2", "--dist", "each", "--ik-backend", "local", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2)
    facts = [json.loads((out / f"facts-{w}.json").read_text()) for w in ("gw0", "gw1")]
    # Exactly one server of each kind ran while the workers worked...
    for fact in facts:
        assert sorted(fact["leaders"]) == sorted(["postgres", "redis-server", "java"]), fact
    # ...and both workers used the same ones.
    assert facts[0]["endpoints"] == facts[1]["endpoints"]
    assert facts[0]["pg_started"] == facts[1]["pg_started"]
    assert facts[0]["redis_run_id"] == facts[1]["redis_run_id"]
    _assert_all_stopped(runtime_dir)


def test_a_crashed_worker_does_not_stop_the_others_services(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, runtime_dir: Path
) -> None:
    runtime_dir, out = _prepare(pytester, monkeypatch, runtime_dir, CRASH_SUITE, ["postgres", "redis"])
    result = pytester.runpytest_subprocess(
        "-n",
        "2",
        "--dist",
        "each",
        "--max-worker-restart",
        "0",
        "--ik-backend",
        "local",
        "-p",
        "no:cacheprovider",
    )
    assert (out / "survived").read_text() == "yes", result.stdout.str()
    result.stdout.fnmatch_lines(["*gw0*crashed*"])
    _assert_all_stopped(runtime_dir)


def test_proc_helpers_find_nothing_in_an_empty_directory(tmp_path: Path) -> None:
    assert _leaders(tmp_path) == []
    assert os.getpgid(0) > 0
