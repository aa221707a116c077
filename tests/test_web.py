"""The clinician page's server: routes, validation (4xx with a message, never a 500), escaping, binding."""

from __future__ import annotations

import argparse
import http.client
import inspect
import json
import logging
import re
import socket
import struct
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.cli.tools import add_serve_parser
from fasciculation_dx.inference.query import DISCLAIMER
from fasciculation_dx.web import (
    DiagnosisService,
    RequestError,
    make_server,
    posterior_interval_or_none,
    start_in_thread,
)
from fasciculation_dx.web import server as server_module

DATA = Path(__file__).parent / "data"
STATIC = Path(fdx.__file__).parent / "web" / "static"


def _start(**kwargs):
    server = make_server(port=0, **kwargs)
    start_in_thread(server)
    return server


@pytest.fixture(scope="module")
def server():
    srv = _start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def impossible_server():
    srv = _start(priors=DATA / "impossible")
    yield srv
    srv.shutdown()
    srv.server_close()


def request(srv, method, path, body=None, headers=None, raw=None):
    """Send one request; return (status, headers, decoded body)."""
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        response = conn.getresponse()
        content = response.read()
        return response.status, dict(response.getheaders()), content.decode("utf-8")
    finally:
        conn.close()


def query(srv, body):
    status, headers, text = request(srv, "POST", "/api/query", body=body)
    return status, json.loads(text)


# -- binding ----------------------------------------------------------------------------------------------
def test_binds_to_loopback_by_default(server):
    assert inspect.signature(make_server).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(server_module.serve).parameters["host"].default == "127.0.0.1"
    assert server.server_address[0] == "127.0.0.1"
    assert server.loopback_only


def test_serve_command_defaults_to_loopback():
    parser = argparse.ArgumentParser()
    add_serve_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve"])
    assert (args.host, args.port, args.setting, args.priors) == ("127.0.0.1", 8765, "primary_care", None)
    args = parser.parse_args(["serve", "--port", "0", "--setting", "neuromuscular_clinic"])
    assert args.port == 0 and args.setting == "neuromuscular_clinic"


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_serve_command_rejects_a_bad_port(port, capsys):
    parser = argparse.ArgumentParser()
    add_serve_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["serve", "--port", port])
    assert info.value.code == 2
    assert "port must be an integer from 0 to 65535" in capsys.readouterr().err


def test_unknown_setting_is_refused_at_start():
    with pytest.raises(fdx.EvidenceError, match="unknown setting 'icu'. Valid settings: primary_care"):
        make_server(port=0, setting="icu")


# -- the page and its files -------------------------------------------------------------------------------
def test_page_is_served_with_a_strict_policy(server):
    status, headers, text = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "supports clinical judgement and does not replace it" in text
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    for path, kind in (("/static/app.js", "text/javascript"), ("/static/style.css", "text/css")):
        status, headers, _ = request(server, "GET", path)
        assert status == 200 and headers["Content-Type"].startswith(kind)


def test_static_files_load_nothing_from_elsewhere():
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.IGNORECASE), path.name
        assert "@import" not in text


