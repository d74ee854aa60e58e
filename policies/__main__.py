"""Entry point the Pulumi CLI runs (`--policy-pack policies`): serve the Parsify pack to the engine."""

from parsify_policies.pack import pack_arguments
from pulumi_policy import PolicyPack

PolicyPack(**pack_arguments())
