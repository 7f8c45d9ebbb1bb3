"""The ``netra-trio`` command: ``serve``, ``token``, ``chat`` and ``asyncapi``.

``serve`` on the development secret (no ``--jwt-secret``, made in the secret
file) also prints, after its listening line, the web page's address with a
fresh token for the user ``alice`` in the fragment, ready to open.

``serve --workers N`` (N > 1) runs the parent of N worker processes
(``workers.py``); each worker is ``serve`` again with the hidden ``--worker``
flag, which only that parent passes."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

from netra_trio.agents.base import AgentRegistry
from netra_trio.auth import Authenticator
from netra_trio.chat import command as chat_command
from netra_trio.claims import MAX_LIFETIME_S
from netra_trio.config import OPTIONS, Config
from netra_trio.errors import ConfigError, StartupError
from netra_trio.logs import configure_logging, log_event
from netra_trio.protocol.asyncapi import document_json
from netra_trio.secrets_store import load_or_create_secret, new_session_key
from netra_trio.server.app import Server
from netra_trio.server.runtime import raise_open_files_limit, tune_gc
from netra_trio.server.web_page import page_url
from netra_trio.worker import stopped_by_parent
from netra_trio.workers import supervise

PAGE_LINE = "netra-trio web page: "
PAGE_USER = "alice"  # as in the README's examples, so their runs show on the page
PAGE_TOKEN_TTL_S = 86_400.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netra-trio", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the WebSocket server")
    for field in attrs.fields(Config):
        option = OPTIONS[field.name]
        action: dict[str, Any] = (
            {"action": "store_const", "const": option.const}  # a switch: --no-web-ui
            if option.const is not None
            else {"action": "append" if option.repeatable else "store"}
        )
        serve.add_argument(
            option.flag or "--" + field.name.replace("_", "-"),
            dest=field.name,
            default=None,
            help=f"({'repeatable; ' if option.repeatable else ''}env {option.env},"
            f" default {field.default!r})",
            **action,
        )
    # a worker of a `--workers` parent: listen with SO_REUSEPORT, stop when the parent says so
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    token = sub.add_parser("token", help="print a signed token for a user (development)")
    token.add_argument("--user", required=True)
    token.add_argument("--ttl-s", type=float, default=3600.0)
    token.add_argument("--jwt-secret", dest="jwt_secret", default=None)
    token.add_argument("--secret-file", dest="secret_file", default=None)
    chat_command.add_parser(sub)
    sub.add_parser("asyncapi", help="print the protocol's AsyncAPI 3.0 document (JSON)")
    return parser


def _with_secret(config: Config) -> tuple[Config, bool]:
    """The config with its shared secret, from the secret file (made on first
    use) when none is given and HS* tokens are accepted."""
    created = False
    if config.jwt_secret is None and config.uses_secret:
        secret, created = load_or_create_secret(config.secret_path)
        config = attrs.evolve(config, jwt_secret=secret)
    return config, created


def _with_session_key(config: Config) -> Config:
    if config.session_key is not None:
        return config
    key, _ = load_or_create_secret(Path(config.session_key_file), new_session_key)
    return attrs.evolve(config, session_key=key)


def main(argv: Sequence[str] | None = None, *, agents: AgentRegistry | None = None) -> int:
    """Run the command in ``argv``; ``serve`` serves ``agents`` (the built-in
    ones when None)."""
    args = _parser().parse_args(argv)
    if args.command == "asyncapi":
        sys.stdout.write(document_json())
        return 0
    flags: dict[str, Any] = {k: v for k, v in vars(args).items() if k in OPTIONS}
    try:
        config, created = _with_secret(Config.from_sources(flags, os.environ))
    except ConfigError as exc:
        print(f"netra-trio: {exc}", file=sys.stderr)
        return 2
    if args.command == "token":
        return _print_token(config, args.user, args.ttl_s)
    if args.command == "chat":
        if args.token is None and "NETRA_TOKEN" not in os.environ and not config.uses_secret:
            print("netra-trio: chat needs --token: tokens come from the issuer", file=sys.stderr)
            return 2
        return chat_command.run(args, os.environ, lambda: _authenticator(config).issue)
    if (config.agents or config.agui_agents) and agents is not None:
        print(
            "netra-trio: --agents and --agui-agent add to the built-in agents, and main() was"
            " given the agents to serve: register those agents in the registry passed instead",
            file=sys.stderr,
        )
        return 2
    if config.workers > 1 and agents is not None:
        print(
            "netra-trio: --workers above 1 starts each worker as `python -m netra_trio`,"
            " which cannot be given the agents passed to main()",
            file=sys.stderr,
        )
        return 2
    config = _with_session_key(config)
    configure_logging(config.log_format, config.log_level)
    secret_given = flags.get("jwt_secret") is not None or "NETRA_JWT_SECRET" in os.environ
    if config.uses_secret and not secret_given:
        log_event(
            "dev_secret",
            path=str(config.secret_path),
            created=created,
            hint="get a token with: netra-trio token --user alice",
        )
    try:
        if config.workers > 1:
            return trio.run(supervise, config, sys.argv[1:] if argv is None else argv)
        page_token = None
        if config.uses_secret and not secret_given and config.web_ui and config.workers == 1:
            page_token = _authenticator(config).issue(PAGE_USER, PAGE_TOKEN_TTL_S)
        return trio.run(_serve, config, agents, args.worker, page_token)
    except (StartupError, BaseExceptionGroup) as exc:
        reason = _startup_error(exc)
        if reason is None:
            raise
        print(f"netra-trio: {reason}", file=sys.stderr)
        return 1


def _print_token(config: Config, user: str, ttl_s: float) -> int:
    if not config.uses_secret:
        print(
            "netra-trio: token signs with the shared secret, and --jwt-algorithms lists no"
            " HS256, HS384 or HS512: tokens come from the issuer of the public key",
            file=sys.stderr,
        )
        return 2
    if not 0 < ttl_s <= MAX_LIFETIME_S:
        print(
            f"netra-trio: --ttl-s must be above 0 and at most {MAX_LIFETIME_S:.0f}"
            " (the longest lifetime the server accepts)",
            file=sys.stderr,
        )
        return 2
    print(_authenticator(config).issue(user, ttl_s))
    return 0


def _authenticator(config: Config) -> Authenticator:
    return Authenticator(
        secret=config.jwt_secret,
        algorithms=config.jwt_algorithms,
        audience=config.jwt_audience,
        issuer=config.jwt_issuer,
    )


def _startup_error(exc: BaseException) -> StartupError | None:
    """The StartupError that ``exc`` is, or that its group holds and nothing
    else (the server's nurseries wrap it); None otherwise."""
    if isinstance(exc, StartupError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        startup, rest = exc.split(StartupError)
        if startup is not None and rest is None:
            return _startup_error(startup.exceptions[0])
    return None


async def _serve(
    config: Config, agents: AgentRegistry | None, worker: bool, page_token: str | None = None
) -> int:
    limit = raise_open_files_limit()
    server = Server(config, agents=agents, reuse_port=worker)
    stops = stopped_by_parent(server.request_shutdown) if worker else contextlib.nullcontext()
    async with stops, trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: server.run(handle_signals=not worker, task_status=task_status)
        )
        # said once serving, so that a start that fails says only why
        log_event(
            "open_files_limit",
            logging.WARNING if limit.error else logging.INFO,
            soft=limit.soft,
            hard=limit.hard,
            raised_from=limit.raised_from,
            error=limit.error,
        )
        tune_gc()
        print(f"netra-trio listening on {server.url}", flush=True)
        if page_token is not None:
            print(f"{PAGE_LINE}{page_url(config, server.port)}#token={page_token}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
