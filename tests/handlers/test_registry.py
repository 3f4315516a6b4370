"""The feature list itself: names unique, every reference resolves, every content file ships."""

from __future__ import annotations

import dataclasses

import pytest

from handlers.conversation import Flow
from handlers.feature import Feature, resolve
from handlers.registry import FEATURES, build_handlers, check


def test_every_reference_resolves_to_a_function() -> None:
    for feature in FEATURES:
        for ref in [*feature.cli, *feature.web, *(page.handler for page in feature.console)]:
            assert callable(resolve(ref)), f"{feature.name}: {ref}"


def test_every_content_file_exists() -> None:
    for feature in FEATURES:
        for path in feature.content:
            assert path.is_file(), f"{feature.name}: {path}"


def test_malformed_reference_is_refused() -> None:
    with pytest.raises(ValueError, match=r"package\.module:attribute"):
        resolve("bot.cli.stories.register")


def test_two_features_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="two features are called 'basics'"):
        check([*FEATURES, Feature(name="basics")])
    signup = next(flow for feature in FEATURES for flow in feature.flows)
    twin = Feature(name="twin", flows=[dataclasses.replace(signup)])
    with pytest.raises(ValueError, match=f"two flows are called '{signup.name}'"):
        build_handlers(features=[*FEATURES, twin])


def test_flows_and_routers_come_from_the_features() -> None:
    handlers = build_handlers()
    flows = [flow for feature in FEATURES for flow in feature.flows]
    assert all(isinstance(flow, Flow) for flow in flows)
    assert list(handlers.engine.flows) == [flow.name for flow in flows]
    names = [router.name for router in handlers.routers]
    # Flow entries first, the catch-alls (keyword answers, stray media) last.
    assert names[0] == "flows" and set(names[-2:]) == {"keywords", "media"}
