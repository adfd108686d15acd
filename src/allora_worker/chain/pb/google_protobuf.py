"""The three well-known types the worker's messages use: Any, Timestamp and Duration.

Written by hand (not generated) because betterproto2 hands Timestamp and Duration fields to Python
as datetime / timedelta through `from_wrapped` / `to_wrapped`, which these classes provide. The wire
format is google/protobuf/{any,timestamp,duration}.proto: fields 1 and 2 below.
"""

# ruff: noqa: RUF009  (betterproto2 fields are dataclass defaults)
import datetime
from dataclasses import dataclass

import betterproto2

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


@dataclass(eq=False, repr=False)
class Any(betterproto2.Message):
    type_url: "str" = betterproto2.field(1, betterproto2.TYPE_STRING)
    value: "bytes" = betterproto2.field(2, betterproto2.TYPE_BYTES)


@dataclass(eq=False, repr=False)
class Timestamp(betterproto2.Message):
    seconds: "int" = betterproto2.field(1, betterproto2.TYPE_INT64)
    nanos: "int" = betterproto2.field(2, betterproto2.TYPE_INT32)

    @classmethod
    def from_datetime(cls, moment: datetime.datetime) -> "Timestamp":
        if moment.tzinfo is None:
            raise ValueError("datetime must be timezone aware")
        # Integer microseconds from the epoch: no float rounding, and times before 1970 work.
        micros = (moment - _EPOCH) // _MICROSECOND
        seconds, rest = divmod(micros, 10**6)
        return cls(seconds=seconds, nanos=rest * 1000)

    def to_datetime(self) -> datetime.datetime:
        return _EPOCH + datetime.timedelta(seconds=self.seconds, microseconds=self.nanos // 1000)

    @staticmethod
    def from_wrapped(wrapped: datetime.datetime) -> "Timestamp":
        return Timestamp.from_datetime(wrapped)

    def to_wrapped(self) -> datetime.datetime:
        return self.to_datetime()


@dataclass(eq=False, repr=False)
class Duration(betterproto2.Message):
    seconds: "int" = betterproto2.field(1, betterproto2.TYPE_INT64)
    nanos: "int" = betterproto2.field(2, betterproto2.TYPE_INT32)

    @classmethod
    def from_timedelta(cls, delta: datetime.timedelta) -> "Duration":
        micros = delta // _MICROSECOND
        # protobuf: seconds and nanos carry the same sign (truncate toward zero)
        seconds = int(micros / 10**6)
        return cls(seconds=seconds, nanos=(micros - seconds * 10**6) * 1000)

    def to_timedelta(self) -> datetime.timedelta:
        return datetime.timedelta(seconds=self.seconds, microseconds=self.nanos // 1000)

    @staticmethod
    def from_wrapped(wrapped: datetime.timedelta) -> "Duration":
        return Duration.from_timedelta(wrapped)

    def to_wrapped(self) -> datetime.timedelta:
        return self.to_timedelta()
