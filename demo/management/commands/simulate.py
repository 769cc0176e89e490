"""Traffic for demos and soak tests: players, opt-ins and bets over the real HTTP and WebSocket APIs."""

from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from demo.simulator import Simulation, SimulationError, summary_lines
from demo.world import SERVICE


class _Unended:
    """The command's stderr as tqdm writes to it: text as given (a progress bar redraws its line
    after a carriage return), neither ended with a newline nor styled as `OutputWrapper.write` does by default."""

    def __init__(self, out) -> None:
        self.out = out

    def write(self, text: str) -> None:
        self.out.write(text, style_func=str, ending="")  # unstyled, as given

    def flush(self) -> None:
        self.out.flush()


class Command(BaseCommand):
    help = ("Simulate an operator against a running portal: opt players in over the service WebSocket, "
            "send bets across sources over HTTP, and summarise contributions, wins, tickets and events.")

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The running portal (default: make run's).")
        parser.add_argument("--username", default=SERVICE[0], help="Service account (default: the demo one).")
        parser.add_argument("--password", default=SERVICE[1])
        parser.add_argument("--brand", dest="brands", action="append",
                            help="operator:brand to play on; repeat for several (default: thrilltech:brand1).")
        parser.add_argument("--source", dest="sources", action="append", default=[],
                            help="Source id or game code to bet on; repeat (default: every source of the operator).")
        parser.add_argument("--players", type=int, default=50)
        parser.add_argument("--contributions", type=int, default=500)
        # 6: what a brand's wallet takes at once by default (WALLET_MAX_CALLS_PER_BRAND); beyond, the
        # portal answers 503 "retry" (retried here, but each is an ERROR line in the server's log).
        parser.add_argument("--concurrency", type=int, default=6, help="Bets in flight at once.")
        parser.add_argument("--opt-in-share", type=float, default=1.0,
                            help="Share of players opted in to every jackpot they reach (default: all). The rest "
                                 "are not: their bets on opt-in jackpots are refused (OptInRequired).")
        parser.add_argument("--currency", default="EUR")
        parser.add_argument("--country", default="MT")
        parser.add_argument("--seed", type=int, help="Seed of the simulation's choices (players, sources, wagers).")

    def handle(self, *args, **options):
        if options["players"] < 1 or options["contributions"] < 0 or options["concurrency"] < 1:
            raise CommandError("--players and --concurrency must be at least 1, --contributions at least 0.")
        if not 0 <= options["opt_in_share"] <= 1:
            raise CommandError("--opt-in-share is a share between 0 and 1.")
        quiet = options["verbosity"] == 0

        @contextmanager
        def progress(stage: str, total: int):
            with tqdm(total=total, desc=f"{stage:<15}", unit="", file=_Unended(self.stderr), disable=quiet,
                      dynamic_ncols=True) as bar:
                yield bar

        simulation = Simulation(
            url=options["url"], username=options["username"], password=options["password"],
            brands=options["brands"] or ["thrilltech:brand1"], players=options["players"],
            contributions=options["contributions"], concurrency=options["concurrency"],
            opt_in_share=options["opt_in_share"], sources=options["sources"], currency=options["currency"],
            country=options["country"], seed=options["seed"], progress=progress,
        )
        try:
            tally = simulation.run()
        except SimulationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Simulation {simulation.run_id} against {options['url']}:"))
        for warning in simulation.warnings:
            self.stdout.write(self.style.WARNING(f"  note: {warning}"))
        for line in summary_lines(tally):
            self.stdout.write(f"  {line}")
