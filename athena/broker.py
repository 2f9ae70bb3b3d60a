"""Redis as Athena reaches it: the state client, Celery's broker and result backend, and how a Redis
is named to an operator (host:port/db, never the password).

REDIS_URL is either one server, `redis://[:password@]host:port/db` (or rediss://, unix://), or Redis
Sentinel: `sentinel://[:password@]host:port/db;sentinel://host2:port` (every sentinel, `;`-separated;
the password and db of the first one are the master's) with REDIS_SENTINEL_MASTER naming the
monitored master. With Sentinel every client asks the sentinels for the current master and follows a
failover: redis-py's `Sentinel.master_for`, kombu's and Celery's `sentinel://` transport/backend.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

SENTINEL_SCHEME = "sentinel"


def is_sentinel(url: str) -> bool:
    return url.startswith(f"{SENTINEL_SCHEME}://")


def _sentinel_nodes(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    nodes: list[tuple[str, int]] = []
    master: dict[str, Any] = {}
    for i, chunk in enumerate(c for c in url.split(";") if c.strip()):
        parts = urlsplit(chunk.strip())
        if parts.scheme != SENTINEL_SCHEME or not parts.hostname:
            raise ValueError("every ';'-separated part of a sentinel URL must be sentinel://host:port")
        nodes.append((parts.hostname, parts.port or 26379))
        if i == 0:
            if parts.password:
                master["password"] = unquote(parts.password)
            if parts.username:
                master["username"] = unquote(parts.username)
            db = parts.path.strip("/")
            if db:
                master["db"] = int(db)
    return nodes, master


def redis_client(url: str, sentinel_master: str = "", **kwargs: Any) -> Any:
    """A redis-py client for `url`: the current master when it is a sentinel URL."""
    import redis

    if not is_sentinel(url):
        return redis.Redis.from_url(url, **kwargs)
    from redis.sentinel import Sentinel

    if not sentinel_master:
        raise ValueError("a sentinel:// REDIS_URL needs REDIS_SENTINEL_MASTER (the monitored master's name)")
    nodes, master = _sentinel_nodes(url)
    timeouts: dict[str, Any] = {
        k: kwargs[k] for k in ("socket_timeout", "socket_connect_timeout") if k in kwargs
    }
    return Sentinel(nodes, sentinel_kwargs=timeouts, **timeouts).master_for(
        sentinel_master, **{**master, **kwargs}
    )


def describe(url: str, sentinel_master: str = "") -> str:
    """The server an operator should look at: host:port/db (sentinels: each sentinel and the master
    name). Never the password."""
    if is_sentinel(url):
        try:
            nodes, master = _sentinel_nodes(url)
        except ValueError:
            return "a sentinel URL that does not parse"
        where = ", ".join(f"{h}:{p}" for h, p in nodes)
        return f"master {sentinel_master or '?'} (db {master.get('db', 0)}) via sentinel {where}"
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix socket {parts.path}"
    db = parts.path.strip("/") or "0"
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}/{db}"


def unreachable(url: str, sentinel_master: str = "", timeout: float = 1.0) -> str | None:
    """None when Redis at `url` answers a PING within `timeout`, else why not (one short phrase)."""
    import redis

    try:
        client = redis_client(url, sentinel_master, socket_timeout=timeout, socket_connect_timeout=timeout)
    except ValueError as exc:
        return str(exc)
    try:
        client.ping()
        return None
    except redis.AuthenticationError:
        return "it refused the password (check the password in the URL)"
    except redis.ResponseError as exc:
        text = str(exc)
        return (
            "it asks for a password (put it in the URL)" if "NOAUTH" in text else f"it answered {text[:80]!r}"
        )
    except redis.RedisError as exc:
        return _why(exc)
    finally:
        client.close()


def _why(exc: Exception) -> str:
    name = type(exc).__name__
    if name == "MasterNotFoundError":
        return "no sentinel knows that master"
    if isinstance(exc, TimeoutError) or "Timeout" in name:
        return "it did not answer in time"
    return "the connection was refused or failed"


def celery_conf(settings: Any) -> dict[str, Any]:
    """Celery's broker and result-backend settings for `settings` (REDIS_URL, the result backend,
    Sentinel's master name, the visibility timeout)."""
    url = settings.redis_url.get_secret_value()
    backend = settings.result_backend.get_secret_value() or url
    broker_opts: dict[str, Any] = {
        "visibility_timeout": settings.schedule.visibility_timeout,
        # kombu sweeps for the unacked tasks of a dead worker every 10 s but scans only on every 10th sweep by
        # default: a killed orders worker's placement would come back up to ~100 s after its visibility
        # timeout. Scanning on every sweep (one ZRANGE per 10 s) brings it back within ~10 s of it.
        "unacked_restore_throttle": 1,
    }
    backend_opts: dict[str, Any] = {"visibility_timeout": settings.schedule.visibility_timeout}
    if is_sentinel(url):
        broker_opts["master_name"] = settings.redis_sentinel_master
    if is_sentinel(backend):
        backend_opts["master_name"] = settings.redis_sentinel_master
    return {
        "broker_url": url,
        "result_backend": backend,
        "broker_transport_options": broker_opts,
        "result_backend_transport_options": backend_opts,
    }
