"""The alert events: one constructor per condition, each with the key it is deduplicated and rate-limited by.

An Alert's key names the condition, not the moment (`halt`, `unprotected:BTC-USDT-SWAP`): the same
condition reported again within the rate window is one message, not a flood. Texts are plain sentences
(what happened, and what to do when something must be done); `fields` carry the numbers for machines
(the JSON webhook sends them as they are).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True, slots=True)
class Alert:
    event: str  # the kind: halt, drawdown, stop_failed, ... (a metric label: a small fixed set)
    key: str  # dedupe / rate-limit key
    severity: Severity
    text: str
    fields: dict[str, Any] = field(default_factory=dict)
    ts_ms: int = field(default_factory=lambda: int(time.time() * 1000))


def halt(reason: str, who: str) -> Alert:
    # the switch alerts only when it newly halts; the key holds back a halt that flaps (halt, resume,
    # the same halt again) and lets another reason through
    return Alert(
        "halt",
        f"halt:{who}:{reason}"[:200],
        "critical",
        f"Trading HALTED by {who}: {reason}. New entries are refused until `athena resume`.",
        {"reason": reason, "who": who},
    )


def drawdown(breached: str, text: str) -> Alert:
    return Alert(
        "drawdown", f"drawdown:{breached}", "critical", f"Drawdown breaker: {text}.", {"breached": breached}
    )


def stop_failed(algoClOrdId: str, entryClOrdId: str, detail: str) -> Alert:
    return Alert(
        "stop_failed",
        f"stop_failed:{entryClOrdId}",
        "critical",
        f"Stop {algoClOrdId} for entry {entryClOrdId} was refused: {detail}. The position may be "
        "unprotected; protect_positions retries it.",
        {"algoClOrdId": algoClOrdId, "clOrdId": entryClOrdId},
    )


def unprotected(instId: str, seconds: float, pos: str, covered: str) -> Alert:
    return Alert(
        "unprotected",
        f"unprotected:{instId}",
        "critical",
        f"{instId}: position {pos} has had no covering exchange stop for {seconds:.0f} s (covered: "
        f"{covered}). Check `athena status`; `athena flatten --inst-id {instId}` closes it.",
        {"instId": instId, "seconds": round(seconds, 1), "pos": pos, "covered": covered},
    )


def ledger_drift(instId: str, posSide: str, ledger_sz: str, exchange_sz: str) -> Alert:
    return Alert(
        "ledger_drift",
        f"ledger_drift:{instId}:{posSide}",
        "warning",
        f"Reconcile found ledger drift on {instId}/{posSide}: ledger {ledger_sz}, exchange "
        f"{exchange_sz}; corrected to the exchange.",
        {"instId": instId, "posSide": posSide, "ledger_sz": ledger_sz, "exchange_sz": exchange_sz},
    )


def breaker(name: str, opened: bool, detail: str = "") -> Alert:
    state = "opened" if opened else "closed"
    text = (
        f"Breaker {name} OPENED: {detail or 'repeated failures'}; the job is paused."
        if opened
        else f"Breaker {name} closed: the job runs again."
    )
    return Alert(
        "breaker",
        f"breaker:{name}:{state}",
        "warning" if opened else "info",
        text,
        {"name": name, "state": state},
    )


def ws_down(conn: str, seconds: float, state: str) -> Alert:
    return Alert(
        "ws_down",
        f"ws_down:{conn}",
        "critical",
        f"WebSocket {conn} has been down for {seconds:.0f} s (state {state}); the stream worker keeps "
        "reconnecting.",
        {"conn": conn, "seconds": round(seconds, 1), "state": str(state)},
    )


def heartbeat_stopped(node: str, queue: str, seconds: float) -> Alert:
    return Alert(
        "heartbeat",
        f"heartbeat:{node}",
        "critical",
        f"Worker {node} ({queue}) has sent no heartbeat for {seconds:.0f} s: is it running?",
        {"node": node, "queue": queue, "seconds": round(seconds, 1)},
    )


def ambiguous(clOrdId: str, instId: str, seconds: float) -> Alert:
    return Alert(
        "ambiguous",
        f"ambiguous:{clOrdId}",
        "warning",
        f"Order {clOrdId} ({instId}) has had an unknown outcome for {seconds:.0f} s; reconcile queries it "
        "by clOrdId. Run `athena reconcile` if it stays.",
        {"clOrdId": clOrdId, "instId": instId, "seconds": round(seconds, 1)},
    )


def daily_summary(
    day: str, realised: str, fees: str, funding: str, equity: str, drawdown: str, fills: int
) -> Alert:
    return Alert(
        "daily_summary",
        f"daily_summary:{day}",
        "info",
        f"Daily PnL {day} (UTC): realised {realised} USDT (fees {fees}, funding {funding}), {fills} fills; "
        f"equity {equity} USDT, drawdown {drawdown}.",
        {
            "day": day,
            "realised": realised,
            "fees": fees,
            "funding": funding,
            "equity": equity,
            "drawdown": drawdown,
            "fills": fills,
        },
    )
