"""Shared fixtures: no outbound network, a fake embedder, the real model once per session."""

from __future__ import annotations

import ipaddress
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from qa import Assistant, HashEmbedder, MiniLMEmbedder
from qa.entities import NoTagger

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
EVAL = ROOT / "eval"  # question sets, copied into the project so a clean clone is self-contained
IWAYA_DOC = "000_a07452a012145e1e.txt"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _is_local(address) -> bool:
    if isinstance(address, tuple):
        host = address[0]
    else:
        return True  # Unix sockets
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def block_network(monkeypatch):
    """The product must run offline: any connection off this machine fails the test."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded(self, address, *args):
        if not _is_local(address):
            raise RuntimeError(f"test tried to reach the network: {address}")
        return real_connect(self, address, *args)

    def guarded_ex(self, address, *args):
        if not _is_local(address):
            raise RuntimeError(f"test tried to reach the network: {address}")
        return real_connect_ex(self, address, *args)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_ex)
    yield


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A writable copy of the bundled corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def fake_assistant(corpus_copy, tmp_path) -> Assistant:
    """The five articles indexed with a deterministic bag-of-words embedder (fast, no torch)."""
    return Assistant(corpus_copy, tmp_path / "index", embedder=HashEmbedder(), tagger=NoTagger()).load()


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder().load()


@pytest.fixture(scope="session")
def real_assistant(minilm, tmp_path_factory) -> Assistant:
    """The five articles indexed with the real bundled model (built once per session)."""
    base = tmp_path_factory.mktemp("real")
    shutil.copytree(CORPUS, base / "corpus")
    return Assistant(base / "corpus", base / "index", embedder=minilm).load()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium driven by Playwright (never a browser Playwright downloads)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run scripts/test.sh, which installs it")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
