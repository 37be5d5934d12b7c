"""Rendered prompts from the cache are the tokenizer's own renderings, bit for bit; changed inputs miss."""

from __future__ import annotations

import pytest

from evalkit.cache import GenerationCache
from evalkit.models.hf_loading import load_tokenizer
from evalkit.models.loader import load_model
from evalkit.models.prompting import as_messages
from evalkit.models.spec import ModelSpec
from evalkit.runner.render_cache import render_all, render_texts, renderer_identity
from evalkit.suite.loader import load_suite

SHIPPED = ("support-triage", "general-knowledge", "ifeval-lite", "support-replies")


class _NoTokenizer:
    """A backend stand-in whose tokenizer must not be needed (every render comes from the cache)."""

    def __init__(self, backend):
        self.spec, self.base_dir = backend.spec, backend.base_dir

    def render(self, _):
        raise AssertionError("rendered again on a warm cache")

    @property
    def tokenizer(self):
        raise AssertionError("the tokenizer was loaded on a warm cache")


@pytest.fixture()
def cache(tmp_path):
    opened = GenerationCache(tmp_path / "cache.sqlite")
    yield opened
    opened.close()


def _model_dirs(tiny_model_dir):
    dirs = [tiny_model_dir]
    try:
        from evalkit.models.registry import model_path

        dirs.append(model_path("smollm2-135m-instruct"))  # the default model, where it is pulled
    except Exception:  # noqa: BLE001 - not pulled here: the tiny model's template still runs
        pass
    return dirs


@pytest.mark.parametrize("system_prompt", [None, "You are a careful assistant."])
def test_cached_renders_equal_apply_chat_template_on_shipped_suites(tiny_model_dir, cache, system_prompt,
                                                                     isolated_home):
    for model_dir in _model_dirs(tiny_model_dir):
        arm = load_model(ModelSpec(base=str(model_dir), chat_template="auto", system_prompt=system_prompt))
        tokenizer = load_tokenizer(str(model_dir))
        for name in SHIPPED:
            suite = load_suite(name, build_scorers=False)
            inputs = {s.id: suite.render_prompt(s) for s in suite.samples}
            cold, cold_warnings = render_all(arm.backend, inputs, 128, name, cache=cache)
            warm, warm_warnings = render_all(_NoTokenizer(arm.backend), inputs, 128, name, cache=cache)
            expected = {sid: tokenizer.apply_chat_template(as_messages(value, system_prompt), tokenize=False,
                                                           add_generation_prompt=True)
                        for sid, value in inputs.items()}
            assert warm == cold == expected, (model_dir, name)
            assert warm_warnings == cold_warnings


def test_token_counts_and_context_warning_come_back(tiny_model_dir, cache, isolated_home):
    arm = load_model(ModelSpec(base=str(tiny_model_dir), chat_template="auto"))
    inputs = {"short": "hi", "long": "word " * 5000}
    cold = render_all(arm.backend, inputs, 16, "s", cache=cache)
    warm = render_all(_NoTokenizer(arm.backend), inputs, 16, "s", cache=cache)
    assert warm == cold and len(cold[1]) == 1 and "1 of 2 sample(s)" in cold[1][0]


def test_changed_template_or_system_prompt_or_tokenizer_misses(tiny_model_dir, tmp_path, cache,
                                                              isolated_home):
    base = load_model(ModelSpec(base=str(tiny_model_dir), chat_template="auto")).backend
    identity = renderer_identity(base)
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    other = load_model(ModelSpec(base=str(tiny_model_dir), chat_template=str(template))).backend
    prompted = load_model(ModelSpec(base=str(tiny_model_dir), system_prompt="Be brief.")).backend
    assert len({identity, renderer_identity(other), renderer_identity(prompted)}) == 3
    render_texts(other, ["hello"], cache)
    template.write_text("{% for m in messages %}[{{ m['content'] }}]{% endfor %}")
    edited = load_model(ModelSpec(base=str(tiny_model_dir), chat_template=str(template))).backend
    assert render_texts(edited, ["hello"], cache) == ["[hello]"]
    copy = tmp_path / "model"
    copy.mkdir()
    for path in tiny_model_dir.iterdir():
        copy.joinpath(path.name).write_bytes(path.read_bytes())
    config = copy / "tokenizer_config.json"
    config.write_text(config.read_text() + "\n")  # same settings, other bytes
    moved = load_model(ModelSpec(base=str(copy), chat_template="auto")).backend
    assert renderer_identity(moved) != identity  # a tokenizer file changed


def test_clock_reading_templates_are_never_cached(tiny_model_dir, tmp_path, cache, isolated_home):
    template = tmp_path / "dated.jinja"
    template.write_text("Today is {{ strftime_now('%d %B %Y') }}. {{ messages[0]['content'] }}")
    backend = load_model(ModelSpec(base=str(tiny_model_dir), chat_template=str(template))).backend
    assert renderer_identity(backend) is None
    render_texts(backend, ["hello"], cache)
    assert cache.stats().tables["renders"] == 0
