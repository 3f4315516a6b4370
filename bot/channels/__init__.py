"""Channel adapters: the only code that knows WeChat XML or Weibo JSON."""
