"""Operators and the audit log: admins add, disable, enable, re-role and reset operators;
everyone with a role above viewer reads the audit log, admins export it."""

from __future__ import annotations

import csv
import io
import re
from typing import NamedTuple
from urllib.parse import quote, urlencode

from aiohttp import web

from bot.console.call import Call, FormError
from bot.console.pages import Role, Section
from handlers.operators import change_operator, create_operator
from storage import operators as store
from storage.audit import audit_actions, list_audit

section = Section("operators", nav="console.nav.operators", nav_role=Role.EDITOR, order=90)
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
AUDIT_PAGE = 100


class AuditQuery(NamedTuple):
    """The audit log's filter and page, as the page's query string gives them (the CSV export
    takes the filter and leaves out the page)."""

    actor: str
    action: str
    page: int

    @classmethod
    def of(cls, call: Call) -> AuditQuery:
        """The query of ``call``'s request."""
        return cls(
            call.query("actor", 64), call.query("action", 64), call.query_int("page", 0, 10000)
        )

    @property
    def filter(self) -> str:
        """The filter as a query string, for the page's links (quoted like Jinja's urlencode)."""
        return urlencode({"actor": self.actor, "action": self.action}, safe="/", quote_via=quote)


@section.get("/operators", role=Role.EDITOR)
async def operators_page(call: Call) -> web.StreamResponse:
    """The operators (admins change them) and the audit log, filterable."""
    q = AuditQuery.of(call)
    async with call.bot.sessions() as session:
        operators = await store.list_operators(session) if call.operator.can(Role.ADMIN) else []
        events = await list_audit(
            session,
            actor=q.actor,
            action=q.action,
            offset=q.page * AUDIT_PAGE,
            limit=AUDIT_PAGE + 1,
        )
        actions = await audit_actions(session)
    return call.render(
        "operators.html",
        operators=operators,
        roles=[r.label for r in Role],
        events=events[:AUDIT_PAGE],
        more=len(events) > AUDIT_PAGE,
        q=q,
        actions=actions,
    )


@section.get("/operators/audit.csv", role=Role.ADMIN)
async def audit_export(call: Call) -> web.StreamResponse:
    """The audit log (filtered like the page) as CSV."""
    q = AuditQuery.of(call)
    async with call.bot.sessions() as session:
        events = await list_audit(session, actor=q.actor, action=q.action, offset=0, limit=None)
        await store.audit(
            session, call.bot.clock.now(), str(call.actor), "console.audit_export", ""
        )
        await session.commit()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            call.t("console.operators.audit_time"),
            call.t("console.operators.audit_actor"),
            call.t("console.operators.audit_action"),
            call.t("console.operators.audit_detail"),
        ]
    )
    for event in events:
        writer.writerow(
            [
                call.renderer.local(event.at, "%Y-%m-%d %H:%M:%S"),
                event.actor,
                event.action,
                event.detail,
            ]
        )
    return web.Response(
        body=("\ufeff" + buffer.getvalue()).encode(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


@section.post("/operators/add", role=Role.ADMIN)
async def add(call: Call) -> web.StreamResponse:
    """Create an operator."""
    form = await call.form()
    name = form.text("name", label=call.t("console.operators.name"), limit=64)
    role = form.choice("role", tuple(r.label for r in Role), label=call.t("console.operators.role"))
    password = form.text("password", label=call.t("console.operators.password"), limit=256)
    if not NAME.match(name):
        raise FormError(call.t("console.operators.bad_name"))
    await create_operator(call.bot, name, Role.parse(role), password, actor=str(call.actor))
    call.done("/operators", "operator_added")


@section.post("/operators/{id}/change", role=Role.ADMIN)
async def change(call: Call) -> web.StreamResponse:
    """Disable, enable, re-role or reset the password of an operator."""
    operator_id = call.number("id")
    form = await call.form()
    what = form.choice(
        "what", ("disable", "enable", "role", "password"), label=call.t("console.operators.title")
    )
    role = password = None
    if what == "role":
        role = Role.parse(
            form.choice(
                "role", tuple(r.label for r in Role), label=call.t("console.operators.role")
            )
        )
    if what == "password":
        password = form.text("password", label=call.t("console.operators.new_password"), limit=256)
    await change_operator(
        call.bot,
        operator_id,
        what,
        role=role,
        password=password,
        actor=str(call.actor),
        actor_id=call.operator.id,
    )
    call.done("/operators", "password_reset" if what == "password" else "operator_changed")
