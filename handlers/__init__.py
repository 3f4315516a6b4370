"""What the bot says and does, one module per flow, channel-neutral."""
