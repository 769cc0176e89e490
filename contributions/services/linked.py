"""Linked jackpots (ThrillPots' contribution v2): one request feeds the instance it reaches and
every instance linked to that one (`JackpotInstance.linked_instance`), e.g. a daily, a weekly
and a monthly jackpot from one bet.

1. The main contribution is the request as sent, through the one pipeline
   (`engine.contribution_record`: routing by source or instance, rules, idempotency as in v1).
   If it is refused, the request is answered with that error and no linked instance is tried:
   nothing was contributed.
2. Each instance linked to the main one (direct links only, oldest first) gets a contribution
   of its own, addressed to it by instance id: its own rules, amount, wallet Debit, ledger
   and idempotency key (brand, player, gameround, instance). A refusal refuses that part alone.
3. The answer lists one result per instance, main first: its SPEC 2.5 body, or the error body
   with the instance's id. A stored part replays its stored body, so a repeated request gets
   the same list back (a part refused before is tried again, as a refused v1 request is).
"""

import logging
from dataclasses import dataclass, field

from django.db import DatabaseError

from contributions.schemas import ContributionIn
from contributions.services import engine
from portal import jsonutil
from portal.errors import DomainError, invalid_structure
from sources.selectors import linked_instances

logger = logging.getLogger(__name__)


@dataclass
class LinkedOutcome:
    """One JSON body per instance, main first (a stored SPEC 2.5 body or an error body)."""

    parts: list[str] = field(default_factory=list)
    replayed: bool = False  # the main contribution had been recorded before

    @property
    def body(self) -> str:
        return '{"results":[' + ",".join(self.parts) + "]}"


def contribution_record_linked(*, operator_id: str, request: ContributionIn) -> LinkedOutcome:
    """A v2 contribution: the main instance and its linked ones (see the module)."""
    if request.callback is not None:
        raise invalid_structure("v2 contributions are answered synchronously; send callback requests to "
                                "/jackpots/contribute")
    main = engine.contribution_record(operator_id=operator_id, request=request)
    outcome = LinkedOutcome(parts=[main.body], replayed=main.replayed)
    if main.contribution.jackpot_id is None:  # a v1 asynchronous contribution not processed yet
        return outcome
    for instance_id in linked_instances(main.contribution.jackpot_id):
        part = request.model_copy(update={"source_id": None, "instance_id": str(instance_id)})
        outcome.parts.append(_part(operator_id=operator_id, request=part))
    return outcome


def _part(*, operator_id: str, request: ContributionIn) -> str:
    """One linked instance's result; whatever goes wrong stays this part's."""
    try:
        return engine.contribution_record(operator_id=operator_id, request=request).body
    except DomainError as error:
        failure = error
    except DatabaseError:
        logger.exception("linked contribution %s/%s to %s failed", request.player_id, request.gameround_id,
                         request.instance_id)
        failure = DomainError("DB_ERROR", "A database error occurred; nothing was recorded")
    except Exception:
        logger.exception("linked contribution %s/%s to %s failed", request.player_id, request.gameround_id,
                         request.instance_id)
        failure = DomainError("SYSTEM_ERROR", "An unexpected error occurred")
    return jsonutil.dumps({**failure.as_body(), "instance_id": request.instance_id})
