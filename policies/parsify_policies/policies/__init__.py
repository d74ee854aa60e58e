"""One module per policy, named after the resource it judges."""
