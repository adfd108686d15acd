"""The worker's own protobuf types (chain/pb, from scripts/gen_protos.py) match the SDK's on the wire.

Every generated message is filled with a non-default value in every field (nested messages, repeated
fields, maps, one member of each oneof), serialized, parsed by the SDK's class of the same type URL,
and serialized again: the bytes must be identical both ways. The schema (field numbers, wire types,
repeated/optional, oneof groups, target types) is compared field by field, and the committed modules
must be what the generator writes today.
"""

from __future__ import annotations

import dataclasses
import datetime
import subprocess
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

import betterproto2
import pytest

from allora_worker.chain.pb.registry import TYPES

ROOT = Path(__file__).resolve().parents[2]
SDK = "allora_sdk.rpc_client.protos"
SCALARS: dict[str, Any] = {
    betterproto2.TYPE_BOOL: True, betterproto2.TYPE_STRING: "v", betterproto2.TYPE_BYTES: b"\x01\x02",
    betterproto2.TYPE_FLOAT: 1.5, betterproto2.TYPE_DOUBLE: 2.25,
}


def sdk_class(url: str) -> type[betterproto2.Message]:
    package, _, name = url[1:].rpartition(".")
    return getattr(import_module(f"{SDK}.{package}"), name)


def url_of(cls: type) -> str:
    module = cls.__module__
    ours = not module.startswith(SDK)
    package = module.rsplit(".", 1)[1].replace("_", ".") if ours else module.removeprefix(SDK + ".")
    return f"/{package}.{cls.__name__}"


def target(cls: type, field: dataclasses.Field) -> type | None:
    meta = field.metadata["betterproto"]
    if meta.unwrap is not None:
        return meta.unwrap()
    if meta.proto_type not in (betterproto2.TYPE_MESSAGE, betterproto2.TYPE_ENUM):
        return None
    return cls._betterproto.cls_by_field[field.name]


def sample(cls: type[betterproto2.Message], depth: int = 0) -> betterproto2.Message:
    """An instance of `cls` with every field set to a non-default value (one member per oneof)."""
    values: dict[str, Any] = {}
    groups: set[str] = set()
    for field in dataclasses.fields(cls):
        meta = field.metadata["betterproto"]
        if meta.group:
            if meta.group in groups:
                continue
            groups.add(meta.group)
        if meta.map_meta is not None:
            key, val = meta.map_meta
            values[field.name] = {_scalar(key.proto_type, cls, field, key=True): _scalar(val.proto_type, cls, field)}
            continue
        one = _value(cls, field, depth)
        if one is None:
            continue
        values[field.name] = [one, one] if meta.repeated else one
    return cls(**values)


def _value(cls: type, field: dataclasses.Field, depth: int) -> Any:
    meta = field.metadata["betterproto"]
    if meta.unwrap is not None:
        wrapped = meta.unwrap()
        if wrapped.__name__ == "Timestamp":
            return datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC)
        if wrapped.__name__ == "Duration":
            return datetime.timedelta(seconds=3, microseconds=250)
        raise AssertionError(f"unexpected wrapped type {wrapped}")
    if meta.proto_type == betterproto2.TYPE_MESSAGE:
        return sample(target(cls, field), depth + 1) if depth < 6 else None
    return _scalar(meta.proto_type, cls, field)


def _scalar(proto_type: str, cls: type, field: dataclasses.Field, key: bool = False) -> Any:
    if proto_type == betterproto2.TYPE_ENUM:
        enum_cls = target(cls, field)
        return list(enum_cls)[-1]
    if proto_type in SCALARS:
        return "k" if key and proto_type == betterproto2.TYPE_STRING else SCALARS[proto_type]
    return 7  # every integer type


def schema(cls: type) -> list[tuple[Any, ...]]:
    rows = []
    for field in dataclasses.fields(cls):
        meta = field.metadata["betterproto"]
        ref = target(cls, field)
        rows.append((field.name, meta.number, meta.proto_type, bool(meta.repeated), bool(meta.optional),
                     meta.group, None if meta.map_meta is None else tuple(m.proto_type for m in meta.map_meta),
                     None if ref is None else url_of(ref)))
    return rows


@pytest.mark.parametrize("url", sorted(TYPES))
def test_same_schema_and_same_bytes_as_the_sdk(url: str) -> None:
    ours, theirs = TYPES[url], sdk_class(url)
    assert schema(ours) == schema(theirs)
    message = sample(ours)
    data = bytes(message)
    parsed = theirs.parse(data)
    assert bytes(parsed) == data
    assert bytes(ours.parse(bytes(parsed))) == data


def test_enums_have_the_sdks_members() -> None:
    from allora_worker.chain.pb import cosmos_tx_signing_v1beta1, cosmos_tx_v1beta1, emissions_v10

    for ours in (cosmos_tx_v1beta1.BroadcastMode, cosmos_tx_signing_v1beta1.SignMode, emissions_v10.TopicOutputArity):
        theirs = getattr(import_module(f"{SDK}.{url_of(ours)[1:].rpartition('.')[0]}"), ours.__name__)
        assert {m.name: int(m) for m in ours} == {m.name: int(m) for m in theirs}


def test_rpc_routes_are_the_sdks() -> None:
    """Each generated stub method calls the same gRPC path, with the same request/response types."""
    import inspect
    import re

    from allora_worker.chain.pb import registry

    checked = 0
    for module_name in {cls.__module__ for cls in registry.TYPES.values()}:
        module = sys.modules[module_name]
        for stub_name in ("QueryStub", "QueryServiceStub", "ServiceStub"):
            ours = getattr(module, stub_name, None)
            if ours is None:
                continue
            package = module_name.rsplit(".", 1)[1].replace("_", ".")
            theirs = getattr(import_module(f"{SDK}.{package}"), stub_name)
            for name, method in inspect.getmembers(ours, inspect.iscoroutinefunction):
                if name.startswith("_"):
                    continue
                route = re.compile(r'"(/[\w.]+/\w+)"')
                assert route.search(inspect.getsource(method)).group(1) == \
                    route.search(inspect.getsource(getattr(theirs, name))).group(1)
                checked += 1
    assert checked >= 20


def test_generated_modules_are_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
