"""The ceiling Redis itself puts on materialization on this machine: newer-wins writes/s.

    .venv/bin/python benchmarks/bench_redis_ceiling.py [--keys 200000] [--clients 1 2 4]

No Spark: values of the size user_stats has online (a 32-char header + ~20 bytes of
msgpack) are prepared in memory, then written to a fresh redis-server on loopback exactly
as materialization writes them (the newer-wins Lua script, 500 keys per EVALSHA, 8 calls
per pipeline round trip), by N client processes in parallel; then the same keys written a
second time (every compare finds a stored value). AOF on, as materialization's
benchmark and the embedded server run. For reference, plain pipelined
`SET key value PX ttl` of the same keys (no compare, no guarantee).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import redis

from featurelake.online.newer_wins import NEWER_WINS
from featurelake.online.redis_server import free_port, start_redis_server
from featurelake.online.writer import BATCH_KEYS, PIPELINE_CALLS

TTL_MS = 30 * 86_400_000


def _values(n: int, offset: int) -> tuple[list[str], list[bytes]]:
    keys = [f"bench:user_stats:v1:{i}" for i in range(offset, offset + n)]
    header = b"%016x%016x" % (1_736_000_000_000_000, 1_736_000_100_000_000)
    return keys, [header + b"\x95\x07\xcb@V\x8f\\(\xf5\xc2\x8f\xcb?\xf0\x00\x00\x00\x00\x00\x00\xc0\xcd\x03\xe8"] * n


def _lua_writer(args: tuple[int, int, int]) -> int:
    port, n, offset = args
    keys, values = _values(n, offset)
    client = redis.Redis(port=port)
    script = client.register_script(NEWER_WINS)
    pipe = client.pipeline(transaction=False)
    written = 0
    for calls, start in enumerate(range(0, n, BATCH_KEYS), start=1):
        script(keys=keys[start : start + BATCH_KEYS], args=[TTL_MS, *values[start : start + BATCH_KEYS]], client=pipe)
        if calls % PIPELINE_CALLS == 0:
            written += sum(int(r[0]) for r in pipe.execute())
    return written + sum(int(r[0]) for r in pipe.execute())


def _set_writer(args: tuple[int, int, int]) -> int:
    port, n, offset = args
    keys, values = _values(n, offset)
    pipe = redis.Redis(port=port).pipeline(transaction=False)
    for i, (key, value) in enumerate(zip(keys, values, strict=True)):
        pipe.set(key, value, px=TTL_MS)
        if i % 4_000 == 3_999:
            pipe.execute()
    pipe.execute()
    return n


def _rate(writer, port: int, keys: int, clients: int) -> float:  # type: ignore[no-untyped-def]
    share = keys // clients
    with Pool(clients) as pool:
        started = time.perf_counter()
        pool.map(writer, [(port, share, c * share) for c in range(clients)])
        return share * clients / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_redis_server(Path(tmp), port=free_port())
        try:
            client = redis.Redis(port=server.port)
            for clients in args.clients:
                client.flushall()
                first = _rate(_lua_writer, server.port, args.keys, clients)
                again = _rate(_lua_writer, server.port, args.keys, clients)
                client.flushall()
                plain = _rate(_set_writer, server.port, args.keys, clients)
                print(f"{clients} client(s), {args.keys:,} keys: newer-wins Lua {first:,.0f} keys/s into an empty "
                      f"store, {again:,.0f} keys/s over existing values; plain SET PX {plain:,.0f} keys/s")  # fmt: skip
        finally:
            server.stop()


if __name__ == "__main__":
    main()
