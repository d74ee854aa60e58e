"""Offline tooling for the Parsify Pulumi program: plan under mocks, policy gate, change records."""
