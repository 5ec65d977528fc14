"""What one trial asks of the servers, and how many concurrent trials one MLflow server on PostgreSQL carries.

    python benchmarks/bench_scaling.py --data SPLIT_DIR [--epochs 1,4] [--frameworks torch,keras]
                                       [--levels 8,32,128] [--seconds 60] [--workers 4] [--auth-cache 0,60]
                                       [--skip-postgres]

SPLIT_DIR is a split folder (`fmnist split --out SPLIT_DIR`). Everything listens on 127.0.0.1, lives in a temporary
folder and is stopped before the command ends.

1. One real trial, as a sweep runs it: the Prefect task `train-trial` (tasks/train.py: train with the `seed`
   preset, then score the best checkpoint) inside a flow, against a real `mlflow server` (SQLite, artifacts served
   through it) and a real `prefect server start`, each behind a counting reverse proxy. Each framework trains
   once with the fewest and once with the most of ``--epochs``; the difference gives the per-epoch share. Prints
   requests and bytes (HTTP headers and bodies; websocket messages for Prefect's events) by endpoint, per trial
   and per epoch, and the epoch's cycle time.
2. (unless --skip-postgres) The MLflow server of docker/compose.yaml (basic-auth, PostgreSQL backend and user
   store, served artifacts), started with Compose's command and settings on a throw-away PostgreSQL cluster, loaded
   with 1 (the plain reference) and then ``--levels`` simulated trials for ``--seconds`` each. A simulated trial
   replays what a real epoch sent in step 1, at its framework's real pace: the epoch's metrics as one log-batch
   (asynchronous, as the tracker's sender thread does), then for each checkpoint file the run lookup and the
   upload that the training waits for, then the epoch's compute time. Prints latency percentiles by request,
   errors, the request rate achieved, how much slower trials ran than they would alone, and the CPU that the
   server, PostgreSQL and the load generator each used. ``--auth-cache`` repeats it with the basic-auth
   credential cache off (0, Compose's setting today) and on (a TTL in seconds); ``--workers``, with that many
   server worker processes (MLFLOW_WORKERS; Compose: 4, MLflow's default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import numpy as np
import psutil
from aiohttp import web

from fmnist.ops.loopback import HOST, free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
START_TIMEOUT = 240.0
REQUEST_TIMEOUT = 30.0  # the tracker's MLFLOW_HTTP_REQUEST_TIMEOUT
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}|m-[0-9a-f]{32}")
EPOCH_FILE = re.compile(r"/checkpoints/epoch-(\d+)\.")


# Servers ------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def server(name: str, command: list[str], env: dict[str, str], health_url: str, logs: Path) -> Iterator[int]:
    """Start ``command`` in a session of its own, wait until ``health_url`` answers 200, yield its pid; stop the
    whole process group (servers fork workers) on the way out, whatever happened."""
    with open(logs / f"{name}.log", "ab") as log:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited: {(logs / f'{name}.log').read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health_url, timeout=3).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer at {health_url} in {START_TIMEOUT:.0f} s")
            time.sleep(0.5)
        yield process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and all their descendants, as far as they still exist."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = p.cpu_times()
                    total += times.user + times.system
    return total


# Step 1: the counting proxy -----------------------------------------------------------------------------------
@dataclass
class Record:
    """One proxied request (or one websocket message: method ``WS``, ``up`` for client → server)."""

    start: float
    end: float
    method: str
    path: str
    up: int  # request line, headers and body
    down: int  # status line, headers and body
    body_up: int = 0
    text: str = ""  # kept for Prefect's log batches and event messages only


def _header_bytes(headers: object) -> int:
    return sum(len(k) + len(v) + 4 for k, v in headers.items())  # type: ignore[attr-defined]


class CountingProxy:
    """A reverse proxy to ``upstream`` on a free loopback port, on an event loop in a thread of its own, that
    records every request it forwards (websockets included: each message is a record)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.records: list[Record] = []
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="counting-proxy", daemon=True)

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
            asyncio.run_coroutine_threadsafe(self._session.close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, self.port).start()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        start = time.time()
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        url = self.upstream + request.path_qs
        async with self._session.request(request.method, url, headers=headers, data=body) as answer:
            payload = await answer.read()
            out = [(k, v) for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS]
            status, down_headers = answer.status, _header_bytes(answer.headers)
        keep = body.decode(errors="replace") if request.path.endswith("/logs/") else ""
        self.records.append(
            Record(start, time.time(), request.method, request.path,
                   len(request.method) + len(request.path_qs) + 11 + _header_bytes(request.headers) + len(body),
                   15 + down_headers + len(payload), len(body), keep)
        )  # fmt: skip
        return web.Response(body=payload, status=status, headers=out)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        client = web.WebSocketResponse(protocols=("prefect",))
        await client.prepare(request)
        url = "ws" + self.upstream.removeprefix("http") + request.path_qs
        headers = {k: v for k, v in request.headers.items() if k.lower() == "authorization"}
        async with self._session.ws_connect(url, protocols=("prefect",), headers=headers) as upstream:

            async def pump(source: object, sink: object, outgoing: bool) -> None:
                async for message in source:  # type: ignore[attr-defined]
                    if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        break
                    data = message.data if isinstance(message.data, str) else message.data.decode(errors="replace")
                    now = time.time()
                    size = len(data.encode())
                    self.records.append(Record(now, now, "WS", request.path, size if outgoing else 0,
                                               0 if outgoing else size, text=data if outgoing else ""))  # fmt: skip
                    await sink.send_str(data)  # type: ignore[attr-defined]
                await sink.close()  # type: ignore[attr-defined]

            await asyncio.gather(pump(client, upstream, True), pump(upstream, client, False), return_exceptions=True)
        return client


