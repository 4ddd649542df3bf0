"""help(smipc.aio.Server) and friends explain every public name: what timeout means,
every keyword."""
import inspect

import pytest

import smipc.aio

CLASSES = [smipc.aio.Client, smipc.aio.Server]


def public(cls):
    return [n for n, _ in inspect.getmembers(cls) if not n.startswith("_")]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_public_name_has_its_own_docstring(cls):
    assert len(cls.__doc__) > 100
    for name in public(cls):
        member = inspect.getattr_static(cls, name)
        target = member.fget if isinstance(member, property) else getattr(member, "__func__",
                                                                             member)
        doc = inspect.getdoc(target)
        assert doc and doc != inspect.getdoc(object), f"{cls.__name__}.{name} has no docstring"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_timeout_is_explained(cls):
    for name in public(cls):
        fn = getattr(cls, name)
        if callable(fn) and "timeout" in inspect.signature(fn).parameters:
            doc = inspect.getdoc(fn)
            assert "seconds" in doc and "None" in doc and "Timeout" in doc, f"{cls.__name__}.{name}"


def test_the_module_says_what_timeouts_mean():
    doc = smipc.aio.__doc__
    assert "None (the default) waits for ever" in doc and "0" in doc and "cancelled" in doc


def test_connect_explains_its_keywords():
    doc = inspect.getdoc(smipc.aio.Client.connect)
    assert "timeout:" in doc and "wait:" in doc and "NotFound" in doc


def test_the_server_explains_every_keyword():
    doc = smipc.aio.Server.__doc__
    for keyword in ["max_clients", "packet_size", "ring_packets", "max_message_size",
                    "checksum", "allow_any_uid", "events"]:
        assert f"\n      {keyword} " in doc, keyword
