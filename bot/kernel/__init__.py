"""The kernel every feature builds on: messages, context, config types, clock and privacy.

It imports nothing from the rest of the project except itself (an import-linter contract in
pyproject.toml checks it), so a feature that depends only on the kernel and storage can never
pull the app, the channels or the CLI into a cycle.
"""
