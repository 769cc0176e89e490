"""From a template to a live jackpot to a contribution, through the configuration API only.

With `make run` going (its demo data has the configuration account `demo-config`):

    .venv/bin/python docs/config_api_example.py [--url http://127.0.0.1:8000]

Every run makes its own source, games, template and instance (names end in a run id), so it
can run again. Each step prints what it did; every refusal is the spec's error body
`{"status_code", "code", "message"}`.
"""

import argparse
import json
import sys
import uuid
from decimal import Decimal

import requests


class Api:
    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        token = self.call("POST", "/authenticate/service", {"username": username, "password": password})["token"]
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body=None, expect=(200, 201)):
        response = self.session.request(method, self.url + path, json=body, timeout=30)
        answer = response.json(parse_float=Decimal)  # amounts are exact decimals
        if response.status_code not in expect:
            sys.exit(f"{method} {path}: {response.status_code} {answer}")
        return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="demo-config")
    parser.add_argument("--password", default="demo-config-pass")
    parser.add_argument("--brand", default="thrilltech:brand1", help="The brand whose player contributes.")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    api = Api(args.url, args.username, args.password)

    # 1. A source, and a game group whose game codes reach it.
    source = api.call("POST", "/v1/config/sources", {"source_id": f"summer-slots-{run}", "name": "Summer slots"})
    group = api.call("POST", "/v1/config/game-groups", {"name": f"Summer games {run}", "source": source["id"]})
    game = f"sunny-fruits-{run}"
    api.call("POST", f"/v1/config/game-groups/{group['id']}/games", {"games": [
        {"provider": "pragmatic", "game_code": game, "name": "Sunny Fruits"},
        {"provider": "netent", "game_code": f"beach-party-{run}", "name": "Beach Party"}]})
    print(f"source {source['source_id']} (id {source['id']}), game group {group['name']} with 2 games")

    # 2. A template: 2 % of every wager, a random minor pot and a must-drop major pot.
    definition = {
        "jackpot_type": "Jackpot", "currency": "EUR", "contribution_type": "Percentage",
        "contribution_value": 0.02, "house_share": 0.1, "allowed_countries": "MT, GB, SE",
        "pots": [
            {"pot_id": "minor", "tier": 1, "share": 0.3, "seed_share": 0.1, "initial_seed": 5,
             "mechanic": "HitRate", "cost_per_attempt": 0.1, "max_magic_number": 1000},
            {"pot_id": "major", "tier": 2, "share": 0.6, "seed_share": 0.1, "initial_seed": 100,
             "mechanic": "MustDropAmount", "drop_ceiling": 500},
        ],
    }
    template = api.call("POST", "/v1/config/templates", {"name": f"Summer drop {run}", "definition": definition,
                                                         "note": "first version"})
    print(f"template {template['name']} (id {template['id']}), version {template['current_version']}")

    # 3. A version that cannot work is refused, with the words the admin uses.
    broken = {**definition, "house_share": 0.2}
    refusal = api.call("POST", f"/v1/config/templates/{template['id']}/versions", {"definition": broken},
                       expect=(400,))
    print(f"refused: {json.dumps(refusal)}")

    # 4. An instance from the template, fed by the source; activated; its major pot boosted.
    instance = api.call("POST", f"/v1/config/templates/{template['id']}/instances", {
        "name": f"Summer drop {run}, July", "sources": [{"source": source["id"], "priority": 1}]})
    api.call("POST", f"/v1/config/instances/{instance['id']}/activate", {"reason": "summer promotion starts"})
    boost = api.call("POST", f"/v1/config/instances/{instance['id']}/pots/major/seed-boost",
                     {"amount": 50, "reason": "launch boost"})
    print(f"instance {instance['name']} ({instance['id']}) from template version "
          f"{instance['template']['version']}: Active; major seed fund {boost['seed_fund']} EUR")

    # 5. A player's bet on one of the games: the gateway routes it to the new jackpot.
    result = api.call("POST", "/jackpots/contribute", {
        "token": "token_00001", "brand_id": args.brand, "player_id": "player_00001", "player_country": "MT",
        "source_id": game, "gameround_id": f"summer-{run}-1", "currency": "EUR", "base_wager": 10})
    print(f"contribution: {result['contribution_amount']} {result['contribution_currency']} "
          f"to {result['instance_id']}")
    pots = api.call("GET", f"/v1/config/instances/{instance['id']}")["pots"]
    print("pots: " + ", ".join(f"{p['pot_id']} {p['current_value']}" for p in pots))


if __name__ == "__main__":
    main()
