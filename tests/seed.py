"""The seed document's contribution examples (004), as written."""

SEED_INSTANCE_ID = "0a1cfeea-5b07-4f2b-b2f1-2e4cd2aa991d"


def seed_example(name: str) -> dict:
    """The seed document's request bodies, as written."""
    common = {"token": "token_00001", "brand_id": "thrilltech:brand1", "player_id": "player_00001",
              "player_country": "UK", "gameround_id": "1", "currency": "EUR", "base_wager": 1}
    examples = {
        "sitewide": {**common, "source_id": "casino-sitewide"},
        "deposit": {**common, "source_id": "deposit", "gameround_id": "DEPOSIT_TX_ID"},
        "egyptian": {**common, "source_id": "egyptian-games"},
        "game": {**common, "source_id": "provider-game-code"},
        "direct": {"instance_id": SEED_INSTANCE_ID, "token": "token_00001", "brand_id": "thrilltech:brand1",
                   "player_id": "player_00001", "player_country": "MT", "gameround_id": "1000",
                   "base_wager": 2, "currency": "EUR"},
        "metadata_object": {**common, "source_id": "casino-sitewide", "gameround_id": "m-1",
                            "metadata": {"value1": "some value", "value2": 1234}},
        "metadata_string": {**common, "source_id": "casino-sitewide", "gameround_id": "m-2",
                            "metadata": "This is an arbitrary string value"},
    }
    return examples[name]
