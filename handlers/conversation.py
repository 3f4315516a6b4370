"""The conversation engine behind every multi-step flow (sign-up, submission, profile edits).

A ``Flow`` is declared as entry filters plus ordered ``Step``s. State lives behind a
``storage.conversations.ConversationStore`` (by default the ``conversations`` table, encrypted,
since answers hold personal data), so a flow survives restarts and moves between worker
processes. While a user is in a flow every text, image or
location goes to the current step; only 取消/退出 (leave), 返回 (back a step) and 帮助 (help)
are understood everywhere. Events (follows, menu clicks) still reach their own handlers.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.kernel.clock import as_utc
from bot.kernel.context import BotContext
from bot.kernel.message import Inbound, Kind, Reply, normalize
from handlers.context import Ctx
from handlers.router import Filter, Router
from storage.conversations import FlowState, SqlConversationStore

CANCEL_WORDS = frozenset({"取消", "退出", "cancel", "q"})
BACK_WORDS = frozenset({"返回", "上一步", "back"})
HELP_WORDS = frozenset({"帮助", "help", "?", "？"})
STUCK_AFTER = 2  # wrong answers in a row at one step before the re-prompt names 取消


@dataclass(frozen=True)
class Next:
    """Go to ``step`` (or finish the flow when ``step`` is None), saving ``updates``."""

    step: str | None
    updates: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Invalid:
    """The answer was not accepted: say ``text`` and ask the same step again."""

    text: str


@dataclass(frozen=True)
class Finish:
    """Leave the flow with ``reply``."""

    reply: Reply


Outcome = Next | Invalid | Finish
Prompt = Callable[[Ctx, dict[str, Any]], Awaitable[Reply]]
StepHandler = Callable[[Ctx, dict[str, Any]], Awaitable[Outcome]]
# Network work for a media answer (a download), run before the message's transaction so a slow
# platform never holds the database's write lock; the result reaches the step as ctx.prepared.
Preparer = Callable[[BotContext, Inbound], Awaitable[Any]]
# Answers a step may prepare for: media the platform keeps for the bot to download.
MEDIA_KINDS = frozenset({Kind.IMAGE, Kind.VIDEO, Kind.SHORTVIDEO})


@dataclass(frozen=True)
class Step:
    """One question: ``prompt`` asks it, ``handle`` checks the answer in ``ctx.inbound``."""

    name: str
    prompt: Prompt
    handle: StepHandler
    # Content key of the step's help text; None uses the prompt again.
    help: str | None = None
    prepare: Preparer | None = None


def ask(key: str) -> Prompt:
    """A prompt that is just the text at ``key`` (answers available as placeholders)."""

    async def prompt(ctx: Ctx, data: dict[str, Any]) -> Reply:
        return Reply.of_text(ctx.t(key, **data))

    return prompt


@dataclass(frozen=True)
class Redirect:
    """Returned by a starter: enter ``flow`` instead, with ``notice`` before its first question."""

    flow: str
    notice: str = ""


# Called when a flow is entered; returns the initial answers, a Reply to refuse entry, or a
# Redirect to another flow (e.g. 报名 by someone registered offers 修改信息).
Starter = Callable[[Ctx], Awaitable[dict[str, Any] | Reply | Redirect]]


async def _no_start(ctx: Ctx) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Flow:
    name: str
    title_key: str  # content key of the flow's Chinese name, used in notices
    # Keywords, menu clicks or QR scenes, never data: the message log keeps the text of the
    # message that enters a flow (the answers after it are private).
    entry: Filter
    steps: Sequence[Step]
    on_start: Starter = _no_start
    timeout_seconds: int | None = None  # None: the engine's default

    def __post_init__(self) -> None:
        check_steps(self)

    def step(self, name: str) -> Step:
        """The step called ``name``."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"flow {self.name} has no step {name}")


class FlowError(ValueError):
    """A flow's declaration does not hold together (raised when the flow is built)."""


