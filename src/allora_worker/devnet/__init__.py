"""A local Allora chain speaking the real gRPC protocol, for tests, the demo and benchmarks.

Depends on nothing else of the worker: the worker never knows it talks to a devnet.

    async with Devnet(DevnetConfig(block_time=0.05, accounts={addr: 10**21})) as dn:
        ...  # point any gRPC client at dn.grpc_url ("grpc+http://127.0.0.1:PORT")
        dn.accepted_inferences(67)

    with DevnetThread(config) as dn:   # same API from sync code, loop in a background thread
        ...
"""

from allora_worker.devnet.config import DEFAULT_CHAIN_ID, DevnetConfig, TopicConfig, topic_67
from allora_worker.devnet.faults import FaultPlan
from allora_worker.devnet.server import Devnet, DevnetThread
from allora_worker.devnet.state import AcceptedInference, ChainState, TxResult

__all__ = [
    "DEFAULT_CHAIN_ID",
    "AcceptedInference",
    "ChainState",
    "Devnet",
    "DevnetConfig",
    "DevnetThread",
    "FaultPlan",
    "TopicConfig",
    "TxResult",
    "topic_67",
]
