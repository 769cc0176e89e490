"""Every write of the contributions app, and its business rules.

The contribution pipeline, in the spec's order:

* `plan`: brand, idempotency, routing, rules, amounts (SPEC 2.3, 2.4.1-2.4.2, 2.8);
* `apply`: the ledger for a batch of one instance's contributions (SPEC 2.4.4-2.4.8);
* `outcome`: the SPEC 2.5 body and the live events after commit;
* `engine`: the synchronous contribution end to end, with group commit (`group`);
* `callbacks`: asynchronous contributions and the webhook outbox (SPEC 2.6);
* `payments`: Debits and Credits at the operator's wallet (SPEC 4);
* `wins`: raffle draws and withheld-win decisions (SPEC 5.4, 2.4.7);
* `closing`: the daily close, each business day stored once (reports).
"""
