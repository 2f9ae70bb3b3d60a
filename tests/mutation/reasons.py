"""Why each surviving mutant may stay alive: matched by mutant name (fnmatch) and, when given, a regex that
one of the diff's lines must match. The first match wins. A survivor with no match is OPEN in
SURVIVORS.md: write a test that kills it, or a reason here that a reviewer can check against the code.

Kinds of reason:
- EQUIVALENT: no input can tell the mutant from the original (the reason says why).
- WORDING: only the text of a log line or a message an operator reads changes; the decisions do not.
  (Texts that carry a decision's evidence, the halt reason, a refusal's side, the breaker's numbers, are
  asserted by tests and so are not in this list.)
- UNREACHABLE: code mutmut cannot run under a mutant (import time, a Protocol's `...` body).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

LOG = "WORDING: a log line's text or arguments; what the code does is unchanged"
TEXT = "WORDING: the text of an error or a report an operator reads; no decision reads it"


@dataclass(frozen=True)
class Reason:
    name: str  # fnmatch pattern over the mutant's full name
    diff: str  # regex one changed line must match ('' = any)
    text: str


REASONS: list[Reason] = [
    # -- kinds that hold wherever they occur
    Reason("*", r"^[+-]\s*log\.(debug|info|warning|error|critical|exception)\(", LOG),
    Reason(
        "athena.okx.errors.x__always__*",
        "",
        "UNREACHABLE: runs only while the module is imported, building the CODES table, before mutmut "
        "activates a mutant; the table is checked code by code in tests/okx/test_error_table.py",
    ),
    Reason(
        "athena.okx.errors.x__unknown_on_write__*",
        "",
        "UNREACHABLE: import time only (as _always); tests/okx/test_error_table.py checks each such code "
        "is AMBIGUOUS on a write and TRANSIENT on a read",
    ),
    Reason("athena.risk.gate.xǁPreTradeLikeǁcheck__*", "", "UNREACHABLE: a Protocol's `...` body, never run"),
    Reason("athena.risk.rate.xǁCounterǁallow__*", "", "UNREACHABLE: a Protocol's `...` body, never run"),
    Reason(
        "athena.risk.*.x__s__*",
        "",
        "EQUIVALENT: Athena's Redis clients return bytes (decode_responses is off), so `_s` always takes "
        "the decode branch; the str() branch is for a decoding client",
    ),
    # -- the risk gate: duck-typed defaults the real verdicts never need
    Reason(
        "athena.risk.gate.x_refusal__*",
        r'^\+.*getattr\(verdict, "(ok", (None|True|)|reason", (None|"XXrejectedXX"|"REJECTED"|))\)',
        "EQUIVALENT for Athena's verdicts: Approved and Rejected always carry ok and reason, so only the "
        "getattr default changed and it is never used (it is there for duck-typed doubles)",
    ),
    Reason(
        "athena.risk.gate.x_check_and_reserve__*",
        r'^\+.*getattr\(verdict, "margin", (None|)\)',
        "EQUIVALENT: only the default changed; a verdict without margin is a Rejected, whose refusal "
        "skips the reservation, and `or ZERO` covers None",
    ),
    Reason(
        "athena.risk.gate.x_check_and_reserve__*",
        r"^\+.*getattr\(res, (\"ok\", (None|False|)|'code', (None|'XXrefusedXX'|'REFUSED'|))\)",
        "EQUIVALENT for Athena's reservations: ReserveResult always carries ok and code; only the unused "
        "getattr default changed",
    ),
    Reason(
        "athena.risk.pretrade.xǁPreTradeCheckǁ_check__*",
        r'^\+.*(req\.strategy (or|and) "(-|XX-XX)", |"(XX)?pre-trade (BYPASS|bypass REFUSED))',
        LOG + " (a multi-line log call: the mutated line is one of its arguments)",
    ),
    Reason(
        "athena.risk.pretrade.xǁPreTradeCheckǁ_check__*",
        r'reason: str = "XXXX"',
        "EQUIVALENT: check() always passes reason to _check, so the default is never used",
    ),
    Reason("athena.risk.pretrade.xǁPreTradeCheckǁ*", r'^\+.*no\(Reason\.[A-Z_]+, "XX.*XX"\)', TEXT),
    Reason(
        "athena.risk.rate.xǁWindowCounterǁhit__*",
        r"_run\(n, -2\)",
        "EQUIVALENT: the script treats every negative limit as none",
    ),
    Reason("athena.risk.liquidation.xǁLiquidationGuardǁapply__*", r'"XX; XX"\.join', TEXT),
    Reason(
        "athena.risk.liquidation.xǁLiquidationGuardǁapply__*",
        r'self\._reason = False, "XXXX"',
        "EQUIVALENT: _reason is compared only once _held is True, which sets it",
    ),
    Reason("athena.risk.pretrade.xǁPreTradeCheckǁ_check__*", r"^\+\s*None, req\.instId, req\.clOrdId", LOG),
    Reason("athena.risk.pretrade.xǁPreTradeCheckǁ*", r'^\+.*no\(Reason\.[A-Z_]+, "[^a-z]*"\)', TEXT),
    Reason(
        "athena.risk.halt.xǁHaltSwitchǁ*",
        r'raw\.get\("(reason|who)", (None|"XXXX"|)\)|raw\.get\("ts"\) or 1',
        "EQUIVALENT: the halt's reason, who and ts are written together in one Lua HSET, so a halt that "
        "has a reason has all three and the get() default is never used",
    ),
    Reason(
        "athena.risk.halt.x__holds__*",
        r'd\.get\("(reason|who)", (None|"XXXX"|)\)|d\.get\("ts"\) or 1',
        "EQUIVALENT: hold() always writes reason, who and ts in the hold's JSON, so the defaults are unused",
    ),
    Reason(
        "athena.risk.gate.x_check_and_reserve__*",
        r"if reason is None or capital is not None and margin > 0",
        "EQUIVALENT: a refused verdict is a Rejected, which has no margin (0 here), so the reservation is "
        "skipped either way",
    ),
    Reason(
        "athena.risk.marks.xǁMarkBookǁupdate__*",
        r'ts: int \| None = ""',
        "EQUIVALENT: ts is set in every branch that sets px, and without px nothing is written",
    ),
    Reason(
        "athena.risk.marks.xǁMarkBookǁget__*",
        r"\(value is not None\) or True",
        "EQUIVALENT: with no value the px becomes 'None', which does not parse, so get() returns None "
        "as it does for an absent mark",
    ),
    # -- oms stops
    Reason(
        "athena.oms.stops.*",
        r"^\+.*pos\.signed >= ZERO",
        "EQUIVALENT: a flat position is handled (raised on, or all its stops cancelled) before this line",
    ),
    Reason(
        "athena.oms.stops.x_stop_owner__*",
        r'h\.get\("(strategy|entry)", (None|"XXXX"|)\)',
        "EQUIVALENT: queue_stop_owner writes strategy and entry together in one HSET, so a known owner "
        "has both and the get() default is never used",
    ),
    Reason(
        "athena.oms.stops.x_stop_owner__*",
        r"isinstance\((k|v), bytes\)\) or True",
        "EQUIVALENT: Athena's Redis clients return bytes (decode_responses is off)",
    ),
    Reason(
        "athena.oms.stops.x_record_stop_owner__*",
        r"pipeline\(transaction=(None|True)\)",
        "EQUIVALENT: one HSET and its EXPIRE on one key; wrapping them in MULTI/EXEC changes nothing a "
        "reader can see (the caller's own pipeline decides atomicity with its other writes)",
    ),
    Reason(
        "athena.oms.stops.xǁStopRequestǁto_algo__*",
        r"^-\s*reduceOnly=True,",
        "EQUIVALENT: AlgoOrder.reduceOnly defaults to True (a stop only ever closes)",
    ),
    # -- oms positions
    Reason(
        "athena.oms.positions.*",
        r'^\+.*(member|field)\.rpartition\("\|"\)',
        "EQUIVALENT: the member is `instId|posSide` and neither part contains '|'",
    ),
    Reason(
        "athena.oms.positions.xǁPositionManagerǁreconcile__*",
        r'previous\.get\(field, "(XXXX)?"\)\.r?partition\("@"\)',
        "EQUIVALENT: the stored value is `diff@ms` (one '@'), and a missing one starts the clock now "
        "either way",
    ),
    Reason(
        "athena.oms.positions.xǁPositionManagerǁ_entry_from__*",
        r'h\.get\("avgPx", (None|)\)',
        "EQUIVALENT: opt_D reads '' and None alike, as no price",
    ),
    Reason(
        "athena.oms.positions.*",
        r'int\((h\.get\("uTime"\)|utime) or 1\)',
        "EQUIVALENT: the field is always written as a decimal string, and '0' is a true string, so the "
        "`or` default is never used",
    ),
    Reason("athena.oms.positions.xǁPositionManagerǁon_fill__*", r"RuntimeError\(None\)", TEXT),
    Reason(
        "athena.oms.positions.x_next_avg__*",
        r"^\+.*\((sz0 >= ZERO\) != \(sz1 > ZERO|sz0 > ZERO\) != \(sz1 >= ZERO)\)",
        "EQUIVALENT: neither size is zero on that line (sz1 == 0 returned above, sz0 == 0 is the left of "
        "the `or`), so >= and > agree",
    ),
    Reason(
        "athena.oms.positions.x_next_avg__*",
        r"^\+\s*if abs\(sz1\) <= abs\(sz0\):",
        "EQUIVALENT: equal sizes of the same sign mean delta == 0, and the weighted average of a zero "
        "delta is avg0 (None stays None), what the reducing branch returns",
    ),
    Reason(
        "athena.oms.positions.x_closing_side__*",
        r"^\+.*signed_sz >= ZERO",
        "EQUIVALENT: every caller (ghost_orders, unprotected, ops.stops.protect_positions) skips a flat "
        "position before asking its closing side",
    ),
    Reason(
        "athena.oms.positions.xǁPositionManagerǁon_fill__*",
        r"^\+\s*pipe\.watch\(key, \)",
        "EQUIVALENT: every write to the fills window (on_fill's own MULTI) also writes the ledger hash, "
        "so watching the hash alone sees every write to either; a correction (_force) writes only the "
        "hash, which the test for that race covers",
    ),
    Reason(
        "athena.oms.positions.xǁPositionManagerǁ*",
        r"^\+.*(None, (fill\.)?posSide, cast\(|(fill\.)?instId, None, cast\(|cast\(None, pipe\.hgetall)",
        "EQUIVALENT: only the read entry's sz and avgPx are used here (never its instId or posSide), and "
        "typing.cast returns its value unchanged at run time",
    ),
    # -- oms orders
    Reason(
        "athena.oms.orders.*",
        r"^\+\s*raise (ValueError|KeyError|DuplicateIntentError)\(None\)",
        "WORDING: the text of an exception an operator reads; callers decide by its type (a KeyError, a "
        "DuplicateIntentError, a ValueError for a report that names no order)",
    ),
    Reason(
        "athena.oms.orders.xǁOrderManagerǁ_adopt_stop_order__*",
        r"^\+.*self\.store\.create\(Order\(req=req, cTime=now, uTime=now\)\)",
        "EQUIVALENT: Order.state defaults to OrderState.CREATED",
    ),
    Reason(
        "athena.oms.orders.xǁOrderManagerǁ_adopt_stop_order__*",
        r"^\+.*if self\.store\.get\(None\) is not None or",
        "EQUIVALENT: the known-order check is a shortcut; store.create never replaces a recorded clOrdId "
        "(False, nothing written), so a known order stays as first booked either way",
    ),
    # -- oms capital
    Reason(
        "athena.oms.capital.xǁ_Opsǁ*",
        r'^\+.*self\._op\("(set|hset|sadd|srem|expire|hincrby|lpush|ltrim)"|"SET", k, v, "ex", ex',
        "EQUIVALENT: Redis command names and SET's EX option are case-insensitive",
    ),
    Reason(
        "athena.oms.capital.xǁ_Opsǁset__*",
        r'^\+.*self\._op\("SET", k, None,',
        "EQUIVALENT: the only SET _Ops records is a fill's marker, whose value is never read (EXISTS only)",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁ_book_fill__*",
        r'^\+\s*w\.set\(k_mark, "XX1XX"',
        "EQUIVALENT: a fill's marker is only ever tested with EXISTS; its value is never read",
    ),
    Reason(
        "athena.oms.capital.x__dec__*",
        r"^\+\s*v = raw\.get\(name, (None)?\)",
        "EQUIVALENT: None and '' are both falsy, so an absent amount is ZERO either way",
    ),
    Reason(
        "athena.oms.capital.x__sign__*",
        r"^\+\s*return \(v >= 0\) - \(v < 0\)|^\+\s*return \(v > 0\) - \(v <= 0\)",
        "EQUIVALENT: these differ only for 0, and apply_to_position never asks the sign of 0: qty == 0 "
        "short-circuits before _sign(qty), new_qty == 0 returns before _sign(new_qty), and a fill's delta "
        "is never 0 (the order store emits a fill only when accFillSz grew: fill_sz > 0, "
        "athena/state/orders.py)",
    ),
    Reason(
        "athena.oms.capital.x_apply_to_position__*",
        r"^\+.*\* cpc / _sign\(qty\)\)",
        "EQUIVALENT: _sign(qty) is 1 or -1 there (qty != 0), and x / 1 == x * 1, x / -1 == x * -1",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁ_fetch__*",
        r"^\+.*(got = rest\[0\] if \(rest\) or True|if \(i < len\(got\)\) or True|if i <= len\(got\)"
        r"|if i < len\(got\) else True)",
        "EQUIVALENT: _VIEW always returns its three parts and one answer per flag, so rest is never empty "
        "and i < len(got) for every flag",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁ_view__*",
        r'getattr\(self\._scope, "active", None\)',
        "EQUIVALENT: None is falsy, as False",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁ_atomic__*",
        r"pipeline\(transaction=(None|False)\)",
        "EQUIVALENT: every body queues its writes after pipe.multi(), which makes redis-py send MULTI/EXEC "
        "whatever the pipeline's transaction flag (explicit_transaction); the reads before it run at once, "
        "under WATCH, either way",
    ),
    Reason("athena.oms.capital.xǁCapitalCommanderǁ_atomic__*", r"raise CapitalBusy\(None\)", TEXT),
    Reason("athena.oms.capital.xǁCapitalCommanderǁreserve__*", r"raise ValueError\(None\)", TEXT),
    Reason("athena.oms.capital.xǁCapitalCommanderǁon_fill__*", r"raise ValueError\(None\)", TEXT),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁon_fill__*",
        r"raise WatchError\(",
        "EQUIVALENT: _atomic catches this WatchError and decides again; its text is never read",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁ*",
        r'_READ\(pipe, \[.*\], \[.*"(XXhXX|H)"',
        "EQUIVALENT: _READ runs HGETALL for every flag but 'e'",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁerrors__*",
        r"pipeline\(transaction=None\)",
        "EQUIVALENT: None is falsy, as False: the same pipelined round trip",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁerrors__*",
        r"pipeline\(transaction=True\)",
        "EQUIVALENT: MULTI around the two reads only makes them atomic; the count and the list are written "
        "together in one MULTI per clamp, so they can differ only by a clamp committing between two "
        "pipelined reads, which no test can time and no decision reads (errors() is a report)",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁerrors__*",
        r"lrange\(self\._k_clamps, 0, _CLAMPS_KEPT \+ 1\)",
        "EQUIVALENT: every push trims the list to _CLAMPS_KEPT in the same MULTI, so there is never one more",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁ_queue_release__*",
        r"json\.dumps\(detail, (sort_keys=(None|False))?\)",
        "EQUIVALENT: only the key order inside the JSON object changes; its one reader, errors(), parses it "
        "into a dict",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁaudit__*",
        r"_pairs\(opened\[i - 1\]\)",
        "EQUIVALENT: for i = 0, 2, 4... i - 1 visits the same odd positions (-1 is the last), each "
        "reservation's hash once; the loop takes the strategy from the hash, never the clOrdId",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁaudit__*",
        r'if res or res\.get\("closed"\)|if res and res\.get\((None|"XXclosedXX"|"CLOSED")\) != "1"'
        r'|res\.get\("closed"\) != "XX1XX"',
        "EQUIVALENT: a reservation leaves the open set in the same MULTI that sets closed=1 "
        "(_queue_release) and an open one never expires, so every member read has a hash and is not closed",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁaudit__*",
        r"held\.get\(res\[\"strategy\"\], (None)?\)|reserved\.get\(n, (None)?\)",
        "EQUIVALENT: held starts with every strategy of the names set, and reserve() adds a reservation's "
        "strategy to that set in the same write; so every strategy is in held and in reserved, and the "
        "get() default is never used",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁon_fill__*",
        r"^\+\s*pipe\.watch\(k_res, k_day\)",
        "EQUIVALENT: the marker is written only when that fill is booked, in the same MULTI/script as the "
        "fill's day hash (same ts, so the same k_day, watched): a concurrent booking is seen through k_day",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁon_fill__*",
        r"^\+\s*pipe\.watch\(k_strat\)",
        "EQUIVALENT: a position hash is written only by _book_fill, in the same MULTI/script as its own "
        "strategy's hash (k_strat, watched: the ident starts with that strategy)",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁ_proportional__*",
        r"^\+\s*if amount < 0 and not done:",
        "EQUIVALENT: with amount == 0 the release writes what is stored (released = target = released, "
        "reserved - 0, closed 0), and reserved is never stored below 0, so there is no clamp either",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁ_sole_holder__*",
        r"\(p\.qty >= 0\) != |\(fill\.signed_sz >= 0\)",
        "EQUIVALENT: these differ only for 0: p.qty != 0 is tested first, and a fill's delta is never 0",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁpositions__*",
        r'i\.split\("\|", (2)?\)\[0\]',
        "EQUIVALENT: the first part of the split is the same however many splits follow",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁpositions__*",
        r"pipeline\(transaction=(None|True)\)",
        "EQUIVALENT: None is falsy, as False; True only wraps the reads in MULTI (atomic instead of one "
        "pipelined round trip), and the position figures outside a view are read without that promise",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁunrealised__*",
        r"if p\.qty == 0 and p\.avg_px is None:",
        "EQUIVALENT: the ledger stores no average exactly when qty is 0 (apply_to_position returns None "
        "only for a flat position, a price otherwise), so both tests agree on every stored position",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁgross_exposure__*",
        r"if p\.qty != 0 or px is not None:",
        "EQUIVALENT: a flat position adds 0 * ..., and an open one always has an average, so px is never "
        "None when qty != 0",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁupdate_equity__*",
        r"if hwm >= 0 and equity < hwm",
        "EQUIVALENT: hwm is never below total_capital, which Settings requires > 0",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁupdate_equity__*",
        r"if hwm > 0 and equity <= hwm",
        "EQUIVALENT: with equity == hwm the drawdown computes to 0, as the else branch",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁreserve__*",
        r"if self\.allocation\(strategy\) >= 0 and margin <= free:",
        "EQUIVALENT: with allocation 0 the free margin is 0 - reserved - used <= 0 and margin > 0 (checked "
        "first), so margin <= free is false either way",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁfunding_shares__*",
        r"^\+.*(net = sum\(\(q for _, q in held\), \)|sum\(shares\.values\(\), \))",
        "EQUIVALENT: an int 0 start instead of Decimal 0: with no holder the function returns before net is "
        "used, and otherwise the sums are of Decimals, so they are the same Decimal",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁon_funding__*",
        r"^\+\s*pipe\.watch\(k_day, \*k_strats\)",
        "EQUIVALENT: a bill's marker is written only when that bill is booked, in the same MULTI as the day "
        "hash of its ts (the same k_day, watched): a concurrent booking of it is seen through k_day",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁon_funding__*",
        r'^\+\s*pipe\.set\(k_mark, "XX1XX"',
        "EQUIVALENT: a bill's marker is only ever tested for existence (_READ 'e'); its value is never read",
    ),
    Reason(
        "athena.oms.capital.xǁCapitalCommanderǁon_funding__*",
        r"zip\(names, k_strats, raw, (strict=(None|False))?\)",
        "EQUIVALENT: k_strats is built from names and raw is read from k_strats, so the three always have "
        "the same length and strict never raises",
    ),
    Reason(
        "athena.oms.orders.xǁOrderManagerǁnext_seq__*",
        r"^\+.*self\._seq_blocks\.get\(key, \(2, 0\)\)",
        "EQUIVALENT: a (strategy, instId) with no block in memory has end 0, so any default next above 0 "
        "reserves a fresh block from Redis and is replaced by its first number before it is handed out",
    ),
    Reason(
        "athena.oms.orders.xǁOrderManagerǁ_apply_local__*",
        r'^\+.*uTime=self\._now_ms\(\), (source=(None|"XXlocalXX"|"LOCAL")|\))$',
        "EQUIVALENT: OrderStore.apply never reads an update's source (its Lua arguments are the state, the "
        "ids, the fills, fee and uTime, and for an unknown order external_order_hash's request fields), and "
        "the OMS publishes the stored order, not the update",
    ),
    Reason(
        "athena.oms.orders.xǁOrderManagerǁresolve_ambiguous__*",
        r'^\+\s*(sMsg|source)=(None|"XXnot foundXX"|"NOT FOUND"|"XXlocalXX"|"LOCAL"),$'
        r'|^-\s*(sMsg="not found"|source="local"),$',
        "EQUIVALENT: OrderStore.apply never reads an update's sMsg or source (see _apply_local); the "
        "refusal's text an operator reads is the order's reason, written by set_reason just before",
    ),
    Reason(
        "athena.oms.orders.xǁOrderManagerǁensure_stop__*",
        r"^\+.*plan\.action in \(StopAction\.PLACE, StopAction\.AMEND\) or plan\.stop is not None",
        "EQUIVALENT: plan_stop (athena/oms/stops.py) gives a stop exactly with PLACE and AMEND, so both "
        "operands are true together",
    ),
    Reason(
        "athena.oms.orders.xǁOrderManagerǁon_update__*",
        r"^\+.*outbox=True, (claim=None, )?claim_ttl_s=self\.claim_ttl_s",
        "EQUIVALENT: a claim's value is never read: the Lua step SETs it, claim_outbox takes an entry only "
        "with SET NX (the key's existence and TTL hold other emitters off) and ack_outbox deletes it "
        "whoever wrote it; the claim's TTL is what matters, and test_an_emitter_holds_its_entry_for_its_own_"
        "claim_ttl checks it",
    ),
    Reason(
        "athena.oms.orders.xǁOrderManagerǁon_update__*",
        r"^\+\s*if t\.outbox_pending >= 1:",
        "EQUIVALENT in what is emitted: outbox_pending counts our own entry (it is set only when this "
        "update added one), so 1 means nothing else waited at the commit and _emit has already acked ours; "
        "the extra drain finds only entries others claimed since (SET NX refuses them), except one whose "
        "writer died and whose claim (120 s) ran out within this call, which the next drain emits anyway",
    ),
    Reason(
        "athena.oms.orders.xǁOrderManagerǁrecover_outbox__*",
        r"^\+.*count=min\(101, limit - done\)",
        "EQUIVALENT: only the page size changes; the loop pages on from `after` until the limit or the "
        "end, so the same entries are claimed in the same order",
    ),
    Reason(
        "athena.oms.orders.xǁOrderManagerǁrecover_outbox__*",
        r'^\+\s*"(XX)?outbox: emitting %s of %s left by an earlier process(XX)?", (None|entry\.id), '
        r"(None|entry\.clOrdId)$",
        LOG + " (a multi-line log call: the mutated line is its arguments)",
    ),
    Reason(
        "athena.oms.orders.xǁOrderManagerǁ_error__*",
        r'^\+.*str\(data\.get\("algoClOrdId", (None|"XXXX"|)\)\)',
        "EQUIVALENT: both callers of a stop_failed error (ensure_stop, on_position) put algoClOrdId in "
        "data, so the default is never used",
    ),
    # -- okx/parse: a ParseError's text, and the labels that only go into it
    Reason(
        "athena.okx.parse.*",
        r"^\+\s*raise ParseError\(",
        "WORDING: the text of a ParseError (the mutant changes only what goes into the message); every "
        "caller decides by the type, which the tests assert",
    ),
    Reason(
        "athena.okx.parse.*",
        r'^\+.*\b(row|item|d) = _obj\((row|item|d), (None|"XX[a-z -]+XX"|"[A-Z -]+")\)$'
        r'|^\+\s*with _as_parse_error\((None|"XX[a-z -]+XX"|"[A-Z -]+")\):$',
        "WORDING: the name of the object that goes into its ParseError's message (_obj, _as_parse_error)",
    ),
    Reason(
        "athena.okx.parse.*",
        r'^\+.*\b(?:_d|_dec|_num|_enum|_px_sz)\((?:\w+, )?(?:g\("((?!XX)(?![A-Z]+")\w+)"\)'
        r'|row\.get\("((?!XX)(?![A-Z]+")\w+)"\)|row\["((?!XX)(?![A-Z]+")\w+)"\]|v), '
        r'(None|"XX\w+XX"|"(?=[A-Z]+"|[a-z]+")(?i:\1|\2|\3|accFillSz|avgPx|fillSz|fillPx|fillFee|fee|sz|px|pnl)")\)',
        "WORDING: the field's name that a number or enum helper puts into its ParseError's message (the "
        "value read is unchanged)",
    ),
    Reason(
        "athena.okx.parse.*",
        r"^\+.*\b(_dec\((value|row\.get\(key\)), None\)|_num\((value|v), None\)|_enum\(AlgoState, state_raw, "
        r'(None|"XXalgo stateXX"|"ALGO STATE")\))',
        "WORDING: the field's name that goes into the ParseError's message (the value read is unchanged)",
    ),
    Reason(
        "athena.okx.parse.x__state_from_sizes__*",
        r'^\+\s*"(XX)?order state %r unknown to (A|a)thena: read as %s from acc(F|f)ill(S|s)z/sz '
        r'\(logged once\)(XX)?", value\[:4[01]\], (state|None)$',
        LOG + " (a multi-line log call: the mutated line is its arguments)",
    ),
    Reason(
        "athena.okx.parse.*",
        r"^\+.*type\(None\)\.__name__",
        "WORDING: the type named in a ParseError's message",
    ),
    # -- okx/parse: equivalent by the code around them
    Reason(
        "athena.okx.parse.x__dec__*",
        r'^\+\s*if value == "XXXX":',
        "EQUIVALENT in outcome: Decimal('') raises InvalidOperation, and every caller of _dec (through "
        "req_d, opt_d, _d) runs inside a try or _as_parse_error that turns it into ParseError; only the "
        "message differs",
    ),
    Reason(
        "athena.okx.parse.x__px_sz__*",
        r"^\+\s*_PX_SZ\[value\] = None",
        "EQUIVALENT: a None in the memo reads as a miss (`d if d is not None else _px_sz(...)`), so the "
        "value is computed again, the same Decimal",
    ),
    Reason(
        "athena.okx.parse.x_price_limit__*",
        r"^\+.*if enabled and \(buy is None and sell is None or sell > buy\)",
        "EQUIVALENT in outcome: with one limit None, `sell > buy` compares with None and raises TypeError, "
        "which _as_parse_error turns into ParseError as the original's raise does; only the text differs",
    ),
    Reason(
        "athena.okx.parse.x_order_update__*",
        r"^\+\s*o\.(clOrdId|algoClOrdId) = v if (\(type\(v\) is str\) and False|type\(None\) is str) else "
        r'str\(v or ""\)'
        r"|^\+\s*o\.instId = v if (\(type\(v\) is str\) and False|type\(None\) is str) else str\(v\)"
        r"|^\+\s*o\.(ordId|feeCcy) = v if (\(type\(v\) is str and v\) and False|type\(None\) is str and v) "
        r"else _s\(v\)",
        "EQUIVALENT: the skipped shortcut returns a str as is, and the slow expression gives the same str "
        "for it (str(v or '') and _s keep a non-empty str, and map '' to what the shortcut gives)",
    ),
    Reason(
        "athena.okx.parse.x_order_update__*",
        r"^\+\s*if type\(None\) is not dict:",
        "EQUIVALENT: _obj returns a dict unchanged, so always calling it changes nothing",
    ),
    Reason(
        "athena.okx.parse.x_order_update__*",
        r"^\+\s*state = _STATES\.get\(v\) if \(type\(v\) is str\) or True else None",
        "EQUIVALENT in outcome: a non-str state is not in _STATES (None, as the original), and an "
        "unhashable one raises TypeError, turned into ParseError as _state_from_sizes' refusal is",
    ),
    Reason(
        "athena.okx.parse.x_order_update__*",
        r"^\+\s*(filled|has_fill) = None$",
        "EQUIVALENT: the flag is only tested for truth, and None is false like False",
    ),
    Reason(
        "athena.okx.parse.x_order_update__*",
        r'^\+.*(elif v == "XX0XX":|v == "" or v == "XX0XX":'
        r'|ZERO if (\(v == "0"\) and False|v == "XX0XX") else)',
        "EQUIVALENT: the '0' shortcut; without it '0' goes through _num, which gives Decimal('0'), equal to "
        "ZERO and read the same way (not filled, no price)",
    ),
    Reason(
        "athena.okx.parse.x_order_update__*",
        r"^\+\s*(if type\(None\) is str and v:|if type\(v\) is not str and v:|d = None$"
        r"|d = _PX_SZ\.get\(None\)|o\.(sz|px) = d if \(d is not None\) and False else)",
        "EQUIVALENT: the px/sz memo is only a cache: a miss (or a non-str, which _num refuses either way) "
        "computes the same Decimal",
    ),
    Reason(
        "athena.okx.parse.x_order_update__*",
        r'^\+\s*o\.(sz|px) = None if v is None or v == "" else _num\((None, "(sz|px)"|"(sz|px)"|v, )\)',
        "EQUIVALENT in outcome: this branch sees only None, '' or a non-str, and _num raises ParseError "
        "for every non-str (a missing argument raises TypeError, turned into ParseError)",
    ),
    Reason(
        "athena.okx.parse.x_order_update__*",
        r"^\+\s*o\.(sCode|sMsg) = None if \(v is None\) and False else _s\(v\)",
        "EQUIVALENT: _s(None) is None",
    ),
    Reason(
        "athena.okx.parse.x_order_update__*",
        r"^\+\s*if row\.keys\(\) > _ORDER_KEYS\.keys\(\):",
        "EQUIVALENT: a KeyError only comes from subscripting one of _ORDER_KEYS, so it never happens when "
        "the row has all of them (where >= and > differ)",
    ),
    # -- risk: equivalent by the code around them
    Reason(
        "athena.risk.pretrade.x_size_for_risk__*",
        r"^\+.*if equity (<|<=) \d+ (and|or) risk_fraction (<|<=) 0",
        "EQUIVALENT: the early return is a shortcut; with equity 0/negative or a zero risk fraction the "
        "size computes to <= 0 and the final `sz >= minSz and sz > 0` returns 0 all the same",
    ),
    Reason(
        "athena.risk.pretrade.x_size_for_risk__*",
        r"^\+.*sz >= instrument\.minSz and sz >= 0",
        "EQUIVALENT: differs only when sz == 0, where it returns sz, which is 0",
    ),
    Reason(
        "athena.risk.drawdown.x_check_drawdown__*",
        r'^\+\s*breached, text = None, "XXXX"',
        "EQUIVALENT: text is read only when a breach set it",
    ),
    Reason(
        "athena.risk.rate.xǁWindowCounterǁcount__*",
        r"_run\(0, [-+]\d\)",
        "EQUIVALENT: with n == 0 the script returns the count before it looks at the limit",
    ),
    Reason(
        "athena.risk.pretrade.xǁPreTradeCheckǁ_check_entry__*",
        r"gross_exposure\(marks, (None|)\)",
        "EQUIVALENT: without the ledger gross_exposure reads the same positions itself (one more Redis "
        "read within the same check)",
    ),
    Reason(
        "athena.risk.liquidation.x_first_stop__*",
        r"pos\.signed >= 0",
        "EQUIVALENT: a flat position never reaches first_stop (assess skips flat rows first)",
    ),
    Reason(
        "athena.risk.liquidation.xǁLiquidationGuardǁon_account__*",
        r"self\._changed = (None|False)",
        "EQUIVALENT: with an open position check() always evaluates; while flat the account alone gives "
        "no finding (no stop loss), so skipping that evaluation changes nothing",
    ),
    Reason(
        "athena.risk.liquidation.xǁLiquidationGuardǁcheck__*",
        r"self\._changed = None",
        "EQUIVALENT: None is falsy like False",
    ),
    Reason(
        "athena.risk.liquidation.xǁLiquidationGuardǁ__init____*",
        r"self\._changed = (None|False)",
        "EQUIVALENT: the first check always evaluates (_held is None until then)",
    ),
    Reason(
        "athena.risk.liquidation.xǁLiquidationGuardǁ__init____*",
        r"self\._held: bool \| None = \"\"",
        "EQUIVALENT: '' is neither True nor False, as None, in every `is` test of _held",
    ),
    Reason(
        "athena.risk.liquidation.xǁLiquidationGuardǁ__init____*",
        r"self\._reason = (None|\"XXXX\")",
        "EQUIVALENT: _reason is compared only once _held is True, which sets it",
    ),
]


def reason_for(name: str, changed: list[str]) -> str | None:
    for r in REASONS:
        if fnmatch.fnmatchcase(name, r.name) and (not r.diff or any(re.search(r.diff, ln) for ln in changed)):
            return r.text
    return None
