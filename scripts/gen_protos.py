"""Generate the worker's own protobuf types (src/allora_worker/chain/pb/) for the messages it uses.

    .venv/bin/python scripts/gen_protos.py          # rewrite the modules
    .venv/bin/python scripts/gen_protos.py --check  # exit 1 if they differ from what is committed

Why: the official `allora-sdk` wheel ships its betterproto2 types only inside the `allora_sdk`
package, whose `__init__` imports the SDK's whole worker stack (cosmpy, aiohttp, grpcio, requests,
websockets): about 1 s of CPU and 55 MB for a daemon that needs a few dozen messages. The wheel
ships no .proto files, so this script reads the protobuf schema the SDK's generated classes carry
(betterproto2 field metadata: number, wire type, oneof group, map, repeated/optional) and writes
plain betterproto2 dataclasses for the closure of the messages below, one module per protobuf
package. Every field of every reached message is kept, so a message round-trips byte for byte;
tests/chain/test_pb_wire.py checks the generated types against the SDK's on the wire.

To use another message or RPC, add it to ROOTS / RPCS and run the script.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import inspect
import re
import sys
import types
import typing
from datetime import datetime, timedelta
from importlib import import_module
from pathlib import Path

import betterproto2

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "allora_worker" / "chain" / "pb"
SDK = "allora_sdk.rpc_client.protos"
# Hand-written (they carry conversions to datetime/timedelta): see pb/google_protobuf.py.
HAND_WRITTEN = {"google.protobuf": ("Any", "Timestamp", "Duration")}

# Messages and enums the worker builds or reads directly: protobuf package -> names.
ROOTS: dict[str, tuple[str, ...]] = {
    "cosmos.base.v1beta1": ("Coin",),
    "cosmos.crypto.secp256k1": ("PubKey",),
    "cosmos.tx.signing.v1beta1": ("SignMode",),
    "cosmos.tx.v1beta1": ("AuthInfo", "BroadcastMode", "Fee", "ModeInfo", "ModeInfoSingle", "SignDoc",
                          "SignerInfo", "Tx", "TxBody", "TxRaw"),
    "cosmos.base.abci.v1beta1": ("TxResponse",),
    "emissions.v3": ("Nonce",),
    "emissions.v9": ("InputInference", "InputInferenceForecastBundle", "InputWorkerDataBundle",
                     "InsertWorkerPayloadRequest", "RegisterRequest"),
    "emissions.v10": ("InputInference", "InputInferenceForecastBundle", "InputLabeledValue",
                      "InputWorkerDataBundle", "InsertWorkerPayloadRequest", "RegisterRequest",
                      "TopicOutputArity"),
}

_EMISSIONS_QUERIES = ("get_params", "get_topic", "is_topic_active", "get_unfulfilled_worker_nonces",
                      "is_worker_nonce_unfulfilled", "get_worker_submission_window_status",
                      "can_submit_worker_payload", "is_worker_registered_in_topic_id", "get_inferer_score_ema",
                      "get_current_lowest_inferer_score", "get_network_inferences_at_block",
                      "get_inferences_at_block")
# RPCs the worker calls: (protobuf package, SDK stub class) -> method names.
RPCS: dict[tuple[str, str], tuple[str, ...]] = {
    ("cosmos.auth.v1beta1", "QueryStub"): ("account_info",),
    ("cosmos.bank.v1beta1", "QueryStub"): ("balance",),
    ("cosmos.base.tendermint.v1beta1", "ServiceStub"): ("get_node_info", "get_latest_block", "get_block_by_height"),
    ("cosmos.tx.v1beta1", "ServiceStub"): ("broadcast_tx", "get_tx", "get_txs_event", "simulate"),
    ("feemarket.feemarket.v1", "QueryStub"): ("gas_price",),
    ("emissions.v9", "QueryServiceStub"): (*_EMISSIONS_QUERIES, "get_worker_latest_inference_by_topic_id"),
    ("emissions.v10", "QueryServiceStub"): (*_EMISSIONS_QUERIES, "get_worker_latest_input_inference_by_topic_id"),
    # Older versions need no types: the version probe asks their parameters query by path and
    # does not decode the answer (chain/pb_light.py EmissionsProbeStub).
}

_TYPE_CONST = {getattr(betterproto2, name): f"betterproto2.{name}" for name in dir(betterproto2)
               if name.startswith("TYPE_") and isinstance(getattr(betterproto2, name), str)}
_ROUTE = re.compile(r'"(/[\w.]+/\w+)"')


def module_name(package: str) -> str:
    return package.replace(".", "_")


def sdk_module(package: str) -> types.ModuleType:
    return import_module(f"{SDK}.{package}")


def package_of(cls: type) -> str:
    return cls.__module__.removeprefix(SDK + ".")


class Generator:
    def __init__(self) -> None:
        self.types: dict[str, dict[str, type]] = {}  # package -> name -> SDK class
        self.rpcs: dict[str, list[tuple[str, str, list[tuple[str, str, type, type]]]]] = {}

    def add(self, cls: type) -> None:
        package = package_of(cls)
        if cls.__name__ in self.types.setdefault(package, {}):
            return
        self.types[package][cls.__name__] = cls
        if package in HAND_WRITTEN and cls.__name__ in HAND_WRITTEN[package]:
            return
        if issubclass(cls, enum.Enum):
            return
        for _, target in self.fields(cls):
            for ref in target:
                self.add(ref)

    def fields(self, cls: type) -> list[tuple[dataclasses.Field, list[type]]]:
        """Each dataclass field with the message/enum classes it refers to."""
        module = sys.modules[cls.__module__]
        hints = typing.get_type_hints(cls, vars(module))
        out = []
        for f in dataclasses.fields(cls):
            meta = f.metadata["betterproto"]
            refs: list[type] = []
            if meta.unwrap is not None:
                refs.append(meta.unwrap())
            refs += [t for t in _walk(hints[f.name]) if _is_proto(t)]
            if meta.map_meta is not None and meta.map_meta[1].unwrap is not None:
                refs.append(meta.map_meta[1].unwrap())
            out.append((f, refs))
        return out

    def add_rpc(self, package: str, stub_name: str, methods: tuple[str, ...]) -> None:
        stub = getattr(sdk_module(package), stub_name)
        entries = []
        for name in methods:
            method = getattr(stub, name)
            route = _ROUTE.search(inspect.getsource(method))
            assert route, f"{package}.{stub_name}.{name}: no route in the SDK's stub"
            # The stub's annotations name Deadline/MetadataLike only under TYPE_CHECKING: resolve
            # just the request and response names, in the stub's module.
            namespace = vars(sys.modules[stub.__module__])
            request = eval(method.__annotations__["message"].split(" | ")[0], namespace)
            response = eval(method.__annotations__["return"], namespace)
            self.add(request)
            self.add(response)
            entries.append((name, route.group(1), request, response))
        self.rpcs.setdefault(package, []).append((stub_name, stub.__doc__ or "", entries))

    # -- rendering ---------------------------------------------------------------------------

    def ref(self, cls: type, here: str) -> str:
        package = package_of(cls)
        return cls.__name__ if package == here else f"_{module_name(package)}.{cls.__name__}"

    def annotation(self, hint: object, here: str) -> str:
        if hint is type(None):
            return "None"
        if isinstance(hint, type) and _is_proto(hint):
            return self.ref(hint, here)
        if hint in (datetime, timedelta):
            return f"datetime.{hint.__name__}"
        if isinstance(hint, type):
            return hint.__name__
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (types.UnionType, typing.Union):
            return " | ".join(self.annotation(a, here) for a in args)
        if origin in (list, dict):
            return f"{origin.__name__}[{', '.join(self.annotation(a, here) for a in args)}]"
        raise TypeError(f"cannot render {hint!r}")

    def render_field(self, cls: type, f: dataclasses.Field, here: str) -> str:
        meta = f.metadata["betterproto"]
        hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
        args = [str(meta.number), _TYPE_CONST[meta.proto_type]]
        if meta.proto_type == betterproto2.TYPE_ENUM and not meta.repeated and not meta.optional and not meta.group:
            enum_cls = next(t for t in _walk(hints[f.name]) if isinstance(t, type) and issubclass(t, enum.Enum))
            args.append(f"default_factory=lambda: {self.ref(enum_cls, here)}(0)")
        if meta.map_meta is not None:
            key, value = meta.map_meta
            unwrap = f", unwrap_2=lambda: {self.ref(value.unwrap(), here)}" if value.unwrap else ""
            args.append(f"map_meta=betterproto2.map_meta({_TYPE_CONST[key.proto_type]}, "
                        f"{_TYPE_CONST[value.proto_type]}{unwrap})")
        if meta.group:
            args.append(f'group="{meta.group}"')
        if meta.unwrap is not None:
            args.append(f"unwrap=lambda: {self.ref(meta.unwrap(), here)}")
        if meta.optional:
            args.append("optional=True")
        if meta.repeated:
            args.append("repeated=True")
        return f'    {f.name}: "{self.annotation(hints[f.name], here)}" = betterproto2.field({", ".join(args)})'

    def render(self, package: str) -> str:
        classes = self.types.get(package, {})
        hand = HAND_WRITTEN.get(package, ())
        lines = [f'"""Protobuf package `{package}`: the messages the worker uses.',
                 "",
                 "Generated by scripts/gen_protos.py from the schema of allora-sdk's generated types; do not edit.",
                 '"""',
                 "",
                 "# ruff: noqa",  # generated: long lines, imports at the bottom, betterproto2.field defaults
                 # No `from __future__ import annotations`: betterproto2 evaluates these quoted
                 # annotations itself, in this module's namespace, as its own generated code expects.
                 "import datetime",
                 "from dataclasses import dataclass",
                 "from typing import TYPE_CHECKING",
                 "",
                 "import betterproto2",
                 "",
                 "if TYPE_CHECKING:",
                 "    from betterproto2.grpc.grpclib_client import MetadataLike",
                 "    from grpclib.metadata import Deadline",
                 ]
        lines += ["", ""]
        names = sorted(n for n in classes if n not in hand)
        for name in names:
            cls = classes[name]
            if issubclass(cls, enum.Enum):
                lines.append(f"class {name}(betterproto2.Enum):")
                for member in cls:
                    lines.append(f"    {member.name} = {int(member.value)}")
                proto_names = getattr(cls, "betterproto_proto_names", None)
                if proto_names:
                    lines.append("")
                    lines.append("    betterproto_proto_names = {")
                    for value, proto_name in sorted(proto_names.items()):
                        lines.append(f'        {value}: "{proto_name}",')
                    lines.append("    }")
            else:
                lines.append("@dataclass(eq=False, repr=False)")
                lines.append(f"class {name}(betterproto2.Message):")
                body = [self.render_field(cls, f, package) for f in dataclasses.fields(cls)]
                lines += body or ["    pass"]
            lines += ["", ""]
        for stub_name, _doc, entries in self.rpcs.get(package, []):
            lines.append(f"class {stub_name}(betterproto2.ServiceStub):")
            for name, route, request, response in entries:
                req, resp = self.ref(request, package), self.ref(response, package)
                lines += [
                    f"    async def {name}(",
                    f'        self, message: "{req} | None" = None, *, timeout: "float | None" = None,',
                    '        deadline: "Deadline | None" = None, metadata: "MetadataLike | None" = None,',
                    f'    ) -> "{resp}":',
                    f"        return await self._unary_unary(\"{route}\", message or {req}(), {resp},",
                    "                                       timeout=timeout, deadline=deadline, metadata=metadata)",
                    "",
                ]
            lines += ["", ""]
        others = ({package_of(t) for cls in classes.values() if not issubclass(cls, enum.Enum)
                         and cls.__name__ not in hand for _, refs in self.fields(cls) for t in refs}
                        | {package_of(t) for _, _, entries in self.rpcs.get(package, [])
                           for _, _, rq, rs in entries for t in (rq, rs)}) - {package}
        if others:
            # At the bottom, as betterproto2's own output does: packages may refer to each other.
            for other in sorted(others):
                lines.append(f"from allora_worker.chain.pb import {module_name(other)} as _{module_name(other)}")
        while lines and lines[-1] == "":
            lines.pop()
        return "\n".join(lines) + "\n"

    def registrations(self) -> str:
        """The type URL of every generated message (for Any), in pb/registry.py."""
        lines = ['"""Type URL -> generated message class, for decoding an Any.', "",
                 "Generated by scripts/gen_protos.py; do not edit.", '"""', "",
                 "# ruff: noqa", "from __future__ import annotations", "", "import betterproto2", ""]
        packages = sorted(self.types)
        for package in packages:
            lines.append(f"from allora_worker.chain.pb import {module_name(package)} as _{module_name(package)}")
        lines += ["", "TYPES: dict[str, type[betterproto2.Message]] = {"]
        for package in packages:
            for name, cls in sorted(self.types[package].items()):
                if not issubclass(cls, enum.Enum):
                    lines.append(f'    "/{package}.{name}": _{module_name(package)}.{name},')
        lines.append("}")
        return "\n".join(lines) + "\n"


