"""The demo: the seed documents' world (`seed_demo`), the reference wallet, the demo casino
page and the traffic simulator. Installed outside production only (portal/settings.py)."""