def test_script_never_inserts_markup():
    script = (STATIC / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script


def test_schema_groups_every_node_by_panel(server):
    status, _, text = request(server, "GET", "/api/schema")
    schema = json.loads(text)
    assert status == 200
    titles = [s["title"] for s in schema["sections"]]
    assert titles[:4] == ["History, triggers and course", "Examination", "Laboratory tests", "EMG and nerve conduction"]
    model = server.service.model("primary_care")
    listed = [e["node"] for s in schema["sections"] for e in s["nodes"]]
    assert sorted(listed) == sorted(model.states) and len(listed) == len(set(listed))
    history = {e["node"] for e in schema["sections"][0]["nodes"]}
    assert {"age_group", "sex", "caffeine", "stable_course_12_months"} <= history
    emg = {e["node"] for e in schema["sections"][3]["nodes"]}
    assert {"emg_fibrillations", "ncs_sensory_abnormal"} <= emg
    assert set(schema["settings"]) == {"primary_care", "neuromuscular_clinic"}
    assert schema["disclaimer"] == DISCLAIMER


def test_schema_tells_the_page_what_probably_means(server):
    from fasciculation_dx.inference.soft import PROBABLY, PROBABLY_PREFIX

    status, _, text = request(server, "GET", "/api/schema")
    assert status == 200
    assert json.loads(text)["soft_evidence"] == {"probably_ratio": PROBABLY, "prefix": PROBABLY_PREFIX}
    assert (PROBABLY, PROBABLY_PREFIX) == (4.0, "~")  # the ratio the page's hover text states


def test_schema_lists_the_key_findings_first_for_the_page(server, impossible_server):
    from fasciculation_dx.web.service import KEY_FINDINGS

    status, _, text = request(server, "GET", "/api/schema")
    assert status == 200
    schema = json.loads(text)
    model = server.service.model("primary_care")
    shipped = [e["node"] for e in schema["key_findings"]]
    assert shipped == [node for node, _ in KEY_FINDINGS]  # every one is in the shipped priors, in order
    assert {"weakness", "atrophy", "umn_signs", "tongue_fasciculations", "emg_fibrillations"} <= set(shipped)
    assert all(isinstance(e["label"], str) and 0 < len(e["label"]) <= 30 for e in schema["key_findings"])
    assert set(shipped) <= set(model.states)
    listed = [e["node"] for s in schema["sections"] for e in s["nodes"]]
    assert all(listed.count(node) == 1 for node in shipped)  # still in their own section, once

    # priors without most of them: only those the model has are offered
    _, _, text = request(impossible_server, "GET", "/api/schema")
    small = json.loads(text)["key_findings"]
    assert [e["node"] for e in small] == [n for n, _ in KEY_FINDINGS if n in impossible_server.service.priors.nodes]
    assert [e["node"] for e in small] == ["emg_fibrillations"]


# -- queries ----------------------------------------------------------------------------------------------
def test_query_matches_the_model(server):
    evidence = {"weakness": "yes", "emg_fibrillations": "present", "age_group": "65_plus"}
    status, result = query(server, {"evidence": evidence, "setting": "neuromuscular_clinic", "top": 3})
    assert status == 200
    expected = fdx.load_model(setting="neuromuscular_clinic").posterior(evidence)
    got = pd.Series(result["posterior"])
    assert list(got.index) == list(expected.index)
    assert (got - expected).abs().max() < 1e-12
    assert abs(sum(result["category"].values()) - 1) < 1e-9
    assert len(result["next_tests"]) == 3 and result["explanation"]
    assert "not a diagnosis" in result["disclaimer"]
    assert result["intervals"] is None


@pytest.mark.parametrize(
    "soft",
    [{"yes": 0.8, "no": 0.2}, "~yes", "yes:0.8,no:0.2", {"yes": 4, "no": 1}],
    ids=["object", "probably", "text", "unnormalised"],
)
def test_soft_evidence_matches_the_model(server, soft):
    evidence = {"weakness": soft, "age_group": "65_plus"}
    status, result = query(server, {"evidence": evidence, "top": 3})
    assert status == 200, result
    model = fdx.load_model(setting="primary_care")
    expected = model.posterior(evidence)
    got = pd.Series(result["posterior"])
    assert list(got.index) == list(expected.index)
    assert (got - expected).abs().max() < 1e-12
    pathological = model.category_posterior(evidence)["pathological"]
    assert result["category"]["pathological"] == pytest.approx(pathological, abs=1e-12)
    # the answer echoes the evidence as understood: normalised weights over every state
    assert result["evidence"]["age_group"] == "65_plus"
    assert result["evidence"]["weakness"] == pytest.approx({"no": 0.2, "yes": 0.8}, abs=1e-12)
    hard = model.category_posterior({"weakness": "yes", "age_group": "65_plus"})["pathological"]
    unset = model.category_posterior({"age_group": "65_plus"})["pathological"]
    assert unset < result["category"]["pathological"] < hard


BAD_SOFT = [
    ({"yes": "0.8", "no": 0.2}, "the weight of weakness=yes must be a number.* Got a string instead"),
    ({"yes": True, "no": 1}, "the weight of weakness=yes must be a number.* Got a boolean instead"),
    ({"yes": {"a": 1}}, "the weight of weakness=yes must be a number.* Got an object instead"),
    ({"yes": [0.8]}, "the weight of weakness=yes must be a number.* Got an array instead"),
    ({"yes": None}, "the weight of weakness=yes must be a number.* Got null instead"),
    ({"yes": -0.5, "no": 1}, "the weight of weakness=yes must be finite and at least 0"),
    ({"yes": 0, "no": 0}, "the soft evidence for 'weakness' needs at least one positive weight"),
    ({}, "the soft evidence for 'weakness' needs at least one positive weight"),
    ({"yes": 0.8, "maybe": 0.2}, "unknown state 'maybe' in the soft evidence for 'weakness'. Valid states: no, yes"),
    ("~maybe", "unknown state 'maybe' in '~maybe' for 'weakness'"),
    ("yes:0.8,no:lots", "the weight of 'no' must be a number"),
    ([0.8, 0.2], "the state of 'weakness' must be a string .*or an object.* Got an array instead"),
]


@pytest.mark.parametrize(("soft", "message"), BAD_SOFT, ids=[m[:40] for _, m in BAD_SOFT])
def test_bad_soft_evidence_is_a_400_naming_the_node(server, soft, message):
    status, payload = query(server, {"evidence": {"weakness": soft}})
    assert status == 400 and payload["status"] == 400
    assert re.search(message, payload["error"]), payload["error"]
    assert "weakness" in payload["error"]


def test_a_weight_too_large_for_a_float_is_a_400(server):
    raw = b'{"evidence": {"weakness": {"yes": 1' + b"0" * 400 + b', "no": 1}}}'
    status, _, text = request(server, "POST", "/api/query", headers={"Content-Type": "application/json"}, raw=raw)
    payload = json.loads(text)
    assert status == 400, payload
    assert "the weight of weakness=yes must be finite" in payload["error"]


def test_query_shows_the_pathological_weight_and_each_tests_tier(server):
    from fasciculation_dx.network.priors import TIERS
    from fasciculation_dx.web.service import TIER_TITLES

    evidence = {"age_group": "under_40", "caffeine": "yes", "stress_anxiety": "yes", "tongue_fasciculations": "yes"}
    status, result = query(server, {"evidence": evidence, "top": 12})
    assert status == 200
    model = server.service.model("primary_care")
    explanation = model.explain(evidence).set_index("node")
    assert {row["node"] for row in result["explanation"]} == set(evidence)
    for row in result["explanation"]:
        expected = explanation.loc[row["node"], "woe_pathological_vs_benign"]
        assert row["woe_pathological_vs_benign"] == pytest.approx(expected, abs=1e-12)
        assert row["lr_pathological_vs_benign"] == pytest.approx(
            explanation.loc[row["node"], "lr_pathological_vs_benign"]
        )
    tongue = next(r for r in result["explanation"] if r["node"] == "tongue_fasciculations")
    assert tongue["woe_pathological_vs_benign"] > 0
    tests = model.next_tests(evidence, top=12)
    assert [row["node"] for row in result["next_tests"]] == list(tests["node"])
    for row in result["next_tests"]:
        assert row["tier"] == model.priors.tests[row["node"]].tier
        assert row["tier_title"] == TIER_TITLES[row["tier"]]
        assert row["cost_band"] and row["invasiveness"]
    status, _, text = request(server, "GET", "/api/schema")
    assert [t["id"] for t in json.loads(text)["tiers"]] == list(TIERS)


def test_empty_request_gives_the_base_rates(server):
    status, result = query(server, {})
    assert status == 200 and result["evidence"] == {} and result["explanation"] == []
    assert result["setting"] == "primary_care"


def test_interval_is_returned_when_the_model_provides_it(server):
    model = server.service.model("primary_care")
    status, result = query(server, {"evidence": {"weakness": "yes"}, "interval": 0.9})
    assert status == 200
    if posterior_interval_or_none(model, {"weakness": "yes"}, 0.9) is None:
        assert result["intervals"] is None and result["interval_level"] is None
    else:
        assert result["interval_level"] == 0.9
        for name in result["posterior"]:
            ci = result["intervals"][name]
            assert 0 <= ci["lower"] <= ci["upper"] <= 1


def test_interval_helper_returns_none_without_support():
    class Old:
        def posterior(self, evidence=None):
            return pd.Series({"als": 1.0})

    class Odd:
        def posterior(self, evidence=None, interval=None):
            return pd.Series({"als": 1.0})

    assert posterior_interval_or_none(Old(), {}, 0.9) is None
    assert posterior_interval_or_none(Odd(), {}, 0.9) is None


BAD_BODIES = [
    ([], "must be a JSON object"),
    ({"evidence": [], "setting": "primary_care"}, "'evidence' must be an object"),
    ({"evidence": {"weakness": 1}}, "the state of 'weakness' must be a string .*or an object.* Got a number instead"),
    ({"evidence": {"weakness": None}}, "Got null instead"),
    ({"evidence": {"weaknes": "yes"}}, "unknown node 'weaknes'. Did you mean 'weakness'?"),
    ({"evidence": {"weakness": "maybe"}}, "unknown state 'maybe' for 'weakness'.*Valid states: no, yes"),
    ({"evidence": {"etiology": "als"}}, "cannot be entered as evidence"),
    ({"setting": "icu"}, "unknown setting 'icu'. Valid settings: primary_care, neuromuscular_clinic"),
    ({"setting": 3}, "'setting' must be a string"),
    ({"top": 0}, "'top' must be an integer from 1 to 100"),
    ({"top": True}, "'top' must be an integer"),
    ({"top": "5"}, "'top' must be an integer"),
    ({"interval": 1.5}, "'interval' must be null or a probability"),
    ({"interval": "0.9"}, "'interval' must be null or a probability"),
    ({"evidnce": {}}, "unknown field\\(s\\) 'evidnce'. Valid fields: evidence, interval, setting, top"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES, ids=[m[:30] for _, m in BAD_BODIES])
def test_bad_query_is_a_400_with_a_message(server, body, message):
    status, headers, text = request(server, "POST", "/api/query", body=body)
    assert status == 400
    assert headers["Content-Type"].startswith("application/json")
    payload = json.loads(text)
    assert re.search(message, payload["error"]), payload["error"]
    assert "Traceback" not in text


BAD_REQUESTS = [
    ("POST", "/api/query", {"Content-Type": "application/json"}, b"{not json", 400, "not valid JSON"),
    ("POST", "/api/query", {"Content-Type": "application/json"}, b'{"top": NaN}', 400, "not valid JSON"),
    ("POST", "/api/query", {"Content-Type": "application/json"}, b"\xff\xfe{}", 400, "UTF-8"),
    ("POST", "/api/query", {"Content-Type": "application/json"}, b"[" * 100000, 413, "at most"),
    ("POST", "/api/query", {"Content-Type": "application/json"}, b"[" * 60000, 400, "not valid JSON"),
    ("POST", "/api/query", {"Content-Type": "text/plain"}, b"{}", 415, "Content-Type: application/json"),
    ("POST", "/api/query", {}, b"{}", 415, "must be JSON"),
    ("GET", "/api/query", {}, None, 405, "POST"),
    ("POST", "/api/schema", {"Content-Type": "application/json"}, b"{}", 405, "GET only"),
    ("PUT", "/api/query", {}, b"{}", 405, "not allowed"),
    ("DELETE", "/", {}, None, 405, "not allowed"),
    ("GET", "/static/../server.py", {}, None, 404, "not found"),
    ("GET", "/etc/passwd", {}, None, 404, "not found"),
    ("POST", "/api/other", {"Content-Type": "application/json"}, b"{}", 404, "not found"),
    ("GET", "/", {"Host": "attacker.example:8765"}, None, 403, "localhost"),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "raw", "status", "message"),
    BAD_REQUESTS,
    ids=[f"{m} {p} {s}" for m, p, _, _, s, _ in BAD_REQUESTS],
)
def test_bad_request_is_a_4xx_with_a_message(server, method, path, headers, raw, status, message):
    got, response_headers, text = request(server, method, path, headers=headers, raw=raw)
    assert got == status
    payload = json.loads(text)
    assert message in payload["error"] and payload["status"] == status
    assert "Traceback" not in text


def test_missing_content_length_is_a_411(server):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.putrequest("POST", "/api/query")
    conn.putheader("Content-Type", "application/json")
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 411 and "Content-Length" in json.loads(response.read())["error"]
    conn.close()


def test_impossible_evidence_is_a_422_naming_the_conflict(impossible_server):
    conflict = {"tetany_or_paresthesia": "yes", "emg_fibrillations": "present"}
    status, payload = query(impossible_server, {"evidence": {"cramps": "yes", **conflict}})
    assert status == 422
    assert payload["conflicting"] == conflict
    assert "tetany_or_paresthesia=yes" in payload["error"] and "cannot occur together" in payload["error"]


def test_an_unexpected_failure_is_a_500_without_detail(server, monkeypatch, caplog):
    def broken(payload):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(server.service, "query", broken)
    status, _, text = request(server, "POST", "/api/query", body={})
    assert status == 500
    assert "secret" not in text and "Traceback" not in text and "internal error" in json.loads(text)["error"]


# -- escaping ---------------------------------------------------------------------------------------------
def test_input_is_never_echoed_as_markup(server):
    hostile = '<script>alert("x")</script>'
    status, headers, text = request(server, "POST", "/api/query", body={"evidence": {hostile: "<b>yes</b>"}})
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    assert "<" not in text and ">" not in text  # escaped as \u003c ... in the JSON text
    assert hostile in json.loads(text)["error"]  # ...and intact once decoded
    status, _, text = request(server, "GET", "/%3Cscript%3E")
    assert status == 404 and "<script>" not in text


def test_service_without_http():
    service = DiagnosisService(DATA / "tiny")
    result = service.query({"evidence": {"weakness": "yes"}})
    assert abs(sum(result["posterior"].values()) - 1) < 1e-9
    with pytest.raises(RequestError, match="unknown state 'often' for 'weakness'") as info:
        service.query({"evidence": {"weakness": "often"}})
    assert info.value.status == 400


# -- hardening: the server under load, slow clients, disconnects, odd JSON --------------------------------
def test_server_header_and_head(server):
    status, headers, text = request(server, "GET", "/api/schema")
    assert status == 200 and headers["Server"] == "fasciculation-dx" and "Python" not in headers["Server"]
    assert headers["Cache-Control"] == "no-store"
    head_status, head_headers, head_text = request(server, "HEAD", "/api/schema")
    assert head_status == 200 and head_text == ""
    assert head_headers["Content-Length"] == headers["Content-Length"] == str(len(text.encode()))


@pytest.mark.parametrize(
    ("raw_request", "status", "message"),
    [
        (b"POST /api/query HTTP/1.1\r\nHost: localhost\r\nContent-Length: -3\r\n\r\n", 400, "Content-Length"),
        (b"POST /api/query HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999\r\n\r\n", 413, "at most 65536"),
        # exactly the limit and no more, so that no unread bytes make the close a reset
        (b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ".ljust(server_module.MAX_HEADER, b"x"), 431, "headers"),
    ],
    ids=["bad length", "huge body", "huge headers"],
)
def test_requests_refused_while_reading_are_answered_in_json(server, raw_request, status, message):
    head, body = _raw_exchange(server, raw_request)
    assert re.match(rb"HTTP/1\.[01] %d " % status, head), head[:40]
    assert b"application/json" in head and b"Content-Security-Policy" in head
    payload = json.loads(body)
    assert payload["status"] == status and message in payload["error"]


def _raw_exchange(srv, data: bytes) -> tuple[bytes, bytes]:
    """Send raw bytes, read until the server closes; return (head, body)."""
    with socket.create_connection(srv.server_address[:2], timeout=30) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return head, body


def test_chunked_body_is_read_like_any_other(server):
    body = json.dumps({"evidence": {"weakness": "yes"}}).encode()
    data = (
        b"POST /api/query HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    head, text = _raw_exchange(server, data)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(text)["evidence"] == {"weakness": "yes"}


def test_port_in_use_is_an_oserror_before_anything_is_served(server):
    with pytest.raises(OSError):
        make_server(port=server.server_address[1])


def test_serve_command_reports_a_port_in_use_in_one_line(server):
    from fasciculation_dx.cli.tools import run_serve

    args = argparse.Namespace(host="127.0.0.1", port=server.server_address[1], priors=None, setting="primary_care")
    with pytest.raises(fdx.FasciculationDxError) as info:
        run_serve(args)
    message = str(info.value)
    assert message.startswith(f"cannot listen on 127.0.0.1:{server.server_address[1]}: ") and "\n" not in message


QUERIES = [{"weakness": "yes"}, {"age_group": "65_plus", "cramps": "yes"}, {}, {"emg_fibrillations": "present"}]


def test_200_concurrent_clients_are_all_answered(server):
    """200 connections at once, 2,000 requests in all: every answer correct, none refused or reset.

    One request in four is a query (each takes the model a few milliseconds, one at a time); the
    rest fetch the schema. Latency is printed (``pytest -s``), not asserted.
    """
    clients, per_client = 200, 10
    barrier = threading.Barrier(clients)
    latencies: list[float] = []
    failures: list[str] = []
    answered = {"schema": 0, "query": 0}

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=60)
        try:
            conn.connect()
            barrier.wait(timeout=60)  # every connection is open before the first request
            for i in range(per_client):
                started = time.perf_counter()
                is_query = (index + i) % 4 == 0
                if not is_query:
                    conn.request("GET", "/api/schema")
                else:
                    evidence = QUERIES[(index + i) // 4 % len(QUERIES)]
                    body = json.dumps({"evidence": evidence, "top": 3})
                    conn.request("POST", "/api/query", body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = json.loads(response.read())
                latencies.append(time.perf_counter() - started)
                if response.status != 200:
                    failures.append(f"client {index}: {response.status} {payload}")
                elif not is_query:
                    if payload != server.schema:
                        failures.append(f"client {index}: wrong schema")
                    answered["schema"] += 1
                else:
                    total = sum(payload["posterior"].values())
                    if abs(total - 1) > 1e-9 or payload["evidence"] != evidence or len(payload["next_tests"]) != 3:
                        failures.append(f"client {index}: wrong answer to {evidence}")
                    answered["query"] += 1
        except Exception as err:  # a reset, a timeout, a refused connection
            failures.append(f"client {index}: {err!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    latencies.sort()
    print(
        f"\n{clients} clients, {len(latencies)} answers ({answered['schema']} schema, {answered['query']} queries), "
        f"{len(failures)} failures; latency median {latencies[len(latencies) // 2]:.3f} s, "
        f"99th percentile {latencies[int(len(latencies) * 0.99)]:.3f} s, max {latencies[-1]:.3f} s"
    )
    assert failures == []
    assert len(latencies) == clients * per_client
    assert answered == {"schema": clients * per_client * 3 // 4, "query": clients * per_client // 4}


def test_slow_clients_hold_no_threads(server):
    """300 clients that send half a request and stall: the page still answers, on the same few threads."""
    before = threading.active_count()
    partial = [
        b"GET /api/sch",  # stalls in the request line
        b"POST /api/query HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n",  # in the headers
        b"POST /api/query HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"evid',  # in the body
    ]
    stalled = []
    try:
        for i in range(300):
            sock = socket.create_connection(server.server_address[:2], timeout=30)
            sock.sendall(partial[i % len(partial)])
            stalled.append(sock)
        status, _, text = request(server, "POST", "/api/query", body={"evidence": {"weakness": "yes"}})
        during = threading.active_count()
        print(f"\nthreads in this process: {before} before, {during} with 300 stalled clients open")
        assert status == 200 and abs(sum(json.loads(text)["posterior"].values()) - 1) < 1e-9
        assert during <= before + 2 and during < 50
        for sock in stalled[:10]:  # the stalled clients are still connected, not dropped to make room
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
    finally:
        for sock in stalled:
            sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a client that crashes or gives up does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_client_disconnects_log_no_traceback(server, monkeypatch, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    writing = threading.Event()
    client_gone = threading.Event()
    real_query = server.service.query

    def slow_query(payload):  # answer only after the client has gone, with a body too large to buffer
        client_gone.wait(10)
        writing.set()
        return {**real_query(payload), "padding": "x" * 4_000_000}

    monkeypatch.setattr(server.service, "query", slow_query)
    body = b'{"evidence": {"weakness": "yes"}}'
    with socket.create_connection(server.server_address[:2], timeout=30) as sock:
        sock.sendall(
            b"POST /api/query HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        time.sleep(0.2)
        _reset(sock)
    client_gone.set()
    assert writing.wait(10)
    monkeypatch.setattr(server.service, "query", real_query)
    # error responses to clients that have gone: a 404, a 413 refused while reading, malformed JSON
    for data in (
        b"GET /missing HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"POST /api/query HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999\r\n\r\n",
        b"POST /api/query HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5\r\n\r\n{nope",
    ):
        for _ in range(5):
            sock = socket.create_connection(server.server_address[:2], timeout=30)
            sock.sendall(data)
            _reset(sock)
    time.sleep(0.5)  # let the server finish writing to the sockets that are gone
    status, _, _ = request(server, "GET", "/api/schema")  # still serving
    assert status == 200
    problems = [
        r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info or "Traceback" in r.getMessage()
    ]
    assert problems == [], [r.getMessage() for r in problems]
    assert "Traceback" not in capsys.readouterr().err


def test_lone_surrogate_in_a_node_name_is_a_400(server):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        for raw, message in (
            (b'{"evidence": {"\\ud800": "yes"}}', "invalid node name '\\ud800'"),
            (b'{"evidence": {"weakness": "\\udfff"}}', "invalid state '\\udfff' for 'weakness'"),
            (b'{"evidence": {"weakness": {"\\udfff": 1}}}', "invalid state '\\udfff' in the weights for 'weakness'"),
            (b'{"setting": "\\ud800"}', "unknown setting '\ud800'"),
        ):
            conn.request("POST", "/api/query", body=raw, headers={"Content-Type": "application/json"})
            response = conn.getresponse()  # on the same connection: it is not dropped
            payload = json.loads(response.read())
            assert response.status == 400 and payload["status"] == 400
            assert message in payload["error"], payload["error"]
        conn.request("GET", "/api/schema")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"evidence": {"weakness": "yes", "weakness": "no"}}', "weakness"),
        (b'{"evidence": {"weakness": "yes", "weakness": "yes"}}', "weakness"),
        (b'{"top": 3, "evidence": {}, "top": 5}', "top"),
        (b'{"evidence": {}, "extra": [{"deep": {"k": 1, "k": 2}}]}', "k"),
    ],
    ids=["conflicting", "identical", "top level", "nested"],
)
def test_duplicate_json_keys_are_a_400_naming_the_key(server, raw, key):
    status, _, text = request(server, "POST", "/api/query", headers={"Content-Type": "application/json"}, raw=raw)
    payload = json.loads(text)
    assert status == 400 and payload["status"] == 400
    assert f"duplicate key '{key}'" in payload["error"]


def test_the_page_gets_red_flags_grouped_with_their_sources_citation():
    service = DiagnosisService()
    result = service.query({"evidence": {"tongue_fasciculations": "yes", "bulbar_symptoms": "yes"}})
    assert [f["node"] for f in result["red_flags"]] == ["tongue_fasciculations", "bulbar_symptoms"]
    (group,) = result["red_flag_groups"]
    source = service.priors.sources[group["source_id"]]
    assert group["citation"] == source.citation and group["url"] == source.url
    assert [f["node"] for f in group["findings"]] == ["tongue_fasciculations", "bulbar_symptoms"]
    assert group["shared"] and all(group["shared"] not in f["text"] for f in group["findings"])
    quiet = service.query({"evidence": {"caffeine": "yes"}})
    assert quiet["red_flags"] == [] and quiet["red_flag_groups"] == []


def test_a_red_flag_source_without_a_url_links_its_doi_and_only_web_addresses_are_links():
    import dataclasses

    service = DiagnosisService()
    evidence = {"evidence": {"emg_fibrillations": "present", "weakness": "yes"}}
    groups = {g["source_id"]: g for g in service.query(evidence)["red_flag_groups"]}
    awaji = service.priors.sources["awaji_2008_criteria"]
    assert not awaji.url and groups["awaji_2008_criteria"]["url"] == f"https://doi.org/{awaji.doi}"
    nice = "nice_ng42_mnd_recognition"
    service.priors.sources[nice] = dataclasses.replace(service.priors.sources[nice], url="javascript:alert(1)")
    groups = {g["source_id"]: g for g in service.query(evidence)["red_flag_groups"]}
    assert groups[nice]["url"] == "" and groups[nice]["citation"] == service.priors.sources[nice].citation
