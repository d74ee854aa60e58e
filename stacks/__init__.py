"""The Parsify platform as Pulumi ComponentResources, one module per concern."""
