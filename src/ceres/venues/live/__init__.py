"""Live venues: real exchanges reached through ccxt (see :mod:`ceres.venues.live.factory`)."""
