"""Parsify's CrossGuard policy pack. Self-contained: the CLI runs it alone from `policies/`."""
