"""BackendLM plumbing: lm-eval requests delegated to an evalkit Backend (fake at the Backend boundary)."""

from types import SimpleNamespace

import pytest

from evalkit.errors import ConfigError
from evalkit.lmeval.backend_lm import BackendLM, split_pair


class _FakeBackend:
    def __init__(self):
        self.seen = None

    def loglikelihood(self, requests, batch_size=None):
        self.seen = requests
        return [(-1.5, True) for _ in requests]


def test_split_pair_moves_trailing_whitespace():
    assert split_pair("Q: a ", "b") == ("Q: a", " b")
    assert split_pair("Q:", " b") == ("Q:", " b")


def test_loglikelihood_delegates_to_backend():
    backend = _FakeBackend()
    lm = BackendLM(backend, tokenizer=None, name="org/model")
    out = lm.loglikelihood([SimpleNamespace(args=("ctx ", "x"))])
    assert out == [(-1.5, True)]
    assert backend.seen == [("ctx", " x")]
    assert lm.tokenizer_name == "org__model"


def test_generation_refused_clearly():
    lm = BackendLM(_FakeBackend(), tokenizer=None, name="m")
    with pytest.raises(ConfigError):
        lm.generate_until([])
    with pytest.raises(ConfigError):
        lm.loglikelihood_rolling([])
