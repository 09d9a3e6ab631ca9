"""`make deploy` prunes the sources bucket after the apply: per function the live bundle and the three
newest before it stay, whatever their age; what is not a topology function's is never touched."""

from datetime import UTC, datetime, timedelta

from scripts.build import build
from scripts.prune_sources import live_names, pruned

T0 = datetime(2026, 12, 2, tzinfo=UTC)


def test_the_live_bundle_and_the_newest_before_it_stay_whatever_their_age():
    live = {"api": "api/live.zip", "ledger": "ledger/old-but-live.zip"}
    objects = [
        ("api/live.zip", T0 - timedelta(days=400)),  # unchanged for over a year: still deployed
        *[(f"api/b{i}.zip", T0 - timedelta(days=i)) for i in range(1, 7)],
        ("ledger/old-but-live.zip", T0 - timedelta(days=900)),
        ("ledger/newer.zip", T0),  # built but never applied, newer than the live one: kept (one of three)
        ("retired-function/x.zip", T0 - timedelta(days=999)),  # not in the topology: left alone
    ]
    assert pruned(objects, live, keep=3) == ["api/b4.zip", "api/b5.zip", "api/b6.zip"]
    assert pruned(objects, live, keep=0) == sorted(
        ["api/b1.zip", "api/b2.zip", "api/b3.zip", "api/b4.zip", "api/b5.zip", "api/b6.zip", "ledger/newer.zip"]
    )


def test_the_live_names_are_the_zips_make_build_wrote(tmp_path):
    build("ledger", tmp_path)
    (name,) = live_names(tmp_path, ["ledger"]).values()
    assert name.startswith("ledger/") and name.endswith(".zip") and len(name) == len("ledger/") + 64 + 4
