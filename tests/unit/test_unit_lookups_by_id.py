"""Models and versions by id (what foreign APIs name them by): the same visibility as by name,
and a hidden one's error names only the id it was asked for."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.errors import ModelNotFound, Unauthenticated, VersionNotFound


def test_models_and_versions_by_id(registry: Any) -> None:
    service = registry.service
    alice = registry.user("alice")
    bob = registry.user("bob")
    model = service.create_model(alice, name="secret-model", namespace="team")
    version = service.create_version(alice, "team", "secret-model")
    assert service.get_model_by_id(alice, model.id) == model
    assert service.get_version_by_id(alice, version.id) == (model, version)
    with pytest.raises(ModelNotFound) as hidden:
        service.get_model_by_id(bob, model.id)
    assert "secret" not in hidden.value.message and model.id in hidden.value.message
    with pytest.raises(VersionNotFound) as hidden_version:
        service.get_version_by_id(bob, version.id)
    assert "secret" not in hidden_version.value.message
    for missing in ("0" * 32, "x" * 65, ""):
        with pytest.raises(ModelNotFound):
            service.get_model_by_id(alice, missing)
        with pytest.raises(VersionNotFound):
            service.get_version_by_id(alice, missing)


def test_versions_of_many_models_only_for_models_the_caller_may_read(registry: Any) -> None:
    service = registry.service
    alice = registry.user("alice")
    bob = registry.user("bob")
    mine = service.create_model(alice, name="mine", namespace="team")
    shown = service.create_model(alice, name="shown", namespace="team", access="public")
    v1 = service.create_version(alice, "team", "mine")
    v2 = service.create_version(alice, "team", "mine")
    v3 = service.create_version(alice, "team", "shown")
    found = service.versions_of(alice, [mine, shown])
    assert {k: [v.id for v in vs] for k, vs in found.items()} == {
        mine.id: [v1.id, v2.id],
        shown.id: [v3.id],
    }
    assert [v.id for v in service.versions_of(bob, [shown])[shown.id]] == [v3.id]
    with pytest.raises(ModelNotFound):
        service.versions_of(bob, [shown, mine])  # mine is private to alice


def test_a_token_must_belong_to_the_user_it_is_given_with(registry: Any) -> None:
    service = registry.service
    token = registry.token("carol")
    registry.user("dan")
    assert service.authenticate(token, user="carol").name == "carol"
    assert service.authenticate(token).name == "carol"
    with pytest.raises(Unauthenticated):
        service.authenticate(token, user="dan")  # remembered token, another name


@pytest.mark.parametrize("backend", ["registry", "pg_registry"])
def test_a_created_model_is_what_reading_it_back_gives(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """create_model answers without reading the model back when it has no teams: what it
    answers must be exactly what the database then holds."""
    registry = request.getfixturevalue(backend)
    service = registry.service
    alice = registry.user("alice")
    for fields in (
        {"name": "plain"},
        {
            "name": "full",
            "task": "classification",
            "description": "d",
            "metadata": {"a": 1, "b": {"c": [1, 2]}, "dropped": None},
            "model_card": "# card",
            "access": "public",
            "protected_tags": ["production"],
        },
    ):
        created = service.create_model(alice, namespace="team", **fields)
        assert created == service.get_model(alice, "team", fields["name"])
