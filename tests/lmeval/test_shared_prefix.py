"""Shared-prefix log-likelihoods equal plain HFLM's, and really skip the shared work."""

from __future__ import annotations

import warnings

import pytest
from lmeval_support import MC_ROWS, write_task_suite

from evalkit.lmeval.adapter import build_hflm
from evalkit.lmeval.runner import run_lm_eval_suite
from evalkit.lmeval.shared_prefix import MIN_SHARED_TOKENS, first_needed_position, shareable_prefix
from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec
from evalkit.runner.store import read_jsonl_tolerant

SYSTEM = ("You answer trivia questions for a pub quiz. Think about the question, then answer with the "
          "single best choice, spelled exactly as given, without any explanation or extra words.")


def _requests(tokenizer, contexts: list[str], continuations: list[str]):
    out = []
    for context in contexts:
        for continuation in continuations:
            ctx, cont = (tokenizer.encode(text, add_special_tokens=False) for text in (context, continuation))
            out.append(((context, continuation), ctx, cont))
    return out


def _models(model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return build_hflm(model, tokenizer, 4), build_hflm(model, tokenizer, 4, share_prefix=True), tokenizer


def test_helpers_follow_hflm_row_layout():
    assert first_needed_position([1, 2, 3], [4, 5], max_length=100) == 2  # row 1 2 3 4; logits of 3, 4
    assert first_needed_position(list(range(10)), [10, 11], max_length=6) == 4  # truncated from the left
    assert shareable_prefix([([1, 2, 3, 4], [9]), ([1, 2, 3, 5, 6], [7])], 100) == [1, 2, 3]
    # one context, continuations sharing a first token: never past the last context token
    assert shareable_prefix([([1, 2, 3], [4, 5]), ([1, 2, 3], [4, 6])], 100) == [1, 2]
    assert shareable_prefix([([1, 2, 3], [4])], 100) == [1, 2]  # the logits at token 3 score 4
    assert shareable_prefix([([1, 2, 3], [4]), ([2, 2, 3], [4])], 100) == []
    assert shareable_prefix([], 100) == []


def test_scores_equal_plain_hflm_and_skip_the_shared_prefix(tiny_model_dir):
    plain, shared, tokenizer = _models(tiny_model_dir)
    contexts = [f"{SYSTEM}\nQuestion: {row['question']}\nAnswer:" for row in MC_ROWS]
    requests = _requests(tokenizer, contexts, [" Paris", " Mars", " eight", " 100"])
    expected = plain._loglikelihood_tokens(requests)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # transformers' past_key_values notice stays silent
        got = shared._loglikelihood_tokens(requests)
    assert len(got) == len(expected) == 24
    assert [g for _, g in got] == [g for _, g in expected]  # same greedy-match flags
    assert [ll for ll, _ in got] == pytest.approx([ll for ll, _ in expected], abs=1e-4)
    system_tokens = len(tokenizer.encode(SYSTEM, add_special_tokens=False))
    assert system_tokens > MIN_SHARED_TOKENS
    # the system prompt is computed once for all 24 rows
    assert shared.shared_tokens >= 23 * (system_tokens - 1)
    assert shared._prefix == [] and shared._prefix_kv is None  # nothing kept after the call


def test_never_shares_into_a_continuation(tiny_model_dir):
    """One context, continuations with a common first token: the shared part stops inside the context."""
    plain, shared, tokenizer = _models(tiny_model_dir)
    context = f"{SYSTEM}\nQuestion: Which is the capital of Italy?\nAnswer:"
    requests = _requests(tokenizer, [context], [" Rome city", " Rome town", " Rome village", " Rome"])
    expected = plain._loglikelihood_tokens(requests)
    got = shared._loglikelihood_tokens(requests)
    assert [ll for ll, _ in got] == pytest.approx([ll for ll, _ in expected], abs=1e-4)
    assert [g for _, g in got] == [g for _, g in expected]
    assert shared.shared_tokens > 0


def test_suite_setting_switches_it_and_results_agree(tiny_model_dir, tmp_path, isolated_home):
    """Through the runner: share_prefix on (the default) and off give the same accuracy and scores."""
    from evalkit.suite.loader import load_suite

    on = write_task_suite(tmp_path / "on" / "tiny-mc", "tiny_mc", "multiple_choice", MC_ROWS)
    off = write_task_suite(tmp_path / "off" / "tiny-mc", "tiny_mc", "multiple_choice", MC_ROWS,
                           share_prefix=False)
    assert load_suite(str(on)).spec.lm_eval.share_prefix is True
    pool = BasePool()
    arm = load_model(ModelSpec(base=str(tiny_model_dir), dtype="float32", system_prompt=SYSTEM), pool=pool)
    with_sharing = run_lm_eval_suite(arm, load_suite(str(on)), tmp_path / "run-on")
    without = run_lm_eval_suite(arm, load_suite(str(off)), tmp_path / "run-off")
    assert with_sharing.metrics["metrics"]["acc"]["mean"] == without.metrics["metrics"]["acc"]["mean"]

    def lls(name):
        rows = read_jsonl_tolerant(tmp_path / name / "generations.jsonl")
        return [ll for g in rows for ll in g["loglikelihoods"]]

    assert lls("run-on") == pytest.approx(lls("run-off"), abs=1e-4)


@pytest.mark.parametrize("system", [SYSTEM, ""], ids=["shared-prefix", "no-prefix"])
def test_choices_grouped_by_context_score_as_plain_hflm_through_a_lora(tiny_model_dir, tmp_path, monkeypatch,
                                                                      system):
    """Contexts of different lengths, choices of 1 to 4 tokens, a LoRA on top: each context runs once."""
    import torch
    from evalkit_testing import make_random_lora
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import evalkit.lmeval.shared_prefix as shared_prefix

    adapter = make_random_lora(tiny_model_dir, tmp_path / "lora", seed=3)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    model = PeftModel.from_pretrained(base, adapter).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    plain, shared = build_hflm(model, tokenizer, 4), build_hflm(model, tokenizer, 4, share_prefix=True)
    contexts = [f"{system}\nQuestion: {row['question']}{' Think.' * i}\nAnswer:"
                for i, row in enumerate(MC_ROWS)]
    choices = [" Paris", " the red planet Mars", " 8", " one hundred degrees"]
    requests = _requests(tokenizer, contexts, choices)
    assert len({len(cont) for _, _, cont in requests}) >= 3 and len({len(ctx) for _, ctx, _ in requests}) >= 4
    calls = []
    original = shared_prefix.grouped_loglikelihoods
    monkeypatch.setattr(shared_prefix, "grouped_loglikelihoods",
                        lambda *a, **k: calls.append(len(a[1])) or original(*a, **k))
    expected = plain._loglikelihood_tokens(requests)
    got = shared._loglikelihood_tokens(requests)
    assert calls == [24]  # one grouped call scored every row
    assert [g for _, g in got] == [g for _, g in expected]
    assert [ll for ll, _ in got] == pytest.approx([ll for ll, _ in expected], abs=1e-4)
    assert len({round(ll, 3) for ll, _ in got}) > 12  # the rows really differ


def test_rows_with_one_context_each_keep_lm_evals_own_path(tiny_model_dir):
    from evalkit.lmeval.grouped_contexts import can_group

    _, shared, tokenizer = _models(tiny_model_dir)
    questions = [f"Question: {row['question']}\nAnswer:" for row in MC_ROWS]
    one_each = _requests(tokenizer, questions, [" Paris"])
    assert not can_group(shared.model, one_each, shared.max_length)
    four_each = _requests(tokenizer, questions, [" a", " b"])
    assert can_group(shared.model, four_each, shared.max_length)
    assert not can_group(shared.model, four_each, max_length=8)  # would need lm-eval's left truncation
