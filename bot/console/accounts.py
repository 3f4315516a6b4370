"""Operator-account operations, one function each, called by the CLI and the console:
validate, write, end sessions where access shrinks, one audit row."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.console.pages import Role
from bot.console.security import hash_password, password_problem
from bot.context import BotContext
from storage import operators as store


class AccountError(ValueError):
    """An account change refused; ``key`` names the text under console.operators."""

    def __init__(self, key: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.key = key
        self.params = params


def _check_password(password: str) -> None:
    problem = password_problem(password)
    if problem:
        raise AccountError(f"password_{problem}", f"password {problem.replace('_', ' ')}")


async def create_operator(
    bot: BotContext, name: str, role: Role, password: str, *, actor: str
) -> int:
    """Add an operator; returns its id."""
    _check_password(password)
    encoded = hash_password(password)
    now = bot.clock.now()
    try:
        async with bot.sessions() as session, session.begin():
            if await store.get_operator(session, name) is not None:
                raise AccountError("name_taken", f"operator {name!r} exists", name=name)
            op = await store.add_operator(session, name, role.label, encoded, now)
            await store.audit(
                session, now, actor, "operators.add", f"name={name} role={role.label}"
            )
            return op.id
    except IntegrityError:
        raise AccountError("name_taken", f"operator {name!r} exists", name=name) from None


async def change_operator(
    bot: BotContext,
    operator_id: int,
    what: str,
    *,
    role: Role | None = None,
    password: str | None = None,
    actor: str,
    actor_id: int | None = None,
) -> str:
    """Disable, enable, change the role of, or reset the password of an operator; returns the
    operator's name. Disabling, demoting and resetting end the operator's sessions."""
    if what == "password":
        _check_password(password or "")
    now = bot.clock.now()
    async with bot.sessions() as session, session.begin():
        op = await store.operator_by_id(session, operator_id)
        if op is None:
            raise AccountError("no_such", f"no operator {operator_id}", number=operator_id)
        if actor_id == operator_id and what in ("disable", "role"):
            raise AccountError("self_change", "operators cannot disable or re-role themselves")
        losing_admin = (
            op.role == "admin"
            and op.enabled
            and (what == "disable" or (what == "role" and role is not Role.ADMIN))
        )
        if losing_admin and await store.count_admins(session) <= 1:
            raise AccountError("last_admin", "the last admin cannot be disabled or demoted")
        detail = f"name={op.name}"
        if what == "disable":
            op.enabled = False
            await store.end_sessions(session, op.id)
        elif what == "enable":
            op.enabled = True
            await store.clear_failures(session, "account", op.name.lower())
        elif what == "role" and role is not None:
            detail += f" role={op.role}->{role.label}"
            if role < Role.parse(op.role):
                await store.end_sessions(session, op.id)
            op.role = role.label
        elif what == "password" and password is not None:
            op.password_hash = hash_password(password)
            op.password_changed_at = now
            await store.end_sessions(session, op.id)
            await store.clear_failures(session, "account", op.name.lower())
        else:
            raise AccountError("no_such", f"unknown change {what!r}", number=operator_id)
        await store.audit(session, now, actor, f"operators.{what}", detail)
        return op.name
