"""The office report's sections, one module per feature: each has
``async def section(scope) -> Section`` and owns every query behind its figures. The features
name theirs in their declaration (``Feature.report``), so the report follows the registry."""
