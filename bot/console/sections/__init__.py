"""The console's own sections; features add theirs through :func:`bot.console.all_sections`."""