def endpoint(record: Record) -> str:
    """The request's endpoint, ids and file names left out: ``POST runs/log-batch``, ``PUT artifacts checkpoints/``,
    ``WS events/in prefect.task-run.Running``."""
    path = record.path
    if "/mlflow-artifacts/artifacts/" in path:
        # <experiment>/<run>/artifacts/<path>, or <experiment>/models/<model>/artifacts/<path> (a logged model)
        parts = path.split("/mlflow-artifacts/artifacts/", 1)[1].split("/")
        if len(parts) > 1 and parts[1] == "models":
            area = "model files"
        else:
            area = parts[3] + "/" if len(parts) > 4 else "run files"
        return f"{record.method} artifacts {area}"
    if path.endswith("/mlflow-artifacts/artifacts"):
        return f"{record.method} artifacts (list)"
    path = ID.sub("{id}", path).removeprefix("/api/2.0/mlflow/").removeprefix("/api/")
    if record.method == "WS":
        if not record.text:
            return f"WS {path} (server → client)"
        with contextlib.suppress(ValueError, AttributeError):
            message = json.loads(record.text)
            return f"WS {path} {message.get('event') or message.get('type')}"
        return f"WS {path}"
    return f"{record.method} {path}"


def is_task_run(key: str) -> bool:
    """A Prefect request that belongs to the trial's task run rather than to the flow around it."""
    return "task-run" in key or "task_runs" in key


def log_records(records: list[Record]) -> tuple[int, int]:
    """Log lines posted to Prefect: (from the task run, from the flow run)."""
    task = flow = 0
    for r in records:
        with contextlib.suppress(ValueError):
            for line in json.loads(r.text) if r.text and r.path.endswith("/logs/") else []:
                task, flow = (task + 1, flow) if line.get("task_run_id") else (task, flow + 1)
    return task, flow


