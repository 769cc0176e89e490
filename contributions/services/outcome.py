"""Outcome: what a contribution answers (SPEC 2.5) and announces after commit (SPEC 3)."""

from django.db import transaction

from contributions.models import Contribution, Win
from portal import jsonutil, live
from portal.clock import epoch_ms
from portal.money import plain
from sources.models import JackpotInstance
from sources.selectors import instance_brand_codes


def result_payload(contribution: Contribution, *, win: Win | None, pot_id: str | None) -> dict:
    """SPEC 2.5: the sync body and the webhook `data` payload (seed field order, plus trace_id)."""
    return {
        "contribution_amount": plain(contribution.amount),
        "contribution_currency": contribution.currency,
        "gameround_id": contribution.gameround_id,
        "instance_id": str(contribution.jackpot_id),
        "metadata": jsonutil.Raw(contribution.metadata_json) if contribution.metadata_json is not None else None,
        "tickets_awarded": contribution.tickets_awarded,
        "timestamp": epoch_ms(contribution.processed_at),
        "win_amount": plain(win.amount) if win else 0,
        "win_pot_id": pot_id,
        "win_withheld": bool(win and win.withheld),
        "trace_id": str(contribution.trace_id),
    }


def announce(instance: JackpotInstance, won: list[tuple[Contribution, list[Win]]]) -> None:
    """After commit: the pots moved (one coalesced JackpotUpdate follows, however many
    contributions the batch held) and one WinEvent per win, in order."""
    events = [{
        "brand_id": contribution.brand.code, "player_id": contribution.player_ref,
        "source_id": contribution.source.source_id if contribution.source_id else None,
        "instance_id": str(instance.pk), "jackpot_name": instance.name,
        "timestamp": epoch_ms(contribution.processed_at), "win_pot_id": win.pot.pot_id,
        "win_amount": plain(win.amount), "currency": win.currency, "win_withheld": win.withheld,
        "seed": plain(win.reseed_value),
        "metadata": jsonutil.Raw(contribution.metadata_json) if contribution.metadata_json is not None else None,
    } for contribution, wins in won for win in wins]

    def publish() -> None:
        live.instance_changed(instance.pk)
        for data in events:
            live.publish_win(operator_id=instance.operator_id, brand_codes=instance_brand_codes(instance),
                             winner_brand=data["brand_id"], player_id=data["player_id"], data=data)

    transaction.on_commit(publish, robust=True)
