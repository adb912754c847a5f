"""Identities: staff users, API tokens, staff sessions and sign-in, each change audited in
its own transaction. The command line and the HTTP API both call these.

Session cookies: idle timeout (``RW_SESSION_IDLE_S``) and absolute timeout
(``RW_SESSION_MAX_S``); disabling a user or signing out revokes them. Sign-in is throttled:
after ``RW_SIGN_IN_MAX_FAILURES`` failures for one user name (or 4x that from one address)
within ``RW_SIGN_IN_WINDOW_S``, further attempts are refused without checking the password
until the window clears. Every failed sign-in is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.orm import Session

from rehabwatch import credentials
from rehabwatch.access import (ADMIN, PATIENT, ROLES, STAFF_ROLES, Actor, Caller, Throttled,
                               Unauthenticated)
from rehabwatch.audit_trail import DENIED, record
from rehabwatch.settings import Settings
from schemas.errors import NotFound, UsageError
from schemas.identifiers import checked_id
from storage import database, patients, staff_sessions, tokens, users
from storage.api_tables import TokenRow, UserRow

#: Sessions are marked as used at most this often (each mark is a write).
TOUCH_EVERY = timedelta(seconds=60)
#: One address may fail this many times more often than one user name.
ADDRESS_FACTOR = 4


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie's value (shown once) and its CSRF token."""

    cookie: str
    csrf_token: str
    caller: Caller


def user_doc(user: UserRow) -> dict[str, Any]:
    return {"name": user.name, "role": user.role, "teams": [t.team for t in user.teams],
            "disabled": user.disabled_at is not None,
            "created_at": user.created_at.isoformat()}


