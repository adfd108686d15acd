"""Txs by event query, as a node's tx indexer answers `cosmos.tx.v1beta1.Service/GetTxsEvent`.

Follows cosmos-sdk v0.50 (allora-chain's go.mod pins v0.50.10) `x/auth/tx/service.go`
(`GetTxsEvent`: the `query` string is passed to CometBFT's `TxSearch`; `page` starts at 1,
`limit` 0 means the default of 100) and CometBFT's query language (`libs/pubsub/query`):
conditions `key op operand` joined by `AND`, operands 'quoted strings' or numbers.

Which events a tx carries: every tx has `tx.height` and `tx.hash`. The `message` events
(`message.sender`, `message.action`) are emitted by baseapp while the messages run, so a tx whose
messages failed (non-zero code) loses them with the rest of its message state: searching by
`message.sender` finds only the sender's txs that succeeded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from allora_worker.devnet.txcheck import DecodedTx

DEFAULT_LIMIT = 100  # cosmos-sdk types/query DefaultLimit
MAX_LIMIT = 100  # CometBFT's maximum per_page

_CONDITION = re.compile(
    r"""^\s*(?P<key>[A-Za-z_][\w.\-]*)\s*
        (?:(?P<op><=|>=|=|<|>|CONTAINS)\s*(?P<operand>'[^']*'|-?\d+(?:\.\d+)?)|(?P<exists>EXISTS))\s*$""",
    re.VERBOSE,
)


class QueryError(ValueError):
    """A query CometBFT's parser would refuse."""


@dataclass(frozen=True)
class Condition:
    key: str
    op: str
    operand: str | Decimal | None

    def matches(self, values: list[str]) -> bool:
        if self.op == "EXISTS":
            return bool(values)
        return any(self._one(value) for value in values)

    def _one(self, value: str) -> bool:
        if isinstance(self.operand, Decimal):
            try:
                number = Decimal(value)
            except InvalidOperation:
                return False
            return {"=": number == self.operand, "<": number < self.operand, "<=": number <= self.operand,
                    ">": number > self.operand, ">=": number >= self.operand}[self.op]
        operand = str(self.operand)
        if self.op == "CONTAINS":
            return operand in value
        if self.op == "=":
            return value == operand
        return False  # ordering on strings: CometBFT compares numbers and times only


def parse(query: str) -> list[Condition]:
    if not query.strip():
        raise QueryError("query cannot be empty")
    conditions = []
    for part in re.split(r"\s+AND\s+", query.strip()):
        found = _CONDITION.match(part)
        if found is None:
            raise QueryError(f"failed to parse query: {query!r}: unexpected condition {part.strip()!r}")
        if found["exists"]:
            conditions.append(Condition(found["key"], "EXISTS", None))
            continue
        raw = found["operand"]
        operand: str | Decimal = raw[1:-1] if raw.startswith("'") else Decimal(raw)
        conditions.append(Condition(found["key"], found["op"], operand))
    return conditions


def events_of(tx: DecodedTx, *, height: int, txhash: str, code: int) -> dict[str, list[str]]:
    """The indexed attributes of one tx: composite key -> values."""
    events: dict[str, list[str]] = {"tx.height": [str(height)], "tx.hash": [txhash]}
    if code == 0:
        events["message.sender"] = [tx.signer]
        events["message.action"] = [url for url, _ in tx.msgs]
    return events


def page_bounds(total: int, page: int, limit: int) -> tuple[int, int]:
    """Slice [start, end) of the `page`-th page (1-based) of `total` results; CometBFT refuses a
    page beyond the last (a query with no results has one empty page)."""
    per_page = DEFAULT_LIMIT if limit <= 0 else min(limit, MAX_LIMIT)
    page = page if page > 0 else 1
    pages = max(1, -(-total // per_page))
    if page > pages:
        raise QueryError(f"page should be within [1, {pages}] range, given {page}")
    start = (page - 1) * per_page
    return start, min(total, start + per_page)
