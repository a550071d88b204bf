"""The `photoai` command: operator tasks that run outside the web app."""

import argparse
import json
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from photoai import cli_billing
from photoai.settings import PROJECT_ROOT, get_settings
from photoai.topology import Topology


def migrate(_args: argparse.Namespace) -> int:
    """Bring the configured database to the newest schema (run before starting the app)."""
    command.upgrade(Config(str(PROJECT_ROOT / "alembic.ini")), "head")
    return 0


def reap(_args: argparse.Namespace) -> int:
    """One pass of the stale-job reaper, for cron or for an operator in a hurry."""
    from photoai.services import jobs

    report = jobs.reap_stale()
    print(json.dumps({outcome: report[outcome] for outcome in jobs.REAP_OUTCOMES}))
    return 0


def retention(args: argparse.Namespace) -> int:
    """Apply the retention rules now (training photos, abandoned drafts); --dry-run lists."""
    from photoai.services.privacy import retention as rules

    if args.dry_run:
        print(json.dumps(rules.plan().as_dict(), indent=2))
    else:
        print(json.dumps(rules.apply()))
    return 0


def delete_account(args: argparse.Namespace) -> int:
    """Delete an account and everything it holds (a request by email), or finish a deletion
    whose job failed; the account is disabled at once, a worker erases the rest."""
    from photoai.services import accounts
    from photoai.services.privacy import deletion

    user_id = int(args.account) if args.account.isdigit() else None
    if user_id is None:
        user_id = accounts.user_id_for_email(args.account)
    if user_id is None:
        print(f"No account for {args.account}.", file=sys.stderr)
        return 1
    job_id = deletion.delete_for_operator(user_id)
    print(f"Account {user_id} is disabled; deletion job {job_id} erases the rest.")
    return 0


def grant_credits(args: argparse.Namespace) -> int:
    """Add credits to an account as an admin adjustment, recorded in the ledger."""
    from photoai.models import LedgerKind
    from photoai.services import accounts, credits

    user_id = accounts.user_id_for_email(args.email)
    if user_id is None:
        print(f"No account for {args.email}.", file=sys.stderr)
        return 1
    entry = credits.grant(
        user_id,
        args.amount,
        kind=LedgerKind.ADJUSTMENT,
        reference=f"admin:{args.reference}",
        description=args.reason,
    )
    print(f"{args.email}: +{entry.amount} credits, balance {entry.balance_after}")
    return 0


def admin_role(args: argparse.Namespace) -> int:
    """Make an account an admin of the operator console at /admin, or take the role back."""
    from photoai.services.admin.access import set_admin
    from photoai.services.admin.audit import AdminError

    try:
        user_id = set_admin(args.email, args.action == "grant")
    except AdminError as exc:
        print(exc, file=sys.stderr)
        return 1
    done = "is now an admin" if args.action == "grant" else "is no longer an admin"
    print(f"Account {user_id} ({args.email}) {done}.")
    return 0


def serve_plan(_args: argparse.Namespace) -> int:
    """Print the run command's process plan as shell exports (Reflex state URL, workers)."""
    from photoai.serve_plan import current_plan

    sys.stdout.write(current_plan().shell())
    return 0


def _topology(args: argparse.Namespace) -> Topology:
    settings = get_settings()
    return Topology(
        listen=args.listen,
        backends=tuple(args.backend),
        static_dir=Path(args.static).resolve(),
        run_dir=Path(args.run_dir).resolve(),
        # One upload request carries at most a model's photos, each within the file limit.
        max_body_bytes=settings.max_upload_bytes * settings.max_photos + 1024 * 1024,
        workers=getattr(args, "workers", 0),
        access_log=args.access_log,
    )


def proxy_config(args: argparse.Namespace) -> int:
    """Write nginx.conf for the proxy in front of the backends (static frontend, websocket)."""
    print(_topology(args).write_proxy())
    return 0


def procfile(args: argparse.Namespace) -> int:
    """Write a Procfile (N backends, M workers, the proxy) and its nginx.conf, for honcho."""
    print(_topology(args).write_all())
    return 0


def _topology_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", type=int, default=8080, help="the proxy's port")
    parser.add_argument(
        "--backend",
        action="append",
        required=True,
        metavar="HOST:PORT",
        help="a Reflex backend; repeat for each",
    )
    parser.add_argument("--static", required=True, help="the exported frontend folder")
    parser.add_argument("--run-dir", required=True, help="where the config and nginx's files go")
    parser.add_argument(
        "--access-log", default="", help="nginx's access log (default: access.log in --run-dir)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="photoai", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help=migrate.__doc__).set_defaults(func=migrate)
    sub.add_parser("reap", help=reap.__doc__).set_defaults(func=reap)
    sub.add_parser("serve-plan", help=serve_plan.__doc__).set_defaults(func=serve_plan)
    keep = sub.add_parser("retention", help=retention.__doc__)
    keep.add_argument(
        "--dry-run", action="store_true", help="list what would be removed, remove nothing"
    )
    keep.set_defaults(func=retention)
    erase = sub.add_parser("delete-account", help=delete_account.__doc__)
    erase.add_argument("account", help="email, or the id of an account being deleted")
    erase.set_defaults(func=delete_account)
    grant = sub.add_parser("grant", help=grant_credits.__doc__)
    grant.add_argument("email")
    grant.add_argument("amount", type=int)
    grant.add_argument("--reason", default="Adjustment by an operator")
    grant.add_argument(
        "--reference",
        required=True,
        help="unique id of this adjustment (e.g. a ticket number); repeating it changes nothing",
    )
    grant.set_defaults(func=grant_credits)
    proxy = sub.add_parser("proxy-config", help=proxy_config.__doc__)
    _topology_options(proxy)
    proxy.set_defaults(func=proxy_config)
    layout = sub.add_parser("procfile", help=procfile.__doc__)
    _topology_options(layout)
    layout.add_argument("--workers", type=int, default=2, help="RQ worker processes")
    layout.set_defaults(func=procfile)
    admin = sub.add_parser("admin", help=admin_role.__doc__)
    admin.add_argument("action", choices=["grant", "revoke"])
    admin.add_argument("email")
    admin.set_defaults(func=admin_role)
    cli_billing.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