def token_doc(row: TokenRow, now: datetime) -> dict[str, Any]:
    state = ("revoked" if row.revoked_at else
             "expired" if row.expires_at and row.expires_at <= now else "active")
    return {"id": row.id, "role": row.role, "patient_id": row.patient_id,
            "teams": list(row.teams), "label": row.label, "created_by": row.created_by,
            "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "state": state}


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Accounts:
    """Users, tokens and sessions on the database of ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self.url, self.api = settings.database_url, settings.api

    # -- users -----------------------------------------------------------------------------

    def add_user(self, name: str, role: str, teams: Sequence[str], password: str,
                 by: Actor) -> dict[str, Any]:
        checked_id(name, "user name")
        if role not in STAFF_ROLES:
            raise UsageError(f"role {role!r}: a staff user is one of {', '.join(STAFF_ROLES)}")
        teams = [checked_id(t, "team") for t in teams]
        if not teams and role != ADMIN:
            raise UsageError(f"a {role} needs at least one --team")
        if len(password) < credentials.MIN_PASSWORD:
            raise UsageError(f"the password must be at least {credentials.MIN_PASSWORD} "
                             "characters long")
        hashed = credentials.hash_password(password)
        with database.session_scope(self.url) as session:
            if users.get(session, name) is not None:
                raise UsageError(f"user {name} already exists")
            user = users.add(session, name, role, hashed, teams, _now())
            record(session, by, "user.add", target=name, detail={"role": role, "teams": teams})
            return user_doc(user)

    def disable_user(self, name: str, by: Actor) -> dict[str, Any]:
        with database.session_scope(self.url) as session:
            user = users.get(session, name)
            if user is None:
                raise NotFound(f"no user {name}")
            revoked = users.disable(session, user, _now())
            record(session, by, "user.disable", target=name, detail={"sessions": revoked})
            return user_doc(user)

    def users(self) -> list[dict[str, Any]]:
        with database.session_scope(self.url) as session:
            return [user_doc(u) for u in users.listed(session)]

    # -- tokens ----------------------------------------------------------------------------

    def create_token(self, role: str, by: Actor, patient_id: str | None = None,
                     teams: Sequence[str] = (), expires_at: datetime | None = None,
                     label: str = "") -> tuple[str, dict[str, Any]]:
        """A new token (shown once) and what is stored of it."""
        if role not in ROLES:
            raise UsageError(f"role {role!r} is not one of {', '.join(ROLES)}")
        if (role == PATIENT) != (patient_id is not None):
            raise UsageError("--patient ID goes with --role patient, and only with it")
        teams = [checked_id(t, "team") for t in teams]
        if role in ("clinician", "monitoring") and not teams:
            raise UsageError(f"a {role} token needs at least one --team")
        if role in (PATIENT, ADMIN) and teams:
            raise UsageError(f"a {role} token takes no --team")
        now = _now()
        if expires_at is not None and expires_at <= now:
            raise UsageError("--expires must be in the future")
        token, token_id = credentials.new_token()
        with database.session_scope(self.url) as session:
            if patient_id is not None and patients.get(session, checked_id(patient_id)) is None:
                raise NotFound(f"no patient {patient_id}")
            row = tokens.add(session, token_id, credentials.sha256_hex(token), role,
                             patient_id, teams, label, by.name, now, expires_at)
            record(session, by, "token.create", patient_id=patient_id, target=token_id,
                   detail={"role": role, "teams": teams})
            return token, token_doc(row, now)

    def revoke_token(self, token_id: str, by: Actor) -> dict[str, Any]:
        now = _now()
        with database.session_scope(self.url) as session:
            row = tokens.get(session, token_id)
            if row is None:
                raise NotFound(f"no token {token_id}")
            if row.revoked_at is None:
                tokens.revoke(session, row, now)
            record(session, by, "token.revoke", patient_id=row.patient_id, target=token_id)
            return token_doc(row, now)

    def tokens(self) -> list[dict[str, Any]]:
        now = _now()
        with database.session_scope(self.url) as session:
            return [token_doc(r, now) for r in tokens.listed(session)]

    # -- authentication --------------------------------------------------------------------

    def by_token(self, token: str) -> Caller:
        """The caller a bearer token speaks for; :class:`Unauthenticated` if it is unknown,
        expired or revoked."""
        if not credentials.looks_like_token(token):
            raise Unauthenticated("the bearer token is not a rehabwatch token (rwt_...)")
        with database.session_scope(self.url) as session:
            row = tokens.by_hash(session, credentials.sha256_hex(token))
            if row is None or row.revoked_at is not None:
                raise Unauthenticated("the bearer token is unknown or revoked")
            if row.expires_at is not None and row.expires_at <= _now():
                raise Unauthenticated("the bearer token has expired")
            return Caller(f"token:{row.id}", row.role, frozenset(row.teams), row.patient_id)

    def by_session(self, cookie: str) -> Caller:
        """The staff caller of a session cookie; :class:`Unauthenticated` if the session is
        unknown, revoked, idle too long, too old, or its user is disabled."""
        now = _now()
        with database.session_scope(self.url) as session:
            row = staff_sessions.get(session, credentials.sha256_hex(cookie))
            user = users.by_id(session, row.user_id) if row is not None else None
            if row is None or user is None or row.revoked_at is not None or user.disabled_at:
                raise Unauthenticated("not signed in (the session ended): sign in again")
            timed_out = ((now - row.last_seen_at).total_seconds() > self.api.session_idle_s
                         or (now - row.created_at).total_seconds() > self.api.session_max_s)
            if timed_out:
                staff_sessions.revoke(session, row, now)  # committed, then refused below
            elif now - row.last_seen_at > TOUCH_EVERY:
                staff_sessions.touch(session, row, now)
            caller = Caller(user.name, user.role, frozenset(t.team for t in user.teams), None,
                            "session", row.csrf_token, row.secret_sha256)
        if timed_out:
            raise Unauthenticated("the session timed out: sign in again")
        return caller

    def sign_in(self, name: str, password: str, address: str) -> SignedIn:
        """A new session for ``name``; :class:`Unauthenticated` for a wrong name or password
        (the same message for both), :class:`Throttled` after too many failures."""
        now = _now()
        window = timedelta(seconds=self.api.sign_in_window_s)
        actor = Actor(name[:64], "anonymous", address)
        with database.session_scope(self.url) as session:
            by_user, by_address, oldest = staff_sessions.failures_since(
                session, name[:64], address, now - window)
            limit = self.api.sign_in_max_failures
            if by_user >= limit or by_address >= limit * ADDRESS_FACTOR:
                wait = int(((oldest or now) + window - now).total_seconds()) + 1
                record(session, actor, "session.sign_in", outcome=DENIED,
                       detail={"reason": "throttled"})
                throttled = Throttled(f"too many failed sign-ins: try again in {wait} s", wait)
            else:
                throttled = None
                user = users.get(session, name)
                ok = credentials.password_matches(
                    user.password_hash if user else credentials.dummy_hash(), password)
                if user is None or not ok or user.disabled_at is not None:
                    staff_sessions.record_failure(session, name[:64], address, now)
                    record(session, actor, "session.sign_in", outcome=DENIED,
                           detail={"reason": "wrong name or password"})
                else:
                    if credentials.needs_rehash(user.password_hash):
                        users.set_password_hash(session, user,
                                                credentials.hash_password(password))
                    return self._open_session(session, user, address, window)
        if throttled is not None:
            raise throttled
        raise Unauthenticated("wrong user name or password")

    def _open_session(self, session: Session, user: UserRow, address: str,
                      window: timedelta) -> SignedIn:
        now = _now()  # after the password check, which takes a while
        cookie, csrf = credentials.new_secret(), credentials.new_secret()
        row = staff_sessions.add(session, credentials.sha256_hex(cookie), user.id, csrf, now)
        staff_sessions.clear_failures(session, user.name, now - window)
        caller = Caller(user.name, user.role, frozenset(t.team for t in user.teams), None,
                        "session", csrf, row.secret_sha256)
        record(session, caller.actor(address), "session.sign_in")
        return SignedIn(cookie, csrf, caller)

    def sign_out(self, caller: Caller, address: str) -> None:
        with database.session_scope(self.url) as session:
            row = staff_sessions.get(session, caller.session_key)
            if row is not None and row.revoked_at is None:
                staff_sessions.revoke(session, row, _now())
            record(session, caller.actor(address), "session.sign_out")
