"""A Redis Cluster of real `redis-server` processes on free loopback ports, for the tests that
run the service on a cluster: started with `--cluster-enabled yes`, joined with
`redis-cli --cluster create`, stopped by PID. Each node keeps an append-only file and its
cluster config in its own directory, so a node can be killed and started again as itself."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    while True:
        port = random.randint(20_000, 45_000)
        if _free(port) and _free(port + 10_000):
            return port


def _cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], check=True, timeout=30,
                          capture_output=True, text=True).stdout


class ClusterNode:
    def __init__(self, port: int, workdir: Path, full_coverage: bool) -> None:
        self.port = port
        self.full_coverage = full_coverage
        self.dir = workdir / str(port)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", "2000", "--appendonly", "yes",
             "--cluster-require-full-coverage", "yes" if self.full_coverage else "no",
             "--appendfsync", "everysec", "--save", "", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir)
        deadline = time.monotonic() + 10
        while True:
            try:
                if _cli(self.port, "ping").strip() == "PONG":
                    return
            except subprocess.CalledProcessError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on {self.port} did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, by PID: the node dies without a final write."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def cli(self, *args: str) -> str:
        return _cli(self.port, *args)


class RedisClusterProcesses:
    """Three primaries (each with `replicas` replicas): every slot is served, and a tenant's
    keys live on one primary. Without full coverage required, the other primaries keep serving
    while one is down; with a replica, the cluster promotes it when its primary dies."""

    def __init__(self, workdir: Path, primaries: int = 3, full_coverage: bool = True,
                 replicas: int = 0) -> None:
        self.replicas = replicas
        self.nodes = [ClusterNode(cluster_port(), workdir, full_coverage)
                      for _ in range(primaries * (1 + replicas))]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        subprocess.run(["redis-cli", "--cluster", "create",
                        *(f"127.0.0.1:{n.port}" for n in self.nodes),
                        "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                       check=True, timeout=60, capture_output=True)
        self.wait_ok()
        self.wait_replicated()

    def wait_replicated(self, timeout_s: float = 30) -> None:
        """Until every replica is attached to its primary and in sync."""
        deadline = time.monotonic() + timeout_s
        while self.replicas:
            rows = self._table()
            ready = sum(1 for f in rows if "slave" in f[2] and f[7] == "connected")
            if ready == len(self.nodes) - len(self.nodes) // (1 + self.replicas) and all(
                    "master_link_status:up" in self._node(f).cli("info", "replication")
                    for f in rows if "slave" in f[2]):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"replicas not in sync after {timeout_s}s: {rows}")
            time.sleep(0.1)

    @property
    def running(self) -> list[ClusterNode]:
        return [n for n in self.nodes if n.proc is not None]

    def wait_ok(self, timeout_s: float = 30) -> None:
        """Until every running node reports the cluster healthy with all slots served."""
        deadline = time.monotonic() + timeout_s
        while True:
            states = [n.cli("cluster", "info") for n in self.running]
            if all("cluster_state:ok" in s and "cluster_slots_ok:16384" in s for s in states):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ok after {timeout_s}s: {states}")
            time.sleep(0.1)

    def _table(self) -> list[list[str]]:
        """CLUSTER NODES as seen by a running node, one row of fields per node."""
        return [line.split() for line in self.running[0].cli("cluster", "nodes").splitlines()]

    def _node(self, fields: list[str]) -> ClusterNode:
        port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
        return next(n for n in self.nodes if n.port == port)

    def node_of(self, key: str) -> ClusterNode:
        """The primary serving the key's slot now."""
        slot = int(self.running[0].cli("cluster", "keyslot", key))
        for fields in self._table():
            for part in fields[8:]:
                low, _, high = part.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return self._node(fields)
        raise LookupError(f"no node serves slot {slot}")

    def replica_of(self, primary: ClusterNode) -> ClusterNode:
        table = self._table()
        primary_id = next(f[0] for f in table if self._node(f) is primary)
        return next(self._node(f) for f in table if f[3] == primary_id)

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()
