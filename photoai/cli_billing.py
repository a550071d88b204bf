"""`photoai billing ...` commands; the main `photoai` command registers them.

`billing reconcile` is what an operator (or a cron entry) runs to catch up on Stripe events
the webhook missed, e.g. while the endpoint was down or misconfigured. It is safe to repeat.
"""

import argparse

from photoai.services.billing import stripe_api, sync


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add `billing reconcile`; the chosen command is `args.func(args)`, returning an exit code."""
    parser = subparsers.add_parser("billing", help="Stripe billing maintenance")
    commands = parser.add_subparsers(dest="billing_command", required=True)
    reconcile = commands.add_parser(
        "reconcile", help="apply Stripe events and paid checkouts the webhook missed"
    )
    reconcile.add_argument(
        "--days", type=int, default=None, help="how far back to look (default: settings)"
    )
    reconcile.set_defaults(func=run_reconcile)


def run_reconcile(args: argparse.Namespace) -> int:
    if not stripe_api.billing_enabled():
        print("Billing is off (PHOTOAI_STRIPE_SECRET_KEY is empty); nothing to reconcile.")
        return 0
    report = sync.reconcile(days=args.days)
    for line in report.applied:
        print(f"applied: {line}")
    for line in report.failed:
        print(f"FAILED: {line}")
    print(f"{len(report.applied)} applied, {len(report.failed)} failed")
    return 1 if report.failed else 0
