"""Commands of the HTTP API and its identities: ``api``, ``user add|disable|list``,
``token create|revoke|list`` and ``audit``; :func:`register` adds them to the CLI. Changes
are audited with the operator's login name and role ``cli``."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import datetime, time, timezone
from functools import partial
from typing import TYPE_CHECKING, Any

from rehabwatch.access import ROLES, STAFF_ROLES, Actor
from schemas.errors import UsageError

if TYPE_CHECKING:
    from rehabwatch.accounts import Accounts
    from rehabwatch.settings import Settings

Adder = Callable[..., argparse.ArgumentParser]
Emit = Callable[[argparse.Namespace, Any, str], None]


def _accounts(settings: Settings) -> Accounts:
    from rehabwatch.accounts import Accounts

    return Accounts(settings)


def operator() -> Actor:
    return Actor(getpass.getuser(), "cli", "local")


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    from rehabwatch.api.server import serve

    api = dataclasses.replace(settings.api, host=args.host or settings.api.host,
                              port=settings.api.port if args.port is None else args.port)
    serve(dataclasses.replace(settings, api=api),
          lambda url: print(f"RW_API_URL={url}", flush=True))
    return 0


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the two passwords differ")
    return first


def cmd_user(emit: Emit, args: argparse.Namespace, settings: Settings) -> int:
    accounts = _accounts(settings)
    if args.user_command == "add":
        doc = accounts.add_user(args.name, args.role, args.team or [],
                                read_password(args.password_stdin), operator())
        emit(args, doc, f"user {doc['name']} added ({doc['role']}, teams "
             f"{', '.join(doc['teams']) or '-'})")
    elif args.user_command == "disable":
        doc = accounts.disable_user(args.name, operator())
        emit(args, doc, f"user {doc['name']} disabled; their sessions are ended")
    else:
        docs = accounts.users()
        emit(args, {"users": docs}, "\n".join(
            f"{d['name']:<20} {d['role']:<11} {','.join(d['teams']) or '-':<20}"
            f"{' disabled' if d['disabled'] else ''}" for d in docs) or "no users")
    return 0


def cmd_token(emit: Emit, args: argparse.Namespace, settings: Settings) -> int:
    accounts = _accounts(settings)
    if args.token_command == "create":
        expires = (datetime.combine(args.expires, time(), timezone.utc)
                   if args.expires else None)
        token, doc = accounts.create_token(args.role, operator(), args.patient,
                                           args.team or [], expires, args.label)
        if args.json:
            emit(args, {**doc, "token": token}, "")
        else:
            print(f"token {doc['id']} ({doc['role']}); shown once, keep it safe:")
            print(token)
    elif args.token_command == "revoke":
        doc = accounts.revoke_token(args.id, operator())
        emit(args, doc, f"token {doc['id']} revoked")
    else:
        docs = accounts.tokens()
        emit(args, {"tokens": docs}, "\n".join(
            f"{d['id']}  {d['role']:<11} {d['patient_id'] or ','.join(d['teams']) or '-':<20} "
            f"{d['state']:<8} expires {d['expires_at'] or 'never'}  {d['label']}"
            for d in docs) or "no tokens")
    return 0


def cmd_audit(emit: Emit, args: argparse.Namespace, settings: Settings) -> int:
    from rehabwatch.audit_trail import entries

    since = datetime.combine(args.date_from, time(), timezone.utc) if args.date_from else None
    docs = entries(settings.database_url, args.patient, args.actor, since)
    emit(args, {"entries": docs}, "\n".join(
        f"{d['at']} {d['actor']} ({d['role']}) {d['action']} {d['outcome']}"
        f"{' patient ' + d['patient_id'] if d['patient_id'] else ''}"
        f"{' ' + d['target'] if d['target'] else ''} from {d['address']}" for d in docs)
        or "no entries")
    return 0


def register(sub: Any, adder: Callable[[Any], Adder], iso_date: Callable[[str], Any],
             emit: Emit) -> None:
    """Add the commands to the CLI's subparsers: ``adder`` makes a group's command adder,
    ``emit`` prints a command's result (both the CLI's)."""
    add = adder(sub)
    user_cmd, token_cmd = partial(cmd_user, emit), partial(cmd_token, emit)
    api = add("api", cmd_api, "serve the HTTP API (blocks; Ctrl-C stops)")
    api.add_argument("--host", help="address to listen on (default RW_API_HOST, 127.0.0.1)")
    api.add_argument("--port", type=int, help="port (default RW_API_PORT, 8000; 0: a free one)")
    user = sub.add_parser("user", help="staff users of the API").add_subparsers(
        dest="user_command", required=True)
    uadd = adder(user)("add", user_cmd, "add a staff user (password from a prompt or stdin)")
    uadd.add_argument("name")
    uadd.add_argument("--role", required=True, choices=STAFF_ROLES)
    uadd.add_argument("--team", action="append", help="a team (repeat for several)")
    uadd.add_argument("--password-stdin", action="store_true",
                      help="read the password from the first line of stdin")
    adder(user)("disable", user_cmd, "disable a user and end their sessions").add_argument(
        "name")
    adder(user)("list", user_cmd, "list staff users")
    token = sub.add_parser("token", help="API tokens").add_subparsers(
        dest="token_command", required=True)
    tc = adder(token)("create", token_cmd, "create a token; printed once, on the last line")
    tc.add_argument("--role", required=True, choices=ROLES)
    tc.add_argument("--patient", help="the patient of a patient token")
    tc.add_argument("--team", action="append", help="a team of a clinician or monitoring "
                    "token (repeat for several)")
    tc.add_argument("--expires", type=iso_date, help="last valid day is the day before "
                    "(YYYY-MM-DD, UTC midnight)")
    tc.add_argument("--label", default="", help="what the token is for")
    adder(token)("revoke", token_cmd, "revoke a token by its id").add_argument("id")
    adder(token)("list", token_cmd, "list tokens (ids, never secrets)")
    au = add("audit", partial(cmd_audit, emit),
             "the audit trail (reads of patient data and changes)")
    au.add_argument("--patient")
    au.add_argument("--actor")
    au.add_argument("--from", dest="date_from", type=iso_date)

