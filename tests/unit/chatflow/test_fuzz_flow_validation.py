"""Fuzzing the flow validator with hypothesis: it answers a Flow or a 422 problem, nothing else.

Documents are built from the node types (right and wrong fields, edges between existing and
unknown ids, regular expressions that do and do not compile) or are plain JSON garbage. A
refusal must be the documented ProblemError 422 `invalid-flow` whose `errors` serialise to
JSON (that is what the API answers); an accepted flow must be self-consistent.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from chatflow.flow_validation import Flow, parse_flow
from chatflow.triggers import KeywordTrigger
from majlis.http import ProblemError
from majlis.testing.fuzzing import count, flow_documents, mutants


def _accepted_flow_is_consistent(flow: Flow) -> None:
    assert flow.start in flow.nodes
    for source, outputs in flow.edges.items():
        assert source in flow.nodes
        for handle, target in outputs.items():
            assert handle in flow.nodes[source].handles()
            assert target in flow.nodes


def _asking(pattern: str) -> dict[str, Any]:
    node = {"id": "a", "type": "ask_question", "text": "?", "variable": "v",
            "validation": {"pattern": pattern}}  # fmt: skip
    return {"nodes": [node], "start": "a"}


_LOOKBEHIND = {"nodes": [{"id": "a", "type": "condition", "rules": [
    {"left": "var.v", "op": "regex", "value": "(?<=a+)b"}]}], "start": "a"}  # fmt: skip
SEED = random.Random(0)


@given(flow_documents(), st.randoms(use_true_random=False))
@example(_asking("a{99999999999}"), SEED)  # regression: OverflowError escaped (a 500)
@example(_asking("(" * 300 + ")" * 300), SEED)
@example(_LOOKBEHIND, SEED)
@example([], SEED)
@example({"nodes": "x"}, SEED)
def test_validator_answers_a_flow_or_a_422_problem(document: Any, rnd: random.Random) -> None:
    documents = [document, *mutants(document, rnd)]
    count("flow validator", len(documents))
    for each in documents:
        try:
            flow = parse_flow(each)
        except ProblemError as caught:
            _is_the_documented_refusal(caught)
        else:
            _accepted_flow_is_consistent(flow)


def _is_the_documented_refusal(problem: ProblemError) -> None:
    assert problem.status == 422
    assert problem.slug == "invalid-flow"
    errors = problem.extensions["errors"]
    assert 1 <= len(errors) <= 200
    for error in errors:
        assert set(error) == {"node_id", "field", "message"}
    orjson.dumps(problem.extensions)


@pytest.mark.parametrize("pattern", ["a{99999999999}", "(" * 1000 + ")" * 1000, "(unclosed"])
def test_a_keyword_trigger_with_a_bad_regex_is_a_validation_error(pattern: str) -> None:
    """Regression: OverflowError from re.compile escaped the model (a 500 on POST /flows)."""
    with pytest.raises(ValidationError, match="bad regular expression"):
        KeywordTrigger.model_validate({"type": "keyword", "match": "regex", "value": pattern[:200]})
