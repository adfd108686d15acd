"""ABCI result codes and log texts, in the formats the Cosmos SDK and the emissions module use.

Clients classify failures by (codespace, code) and sometimes by raw_log substrings (the official SDK
matches "account sequence mismatch", "insufficient fees", "out of gas"), so the texts follow the
real chain's wording.
"""

from __future__ import annotations

from dataclasses import dataclass

SDK = "sdk"
EMISSIONS = "emissions"
# A plain `errors.New` in a message server has no codespace: ABCI reports code 1, "undefined".
UNDEFINED = "undefined"
UNDEFINED_CODE = 1

# cosmos-sdk types/errors
TX_DECODE = 2
UNAUTHORIZED = 4
INSUFFICIENT_FUNDS = 5
UNKNOWN_REQUEST = 6
INVALID_ADDRESS = 7
INVALID_PUBKEY = 8
UNKNOWN_ADDRESS = 9
OUT_OF_GAS = 11
INSUFFICIENT_FEE = 13
INVALID_REQUEST = 18
INVALID_TYPE = 29
TX_IN_MEMPOOL_CACHE = 19
MEMPOOL_IS_FULL = 20
TX_TIMEOUT_HEIGHT = 30
WRONG_SEQUENCE = 32

# emissions module (x/emissions/types/errors.go)
E_INVALID_TOPIC_ID = 6
E_ADDRESS_ALREADY_REGISTERED = 8
E_ADDRESS_NOT_REGISTERED = 13
E_TOPIC_DOES_NOT_EXIST = 23
E_SIGNATURE_VERIFICATION_FAILED = 47
E_REGISTRANT_NOT_ENOUGH_DENOM = 48
E_INVALID_VALUE = 52
E_WORKER_NONCE_WINDOW_NOT_AVAILABLE = 67
E_NOT_ENOUGH_FUNDS_FOR_DATA_FEE = 73
E_UNFULFILLED_NONCE_NOT_FOUND = 75
E_CANT_UPDATE_EMA_MORE_THAN_ONCE_PER_WINDOW = 78
# ErrNotPermittedToSubmitWorkerPayload: its text is confirmed from msg_server_worker_payload.go, its
# number is not (the fetched errors.go predates it); clients must match the text, as the Go
# offchain node does ("not permitted to submit payload").
E_NOT_PERMITTED_TO_SUBMIT_WORKER_PAYLOAD = 92
# Label errors (ErrTooManyLabelsPerSubmission, ErrInvalidLabelName, ErrLabelNotInWhitelist): names
# confirmed from x/emissions/types/validations.go, numbers not (see docs/PROTOCOL.md).
E_TOO_MANY_LABELS = 93
E_INVALID_LABEL = 94
E_LABEL_NOT_IN_WHITELIST = 95


@dataclass(frozen=True)
class TxFailure(Exception):
    """A tx rejected by CheckTx or failed in DeliverTx: what ends up in TxResponse."""

    codespace: str
    code: int
    log: str

    def __str__(self) -> str:
        return f"{self.codespace}/{self.code}: {self.log}"


def sdk_error(code: int, log: str) -> TxFailure:
    return TxFailure(SDK, code, log)


def emissions_error(code: int, log: str) -> TxFailure:
    return TxFailure(EMISSIONS, code, log)


def msg_failure(index: int, failure: TxFailure) -> TxFailure:
    """DeliverTx wraps a message error with its index, as baseapp does."""
    return TxFailure(
        failure.codespace, failure.code, f"failed to execute message; message index: {index}: {failure.log}"
    )


def undefined_error(log: str) -> TxFailure:
    return TxFailure(UNDEFINED, UNDEFINED_CODE, log)
