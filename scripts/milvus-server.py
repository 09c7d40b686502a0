"""Starts the real Milvus standalone server (PyPI's `milvus` 2.3.5, etcd and its queue
built in) for bct's tests and benchmarks, as this very process.

    python scripts/milvus-server.py --data DIR [--port PORT] [--session-ttl SECONDS]

Writes the configuration the package's own launcher would, with what bct's tests need
on one machine (every component on loopback, a short graceful stop, fresh rows
searched exactly rather than through the interim IVF index), prints one
JSON line {"port": P, "metrics_port": M, "pid": PID} and then execs the server binary,
so that the process a caller started is the server itself (SIGTERM stops it, SIGKILL
is a crash). Without --port the package picks a free one from 19530 up: read it from
the JSON line. With --port the server listens there, even right after a server that
listened there stopped. Only one server runs per machine (etcd's peer port is fixed).
"""
import argparse
import json
import os
import sys
from os.path import dirname, join

import milvus

SETTINGS = {
    "common.gracefulStopTimeout": 10,
    # Fresh (growing) rows are otherwise searched through a temporary IVF index that
    # ignores ef (recall 0.41 measured on random vectors): see docs/scaling.md.
    "queryNode.segcore.interimIndex.enableIndex": "false",
}
COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="the server's base directory (kept across restarts)")
    parser.add_argument("--port", type=int, help="the gRPC port (default: the first free one from 19530)")
    # A server restarted after kill -9 waits for its old sessions to expire: 5 s makes
    # restarts quick, but a disk stall longer than the TTL (5.4 s seen under a build)
    # expires the live server's own sessions and it shuts down. Long-lived servers keep 30.
    parser.add_argument("--session-ttl", type=int, default=30, help="etcd session TTL in seconds (default 30)")
    args = parser.parse_args()
    server = milvus.MilvusServer()
    server.set_base_dir(os.path.abspath(args.data))
    if args.port:
        server.listen_port = args.port
    for component in COMPONENTS:
        server.config.set(f"{component}.ip", "127.0.0.1")
    for key, value in SETTINGS.items():
        server.config.set(key, value)
    server.config.set("common.session.ttl", args.session_ttl)
    config = server.config
    config.resolve()
    if args.port:
        # The package's launcher moves to the next port when a test bind of the asked one
        # fails, as it does while connections of a just-stopped server linger in
        # TIME_WAIT. The server itself binds with SO_REUSEADDR, so keep the asked port.
        config.configurable_items["proxy_port"][1] = args.port
        config.write_config()
    milvus._initialize_data_files(config.base_data_dir)
    metrics_port, sock = config.resolve_port(9091)
    sock.close()
    executable = server.get_milvus_executable_path()
    env = dict(os.environ)
    env.update({
        "DEPLOY_MODE": "STANDALONE",
        "METRICS_PORT": str(metrics_port),
        "MILVUS_RUN_DIR": join(config.base_data_dir, "run"),
        "LD_LIBRARY_PATH": ":".join([dirname(executable), os.environ.get("LD_LIBRARY_PATH", "")]),
    })
    os.chdir(config.base_data_dir)
    print(json.dumps({"port": server.listen_port, "metrics_port": metrics_port, "pid": os.getpid()}), flush=True)
    os.execve(executable, [executable, "run", "standalone"], env)


if __name__ == "__main__":
    sys.exit(main())
