"""The open-loop load generator the latency benchmarks share: request i is scheduled at start + i/rate
and its latency is measured from that instant, so a slow server cannot hide queueing (no coordinated
omission)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import requests

from bench.baseline import progress


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def open_loop(
    rate: float,
    total: int,
    workers: int,
    make_request: Callable[[requests.Session, int], requests.Response],
    ok: tuple[int, ...] = (200,),
) -> dict:
    """Send `total` requests at `rate` per second from `workers` threads; make_request(session, i) sends
    request i. Returns throughput, p50/p99/max latency (ms), the answers not in `ok`, and the wall-clock
    instants (epoch seconds) request 0 was scheduled at and the last answer came: request i was
    scheduled at started_at + i / rate."""
    jobs: queue.Queue = queue.Queue()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    finished = [0.0]  # when the last answer came (wall time ends there, not at the progress poll)

    def worker():
        session = requests.Session()
        while (job := jobs.get()) is not None:
            scheduled, i = job
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                status = make_request(session, i).status_code
            except requests.RequestException as exc:
                status = repr(exc)
            elapsed = time.perf_counter() - scheduled
            with lock:
                finished[0] = max(finished[0], time.perf_counter())
                latencies.append(elapsed)
                if status not in ok:
                    errors.append(str(status))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    start = time.perf_counter() + 0.5
    epoch = time.time() - time.perf_counter()  # perf_counter instant + epoch = wall-clock instant
    for i in range(total):
        jobs.put((start + i / rate, i))
    for _ in threads:
        jobs.put(None)
    last = 0
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        with lock:
            done = len(latencies)
        if done - last >= rate * 5:
            progress(f"{done}/{total} requests answered")
            last = done
    wall = max(finished[0] - start, 1e-9)
    values = sorted(latencies)
    return {
        "offered_rate": rate,
        "requests": total,
        "achieved_rate": round(total / wall, 1),
        "p50_ms": round(percentile(values, 0.50) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        "max_ms": round(values[-1] * 1000, 1) if values else None,
        "errors": len(errors),
        "error_sample": errors[:5],
        "started_at": round(epoch + start, 6),
        "finished_at": round(epoch + finished[0], 6),
    }


def post_until_answered(
    session: requests.Session, url: str, payload: dict, headers: dict, give_up_after: float = 180.0
) -> tuple[int | str, dict, int]:
    """POST as a careful client does: a 5xx, a 429 or no answer is retried (backoff from 0.5 s doubling
    to 8 s, the same headers: the Idempotency-Key makes a retry safe) for up to `give_up_after` seconds.
    Returns (status, or the exception's name when nothing answered; the JSON body; retries made)."""
    deadline, backoff, retried = time.monotonic() + give_up_after, 0.5, 0
    while True:
        code: int | str | None = None
        data: dict = {}
        try:
            response = session.post(url, json=payload, headers=headers, timeout=30)
            code = response.status_code
            data = response.json() if response.content else {}
        except (requests.RequestException, ValueError) as exc:
            code = type(exc).__name__
        if (isinstance(code, int) and code < 500 and code != 429) or time.monotonic() > deadline:
            return code, data, retried
        retried += 1
        time.sleep(backoff)
        backoff = min(backoff * 2, 8.0)


def paced(
    ops: list, rate: float, send: Callable, actions: dict[int, Callable[[], None]], label: str, every: int
) -> None:
    """Submit send(op) for each op at `rate` per second (32 threads, open loop: a slow answer delays
    nothing), start actions[n] (a kill, an outage) in the background as op n goes out, report progress
    every `every` ops, and wait for the answers and the actions."""
    from concurrent.futures import ThreadPoolExecutor

    background: list[threading.Thread] = []
    with ThreadPoolExecutor(max_workers=32) as pool:
        started = time.perf_counter()
        for n, op in enumerate(ops):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, op)
            if n in actions:
                background.append(threading.Thread(target=actions[n], daemon=True))
                background[-1].start()
            if n and n % every == 0:
                progress(f"[{label}] {n}/{len(ops)} requests sent")
    for thread in background:
        thread.join()
