"""Timers (offer expiry, wrap-up end, max wait) and the manual clock that drives them."""
