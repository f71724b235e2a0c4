"""Commands: the only layer that opens the paths a user names, writes outputs and returns result dicts.

One module per group of commands, as the README and the CLI group them."""
