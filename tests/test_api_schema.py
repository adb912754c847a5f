"""schemathesis over /openapi.json, against the real server, as a clinician and as a
patient: no server error, every status and body as the description says, and data the
description forbids rejected with a 4xx. Examples are bounded (the suite stays fast);
patient and alert ids of valid cases are the seeded ones, so the routes' work is reached,
not only their 404."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance,
                                               status_code_conformance)

from storage import audit, database
from tests.api_server import ApiStack, api_stack

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiStack]:
    with api_stack(f"sqlite:///{tmp_path_factory.mktemp('api') / 'rw.db'}") as stack:
        yield stack


BOUNDED = settings(max_examples=5, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("caller", ["clinician", "patient"])
def test_the_api_keeps_its_description(stack: ApiStack, caller: str,
                                       mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{stack.url}/openapi.json")
    auth = {"Authorization": f"Bearer {stack.tokens[caller]}"}
    known = {"patient_id": "P1",
             "alert_id": stack.nudge_id if caller == "patient" else stack.alert_id}
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        fixed = ({n: known[n] for n in names if n in known}
                 if mode == GenerationMode.POSITIVE else None)

        @given(case=operation.as_strategy(mode, path_parameters=fixed))
        @BOUNDED
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=auth, checks=CHECKS)

        try:
            check()
        except Unsatisfiable:  # negative mode, and nothing in the operation to make invalid
            assert mode == GenerationMode.NEGATIVE
        except AssertionError as exc:  # schemathesis' failures are AssertionErrors
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
    if mode == GenerationMode.POSITIVE:  # the routes' work was reached, not only their 404
        with database.session_scope(stack.settings.database_url) as session:
            reads = {r.action for r in audit.listed(session, patient_id="P1")
                     if r.role == caller}
        assert {"patient.read", "patient.summaries", "patient.targets"} <= reads
