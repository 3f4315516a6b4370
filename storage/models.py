"""Core tables: followers, the inbound message log (dedupe), keyword replies, conversations,
pending notices, leases and the audit log. Feature modules add their own tables on ``Base``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    bindparam,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from bot.kernel.message import Channel, UserKey

# Stable constraint names, so Alembic migrations read the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that binds every value in UTC and returns aware UTC.

    SQLite stores the wall time as text and compares text: a bound given in Asia/Shanghai
    would silently miss eight hours of rows. Converting at bind time makes every comparison
    right on both backends; a naive value is taken as UTC, as the stored values are.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is None or value.tzinfo is UTC:
            return value
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class PersonRow:
    """Columns of a row that belongs to one person (channel, account, user_id), declared once;
    the row's ``UserKey`` and the clause that selects a person's rows."""

    channel: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(128))

    @property
    def user_key(self) -> UserKey:
        """Whose row this is."""
        return UserKey(Channel(self.channel), self.account, self.user_id)

    @classmethod
    def of_user(cls, key: UserKey) -> ColumnElement[bool]:
        """The rows of ``key``'s person."""
        return (
            (cls.channel == key.channel.value)
            & (cls.account == key.account)
            & (cls.user_id == key.user)
        )

    @classmethod
    def of_bound_user(cls) -> ColumnElement[bool]:
        """``of_user`` with the person as parameters (``columns_of``), for statements built
        once at import instead of per call."""
        return (
            (cls.channel == bindparam("channel"))
            & (cls.account == bindparam("account"))
            & (cls.user_id == bindparam("user_id"))
        )

    @staticmethod
    def columns_of(key: UserKey) -> dict[str, str]:
        """``key`` as the column values of a new row."""
        return {"channel": key.channel.value, "account": key.account, "user_id": key.user}


class Follower(PersonRow, Base):
    """Someone who follows (or followed) a public account on a channel."""

    __tablename__ = "followers"
    __table_args__ = (UniqueConstraint("channel", "account", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    subscribed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    scene: Mapped[str | None] = mapped_column(String(64))
    # The platforms allow customer-service / active replies only within 48 h of this.
    last_interaction_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class InboundMessage(PersonRow, Base):
    """The message log and dedupe ledger: one row per platform message key.

    The unique key is what makes a retried message (same MsgId, possibly concurrent, possibly
    on another worker) have at most one effect; ``reply`` caches the answer for the retry.
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "account", "msg_key"),
        Index("ix_inbound_messages_received_at", "received_at"),
        # Led by user_id: it must not look usable for the (channel, account, msg_key) lookups
        # (migration 0017 says why).
        Index("ix_inbound_messages_user", "user_id", "channel", "account", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    msg_key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    event: Mapped[str | None] = mapped_column(String(32))
    # Redacted (phones, ID numbers masked) and truncated: the log is not a store of personal data.
    # NULL for answers inside a flow (see Ctx.private), whose cached reply is encrypted.
    text: Mapped[str | None] = mapped_column(String(600))
    # processing → done | late | late_sent | late_failed | failed
    status: Mapped[str] = mapped_column(String(16))
    handler: Mapped[str | None] = mapped_column(String(64))
    # JSON of the Reply, or its Fernet token for private messages (dropped after retries).
    reply: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class KeywordRule(Base):
    """An automatic reply: ``pattern`` matched exactly or contained, highest priority first."""

    __tablename__ = "keyword_rules"
    __table_args__ = (UniqueConstraint("pattern", "match"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pattern: Mapped[str] = mapped_column(String(64))
    # exact | contains | click (a menu key)
    match: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # JSON of a bot.kernel.message.Reply
    reply: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # seed: from the content file (re-seeding updates it); operator: added by hand, never touched
    source: Mapped[str] = mapped_column(String(16), default="operator")
    updated_at: Mapped[datetime]


class Conversation(PersonRow, Base):
    """The flow a user is in, if any: one per (channel, account, user)."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "account", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    flow: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    # JSON: the answers so far and the step history (for 返回). Encrypted where personal.
    data: Mapped[str] = mapped_column(Text, default="{}")
    # Optimistic lock: two workers handling two messages of one user never both advance.
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class Notice(PersonRow, Base):
    """Text waiting for a user's next message (e.g. a review outcome outside the 48 h window)."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_user", "channel", "account", "user_id", "delivered_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class Lease(Base):
    """A named lock with an expiry, shared by processes through the database."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]


class AuditEvent(Base):
    """Operator actions on personal data and votes (exports, voids, deletions)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
