"""Command line: ``handset`` opens the phones (TUI), ``handset serve`` runs headless.

Both take the same flags and build the same Emulator; the headless mode
prints a line per request and per callback attempt instead of drawing phones.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

from server import heap
from server.events import Event
from server.runner import CannotStart, Emulator
from server.sandbox_credentials import sandbox_credentials
from server.settings import FLAGS, Settings, SettingsError, load_settings

from .log_lines import LogFile, log_line


def _add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8400; 0 picks a free one)")
    parser.add_argument("--db", type=Path, help="SQLite database file (default: in the user data directory)")
    parser.add_argument("--fresh", action="store_true", default=None, help="start with an empty database")
    parser.add_argument("--config", type=Path, help="TOML settings file (merchants, handsets, behaviours)")
    parser.add_argument("--prompt-timeout", type=float, help="seconds before an unanswered prompt settles 1037")
    parser.add_argument(
        "--mode",
        choices=["human", "approve", "cancel", "timeout", "random"],
        help="who answers prompts when no rule matches (default human: a person or the control API)",
    )
    parser.add_argument("--think-time", type=float, help="seconds the unattended customer waits before answering")
    parser.add_argument("--seed", type=int, help="seed for --mode random, for repeatable runs")
    parser.add_argument("--public-url", help="the base URL to show merchants when it differs (a tunnel or proxy)")
    parser.add_argument("--log-file", type=Path, help="also write one line per request, settlement and callback here")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (with where to look), like every other refusal."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see {self.prog} --help\n")


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def build_parser() -> argparse.ArgumentParser:
    defaults = sandbox_credentials(Settings())
    parser = _Parser(
        prog="handset",
        description="M-Pesa handset emulator speaking Safaricom's Daraja API.",
        # The portal's test credentials work as they are: say which, and give the .env to paste.
        epilog=(
            "The Daraja sandbox's test credentials work out of the box\n(a config file replaces or extends them):\n\n"
            + _indent(defaults.table())
            + "\n\nA sandbox app's .env, pointed here:\n\n"
            + _indent(defaults.env_block())
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common_flags(parser)
    # The phones only: `handset serve` draws nothing.
    parser.add_argument(
        "--presenter",
        action="store_true",
        help="presenter mode for demos: one phone large and centred, the log one line, a big countdown (key d)",
    )
    parser.add_argument("--bell", action="store_true", help="ring the terminal bell when a prompt arrives")
    commands = parser.add_subparsers(dest="command")
    # SUPPRESS: flags given before `serve` must survive the subcommand's own defaults.
    serve = commands.add_parser(
        "serve", help="run the emulator headless (no UI), for CI and scripts", argument_default=argparse.SUPPRESS
    )
    _add_common_flags(serve)
    credential = commands.add_parser(
        "credential",
        help='print the SecurityCredential for an initiator password (for security_credential = "check")',
        description="Encrypt an initiator password with the emulator's test certificate, as the Daraja "
        "portal's tool does with Safaricom's; or print that certificate.",
    )
    credential.add_argument("password", nargs="?", help="the initiator's password, e.g. Safaricom123!!")
    credential.add_argument("--certificate", action="store_true", help="print the test certificate (PEM) instead")
    return parser


def print_credential(args: argparse.Namespace) -> int:
    """``handset credential``: no emulator, no database; just the certificate's work."""
    from server import security_credential

    if args.certificate:
        return _write(security_credential.certificate_pem().decode())
    if not args.password:
        print("handset: give the initiator's password (handset credential PASSWORD), or --certificate", file=sys.stderr)
        return 2
    if len(args.password) > security_credential.PASSWORD_MAX_CHARS:
        limit = security_credential.PASSWORD_MAX_CHARS
        print(f"handset: the password is longer than {limit} characters; give a shorter one", file=sys.stderr)
        return 2
    return _write(security_credential.encrypt(args.password) + "\n")


def _write(text: str) -> int:
    """Print ``text``; a reader that closes the pipe early (``| head -c 20``) is not an error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit; point stdout at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings the flags, the environment and the config file give, in that order of weight."""
    flags = {path: getattr(args, flag.lstrip("-").replace("-", "_"), None) for path, flag in FLAGS.items()}
    return load_settings(getattr(args, "config", None), flags)


def banner(emulator: Emulator) -> str:
    """What a merchant needs to connect, printed at start and shown in the TUI."""
    sim = emulator.simulator
    merchant = sim.settings.merchants[0]
    base = emulator.base_url
    creds = sim.settings.credentials
    key, secret = (creds[0].key, creds[0].secret) if creds else ("any-key", "any-secret")
    lines = [
        f"mpesa-handset listening on {emulator.local_url}",
        *([f"  public URL {base}"] if base != emulator.local_url else []),
        f"  shortcode  {merchant.shortcode} ({merchant.name})",
        f"  passkey    {merchant.passkey}",
        f"  token      curl -u {key}:{secret} '{base}/oauth/v1/generate?grant_type=client_credentials'",
        f"  STK Push   POST {base}/mpesa/stkpush/v1/processrequest",
        f"  control    {base}/simulator/handsets",
        f"  database   {sim.store.path}",
    ]
    if not creds:
        lines.append("  credentials: any non-empty consumer key and secret get a token")
    if not emulator.is_loopback:
        lines.append(
            f"  WARNING: bound to {emulator.host}, reachable from other machines; the emulator has no real security"
        )
    return "\n".join(lines)


async def serve(settings: Settings) -> int:
    """Run headless until SIGINT/SIGTERM."""
    emulator = Emulator(settings)
    if settings.log_file is not None:
        LogFile(settings.log_file).attach(emulator.simulator.bus)

    flush_pending = False

    def flush() -> None:
        nonlocal flush_pending
        flush_pending = False
        sys.stdout.flush()

    def print_event(event: Event) -> None:
        # One flush per loop turn, not per line: under load, per-line flushes cost real time.
        nonlocal flush_pending
        line = log_line(event)
        if line:
            sys.stdout.write(line + "\n")
            if not flush_pending:
                flush_pending = True
                asyncio.get_running_loop().call_soon(flush)

    # Signals first: a Ctrl-C during start-up (or right after the banner) still stops cleanly.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await emulator.start()
    except CannotStart as exc:
        print(f"handset: {exc}", file=sys.stderr, flush=True)
        return 2
    emulator.simulator.bus.subscribe(print_event)
    print(banner(emulator), flush=True)
    heap.settle()
    await stop.wait()
    print("stopping...", flush=True)
    await emulator.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "credential":
        return print_credential(args)
    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        print(f"handset: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return asyncio.run(serve(settings))
    from .app import make_app, run_tui  # imported here so that `handset serve` never loads Textual

    app = make_app(settings, presenter=args.presenter, bell=args.bell)
    if settings.log_file is not None:
        LogFile(settings.log_file).attach(app.simulator.bus, with_log_records=True)
    return run_tui(settings, app)