def check_steps(flow: Flow) -> None:
    """Refuse a flow whose steps repeat a name, or whose step handlers go (``Next("x")``) to a
    step it does not have, so a typo fails when the module is imported, at start-up.

    The targets are read from each handler's source: a literal (``Next("phone")``, either
    side of ``Next("a" if c else "b")``) or a name bound to a string in the handler's closure
    or module (``Next(then)`` in a step made by a factory). Names computed from answers at run
    time cannot be checked here; the engine refuses them when they happen."""
    names = [step.name for step in flow.steps]
    if not names:
        raise FlowError(f"flow {flow.name}: no steps")
    for name in names:
        if not name or names.count(name) > 1:
            raise FlowError(f"flow {flow.name}: step name {name!r} is empty or repeated")
    for step in flow.steps:
        for target in step_targets(step.handle):
            if target not in names:
                raise FlowError(
                    f"flow {flow.name}: step {step.name!r} goes to {target!r}, "
                    f"which is not one of its steps ({', '.join(names)})"
                )


def step_targets(handle: StepHandler) -> Iterator[str]:
    """The step names ``handle``'s source passes to ``Next``, where they can be known."""
    fn = inspect.unwrap(handle)
    code = getattr(fn, "__code__", None)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return  # no source (built at run time): nothing to read
    bound: dict[str, object] = dict(getattr(fn, "__globals__", {}))
    if code is not None:
        for var, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or (), strict=True):
            try:
                bound[var] = cell.cell_contents
            except ValueError:  # a cell not filled yet
                continue
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == Next.__name__
            and node.args
        ):
            yield from _names(node.args[0], bound)


def _names(expr: ast.expr, bound: dict[str, object]) -> Iterator[str]:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        yield expr.value
    elif isinstance(expr, ast.IfExp):
        yield from _names(expr.body, bound)
        yield from _names(expr.orelse, bound)
    elif isinstance(expr, ast.Name) and isinstance(bound.get(expr.id), str):
        yield str(bound[expr.id])


