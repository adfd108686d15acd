"""chain/pb_light.py's partial GetLatestBlock answer reads what the full generated types read.

A mainnet-sized answer (both copies of the block, a 100-validator commit, transactions) is built
with the full types in chain/pb and parsed with the header-only view: chain id and height must be
the ones the full parse gives, for `sdk_block` and for the deprecated `block` an older node fills
alone, and every skipped field must really be absent from the view.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

import pytest

from allora_worker.chain.pb import cosmos_base_tendermint_v1beta1 as tm
from allora_worker.chain.pb import tendermint_types as tt
from allora_worker.chain.pb_light import HeaderIds, LatestBlockHeader, latest_header

NOW = datetime.datetime(2026, 11, 30, 5, 0, tzinfo=datetime.UTC)


def _block(block_type: type, header_type: type, chain_id: str, height: int) -> object:
    sigs = [tt.CommitSig(block_id_flag=tt.BlockIdFlag(2), validator_address=bytes([i]) * 20, timestamp=NOW,
                         signature=bytes([i]) * 64) for i in range(100)]
    header = header_type(chain_id=chain_id, height=height, time=NOW, app_hash=b"\x07" * 32,
                         last_block_id=tt.BlockId(hash=b"\x05" * 32))
    return block_type(header=header, data=tt.Data(txs=[b"\x0a" * 600] * 10),
                      last_commit=tt.Commit(height=height - 1, block_id=tt.BlockId(hash=b"\x06" * 32),
                                            signatures=sigs))


@pytest.mark.parametrize("which", ["both", "sdk_block", "block"])
def test_header_view_reads_chain_id_and_height_as_the_full_parse(which: str) -> None:
    full = tm.GetLatestBlockResponse(block_id=tt.BlockId(hash=b"\x01" * 32))
    if which in ("both", "block"):
        full.block = _block(tt.Block, tt.Header, "allora-mainnet-1", 7_654_321)  # type: ignore[assignment]
    if which in ("both", "sdk_block"):
        full.sdk_block = _block(tm.Block, tm.Header, "allora-mainnet-1", 7_654_321)  # type: ignore[assignment]
    raw = bytes(full)
    assert len(raw) > 15_000  # one copy of a 100-validator block: a full decode costs ~2.5 ms

    reference = tm.GetLatestBlockResponse.parse(raw)
    view = LatestBlockHeader.parse(raw)
    for name in ("block", "sdk_block"):
        ref_block, view_block = getattr(reference, name), getattr(view, name)
        assert (view_block is None) == (ref_block is None)
        if ref_block is not None:
            assert (view_block.header.chain_id, view_block.header.height, view_block.header.time) == (
                ref_block.header.chain_id, ref_block.header.height, ref_block.header.time) == (
                "allora-mainnet-1", 7_654_321, NOW)
    # The header a poll reads, whichever copy the node filled (an older node: only `block`).
    header = latest_header(view)
    assert header is not None and (header.chain_id, header.height) == ("allora-mainnet-1", 7_654_321)
    # The view declares the header ids and time, nothing else: the commit and transactions are skipped.
    assert [f.name for f in dataclasses.fields(HeaderIds)] == ["chain_id", "height", "time"]


@pytest.mark.parametrize("version", [4, 5, 6, 7, 8, 9, 10])
def test_the_version_probe_asks_the_generated_stubs_path_and_skips_the_whole_answer(version: int) -> None:
    import inspect
    from importlib import import_module

    from allora_worker.chain.pb_light import Unread, params_path

    # The SDK's generated types (ours keep only v9 and v10, the versions the worker speaks).
    module = import_module(f"allora_sdk.rpc_client.protos.emissions.v{version}")
    # The probe's path is the generated stub's (which follows the chain's proto package and service).
    assert f'"{params_path(version)}"' in inspect.getsource(module.QueryServiceStub.get_params)
    assert bytes(Unread()) == bytes(module.GetParamsRequest()) == b""
    params_type = next(t for t in typing.get_args(typing.get_type_hints(module.GetParamsResponse)["params"])
                       if t is not type(None))
    params = params_type(version="v0.x", max_serialized_msg_length=7, min_topic_weight="0.5")
    answer = bytes(module.GetParamsResponse(params=params))
    assert len(answer) > 10
    assert Unread.parse(answer) == Unread()


def test_the_tx_lookup_reads_every_scalar_of_the_full_tx_response() -> None:
    from allora_worker.chain.pb import cosmos_base_abci_v1beta1 as abci
    from allora_worker.chain.pb import cosmos_tx_v1beta1 as txpb
    from allora_worker.chain.pb import google_protobuf as gp
    from allora_worker.chain.pb import tendermint_abci as ta
    from allora_worker.chain.pb_light import TxLookup, TxResult

    events = [ta.Event(type=f"t{i}", attributes=[ta.EventAttribute(key=f"k{j}", value="v" * 40, index=True)
                                                 for j in range(5)]) for i in range(30)]
    result = abci.TxResponse(height=7_654_321, txhash="AB" * 32, codespace="emissions", code=78, data="0A0B",
                             raw_log="already submitted", info="i", gas_wanted=200_000, gas_used=150_001,
                             tx=gp.Any(type_url="/cosmos.tx.v1beta1.Tx", value=b"\x01" * 500),
                             timestamp="2026-11-30T00:00:00Z", events=events)
    raw = bytes(txpb.GetTxResponse(tx=txpb.Tx(), tx_response=result))
    assert len(raw) > 8_000  # ~2.4 ms CPU to decode whole

    view = TxLookup.parse(raw).tx_response
    full = txpb.GetTxResponse.parse(raw).tx_response
    assert view is not None and full is not None
    names = [f.name for f in dataclasses.fields(TxResult)]
    assert {n: getattr(view, n) for n in names} == {n: getattr(full, n) for n in names}
    assert {n: getattr(full, n) for n in names}["gas_used"] == 150_001
    # Left out on purpose: the per-event and per-message details and the tx bytes.
    assert set(f.name for f in dataclasses.fields(abci.TxResponse)) - set(names) == {"logs", "tx", "events"}


def test_latest_header_prefers_sdk_block_and_is_none_without_one() -> None:
    sdk = tm.Block(header=tm.Header(chain_id="new", height=2))
    legacy = tt.Block(header=tt.Header(chain_id="old", height=1))
    view = LatestBlockHeader.parse(bytes(tm.GetLatestBlockResponse(block=legacy, sdk_block=sdk)))
    assert latest_header(view) is not None and latest_header(view).chain_id == "new"  # type: ignore[union-attr]
    # An sdk_block without a header gives way to block's (what `sdk_block or block` did).
    view = LatestBlockHeader.parse(bytes(tm.GetLatestBlockResponse(block=legacy, sdk_block=tm.Block())))
    assert latest_header(view) is not None and latest_header(view).chain_id == "old"  # type: ignore[union-attr]
    assert latest_header(LatestBlockHeader.parse(b"")) is None
