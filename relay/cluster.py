"""The cluster: `python -m relay.run --replicas N` (`make run-cluster`) on one machine.

    HAProxy  :api_port      → N API workers     (uvicorn relay.app)   replica_port_base + i
             :rasa_port     → N Rasa servers    (lock store in Redis) replica_port_base + 200 + i
             :actions_port  → N action servers  (python -m actions)   replica_port_base + 100 + i
    PostgreSQL  the CRM and Rasa's tracker store (RELAY_DATABASE_URL, or the local Debian
                cluster's database `relay_cluster`, made by scripts/postgres.sh)
    Redis       Rasa's lock store, the login throttle and rate limits (RELAY_REDIS_URL, or a
                redis-server started here on redis_port)

Every client keeps its one address (settings.api_url, rasa_url, actions_url), which is HAProxy's:
the gateway's and Rasa's action calls are spread over the replicas and
moved off one that stops answering (health checks every second; a request that found a dead
replica is sent again to a live one). HAProxy routes a conversation consistently: the API by
the conversation id in the path, Rasa by the X-Relay-Conversation header the gateway sends,
so a Rasa server mostly finds the conversation's session already in memory
(bot/tracker_store.py); correctness does not depend on it — Redis' lock does that.
The same topology for real machines: deploy/docker-compose.yml, deploy/systemd/.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from relay.settings import ROOT, Settings
from relay.stack import APP_PYTHON, RASA_BIN, RASA_ENV, Service, Stack, fail, mail_service

CLUSTER_DATABASE = "relay_cluster"
# Turns one Rasa server works on at once: it has one event loop, and a few turns waiting on the
# action server keep it busy; more would only lengthen each turn.
RASA_MAXCONN = 8


def replica_ports(settings: Settings, replicas: int) -> list[tuple[str, int]]:
    """(name, port) of every replica and of the cluster's own Redis."""
    base = settings.replica_port_base
    ports = [(f"api-{i}", base + i) for i in range(1, replicas + 1)]
    ports += [(f"actions-{i}", base + 100 + i) for i in range(1, replicas + 1)]
    ports += [(f"rasa-{i}", base + 200 + i) for i in range(1, replicas + 1)]
    if not settings.redis_url:
        ports.append(("redis", settings.redis_port))
    return ports


def postgres_url(database: str = CLUSTER_DATABASE) -> str:
    """A database on the local Debian PostgreSQL (started if needed): scripts/postgres.sh."""
    result = subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), database],
                            capture_output=True, text=True, check=False)
    url = result.stdout.strip()
    if result.returncode != 0 or not url:
        fail("the cluster needs PostgreSQL: set RELAY_DATABASE_URL to a postgresql+psycopg:// "
             "URL, or install it (apt-get install postgresql) and run as root so that "
             f"scripts/postgres.sh can start it. {result.stderr.strip()[-300:]}")
    return url


def free_port_block(host: str = "127.0.0.1") -> int:
    """A replica_port_base whose +1/+2, +101/+102, +201/+202 are free (probed, not reserved)."""
    import os
    import socket

    for _ in range(50):
        base = 20000 + int.from_bytes(os.urandom(2), "big") % 30000
        ports = [base + o for o in (1, 2, 101, 102, 201, 202)]
        free = True
        for port in ports:
            with socket.socket() as sock:
                if sock.connect_ex((host, port)) == 0:
                    free = False
        if free and base + 202 < 65000:
            return base
    raise RuntimeError("no free port block")


def prepare_database(settings: Settings) -> None:
    """Migrate and seed settings' database, as the processes will see it."""
    from relay.stack import child_env

    env = child_env(settings)
    for module in ("crm_store.migrate", "crm_store.seed"):
        done = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, check=False,
                              capture_output=True, text=True)
        if done.returncode != 0:
            fail(f"`python -m {module}` failed on {settings.database_url.split('@')[-1]}:"
                 f"\n{done.stderr[-800:]}")


def prepare(settings: Settings) -> Settings:
    """The cluster's settings: PostgreSQL and Redis URLs filled in, the database migrated."""
    changes: dict[str, object] = {}
    if not settings.database_url.startswith("postgresql"):
        changes["database_url"] = postgres_url()
    if not settings.redis_url:
        changes["redis_url"] = f"redis://{settings.host}:{settings.redis_port}/0"
    prepared = settings.model_copy(update=changes)
    prepare_database(prepared)
    return prepared


