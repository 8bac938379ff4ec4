"""Commands of this group are added as their features land."""

commands: list = []
