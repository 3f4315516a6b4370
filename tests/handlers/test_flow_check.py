"""A flow's step names are checked when the flow is built: a typo in ``Next("...")`` or a
repeated step name fails at import, at start-up, not in front of a user halfway through."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.context import Ctx
from handlers.conversation import (
    Finish,
    Flow,
    FlowError,
    Next,
    Outcome,
    Step,
    StepHandler,
    ask,
    step_targets,
)
from handlers.registry import FEATURES
from handlers.router import Text


async def to_phone(ctx: Ctx, data: dict[str, Any]) -> Outcome:
    return Next("phone", {"name": "x"})


async def to_phnoe(ctx: Ctx, data: dict[str, Any]) -> Outcome:
    return Next("phnoe", {"name": "x"})


async def either(ctx: Ctx, data: dict[str, Any]) -> Outcome:
    return Next("phone" if data else "confrim")


async def done(ctx: Ctx, data: dict[str, Any]) -> Outcome:
    return Finish(ctx.reply("volunteer.edited"))


def going_to(then: str) -> StepHandler:
    async def handle(ctx: Ctx, data: dict[str, Any]) -> Outcome:
        return Next(then)

    return handle


def flow(*steps: Step) -> Flow:
    return Flow(name="test_flow", title_key="volunteer.flow_title", entry=Text("t"), steps=steps)


def step(name: str, handle: StepHandler) -> Step:
    return Step(name, ask("volunteer.ask_name"), handle)


def test_a_well_formed_flow_builds() -> None:
    built = flow(step("name", to_phone), step("phone", going_to("confirm")), step("confirm", done))
    assert [s.name for s in built.steps] == ["name", "phone", "confirm"]


@pytest.mark.parametrize(
    ("handle", "target"),
    [(to_phnoe, "phnoe"), (either, "confrim"), (going_to("confirn"), "confirn")],
    ids=["literal", "either-branch", "factory-closure"],
)
def test_a_typo_in_a_step_name_fails_when_the_flow_is_built(
    handle: StepHandler, target: str
) -> None:
    with pytest.raises(FlowError, match=f"step 'name' goes to '{target}'"):
        flow(step("name", handle), step("phone", done), step("confirm", done))


def test_repeated_or_missing_steps_are_refused() -> None:
    with pytest.raises(FlowError, match="'phone' is empty or repeated"):
        flow(step("name", to_phone), step("phone", done), step("phone", done))
    with pytest.raises(FlowError, match="no steps"):
        flow()


def test_the_registered_flows_are_read_not_skipped() -> None:
    """The check sees the real flows' transitions (so it would see a typo in them)."""
    flows = [f for feature in FEATURES for f in feature.flows]
    seen = {(f.name, s.name): set(step_targets(s.handle)) for f in flows for s in f.steps}
    assert seen[("volunteer_signup", "birth_year")] == {"guardian_name", "name"}
    assert seen[("story_submit", "contact_name")] == {"consent", "contact_phone"}
    assert seen[("volunteer_edit", "edit_city")] == {"edit_city_district"}  # a factory's
    assert sum(len(targets) for targets in seen.values()) >= 20