def haproxy_config(settings: Settings, replicas: int) -> str:
    """HAProxy's configuration: three frontends on the clients' addresses, health-checked."""
    host, base = settings.host, settings.replica_port_base

    def servers(name: str, offset: int, maxconn: int) -> str:
        return "\n".join(
            f"    server {name}-{i} {host}:{base + offset + i} maxconn {maxconn} "
            "check inter 2s fall 3 rise 2"
            for i in range(1, replicas + 1))

    route_tracker_api = ("http-request set-header X-Relay-Conversation %[path,field(3,/)] "
                         "if { path_beg /conversations/ }")
    return f"""# Written by relay/cluster.py for `relay.run --replicas {replicas}`; not for editing.
global
    maxconn 8192

defaults
    mode http
    timeout connect 2s
    timeout client 330s     # the widget's event stream stays open for 300 s
    timeout server 330s
    timeout http-keep-alive 30s
    # A busy Rasa answers its health check late (one event loop): slow is not dead. A dead
    # replica refuses the connection at once, which fails its check (and retries) right away.
    timeout check 10s
    # Requests beyond a server's maxconn wait here, not in the server's listen backlog (a
    # full backlog drops the health checks' connections and takes a live server out).
    timeout queue 60s
    option http-keep-alive
    retries 3
    option redispatch 1     # a retried request goes to another replica
    retry-on conn-failure empty-response 503


frontend api
    bind {host}:{settings.api_port}
    default_backend api

backend api
    # Whatever the client sent, X-Forwarded-For is its address as HAProxy saw it.
    http-request set-header X-Forwarded-For %[src]
    # /chat/<conversation>/…: the same worker for one conversation while it is up.
    balance uri depth 2
    hash-type consistent
    option httpchk GET /healthz
{servers("api", 0, 512)}

frontend rasa
    bind {host}:{settings.rasa_port}
    {route_tracker_api}
    default_backend rasa

backend rasa
    # One Rasa server per conversation while it is up (its session stays in that server's
    # memory); Redis' lock keeps the order when the conversation moves.
    balance hdr(X-Relay-Conversation)
    hash-type consistent
    option httpchk GET /status?token={settings.rasa_token}
    timeout server 120s
{servers("rasa", 200, RASA_MAXCONN)}

frontend actions
    bind {host}:{settings.actions_port}
    default_backend actions

backend actions
    balance roundrobin
    option httpchk GET /health
{servers("actions", 100, 32)}
"""


def services(settings: Settings, model: Path, log_dir: Path, replicas: int) -> list[Service]:
    """The cluster's processes, in start order."""
    host, base, py = settings.host, settings.replica_port_base, str(APP_PYTHON)
    listed: list[Service] = []
    own_redis = settings.redis_url == f"redis://{host}:{settings.redis_port}/0"
    if own_redis:
        redis_dir = settings.data_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        listed.append(Service("redis", [
            _binary("redis-server", "redis-server"), "--bind", host, "--port",
            str(settings.redis_port), "--dir", str(redis_dir), "--save", "", "--appendonly", "no",
            "--protected-mode", "no"], "", log_dir / "redis.log"))
    if settings.dev_mail:
        listed.append(mail_service(settings, log_dir))
    config = settings.data_dir / "haproxy.cfg"
    config.write_text(haproxy_config(settings, replicas))
    config.chmod(0o600)  # it holds the Rasa token (health checks)
    listed.append(Service("haproxy", [_binary("haproxy", "haproxy"), "-db", "-f", str(config)],
                          "", log_dir / "haproxy.log"))
    for i in range(1, replicas + 1):
        port = base + i
        listed.append(Service(
            f"api-{i}", [py, "-m", "uvicorn", "relay.app:create_app", "--factory", "--host", host,
                         "--port", str(port), "--no-access-log",
                         # The client is who HAProxy says (it overwrites X-Forwarded-For): the
                         # login throttle counts per client, not per HAProxy (issue 15, #8).
                         "--proxy-headers", "--forwarded-allow-ips", host],
            f"http://{host}:{port}/healthz", log_dir / f"api-{i}.log"))
    for i in range(1, replicas + 1):
        port = base + 100 + i
        listed.append(Service(f"actions-{i}", [py, "-m", "actions"],
                              f"http://{host}:{port}/health", log_dir / f"actions-{i}.log",
                              env={"RELAY_ACTIONS_PORT": str(port)}))
    for i in range(1, replicas + 1):
        port = base + 200 + i
        listed.append(Service(
            f"rasa-{i}", [str(RASA_BIN), "run", "--model", str(model), "--endpoints",
                          "bot/endpoints.yml", "--credentials", "bot/credentials.yml",
                          "--enable-api", "--auth-token", settings.rasa_token, "--interface",
                          host, "--port", str(port)],
            f"http://{host}:{port}/status?token={settings.rasa_token}",
            log_dir / f"rasa-{i}.log", env=RASA_ENV))
    if settings.telegram_token:
        # One bridge for the cluster; a second one (another machine) waits for the leader lock.
        listed.append(Service("telegram", [py, "-m", "bot.channels.telegram"], "",
                              log_dir / "telegram.log"))
    return listed


def _binary(name: str, package: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists()
                                   else None)
    if found is None:
        fail(f"the cluster needs {name}: apt-get install {package} (scripts/system-deps.sh "
             "installs it)")
    return str(found)


def build_stack(settings: Settings, model: Path, replicas: int) -> Stack:
    """The cluster as one Stack (started, healed and stopped like the single process)."""
    log_dir = settings.data_dir / "logs"
    return Stack(settings, model, listed=services(settings, model, log_dir, replicas))
