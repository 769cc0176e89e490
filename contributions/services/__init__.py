"""Every write of the contributions app, and its business rules.

* `engine`: the contribution itself (SPEC 2.3-2.5, 2.8), synchronous path;
* `callbacks`: asynchronous contributions and the webhook outbox (SPEC 2.6);
* `payments`: Debits and Credits at the operator's wallet (SPEC 4);
* `wins`: raffle draws and withheld-win decisions (SPEC 5.4, 2.4.7).
"""

from contributions.services.callbacks import *  # noqa: F403
from contributions.services.callbacks import WEBHOOK_SECRET_GRACE  # noqa: F401
from contributions.services.engine import *  # noqa: F403
