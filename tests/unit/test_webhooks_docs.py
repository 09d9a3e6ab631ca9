"""docs/webhooks.md and docs/webhook-events.schema.json say what the code does: every catalogue type
in the doc's table (and no other), the committed schemas are the generated ones, and the retry
table has the schedule's attempts."""

import re

import jsonschema_rs

from shared.config import REPO_ROOT
from shared.domain.webhooks import delivery
from shared.domain.webhooks.catalogue import TYPES
from shared.webhooks import schemas

DOC = (REPO_ROOT / "docs" / "webhooks.md").read_text()


def test_the_catalogue_table_lists_every_type_once():
    section = DOC.split("### Catalogue", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| ([a-z_]+) \|", section, re.M)
    assert [name for name, _ in rows] == [t.name for t in TYPES]
    assert [obj for _, obj in rows] == [t.schema["properties"]["object"]["const"] for t in TYPES]
    opt_in = {t.name for t in TYPES if t.opt_in}
    assert all("Opt-in" in line for line in section.splitlines() if any(f"`{n}`" in line for n in opt_in))


def test_the_committed_schemas_are_the_generated_ones_and_are_valid_schemas():
    assert schemas.PATH.read_text() == schemas.render(), (
        "run `.venv/bin/python -m shared.webhooks.schemas` and commit docs/webhook-events.schema.json"
    )
    for t in TYPES:
        jsonschema_rs.validator_for(schemas.json.loads(schemas.render())["types"][t.name])


def test_the_retry_table_has_the_schedules_attempts():
    section = DOC.split("### Retries", 1)[1].split("\n### ", 1)[0]
    last = re.findall(r"^\| (\d+)(?:–(\d+))? \|", section, re.M)[-1]
    assert int(last[1] or last[0]) == delivery.MAX_ATTEMPTS
    assert f"{delivery.MAX_ATTEMPTS} attempts over about 3 days" in section
    assert delivery.schedule_span() // delivery.timedelta(hours=1) == 73  # "3 d 1 h 40 min"