@dataclass
class TrialTraffic:
    framework: str
    epochs: int
    mlflow: list[Record]
    prefect: list[Record]
    seconds: float

    def by_endpoint(self, service: str) -> dict[str, tuple[int, int, int]]:
        """endpoint → (requests, bytes up, bytes down)."""
        table: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for r in getattr(self, service):
            row = table[endpoint(r)]
            row[0], row[1], row[2] = row[0] + 1, row[1] + r.up, row[2] + r.down
        return {k: (v[0], v[1], v[2]) for k, v in table.items()}


@dataclass
class EpochPattern:
    """What one epoch of a framework sends, read from the longer real trial."""

    framework: str
    cycle: float  # seconds from one epoch's first checkpoint upload to the next's
    tracking: float  # seconds of that the training waited for uploads
    files: list[tuple[str, int]]  # (suffix, bytes) of each checkpoint file
    gets_per_file: int  # runs/get requests before each upload
    metrics_body: int  # bytes of the epoch's log-batch body

    @property
    def compute(self) -> float:
        return max(self.cycle - self.tracking, 0.05)


def epoch_pattern(trial: TrialTraffic, per_epoch: dict[str, tuple[float, float, float]]) -> EpochPattern:
    starts: dict[int, list[Record]] = defaultdict(list)
    for r in trial.mlflow:
        if r.method == "PUT" and (m := EPOCH_FILE.search(r.path)):
            starts[int(m[1])].append(r)
    epochs = sorted(starts)
    firsts = [min(x.start for x in starts[e]) for e in epochs]
    cycle = statistics.median(np.diff(firsts)) if len(firsts) > 1 else float("nan")
    tracking = statistics.median(max(x.end for x in starts[e]) - min(x.start for x in starts[e]) for e in epochs)
    middle = starts[epochs[len(epochs) // 2]]
    files = [(Path(x.path).name.split(".", 1)[1], x.body_up) for x in sorted(middle, key=lambda x: x.start)]
    bodies = sorted(r.body_up for r in trial.mlflow if endpoint(r) == "POST runs/log-batch")
    metric_bodies = [b for b in bodies if 400 < b < 2000] or bodies
    gets = round(per_epoch.get("GET runs/get", (0.0,))[0] / max(len(files), 1))
    return EpochPattern(trial.framework, float(cycle), tracking, files, gets, int(statistics.median(metric_bodies)))


def trial_child(argv: list[str]) -> None:
    """(In a child process.) One trial as a sweep runs it: the `train-trial` task inside a flow."""
    framework, epochs, split_dir, work = argv[0], int(argv[1]), Path(argv[2]), Path(argv[3])
    from prefect import flow

    from fmnist.tracking import Tracker
    from fmnist.train.trial import Trial, TrialSetup
    from tasks.train import train_trial_task

    uri = os.environ["MLFLOW_TRACKING_URI"]
    parent = Tracker(uri, "bench-scaling").start_parent(f"scaling-{framework}-{epochs}")
    setup = TrialSetup(split_dir, "seed", parent, work / "checkpoints", uri, "bench-scaling", max_epochs=epochs)

    # Plain parameters: Prefect validates a flow's arguments against its annotations, which a flow defined in a
    # function cannot resolve to the classes (they are strings here).
    @flow(name="bench-scaling-trial")
    def one_trial(framework: str) -> float:
        return train_trial_task(Trial(framework, seed=0), setup).seconds

    print(json.dumps({"started": time.time()}), flush=True)
    seconds = one_trial(framework)
    print(json.dumps({"seconds": seconds}), flush=True)


def measure_trials(split_dir: Path, frameworks: list[str], epochs: list[int], base: Path) -> list[TrialTraffic]:
    """Run each (framework, epochs) trial in a fresh process against proxied MLflow and Prefect servers."""
    logs = base / "logs"
    logs.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_"))}
    mlflow_port, prefect_port = free_port(), free_port()
    mlflow_cmd = [str(BIN / "mlflow"), "server", "--host", HOST, "--port", str(mlflow_port), "--workers", "1",
                  "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}",
                  "--artifacts-destination", str(base / "artifacts")]  # fmt: skip
    prefect_cmd = [str(BIN / "prefect"), "server", "start", "--host", HOST, "--port", str(prefect_port), "--no-ui",
                   "--analytics-off"]  # fmt: skip
    server_env = {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PREFECT_HOME": str(base / "prefect-server")}
    results = []
    with (
        server("mlflow", mlflow_cmd, server_env, f"http://{HOST}:{mlflow_port}/health", logs),
        server("prefect", prefect_cmd, server_env, f"http://{HOST}:{prefect_port}/api/health", logs),
        CountingProxy(f"http://{HOST}:{mlflow_port}") as mlflow_proxy,
        CountingProxy(f"http://{HOST}:{prefect_port}") as prefect_proxy,
    ):
        child_env = {**env, "MLFLOW_TRACKING_URI": mlflow_proxy.url, "PREFECT_API_URL": f"{prefect_proxy.url}/api",
                     "PREFECT_HOME": str(base / "prefect-client"), "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
                     "TF_CPP_MIN_LOG_LEVEL": "2"}  # fmt: skip
        for framework in frameworks:
            for n in epochs:
                m0, p0 = len(mlflow_proxy.records), len(prefect_proxy.records)
                done = subprocess.run(
                    [sys.executable, __file__, "--trial-child", framework, str(n), str(split_dir), str(base / "work")],
                    env=child_env, cwd=ROOT, capture_output=True, text=True, timeout=900,
                )  # fmt: skip
                if done.returncode != 0:
                    raise RuntimeError(f"{framework} trial failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
                lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
                started = next(x["started"] for x in lines if "started" in x)
                seconds = next(x["seconds"] for x in lines if "seconds" in x)
                time.sleep(1)  # the last proxied answers are recorded
                # From the moment the flow starts: the parent run opened before belongs to no trial.
                mlflow = [r for r in mlflow_proxy.records[m0:] if r.start >= started]
                prefect = [r for r in prefect_proxy.records[p0:] if r.start >= started]
                results.append(TrialTraffic(framework, n, mlflow, prefect, seconds))
    return results


def per_epoch_rows(short: TrialTraffic, long: TrialTraffic, service: str) -> dict[str, tuple[float, float, float]]:
    a, b = short.by_endpoint(service), long.by_endpoint(service)
    span = long.epochs - short.epochs
    rows = {}
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key, (0, 0, 0)), b.get(key, (0, 0, 0))
        rows[key] = tuple((y[i] - x[i]) / span for i in range(3))
    return rows  # type: ignore[return-value]


def print_step1(trials: list[TrialTraffic]) -> dict[str, EpochPattern]:
    patterns = {}
    for framework in dict.fromkeys(t.framework for t in trials):
        runs = sorted((t for t in trials if t.framework == framework), key=lambda t: t.epochs)
        short, long = runs[0], runs[-1]
        for service in ("mlflow", "prefect"):
            print(f"\n{framework}, {service}: requests and kB (up/down) per trial of E epochs; per epoch = "
                  f"(E={long.epochs} - E={short.epochs}) / {long.epochs - short.epochs}")  # fmt: skip
            head = "".join(f" {'E=' + str(t.epochs) + ' req':>9} {'kB up':>9} {'kB down':>8}" for t in runs)
            print(f"{'endpoint':<52}{head} {'/epoch':>7} {'kB up':>8} {'kB down':>8}")
            tables = [t.by_endpoint(service) for t in runs]
            epoch_rows = per_epoch_rows(short, long, service)
            for key in sorted(set().union(*tables), key=lambda k: (-tables[-1].get(k, (0,))[0], k)):
                cells = "".join(
                    f" {t.get(key, (0, 0, 0))[0]:9d} {t.get(key, (0, 0, 0))[1] / 1e3:9.1f} "
                    f"{t.get(key, (0, 0, 0))[2] / 1e3:8.1f}"
                    for t in tables
                )
                e = epoch_rows[key]
                print(f"{key[:52]:<52}{cells} {e[0]:7.2f} {e[1] / 1e3:8.1f} {e[2] / 1e3:8.1f}")
            totals = [(sum(v[0] for v in t.values()), sum(v[1] for v in t.values()), sum(v[2] for v in t.values()))
                      for t in tables]  # fmt: skip
            e_tot = [sum(v[i] for v in epoch_rows.values()) for i in range(3)]
            cells = "".join(f" {n:9d} {u / 1e3:9.1f} {d / 1e3:8.1f}" for n, u, d in totals)
            print(f"{'total':<52}{cells} {e_tot[0]:7.2f} {e_tot[1] / 1e3:8.1f} {e_tot[2] / 1e3:8.1f}")
            if service == "prefect":
                task_reqs = [sum(v[0] for k, v in t.items() if is_task_run(k)) for t in tables]
                logs = [log_records([r for r in t.prefect if r.text]) for t in runs]
                print("of which the task run's (events and task_runs calls): " + ", ".join(
                    f"E={t.epochs}: {n}" for t, n in zip(runs, task_reqs, strict=True)
                ) + "; log lines posted (task run / flow run): " + ", ".join(
                    f"E={t.epochs}: {a}/{b}" for t, (a, b) in zip(runs, logs, strict=True)
                ))  # fmt: skip
        pattern = epoch_pattern(long, per_epoch_rows(short, long, "mlflow"))
        patterns[framework] = pattern
        files = ", ".join(f"{suffix} {size / 1e3:.0f} kB" for suffix, size in pattern.files)
        print(f"{framework} epoch: cycle {pattern.cycle:.2f} s (median), of which {pattern.tracking:.3f} s waiting for "
              f"checkpoint uploads; checkpoint files: {files}; runs/get per file: {pattern.gets_per_file}; "
              f"metrics log-batch body {pattern.metrics_body} B; trial wall time "
              + ", ".join(f"E={t.epochs}: {t.seconds:.1f} s" for t in runs))  # fmt: skip
    return patterns


# Step 2: the load test ----------------------------------------------------------------------------------------
@dataclass
class LevelStats:
    """What one load level measured."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    epochs: int = 0
    ideal_epochs: int = 0  # what the same trials make at step 1's pace (tracking as fast as with one trial)

    def record(self, kind: str, seconds: float, error: str | None) -> None:
        self.latencies[kind].append(seconds)
        if error:
            self.errors[f"{kind} {error}"] += 1


async def call(session: aiohttp.ClientSession, stats: LevelStats, kind: str, method: str, url: str,
               **kwargs: object) -> dict | None:  # fmt: skip
    """One request, timed; an answer >= 400, a timeout or a broken connection counts as an error."""
    start = time.perf_counter()
    error, answer = None, None
    try:
        async with session.request(method, url, **kwargs) as response:  # type: ignore[arg-type]
            payload = await response.read()
            if response.status >= 400:
                error = str(response.status)
            elif payload.startswith(b"{"):
                answer = json.loads(payload)
    except TimeoutError:
        error = "timeout"
    except aiohttp.ClientError as exc:
        error = type(exc).__name__
    stats.record(kind, time.perf_counter() - start, error)
    return answer


def metric_batch(run_id: str, epoch: int) -> dict:
    """The epoch's metrics as the tracker logs them: EpochMetrics.as_dict() and ``epoch``, one batch."""
    now = int(time.time() * 1000)
    keys = ("train/loss", "train/acc", "val/loss", "val/acc", "lr", "epoch_seconds", "samples_per_second", "epoch")
    metrics = [{"key": k, "value": random.random(), "timestamp": now, "step": epoch} for k in keys]
    return {"run_id": run_id, "metrics": metrics, "params": [], "tags": []}


async def simulated_trial(session: aiohttp.ClientSession, api: str, run: dict, pattern: EpochPattern,
                          deadline: float, stats: LevelStats, payload: bytes) -> None:  # fmt: skip
    """Epochs at ``pattern``'s pace until ``deadline``: compute, then the metrics batch in the background (one at
    a time, in order, as the tracker's sender thread) and each checkpoint file's upload, which the training waits
    for."""
    run_id = run["info"]["run_id"]
    artifacts = f"{api}/2.0/mlflow-artifacts/artifacts/" + run["info"]["artifact_uri"].split(":/", 1)[1]
    await asyncio.sleep(random.uniform(0, pattern.cycle))  # trials do not start in step
    stats.ideal_epochs += int((deadline - time.monotonic() + pattern.tracking) // pattern.cycle)
    pending: asyncio.Task | None = None
    epoch = 0
    while time.monotonic() + pattern.compute < deadline:
        await asyncio.sleep(pattern.compute)
        epoch += 1
        if pending is not None:
            await pending
        batch = metric_batch(run_id, epoch)
        pending = asyncio.create_task(call(session, stats, "log-batch", "POST", f"{api}/2.0/mlflow/runs/log-batch",
                                           json=batch))  # fmt: skip
        for suffix, size in pattern.files:
            for _ in range(pattern.gets_per_file):
                await call(session, stats, "runs/get", "GET", f"{api}/2.0/mlflow/runs/get", params={"run_id": run_id})
            url = f"{artifacts}/checkpoints/epoch-{epoch:03d}.{suffix}"
            await call(session, stats, "upload", "PUT", url, data=payload[:size])
        stats.epochs += 1
    if pending is not None:
        await pending


async def load_level(url: str, auth: tuple[str, str], experiment_id: str, n: int, patterns: list[EpochPattern],
                     seconds: float) -> LevelStats:  # fmt: skip
    """``n`` simulated trials for ``seconds``, frameworks in turn; their runs are created first, untimed."""
    api = f"{url}/api"
    stats, setup = LevelStats(), LevelStats()
    payload = os.urandom(max(size for p in patterns for _, size in p.files))
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    headers = {"Authorization": aiohttp.encode_basic_auth(*auth)}
    connector = aiohttp.TCPConnector(limit=0)  # a connection per trial, as each trial is a process of its own
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:
        gate = asyncio.Semaphore(8)

        async def create(i: int) -> dict | None:
            async with gate:
                body = {"experiment_id": experiment_id, "run_name": f"load-{n}-{i}",
                        "start_time": int(time.time() * 1000)}  # fmt: skip
                return await call(session, setup, "runs/create", "POST", f"{api}/2.0/mlflow/runs/create", json=body)

        runs = await asyncio.gather(*(create(i) for i in range(n)))
        if setup.errors:
            raise RuntimeError(f"could not create the runs: {dict(setup.errors)}")
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(
            simulated_trial(session, api, run["run"], patterns[i % len(patterns)], deadline, stats, payload)
            for i, run in enumerate(runs)
        ))  # fmt: skip
    return stats


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def load_test(patterns: dict[str, EpochPattern], levels: list[int], seconds: float, workers: list[str],
              caches: list[int], base: Path) -> None:  # fmt: skip
    """Start PostgreSQL once, then per variant the Compose MLflow server, and load it level by level."""
    sys.path.insert(0, str(ROOT))  # tests/ is not an installed package
    from tests.postgres_cluster import cluster_dir, postgres_bin, start_postgres, stop_postgres
    from tests.unit.docker.stack_env import DOCKER_DIR, service_command, service_env

    pg_bin = postgres_bin()
    if pg_bin is None:
        sys.exit("PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)")
    base.mkdir()
    logs = base / "logs"
    logs.mkdir()
    secret = secrets.token_hex(16)
    project_env = {
        "POSTGRES_PASSWORD": f"pg-{secret}", "MLFLOW_DB_PASSWORD": f"mlflow-db-{secret}",
        "PREFECT_DB_PASSWORD": f"prefect-db-{secret}", "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
        "MLFLOW_AUTH_ADMIN_PASSWORD": f"mlflow-admin-{secret}", "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(24),
        "PREFECT_API_AUTH_STRING": f"admin:prefect-{secret}",
        "STACK_POSTGRES_HOST": HOST, "STACK_POSTGRES_PORT": str(free_port()), "STACK_MLFLOW_HOST": HOST,
        "STACK_MLFLOW_PORT": str(free_port()), "STACK_LISTEN_HOST": HOST,
        "STACK_MLFLOW_ARTIFACTS": str(base / "mlflow-artifacts"), "STACK_SETTINGS_DIR": str(DOCKER_DIR / "settings"),
    }  # fmt: skip
    plain = {"PATH": f"{BIN}{os.pathsep}{pg_bin}{os.pathsep}{os.environ.get('PATH', '')}",
             "HOME": os.environ.get("HOME", "/root"), "PYTHONUNBUFFERED": "1"}  # fmt: skip
    auth = (project_env["MLFLOW_AUTH_ADMIN_USERNAME"], project_env["MLFLOW_AUTH_ADMIN_PASSWORD"])
    url = f"http://{HOST}:{project_env['STACK_MLFLOW_PORT']}"
    pg_dir = cluster_dir(base)
    pg_data = pg_dir / "data"
    order = [patterns[k] for k in patterns]
    print(f"\nStep 2: docker/compose.yaml's MLflow server (basic-auth, PostgreSQL), {seconds:.0f} s per level; "
          "simulated trials take turns: " + ", ".join(f"{p.framework} (epoch every {p.cycle:.2f} s, "
          f"{sum(s for _, s in p.files) / 1e3:.0f} kB of checkpoint)" for p in order))  # fmt: skip
    print(f"{'server':<22} {'trials':>6} {'req/s':>6} {'log-batch ms p50/p95/p99':>25} {'upload ms p50/p95/p99':>25} "
          f"{'errors':>6} {'pace':>5} {'CPU: server':>11} {'pg':>5} {'load gen':>8} {'machine':>7}")  # fmt: skip
    try:
        start_postgres(pg_bin, pg_dir, project_env["STACK_POSTGRES_PORT"], project_env["POSTGRES_PASSWORD"])
        init_env = {
            **plain,
            **service_env("postgres", project_env),
            "PGHOST": HOST,
            "PGPORT": project_env["STACK_POSTGRES_PORT"],
            "PGPASSWORD": project_env["POSTGRES_PASSWORD"],
        }
        subprocess.run(["bash", str(DOCKER_DIR / "postgres-init.sh")], env=init_env, check=True, capture_output=True,
                       timeout=60)  # fmt: skip
        postmaster = int((pg_data / "postmaster.pid").read_text().split()[0])
        for cache in caches:
            settings = DOCKER_DIR / "settings"
            if cache:
                settings = base / f"settings-cache-{cache}"
                shutil.copytree(DOCKER_DIR / "settings", settings)
                with open(settings / "mlflow-auth.ini", "a") as ini:
                    ini.write(f"auth_cache_ttl_seconds = {cache}\n")
            for w in workers:
                env = {**plain, **service_env("mlflow", {**project_env, "STACK_SETTINGS_DIR": str(settings)}),
                       "MLFLOW_WORKERS": w}  # fmt: skip
                name = f"{w} workers, cache {cache or 'off'}"
                with server(f"mlflow-{w}-{cache}", service_command("mlflow"), env, f"{url}/health", logs) as pid:
                    created = httpx.post(f"{url}/api/2.0/mlflow/experiments/create", auth=auth, timeout=60,
                                         json={"name": f"load-{w}-{cache}"})  # fmt: skip
                    created.raise_for_status()
                    experiment = created.json()["experiment_id"]
                    for n in [1, *levels]:
                        time.sleep(3)  # what the previous level left queued drains
                        cpu0 = (cpu_seconds([pid]), cpu_seconds([postmaster]), time.process_time(), psutil.cpu_times())
                        wall0 = time.monotonic()
                        stats = asyncio.run(load_level(url, auth, experiment, n, order, seconds))
                        wall = time.monotonic() - wall0
                        machine = psutil.cpu_times()
                        busy = (sum(machine) - machine.idle - machine.iowait) - (
                            sum(cpu0[3]) - cpu0[3].idle - cpu0[3].iowait
                        )
                        cores = (
                            (cpu_seconds([pid]) - cpu0[0]) / wall,
                            (cpu_seconds([postmaster]) - cpu0[1]) / wall,
                            (time.process_time() - cpu0[2]) / wall,
                            busy / wall,
                        )
                        requests = sum(len(v) for v in stats.latencies.values())
                        lb, up = stats.latencies["log-batch"], stats.latencies["upload"]
                        pace = stats.epochs / max(stats.ideal_epochs, 1)
                        print(f"{name:<22} {n:6d} {requests / wall:6.1f} "
                              f"{pct(lb, 50):7.0f}/{pct(lb, 95):7.0f}/{pct(lb, 99):7.0f} "
                              f"{pct(up, 50):7.0f}/{pct(up, 95):7.0f}/{pct(up, 99):7.0f} "
                              f"{sum(stats.errors.values()):6d} {pace:5.2f} {cores[0]:11.2f} "
                              f"{cores[1]:5.2f} {cores[2]:8.2f} {cores[3]:7.2f}"
                              + (f"  {dict(stats.errors)}" if stats.errors else ""), flush=True)  # fmt: skip
    finally:
        stop_postgres(pg_bin, pg_data)
    print(
        "pace: epochs the trials made / epochs they would have made at step 1's pace (1.00: as fast as a trial alone "
        "on an idle server; 1 trial is the plain reference). CPU in "
        "cores (of 2): the server's processes, PostgreSQL's, this load generator's, the whole machine's "
        "(anything else running included)."
    )


def main() -> None:
    if sys.argv[1:2] == ["--trial-child"]:
        trial_child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a split folder (fmnist split --out)")
    parser.add_argument("--frameworks", default="torch,keras")
    parser.add_argument("--epochs", default="1,4", help="two epoch budgets; their difference gives the per-epoch share")
    parser.add_argument("--levels", default="8,32,128", help="concurrent simulated trials")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each load level")
    parser.add_argument("--workers", default="4", help="MLflow server worker processes, a list")
    parser.add_argument("--auth-cache", default="0,60", help="basic-auth credential cache TTLs (s), a list")
    parser.add_argument("--skip-postgres", action="store_true", help="step 1 only")
    args = parser.parse_args()
    # A stop from outside still runs every `finally` that stops a server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    frameworks = args.frameworks.split(",")
    epochs = sorted({int(x) for x in args.epochs.split(",")})
    if len(epochs) != 2:
        parser.error("--epochs takes two different budgets, e.g. 1,4")
    base = Path(tempfile.mkdtemp(prefix="fmnist-scaling-"))
    base.chmod(0o755)  # PostgreSQL's user reads its folder below
    try:
        print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.2f} before the first trial")  # fmt: skip
        print("\nStep 1: one real trial (train-trial task in a flow, preset seed) against proxied servers")
        trials = measure_trials(args.data.resolve(), frameworks, epochs, base / "step1")
        patterns = print_step1(trials)
        if not args.skip_postgres:
            levels = [int(x) for x in args.levels.split(",")]
            caches = [int(x) for x in args.auth_cache.split(",")]
            load_test(patterns, levels, args.seconds, args.workers.split(","), caches, base / "step2")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
