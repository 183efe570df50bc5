"""The public surface: `aetcd.__all__` is exactly the public names, all living in
`aetcd` (or a public subpackage), and no generated protobuf type leaks out."""

from __future__ import annotations

import dataclasses
import enum
import importlib
import importlib.metadata
import inspect
import pathlib
import pickle
import pkgutil
import types

import pytest

import aetcd
import aetcd._proto

PUBLIC_SUBPACKAGES = ("aetcd.testing", "aetcd.concurrency", "aetcd.naming", "aetcd.namespace")

# The foundation's contract (API.md): names that must exist whatever else is added.
REQUIRED = {
    "Client",
    "ClientConfig",
    "TLSConfig",
    "Compare",
    "Op",
    "SortOrder",
    "SortTarget",
    "KeyValue",
    "ResponseHeader",
    "PutResponse",
    "GetResponse",
    "DeleteResponse",
    "CompactResponse",
    "TxnResponse",
    "EtcdError",
    "ClientClosedError",
    "ConnectError",
    "DeadlineExceededError",
    "CompactedError",
    "FutureRevisionError",
    "EmptyKeyError",
    "RequestTooLargeError",
    "TooManyOpsError",
    "DuplicateKeyError",
    "LeaseNotFoundError",
    "LeaseExpiredError",
    "NoLeaderError",
    "AuthenticationFailedError",
    "PermissionDeniedError",
    "InvalidAuthTokenError",
    "AuthNotEnabledError",
    "LockTimeoutError",
    "WatchCanceledError",
    "NoSpaceError",
    "UnavailableError",
}


def _exported() -> dict[str, object]:
    return {name: getattr(aetcd, name) for name in aetcd.__all__}


def test_all_is_sorted_and_unique() -> None:
    assert aetcd.__all__ == sorted(aetcd.__all__)
    assert len(set(aetcd.__all__)) == len(aetcd.__all__)


def test_every_name_exists_and_is_public() -> None:
    for name in aetcd.__all__:
        assert hasattr(aetcd, name), name
        assert not name.startswith("_"), name


def test_all_is_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(aetcd).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(aetcd.__all__)


def test_required_names_are_exported() -> None:
    assert set(aetcd.__all__) >= REQUIRED


def _is_public_module(module: str) -> bool:
    return module == "aetcd" or (
        module.startswith(PUBLIC_SUBPACKAGES)
        and not any(part.startswith("_") for part in module.split("."))
    )


def test_public_classes_live_in_the_package() -> None:
    for name, value in _exported().items():
        if inspect.isclass(value) or inspect.isfunction(value):
            assert _is_public_module(value.__module__), (name, value.__module__)


def _proto_objects() -> set[int]:
    ids: set[int] = set()
    for info in pkgutil.walk_packages(aetcd._proto.__path__, "aetcd._proto."):
        module = importlib.import_module(info.name)
        ids.update(id(value) for value in vars(module).values() if inspect.isclass(value))
    return ids


def test_nothing_from_proto_is_exported() -> None:
    proto = _proto_objects()
    assert proto, "aetcd._proto defines no classes?"
    import betterproto2

    for name, value in _exported().items():
        assert id(value) not in proto, name
        module = getattr(value, "__module__", "") or ""
        assert not module.startswith("aetcd._proto"), name
        if inspect.isclass(value):
            assert not issubclass(value, betterproto2.Message), name


def test_result_types_are_immutable_and_proto_free() -> None:
    import betterproto2

    for name in (
        "KeyValue",
        "ResponseHeader",
        "PutResponse",
        "GetResponse",
        "DeleteResponse",
        "CompactResponse",
        "TxnResponse",
    ):
        cls = getattr(aetcd, name)
        assert dataclasses.is_dataclass(cls), name
        assert cls.__dataclass_params__.frozen, name  # type: ignore[attr-defined]
        for field in dataclasses.fields(cls):
            hint = str(field.type)
            assert "pb." not in hint, (name, field.name, hint)
            assert "betterproto" not in hint, (name, field.name, hint)
        assert not issubclass(cls, betterproto2.Message)


def test_builders_do_not_expose_protobuf() -> None:
    # Compare and Op are public frozen dataclasses: their fields are user-visible and
    # must not be generated protobuf messages either.
    import betterproto2

    compare = aetcd.Compare.value("k") == "v"
    op = aetcd.Op.get("k")
    for value in (compare, op):
        for field in dataclasses.fields(value):
            if field.name.startswith("_"):
                continue
            attribute = getattr(value, field.name)
            assert not isinstance(attribute, betterproto2.Message), (
                type(value).__name__,
                field.name,
                type(attribute),
            )


def test_enums() -> None:
    assert issubclass(aetcd.SortOrder, enum.Enum)
    assert issubclass(aetcd.SortTarget, enum.Enum)
    assert [m.name for m in aetcd.SortOrder] == ["NONE", "ASCEND", "DESCEND"]
    assert [m.name for m in aetcd.SortTarget] == ["KEY", "VERSION", "CREATE", "MOD", "VALUE"]


def test_every_exception_is_an_etcd_error() -> None:
    for name, value in _exported().items():
        if inspect.isclass(value) and issubclass(value, BaseException):
            assert issubclass(value, aetcd.EtcdError), name
            assert name.endswith("Error"), name


@pytest.mark.parametrize(
    "value",
    [
        aetcd.KeyValue(b"k", b"v", 1, 2, 3, 4),
        aetcd.GetResponse(
            aetcd.ResponseHeader(1, 2, 3, 4), (aetcd.KeyValue(b"k", b"", 1, 1, 1, 0),), 1, False
        ),
        aetcd.SortOrder.DESCEND,
    ],
    ids=["KeyValue", "GetResponse", "SortOrder"],
)
def test_public_objects_pickle_under_their_public_names(value: object) -> None:
    assert pickle.loads(pickle.dumps(value)) == value
    assert b"aetcd._" not in pickle.dumps(value)


def test_version_matches_the_distribution() -> None:
    assert aetcd.__version__ == importlib.metadata.version("aetcd")


def test_py_typed_is_shipped() -> None:
    assert (pathlib.Path(aetcd.__file__).parent / "py.typed").is_file()
