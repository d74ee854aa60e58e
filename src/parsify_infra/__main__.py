"""`python -m parsify_infra`: the same command as `parsify-infra`."""

from parsify_infra.cli import main

main()
