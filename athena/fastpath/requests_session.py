"""A requests.Session for the OKX REST gateway without requests' per-call merging.

requests.Session.request merges environment, cookies, auth, params and hooks into every request, a
large share of the CPU a loopback order round trip costs (bench/bench_gateway.py). The gateway's
session uses none of them, so LeanSession builds the PreparedRequest directly and hands it to
send(), which still applies verify/cert/proxies/adapters and raises the same exceptions. This leans
on what Session.request does before send() in the requests versions listed in athena.fastpath.

`ATHENA_FASTPATH_REQUESTS_SESSION=off` (or `ATHENA_FASTPATHS=off`): new_session() returns a plain
requests.Session.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.structures import CaseInsensitiveDict

from athena.fastpath import enabled


class LeanSession(requests.Session):
    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        if kwargs or self.cookies or self.auth or self.params or self.trust_env or any(self.hooks.values()):
            return super().request(method, url, data=data, headers=headers, timeout=timeout, **kwargs)
        prep = requests.PreparedRequest()
        prep.method = method.upper()
        prep.url = url
        merged = CaseInsensitiveDict(self.headers)
        if headers:
            merged.update(headers)
        if data is not None:
            merged["Content-Length"] = str(len(data))
        elif prep.method not in ("GET", "HEAD"):
            merged["Content-Length"] = "0"
        prep.headers = merged  # type: ignore[assignment]  # requests' stubs: str-only values
        prep.body = data
        prep.hooks = {"response": []}
        return self.send(prep, timeout=timeout, allow_redirects=False)


def new_session() -> requests.Session:
    """The gateway's session: LeanSession while the switch is on, else requests' own."""
    return LeanSession() if enabled("requests_session") else requests.Session()
