"""Every chain failure as one class with one handling.

The worker never inspects codes or log text itself: it catches these classes. `classify` maps a
(codespace, code, raw_log) triple — from CheckTx, DeliverTx (GetTx) or a failed simulation — to a
class. Messages are redacted before they are stored on the exception.

| class | meaning | handling |
|---|---|---|
| AlreadySubmitted | our inference for this window is on chain | done: journal `confirmed` |
| WindowClosed | the nonce's window is closed / gone | journal `missed`, move on |
| SequenceMismatch | account sequence moved | resync (expected seq), re-sign, retry |
| InsufficientFee | fee below the node's / feemarket minimum | reprice up to the cap, retry |
| FeeCapExceeded | the needed fee is above `max_fee` | skip this attempt; raise max_fee or wait |
| OutOfGas | gas limit too low | raise gas, retry |
| Unavailable | endpoint down / mempool full / deadline | back off, next endpoint |
| ConfirmTimeout | broadcast ok, not in a block by deadline | keep `broadcast`; reconcile later |
| Superseded | our tx's sequence was used by another tx | it can never land: re-sign now |
| QueryFailed | the node refused a query (not transport) | retry next cycle |
| AlreadyRegistered | `register` for a topic we are already in | done: nothing to do |
| VersionMismatch | "unable to resolve type URL": the chain upgraded | re-probe the version, rebuild, retry |
| WouldFail | simulation says the block would reject it | never broadcast (no fee); journal `rejected` |
| Rejected | any other failure of this tx | journal `rejected`; retry while window open |
| TopicFatal (NotWhitelisted) | this topic refuses this wallet | stop this topic (one line, `topic_fatal`) |
| Fatal (subclasses) | config/account problem no retry can fix | stop with the message: it says what to do |

Codes and texts follow allora-chain (x/emissions/types/errors.go, validations.go, the msg servers):
the bundle's Validate answers with sdk codes (18 invalid request, 4 unauthorized, 29 invalid type),
a duplicate with a plain "inference already submitted" (codespace "undefined", code 1) or 78, the
whitelist with "not permitted to submit payload" (matched by text: its number is not confirmed),
the data sending fee with sdk/5, registering twice with emissions 8.
"""

from __future__ import annotations

import re
from typing import TypedDict

from allora_worker.secrets import redact

SDK = "sdk"
EMISSIONS = "emissions"

# emissions codespace (allora-chain x/emissions/types/errors.go)
EMISSIONS_ALREADY_REGISTERED = 8
EMISSIONS_NOT_REGISTERED = 13
EMISSIONS_WINDOW_NOT_AVAILABLE = 67
EMISSIONS_NOT_ENOUGH_FUNDS_FOR_FEE = 73
EMISSIONS_UNFULFILLED_NONCE_NOT_FOUND = 75
EMISSIONS_CANT_UPDATE_EMA_TWICE = 78

# sdk codespace (cosmos-sdk types/errors)
SDK_INSUFFICIENT_FUNDS = 5
SDK_OUT_OF_GAS = 11
SDK_INSUFFICIENT_FEE = 13
SDK_TX_IN_MEMPOOL_CACHE = 19
SDK_MEMPOOL_IS_FULL = 20
SDK_TX_TIMEOUT_HEIGHT = 30
SDK_WRONG_SEQUENCE = 32


class ChainError(Exception):
    """Base of every chain failure. `message` is redacted; `code`/`codespace` are the chain's."""

    handling = "see the class docstring"

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        codespace: str | None = None,
        txhash: str | None = None,
    ) -> None:
        self.message = redact(message)
        self.code = code
        self.codespace = codespace
        self.txhash = txhash
        super().__init__(self.message)

    def __str__(self) -> str:
        where = f" [{self.codespace}:{self.code}]" if self.code is not None else ""
        return f"{self.message}{where}"


class AlreadySubmitted(ChainError):
    handling = "done: the chain already holds our inference for this window"


class WindowClosed(ChainError):
    handling = "missed: the window is closed; move on to the next nonce"