class ConversationEngine:
    """Runs declared flows against conversation state in the database."""

    def __init__(self, flows: Sequence[Flow], default_timeout_seconds: int = 1800) -> None:
        self.flows = {f.name: f for f in flows}
        self.default_timeout = default_timeout_seconds

    def router(self) -> Router:
        """Routes that enter each flow from its entry filter."""
        router = Router("flows")
        for flow in self.flows.values():
            router.add(flow.entry, self._entry_handler(flow), f"flow.{flow.name}.start")
        return router

    def _entry_handler(self, flow: Flow) -> Callable[[Ctx], Awaitable[Reply | None]]:
        async def enter(ctx: Ctx) -> Reply | None:
            return await self.start(ctx, flow.name)

        return enter

    def _timeout(self, flow: Flow) -> timedelta:
        return timedelta(seconds=flow.timeout_seconds or self.default_timeout)

    async def _load(self, ctx: Ctx) -> FlowState | None:
        # Locked: two messages of one user are handled one after the other.
        return await ctx.conversations.get(ctx.inbound.user_key, lock=True)

    async def prepare(self, bot: BotContext, msg: Inbound) -> Any:
        """For a media message: the current step's ``prepare`` result (None if it has none).

        Runs before the dispatcher opens the message's transaction; reads the step in a short
        session of its own. The step must still cope with None (the state changed meanwhile)."""
        if msg.kind not in MEDIA_KINDS:
            return None
        async with bot.sessions() as session:
            key = msg.user_key
            row = await SqlConversationStore(session).get(key)
        flow = self.flows.get(row.flow) if row is not None else None
        if row is None or flow is None or as_utc(row.expires_at) <= bot.clock.now():
            return None
        step = next((s for s in flow.steps if s.name == row.step), None)
        if step is None or step.prepare is None:
            return None
        return await step.prepare(bot, msg)

    def _decode(self, ctx: Ctx, row: FlowState) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(ctx.bot.cipher.decrypt(row.data))
        return state

    def _encode(self, ctx: Ctx, state: dict[str, Any]) -> str:
        return ctx.bot.cipher.encrypt(json.dumps(state, ensure_ascii=False))

    async def start(
        self,
        ctx: Ctx,
        flow_name: str,
        *,
        data: dict[str, Any] | None = None,
        step: str | None = None,
    ) -> Reply:
        """Put the user into ``flow_name`` (replacing any flow) and ask its first question."""
        flow = self.flows[flow_name]
        initial = await flow.on_start(ctx)
        if isinstance(initial, Reply):
            return initial
        if isinstance(initial, Redirect):
            reply = await self.start(ctx, initial.flow)
            return reply.prefixed(initial.notice)
        answers = {**initial, **(data or {})}
        first = step or flow.steps[0].name
        # Locked first, as every message of a flow: the replaced state is held until commit.
        await self._load(ctx)
        await self._save(ctx, flow, first, {"answers": answers, "history": []})
        return await flow.step(first).prompt(ctx, answers)

    async def _save(self, ctx: Ctx, flow: Flow, step: str, state: dict[str, Any]) -> None:
        now = ctx.bot.clock.now()
        saved = FlowState(
            flow=flow.name,
            step=step,
            data=self._encode(ctx, state),
            updated_at=now,
            expires_at=now + self._timeout(flow),
        )
        await ctx.conversations.set(ctx.inbound.user_key, saved)

    async def end(self, ctx: Ctx) -> None:
        """Leave whatever flow the user is in."""
        await ctx.conversations.delete(ctx.inbound.user_key)

    async def handle(self, ctx: Ctx) -> Reply | None:
        """Answer a message of a user who is in a flow; None when the user is in none.

        An expired flow is removed and a notice queued in ``ctx.notices``; the message is then
        routed as if no flow existed (returns None).
        """
        if ctx.inbound.kind is Kind.EVENT:
            return None
        row = await self._load(ctx)
        if row is None:
            return None
        # Whatever the user sends while a flow is open (even one that just expired) was meant
        # as an answer: names, birth years, guardians. It is not kept in the message log.
        ctx.private = True
        flow = self.flows.get(row.flow)
        if flow is None:  # a flow removed by an upgrade: forget the state
            await self.end(ctx)
            return None
        if as_utc(row.expires_at) <= ctx.bot.clock.now():
            await self.end(ctx)
            ctx.notices.append(ctx.t("conversation.expired", title=ctx.t(flow.title_key)))
            return None
        word = normalize(ctx.inbound.text or "").lower() if ctx.inbound.kind is Kind.TEXT else ""
        if word in CANCEL_WORDS:
            await self.end(ctx)
            return ctx.reply("conversation.cancelled", title=ctx.t(flow.title_key))
        try:
            state = self._decode(ctx, row)
        except ValueError:
            # Written under another data key (or damaged): the answers are gone. End the flow
            # and say so once, rather than apologise for every message until it expires.
            await self.end(ctx)
            return ctx.reply("conversation.unreadable", title=ctx.t(flow.title_key))
        answers: dict[str, Any] = state["answers"]
        history: list[str] = state["history"]
        step = flow.step(row.step)

        if word in HELP_WORDS:
            help_text = ctx.t(step.help, **answers) if step.help else ""
            prompt = await step.prompt(ctx, answers)
            text = ctx.t("conversation.help", title=ctx.t(flow.title_key), step_help=help_text)
            return prompt.prefixed(text)
        if word in BACK_WORDS:
            if not history:
                prompt = await step.prompt(ctx, answers)
                return prompt.prefixed(ctx.t("conversation.back_at_start"))
            previous = history.pop()
            await self._save(ctx, flow, previous, {"answers": answers, "history": history})
            return await flow.step(previous).prompt(ctx, answers)

        outcome = await step.handle(ctx, answers)
        if isinstance(outcome, Invalid):
            # Wrong answers in a row at this step (reset by any move): from the second on, the
            # re-prompt also says how to leave. A user who types 我不想报了 into the phone step
            # otherwise meets the same correction forever; step prompts after the first one do
            # not repeat the 取消 hint.
            misses = int(state.get("misses", 0)) + 1
            state["misses"] = misses
            # Refresh the expiry: the user is still engaged.
            await self._save(ctx, flow, step.name, state)
            prompt = await step.prompt(ctx, answers)
            text = outcome.text
            if misses >= STUCK_AFTER:
                text += "\n" + ctx.t("conversation.stuck", title=ctx.t(flow.title_key))
            return prompt.prefixed(text)
        if isinstance(outcome, Finish):
            await self.end(ctx)
            return outcome.reply
        answers.update(outcome.updates)
        if outcome.step is None:
            await self.end(ctx)
            return None
        if outcome.step != step.name:
            # Staying on a step (another picture of several) is not a step to go back to.
            history.append(step.name)
        await self._save(ctx, flow, outcome.step, {"answers": answers, "history": history})
        return await flow.step(outcome.step).prompt(ctx, answers)
