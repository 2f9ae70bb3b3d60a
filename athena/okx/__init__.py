"""The client side of the OKX V5 API: signing, REST and WebSocket gateways, parsers, errors."""

from athena.okx.errors import (
    OkxAmbiguous,
    OkxAuthError,
    OkxError,
    OkxRateLimited,
    OkxRejected,
    OkxTransient,
    ParseError,
)
from athena.okx.private_ws import OkxPrivateWsGateway
from athena.okx.public_ws import OkxPublicWsGateway
from athena.okx.rest import OkxRestGateway
from athena.okx.signing import Clock, Credentials
from athena.okx.types import Balance, BalanceDetail

__all__ = [
    "Balance",
    "BalanceDetail",
    "Clock",
    "Credentials",
    "OkxAmbiguous",
    "OkxAuthError",
    "OkxError",
    "OkxPrivateWsGateway",
    "OkxPublicWsGateway",
    "OkxRateLimited",
    "OkxRejected",
    "OkxRestGateway",
    "OkxTransient",
    "ParseError",
]
