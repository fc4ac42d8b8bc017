"""The run's set of the server tasks it owns is compact and exact: a listed task is
ours only if its id is one of ours (else a lost submit's task would not be adopted,
and the submit would be paid for twice)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.pipeline import owneduids
from runner.pipeline.owneduids import OwnedUids

_uid = st.one_of(
    st.uuids().map(str),  # what the API gives
    st.uuids().map(lambda u: str(u).upper()),  # not canonical: kept as written
    st.text(max_size=40),  # anything else a server might send
)


@given(ours=st.lists(_uid, max_size=60), others=st.lists(_uid, max_size=60))
def test_an_id_is_ours_exactly_when_it_was_added(ours: list[str], others: list[str]) -> None:
    owned = OwnedUids(ours[: len(ours) // 2])
    for uid in ours[len(ours) // 2 :]:
        owned.add(uid)
    for uid in ours:
        assert uid in owned
    for uid in others:
        assert (uid in owned) == (uid in ours)


def test_ids_stay_exact_through_merges_into_the_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(owneduids, "MERGE_AT", 7)
    ours = [str(uuid.UUID(int=n * 7919 + (n % 3 << 64))) for n in range(100)]
    owned = OwnedUids(ours[:50])
    owned.update(ours[50:])
    owned.add("not-a-uuid")
    assert len(owned) == 101
    assert all(uid in owned for uid in ours) and "not-a-uuid" in owned
    # same high half as one of ours, another low half: not ours
    near = str(uuid.UUID(int=uuid.UUID(ours[10]).int ^ 1))
    assert near not in owned and str(uuid.uuid4()) not in owned
    assert near in owned | {near} and near not in owned | {"x"}
    uppers = [str(uuid.uuid4()).upper() for _ in range(10)]  # a UUID written otherwise
    owned.update(uppers)  # (merged too) is another id
    assert all(u in owned and u.lower() not in owned for u in uppers)