def _walk(hint: object) -> list[object]:
    out = [hint]
    for arg in typing.get_args(hint):
        out += _walk(arg)
    return out


def _is_proto(t: object) -> bool:
    return isinstance(t, type) and issubclass(t, betterproto2.Message | betterproto2.Enum)


def build() -> dict[str, str]:
    gen = Generator()
    for package, names in ROOTS.items():
        module = sdk_module(package)
        for name in names:
            gen.add(getattr(module, name))
    for (package, stub), methods in RPCS.items():
        gen.add_rpc(package, stub, methods)
    files = {f"{module_name(p)}.py": gen.render(p) for p in gen.types if p != "google.protobuf"}
    files["registry.py"] = gen.registrations()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Exit 1 if the committed modules are stale.")
    args = parser.parse_args()
    files = build()
    stale = [name for name, text in files.items()
             if not (OUT / name).is_file() or (OUT / name).read_text() != text]
    generated = {p.name for p in OUT.glob("*.py")} - {"__init__.py", "google_protobuf.py"}
    extra = sorted(generated - set(files))
    if args.check:
        for name in stale + extra:
            print(f"stale: {OUT / name}", file=sys.stderr)
        return 1 if stale or extra else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name in extra:
        (OUT / name).unlink()
    for name, text in files.items():
        (OUT / name).write_text(text)
    print(f"wrote {len(files)} modules to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
