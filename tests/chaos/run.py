"""``make chaos``: faults injected into a live system, with loss and duplication counted.

A real system runs on loopback: a persistent valkey (AOF, fsync always), two ingester
replicas (one leader), two gateways, the simulated devnet posting to both ingesters like a
readiness-routing load balancer, and SDK clients (``adstack_client``) subscribed to every
AdStack contract, one of them behind a proxy whose connections can be cut mid-frame.

Faults, one after the other, each followed by a settle period:
kill -9 and restart each gateway; kill -9 the ingester leader (and restart it as a
standby); SIGSTOP the leader past its lease, then SIGCONT; kill -9 and restart Redis; cut
a client's network mid-frame.

For each fault it reports the events published during its window, what each client
received of them, how many are missing or duplicated, and the recovery time: the longest
silence any client saw after the injection (the outage as a client experiences it). Ground
truth is the devnet's log of every print it had acknowledged by an ingester.

Then the gap scenarios (``--scenarios gaps``, a second system whose Redis has no
persistence, at 500 events/s): gateway A's link to Redis cut for longer than the history
covers (``--cut``, ``--retain`` = ``HISTORY_RETAIN``), then Redis killed and restarted
empty. Their verdict: every client either has every event or was told of its gap
(:mod:`tests.chaos.verdict`). ``--smoke`` (``make chaos-smoke``) runs only these, short.

    python -m tests.chaos.run [--rate 8] [--settle 6] [--lease-ms 2000] [--json results.json]
    python -m tests.chaos.run --scenarios gaps [--gap-rate 500] [--retain 1000] [--cut 15]
    python -m tests.chaos.run --smoke

Recovery after losing the leader is the lease running out plus the sender's retry delay:
the devnet, like a stacks-node, backs off between rounds of failed POSTs (100 ms doubling,
with jitter) and waits up to its HTTP timeout (1 s, the node's default) on a paused process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from adstack_bus import keys
from adstack_client import Event, RecoveryFailed, connect
from adstack_devnet import DEFAULT_CONTRACTS
from adstack_localredis import LocalRedis, free_port
from tests.chaos.proxy import CuttableProxy
from tests.chaos.verdict import Item, check
from tests.helpers.services import TEST_SECRET, Service, base_env

CONTRACTS = list(DEFAULT_CONTRACTS.values())


def make_token() -> str:
    import jwt

    now = int(time.time())
    return jwt.encode({"userId": "chaos", "iat": now, "exp": now + 3600}, TEST_SECRET,
                      algorithm="HS256")


@dataclass
class Received:
    key: tuple[str, int]
    at: float
    published_at: float


@dataclass
class ClientLog:
    name: str
    received: list[Received] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    connections: int = 0
    items: dict[str, list[Item]] = field(default_factory=dict)
    """Per contract, in order: its events and the gap notices (``recovered: false``)."""


@dataclass
class Fault:
    name: str
    started: float
    ended: float = 0.0
    recovered_at: float | None = None


class Chaos:
    def __init__(self, work: Path, rate: float, settle: float, lease_ms: int = 2000) -> None:
        self.work = work
        self.rate = rate
        self.lease_ms = lease_ms
        self.settle = settle
        self.redis = LocalRedis(extra_args=["--appendonly", "yes", "--appendfsync", "always"])
        self.events_per_block = 5
        self.ingesters: list[Service] = []
        self.gateways: list[Service] = []
        self.devnet: Any = None
        self.devnet_log = work / "devnet.jsonl"
        self.clients: list[ClientLog] = []
        self.faults: list[Fault] = []
        self.proxy: CuttableProxy | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    # -- system ---------------------------------------------------------------------------

    def start_system(self) -> None:
        self.redis.start()
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        env = base_env(self.redis.url, LOG_LEVEL="WARNING", JWT_SECRET=TEST_SECRET,
                       LEADER_LEASE_MS=str(self.lease_ms),
                       **{var: c for var, c in DEFAULT_CONTRACTS.items()})
        for i in range(2):
            port = free_port()
            self.ingesters.append(Service(
                "adstack_ingester", port,
                {**env, "INGESTER_PORT": str(port), "INGESTER_ID": f"ingester-{i}"}, logs))
        for _ in range(2):
            port = free_port()
            self.gateways.append(Service("adstack_gateway", port, {**env, "PORT": str(port)},
                                         logs))
        for service in (*self.ingesters, *self.gateways):
            service.start()
        self.gateways[0].wait_healthy()
        self.gateways[1].wait_healthy()

    def leader(self) -> Service | None:
        for ing in self.ingesters:
            try:
                if httpx.get(f"{ing.http}/health", timeout=1).status_code == 200:
                    return ing
            except httpx.HTTPError:
                continue
        return None

    def start_devnet(self) -> None:
        import subprocess

        urls = ",".join(i.http for i in self.ingesters)
        self.devnet = subprocess.Popen(
            [sys.executable, "-m", "adstack_devnet", "--ingester-url", urls,
             "--rate", str(self.rate), "--events-per-block", str(self.events_per_block),
             "--seed", "11",
             "--log-file", str(self.devnet_log)],
            env=base_env(self.redis.url), stdout=subprocess.DEVNULL,
            stderr=open(self.work / "devnet.stderr", "wb"))  # noqa: SIM115

    def stop_devnet(self) -> None:
        if self.devnet is not None and self.devnet.poll() is None:
            self.devnet.send_signal(signal.SIGTERM)
            self.devnet.wait(30)

    def stop_all(self) -> None:
        self.stop_devnet()
        for service in (*self.gateways, *self.ingesters):
            with contextlib.suppress(Exception):
                service.stop()
        self.redis.cleanup()

    # -- clients --------------------------------------------------------------------------

    async def client(self, log: ClientLog, urls: list[str]) -> None:
        token = make_token()
        async with connect(urls, token=token, max_backoff=1.0) as client:
            queues: asyncio.Queue[Any] = asyncio.Queue()

            async def pump(contract: str) -> None:
                async for item in client.subscribe(contract):
                    await queues.put(item)

            pumps = [asyncio.create_task(pump(c)) for c in CONTRACTS]
            try:
                while not self._stop.is_set():
                    try:
                        item = await asyncio.wait_for(queues.get(), 0.5)
                    except TimeoutError:
                        continue
                    if isinstance(item, Event):
                        log.received.append(Received(
                            (item.raw["txId"], int(item.raw["eventIndex"])), time.time(),
                            item.raw.get("publishedAt", 0) / 1000))
                        log.items.setdefault(item.contract_id, []).append(
                            Item("event", item.epoch, item.offset))
                    else:
                        log.notices.append(type(item).__name__)
                        if isinstance(item, RecoveryFailed):
                            log.items.setdefault(item.contract_id, []).append(
                                Item("gap", item.epoch, item.offset))
            finally:
                log.connections = client.connections
                for task in pumps:
                    task.cancel()

    async def start_clients(self) -> None:
        self.proxy = await CuttableProxy("127.0.0.1", self.gateways[0].port).start()
        proxied = f"ws://127.0.0.1:{self.proxy.port}/ws"
        a, b = self.gateways[0].ws, self.gateways[1].ws
        plans = [("a-first", [a, b]), ("b-first", [b, a]), ("via-proxy", [proxied, b]),
                 ("b-only-then-a", [b, a])]
        for name, urls in plans:
            log = ClientLog(name)
            self.clients.append(log)
            self._tasks.append(asyncio.create_task(self.client(log, urls)))
        await asyncio.sleep(2.0)

    # -- faults ---------------------------------------------------------------------------

    async def fault(self, name: str, action: Any) -> None:
        fault = Fault(name, time.time())
        self.faults.append(fault)
        print(f"[{time.strftime('%H:%M:%S')}] fault: {name}", flush=True)
        await action()
        fault.ended = time.time()
        await asyncio.sleep(self.settle)

    def injected(self) -> None:
        """Mark the moment the current fault takes effect (after any lookup it needed):
        recovery is measured from here, and events published before it do not count."""
        self.faults[-1].started = time.time()

    async def restart(self, service: Service, pause: float = 1.0) -> None:
        self.injected()
        service.kill()
        await asyncio.sleep(pause)
        service.start()

    async def run_faults(self) -> None:
        async def kill_gateway(i: int) -> None:
            await self.restart(self.gateways[i])

        async def kill_leader() -> None:
            leader = self.leader()
            assert leader is not None, "no leader"
            await self.restart(leader, pause=0.5)

        async def pause_leader() -> None:
            leader = self.leader()
            assert leader is not None, "no leader"
            self.injected()
            leader.signal(signal.SIGSTOP)
            # Paused past its lease: a standby takes over meanwhile.
            await asyncio.sleep(self.lease_ms / 1000 + 2.0)
            leader.signal(signal.SIGCONT)

        async def restart_redis() -> None:
            self.injected()
            self.redis.kill()
            await asyncio.sleep(1.0)
            self.redis.start()

        async def cut_client() -> None:
            assert self.proxy is not None
            self.injected()
            self.proxy.cut()

        await self.fault("kill -9 gateway A", lambda: kill_gateway(0))
        await self.fault("kill -9 gateway B", lambda: kill_gateway(1))
        await self.fault("kill -9 ingester leader", kill_leader)
        await self.fault("SIGSTOP leader past its lease", pause_leader)
        await self.fault("kill -9 Redis", restart_redis)
        await self.fault("cut a client mid-frame", cut_client)

    # -- report ---------------------------------------------------------------------------

    def posted(self) -> list[tuple[tuple[str, int], float]]:
        out = []
        for line in self.devnet_log.read_text().splitlines():
            record = json.loads(line)
            for p in record.get("prints", []):
                out.append(((p["txId"], int(p["eventIndex"])), float(record["postedAt"])))
        return out

    def report(self) -> dict[str, Any]:
        posted = self.posted()
        keys_posted = [k for k, _ in posted]
        rows: list[dict[str, Any]] = []
        windows = [(f, f.started, (self.faults[i + 1].started if i + 1 < len(self.faults)
                                   else float("inf")))
                   for i, f in enumerate(self.faults)]
        totals: dict[str, Any] = {"published": len(keys_posted), "clients": {}}
        for log in self.clients:
            got = [r.key for r in log.received]
            missing = set(keys_posted) - set(got)
            dupes = len(got) - len(set(got))
            totals["clients"][log.name] = {
                "received": len(got), "missing": len(missing), "duplicated": dupes,
                "connections": log.connections, "notices": log.notices}
        for fault, start, end in windows:
            in_window = [k for k, t in posted if start <= t < end]
            row: dict[str, Any] = {"fault": fault.name, "published": len(in_window),
                                   "clients": {}}
            recovered = []
            for log in self.clients:
                got = [r.key for r in log.received if r.key in set(in_window)]
                # Recovery: the longest silence this client saw from the injection until the
                # end of the window (deliveries normally come every ~0.1 s; a killed
                # gateway, a leader takeover or a Redis restart shows up as one long gap,
                # which includes reconnecting and replaying what was missed).
                times = [fault.started, *sorted(r.at for r in log.received
                                                if fault.started <= r.at < end)]
                gaps = [b - a for a, b in itertools.pairwise(times)]
                recovered.append(max(gaps) if len(times) > 1 else None)
                row["clients"][log.name] = {
                    "delivered": len(set(got)),
                    "missing": len(set(in_window) - set(got)),
                    "duplicated": len(got) - len(set(got)),
                }
            row["recovery_seconds"] = (None if any(r is None for r in recovered)
                                       else round(max(r for r in recovered if r is not None), 2))
            rows.append(row)
        return {"faults": rows, "totals": totals}


def print_report(result: dict[str, Any]) -> bool:
    ok = True
    print("\n| fault | published | delivered per client | missing | duplicated | recovery |")
    print("|---|---|---|---|---|---|")
    for row in result["faults"]:
        clients = row["clients"].values()
        missing = sum(c["missing"] for c in clients)
        dupes = sum(c["duplicated"] for c in clients)
        delivered = "/".join(str(c["delivered"]) for c in clients)
        rec = row["recovery_seconds"]
        print(f"| {row['fault']} | {row['published']} | {delivered} | {missing} | {dupes} | "
              f"{'n/a' if rec is None else f'{rec:.2f} s'} |")
        ok = ok and missing == 0 and dupes == 0 and rec is not None and rec <= 5.0
    print("\nwhole run:", result["totals"]["published"], "events published")
    for name, c in result["totals"]["clients"].items():
        print(f"  {name:<14} received {c['received']:>5}  missing {c['missing']}  "
              f"duplicated {c['duplicated']}  connections {c['connections']}  "
              f"notices {c['notices']}")
        ok = ok and c["missing"] == 0 and c["duplicated"] == 0
    print("\nRESULT:", "PASS (0 missing, 0 duplicated, every recovery ≤ 5 s)" if ok else "FAIL")
    return ok


class GapChaos(Chaos):
    """Issue 18's data-loss scenarios, at a high event rate on a Redis without persistence:
    gateway A's link to Redis (pub/sub and reads) goes through a proxy and is cut for longer
    than the history covers; then Redis is killed and restarts empty (a new epoch).

    Verdict: every client either has every event or was told of its gap (see
    :mod:`tests.chaos.verdict`), for every contract; events lost are counted too.
    """

    def __init__(self, work: Path, events_per_second: float, settle: float, retain: int,
                 cut: float) -> None:
        super().__init__(work, events_per_second / 10, settle)
        self.events_per_block = 10
        self.events_per_second = events_per_second
        self.redis = LocalRedis()  # no persistence: a restart comes back empty
        self.retain = retain
        self.cut_seconds = cut
        self.bus_proxy: CuttableProxy | None = None
        self.cut_took = 0.0

    async def start_gap_system(self) -> None:
        self.redis.start()
        self.bus_proxy = await CuttableProxy("127.0.0.1", self.redis.port).start()
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        env = base_env(self.redis.url, LOG_LEVEL="WARNING", JWT_SECRET=TEST_SECRET,
                       LEADER_LEASE_MS=str(self.lease_ms), HISTORY_RETAIN=str(self.retain),
                       **{var: c for var, c in DEFAULT_CONTRACTS.items()})
        for i in range(2):
            port = free_port()
            self.ingesters.append(Service(
                "adstack_ingester", port,
                {**env, "INGESTER_PORT": str(port), "INGESTER_ID": f"ingester-{i}"}, logs))
        proxied = f"redis://127.0.0.1:{self.bus_proxy.port}/0"
        for url in (proxied, self.redis.url):
            port = free_port()
            self.gateways.append(Service("adstack_gateway", port,
                                         {**env, "PORT": str(port), "REDIS_URL": url}, logs))
        for service in (*self.ingesters, *self.gateways):
            service.start(wait=False)
        for service in (*self.ingesters, *self.gateways):
            # The proxy runs on this loop: wait in a thread.
            await asyncio.to_thread(service.wait_live)
        for gateway in self.gateways:
            await asyncio.to_thread(gateway.wait_healthy)

    async def start_clients(self) -> None:
        a, b = self.gateways[0].ws, self.gateways[1].ws
        for name, urls in [("a-1", [a]), ("a-2", [a]), ("b-1", [b])]:
            log = ClientLog(name)
            self.clients.append(log)
            self._tasks.append(asyncio.create_task(self.client(log, urls)))
        await asyncio.sleep(2.0)

    async def run_faults(self) -> None:
        async def cut_link() -> None:
            assert self.bus_proxy is not None
            self.injected()
            start = await asyncio.to_thread(self.positions)
            self.bus_proxy.down()
            await asyncio.sleep(self.cut_seconds)
            # Longer than the history, whatever rate this machine sustains: keep it down
            # until every contract published more than the history keeps (at most 60 s).
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                now = await asyncio.to_thread(self.positions)
                if all(c in now and now[c][0] == e and now[c][1] - o > self.retain
                       for c, (e, o) in start.items()):
                    break
                await asyncio.sleep(0.25)
            self.bus_proxy.up()
            self.cut_took = time.time() - self.faults[-1].started

        async def restart_redis_empty() -> None:
            self.injected()
            self.redis.kill()
            await asyncio.sleep(1.0)
            await asyncio.to_thread(self.redis.start)

        rate = f"{self.events_per_second:g} events/s"
        await self.fault(f"bus link of gateway A cut longer than the history at {rate}",
                         cut_link)
        await self.fault(f"Redis restart empty at {rate}", restart_redis_empty)

    def positions(self) -> dict[str, tuple[str, int]]:
        import redis as sync_redis

        r = sync_redis.Redis.from_url(self.redis.url)
        try:
            out = {}
            for contract in CONTRACTS:
                values: Any = r.hmget(keys.meta(contract), "epoch", "offset")
                epoch, offset = values
                if epoch is not None:
                    out[contract] = (epoch.decode(), int(offset))
            return out
        finally:
            r.close()

    def caught_up(self, final: dict[str, tuple[str, int]]) -> bool:
        return all(check(log.items.get(c, []), pos).reached == pos
                   for log in self.clients for c, pos in final.items())

    def gap_report(self) -> dict[str, Any]:
        posted = self.posted()
        final = self.positions()
        windows = [(f, f.started, (self.faults[i + 1].started if i + 1 < len(self.faults)
                                   else float("inf")))
                   for i, f in enumerate(self.faults)]
        rows = []
        for fault, start, end in windows:
            in_window = {k for k, t in posted if start <= t < end}
            row: dict[str, Any] = {"fault": fault.name, "published": len(in_window),
                                   "clients": {}}
            for log in self.clients:
                got = {r.key for r in log.received}
                row["clients"][log.name] = {"lost": len(in_window - got)}
            rows.append(row)
        clients: dict[str, Any] = {}
        for log in self.clients:
            got_keys = [r.key for r in log.received]
            verdicts = {c: check(log.items.get(c, []), pos) for c, pos in final.items()}
            clients[log.name] = {
                "received": len(got_keys),
                "lost": len({k for k, _ in posted} - set(got_keys)),
                "notices": sum(v.notices for v in verdicts.values()),
                "silent_gaps": sum(v.silent_gaps for v in verdicts.values()),
                "silently_skipped": sum(v.silently_skipped for v in verdicts.values()),
                "duplicated": sum(v.duplicates for v in verdicts.values()),
                "caught_up": all(v.reached == v.final for v in verdicts.values()),
                "jumps": [j for v in verdicts.values() for j in v.jumps][:5],
                "ok": all(v.ok for v in verdicts.values()),
            }
        span = (max(t for _, t in posted) - min(t for _, t in posted)) if posted else 0.0
        return {"faults": rows, "clients": clients, "published": len(posted),
                "events_per_second": round(len(posted) / span) if span else 0,
                "history_retain": self.retain, "cut_seconds": round(self.cut_took, 1)}


def print_gap_report(result: dict[str, Any]) -> bool:
    names = list(result["clients"])
    print(f"\nGap scenarios: HISTORY_RETAIN={result['history_retain']}, link cut "
          f"{result['cut_seconds']} s, {result['published']} events published at "
          f"~{result['events_per_second']}/s over 5 contracts; "
          f"clients {', '.join(names)} (a-*: gateway A, whose link is cut; b-*: gateway B)")
    print("\n| fault | published | lost per client |")
    print("|---|---|---|")
    for row in result["faults"]:
        lost = "/".join(str(c["lost"]) for c in row["clients"].values())
        print(f"| {row['fault']} | {row['published']} | {lost} |")
    print("\n| client | received | lost | gap notices | silent gaps (offsets skipped) | "
          "caught up |")
    print("|---|---|---|---|---|---|")
    ok = True
    for name, c in result["clients"].items():
        print(f"| {name} | {c['received']} | {c['lost']} | {c['notices']} | "
              f"{c['silent_gaps']} ({c['silently_skipped']}) | {c['caught_up']} |")
        if c["jumps"]:
            print(f"    silent jumps: {', '.join(c['jumps'])}")
        ok = ok and c["ok"]
    print("\nRESULT:", "PASS (every client has every event or was told of its gap)" if ok
          else "FAIL (a client missed events without being told, or did not catch up)")
    return ok


async def run_gaps(args: argparse.Namespace, work: Path) -> tuple[bool, dict[str, Any]]:
    chaos = GapChaos(work, args.gap_rate, args.gap_settle, args.retain, args.cut)
    try:
        await chaos.start_gap_system()
        await chaos.start_clients()
        chaos.start_devnet()
        await asyncio.sleep(args.gap_settle)
        await chaos.run_faults()
        chaos.stop_devnet()
        final = chaos.positions()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not chaos.caught_up(final):
            await asyncio.sleep(0.5)
        chaos._stop.set()
        await asyncio.wait(chaos._tasks, timeout=10)
        result = chaos.gap_report()
    finally:
        if chaos.bus_proxy is not None:
            await chaos.bus_proxy.stop()
        chaos.stop_all()
    return print_gap_report(result), result


async def run_classic(args: argparse.Namespace, work: Path) -> tuple[bool, dict[str, Any]]:
    chaos = Chaos(work, args.rate, args.settle, args.lease_ms)
    try:
        chaos.start_system()
        await chaos.start_clients()
        chaos.start_devnet()
        await asyncio.sleep(args.settle)
        await chaos.run_faults()
        chaos.stop_devnet()
        # Let the clients drain what is still in flight.
        posted = {k for k, _ in chaos.posted()}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(posted <= {r.key for r in c.received} for c in chaos.clients):
                break
            await asyncio.sleep(0.5)
        chaos._stop.set()
        await asyncio.wait(chaos._tasks, timeout=10)
        result = chaos.report()
    finally:
        if chaos.proxy is not None:
            await chaos.proxy.stop()
        chaos.stop_all()
    return print_report(result), result


async def main_async(args: argparse.Namespace) -> int:
    if args.smoke:
        # Short enough for CI (< 60 s): a small history so a 3 s cut outruns it.
        args.scenarios = "gaps"
        args.retain, args.cut, args.gap_settle = min(args.retain, 100), 1.0, 4.0
    ok = True
    results: dict[str, Any] = {}
    for scenario in args.scenarios.split(","):
        work = Path(tempfile.mkdtemp(prefix=f"adstack-chaos-{scenario}-"))
        if scenario == "faults":
            passed, results["faults"] = await run_classic(args, work)
        elif scenario == "gaps":
            passed, results["gaps"] = await run_gaps(args, work)
        else:
            raise SystemExit(f"unknown scenario {scenario!r} (faults, gaps)")
        print(f"logs: {work}")
        ok = ok and passed
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=8.0, help="devnet blocks per second")
    parser.add_argument("--settle", type=float, default=6.0, help="seconds after each fault")
    parser.add_argument("--lease-ms", type=int, default=2000,
                        help="the ingesters' LEADER_LEASE_MS (default 2000, as in production)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--scenarios", default="faults,gaps",
                        help="comma-separated: faults (kills, pauses, cuts; AOF Redis), gaps "
                        "(bus link cut longer than the history, Redis restart empty)")
    parser.add_argument("--gap-rate", type=float, default=500.0,
                        help="events per second during the gap scenarios (default 500)")
    parser.add_argument("--retain", type=int, default=1000,
                        help="HISTORY_RETAIN in the gap scenarios (default 1000, as in "
                        "production)")
    parser.add_argument("--cut", type=float, default=12.0,
                        help="seconds gateway A's bus link stays cut at least (default 12: "
                        "1,200 events per contract at 500/s over 5 contracts, more than 1,000 "
                        "retained); it stays cut until every contract published more than "
                        "--retain events since")
    parser.add_argument("--gap-settle", type=float, default=6.0,
                        help="seconds after each gap fault")
    parser.add_argument("--smoke", action="store_true",
                        help="only the gap scenarios, short (HISTORY_RETAIN=100, 3 s cut): "
                        "under a minute, for CI")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
