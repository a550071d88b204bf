from photoai import cli
from photoai.services import accounts, credits


def test_grant_adds_an_adjustment_once(any_db: str, capsys) -> None:  # type: ignore[no-untyped-def]
    uid = accounts.register("ada@example.com", "correct horse 9")
    args = ["grant", "ADA@example.com", "15", "--reference", "ticket-7", "--reason", "Goodwill"]
    assert cli.main(args) == 0
    assert cli.main(args) == 0  # same reference: no second grant
    assert credits.balance(uid) == 20 + 15 == credits.ledger_sum(uid)
    [adjustment, _starter] = credits.recent_entries(uid)
    assert (adjustment.kind, adjustment.description) == ("adjustment", "Goodwill")
    assert cli.main(["grant", "nobody@example.com", "5", "--reference", "x"]) == 1
    assert "No account" in capsys.readouterr().err


def test_reap_prints_counts(any_db: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["reap"]) == 0
    assert '"requeued": 0' in capsys.readouterr().out


def test_admin_grant_and_revoke(any_db: str, capsys) -> None:  # type: ignore[no-untyped-def]
    from photoai.services.admin import access, audit

    user_id = accounts.register("ops@example.com", "a-strong-pass-9")
    assert cli.main(["admin", "grant", "Ops@Example.com"]) == 0
    assert f"Account {user_id} (Ops@Example.com) is now an admin." in capsys.readouterr().out
    assert access.is_admin(user_id)
    assert cli.main(["admin", "revoke", "ops@example.com"]) == 0
    assert "is no longer an admin" in capsys.readouterr().out
    assert not access.is_admin(user_id)
    assert [a.action for a in audit.recent()] == ["admin.revoke", "admin.grant"]
    assert cli.main(["admin", "grant", "nobody@example.com"]) == 1
    assert "No account for nobody@example.com." in capsys.readouterr().err
