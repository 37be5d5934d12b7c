"""Every engine implements the one `Backend` interface the runner uses."""

from evalkit.models.backend import Backend, has_local_weights
from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec


def test_hf_backend_implements_backend_and_local_weights(tiny_model_dir):
    arm = load_model(ModelSpec(base=str(tiny_model_dir)))
    assert isinstance(arm.backend, Backend)
    assert has_local_weights(arm.backend)
    assert arm.backend._tokenizer is None  # found without loading the tokenizer
    arm.backend.close()
    arm.backend.close()  # closing twice is allowed


def test_openai_backend_implements_backend_but_has_no_local_weights():
    arm = load_model(ModelSpec(backend="openai", base="served", base_url="http://127.0.0.1:9", model="m"))
    assert isinstance(arm.backend, Backend)
    assert not has_local_weights(arm.backend)
    arm.backend.close()
