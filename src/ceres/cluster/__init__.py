"""Past one machine (issue 12): how gateways reach the leading engine over NATS (``wire``,
``forward``, ``leader``). The journal itself is ``ceres.journal.jetstream``."""
