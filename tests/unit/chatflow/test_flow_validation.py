"""The flow validator: every error reported at once, each with the node it is about."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from chatflow.flow_validation import check_addresses, parse_flow
from majlis.http import ProblemError


def errors_of(document: Any) -> list[dict[str, Any]]:
    with pytest.raises(ProblemError) as caught:
        parse_flow(document)
    assert caught.value.status == 422
    assert caught.value.slug == "invalid-flow"
    errors: list[dict[str, Any]] = caught.value.extensions["errors"]
    return errors


def has(errors: list[dict[str, Any]], node_id: str | None, words: str) -> bool:
    return any(e["node_id"] == node_id and words in e["message"] for e in errors)


def good() -> dict[str, Any]:
    return {
        "start": "hello",
        "variables": ["city"],
        "nodes": [
            {"id": "hello", "type": "send_text", "text": "Hi {{contact.name}} in {{city}}"},
            {"id": "ask", "type": "ask_question", "text": "Your email?", "variable": "email",
             "validation": {"type": "email"}},
            {"id": "check", "type": "condition", "rules": [
                {"left": "var.email", "op": "contains", "value": "@"}]},
            {"id": "done", "type": "end"},
        ],
        "edges": [
            {"from": "hello", "to": "ask"},
            {"from": "ask", "to": "check"},
            {"from": "check", "to": "done", "handle": "true"},
            {"from": "check", "to": "done", "handle": "false"},
        ],
    }  # fmt: skip


def test_a_good_flow_parses() -> None:
    flow = parse_flow(good())
    assert flow.start == "hello"
    assert flow.next_of("check", "true") == "done"
    assert flow.next_of("done", "next") is None


def test_every_error_is_reported_with_its_node() -> None:
    document = good()
    document["nodes"] += [
        {"id": "weird", "type": "teleport"},
        {"id": "hello", "type": "end"},
        {"id": "btn", "type": "send_buttons", "text": "Pick", "buttons": [
            {"id": f"b{i}", "title": f"B{i}"} for i in range(4)]},
        {"id": "lst", "type": "send_list", "text": "Pick", "button": "Open", "sections": [
            {"title": "All", "rows": [{"id": f"r{i}", "title": f"R{i}"} for i in range(11)]}]},
        {"id": "bad_re", "type": "ask_question", "text": "?", "variable": "x",
         "validation": {"type": "text", "pattern": "(unclosed"}},
        {"id": "uses", "type": "send_text", "text": "{{nobody_set_this}}"},
        {"id": "cond", "type": "condition", "rules": [{"left": "var.ghost", "op": "eq"}]},
        {"id": "jumper", "type": "jump", "target": "nowhere"},
        {"id": "extra", "type": "send_text", "text": "x", "colour": "red"},
    ]  # fmt: skip
    document["edges"] += [{"from": "ask", "to": "missing", "handle": "timeout"}]
    errors = errors_of(document)
    assert has(errors, "weird", "Unknown node type")
    assert has(errors, "hello", "Duplicate node id")
    assert has(errors, "btn", "At most 3 buttons")
    assert has(errors, "lst", "At most 10 rows")
    assert has(errors, "bad_re", "Bad regular expression")
    assert has(errors, "uses", "Unknown variable 'nobody_set_this'")
    assert has(errors, "cond", "Unknown variable 'ghost'")
    assert has(errors, "jumper", "Jump to unknown node")
    assert has(errors, "extra", "Extra inputs are not permitted")
    assert has(errors, "ask", "Dangling edge")
    assert has(errors, "uses", "Unreachable")
    assert has(errors, "btn", "Connect every choice")
    assert has(errors, "uses", "Missing edge from output 'next'")


def test_no_start_and_wrong_outputs() -> None:
    document = good()
    del document["start"]
    document["edges"].append({"from": "hello", "to": "done", "handle": "yes"})
    errors = errors_of(document)
    assert has(errors, None, "no start node")
    assert has(errors, "hello", "No output 'yes'")


def test_a_start_that_does_not_exist_and_bad_outer_shape() -> None:
    document = good()
    document["start"] = "ghost"
    assert has(errors_of(document), None, "does not exist")
    assert errors_of({"nodes": "x", "other": 1})


def test_split_and_condition_need_every_output() -> None:
    document = {
        "start": "s",
        "nodes": [
            {"id": "s", "type": "split", "branches": [{"name": "a", "weight": 1},
                                                       {"name": "b", "weight": 1}]},
            {"id": "e", "type": "end"},
        ],
        "edges": [{"from": "s", "to": "e", "handle": "a"}],
    }  # fmt: skip
    assert has(errors_of(document), "s", "Missing edge from output 'b'")


def calling(*urls: str) -> dict[str, Any]:
    """A flow of one http_request node per URL, one after the other."""
    nodes = [{"id": f"call{i}", "type": "http_request", "url": url} for i, url in enumerate(urls)]
    nodes.append({"id": "done", "type": "end"})
    edges = [{"from": a["id"], "to": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"start": "call0", "variables": ["base", "host", "id"], "nodes": nodes, "edges": edges}


def address_errors(document: Any, *, allow_loopback: bool) -> list[dict[str, Any]]:
    with pytest.raises(ProblemError) as caught:
        check_addresses(parse_flow(document), allow_loopback=allow_loopback)
    assert (caught.value.status, caught.value.slug) == (422, "invalid-flow")
    errors: list[dict[str, Any]] = caught.value.extensions["errors"]
    return errors


def test_http_nodes_naming_an_address_that_is_not_public_are_refused() -> None:
    refused = [
        "http://10.1.2.3/orders",
        "http://169.254.169.254/latest/meta-data/",  # the cloud metadata address
        "http://192.168.1.1:8080/api?x={{id}}",
        "http://0x0a.1/",  # 10.0.0.1, hex short form
        "http://[::ffff:a00:1]/",  # 10.0.0.1, IPv4-mapped IPv6
        "http://100.64.0.1/",  # CGNAT
        "ftp://example.com/file",
        "https://user:secret@api.example.com/",
        "api.example.com/orders",
    ]
    errors = address_errors(calling(*refused), allow_loopback=True)
    assert [e["node_id"] for e in errors] == [f"call{i}" for i in range(len(refused))]
    assert {e["field"] for e in errors} == {"url"}
    assert "secret" not in str(errors)
    # Public hosts, and hosts that come from a variable (judged when called), are fine.
    flow = parse_flow(
        calling("https://api.example.com/v1/{{id}}", "{{base}}/orders", "http://{{host}}/x")
    )
    check_addresses(flow, allow_loopback=False)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/", "http://2130706433/", "http://0177.0.0.1/", "http://[::1]/"]
)
def test_loopback_only_where_development_allows_it(url: str) -> None:
    check_addresses(parse_flow(calling(url)), allow_loopback=True)
    [error] = address_errors(calling(url), allow_loopback=False)
    assert (error["node_id"], error["field"]) == ("call0", "url")
