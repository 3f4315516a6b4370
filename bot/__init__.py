"""The campaign bot: WeChat / Weibo webhooks, dispatch, API clients, CLI."""
