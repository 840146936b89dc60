"""What changed between two runs, over plain endpoint documents (no database, no network)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.core.changes import RunLabel, certificate_periods, compare
from scanner.report.change_documents import changes_document, render_periods, render_text

A, B = RunLabel(1, "jump1", "2026-11-26T02:00:00Z"), RunLabel(2, "jump1", "2026-11-27T02:00:00Z")


def doc(
    host="192.0.2.1",
    port=5061,
    *,
    sha="AA",
    eku=("serverAuth", "clientAuth"),
    verdict="ok",
    breaking=(),
    status="ok",
    not_after="2027-01-01T00:00:00Z",
):
    chain = (
        [
            {
                "sha256": sha,
                "subject": f"CN={sha}",
                "issuer": "CN=CA",
                "eku": list(eku) if eku else None,
                "not_after": not_after,
            }
        ]
        if sha
        else []
    )
    links = [
        {"name": name, "uses": "client", "verdict": "breaks", "reason": f"{name} fails"} for name in breaking
    ]
    links.append({"name": "admin-https", "uses": "server", "verdict": "ok", "reason": "fine"})
    return {
        "host": host,
        "ip": host,
        "port": port,
        "role": "expressway-e",
        "status": status,
        "verdict": verdict,
        "breaks_on": None,
        "chain": chain,
        "links": links,
    }


def test_nothing_changed_is_empty_and_prints_nothing():
    changes = compare([doc()], [doc()], A, B)
    assert changes.empty and render_text(changes) == ""


def test_a_renewal_that_drops_clientauth():
    before = doc(sha="OLD")
    after = doc(sha="NEW", eku=("serverAuth",), verdict="breaks", breaking=("traversal-zone",))
    changes = compare([before], [after], A, B)
    assert [(b.link, b.uses, b.reason) for b in changes.new_breakages] == [
        ("traversal-zone", "client", "traversal-zone fails")
    ]
    (cert,) = changes.certificate_changes
    assert cert.before.leaf.sha256 == "OLD" and cert.after.leaf.eku == ("serverAuth",)
    assert [(v.before.verdict, v.after.verdict) for v in changes.verdict_changes] == [("ok", "breaks")]
    text = render_text(changes)
    assert "new breakages (1)" in text and "old: CN=OLD" in text and "new: CN=NEW" in text
    assert "EKU serverAuth;" in text and "ok (ok) -> breaks (ok)" in text


def test_resolved_appeared_vanished():
    before = [doc("192.0.2.1", breaking=("cluster",), verdict="breaks"), doc("192.0.2.2")]
    after = [doc("192.0.2.1"), doc("192.0.2.3", breaking=("cluster",), verdict="breaks")]
    changes = compare(before, after, A, B)
    assert [b.endpoint.host for b in changes.resolved_breakages] == ["192.0.2.1"]
    assert [b.endpoint.host for b in changes.new_breakages] == ["192.0.2.3"]  # a new endpoint that breaks
    assert [v.host for v in changes.appeared] == ["192.0.2.3"]
    assert [v.host for v in changes.vanished] == ["192.0.2.2"]
    assert not changes.certificate_changes


def test_an_endpoint_that_went_silent_is_a_verdict_change_not_a_certificate_change():
    changes = compare([doc()], [doc(sha=None, status="timeout", verdict="unknown")], A, B)
    assert not changes.certificate_changes
    assert [(v.before.status, v.after.status) for v in changes.verdict_changes] == [("ok", "timeout")]


def test_an_upgrade_is_a_software_change_and_learning_the_release_is_not():
    before = {**doc(), "product": "expressway-e", "software_version": "X14.3.2"}
    after = {**doc(), "product": "expressway-e", "software_version": "X15.5.1"}
    changes = compare([before], [after], A, B)
    assert [(v.before.software, v.after.software) for v in changes.software_changes] == [
        ("expressway-e X14.3.2", "expressway-e X15.5.1")
    ]
    assert (
        "software changed (1):\n  192.0.2.1:5061  expressway-e X14.3.2 -> expressway-e X15.5.1"
        in render_text(changes)
    )
    assert (
        changes_document([changes])["comparisons"][0]["software_changes"][0]["software"]
        == "expressway-e X15.5.1"
    )
    assert compare([doc()], [after], A, B).empty  # nothing known before: no change to report
    assert compare([after], [doc()], A, B).empty  # a probe that learnt nothing this time


def test_first_run_lists_everything_as_appeared():
    changes = compare([], [doc()], None, B)
    assert len(changes.appeared) == 1 and "nothing (first run)" in render_text(changes)


def test_json_document_round_trips():
    changes = compare([doc(sha="OLD")], [doc(sha="NEW")], A, B)
    data = json.loads(json.dumps(changes_document([changes])))
    assert data["schema"] == "ekuscan/changes/1"
    (one,) = data["comparisons"]
    assert one["from"]["id"] == 1 and one["to"]["id"] == 2
    assert one["certificate_changes"][0]["before"]["leaf"]["sha256"] == "OLD"
    assert one["certificate_changes"][0]["leaf"]["sha256"] == "NEW"


def test_certificate_periods_group_consecutive_runs():
    runs = [RunLabel(n, "j", f"2026-11-{n:02d}T02:00:00Z") for n in range(1, 6)]
    shas = ["AA", "AA", "BB", None, "BB"]
    sightings = [
        (run, doc(sha=sha, status="ok" if sha else "timeout")) for run, sha in zip(runs, shas, strict=True)
    ]
    periods = certificate_periods(sightings)
    assert [(p.leaf.sha256 if p.leaf else None, p.first.id, p.last.id, p.runs) for p in periods] == [
        ("AA", 1, 2, 2),
        ("BB", 3, 3, 1),
        (None, 4, 4, 1),
        ("BB", 5, 5, 1),
    ]
    text = render_periods(periods)
    assert (
        text.startswith("192.0.2.1:5061\n")
        and "runs 1-2 (2 seen by j)" in text
        and "no certificate (timeout)" in text
    )


endpoint_docs = st.lists(
    st.builds(
        doc,
        host=st.sampled_from(["192.0.2.1", "192.0.2.2", "example.test"]),
        port=st.sampled_from([443, 5061, 7001]),
        sha=st.sampled_from(["AA", "BB", None]),
        verdict=st.sampled_from(["ok", "breaks", "at-risk", "unknown"]),
        breaking=st.lists(st.sampled_from(["cluster", "traversal-zone", "b2b"]), unique=True, max_size=3),
    ).flatmap(
        lambda d: st.sampled_from([None, "X14.3.2", "X15.5.1"]).map(lambda v: {**d, "software_version": v})
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(endpoint_docs, endpoint_docs)
def test_compare_is_symmetric(before, after):
    forward, backward = compare(before, after, A, B), compare(after, before, B, A)
    assert compare(before, before, A, A).empty
    assert {v.key for v in forward.appeared} == {v.key for v in backward.vanished}
    assert {v.key for v in forward.vanished} == {v.key for v in backward.appeared}
    common = {(d["host"], d["ip"], d["port"]) for d in before} & {
        (d["host"], d["ip"], d["port"]) for d in after
    }
    resolved = {(b.endpoint.key, b.link) for b in forward.resolved_breakages}
    assert resolved == {(b.endpoint.key, b.link) for b in backward.new_breakages if b.endpoint.key in common}
    assert len(forward.certificate_changes) == len(backward.certificate_changes)
    assert len(forward.software_changes) == len(backward.software_changes)
    assert forward.empty == backward.empty