class SequenceMismatch(ChainError):
    handling = "resync the account sequence (from the error or the account query), re-sign, retry"

    def __init__(self, message: str, *, expected: int | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.expected = expected


class InsufficientFee(ChainError):
    handling = "reprice (higher gas price) up to the fee cap, retry"

    def __init__(self, message: str, *, required: int | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.required = required


class FeeCapExceeded(ChainError):
    handling = "skip this attempt; the fee needed is above max_fee (raise it, or wait for cheaper gas)"


class OutOfGas(ChainError):
    handling = "raise the gas limit, retry"

    def __init__(self, message: str, *, gas_wanted: int | None = None, gas_used: int | None = None,
                 **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.gas_wanted = gas_wanted
        self.gas_used = gas_used


class Unavailable(ChainError):
    handling = "back off, then try the next endpoint"


class MempoolFull(Unavailable):
    pass


class DeadlineExceeded(Unavailable):
    pass


class ConfirmTimeout(ChainError):
    handling = "the tx was accepted but not seen in a block in time: keep it in flight, reconcile later"


class Superseded(ChainError):
    """Our signed tx is not in a block and its sequence is used by another tx: it can never land."""

    handling = "re-sign at the account's fresh sequence while the window is open"


class Rejected(ChainError):
    handling = "this attempt failed; retry while the window is open"


class WouldFail(Rejected):
    """Simulation ran the message and the chain said no: broadcasting would only burn the fee,
    because the message runs in the block (DeliverTx), after the fee is taken."""

    handling = "not broadcast (no fee spent); journal rejected, retry while the window is open"


class VersionMismatch(ChainError):
    """The node no longer knows our message's type URL: the chain upgraded its emissions version."""

    handling = "re-probe the node's emissions version, rebuild the message, retry"


class AlreadyRegistered(ChainError):
    handling = "done: the wallet is already registered in this topic"


class QueryFailed(ChainError):
    """The node answered a call with a non-transport gRPC error (NOT_FOUND, INVALID_ARGUMENT, ...)."""

    handling = "the node refused the call; retry next cycle (a bug or a version mismatch if it persists)"

    def __init__(self, message: str, *, status: str = "", grpc_message: str = "", **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.status = status
        self.grpc_message = redact(grpc_message)

    @property
    def not_found(self) -> bool:
        return self.status == "NOT_FOUND" or "not found" in self.grpc_message.lower()


class Fatal(ChainError):
    """No retry fixes this; the message tells the operator what to do."""

    handling = "stop and fix the configuration or the account"


class ChainIdMismatch(Fatal):
    pass


class NotRegistered(Fatal):
    pass


class TopicFatal(Fatal):
    """Fatal for one topic only: that topic's loop stops with one line; other topics go on."""

    handling = "this topic stops; the other topics go on"


class NotWhitelisted(TopicFatal):
    handling = "this topic stops: ask the topic's creator to add the wallet to its worker whitelist"


class OutOfFunds(Fatal):
    pass


class UnsupportedVersionError(Fatal):
    """The node serves an emissions version this worker has no adapter for."""


_EXPECTED_SEQ = re.compile(r"expected\s+(\d+)", re.IGNORECASE)
_REQUIRED_FEE = re.compile(r"required:?\s*(\d+)\s*[a-z]", re.IGNORECASE)
_GAS = re.compile(r"gaswanted:\s*(\d+).*?gasused:\s*(\d+)", re.IGNORECASE | re.DOTALL)


class _Where(TypedDict):
    """Where a failure came from: the keyword arguments every ChainError takes."""

    code: int | None
    codespace: str | None
    txhash: str | None


def classify(
    codespace: str | None, code: int | None, raw_log: str, *, txhash: str | None = None
) -> ChainError:
    """The class of a failed tx (code != 0) or a failed simulation (code may be None)."""
    cs = (codespace or "").lower()
    log = raw_log or ""
    low = log.lower()
    kw: _Where = {"code": code, "codespace": codespace, "txhash": txhash}

    if "unable to resolve type url" in low:
        return VersionMismatch(f"the node does not know this message type: {log}", **kw)
    if "not permitted to submit payload" in low or "whitelist" in low:
        # The chain's text (msg_server_worker_payload.go); matched first, before any code, because
        # its number is not pinned and every later window would fail the same way.
        return NotWhitelisted(
            f"the wallet is not permitted to submit to this topic ({log}); ask the topic creator to "
            "add it to the worker whitelist", **kw
        )
    if cs == EMISSIONS:
        if code == EMISSIONS_ALREADY_REGISTERED:
            return AlreadyRegistered(f"already registered: {log}", **kw)
        if code == EMISSIONS_CANT_UPDATE_EMA_TWICE:
            return AlreadySubmitted(f"already submitted for this window: {log}", **kw)
        if code in (EMISSIONS_WINDOW_NOT_AVAILABLE, EMISSIONS_UNFULFILLED_NONCE_NOT_FOUND):
            return WindowClosed(f"worker window closed: {log}", **kw)
        if code == EMISSIONS_NOT_ENOUGH_FUNDS_FOR_FEE:
            return OutOfFunds(
                f"the wallet cannot pay the topic's data fee ({log}); fund the wallet with uallo", **kw
            )
        if code == EMISSIONS_NOT_REGISTERED:
            return NotRegistered(
                f"the wallet is not registered as a worker in this topic ({log}); "
                "run: allora-worker register --topic <id>", **kw
            )
    if cs == SDK:
        if code == SDK_WRONG_SEQUENCE:
            m = _EXPECTED_SEQ.search(log)
            return SequenceMismatch(f"account sequence mismatch: {log}",
                                    expected=int(m.group(1)) if m else None, **kw)
        if code == SDK_INSUFFICIENT_FEE:
            m = _REQUIRED_FEE.search(log)
            return InsufficientFee(f"insufficient fee: {log}", required=int(m.group(1)) if m else None,
                                   **kw)
        if code == SDK_OUT_OF_GAS:
            m = _GAS.search(log)
            return OutOfGas(f"out of gas: {log}", gas_wanted=int(m.group(1)) if m else None,
                            gas_used=int(m.group(2)) if m else None, **kw)
        if code == SDK_MEMPOOL_IS_FULL:
            return MempoolFull(f"mempool full: {log}", **kw)
        if code == SDK_TX_TIMEOUT_HEIGHT:
            # Our timeout height is the window's last block: past it, the window is closed.
            return WindowClosed(f"the tx's timeout height (the window's end) has passed: {log}", **kw)
        if code == SDK_INSUFFICIENT_FUNDS:
            return OutOfFunds(f"the wallet cannot pay the tx fee ({log}); fund the wallet with uallo",
                              **kw)

    # Text fallbacks: simulation errors arrive as gRPC messages without a codespace, and a few chain
    # errors are plain `errors.New` (codespace "undefined").
    if "account sequence mismatch" in low:
        m = _EXPECTED_SEQ.search(log)
        return SequenceMismatch(f"account sequence mismatch: {log}",
                                expected=int(m.group(1)) if m else None, **kw)
    if "out of gas" in low:
        m = _GAS.search(log)
        return OutOfGas(f"out of gas: {log}", gas_wanted=int(m.group(1)) if m else None,
                        gas_used=int(m.group(2)) if m else None, **kw)
    if "insufficient fee" in low:
        m = _REQUIRED_FEE.search(log)
        return InsufficientFee(f"insufficient fee: {log}", required=int(m.group(1)) if m else None, **kw)
    if "already submitted" in low or "more than once per window" in low:
        return AlreadySubmitted(f"already submitted for this window: {log}", **kw)
    if "window not" in low or "nonce not found" in low or "window closed" in low:
        return WindowClosed(f"worker window closed: {log}", **kw)
    if "already registered" in low:
        return AlreadyRegistered(f"already registered: {log}", **kw)
    if "not registered" in low:
        return NotRegistered(
            f"the wallet is not registered as a worker in this topic ({log}); "
            "run: allora-worker register --topic <id>", **kw
        )
    if "insufficient funds" in low or "data sending fee" in low or "data fee" in low:
        return OutOfFunds(f"the wallet cannot pay ({log}); fund the wallet with uallo", **kw)
    if "mempool is full" in low:
        return MempoolFull(f"mempool full: {log}", **kw)
    return Rejected(f"tx rejected: {log}", **kw)
